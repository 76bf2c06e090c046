package projections

import (
	"context"
	"slices"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// accessHistory: the test organisation, an admin of everything, an editor
// of 东风社区 (sq1) with two tokens, a viewer of its branch sq1a, a
// reviewer of 西湖社区 (sq2), and a user without roles.
func accessHistory(tb testing.TB) *eventLog {
	l := newEventLog(tb)
	orgUnits(l)
	l.at("2019-02-01 09:00")
	l.add("system:bootstrap", events.UserCreatedData{UserID: "admin", Name: "管理员"})
	l.add("system:bootstrap", events.UserRoleGrantedData{UserID: "admin", Role: events.RoleAdmin})
	l.add("system:bootstrap", events.UserTokenIssuedData{UserID: "admin", TokenID: "bootstrap", SHA256: events.TokenHash("rfy_admin"), Label: "bootstrap"})
	l.add("admin", events.UserCreatedData{UserID: "zhang", Name: "张三"})
	l.add("admin", events.UserRoleGrantedData{UserID: "zhang", Role: events.RoleEditor, UnitID: "sq1"})
	l.add("admin", events.UserTokenIssuedData{UserID: "zhang", TokenID: "t1", SHA256: events.TokenHash("rfy_zhang1"), Label: "手机"})
	l.add("admin", events.UserTokenIssuedData{UserID: "zhang", TokenID: "t2", SHA256: events.TokenHash("rfy_zhang2"),
		ExpiresAt: time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC)})
	l.add("admin", events.UserCreatedData{UserID: "li", Name: "李四"})
	l.add("admin", events.UserRoleGrantedData{UserID: "li", Role: events.RoleViewer, UnitID: "sq1a"})
	l.add("admin", events.UserCreatedData{UserID: "wang", Name: "王五"})
	l.add("admin", events.UserRoleGrantedData{UserID: "wang", Role: events.RoleReviewer, UnitID: "sq2"})
	l.add("admin", events.UserRoleGrantedData{UserID: "wang", Role: events.RoleViewer, UnitID: "sq1"})
	l.add("admin", events.UserCreatedData{UserID: "zhao", Name: "赵六"})
	return l
}

func userIDs(us []query.User) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func TestAccessTokenLookup(t *testing.T) {
	l := accessHistory(t)
	r := MustOpenView(t, Access{}, l)
	lookup := func(token string) query.Request {
		return query.Request{Scope: scopeAll, Params: paramsOf(query.TokenParams{SHA256: events.TokenHash(token)})}
	}

	got := mustAsk[query.TokenInfo](t, r, "token", lookup("rfy_zhang1"))
	want := query.TokenInfo{TokenID: "t1", UserID: "zhang", UserName: "张三", Label: "手机",
		Roles: []query.Grant{{Role: events.RoleEditor, UnitID: "sq1"}}}
	if !equalTokenInfo(got, want) {
		t.Errorf("token t1: %+v, want %+v", got, want)
	}
	exp := mustAsk[query.TokenInfo](t, r, "token", lookup("rfy_zhang2"))
	if !exp.ExpiresAt.Equal(time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("token t2 expires %v", exp.ExpiresAt)
	}
	if exp.Expired(time.Date(2019, 2, 28, 23, 0, 0, 0, time.UTC)) || !exp.Expired(time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Expired is wrong around %v", exp.ExpiresAt)
	}
	adm := mustAsk[query.TokenInfo](t, r, "token", lookup("rfy_admin"))
	if adm.UserID != "admin" || !slices.Equal(adm.Roles, []query.Grant{{Role: events.RoleAdmin}}) {
		t.Errorf("admin token: %+v", adm)
	}

	mustFail(t, r, "token", lookup("rfy_nobody"), events.CodeNotFound)
	mustFail(t, r, "token", query.Request{Scope: scopeOf("jw"), Params: paramsOf(query.TokenParams{SHA256: events.TokenHash("rfy_zhang1")})}, events.CodeForbidden)
	failsOn(t, mustFail(t, r, "token", query.Request{Scope: scopeAll, Params: paramsOf(query.TokenParams{SHA256: "ABC"})}, events.CodeInvalid), "sha256")

	// Revoking one token and a role shows at once; the other token stays.
	l.at("2019-02-10 09:00")
	l.add("admin", events.UserTokenRevokedData{UserID: "zhang", TokenID: "t1", Reason: "手机丢失"})
	l.add("admin", events.UserRoleRevokedData{UserID: "zhang", Role: events.RoleEditor, UnitID: "sq1"})
	if err := r.Apply(context.Background(), deliveries(l.evs)); err != nil {
		t.Fatal(err)
	}
	if got := mustAsk[query.TokenInfo](t, r, "token", lookup("rfy_zhang1")); !got.Revoked || len(got.Roles) != 0 {
		t.Errorf("after revocation t1 is %+v, want revoked and without roles", got)
	}
	if got := mustAsk[query.TokenInfo](t, r, "token", lookup("rfy_zhang2")); got.Revoked {
		t.Errorf("revoking t1 revoked t2: %+v", got)
	}
}

func equalTokenInfo(a, b query.TokenInfo) bool {
	return a.TokenID == b.TokenID && a.UserID == b.UserID && a.UserName == b.UserName && a.Label == b.Label &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Revoked == b.Revoked && slices.Equal(a.Roles, b.Roles)
}

func TestAccessUsersAreConfinedToTheScope(t *testing.T) {
	l := accessHistory(t)
	r := MustOpenView(t, Access{}, l)

	all := mustAsk[query.UserPage](t, r, "users", query.Request{Scope: scopeAll})
	if got := userIDs(all.Users); !slices.Equal(got, []string{"admin", "li", "wang", "zhang", "zhao"}) {
		t.Errorf("all users: %v", got)
	}
	for _, u := range all.Users {
		if u.ID == "zhang" {
			if u.Name != "张三" || len(u.Tokens) != 2 || u.Tokens[0].ID != "t1" || u.Tokens[0].Label != "手机" || u.Tokens[1].ExpiresAt.IsZero() {
				t.Errorf("zhang: %+v", u)
			}
		}
	}

	// An admin of 东风社区 sees the users with roles in its subtree, and of
	// wang only the role there, not the one on 西湖社区.
	sq1 := mustAsk[query.UserPage](t, r, "users", query.Request{Scope: scopeOf("sq1")})
	if got := userIDs(sq1.Users); !slices.Equal(got, []string{"li", "wang", "zhang"}) {
		t.Errorf("users in sq1: %v", got)
	}
	for _, u := range sq1.Users {
		for _, g := range u.Roles {
			if g.UnitID != "sq1" && g.UnitID != "sq1a" {
				t.Errorf("scope sq1 shows %s's role %+v", u.ID, g)
			}
		}
	}
	under := mustAsk[query.UserPage](t, r, "users", query.Request{Scope: scopeAll, Params: paramsOf(query.UsersParams{UnitID: "sq2"})})
	if got := userIDs(under.Users); !slices.Equal(got, []string{"wang"}) {
		t.Errorf("users under sq2: %v", got)
	}
	none := mustAsk[query.UserPage](t, r, "users", query.Request{Scope: query.Scope{}})
	if len(none.Users) != 0 {
		t.Errorf("an empty scope shows %v", userIDs(none.Users))
	}

	// Paging visits every user once.
	var seen []string
	cursor := ""
	for range 10 {
		p := mustAsk[query.UserPage](t, r, "users", query.Request{Scope: scopeAll, Params: paramsOf(query.UsersParams{Limit: 2, Cursor: cursor})})
		seen = append(seen, userIDs(p.Users)...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(seen, userIDs(all.Users)) {
		t.Errorf("paging saw %v", seen)
	}

	one := mustAsk[query.User](t, r, "user", query.Request{Scope: scopeOf("sq2"), Params: paramsOf(query.UserParams{UserID: "wang"})})
	if one.Name != "王五" || !slices.Equal(one.Roles, []query.Grant{{Role: events.RoleReviewer, UnitID: "sq2"}}) {
		t.Errorf("wang in sq2: %+v", one)
	}
	mustFail(t, r, "user", query.Request{Scope: scopeOf("sq2"), Params: paramsOf(query.UserParams{UserID: "zhang"})}, events.CodeNotFound)
	mustFail(t, r, "user", query.Request{Scope: scopeOf("sq1"), Params: paramsOf(query.UserParams{UserID: "zhao"})}, events.CodeNotFound)
	failsOn(t, mustFail(t, r, "users", query.Request{Scope: scopeAll, Params: paramsOf(map[string]any{"unit_id": "东风"})}, events.CodeInvalid), "unit_id")
}

func TestAccessAnnouncesChangesPerUser(t *testing.T) {
	l := accessHistory(t)
	var got []Change
	r := MustOpenRunner(t, Access{}, nil, func(cs []Change) { got = append(got, cs...) })
	if err := r.Apply(context.Background(), deliveries(l.evs)); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, c := range got {
		if c.View != "access" {
			t.Errorf("change of view %q", c.View)
		}
		keys[c.Key] = true
	}
	for _, k := range []string{"units", "user-admin", "user-zhang", "user-li", "user-wang", "user-zhao"} {
		if !keys[k] {
			t.Errorf("no change notice %q among %v", k, keys)
		}
	}
}

func TestAccessRedeliveryKeepsTheDigest(t *testing.T) {
	l := accessHistory(t)
	ctx := context.Background()
	want, err := MustOpenView(t, Access{}, l).Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := MustOpenRunner(t, Access{}, nil, nil)
	ds := deliveries(l.evs)
	for i := range ds {
		if err := r.Apply(ctx, ds[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Digest(ctx); err != nil || got != want {
		t.Errorf("digest after redelivery %s (%v), want %s", got, err, want)
	}
}

func personIDs(ps []query.Person) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

// TestAccessPeopleOfAUnit: the people an item of a unit can be assigned
// to are those holding a role on the unit or below it, its own first;
// roles above it or on the whole organisation do not make someone one of
// its people, and roles elsewhere are not shown.
func TestAccessPeopleOfAUnit(t *testing.T) {
	l := accessHistory(t)
	r := MustOpenView(t, Access{}, l)
	people := func(unit string, s query.Scope) query.People {
		t.Helper()
		return mustAsk[query.People](t, r, "people", query.Request{Scope: s, Params: paramsOf(query.PeopleParams{UnitID: unit})})
	}

	sq1 := people("sq1", scopeOf("sq1"))
	if got := personIDs(sq1.People); !slices.Equal(got, []string{"zhang", "wang", "li"}) {
		t.Errorf("people of sq1: %v, want its own (by name) then its branch's", got)
	}
	for _, p := range sq1.People {
		for _, g := range p.Roles {
			if g.UnitID != "sq1" && g.UnitID != "sq1a" {
				t.Errorf("people of sq1 show %s's role %+v elsewhere", p.ID, g)
			}
		}
		if p.ID == "zhang" && (p.Name != "张三" || !slices.Equal(p.Roles, []query.Grant{{Role: events.RoleEditor, UnitID: "sq1"}})) {
			t.Errorf("zhang: %+v", p)
		}
	}
	if got := personIDs(people("sq1a", scopeOf("sq1")).People); !slices.Equal(got, []string{"li"}) {
		t.Errorf("people of sq1a: %v", got)
	}
	jw := people("jw", scopeAll)
	if got := personIDs(jw.People); !slices.Equal(got, []string{"zhang", "wang", "li"}) {
		t.Errorf("people of jw: %v (the admin of everything is nobody's own)", got)
	}
	for _, p := range jw.People {
		if p.ID == "wang" && !slices.Equal(p.Roles, []query.Grant{{Role: events.RoleReviewer, UnitID: "sq2"}, {Role: events.RoleViewer, UnitID: "sq1"}}) {
			t.Errorf("wang under jw: %+v", p.Roles)
		}
	}
	if got := people("sq2", scopeAll).People; len(got) != 1 || got[0].ID != "wang" || len(got[0].Roles) != 1 {
		t.Errorf("people of sq2: %+v", got)
	}

	// Outside the scope, or unknown: not found, as if it did not exist.
	mustFail(t, r, "people", query.Request{Scope: scopeOf("sq1"), Params: paramsOf(query.PeopleParams{UnitID: "sq2"})}, events.CodeNotFound)
	mustFail(t, r, "people", query.Request{Scope: scopeOf("sq1"), Params: paramsOf(query.PeopleParams{UnitID: "jw"})}, events.CodeNotFound)
	mustFail(t, r, "people", query.Request{Scope: scopeAll, Params: paramsOf(query.PeopleParams{UnitID: "nope"})}, events.CodeNotFound)
	failsOn(t, mustFail(t, r, "people", query.Request{Scope: scopeAll, Params: paramsOf(query.PeopleParams{})}, events.CodeInvalid), "unit_id")

	// A revoked role takes the person off the unit's list at once.
	l.at("2019-02-10 09:00")
	l.add("admin", events.UserRoleRevokedData{UserID: "wang", Role: events.RoleViewer, UnitID: "sq1"})
	if err := r.Apply(context.Background(), deliveries(l.evs)); err != nil {
		t.Fatal(err)
	}
	if got := personIDs(people("sq1", scopeOf("sq1")).People); !slices.Equal(got, []string{"zhang", "li"}) {
		t.Errorf("people of sq1 after wang's role there was revoked: %v", got)
	}
}
