// Package watcher is rectify's deadline watcher. As time passes it records
// the facts of an unfinished item turning yellow (its deadline is near),
// turning red (overdue), and of an overdue item's escalation (a reminder to
// its owner, then to its unit's head, then to the committee), each once per
// deadline, in the item's own stream, so that they show in timelines, views
// and the live stream like any other event.
//
// # How it stays exact
//
// The watcher keeps an index of items (deadline, owner, unit, what it has
// recorded for the current deadline) folded from the item and unit events
// of the event store's $all, and brings it up to the store's head at the
// start of every pass. It reads the store rather than asking the ledger
// view over NATS, because the store is the truth and the view may lag: a
// pass decides on everything appended before it began, never on a stale
// copy. Its own facts live in the items' streams, so a restarted watcher
// folds them back into its index and records nothing twice; the index
// needs no file of its own to survive a restart.
//
// Each append names the exact stream revision the index has folded. When
// the stream has moved since (a user's command, another watcher), the
// append fails, the watcher reads what is new and decides again, so two
// watchers racing never both record a transition. Event ids derive from
// the item, the deadline (and the revision that set it) and the
// transition, so a retried append, or a racing watcher that decided the
// very same facts, writes nothing new: the store's event-id index answers
// it as a repeat.
//
// A deadline change (rectify.item.deadline_changed) starts the colours
// afresh: the item may turn yellow and red again for its new deadline.
// Closed and withdrawn items are left alone, and so are items carried over
// into a later cycle until that cycle's plan gives them a new deadline.
package watcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"rectify/events"
	"rectify/services/eventstore"
)

// Actor is who the watcher's events are recorded as.
const Actor = events.SystemActor + ":watcher"

// Defaults of Options.
const (
	DefaultYellowDays    = 7
	DefaultHeadDays      = 7
	DefaultCommitteeDays = 14
	DefaultInterval      = time.Minute
)

// Step is one rung of the escalation ladder: Whom (events.EscalateOwner,
// EscalateUnitHead or EscalateCommittee) is reminded once an item is
// AfterDays days overdue (1: the day after the deadline, when it turns
// red).
type Step struct {
	Whom      string
	AfterDays int
}

// Ladder is the usual escalation: the owner when the item turns red, the
// unit's head at headDays overdue, the committee at committeeDays.
func Ladder(headDays, committeeDays int) []Step {
	return []Step{
		{Whom: events.EscalateOwner, AfterDays: 1},
		{Whom: events.EscalateUnitHead, AfterDays: headDays},
		{Whom: events.EscalateCommittee, AfterDays: committeeDays},
	}
}

// Options configures a Watcher. The zero value is usable.
type Options struct {
	// Now is the clock; tests move it. Default time.Now.
	Now func() time.Time
	// Location decides what "today" is. Default UTC+8, China Standard
	// Time, as on the command side.
	Location *time.Location
	// YellowDays: an item turns yellow when its deadline is at most this
	// many days away (0: due today). Default DefaultYellowDays; at least 1.
	YellowDays int
	// Steps is the escalation ladder, in order of AfterDays, each Whom at
	// most once. Default Ladder(DefaultHeadDays, DefaultCommitteeDays).
	Steps []Step
	// Interval is the time between passes of Run. Default DefaultInterval.
	Interval time.Duration
	// Workers bounds the appends in flight in one pass. Default 8.
	Workers int
	// Logger receives what Run cannot return: failed passes. Default
	// slog.Default().
	Logger *slog.Logger
}

// Watcher watches the deadlines of the items in one event store. Several
// may watch the same store; each transition is recorded once.
type Watcher struct {
	store eventstore.Store
	opts  Options

	// mu makes passes of one Watcher take turns; the index below belongs
	// to the pass holding it.
	mu    sync.Mutex
	pos   uint64 // the $all position the index has folded up to
	items map[string]*item
	units map[string]unit
}

// item is what the watcher knows of one item.
type item struct {
	id, stream string
	// next is the revision the item's next event will have: the index has
	// folded every event before it.
	next               uint64
	unitID             string
	ownerID, ownerName string
	deadline           events.Date
	// deadlineRev and deadlineEvent are the revision and id of the event
	// that set the deadline: event ids derive from the revision (a
	// deadline moved away and back is a new deadline), and the watcher's
	// events name the event as their cause.
	deadlineRev   uint64
	deadlineEvent string
	closed        bool
	withdrawn     bool
	// parked: carried over into a later cycle and waiting for a deadline
	// of that cycle's plan.
	parked bool
	// What has been recorded for the current deadline.
	yellow, red bool
	escalated   []string // Whom of each step taken
}

// unit is what the watcher knows of a unit: enough to find the committee
// above it.
type unit struct{ parent, kind string }

// New returns a Watcher of store. It fails with CodeInvalid for options
// that make no sense: a yellow window below 1 day, or a ladder with an
// unknown Whom, a Whom twice, or steps out of order.
func New(store eventstore.Store, opts Options) (*Watcher, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.FixedZone("CST", 8*60*60)
	}
	if opts.YellowDays == 0 {
		opts.YellowDays = DefaultYellowDays
	}
	if opts.Steps == nil {
		opts.Steps = Ladder(DefaultHeadDays, DefaultCommitteeDays)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var v events.Validator
	v.Check(opts.YellowDays >= 1, "yellow_days", "must be at least 1")
	for i, s := range opts.Steps {
		v.Check(slices.Contains(events.Escalations, s.Whom), "steps", fmt.Sprintf("step %d: unknown whom %q", i+1, s.Whom))
		v.Check(s.AfterDays >= 1, "steps", fmt.Sprintf("step %d: after_days must be at least 1", i+1))
		if i > 0 {
			prev := opts.Steps[i-1]
			v.Check(s.AfterDays > prev.AfterDays, "steps", fmt.Sprintf("step %d (%s) must come later than step %d (%s)", i+1, s.Whom, i, prev.Whom))
			v.Check(!slices.ContainsFunc(opts.Steps[:i], func(p Step) bool { return p.Whom == s.Whom }), "steps", fmt.Sprintf("step %d: %s twice", i+1, s.Whom))
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	opts.Steps = slices.Clone(opts.Steps)
	return &Watcher{store: store, opts: opts, items: map[string]*item{}, units: map[string]unit{}}, nil
}

// Run makes a pass every Options.Interval until ctx is done. The first
// pass, which reads the whole store (seconds for a million events) and
// may record a burst of facts, waits one interval too: a process starting
// up has the machine to itself meanwhile, and deadlines are counted in
// days. A failed pass is logged and the next one tries again: the store
// being away for a while is no reason to stop the process.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := w.Check(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			w.opts.Logger.Warn("deadline watcher pass failed; trying again later", "err", err, "recorded", n)
		case n > 0:
			w.opts.Logger.Info("deadline watcher recorded transitions", "events", n)
		}
	}
}

// Check makes one pass: it brings the index up to the store's head, then
// records every transition that is due by the clock, each item's in one
// append. It returns how many events it appended. Errors are the store's;
// an item whose stream kept changing under the pass is left to the next
// one.
func (w *Watcher) Check(ctx context.Context) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.catchUp(ctx); err != nil {
		return 0, err
	}
	now := w.opts.Now()
	today := events.DateFrom(now, w.opts.Location)
	var due []*item
	for _, it := range w.items {
		if len(w.decide(it, today)) > 0 {
			due = append(due, it)
		}
	}
	// In a stable order, so that a pass reads the same in logs and tests.
	slices.SortFunc(due, func(a, b *item) int { return cmp.Compare(a.id, b.id) })

	var (
		mu       sync.Mutex
		recorded int
		errs     []error
		wg       sync.WaitGroup
	)
	next := make(chan *item)
	for range min(w.opts.Workers, len(due)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				n, err := w.record(ctx, it, now, today)
				mu.Lock()
				recorded += n
				if err != nil {
					errs = append(errs, fmt.Errorf("item %s: %w", it.id, err))
				}
				mu.Unlock()
			}
		}()
	}
	for _, it := range due {
		next <- it
	}
	close(next)
	wg.Wait()
	for id, it := range w.items {
		if it.withdrawn {
			delete(w.items, id) // final: nothing will ever be due
		}
	}
	return recorded, errors.Join(errs...)
}

// maxAttempts bounds how often one pass decides again for an item whose
// stream moved under its append.
const maxAttempts = 3

// record appends the transitions due for it, at the exact revision the
// index has folded; when the stream has moved it folds what is new and
// decides again. It runs on a worker of Check and touches no other item.
func (w *Watcher) record(ctx context.Context, it *item, now time.Time, today events.Date) (int, error) {
	var lastErr error
	for range maxAttempts {
		ps := w.decide(it, today)
		if len(ps) == 0 {
			return 0, nil // someone recorded them, or they no longer apply
		}
		evs, err := w.build(it, ps, now)
		if err != nil {
			return 0, err
		}
		res, err := w.store.Append(ctx, it.stream, eventstore.Exact(it.next-1), evs...)
		if err == nil {
			// Fold at the revisions the store gave them; for a repeat of
			// another watcher's identical append, those are its.
			first := res.NextExpected + 1 - uint64(len(evs))
			for i, p := range ps {
				w.fold(it, first+uint64(i), evs[i].ID, p)
			}
			return len(evs), nil
		}
		if events.ErrorCode(err) != events.CodeConflict {
			return 0, err
		}
		lastErr = err
		if err := w.refresh(ctx, it); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("stream kept changing; next pass: %w", lastErr)
}

// refresh folds the events of it's stream the index has not seen yet.
func (w *Watcher) refresh(ctx context.Context, it *item) error {
	evs, err := w.store.ReadStream(ctx, it.stream, eventstore.Forwards, it.next, 0)
	if err != nil {
		return fmt.Errorf("read %s: %w", it.stream, err)
	}
	for _, e := range evs {
		if err := w.foldEvent(it, e); err != nil {
			return err
		}
	}
	return nil
}

// watchSpace is the UUID namespace of the watcher's event ids.
var watchSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:rectify:watcher"))

// eventID is the id of the event recording transition ("yellow", "red",
// "escalate/owner", ...) of it's current deadline: the same in every
// watcher and every run.
func eventID(it *item, transition string) string {
	name := fmt.Sprintf("%s\x00%d\x00%s\x00%s", it.id, it.deadlineRev, it.deadline, transition)
	return uuid.NewSHA1(watchSpace, []byte(name)).String()
}

func transitionOf(p events.Payload) string {
	switch d := p.(type) {
	case events.ItemTurnedYellowData:
		return "yellow"
	case events.ItemTurnedRedData:
		return "red"
	case events.ItemEscalatedData:
		return "escalate/" + d.Whom
	}
	return ""
}

// build wraps the payloads due for it into events. They share a
// correlation id (the first one's id) and name the event that set the
// deadline as their cause.
func (w *Watcher) build(it *item, ps []events.Payload, now time.Time) ([]events.Event, error) {
	evs := make([]events.Event, len(ps))
	corr := eventID(it, transitionOf(ps[0]))
	for i, p := range ps {
		e, err := events.New(p, events.Meta{
			ID: eventID(it, transitionOf(p)), Stream: it.stream, Actor: Actor, Time: now,
			CorrelationID: corr, CausationID: it.deadlineEvent,
		})
		if err != nil {
			return nil, err
		}
		evs[i] = e
	}
	return evs, nil
}

// decide returns the facts due for it on day today, in order: yellow; or
// red and every escalation step reached and not yet taken. It is pure.
func (w *Watcher) decide(it *item, today events.Date) []events.Payload {
	if it.closed || it.withdrawn || it.parked || it.deadline.IsZero() {
		return nil
	}
	left := daysBetween(today, it.deadline)
	if left >= 0 {
		// The ledger's colours: yellow from YellowDays before the deadline
		// to the deadline itself, red from the day after.
		if left <= w.opts.YellowDays && !it.yellow && !it.red {
			return []events.Payload{events.ItemTurnedYellowData{ItemID: it.id, Deadline: it.deadline, DaysLeft: left}}
		}
		return nil
	}
	over := -left
	var ps []events.Payload
	if !it.red {
		ps = append(ps, events.ItemTurnedRedData{ItemID: it.id, Deadline: it.deadline, DaysOverdue: over})
	}
	for i, s := range w.opts.Steps {
		if over < s.AfterDays || slices.Contains(it.escalated, s.Whom) {
			continue
		}
		e := events.ItemEscalatedData{ItemID: it.id, Step: i + 1, Whom: s.Whom, NotifyUnitID: it.unitID, Deadline: it.deadline, DaysOverdue: over}
		switch s.Whom {
		case events.EscalateOwner:
			e.OwnerID, e.OwnerName = it.ownerID, it.ownerName
		case events.EscalateCommittee:
			e.NotifyUnitID = w.committeeOf(it.unitID)
		}
		ps = append(ps, e)
	}
	return ps
}

// daysBetween returns the days from a to b (negative when b is earlier).
func daysBetween(a, b events.Date) int {
	return int(b.Time(time.UTC).Sub(a.Time(time.UTC)).Hours() / 24)
}

// maxTreeDepth bounds the walk up the unit tree against a corrupted store.
const maxTreeDepth = 64

// committeeOf returns the nearest committee at or above unitID, or the
// root of its tree when there is none.
func (w *Watcher) committeeOf(unitID string) string {
	id := unitID
	for range maxTreeDepth {
		u, ok := w.units[id]
		if !ok {
			return id
		}
		if u.kind == events.UnitCommittee {
			return id
		}
		if u.parent == "" {
			return id
		}
		id = u.parent
	}
	return id
}

// pageSize is how many events one read of $all returns while catching up.
const pageSize = 1000

// catchUp folds every event of $all after the index's position.
func (w *Watcher) catchUp(ctx context.Context) error {
	for {
		evs, err := w.store.ReadAll(ctx, w.pos, pageSize)
		if err != nil {
			return fmt.Errorf("read $all after %d: %w", w.pos, err)
		}
		if len(evs) == 0 {
			return nil
		}
		for _, e := range evs {
			if err := w.apply(e); err != nil {
				return err
			}
			w.pos = e.Position
		}
	}
}

// apply folds one event of $all into the index.
func (w *Watcher) apply(e events.Event) error {
	category, id, ok := events.ParseStream(e.Stream)
	if !ok {
		return nil
	}
	switch category {
	case events.CategoryItem:
		it := w.items[id]
		if it == nil {
			if e.Type != events.ItemRaised {
				return nil // an item already withdrawn and forgotten
			}
			it = &item{id: id, stream: e.Stream}
			w.items[id] = it
		}
		return w.foldEvent(it, e)
	case events.CategoryUnit:
		switch e.Type {
		case events.UnitRegistered, events.UnitMoved:
			p, err := events.Decode(e)
			if err != nil {
				return err
			}
			switch d := p.(type) {
			case events.UnitRegisteredData:
				w.units[d.UnitID] = unit{parent: d.ParentID, kind: d.Kind}
			case events.UnitMovedData:
				u := w.units[d.UnitID]
				u.parent = d.NewParentID
				w.units[d.UnitID] = u
			}
		}
	}
	return nil
}

// watched are the item event types that change what the watcher knows;
// the others only move the item's revision on, and are not decoded.
var watched = map[string]bool{
	events.ItemRaised: true, events.ItemAssigned: true, events.ItemDeadlineChanged: true,
	events.ItemVerified: true, events.ItemReopened: true, events.ItemCarriedOver: true, events.ItemWithdrawn: true,
	events.ItemTurnedYellow: true, events.ItemTurnedRed: true, events.ItemEscalated: true,
}

// foldEvent folds one event of it's stream, unless the index has it.
func (w *Watcher) foldEvent(it *item, e events.Event) error {
	if e.Revision < it.next {
		return nil
	}
	if !watched[e.Type] {
		it.next = e.Revision + 1
		return nil
	}
	p, err := events.Decode(e)
	if err != nil {
		return err
	}
	w.fold(it, e.Revision, e.ID, p)
	return nil
}

// fold applies one fact at revision rev to it. Like an aggregate's
// evolve, it never fails.
func (w *Watcher) fold(it *item, rev uint64, id string, p events.Payload) {
	it.next = rev + 1
	newDeadline := func(d events.Date) {
		it.deadline, it.deadlineRev, it.deadlineEvent = d, rev, id
		it.yellow, it.red, it.escalated, it.parked = false, false, nil, false
	}
	switch d := p.(type) {
	case events.ItemRaisedData:
		it.unitID = d.UnitID
		newDeadline(d.Deadline)
	case events.ItemAssignedData:
		it.unitID, it.ownerID, it.ownerName = d.UnitID, d.OwnerID, d.OwnerName
	case events.ItemDeadlineChangedData:
		newDeadline(d.NewDeadline)
	case events.ItemVerifiedData:
		it.closed = true
	case events.ItemReopenedData:
		it.closed = false
	case events.ItemCarriedOverData:
		it.parked = true
	case events.ItemWithdrawnData:
		it.withdrawn = true
	case events.ItemTurnedYellowData:
		it.yellow = it.yellow || d.Deadline == it.deadline
	case events.ItemTurnedRedData:
		it.red = it.red || d.Deadline == it.deadline
	case events.ItemEscalatedData:
		if d.Deadline == it.deadline && !slices.Contains(it.escalated, d.Whom) {
			it.escalated = append(it.escalated, d.Whom)
		}
	}
}
