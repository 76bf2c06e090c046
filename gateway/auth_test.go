package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"rectify/events"
)

// mustUser creates a user with one role on unit and a token, and returns
// the token once the gateway accepts it.
func mustUser(tb testing.TB, st *Stack, admin *Client, id, name, role, unit string) string {
	tb.Helper()
	admin.MustPost("/api/v1/users", map[string]any{"user_id": id, "name": name}, http.StatusCreated)
	if role != "" {
		admin.MustPost("/api/v1/users/"+id+"/roles", map[string]any{"role": role, "unit_id": unit}, http.StatusOK)
	}
	r := admin.Post("/api/v1/users/"+id+"/tokens", map[string]any{"label": "测试"})
	if r.Status != http.StatusCreated {
		tb.Fatalf("issue token for %s: %d %s", id, r.Status, r.Body)
	}
	var res commandResult
	r.JSON(tb, &res)
	token := res.Extra["token"]
	// The token works at once when the caller names the position.
	if r := st.Client(tb, token).Get("/api/v1/me", headerMinPosition, fmt.Sprint(res.Position)); r.Status != http.StatusOK {
		tb.Fatalf("the new token of %s: %d %s", id, r.Status, r.Body)
	}
	return token
}

func TestUnauthenticatedCallsAre401(t *testing.T) {
	// More failed authentications than the default burst come from this
	// one address; the limit has tests of its own (ratelimit_test.go).
	st := MustStartStack(t, func(c *Config) { c.AuthFailureBurst = 100 })
	anon := st.Client(t, "")
	r := anon.Get("/api/v1/items")
	if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d %v", r.Status, r.Header)
	}
	if code, _ := r.ErrorFields(t); code != events.CodeUnauthorized {
		t.Errorf("no token: code %s", code)
	}
	for _, h := range []string{
		"Basic YWRtaW46YWRtaW4=",
		"Bearer",
		"Bearer not-a-token",
		"Bearer " + events.TokenPrefix + strings.Repeat("A", 43),
		"Bearer " + st.AdminToken + "x",
	} {
		if r := anon.Get("/api/v1/items", "Authorization", h); r.Status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d %s", h, r.Status, r.Body)
		}
		if r := anon.Post("/api/v1/units", map[string]any{"name": "x", "kind": "other"}, "Authorization", h); r.Status != http.StatusUnauthorized {
			t.Errorf("POST with Authorization %q: %d", h, r.Status)
		}
	}
	// The documents and probes need no token.
	for _, p := range []string{"/api/openapi.json", "/healthz"} {
		if r := anon.Get(p); r.Status != http.StatusOK {
			t.Errorf("GET %s without a token: %d", p, r.Status)
		}
	}
}

// TestRevocationTakesEffectAtOnce revokes a token and a role while the
// gateway would otherwise cache them for a minute: the change notice
// must drop them within a second or so.
func TestRevocationTakesEffectAtOnce(t *testing.T) {
	st := MustStartStack(t, func(c *Config) { c.AuthCacheTTL = time.Minute })
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	token := mustUser(t, st, admin, "li", "李四", events.RoleEditor, "sqA")
	li := st.Client(t, token)
	li.MustGet("/api/v1/me", nil) // cached now

	// A role taken away: the next commands are refused.
	admin.MustPost("/api/v1/users/li/roles", map[string]any{"role": "viewer", "unit_id": "sqA"}, http.StatusOK)
	admin.MustPost("/api/v1/users/li/roles/revoke", map[string]any{"role": "editor", "unit_id": "sqA", "reason": "调岗"}, http.StatusOK)
	start := time.Now()
	eventually(t, 2*time.Second, "the revoked role stops counting", func() bool {
		return li.Post("/api/v1/items", map[string]any{"cycle_id": "y2024", "unit_id": "sqA", "title": "x", "deadline": "2030-01-01"}).Status == http.StatusForbidden
	})
	t.Logf("role revocation took effect after %v", time.Since(start))

	// The token revoked: 401 from then on.
	var me meReply
	li.MustGet("/api/v1/me", &me)
	admin.MustPost("/api/v1/users/li/tokens/"+me.TokenID+"/revoke", map[string]any{"reason": "离职"}, http.StatusOK)
	start = time.Now()
	eventually(t, 2*time.Second, "the revoked token stops working", func() bool {
		return li.Get("/api/v1/me").Status == http.StatusUnauthorized
	})
	t.Logf("token revocation took effect after %v", time.Since(start))
	r := li.Get("/api/v1/items")
	if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "revoked") {
		t.Errorf("a revoked token: %d %s", r.Status, r.Body)
	}
	// The admin's own token is untouched.
	admin.MustGet("/api/v1/me", nil)
}

func TestExpiredTokensAre401(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	admin.MustPost("/api/v1/users", map[string]any{"user_id": "wang", "name": "王五"}, http.StatusCreated)
	admin.MustPost("/api/v1/users/wang/roles", map[string]any{"role": "viewer"}, http.StatusOK)
	res := admin.MustPost("/api/v1/users/wang/tokens", map[string]any{"label": "临时", "expires_at": time.Now().Add(time.Hour).Format(time.RFC3339)}, http.StatusCreated)
	wang := st.Client(t, res.Extra["token"])
	wang.MustGet("/api/v1/me", nil, headerMinPosition, fmt.Sprint(res.Position))

	st.Clock.Advance(59 * time.Minute)
	wang.MustGet("/api/v1/me", nil)
	st.Clock.Advance(2 * time.Minute)
	r := wang.Get("/api/v1/me")
	if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "expired") {
		t.Errorf("an expired token: %d %s", r.Status, r.Body)
	}
	// A token that does not expire stays good.
	st.Clock.Advance(24 * 365 * time.Hour)
	admin.MustGet("/api/v1/me", nil)
}

func TestUsersMayRevokeTheirOwnToken(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	token := mustUser(t, st, admin, "zhao", "赵六", events.RoleViewer, "sqA")
	zhao := st.Client(t, token)
	var me meReply
	zhao.MustGet("/api/v1/me", &me)
	if me.UserID != "zhao" || me.Name != "赵六" || len(me.Scope.Units) != 1 || me.Scope.Units[0] != "sqA" || me.Scope.All {
		t.Fatalf("me: %+v", me)
	}
	// A viewer may not touch others' tokens, but may revoke their own.
	if r := zhao.Post("/api/v1/users/admin/tokens/bootstrap/revoke", map[string]any{}); r.Status != http.StatusForbidden {
		t.Errorf("a viewer revoking the admin's token: %d %s", r.Status, r.Body)
	}
	zhao.MustPost("/api/v1/users/zhao/tokens/"+me.TokenID+"/revoke", map[string]any{"reason": "不再使用"}, http.StatusOK)
	eventually(t, 3*time.Second, "the self-revoked token stops working", func() bool {
		return zhao.Get("/api/v1/me").Status == http.StatusUnauthorized
	})
}
