package gen

import (
	"math/rand/v2"
	"slices"
	"time"

	"rectify/events"
	"rectify/services/watcher"
)

// Planning decides, for every item and commitment, what happens to it and
// when; the payloads are made later, as the events are emitted in time
// order, from the state each aggregate has reached by then.

const day = int64(24 * time.Hour)

func (g *generator) pickCycle(rng *rand.Rand) *cycleDef {
	total := 0.0
	for _, c := range g.cycles {
		if c.window[1] > c.window[0] {
			total += c.share
		}
	}
	x := rng.Float64() * total
	var last *cycleDef
	for _, c := range g.cycles {
		if c.window[1] <= c.window[0] {
			continue
		}
		last = c
		if x < c.share {
			return c
		}
		x -= c.share
	}
	return last
}

// addSource appends plan as the steps of a new source.
func (g *generator) addSource(plan []step, item, cmt int) {
	if len(plan) == 0 {
		return
	}
	lo := int32(len(g.steps))
	g.steps = append(g.steps, plan...)
	g.srcs = append(g.srcs, source{lo: lo, hi: int32(len(g.steps)), next: lo, item: int32(item), cmt: int32(cmt)})
	g.total += len(plan)
}

// planItem plans item i's life: a walk through the lifecycle with the
// item's own pace, cut off at Now, with a carry-over into this year's
// cycle inserted where last year's item was unfinished at the turn of the
// year.
func (g *generator) planItem(i int) {
	rng := rand.New(rand.NewPCG(g.cfg.Seed, 1<<40|uint64(i)))
	c := g.pickCycle(rng)
	raise := officeHours(workday(dateOf(c.window[0]+rng.Int64N(c.window[1]-c.window[0])), rng), rng)
	if raise <= c.opened {
		raise = c.opened + int64(time.Duration(1+rng.IntN(120))*time.Minute)
	}
	it := &g.items[i]
	it.rng = rng
	it.cycle = c
	it.id = g.uuid(raise, "item", uint64(i), forAggregate)
	it.stream = events.ItemStream(it.id)
	it.unit = pick(rng, g.unitPool)
	if c.kind == events.CycleSpecial {
		it.problem = pick(rng, safetyProblems)
	} else {
		it.problem = rng.IntN(len(problems))
	}
	it.severity = []string{"", events.SeverityLow, events.SeverityNormal, events.SeverityNormal, events.SeverityHigh}[rng.IntN(5)]

	// Most items move at an ordinary pace; some drag on for a long time.
	pace := 0.5 + rng.Float64()*1.2
	if rng.IntN(100) < 15 {
		pace *= 3
	}
	plan := []step{{at: raise, kind: kRaise}}
	t := raise
	add := func(k kind, lo, hi int) {
		t = later(t, lo, hi, pace, rng)
		plan = append(plan, step{at: t, kind: k})
	}
	g.walkItem(rng, add)

	// Nothing happens after Now.
	for len(plan) > 0 && plan[len(plan)-1].at > g.now {
		plan = plan[:len(plan)-1]
	}
	// Unfinished at the turn of the year: carried into this year's plan.
	if to := c.carryTo; to != nil {
		from := c.carryFrom
		at := officeHours(workday(dateOf(from[0]+rng.Int64N(from[1]-from[0])), rng), rng)
		if at < g.now && at > to.opened && (c.closes == 0 || at < c.closes) {
			k, _ := slices.BinarySearchFunc(plan, at, func(s step, t int64) int {
				switch {
				case s.at <= t:
					return -1
				default:
					return 1
				}
			})
			if !statusAfter(plan[:k]).Finished() {
				plan = slices.Insert(plan, k, step{at: at, kind: kCarry})
			}
		}
	}
	// Deadlines are chosen here, with a generator of their own, so that
	// the watcher's facts can be planned from them.
	drng := rand.New(rand.NewPCG(g.cfg.Seed, 3<<40|uint64(i)))
	var cur events.Date
	for k := range plan {
		switch plan[k].kind {
		case kRaise:
			cur = dateOf(plan[k].at).AddDays(30 + drng.IntN(150))
			if drng.IntN(10) < 8 && cur.After(c.end) {
				cur = c.end
			}
			plan[k].arg = dayNumber(cur)
		case kDeadline:
			nd := dateOf(plan[k].at).AddDays(14 + drng.IntN(46))
			if alt := cur.AddDays(30 + drng.IntN(60)); alt.After(nd) {
				nd = alt
			}
			cur = nd
			plan[k].arg = dayNumber(nd)
		}
	}
	g.addSource(g.planWatch(plan), i, -1)
}

// dayNumber numbers days from 1970-01-01, to keep a date in a step.
func dayNumber(d events.Date) int32 { return int32(d.Time(time.UTC).Unix() / 86400) }

func dateOfNumber(n int32) events.Date {
	return events.DateFrom(time.Unix(int64(n)*86400, 0), time.UTC)
}

// watchLadder is the deadline watcher's default escalation ladder.
var watchLadder = watcher.Ladder(watcher.DefaultHeadDays, watcher.DefaultCommitteeDays)

// passDelay is when, after midnight, the watcher's first pass of a day
// records what the new day brought: it passes every minute.
const passDelay = int64(90 * time.Second)

// planWatch adds to an item's plan the facts the deadline watcher records
// with its default options (services/watcher): yellow when the deadline
// comes within watcher.DefaultYellowDays, red and the first escalation the
// day after it, then the unit's head and the committee; each once per
// deadline, none while the item is closed, withdrawn, or carried over and
// waiting for a new deadline. The watcher passes a minute after each
// event of the item and early on every day a threshold is crossed, and
// never after Now or at the moment of the item's next event.
func (g *generator) planWatch(plan []step) []step {
	var (
		deadline                  events.Date
		closed, withdrawn, parked bool
		yellow, red               bool
		escalated                 [3]bool
	)
	out := make([]step, 0, len(plan)+4)
	decide := func(at int64) {
		if closed || withdrawn || parked || deadline.IsZero() {
			return
		}
		left := daysBetween(dateOf(at), deadline)
		if left >= 0 {
			if left <= watcher.DefaultYellowDays && !yellow && !red {
				out = append(out, step{at: at, kind: kYellow})
				yellow = true
			}
			return
		}
		if !red {
			out = append(out, step{at: at, kind: kRed})
			red = true
		}
		for i, s := range watchLadder {
			if -left >= s.AfterDays && !escalated[i] {
				out = append(out, step{at: at, kind: kEscalate, arg: int32(i)})
				escalated[i] = true
			}
		}
	}
	for k, st := range plan {
		out = append(out, st)
		switch st.kind {
		case kRaise, kDeadline:
			deadline = dateOfNumber(st.arg)
			yellow, red, escalated, parked = false, false, [3]bool{}, false
		case kVerify:
			closed = true
		case kReopen:
			closed = false
		case kCarry:
			parked = true
		case kWithdraw:
			withdrawn = true
		}
		end := g.now
		if k+1 < len(plan) {
			end = plan[k+1].at - 1
		}
		after := st.at + int64(time.Minute)
		if after > end {
			continue
		}
		decide(after)
		if deadline.IsZero() {
			continue
		}
		// The thresholds in the order they come.
		for _, off := range []int{-watcher.DefaultYellowDays, watchLadder[0].AfterDays, watchLadder[1].AfterDays, watchLadder[2].AfterDays} {
			if at := dayStart(deadline.AddDays(off)) + passDelay; at > after && at <= end {
				decide(at)
			}
		}
	}
	return out
}

// walkItem plans the lifecycle of one item after it was raised.
func (g *generator) walkItem(rng *rand.Rand, add func(k kind, lo, hi int)) {
	chance := func(percent int) bool { return rng.IntN(1000) < percent*10 }
	if rng.IntN(100) < 4 {
		// Never assigned: a duplicate withdrawn after a while, or left
		// waiting.
		if chance(50) {
			add(kWithdraw, 10, 60)
		}
		return
	}
	add(kAssign, 0, 4)
	measures := 1
	if chance(28) {
		measures++
	}
	if chance(5) {
		measures++
	}
	add(kPlanMeasure, 1, 10)
	for range measures - 1 {
		add(kPlanMeasure, 0, 6)
	}
	var work []kind
	for range measures {
		work = append(work, kCompleteMeasure)
	}
	work = append(work, kProgress)
	if chance(25) {
		work = append(work, kProgress)
	}
	switch x := rng.IntN(100); {
	case x < 12:
		work = append(work, kEvidence, kEvidence)
	case x < 55:
		work = append(work, kEvidence)
	}
	rng.Shuffle(len(work), func(a, b int) { work[a], work[b] = work[b], work[a] })
	if chance(12) {
		work = slices.Insert(work, rng.IntN(len(work)+1), kDeadline)
	}
	if chance(3) {
		work = slices.Insert(work, rng.IntN(len(work)+1), kReassign)
	}
	if chance(2) {
		// Dropped halfway.
		for _, k := range work[:rng.IntN(len(work))] {
			add(k, 2, 25)
		}
		add(kWithdraw, 2, 25)
		return
	}
	for _, k := range work {
		add(k, 2, 25)
	}
	add(kSubmit, 1, 6)
	for round := 0; ; round++ {
		if round < 2 && chance([]int{16, 10}[round]) {
			add(kReject, 2, 15)
			add(kProgress, 2, 15)
			if chance(50) {
				add(kEvidence, 0, 5)
			}
			if chance(25) {
				add(kPlanMeasure, 0, 3)
				add(kCompleteMeasure, 3, 20)
			}
			add(kSubmit, 1, 5)
			continue
		}
		add(kVerify, 2, 15)
		break
	}
	if chance(3) {
		add(kReopen, 15, 90)
		add(kProgress, 5, 30)
		add(kSubmit, 1, 10)
		add(kVerify, 2, 15)
	}
}

// statusAfter folds the kinds of a plan into the status they leave the
// item in, as the command side does.
func statusAfter(plan []step) events.ItemStatus {
	var s events.ItemStatus
	for _, st := range plan {
		switch st.kind {
		case kRaise:
			s = events.StatusRaised
		case kAssign:
			if s == events.StatusRaised {
				s = events.StatusAssigned
			}
		case kPlanMeasure, kCompleteMeasure, kProgress, kEvidence:
			if s == events.StatusRaised || s == events.StatusAssigned {
				s = events.StatusInProgress
			}
		case kSubmit:
			s = events.StatusSubmitted
		case kVerify:
			s = events.StatusClosed
		case kReject, kReopen:
			s = events.StatusInProgress
		case kWithdraw:
			s = events.StatusWithdrawn
		}
	}
	return s
}

var safetyProblems = func() []int {
	var out []int
	for i, p := range problems {
		if p.category == "安全生产" || p.category == "Safety" {
			out = append(out, i)
		}
	}
	return out
}()

func periodDays(period string) float64 {
	switch period {
	case events.PeriodWeek:
		return 7
	case events.PeriodMonth:
		return 30.4
	default:
		return 91.3
	}
}

func daysBetween(a, b events.Date) int { return int((dayStart(b) - dayStart(a)) / day) }

// planCommitment decides a commitment's terms, whether it is revised or
// ended early, and how many activities it would see if it were kept; the
// activities themselves are planned by planActivities once every
// commitment's weight is known.
func (g *generator) planCommitment(j int) {
	rng := rand.New(rand.NewPCG(g.cfg.Seed, 2<<40|uint64(j)))
	var annual []*cycleDef
	for _, c := range g.cycles {
		if c.kind == events.CycleAnnualReview {
			annual = append(annual, c)
		}
	}
	c := pick(rng, annual)
	cm := &g.cmts[j]
	cm.rng = rng
	cm.cycle = c
	made := officeHours(workday(dateOf(c.opened).AddDays(1+rng.IntN(10)), rng), rng)
	if made <= c.opened {
		made = c.opened + int64(time.Duration(1+rng.IntN(120))*time.Minute)
	}
	if made >= g.now {
		return
	}
	cm.made = made
	cm.id = g.uuid(made, "commitment", uint64(j), forAggregate)
	cm.stream = events.CommitmentStream(cm.id)
	cm.promise = rng.IntN(len(promises))
	p := promises[cm.promise]
	cm.target = pick(rng, p.target)
	cm.period = p.period
	cm.unit = pick(rng, g.cmtPool)
	if p.personal && rng.IntN(10) < 6 {
		cm.person = g.ownerID(cm.unit, 1+rng.IntN(4))
		cm.personName = personName(fnv(cm.person) ^ g.cfg.Seed)
	}
	cm.start, cm.end = dateOf(made), c.end
	if rng.IntN(100) < 15 {
		if t := later(made, 30, 200, 1, rng); t < g.now && !dateOf(t).After(cm.end) {
			cm.revised = t
		}
	}
	if rng.IntN(100) < 5 {
		if t := later(max(made, cm.revised), 30, 200, 1, rng); t < g.now && !dateOf(t).After(cm.end) {
			cm.ended, cm.endedOn = t, dateOf(t)
		}
	}
	cm.last = cm.end
	if cm.ended > 0 {
		cm.last = cm.endedOn
	}
	// Activities are logged up to three days late, and never after Now.
	if limit := g.nowDay.AddDays(-4); cm.last.After(limit) {
		cm.last = limit
	}
	span := daysBetween(cm.start, cm.last) + 1
	if span > 0 {
		keep := 0.4 + 0.9*rng.Float64() // how well the commitment is kept
		cm.weight = float64(span) * float64(cm.target) / periodDays(cm.period) * keep
	}
}

// planActivities shares what is left of Config.Events among the
// commitments by weight and plans each commitment's events.
func (g *generator) planActivities() {
	fixed := g.total
	sum := 0.0
	for _, cm := range g.cmts {
		if cm.made == 0 {
			continue
		}
		fixed++
		if cm.revised > 0 {
			fixed++
		}
		if cm.ended > 0 {
			fixed++
		}
		sum += cm.weight
	}
	budget := max(0, g.cfg.Events-fixed)
	acc, given := 0.0, 0
	for j := range g.cmts {
		cm := &g.cmts[j]
		if cm.made == 0 {
			continue
		}
		n := 0
		if sum > 0 {
			acc += float64(budget) * cm.weight / sum
			n = int(acc+0.5) - given
			given += n
		}
		rng := cm.rng
		plan := []step{{at: cm.made, kind: kMake}}
		span := daysBetween(cm.start, cm.last) + 1
		prev := cm.made
		for k := 0; k < n && span > 0; k++ {
			off := int((float64(k) + rng.Float64()) * float64(span) / float64(n))
			delay := 0
			switch x := rng.IntN(100); {
			case x < 5:
				delay = 2 + rng.IntN(2)
			case x < 25:
				delay = 1
			}
			at := officeHours(cm.start.AddDays(off+delay), rng)
			if at <= prev {
				at = prev + int64(time.Duration(1+rng.IntN(20))*time.Minute)
			}
			if at > g.now {
				break
			}
			plan = append(plan, step{at: at, kind: kActivity, arg: int32(off)})
			prev = at
		}
		if cm.revised > 0 {
			plan = append(plan, step{at: cm.revised, kind: kRevise})
		}
		if cm.ended > 0 {
			plan = append(plan, step{at: cm.ended, kind: kEnd})
		}
		slices.SortStableFunc(plan, func(a, b step) int {
			switch {
			case a.at < b.at:
				return -1
			case a.at > b.at:
				return 1
			}
			return 0
		})
		g.addSource(plan, -1, j)
	}
}
