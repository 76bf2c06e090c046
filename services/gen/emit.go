package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"rectify/events"
	"rectify/services/watcher"
)

// stepHeap orders the sources by the time of their next step (ties by
// source index), so that events come out in time order.
type stepHeap []heapEntry

type heapEntry struct {
	at  int64
	src int32
}

func (h stepHeap) less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].src < h[j].src
}

func (h stepHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (g *generator) run(yield func(events.Event) bool) {
	g.queue = make(stepHeap, 0, len(g.srcs))
	for i, s := range g.srcs {
		g.queue = append(g.queue, heapEntry{at: g.steps[s.lo].at, src: int32(i)})
	}
	for i := len(g.queue)/2 - 1; i >= 0; i-- {
		g.queue.down(i)
	}
	for len(g.queue) > 0 {
		src := &g.srcs[g.queue[0].src]
		st := g.steps[src.next]
		src.next++
		if src.next < src.hi {
			g.queue[0].at = g.steps[src.next].at
		} else {
			last := len(g.queue) - 1
			g.queue[0] = g.queue[last]
			g.queue = g.queue[:last]
		}
		g.queue.down(0)
		var e events.Event
		switch {
		case src.item >= 0:
			e = g.emitItem(&g.items[src.item], st)
		case src.cmt >= 0:
			e = g.emitCommitment(&g.cmts[src.cmt], st)
		default:
			e = g.emitOrg(st)
		}
		if !yield(e) {
			return
		}
	}
}

// event wraps a payload. events.New fails only for a payload type that is
// not registered, which would be a bug here.
func (g *generator) event(stream string, rev uint64, at int64, actor, correlation string, p events.Payload) events.Event {
	if correlation == "" {
		correlation = g.uuid(at, stream, rev, forCorrelation)
	}
	e, err := events.New(p, events.Meta{
		ID: g.uuid(at, stream, rev, forEvent), Stream: stream, Actor: actor,
		Time: time.Unix(0, at).UTC(), CorrelationID: correlation, CausationID: correlation,
	})
	if err != nil {
		panic(fmt.Sprintf("gen: %v", err))
	}
	e.Revision = rev
	return e
}

func (g *generator) emitOrg(st step) events.Event {
	o := g.org[st.arg]
	rev := g.orgRevs[o.stream]
	g.orgRevs[o.stream] = rev + 1
	switch p := o.payload.(type) {
	case events.UnitRegisteredData:
		g.parent[p.UnitID] = p.ParentID
	case events.UnitMovedData:
		g.parent[p.UnitID] = p.NewParentID
	case events.UserRoleGrantedData:
		if p.Role == events.RoleEditor && p.UnitID != "" && p.UnitID != RootUnitID {
			g.editor[p.UnitID] = p.UserID
		}
	case events.UserRoleRevokedData:
		if g.editor[p.UnitID] == p.UserID {
			delete(g.editor, p.UnitID)
		}
	}
	correlation := g.uuid(st.at, "command", uint64(o.cmd), forCorrelation)
	return g.event(o.stream, rev, st.at, o.actor, correlation, o.payload)
}

// editorFor returns the user who does a unit's work in rectify now: the
// editor of the unit or of the nearest unit above it that has one, or a
// committee staff member.
func (g *generator) editorFor(unit string, rng *rand.Rand) string {
	for u, n := unit, 0; u != "" && n < 64; u, n = g.parent[u], n+1 {
		if ed, ok := g.editor[u]; ok {
			return ed
		}
	}
	return pick(rng, g.staff)
}

// committeeOf is the nearest committee at or above unit in the tree as it
// stands, or the root of its tree, as the watcher finds it.
func (g *generator) committeeOf(unit string) string {
	id := unit
	for range 64 {
		if i := g.indexOf(id); i >= 0 && g.units[i].kind == events.UnitCommittee {
			return id
		}
		p, ok := g.parent[id]
		if !ok || p == "" {
			return id
		}
		id = p
	}
	return id
}

func (g *generator) ownerID(unit string, k int) string { return "p-" + unit + "-" + strconv.Itoa(k) }

func (g *generator) setOwner(it *itemRun, unit string, k int) {
	it.unit = unit
	it.ownerID = g.ownerID(unit, k)
	it.ownerName = personName(fnv(it.ownerID) ^ g.cfg.Seed)
}

func (g *generator) emitItem(it *itemRun, st step) events.Event {
	rng := it.rng
	today := dateOf(st.at)
	pr := problems[it.problem]
	var actor string
	var p events.Payload
	switch st.kind {
	case kRaise:
		it.raised = today
		dl := dateOfNumber(st.arg)
		it.deadline = dl
		actor = g.editorFor(it.unit, rng)
		if rng.IntN(10) < 3 {
			actor = pick(rng, g.staff)
		}
		p = events.ItemRaisedData{
			ItemID: it.id, CycleID: it.cycle.id, UnitID: it.unit, Title: pr.title,
			Description: fmt.Sprintf("%s中发现：%s。请对照问题清单逐项整改，按期销号。", it.cycle.name, pr.title),
			Category:    pr.category, Source: pick(rng, it.cycle.sources), Severity: it.severity, Deadline: dl,
		}
	case kAssign:
		old := it.unit
		g.setOwner(it, it.unit, 1+rng.IntN(4))
		actor = g.editorFor(it.unit, rng)
		p = events.ItemAssignedData{ItemID: it.id, UnitID: it.unit, OwnerID: it.ownerID, OwnerName: it.ownerName, OldUnitID: old}
	case kReassign:
		old := events.ItemAssignedData{OldUnitID: it.unit, OldOwnerID: it.ownerID, OldOwnerName: it.ownerName}
		unit := it.unit
		if rng.IntN(10) < 3 {
			unit = pick(rng, g.unitPool)
		}
		k := 1 + rng.IntN(4)
		if g.ownerID(unit, k) == it.ownerID {
			k = k%4 + 1
		}
		g.setOwner(it, unit, k)
		actor = pick(rng, g.staff)
		old.ItemID, old.UnitID, old.OwnerID, old.OwnerName = it.id, it.unit, it.ownerID, it.ownerName
		p = old
	case kPlanMeasure:
		id := g.uuid(st.at, it.stream, it.rev, forMeasure)
		text := pr.measures[len(it.measures)%len(pr.measures)]
		if len(it.measures) >= len(pr.measures) {
			text = "补充措施：" + text
		}
		it.measures = append(it.measures, id)
		actor = g.editorFor(it.unit, rng)
		p = events.ItemMeasurePlannedData{ItemID: it.id, MeasureID: id, Text: text,
			OwnerID: it.ownerID, OwnerName: it.ownerName, Due: today.AddDays(10 + rng.IntN(50))}
	case kCompleteMeasure:
		id := it.measures[it.done]
		it.done++
		on := today.AddDays(-rng.IntN(2))
		if on.Before(it.raised) {
			on = today
		}
		actor = g.editorFor(it.unit, rng)
		p = events.ItemMeasureCompletedData{ItemID: it.id, MeasureID: id, Note: pick(rng, completionNotes), CompletedOn: on}
	case kProgress:
		old := it.percent
		if it.setBack {
			// The first report after a reviewer's doubts owns up to less.
			it.percent = 50 + rng.IntN(30)
			it.setBack = false
		} else {
			it.percent = min(100, it.percent+10+rng.IntN(40))
		}
		actor = g.editorFor(it.unit, rng)
		p = events.ItemProgressReportedData{ItemID: it.id, Percent: it.percent, OldPercent: old, Note: pick(rng, progressNotes)}
	case kEvidence:
		it.evidence++
		k := rng.IntN(len(evidenceNames))
		sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", it.id, it.evidence))
		actor = g.editorFor(it.unit, rng)
		p = events.ItemEvidenceAttachedData{ItemID: it.id, EvidenceID: g.uuid(st.at, it.stream, it.rev, forEvidence),
			Name: fmt.Sprintf(evidenceNames[k], it.evidence), Size: 20_000 + rng.Int64N(5_000_000), SHA256: hex.EncodeToString(sum[:]),
			ContentType: evidenceTypes[k], UploadedBy: actor}
	case kDeadline:
		nd := dateOfNumber(st.arg)
		actor = pick(rng, g.admins)
		p = events.ItemDeadlineChangedData{ItemID: it.id, OldDeadline: it.deadline, NewDeadline: nd, Reason: pick(rng, deadlineReasons)}
		it.deadline = nd
	case kSubmit:
		actor = g.editorFor(it.unit, rng)
		p = events.ItemSubmittedData{ItemID: it.id, Note: pick(rng, submitNotes)}
	case kVerify:
		actor = pick(rng, g.reviews)
		p = events.ItemVerifiedData{ItemID: it.id, ReviewerID: actor, Note: pick(rng, verifyNotes)}
	case kReject:
		actor = pick(rng, g.reviews)
		p = events.ItemVerificationRejectedData{ItemID: it.id, ReviewerID: actor, Reason: pick(rng, rejectReasons)}
		it.setBack = true
	case kReopen:
		actor = pick(rng, g.reviews)
		p = events.ItemReopenedData{ItemID: it.id, Reason: pick(rng, reopenReasons)}
		it.setBack = true
	case kCarry:
		to := it.cycle.carryTo
		actor = pick(rng, g.admins)
		p = events.ItemCarriedOverData{ItemID: it.id, FromCycleID: it.cycle.id, ToCycleID: to.id, Reason: pick(rng, carryReasons)}
		it.cycle = to
	case kWithdraw:
		actor = pick(rng, g.admins)
		p = events.ItemWithdrawnData{ItemID: it.id, Reason: pick(rng, withdrawReasons)}
	case kYellow:
		actor = watcher.Actor
		p = events.ItemTurnedYellowData{ItemID: it.id, Deadline: it.deadline, DaysLeft: daysBetween(today, it.deadline)}
	case kRed:
		actor = watcher.Actor
		p = events.ItemTurnedRedData{ItemID: it.id, Deadline: it.deadline, DaysOverdue: daysBetween(it.deadline, today)}
	case kEscalate:
		s := watchLadder[st.arg]
		actor = watcher.Actor
		e := events.ItemEscalatedData{ItemID: it.id, Step: int(st.arg) + 1, Whom: s.Whom, NotifyUnitID: it.unit,
			Deadline: it.deadline, DaysOverdue: daysBetween(it.deadline, today)}
		switch s.Whom {
		case events.EscalateOwner:
			e.OwnerID, e.OwnerName = it.ownerID, it.ownerName
		case events.EscalateCommittee:
			e.NotifyUnitID = g.committeeOf(it.unit)
		}
		p = e
	default:
		panic(fmt.Sprintf("gen: item step of kind %d", st.kind))
	}
	e := g.event(it.stream, it.rev, st.at, actor, "", p)
	it.rev++
	return e
}

func (g *generator) emitCommitment(cm *cmtRun, st step) events.Event {
	rng := cm.rng
	pr := promises[cm.promise]
	var actor string
	var p events.Payload
	switch st.kind {
	case kMake:
		actor = pick(rng, g.admins)
		title := fmt.Sprintf(pr.title, cm.target)
		if cm.person != "" {
			title = cm.personName + "：" + title
		}
		var source string
		if rng.IntN(10) < 4 {
			// Written down in the unit's annual report before it was made.
			source = fmt.Sprintf("%d年度述职报告 第%d行：%s", cm.cycle.year, 5+rng.IntN(60), title)
		}
		p = events.CommitmentMadeData{CommitmentID: cm.id, CycleID: cm.cycle.id, UnitID: cm.unit,
			PersonID: cm.person, PersonName: cm.personName, Title: title, Activity: pr.activity,
			Target: cm.target, Period: cm.period, Start: cm.start, End: cm.end, Source: clip(source, events.MaxSourceLen)}
	case kRevise:
		r := events.CommitmentRevisedData{CommitmentID: cm.id,
			OldTarget: cm.target, NewTarget: cm.target, OldPeriod: cm.period, NewPeriod: cm.period,
			OldEnd: cm.end, NewEnd: cm.end, Reason: pick(rng, reviseReasons)}
		switch rng.IntN(3) {
		case 0:
			r.NewTarget = cm.target + 1 + rng.IntN(2)
		case 1:
			switch cm.period {
			case events.PeriodWeek:
				r.NewPeriod, r.NewTarget = events.PeriodMonth, cm.target*4
			case events.PeriodMonth:
				r.NewPeriod, r.NewTarget = events.PeriodQuarter, cm.target*3
			default:
				r.NewPeriod = events.PeriodMonth
				r.NewTarget = max(1, cm.target/3)
			}
		default:
			r.NewEnd = cm.end.AddDays(31)
		}
		cm.target, cm.period, cm.end = r.NewTarget, r.NewPeriod, r.NewEnd
		actor = pick(rng, g.admins)
		p = r
	case kEnd:
		actor = pick(rng, g.admins)
		p = events.CommitmentEndedData{CommitmentID: cm.id, Reason: pick(rng, endReasons), EndedOn: cm.endedOn}
	case kActivity:
		actor = g.editorFor(cm.unit, rng)
		n := 1
		if rng.IntN(10) == 0 {
			n = 2 + rng.IntN(2)
		}
		p = events.CommitmentActivityLoggedData{CommitmentID: cm.id, ActivityID: g.uuid(st.at, cm.stream, cm.rev, forActivity),
			Count: n, OccurredOn: cm.start.AddDays(int(st.arg)), Note: pick(rng, activityNotes), LoggedBy: actor}
	default:
		panic(fmt.Sprintf("gen: commitment step of kind %d", st.kind))
	}
	e := g.event(cm.stream, cm.rev, st.at, actor, "", p)
	cm.rev++
	return e
}
