package projections

// The as-of views of the audit projection beyond single aggregates: the
// unit tree, the cycles, the progress summary and trend, the commitments
// with their compliance, and the users, each as it stood at a past
// position or time. Each folds the raw events the audit view keeps
// (audit_events) with the same folds and the same arithmetic as the live
// views, so an answer as of the view's head equals the live one. The
// rules are written down in query/asof.go.
//
// These fold every aggregate of a kind up to the as-of point on each
// query: slower than the live views (a second or so per hundred thousand
// events), which is fine for looking back and keeps the views free of
// history tables of their own.

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// asofScan calls fold for every event of every stream of category up to
// the as-of point, stream by stream (in stream order) and in position
// order within a stream. Events this build cannot decode are passed over.
// fold must not query db: the rows stay open meanwhile.
func asofScan(ctx context.Context, db *sql.DB, category string, at query.AsOf, fold func(e events.Event, p events.Payload)) error {
	pos, t := asofBounds(at)
	prefix := events.StreamPrefix(category)
	rows, err := db.QueryContext(ctx, `SELECT stream, position, revision, event_id, type, version, time, actor, correlation_id, causation_id, data
		FROM audit_events WHERE stream > ? AND stream < ? AND position <= ? AND time <= ? ORDER BY stream, position`,
		prefix, prefix+"\U0010FFFF", pos, t)
	if err != nil {
		return fmt.Errorf("as-of %s: %w", category, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e events.Event
		var nanos int64
		var data []byte
		if err := rows.Scan(&e.Stream, &e.Position, &e.Revision, &e.ID, &e.Type, &e.Version, &nanos, &e.Actor, &e.CorrelationID, &e.CausationID, &data); err != nil {
			return fmt.Errorf("as-of %s: %w", category, err)
		}
		e.Time = time.Unix(0, nanos).UTC()
		e.Data = data
		p, err := events.Decode(e)
		if err != nil {
			continue
		}
		fold(e, p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("as-of %s: %w", category, err)
	}
	return nil
}

// asofStart checks the as-of point and returns the day colours, periods
// and defaults are derived for.
func asofStart(ctx context.Context, db *sql.DB, req query.Request) (events.Date, error) {
	if err := asofReached(ctx, db, req.AsOf); err != nil {
		return events.Date{}, err
	}
	return asofDay(ctx, db, req)
}

// ---- units and cycles ----

// asofUnitsAt folds every unit registered by the as-of point.
func asofUnitsAt(ctx context.Context, db *sql.DB, at query.AsOf) (map[string]query.Unit, error) {
	out := map[string]query.Unit{}
	var cur query.Unit
	stream := ""
	err := asofScan(ctx, db, events.CategoryUnit, at, func(e events.Event, p events.Payload) {
		if e.Stream != stream {
			stream, cur = e.Stream, query.Unit{}
		}
		if foldUnit(&cur, p) {
			out[cur.ID] = cur
		}
	})
	return out, err
}

// asofTree is the unit tree as it stood (parents, names, retirements),
// confined to the units inside the scope today (permissions are today's)
// and, when under is not empty, to the subtree of under as it stood. It
// also returns every unit of then, for names.
func asofTree(ctx context.Context, db *sql.DB, s query.Scope, at query.AsOf, under string) (*unitTree, map[string]query.Unit, error) {
	units, err := asofUnitsAt(ctx, db, at)
	if err != nil {
		return nil, nil, err
	}
	var today *unitTree
	if !s.All {
		if today, err = loadUnitTree(ctx, db, s, ""); err != nil {
			return nil, nil, err
		}
	}
	var sub map[string]bool
	if under != "" {
		children := map[string][]string{}
		for id, u := range units {
			children[u.ParentID] = append(children[u.ParentID], id)
		}
		sub = map[string]bool{}
		if _, ok := units[under]; ok {
			next := []string{under}
			for len(next) > 0 {
				id := next[len(next)-1]
				next = next[:len(next)-1]
				if !sub[id] {
					sub[id] = true
					next = append(next, children[id]...)
				}
			}
		}
	}
	var nodes []unitNode
	for id, u := range units {
		if today != nil {
			if _, ok := today.index[id]; !ok {
				continue
			}
		}
		if sub != nil && !sub[id] {
			continue
		}
		nodes = append(nodes, unitNode{ID: u.ID, ParentID: u.ParentID, Name: u.Name, Kind: u.Kind, Retired: u.Retired})
	}
	return newUnitTree(nodes), units, nil
}

// asofAllowed reports whether facts of unit count in an as-of answer
// confined to tree: units of the tree, and units the tree does not know
// only in an All scope without a subtree (as the live views count them).
func asofAllowed(tree *unitTree, s query.Scope, under string) func(unit string) bool {
	return func(unit string) bool {
		if _, ok := tree.index[unit]; ok {
			return true
		}
		return s.All && under == ""
	}
}

func asofUnits(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.UnitsParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	if _, err := asofStart(ctx, db, req); err != nil {
		return nil, err
	}
	tree, _, err := asofTree(ctx, db, req.Scope, req.AsOf, p.UnitID)
	if err != nil {
		return nil, err
	}
	out := query.UnitTree{Units: []query.Unit{}}
	for _, n := range tree.Nodes {
		if n.Retired && !p.IncludeRetired {
			continue
		}
		out.Units = append(out.Units, query.Unit{ID: n.ID, ParentID: n.ParentID, Name: n.Name, Kind: n.Kind, Retired: n.Retired, Depth: n.Depth})
	}
	return out, nil
}

// asofCyclesAt folds every cycle opened by the as-of point.
func asofCyclesAt(ctx context.Context, db *sql.DB, at query.AsOf) (map[string]*query.Cycle, error) {
	out := map[string]*query.Cycle{}
	err := asofScan(ctx, db, events.CategoryCycle, at, func(_ events.Event, p events.Payload) {
		switch d := p.(type) {
		case events.CycleOpenedData:
			c := out[d.CycleID]
			if c == nil {
				c = &query.Cycle{ID: d.CycleID}
				out[d.CycleID] = c
			}
			c.Name, c.Year, c.Kind, c.Start, c.End = d.Name, d.Year, d.Kind, d.Start, d.End
		case events.CycleClosedData:
			if c := out[d.CycleID]; c != nil {
				c.Closed, c.CloseNote = true, d.Note
			}
		}
	})
	return out, err
}

func asofCycles(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var none struct{}
	if err := parseParams(req.Params, &none); err != nil {
		return nil, err
	}
	if _, err := asofStart(ctx, db, req); err != nil {
		return nil, err
	}
	m, err := asofCyclesAt(ctx, db, req.AsOf)
	if err != nil {
		return nil, err
	}
	out := query.Cycles{Cycles: []query.Cycle{}}
	for _, c := range m {
		out.Cycles = append(out.Cycles, *c)
	}
	// The live view's order: newest year, then start, then id.
	slices.SortFunc(out.Cycles, func(a, b query.Cycle) int {
		if c := cmp.Compare(b.Year, a.Year); c != 0 {
			return c
		}
		if c := strings.Compare(b.Start.String(), a.Start.String()); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// asofCycleNames names the cycles as they were named then.
func asofCycleNames(ctx context.Context, db *sql.DB, at query.AsOf) (map[string]string, error) {
	m, err := asofCyclesAt(ctx, db, at)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for id, c := range m {
		out[id] = c.Name
	}
	return out, nil
}

// ---- progress ----

// asofProgress is the ledger's progress counters as they stood at one
// point: every item folded with the ledger's fold, its contribution moved
// as the ledger moves it.
type asofProgress struct {
	progress
}

// progressMemo keeps the last few folds of the counters: a dashboard asks
// for the summary and the trend of the same point together, and a fold
// reads every item event up to it. Keyed by the view's checkpoint too, so
// that events applied since (which may carry earlier times) count.
var progressMemo struct {
	sync.Mutex
	keys []progressKey
	vals []*asofProgress
}

type progressKey struct {
	db         *sql.DB
	checkpoint uint64
	at         query.AsOf
}

const maxProgressMemo = 4

func asofProgressAt(ctx context.Context, db *sql.DB, at query.AsOf) (*asofProgress, error) {
	var head uint64
	if err := db.QueryRowContext(ctx, `SELECT position FROM checkpoint WHERE id = 1`).Scan(&head); err != nil {
		return nil, fmt.Errorf("as-of progress: %w", err)
	}
	key := progressKey{db: db, checkpoint: head, at: at}
	progressMemo.Lock()
	for i, k := range progressMemo.keys {
		if k == key {
			v := progressMemo.vals[i]
			progressMemo.Unlock()
			return v, nil
		}
	}
	progressMemo.Unlock()

	out := &asofProgress{progress: newProgress()}
	var cur itemRow
	stream := ""
	err := asofScan(ctx, db, events.CategoryItem, at, func(e events.Event, p events.Payload) {
		if e.Stream != stream {
			stream, cur = e.Stream, itemRow{}
		}
		old := cur
		if foldItem(&cur, e, p) {
			out.move(e, p, &old, &cur)
		}
	})
	if err != nil {
		return nil, err
	}
	progressMemo.Lock()
	if len(progressMemo.keys) == maxProgressMemo {
		progressMemo.keys, progressMemo.vals = progressMemo.keys[1:], progressMemo.vals[1:]
	}
	progressMemo.keys = append(progressMemo.keys, key)
	progressMemo.vals = append(progressMemo.vals, out)
	progressMemo.Unlock()
	return out, nil
}

// bucketSelected reports whether a bucket is among those a summary or
// trend reads: of an allowed unit, and of the cycle and category asked for.
func bucketSelected(allowed func(string) bool, cycle, category string) func(unit, c, cat string) bool {
	return func(unit, c, cat string) bool {
		return allowed(unit) && (cycle == "" || c == cycle) && (category == "" || cat == category)
	}
}

func asofSummary(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.SummaryParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today, err := asofStart(ctx, db, req)
	if err != nil {
		return nil, err
	}
	yellow := query.YellowWindow(p.YellowDays)
	pr, err := asofProgressAt(ctx, db, req.AsOf)
	if err != nil {
		return nil, err
	}
	tree, _, err := asofTree(ctx, db, req.Scope, req.AsOf, p.UnitID)
	if err != nil {
		return nil, err
	}
	names, err := asofCycleNames(ctx, db, req.AsOf)
	if err != nil {
		return nil, err
	}
	sel := bucketSelected(asofAllowed(tree, req.Scope, p.UnitID), p.CycleID, p.Category)
	parts := map[bucketKey]*progTally{}
	part := func(k bucketKey) *progTally {
		t := parts[k]
		if t == nil {
			t = &progTally{}
			parts[k] = t
		}
		return t
	}
	// Only what the live tables would hold: rows at zero are dropped there.
	for k, t := range pr.counts {
		if sel(k.unit, k.cycle, k.category) && !statusesZero(t) {
			part(k).add(t)
		}
	}
	t, end := today.String(), today.AddDays(yellow).String()
	for k, n := range pr.due {
		if n == 0 || k.deadline == "" || k.deadline > end || !sel(k.unit, k.cycle, k.category) {
			continue
		}
		b := bucketKey{k.unit, k.cycle, k.category}
		if k.deadline < t {
			part(b)[tallyRed] += n
		} else {
			part(b)[tallyYellow] += n
		}
	}
	return summarize(&p, today, yellow, parts, tree, names), nil
}

func asofTrend(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.TrendParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today, err := asofStart(ctx, db, req)
	if err != nil {
		return nil, err
	}
	from, to, step, err := trendRange(&p, today)
	if err != nil {
		return nil, err
	}
	pr, err := asofProgressAt(ctx, db, req.AsOf)
	if err != nil {
		return nil, err
	}
	tree, _, err := asofTree(ctx, db, req.Scope, req.AsOf, p.UnitID)
	if err != nil {
		return nil, err
	}
	sel := bucketSelected(asofAllowed(tree, req.Scope, p.UnitID), p.CycleID, p.Category)
	var open, closed int
	for k, t := range pr.counts {
		if sel(k.unit, k.cycle, k.category) {
			open += t[tallyRaised] + t[tallyAssigned] + t[tallyInProgress] + t[tallySubmitted]
			closed += t[tallyClosed]
		}
	}
	byDay := map[string]*trendDay{}
	first := from.String()
	for k, d := range pr.daily {
		if k.day < first || !sel(k.unit, k.cycle, k.category) {
			continue
		}
		td := byDay[k.day]
		if td == nil {
			td = &trendDay{}
			byDay[k.day] = td
		}
		td.dOpen += d.open
		td.dClosed += d.closed
		td.raised += d.raised
		td.verified += d.verified
	}
	days := make([]trendDay, 0, len(byDay))
	for _, k := range slices.Sorted(maps.Keys(byDay)) {
		d, err := events.ParseDate(k)
		if err != nil {
			continue // written by dateText; never happens
		}
		td := *byDay[k]
		td.day = d
		days = append(days, td)
	}
	return trendOf(&p, from, to, step, open, closed, days), nil
}

// ---- commitments and compliance ----

// asofCmt is a commitment as it stood, with what its compliance is
// counted from: its definitions and its activities by day.
type asofCmt struct {
	c      query.Commitment
	seen   map[string]bool
	defs   []cmtDef
	counts map[int]int
}

// asofCommitmentsAt folds every commitment made by the as-of point, as the
// commitments view keeps them: definitions in force from the day of each
// revision, each activity counted once.
func asofCommitmentsAt(ctx context.Context, db *sql.DB, at query.AsOf, units map[string]query.Unit) (map[string]*asofCmt, error) {
	out := map[string]*asofCmt{}
	var cur *asofCmt
	stream := ""
	err := asofScan(ctx, db, events.CategoryCommitment, at, func(e events.Event, p events.Payload) {
		if e.Stream != stream {
			stream, cur = e.Stream, &asofCmt{seen: map[string]bool{}, counts: map[int]int{}}
		}
		if !foldCommitment(&cur.c, cur.seen, e, p) {
			return
		}
		switch d := p.(type) {
		case events.CommitmentMadeData:
			def := cmtDef{effective: math.MinInt, target: d.Target, period: d.Period}
			if len(cur.defs) == 0 {
				cur.defs = append(cur.defs, def)
			} else {
				cur.defs[0] = def
			}
			out[cur.c.ID] = cur
		case events.CommitmentRevisedData:
			cur.defs = append(cur.defs, cmtDef{effective: dayOf(eventDay(e)), seq: cur.c.Revisions, target: cur.c.Target, period: cur.c.Period})
		case events.CommitmentActivityLoggedData:
			cur.counts[dayOf(d.OccurredOn)] += d.Count
		}
	})
	if err != nil {
		return nil, err
	}
	for _, a := range out {
		slices.SortStableFunc(a.defs, func(x, y cmtDef) int {
			if c := cmp.Compare(x.effective, y.effective); c != 0 {
				return c
			}
			return cmp.Compare(x.seq, y.seq)
		})
		a.c.UnitName = units[a.c.UnitID].Name
	}
	return out, nil
}

// asofCommitmentSet is every commitment of then, and which of them an
// as-of query may show.
type asofCommitmentSet struct {
	all     map[string]*asofCmt
	tree    *unitTree
	allowed func(unit string) bool
}

func asofCommitmentsOf(ctx context.Context, db *sql.DB, req query.Request, under string) (*asofCommitmentSet, error) {
	tree, units, err := asofTree(ctx, db, req.Scope, req.AsOf, under)
	if err != nil {
		return nil, err
	}
	all, err := asofCommitmentsAt(ctx, db, req.AsOf, units)
	if err != nil {
		return nil, err
	}
	return &asofCommitmentSet{all: all, tree: tree, allowed: asofAllowed(tree, req.Scope, under)}, nil
}

// list is the commitments of allowed units and the cycle (any when
// empty) that keep accepts, by unit id then id.
func (s *asofCommitmentSet) list(cycle string, keep func(c *query.Commitment) bool) []query.Commitment {
	var out []query.Commitment
	for _, a := range s.all {
		c := &a.c
		if s.allowed(c.UnitID) && (cycle == "" || c.CycleID == cycle) && (keep == nil || keep(c)) {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b query.Commitment) int {
		if c := strings.Compare(a.UnitID, b.UnitID); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// asofPage is one page of list after the cursor, as the live list pages.
func asofPage(list []query.Commitment, limit int, cursor string) ([]query.Commitment, string, error) {
	if cursor != "" {
		after, err := readCursor(cursor, 2)
		if err != nil {
			return nil, "", err
		}
		i, _ := slices.BinarySearchFunc(list, after, func(c query.Commitment, k []string) int {
			if c := strings.Compare(c.UnitID, k[0]); c != 0 {
				return c
			}
			if c.ID <= k[1] {
				return -1
			}
			return 1
		})
		list = list[i:]
	}
	limit = pageSize(limit)
	if len(list) > limit {
		last := list[limit-1]
		return list[:limit], makeCursor(last.UnitID, last.ID), nil
	}
	return list, "", nil
}

func asofCommitmentList(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.CommitmentListParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	if _, err := asofStart(ctx, db, req); err != nil {
		return nil, err
	}
	set, err := asofCommitmentsOf(ctx, db, req, p.UnitID)
	if err != nil {
		return nil, err
	}
	on := p.ActiveOn.String()
	list := set.list(p.CycleID, func(c *query.Commitment) bool {
		// The live list compares the stored dates as text; so does this.
		return (p.Period == "" || c.Period == p.Period) && (p.PersonID == "" || c.PersonID == p.PersonID) &&
			(p.ActiveOn.IsZero() || (c.Start.String() <= on && c.End.String() >= on && (!c.Ended || c.EndedOn.String() >= on)))
	})
	page, next, err := asofPage(list, p.Limit, p.Cursor)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []query.Commitment{}
	}
	return query.CommitmentPage{Commitments: page, NextCursor: next}, nil
}

func (a *asofCmt) buckets(from, to, today events.Date, kind string) []cmtBucket {
	lo, hi, ok := bucketDays(a.c, from, to)
	if !ok || len(a.defs) == 0 {
		return nil
	}
	return bucketsOf(a.defs, a.counts, lo, hi, from, to, today, kind)
}

func asofCompliance(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.ComplianceParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today, err := asofStart(ctx, db, req)
	if err != nil {
		return nil, err
	}
	from, to := cmtRange(p.From, p.To, today)
	if to.Before(from) {
		return nil, events.Invalid("from", "must not be after to (which defaults to the as-of day)")
	}
	// One commitment: its unit need only lie inside the scope, as live.
	under := p.UnitID
	if p.CommitmentID != "" {
		under = ""
	}
	set, err := asofCommitmentsOf(ctx, db, req, under)
	if err != nil {
		return nil, err
	}
	out := query.Compliance{From: from, To: to, Today: today, Commitments: []query.CommitmentCompliance{}}
	var list []query.Commitment
	if p.CommitmentID != "" {
		a := set.all[p.CommitmentID]
		// Absent then, or outside the scope: not found alike.
		if a == nil || !set.allowed(a.c.UnitID) {
			return nil, events.Errorf(events.CodeNotFound, "commitment %s did not exist then", p.CommitmentID)
		}
		list = []query.Commitment{a.c}
	} else if list, out.NextCursor, err = asofPage(set.list(p.CycleID, nil), p.Limit, p.Cursor); err != nil {
		return nil, err
	}
	for _, c := range list {
		out.Commitments = append(out.Commitments, complianceOf(c, set.all[c.ID].buckets(from, to, today, p.Period)))
	}
	return out, nil
}

func asofComplianceUnits(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.CommitmentUnitsParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today, err := asofStart(ctx, db, req)
	if err != nil {
		return nil, err
	}
	from, to := cmtRange(p.From, p.To, today)
	if to.Before(from) {
		return nil, events.Invalid("from", "must not be after to (which defaults to the as-of day)")
	}
	set, err := asofCommitmentsOf(ctx, db, req, p.UnitID)
	if err != nil {
		return nil, err
	}
	f, t := from.String(), to.String()
	list := set.list(p.CycleID, func(c *query.Commitment) bool {
		return c.Start.String() <= t && c.End.String() >= f && (!c.Ended || c.EndedOn.String() >= f)
	})
	return unitsComplianceOf(&p, from, to, today, set.tree, list, func(c query.Commitment) ([]cmtBucket, error) {
		return set.all[c.ID].buckets(from, to, today, ""), nil
	})
}

// ---- users ----

// asofUser is a user as the access view would have shown them then.
type asofUser struct {
	u       query.User
	created bool
	roles   []query.Grant
	tokens  []asofToken
}

type asofToken struct {
	query.UserToken
	pos uint64 // where the token row last changed, the live view's order
}

func asofUsersAt(ctx context.Context, db *sql.DB, at query.AsOf) (map[string]*asofUser, error) {
	out := map[string]*asofUser{}
	user := func(id string) *asofUser {
		u := out[id]
		if u == nil {
			u = &asofUser{u: query.User{ID: id}}
			out[id] = u
		}
		return u
	}
	err := asofScan(ctx, db, events.CategoryUser, at, func(e events.Event, p events.Payload) {
		var u *asofUser
		switch d := p.(type) {
		case events.UserCreatedData:
			u = user(d.UserID)
			u.created, u.u.Name = true, d.Name
		case events.UserRoleGrantedData:
			u = user(d.UserID)
			g := query.Grant{Role: d.Role, UnitID: d.UnitID}
			if !slices.Contains(u.roles, g) {
				u.roles = append(u.roles, g)
			}
		case events.UserRoleRevokedData:
			u = user(d.UserID)
			u.roles = slices.DeleteFunc(u.roles, func(g query.Grant) bool { return g.Role == d.Role && g.UnitID == d.UnitID })
		case events.UserTokenIssuedData:
			u = user(d.UserID)
			u.tokens = slices.DeleteFunc(u.tokens, func(t asofToken) bool { return t.ID == d.TokenID })
			t := asofToken{UserToken: query.UserToken{ID: d.TokenID, Label: d.Label, IssuedAt: e.Time.UTC()}, pos: e.Position}
			if !d.ExpiresAt.IsZero() {
				t.ExpiresAt = d.ExpiresAt.UTC()
			}
			u.tokens = append(u.tokens, t)
		case events.UserTokenRevokedData:
			u = user(d.UserID)
			for i := range u.tokens {
				if u.tokens[i].ID == d.TokenID {
					u.tokens[i].Revoked, u.tokens[i].pos = true, e.Position
				}
			}
		default:
			return
		}
		u.u.Position = e.Position
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// asofUsersVisible lists the users of then visible in the scope, by id,
// after the id after (and only the user only, when given), as the access
// view's "users" does: with an All scope every user and role; otherwise
// the users holding a role on a unit inside the scope today, with those
// roles. under keeps users holding a role in that unit's subtree as it
// stood.
func asofUsersVisible(ctx context.Context, db *sql.DB, req query.Request, under, after, only string, limit int) ([]query.User, error) {
	if _, err := asofStart(ctx, db, req); err != nil {
		return nil, err
	}
	users, err := asofUsersAt(ctx, db, req.AsOf)
	if err != nil {
		return nil, err
	}
	var inScope map[string]int
	if !req.Scope.All {
		t, err := loadUnitTree(ctx, db, req.Scope, "")
		if err != nil {
			return nil, err
		}
		inScope = t.index
	}
	var sub map[string]int
	if under != "" {
		t, _, err := asofTree(ctx, db, query.Scope{All: true}, req.AsOf, under)
		if err != nil {
			return nil, err
		}
		sub = t.index
	}
	var out []query.User
	for _, id := range slices.Sorted(maps.Keys(users)) {
		a := users[id]
		if !a.created || id <= after || (only != "" && id != only) {
			continue
		}
		u := a.u
		u.Roles = []query.Grant{}
		under := sub == nil
		for _, g := range a.roles {
			if inScope != nil {
				if _, ok := inScope[g.UnitID]; !ok || g.UnitID == "" {
					continue
				}
			}
			u.Roles = append(u.Roles, g)
			if _, ok := sub[g.UnitID]; ok && g.UnitID != "" {
				under = true
			}
		}
		if (inScope != nil && len(u.Roles) == 0) || !under {
			continue
		}
		slices.SortFunc(u.Roles, func(x, y query.Grant) int {
			if c := strings.Compare(x.Role, y.Role); c != 0 {
				return c
			}
			return strings.Compare(x.UnitID, y.UnitID)
		})
		toks := slices.Clone(a.tokens)
		slices.SortStableFunc(toks, func(x, y asofToken) int {
			if c := cmp.Compare(x.pos, y.pos); c != 0 {
				return c
			}
			return strings.Compare(x.ID, y.ID)
		})
		u.Tokens = make([]query.UserToken, len(toks))
		for i, t := range toks {
			u.Tokens[i] = t.UserToken
		}
		out = append(out, u)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func asofUserPage(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.UsersParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	var after string
	if p.Cursor != "" {
		c, err := readCursor(p.Cursor, 1)
		if err != nil {
			return nil, err
		}
		after = c[0]
	}
	limit := pageSize(p.Limit)
	users, err := asofUsersVisible(ctx, db, req, p.UnitID, after, "", limit+1)
	if err != nil {
		return nil, err
	}
	return userPageOf(users, limit), nil
}

func asofUserOne(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.UserParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	users, err := asofUsersVisible(ctx, db, req, "", "", p.UserID, 1)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, events.Errorf(events.CodeNotFound, "user %s did not exist then", p.UserID)
	}
	return users[0], nil
}

// asofPeople answers "people" as of a past point: who held a role on the
// unit or below it then, in the unit tree of then, ordered as the live
// access view orders them. The scope is today's, as for every as-of read.
func asofPeople(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.PeopleParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	if _, err := asofStart(ctx, db, req); err != nil {
		return nil, err
	}
	tree, _, err := asofTree(ctx, db, req.Scope, req.AsOf, p.UnitID)
	if err != nil {
		return nil, err
	}
	if _, ok := tree.index[p.UnitID]; !ok {
		return nil, events.Errorf(events.CodeNotFound, "unit %s did not exist then", p.UnitID)
	}
	users, err := asofUsersAt(ctx, db, req.AsOf)
	if err != nil {
		return nil, err
	}
	type ranked struct {
		query.Person
		depth int
	}
	var found []ranked
	for _, a := range users {
		if !a.created {
			continue
		}
		r := ranked{Person: query.Person{ID: a.u.ID, Name: a.u.Name, Roles: []query.Grant{}}, depth: -1}
		for _, g := range a.roles {
			i, ok := tree.index[g.UnitID]
			if !ok || g.UnitID == "" {
				continue
			}
			r.Roles = append(r.Roles, g)
			if d := tree.Nodes[i].Depth; r.depth < 0 || d < r.depth {
				r.depth = d
			}
		}
		if len(r.Roles) == 0 {
			continue
		}
		slices.SortFunc(r.Roles, func(x, y query.Grant) int {
			if c := strings.Compare(x.Role, y.Role); c != 0 {
				return c
			}
			return strings.Compare(x.UnitID, y.UnitID)
		})
		found = append(found, r)
	}
	slices.SortFunc(found, func(x, y ranked) int {
		if c := cmp.Compare(x.depth, y.depth); c != 0 {
			return c
		}
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	out := query.People{UnitID: p.UnitID, People: []query.Person{}}
	for _, r := range found {
		if len(out.People) == query.MaxPeople {
			out.Truncated = true
			break
		}
		out.People = append(out.People, r.Person)
	}
	return out, nil
}
