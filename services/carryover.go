package services

import (
	"context"
	"fmt"
	"sync"

	"rectify/events"
)

// carryOverWorkers bounds how many items of a bulk carry-over are carried at
// once: enough appends in flight for the store to commit them in groups,
// few enough to leave room for everyone else's commands.
const carryOverWorkers = 8

// carryOverCycle runs events.CarryOverCycle: every unfinished item of
// c.FromCycleID goes into c.ToCycleID, each as its own item.carry_over on
// its own stream (decided, authorized and appended like a single
// command), so that its history and id stay and its timeline spans both
// cycles. The cycles' rules are checked once, up front, so that a job
// that cannot succeed writes nothing.
//
// The job is not one transaction: streams are the store's unit of
// atomicity. It is one idempotent operation instead. Under an idempotency
// key, each item's carry-over runs under a key derived from it and the
// item id, so its event id is fixed: a retry (after a crash, a timeout)
// recognizes the items already carried, carries the rest and answers with
// the whole job, and nothing is carried twice. Without a key a retry
// carries whatever is left.
//
// Errors: CodeForbidden unless the actor is an admin of the whole
// organisation, CodeNotFound for an unknown FromCycleID, CodeInvalid when
// ToCycleID is not an open cycle starting after FromCycleID, and the
// first failure of an item's carry-over otherwise (the items before it
// stay carried; a retry under the same key completes the job).
func (s *Service) carryOverCycle(ctx context.Context, c events.CarryOverCycle, who principal, meta Meta) (Result, error) {
	if err := s.authorize(ctx, who, adminRoles, "carry over a cycle", orgScope); err != nil {
		return Result{}, err
	}
	from, err := s.dir.cycle(ctx, c.FromCycleID)
	if err != nil {
		return Result{}, err
	}
	if !from.exists {
		return Result{}, notFound("cycle", c.FromCycleID)
	}
	to, err := s.dir.cycle(ctx, c.ToCycleID)
	if err != nil {
		return Result{}, err
	}
	if err := openCycle("to_cycle_id", to); err != nil {
		return Result{}, err
	}
	if !to.start.After(from.start) {
		return Result{}, broken("to_cycle_id", pr(events.ProblemCycleOrder, "cycle", c.ToCycleID, "from", c.FromCycleID), "cycle %s does not start after cycle %s", c.ToCycleID, c.FromCycleID)
	}

	ids, head, err := s.itemsOfCycle(ctx, c.FromCycleID)
	if err != nil {
		return Result{}, err
	}
	lines := make([]*events.CarryOverLine, len(ids)) // nil: the item does not move
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(carryOverWorkers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				lines[i], errs[i] = s.carryOverOne(ctx, c, ids[i], who, meta)
			}
		}()
	}
	for i := range ids {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, events.Wrap(events.CodeUnavailable, err, "carry over cycle %s: interrupted; retry with the same idempotency key", c.FromCycleID)
	}

	detail := events.CycleCarryOver{FromCycleID: c.FromCycleID, ToCycleID: c.ToCycleID, DryRun: c.DryRun, Items: []events.CarryOverLine{}}
	res := Result{ID: c.FromCycleID, Detail: &detail}
	if c.DryRun {
		// What the list was read from: a view asked for this position
		// shows the same items.
		res.Position = head
	}
	for i, l := range lines {
		if errs[i] != nil {
			return Result{}, fmt.Errorf("carry over item %s: %w", ids[i], errs[i])
		}
		if l == nil {
			continue
		}
		detail.Items = append(detail.Items, *l)
		if !c.DryRun {
			res.Events++
			res.Position = max(res.Position, l.Position)
		}
	}
	return res, nil
}

// carryOverOne carries one item of a bulk carry-over, or in a dry run
// says whether it would move. It returns nil for an item that does not
// move: finished, or no longer in the cycle.
func (s *Service) carryOverOne(ctx context.Context, c events.CarryOverCycle, id string, who principal, meta Meta) (*events.CarryOverLine, error) {
	if meta.IdempotencyKey != "" {
		meta.IdempotencyKey += "\x00carry-over\x00" + id
	}
	cmd := events.CarryOverItem{ItemID: id, ToCycleID: c.ToCycleID, Reason: c.Reason}
	j, err := s.handle(ctx, cmd, who, meta)
	if err != nil {
		return nil, err
	}
	h, err := s.dir.load(ctx, j.stream)
	if err != nil {
		return nil, err
	}
	st := fold(h, evolveItem)
	line := &events.CarryOverLine{ItemID: id, Title: st.title, UnitID: st.unitID, Status: st.status, Deadline: st.deadline}
	if r, ok := s.replay(meta, j, h); ok {
		// Carried by an earlier run of this very job.
		line.Position = r.Position
		return line, nil
	}
	if st.cycleID != c.FromCycleID || st.status.Finished() {
		return nil, nil
	}
	if c.DryRun {
		return line, nil
	}
	r, err := s.run(ctx, meta, j)
	if err != nil {
		if code := events.ErrorCode(err); code == events.CodeInvalid || code == events.CodeConflict {
			// Someone closed, withdrew or carried the item meanwhile: it no
			// longer belongs to the job. Anything else is the job's failure.
			if h, lerr := s.dir.load(ctx, j.stream); lerr == nil {
				if now := fold(h, evolveItem); now.cycleID != c.FromCycleID || now.status.Finished() {
					return nil, nil
				}
			}
		}
		return nil, err
	}
	line.Position = r.Position
	return line, nil
}

// scanPage is how many events one read of $all returns while scanning.
const scanPage = 2000

// itemsOfCycle returns the items that may belong to a bulk carry-over of
// cycleID, in the order they joined the cycle, and the $all position the
// scan read up to.
//
// The command side decides on the store alone and keeps no index of items
// by cycle, so this reads the item events of $all once (decoding only the
// few that name cycles). That costs a pass over the log, which a yearly
// operation can afford; a view could answer faster but might lag behind
// the store. The result only narrows the candidates: each one's own stream
// decides. Items carried away from the cycle are kept too, so that a retry
// of a job finds the items it carried already.
func (s *Service) itemsOfCycle(ctx context.Context, cycleID string) ([]string, uint64, error) {
	head, err := s.store.Head(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("carry over: %w", err)
	}
	type seen struct{ current, finished, left bool }
	items := map[string]*seen{}
	var order []string
	join := func(id string) {
		if items[id] == nil {
			items[id] = &seen{}
			order = append(order, id)
		}
		items[id].current, items[id].finished = true, false
	}
	for after := uint64(0); after < head; {
		evs, err := s.store.ReadAll(ctx, after, scanPage)
		if err != nil {
			return nil, 0, fmt.Errorf("carry over: read $all: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			after = e.Position
			if e.Category() != events.CategoryItem {
				continue
			}
			switch e.Type {
			case events.ItemRaised, events.ItemCarriedOver:
				p, err := events.Decode(e)
				if err != nil {
					return nil, 0, fmt.Errorf("carry over: %w", err)
				}
				switch d := p.(type) {
				case events.ItemRaisedData:
					if d.CycleID == cycleID {
						join(d.ItemID)
					}
				case events.ItemCarriedOverData:
					if d.ToCycleID == cycleID {
						join(d.ItemID)
					} else if it := items[d.ItemID]; it != nil && d.FromCycleID == cycleID {
						it.current, it.left = false, true
					}
				}
			case events.ItemVerified, events.ItemWithdrawn, events.ItemReopened:
				_, id, _ := events.ParseStream(e.Stream)
				if it := items[id]; it != nil {
					it.finished = e.Type != events.ItemReopened
				}
			}
		}
	}
	out := order[:0]
	for _, id := range order {
		if it := items[id]; (it.current && !it.finished) || it.left {
			out = append(out, id)
		}
	}
	return out, head, nil
}
