package projections

// As-of queries of the audit projection: an item, commitment, unit or a
// ledger page as it stood at a past position or time, folded from the raw
// events the audit view keeps per stream. The rules (which events count,
// which day colours are derived for, scope) are documented in
// query/asof.go.

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// asofBounds turns an AsOf into inclusive upper bounds on position and
// time (unix nanos); the zero AsOf bounds nothing.
func asofBounds(a query.AsOf) (int64, int64) {
	pos, t := int64(math.MaxInt64), int64(maxTime)
	if a.Position > 0 && a.Position < math.MaxInt64 {
		pos = int64(a.Position)
	}
	if !a.Time.IsZero() {
		t = a.Time.UnixNano()
	}
	return pos, t
}

// asofReached fails with CodeUnavailable when the as-of position lies
// beyond what the view has applied: folding then would silently answer for
// an earlier point. (Request.MinPosition is the way to wait for it.)
func asofReached(ctx context.Context, db *sql.DB, a query.AsOf) error {
	if a.Position == 0 {
		return nil
	}
	var pos uint64
	if err := db.QueryRowContext(ctx, `SELECT position FROM checkpoint WHERE id = 1`).Scan(&pos); err != nil {
		return fmt.Errorf("as-of: %w", err)
	}
	if a.Position > pos {
		return events.Errorf(events.CodeUnavailable, "the audit view has not reached position %d yet (it is at %d); ask with min_position", a.Position, pos)
	}
	return nil
}

// asofEvents reads the events of stream up to the as-of point, in order.
func asofEvents(ctx context.Context, db *sql.DB, stream string, a query.AsOf) ([]events.Event, error) {
	pos, t := asofBounds(a)
	rows, err := db.QueryContext(ctx, `SELECT position, revision, event_id, type, version, time, actor, correlation_id, causation_id, data
		FROM audit_events WHERE stream = ? AND position <= ? AND time <= ? ORDER BY position`, stream, pos, t)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", stream, err)
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		e := events.Event{Stream: stream}
		var nanos int64
		var data []byte
		if err := rows.Scan(&e.Position, &e.Revision, &e.ID, &e.Type, &e.Version, &nanos, &e.Actor, &e.CorrelationID, &e.CausationID, &data); err != nil {
			return nil, fmt.Errorf("events of %s: %w", stream, err)
		}
		e.Time = time.Unix(0, nanos).UTC()
		e.Data = data
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of %s: %w", stream, err)
	}
	return out, nil
}

// asofFold decodes evs and hands each payload to fold, which reports
// whether the event changed the aggregate; it returns the point of the last
// event that did. Events this build cannot decode are passed over, as the
// projections pass them over.
func asofFold(evs []events.Event, fold func(e events.Event, p events.Payload) bool) query.AsOfPoint {
	var pt query.AsOfPoint
	for _, e := range evs {
		p, err := events.Decode(e)
		if err != nil {
			continue
		}
		if fold(e, p) {
			pt.Position, pt.Time = e.Position, e.Time
		}
		pt.Events++
	}
	return pt
}

// asofDay is the day colours are derived for: the request's today, the
// day of the as-of time, the day of the last event at or before the as-of
// position, or today, in that order.
func asofDay(ctx context.Context, db *sql.DB, req query.Request) (events.Date, error) {
	switch {
	case !req.Today.IsZero():
		return req.Today, nil
	case !req.AsOf.Time.IsZero():
		return events.DateFrom(req.AsOf.Time, chinaZone), nil
	case req.AsOf.Position > 0:
		pos, _ := asofBounds(req.AsOf)
		var nanos int64
		err := db.QueryRowContext(ctx, `SELECT time FROM audit_events WHERE position <= ? ORDER BY position DESC LIMIT 1`, pos).Scan(&nanos)
		if err == nil {
			return events.DateFrom(time.Unix(0, nanos), chinaZone), nil
		}
		if err != sql.ErrNoRows {
			return events.Date{}, fmt.Errorf("as-of day: %w", err)
		}
	}
	return queryToday(req), nil
}

// asofNames folds the names of units and cycles as of one point, once
// each per query.
type asofNames struct {
	db    *sql.DB
	at    query.AsOf
	units map[string]string
	cycle map[string]string
}

func newAsofNames(db *sql.DB, at query.AsOf) *asofNames {
	return &asofNames{db: db, at: at, units: map[string]string{}, cycle: map[string]string{}}
}

func (n *asofNames) unit(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	if name, ok := n.units[id]; ok {
		return name, nil
	}
	u, _, err := foldUnitAsOf(ctx, n.db, id, n.at)
	if err != nil {
		return "", err
	}
	n.units[id] = u.Name
	return u.Name, nil
}

func (n *asofNames) cycleName(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	if name, ok := n.cycle[id]; ok {
		return name, nil
	}
	evs, err := asofEvents(ctx, n.db, events.CycleStream(id), n.at)
	if err != nil {
		return "", err
	}
	var name string
	asofFold(evs, func(_ events.Event, p events.Payload) bool {
		if d, ok := p.(events.CycleOpenedData); ok {
			name = d.Name
			return true
		}
		return false
	})
	n.cycle[id] = name
	return name, nil
}

// foldItemAsOf folds an item's events up to the as-of point with the
// ledger's own fold.
func foldItemAsOf(ctx context.Context, db *sql.DB, id string, at query.AsOf) (itemRow, query.AsOfPoint, error) {
	evs, err := asofEvents(ctx, db, events.ItemStream(id), at)
	if err != nil {
		return itemRow{}, query.AsOfPoint{}, err
	}
	var row itemRow
	pt := asofFold(evs, func(e events.Event, p events.Payload) bool { return foldItem(&row, e, p) })
	return row, pt, nil
}

// asofVisible reports whether a unit lies inside the scope; the error
// callers return when not is CodeNotFound, like for an absent aggregate.
func asofVisible(ctx context.Context, db *sql.DB, s query.Scope, unit string) (bool, error) {
	if unit == "" {
		return s.All, nil
	}
	return unitInScope(ctx, db, s, unit)
}

func asofItem(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.AsOfItemParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	if err := asofReached(ctx, db, req.AsOf); err != nil {
		return nil, err
	}
	row, pt, err := foldItemAsOf(ctx, db, p.ItemID, req.AsOf)
	if err != nil {
		return nil, err
	}
	notFound := events.Errorf(events.CodeNotFound, "item %s did not exist then", p.ItemID)
	if !row.Exists() {
		return nil, notFound
	}
	if ok, err := asofVisible(ctx, db, req.Scope, row.UnitID); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, notFound
	}
	day, err := asofDay(ctx, db, req)
	if err != nil {
		return nil, err
	}
	names := newAsofNames(db, req.AsOf)
	unitName, err := names.unit(ctx, row.UnitID)
	if err != nil {
		return nil, err
	}
	cycleName, err := names.cycleName(ctx, row.CycleID)
	if err != nil {
		return nil, err
	}
	return query.AsOfItem{
		Item:      ledgerItemOf(&row, cycleName, unitName, day, query.YellowWindow(p.YellowDays)),
		Day:       day,
		AsOfPoint: pt,
	}, nil
}

// foldCommitment applies one event of a commitment to c and reports
// whether it changed it. It is pure; seen remembers the activities counted,
// so that an activity logged twice counts once, as in the commitments view.
func foldCommitment(c *query.Commitment, seen map[string]bool, e events.Event, p events.Payload) bool {
	_, made := p.(events.CommitmentMadeData)
	if c.ID == "" && !made {
		return false
	}
	switch d := p.(type) {
	case events.CommitmentMadeData:
		*c = query.Commitment{
			ID: d.CommitmentID, CycleID: d.CycleID, UnitID: d.UnitID, PersonID: d.PersonID, PersonName: d.PersonName,
			Title: d.Title, Activity: d.Activity, Target: d.Target, Period: d.Period, Start: d.Start, End: d.End,
			Ended: c.Ended, EndedOn: c.EndedOn, EndReason: c.EndReason, Revisions: c.Revisions, Logged: c.Logged,
		}
	case events.CommitmentRevisedData:
		if d.NewTarget > 0 {
			c.Target = d.NewTarget
		}
		if d.NewPeriod != "" {
			c.Period = d.NewPeriod
		}
		if !d.NewEnd.IsZero() {
			c.End = d.NewEnd
		}
		c.Revisions++
	case events.CommitmentEndedData:
		c.Ended, c.EndedOn, c.EndReason = true, d.EndedOn, d.Reason
		if c.EndedOn.IsZero() {
			c.EndedOn = eventDay(e)
		}
	case events.CommitmentActivityLoggedData:
		key := d.OccurredOn.String() + "/" + d.ActivityID
		if d.ActivityID == "" {
			key = fmt.Sprintf("p%d", e.Position)
		}
		if seen[key] {
			return false
		}
		seen[key] = true
		c.Logged += d.Count
	default:
		return false
	}
	c.Position = e.Position
	return true
}

func asofCommitment(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.AsOfCommitmentParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	if err := asofReached(ctx, db, req.AsOf); err != nil {
		return nil, err
	}
	evs, err := asofEvents(ctx, db, events.CommitmentStream(p.CommitmentID), req.AsOf)
	if err != nil {
		return nil, err
	}
	var c query.Commitment
	seen := map[string]bool{}
	pt := asofFold(evs, func(e events.Event, pl events.Payload) bool { return foldCommitment(&c, seen, e, pl) })
	notFound := events.Errorf(events.CodeNotFound, "commitment %s did not exist then", p.CommitmentID)
	if c.ID == "" {
		return nil, notFound
	}
	if ok, err := asofVisible(ctx, db, req.Scope, c.UnitID); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, notFound
	}
	if c.UnitName, err = newAsofNames(db, req.AsOf).unit(ctx, c.UnitID); err != nil {
		return nil, err
	}
	return query.AsOfCommitment{Commitment: c, AsOfPoint: pt}, nil
}

// foldUnitAsOf folds a unit's events up to the as-of point; the unit's ID
// is empty when it was not registered then.
func foldUnitAsOf(ctx context.Context, db *sql.DB, id string, at query.AsOf) (query.Unit, query.AsOfPoint, error) {
	evs, err := asofEvents(ctx, db, events.UnitStream(id), at)
	if err != nil {
		return query.Unit{}, query.AsOfPoint{}, err
	}
	var u query.Unit
	pt := asofFold(evs, func(_ events.Event, p events.Payload) bool { return foldUnit(&u, p) })
	return u, pt, nil
}

// foldUnit applies one event of a unit to u and reports whether it changed
// it; u.ID is empty until the unit is registered.
func foldUnit(u *query.Unit, p events.Payload) bool {
	switch d := p.(type) {
	case events.UnitRegisteredData:
		u.ID, u.Name, u.Kind, u.ParentID = d.UnitID, d.Name, d.Kind, d.ParentID
	case events.UnitRenamedData:
		if u.ID == "" {
			return false
		}
		u.Name = d.NewName
	case events.UnitMovedData:
		if u.ID == "" {
			return false
		}
		u.ParentID = d.NewParentID
	case events.UnitRetiredData:
		if u.ID == "" {
			return false
		}
		u.Retired = true
	default:
		return false
	}
	return true
}

func asofUnit(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.AsOfUnitParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	if err := asofReached(ctx, db, req.AsOf); err != nil {
		return nil, err
	}
	u, pt, err := foldUnitAsOf(ctx, db, p.UnitID, req.AsOf)
	if err != nil {
		return nil, err
	}
	notFound := events.Errorf(events.CodeNotFound, "unit %s did not exist then", p.UnitID)
	if u.ID == "" {
		return nil, notFound
	}
	if ok, err := asofVisible(ctx, db, req.Scope, u.ID); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, notFound
	}
	return query.AsOfUnit{Unit: u, AsOfPoint: pt}, nil
}

// asofLedger lists items as they stood. Candidates are the items that had
// an event, up to the as-of point, while in a unit of the requested
// subtree and scope (the audit records each event's unit); each is folded
// and kept when, as it stood, it was in such a unit and in the cycle. The
// candidates are read in item id order and folded until the page is full:
// slower than the live ledger, which is fine for looking back.
func asofLedger(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.AsOfLedgerParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	if err := asofReached(ctx, db, req.AsOf); err != nil {
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
	day, err := asofDay(ctx, db, req)
	if err != nil {
		return nil, err
	}
	// allow is nil when every unit is allowed (an All scope, no subtree).
	var allow map[string]bool
	if !req.Scope.All || p.UnitID != "" {
		tree, err := loadUnitTree(ctx, db, req.Scope, p.UnitID)
		if err != nil {
			return nil, err
		}
		allow = make(map[string]bool, len(tree.Nodes))
		for _, n := range tree.Nodes {
			allow[n.ID] = true
		}
	}
	var units []any
	if allow != nil {
		if len(allow) == 0 {
			return query.AsOfLedger{Items: []query.LedgerItem{}, Day: day}, nil
		}
		for id := range allow {
			units = append(units, id)
		}
	}
	limit := pageSize(p.Limit)
	yellow := query.YellowWindow(p.YellowDays)
	names := newAsofNames(db, req.AsOf)
	out := query.AsOfLedger{Items: []query.LedgerItem{}, Day: day}
	from := events.ItemStream(strings.TrimPrefix(after, events.StreamPrefix(events.CategoryItem)))
	if after == "" {
		from = events.StreamPrefix(events.CategoryItem)
	}
	// Candidates come in chunks, each read whole before folding, so that a
	// query never holds one pooled connection while waiting for another.
	for {
		streams, err := asofCandidates(ctx, db, req.AsOf, from, units, asofChunk)
		if err != nil {
			return nil, err
		}
		for _, s := range streams {
			_, id, ok := events.ParseStream(s)
			if !ok {
				continue
			}
			row, _, err := foldItemAsOf(ctx, db, id, req.AsOf)
			if err != nil {
				return nil, err
			}
			if !row.Exists() || (allow != nil && !allow[row.UnitID]) || (p.CycleID != "" && row.CycleID != p.CycleID) {
				continue
			}
			it := ledgerItemOf(&row, "", "", day, yellow)
			if !it.MatchesEscalated(p.Escalated) {
				continue
			}
			if len(out.Items) == limit {
				out.NextCursor = makeCursor(events.ItemStream(out.Items[limit-1].ID))
				return out, nil
			}
			if it.UnitName, err = names.unit(ctx, row.UnitID); err != nil {
				return nil, err
			}
			if it.CycleName, err = names.cycleName(ctx, row.CycleID); err != nil {
				return nil, err
			}
			out.Items = append(out.Items, it)
		}
		if len(streams) < asofChunk {
			return out, nil
		}
		from = streams[len(streams)-1]
	}
}

// asofChunk is how many candidate items asofLedger reads at a time (a
// variable so that tests can make chunks small).
var asofChunk = 256

// asofCandidates returns up to n item streams after from, in order, that
// had an event up to the as-of point while in one of units (any unit when
// units is nil).
func asofCandidates(ctx context.Context, db *sql.DB, at query.AsOf, from string, units []any, n int) ([]string, error) {
	pos, t := asofBounds(at)
	q := `SELECT DISTINCT stream FROM audit_events WHERE stream > ? AND stream < ? AND position <= ? AND time <= ?`
	args := []any{from, events.StreamPrefix(events.CategoryItem) + "\U0010FFFF", pos, t}
	if units != nil {
		q += ` AND unit_id IN (?` + strings.Repeat(", ?", len(units)-1) + `)`
		args = append(args, units...)
	}
	rows, err := db.QueryContext(ctx, q+` ORDER BY stream LIMIT ?`, append(args, n)...)
	if err != nil {
		return nil, fmt.Errorf("as-of ledger: %w", err)
	}
	defer rows.Close()
	var streams []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("as-of ledger: %w", err)
		}
		streams = append(streams, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("as-of ledger: %w", err)
	}
	return streams, nil
}
