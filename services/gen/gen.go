// Package gen generates realistic histories of rectify events from a seed,
// for benchmarks and tests that need volume: a sub-district working
// committee with its departments, communities, non-public organisations
// and their branches; users with roles and tokens; last year's and this
// year's review cycles and a special campaign; rectification items through
// their whole lifecycles (raised, assigned, measures planned and completed,
// progress, evidence, deadlines moved with reasons, submitted, rejected,
// resubmitted, verified, reopened, carried over, withdrawn); and
// commitments with revisions and logged activities; and the deadline
// watcher's facts about them (turned yellow, turned red, escalated), as
// the watcher with its default options would have recorded them.
//
// A history obeys the command side's rules: every event is one the command
// side would have written for some command at the event's time by the
// event's actor, or one the deadline watcher would have recorded then
// (the package's tests replay a history through the command side, and
// append the watcher's facts as the watcher does), stream
// revisions count from 0 without holes, and times never go backwards. The
// same Config always gives the same events, ids included.
package gen

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"rectify/events"
)

// Config sizes and seeds a history. Zero fields take the defaults shown.
type Config struct {
	// Seed chooses the history; the same Config gives the same events.
	Seed uint64
	// Units is the size of the organisation tree (200), at least 3.
	Units int
	// Items is the number of rectification items (100,000).
	Items int
	// Commitments is the number of commitments (10 per unit).
	Commitments int
	// Events is the size the history aims at (10 per item): the
	// commitments' logged activities fill whatever the organisation and
	// the items leave of it. A history whose items alone need more is
	// longer.
	Events int
	// Now is when the history ends: nothing happens after it, and work
	// still under way then is left unfinished. Default 2025-11-01 18:00
	// China Standard Time, so that a seed alone fixes a history. The
	// history starts on 3 January of the year before Now's.
	Now time.Time
}

// Defaults returns c with its zero fields set to the defaults.
func (c Config) Defaults() Config {
	if c.Units <= 0 {
		c.Units = 200
	}
	c.Units = max(c.Units, 3)
	if c.Items <= 0 {
		c.Items = 100_000
	}
	if c.Commitments <= 0 {
		c.Commitments = 10 * c.Units
	}
	if c.Events <= 0 {
		c.Events = 10 * c.Items
	}
	if c.Now.IsZero() {
		c.Now = time.Date(2025, 11, 1, 18, 0, 0, 0, cst)
	}
	return c
}

// cst is China Standard Time, where the committee works and where the
// command side decides what day it is.
var cst = time.FixedZone("CST", 8*3600)

// User ids of a generated organisation. Unit editors are "ed-<unit id>"
// (and "ed-<unit id>-2" for a successor).
const (
	AdminID    = "admin"   // created by the system at bootstrap, admin on the organisation
	Admin2ID   = "admin-2" // the committee's organisation officer, admin on the organisation
	staffID    = "staff-%d"
	reviewerID = "reviewer-%d"
	viewerID   = "viewer-%d"
	RootUnitID = "gw" // the working committee, root of the unit tree
)

// Token returns the API token of a generated user: a history records only
// its hash, and a test or benchmark that loaded the history can act as
// that user with it. Anyone who knows the seed knows the tokens, which is
// fine for synthetic data and wrong for anything else.
func Token(cfg Config, userID string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "rectify-gen/%d/%s", cfg.Seed, userID))
	return events.TokenPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// History returns the events of the history cfg describes, in the order
// they happened, ready to append: ID, Stream, Revision (the revision the
// event takes in its stream), Type, Version, Time, Actor, CorrelationID,
// CausationID and Data are set; Position is left to the store. Each call
// of the returned sequence generates the history afresh.
func History(cfg Config) iter.Seq[events.Event] {
	return func(yield func(events.Event) bool) {
		g := newGenerator(cfg)
		g.run(yield)
	}
}

// Count returns the number of events History(cfg) yields, without making
// them.
func Count(cfg Config) int { return newGenerator(cfg).total }

// kind is what a step of a plan does.
type kind uint8

const (
	kOrg kind = iota // arg indexes generator.org
	kRaise
	kAssign
	kReassign
	kPlanMeasure
	kCompleteMeasure
	kProgress
	kEvidence
	kDeadline
	kSubmit
	kVerify
	kReject
	kReopen
	kCarry
	kWithdraw
	kMake
	kRevise
	kEnd
	kActivity // arg is the day the activity happened, in days after the commitment's start
	// The deadline watcher's facts (services/watcher), planned by
	// planWatch: arg of kEscalate indexes watchLadder. kRaise and
	// kDeadline carry the deadline they set, as a day number (dayNumber).
	kYellow
	kRed
	kEscalate
)

// step is one event of a plan, at a moment in unix nanoseconds.
type step struct {
	at   int64
	kind kind
	arg  int32
}

// source is one thing that produces events over time: the organisation,
// an item or a commitment. Its plan is steps[lo:hi], in time order.
type source struct {
	lo, hi, next int32
	item         int32 // index into generator.items, or -1
	cmt          int32 // index into generator.cmts, or -1
}

// orgEvent is one prepared event of the organisation: units, users,
// cycles.
type orgEvent struct {
	stream  string
	actor   string
	payload events.Payload
	// cmd groups the events of one command (the bootstrap writes three).
	cmd int
}

type unitDef struct {
	id, name, kind, parent string
	weight                 int // how often items land here, 0 for none
}

type cycleDef struct {
	id, name, kind string
	year           int
	start, end     events.Date
	opened         int64     // when it opens
	window         [2]int64  // when its items are raised
	share          float64   // of the items
	sources        []string  // where its findings come from
	carryTo        *cycleDef // where its unfinished items go
	carryFrom      [2]int64  // when they are carried
	closes         int64     // when it closes, 0 if it stays open
}

type itemRun struct {
	id, stream         string
	rng                *rand.Rand
	cycle              *cycleDef
	unit               string
	problem            int
	severity           string
	raised             events.Date
	deadline           events.Date
	ownerID, ownerName string
	percent            int
	setBack            bool // rejected or reopened since the last progress report
	measures           []string
	done               int
	evidence           int
	rev                uint64
}

type cmtRun struct {
	id, stream    string
	rng           *rand.Rand
	cycle         *cycleDef
	unit          string
	person        string
	personName    string
	promise       int
	target        int
	period        string
	start, end    events.Date
	endedOn       events.Date
	last          events.Date // last day an activity may have happened
	weight        float64
	made, revised int64
	ended         int64
	rev           uint64
}

type generator struct {
	cfg    Config
	now    int64
	nowDay events.Date
	rng    *rand.Rand // for the organisation's plan

	units    []unitDef
	unitPool []string // item units, repeated by weight
	cmtPool  []string
	cycles   []*cycleDef
	org      []orgEvent
	staff    []string
	reviews  []string
	admins   []string

	steps []step
	srcs  []source
	items []itemRun
	cmts  []cmtRun
	total int

	// Emission state: the organisation as it stands at the event being
	// emitted, which decides who acts.
	parent  map[string]string
	editor  map[string]string
	orgRevs map[string]uint64
	queue   stepHeap
}

func newGenerator(cfg Config) *generator {
	cfg = cfg.Defaults()
	g := &generator{
		cfg:     cfg,
		now:     cfg.Now.UnixNano(),
		nowDay:  events.DateFrom(cfg.Now, cst),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x6f7267)),
		parent:  map[string]string{},
		editor:  map[string]string{},
		orgRevs: map[string]uint64{},
	}
	g.steps = make([]step, 0, cfg.Events+cfg.Events/8)
	g.planOrganisation()
	g.items = make([]itemRun, cfg.Items)
	for i := range g.items {
		g.planItem(i)
	}
	g.cmts = make([]cmtRun, cfg.Commitments)
	for j := range g.cmts {
		g.planCommitment(j)
	}
	g.planActivities()
	return g
}

// ---- time ----

func dateOf(t int64) events.Date { return events.DateFrom(time.Unix(0, t), cst) }

func dayStart(d events.Date) int64 { return d.Time(cst).UnixNano() }

func ymd(y int, m time.Month, d int) events.Date {
	x, err := events.NewDate(y, m, d)
	if err != nil {
		panic(err)
	}
	return x
}

// officeHours returns a moment of day d between 08:30 and 18:00 China time.
func officeHours(d events.Date, rng *rand.Rand) int64 {
	return dayStart(d) + int64(8*time.Hour+30*time.Minute) + rng.Int64N(int64(9*time.Hour+30*time.Minute))
}

// workday moves a Saturday or Sunday to the next Monday, mostly: offices
// sometimes work at weekends too.
func workday(d events.Date, rng *rand.Rand) events.Date {
	switch d.Weekday() {
	case time.Saturday:
		if rng.IntN(10) > 0 {
			return d.AddDays(2)
		}
	case time.Sunday:
		if rng.IntN(10) > 0 {
			return d.AddDays(1)
		}
	}
	return d
}

// later returns a moment in office hours lo to hi days after t (scaled by
// pace), strictly after t.
func later(t int64, lo, hi int, pace float64, rng *rand.Rand) int64 {
	n := lo + rng.IntN(hi-lo+1)
	n = int(float64(n)*pace + 0.5)
	x := officeHours(workday(dateOf(t).AddDays(n), rng), rng)
	if x <= t {
		x = t + int64(time.Duration(1+rng.IntN(90))*time.Minute)
	}
	return x
}

// ---- ids ----

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Purposes of derived ids.
const (
	forEvent uint64 = iota + 1
	forCorrelation
	forMeasure
	forEvidence
	forActivity
	forToken
	forAggregate
)

// uuid returns a version 7 UUID whose time is t and whose random bits
// derive from the seed, name, n and purpose: time-ordered like the ids
// the command side makes, and the same for the same inputs.
func (g *generator) uuid(t int64, name string, n, purpose uint64) string {
	a := splitmix(fnv(name) ^ splitmix(g.cfg.Seed) ^ splitmix(n*31+purpose))
	b := splitmix(a ^ purpose)
	ms := uint64(t / int64(time.Millisecond))
	var u [16]byte
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | byte(a>>60)&0x0f
	u[7] = byte(a >> 52)
	u[8] = 0x80 | byte(b>>58)&0x3f
	for i := 9; i < 16; i++ {
		u[i] = byte(b >> (8 * (i - 9)))
	}
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return string(out[:])
}

// ---- the organisation ----

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func personName(h uint64) string {
	if h%23 == 0 {
		return englishNames[(h/23)%uint64(len(englishNames))]
	}
	return surnames[h%uint64(len(surnames))] + givenNames[(h/7)%uint64(len(givenNames))]
}

// clip keeps s within n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// numbered returns names[i], with a number once the list is used up.
func numbered(names []string, i int) string {
	s := names[i%len(names)]
	if k := i / len(names); k > 0 {
		return fmt.Sprintf("%s%d", s, k+1)
	}
	return s
}

func (g *generator) planOrganisation() {
	rng := g.rng
	year := g.cfg.Now.In(cst).Year()
	last := year - 1
	n := g.cfg.Units
	street := streetNames[g.cfg.Seed%uint64(len(streetNames))]

	// The tree: the committee, its departments, communities, non-public
	// organisations, and branches under the last two.
	g.units = append(g.units, unitDef{id: RootUnitID, name: street + "党工委", kind: events.UnitCommittee, weight: 1})
	nd := max(1, (n-1)*4/100)
	nc := max(1, (n-1)*35/100)
	nn := (n - 1) * 18 / 100
	nb := n - 1 - nd - nc - nn
	if nb < 0 {
		nn += nb
		nb = 0
	}
	for i := range nd {
		g.units = append(g.units, unitDef{id: fmt.Sprintf("dept-%02d", i+1), name: numbered(departmentNames, i), kind: events.UnitDepartment, parent: RootUnitID, weight: 2})
	}
	var communities, companies []int
	for i := range nc {
		base := numbered(communityNames, i)
		name := base + "社区党委"
		if i%2 == 1 {
			name = base + "社区党支部"
		}
		if base[0] < 0x80 {
			name = base + " Community Party Committee"
		}
		communities = append(communities, len(g.units))
		g.units = append(g.units, unitDef{id: fmt.Sprintf("sq-%03d", i+1), name: name, kind: events.UnitCommunity, parent: RootUnitID, weight: 8})
	}
	for i := range nn {
		base := numbered(companyNames, i)
		name := base + "党支部"
		if base[0] < 0x80 {
			name = base + " Party Branch"
		}
		companies = append(companies, len(g.units))
		g.units = append(g.units, unitDef{id: fmt.Sprintf("fg-%03d", i+1), name: name, kind: events.UnitNonPublic, parent: RootUnitID, weight: 3})
	}
	var branches []int
	for i := range nb {
		var p unitDef
		var name string
		if len(companies) > 0 && i%10 >= 7 {
			p = g.units[companies[(i/10)%len(companies)]]
			name = fmt.Sprintf("%s第%d党小组", strings.TrimSuffix(p.name, "党支部"), i/10/len(companies)+1)
		} else {
			p = g.units[communities[i%len(communities)]]
			name = fmt.Sprintf("%s第%d网格党支部", strings.TrimSuffix(strings.TrimSuffix(p.name, "党委"), "党支部"), i/len(communities)+1)
		}
		branches = append(branches, len(g.units))
		g.units = append(g.units, unitDef{id: fmt.Sprintf("zb-%03d", i+1), name: clip(name, events.MaxNameLen), kind: events.UnitBranch, parent: p.id, weight: 3})
	}

	// The year's organisational changes: a few branches merged away (they
	// get no items), a few moved to another community, a few community
	// branches raised to committees.
	var retiring, moving []int
	for k := 0; k < max(nb/40, min(1, nb/4)); k++ {
		u := branches[len(branches)-1-k]
		g.units[u].weight = 0
		retiring = append(retiring, u)
	}
	for k := 0; k < max(nb/25, min(1, nb/4)) && nc > 1; k++ {
		u := branches[k*7%max(1, len(branches)-len(retiring))]
		if !slices.Contains(moving, u) && g.units[u].parent != RootUnitID && strings.HasPrefix(g.units[u].parent, "sq-") {
			moving = append(moving, u)
		}
	}

	for _, u := range g.units {
		for range u.weight {
			g.unitPool = append(g.unitPool, u.id)
		}
		if u.weight > 0 && u.id != RootUnitID {
			for range u.weight {
				g.cmtPool = append(g.cmtPool, u.id)
			}
		}
	}

	// Cycles: last year's annual review (of the year before), this year's
	// (of last year), and a special safety campaign in the summer.
	day0 := ymd(last, 1, 3)
	at := officeHours(day0, rng)
	lastCycle := &cycleDef{
		id: fmt.Sprintf("review-%d", last-1), name: fmt.Sprintf("%d年度抓基层党建工作述职评议", last-1), kind: events.CycleAnnualReview,
		year: last - 1, start: ymd(last, 1, 1), end: ymd(last, 12, 31),
		opened:  officeHours(ymd(last, 1, 5), rng),
		window:  [2]int64{dayStart(ymd(last, 1, 8)), dayStart(ymd(last, 3, 31))},
		share:   0.43,
		sources: reviewSources,
	}
	thisCycle := &cycleDef{
		id: fmt.Sprintf("review-%d", last), name: fmt.Sprintf("%d年度抓基层党建工作述职评议", last), kind: events.CycleAnnualReview,
		year: last, start: ymd(year, 1, 1), end: ymd(year, 12, 31),
		opened:  officeHours(ymd(year, 1, 4), rng),
		window:  [2]int64{dayStart(ymd(year, 1, 8)), dayStart(ymd(year, 4, 15))},
		share:   0.42,
		sources: reviewSources,
	}
	special := &cycleDef{
		id: fmt.Sprintf("safety-%d", year), name: fmt.Sprintf("%d年安全隐患专项整治", year), kind: events.CycleSpecial,
		year: year, start: ymd(year, 6, 1), end: ymd(year, 12, 31),
		opened:  officeHours(ymd(year, 6, 3), rng),
		window:  [2]int64{dayStart(ymd(year, 6, 8)), dayStart(ymd(year, 12, 15))},
		share:   0.15,
		sources: inspectionSources,
	}
	lastCycle.carryTo = thisCycle
	lastCycle.carryFrom = [2]int64{dayStart(ymd(year, 1, 6)), dayStart(ymd(year, 1, 24))}
	lastCycle.closes = officeHours(ymd(year, 1, 31), rng)
	for _, c := range []*cycleDef{lastCycle, thisCycle, special} {
		// Nothing is raised in the last two days before Now.
		c.window[1] = min(c.window[1], g.now-int64(2*24*time.Hour))
		if c.opened < g.now {
			g.cycles = append(g.cycles, c)
		}
	}
	if len(g.cycles) == 0 || g.cycles[0].window[1] <= g.cycles[0].window[0] {
		panic(fmt.Sprintf("gen: Now %s leaves no time for items; it must be after mid-January of a year", g.cfg.Now))
	}

	// The organisation's events, in time order.
	type timed struct {
		at int64
		e  orgEvent
	}
	var plan []timed
	cmd := 0
	add := func(t int64, actor, stream string, p events.Payload) {
		cmd++
		plan = append(plan, timed{t, orgEvent{stream: stream, actor: actor, payload: p, cmd: cmd}})
	}
	next := func(d time.Duration) int64 { at += int64(d); return at }

	// Bootstrap: the first administrator, in one command of the system.
	boot := events.SystemActor + ":bootstrap"
	cmd++
	for _, p := range []events.Payload{
		events.UserCreatedData{UserID: AdminID, Name: "管理员"},
		events.UserRoleGrantedData{UserID: AdminID, Role: events.RoleAdmin},
		events.UserTokenIssuedData{UserID: AdminID, TokenID: "bootstrap", SHA256: events.TokenHash(Token(g.cfg, AdminID)), Label: "bootstrap"},
	} {
		plan = append(plan, timed{next(time.Millisecond), orgEvent{stream: events.UserStream(AdminID), actor: boot, payload: p, cmd: cmd}})
	}
	next(10 * time.Minute)
	for _, u := range g.units {
		add(next(time.Duration(20+rng.IntN(40))*time.Second), AdminID, events.UnitStream(u.id),
			events.UnitRegisteredData{UnitID: u.id, Name: u.name, Kind: u.kind, ParentID: u.parent})
	}

	type person struct{ id, name, role, unit string }
	people := []person{{Admin2ID, "李明（组织委员）", events.RoleAdmin, ""}}
	g.admins = []string{AdminID, Admin2ID}
	for i := range 2 + n/100 {
		id := fmt.Sprintf(staffID, i+1)
		people = append(people, person{id, personName(fnv(id)^g.cfg.Seed) + "（党建办）", events.RoleEditor, RootUnitID})
		g.staff = append(g.staff, id)
	}
	for i := range 3 + n/50 {
		id := fmt.Sprintf(reviewerID, i+1)
		people = append(people, person{id, personName(fnv(id)^g.cfg.Seed) + "（督查专员）", events.RoleReviewer, RootUnitID})
		g.reviews = append(g.reviews, id)
	}
	for i := range 2 {
		id := fmt.Sprintf(viewerID, i+1)
		people = append(people, person{id, personName(fnv(id)^g.cfg.Seed) + "（纪工委）", events.RoleViewer, RootUnitID})
	}
	var editable []unitDef
	for _, u := range g.units {
		switch u.kind {
		case events.UnitDepartment, events.UnitCommunity, events.UnitNonPublic:
			id := "ed-" + u.id
			people = append(people, person{id, clip(personName(fnv(id)^g.cfg.Seed)+"（"+u.name+"）", events.MaxNameLen), events.RoleEditor, u.id})
			editable = append(editable, u)
		}
	}
	tokens := map[string]string{}
	for _, p := range people {
		s := events.UserStream(p.id)
		tokens[p.id] = g.uuid(at, s, 0, forToken)
		add(next(time.Duration(15+rng.IntN(30))*time.Second), AdminID, s, events.UserCreatedData{UserID: p.id, Name: p.name})
		add(next(time.Duration(5+rng.IntN(10))*time.Second), AdminID, s, events.UserRoleGrantedData{UserID: p.id, Role: p.role, UnitID: p.unit})
		add(next(time.Duration(5+rng.IntN(10))*time.Second), AdminID, s, events.UserTokenIssuedData{
			UserID: p.id, TokenID: tokens[p.id], SHA256: events.TokenHash(Token(g.cfg, p.id)), Label: "网页登录"})
	}

	// Cycles open and close.
	for _, c := range g.cycles {
		add(c.opened, Admin2ID, events.CycleStream(c.id), events.CycleOpenedData{
			CycleID: c.id, Name: c.name, Year: c.year, Kind: c.kind, Start: c.start, End: c.end})
		if c.closes > 0 && c.closes < g.now {
			add(c.closes, Admin2ID, events.CycleStream(c.id), events.CycleClosedData{CycleID: c.id, Note: "未完成事项已结转至新年度"})
		}
	}

	// Changes to the tree during last year.
	t := officeHours(ymd(last, 4, 1), rng)
	renamed := 0
	for _, i := range communities {
		u := g.units[i]
		if renamed >= max(nc/30, min(1, nc/4)) || !strings.HasSuffix(u.name, "社区党支部") {
			continue
		}
		renamed++
		add(t, AdminID, events.UnitStream(u.id), events.UnitRenamedData{UnitID: u.id, OldName: u.name, NewName: strings.TrimSuffix(u.name, "党支部") + "党委"})
		t += int64(time.Duration(1+rng.IntN(30)) * time.Minute)
	}
	t = officeHours(ymd(last, 7, 1), rng)
	for _, i := range retiring {
		add(t, AdminID, events.UnitStream(g.units[i].id), events.UnitRetiredData{UnitID: g.units[i].id, Reason: "网格调整，与相邻网格党支部合并"})
		t += int64(time.Duration(1+rng.IntN(30)) * time.Minute)
	}
	t = officeHours(ymd(last, 9, 1), rng)
	for k, i := range moving {
		u := g.units[i]
		to := g.units[communities[(slices.Index(communities, g.indexOf(u.parent))+1+k)%len(communities)]].id
		if to == u.parent {
			continue
		}
		add(t, AdminID, events.UnitStream(u.id), events.UnitMovedData{UnitID: u.id, OldParentID: u.parent, NewParentID: to})
		t += int64(time.Duration(1+rng.IntN(30)) * time.Minute)
	}

	// A few editors hand over to a successor in the summer.
	t = officeHours(ymd(year, 7, 15), rng)
	handed := map[string]bool{}
	for k := 0; k < max(len(editable)/20, min(1, len(editable)/4)); k++ {
		u := editable[(k*13)%len(editable)]
		if handed[u.id] {
			continue
		}
		handed[u.id] = true
		old, id := "ed-"+u.id, "ed-"+u.id+"-2"
		s := events.UserStream(id)
		add(t, AdminID, s, events.UserCreatedData{UserID: id, Name: clip(personName(fnv(id)^g.cfg.Seed)+"（"+u.name+"）", events.MaxNameLen)})
		add(t+int64(time.Minute), AdminID, s, events.UserRoleGrantedData{UserID: id, Role: events.RoleEditor, UnitID: u.id})
		add(t+int64(2*time.Minute), AdminID, s, events.UserTokenIssuedData{UserID: id, TokenID: g.uuid(t, s, 0, forToken), SHA256: events.TokenHash(Token(g.cfg, id)), Label: "网页登录"})
		add(t+int64(3*time.Minute), AdminID, events.UserStream(old), events.UserRoleRevokedData{UserID: old, Role: events.RoleEditor, UnitID: u.id, Reason: "工作调动"})
		add(t+int64(4*time.Minute), AdminID, events.UserStream(old), events.UserTokenRevokedData{UserID: old, TokenID: tokens[old], Reason: "工作调动"})
		t += int64(time.Duration(10+rng.IntN(50)) * time.Minute)
	}

	slices.SortStableFunc(plan, func(a, b timed) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	src := source{lo: int32(len(g.steps)), item: -1, cmt: -1}
	for _, p := range plan {
		if p.at > g.now {
			break
		}
		g.steps = append(g.steps, step{at: p.at, kind: kOrg, arg: int32(len(g.org))})
		g.org = append(g.org, p.e)
	}
	src.hi = int32(len(g.steps))
	src.next = src.lo
	g.srcs = append(g.srcs, src)
	g.total += int(src.hi - src.lo)
}

func (g *generator) indexOf(unit string) int {
	for i, u := range g.units {
		if u.id == unit {
			return i
		}
	}
	return -1
}
