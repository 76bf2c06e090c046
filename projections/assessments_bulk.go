package projections

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
)

var _ BulkLoader = Assessments{}

// asmBulk is what a rebuild's bulk load of the assessments view keeps in
// memory (see BulkLoader): every item's state and its latest fact, which
// stays unwritten until the item's next fact gives it its next_* columns.
// Written event by event, each item fact cost a read of asm_items, an
// upsert of it and an update of the fact before; in bulk each fact is one
// row of a many-row insert, written once. About 150 bytes per item.
type asmBulk struct {
	items map[string]*asmBulkItem
	rows  []any // finished facts, asmFactColumns values each
}

type asmBulkItem struct {
	state asmItem
	last  asmBulkFact
	// written: last is in asm_item_facts already, with the default next_*
	// columns, because a publication needed every fact (see publishing).
	written bool
}

type asmBulkFact struct {
	at             asmFactAt
	fact           string
	unit, deadline string
	open           bool
}

type asmBulkKey struct{}

const (
	asmFactInsert  = `INSERT INTO asm_item_facts (item_id, position, nanos, day, fact, unit_id, deadline, open, next_pos, next_nanos, next_day) VALUES `
	asmFactColumns = 11
	asmNoNextDay   = "9999-12-31" // asm_item_facts.next_day's default
)

// asmBulkOf returns the bulk load's state, nil outside a bulk load.
func asmBulkOf(tx *Tx) *asmBulk {
	v, ok := tx.Bulk(asmBulkKey{}, func() any { return &asmBulk{items: map[string]*asmBulkItem{}} })
	if !ok {
		return nil
	}
	return v.(*asmBulk)
}

// itemFact is asmItemFact in a bulk load.
func (ab *asmBulk) itemFact(ctx context.Context, tx *Tx, at asmFactAt, id, fact string, change func(*asmItem)) error {
	b := ab.items[id]
	var it asmItem
	if b != nil {
		it = b.state
	}
	change(&it)
	if !it.exists {
		return nil
	}
	switch {
	case b == nil:
		b = &asmBulkItem{}
		ab.items[id] = b
	case b.written:
		if err := tx.execMany(ctx, `UPDATE asm_item_facts SET next_pos = ?, next_nanos = ?, next_day = ? WHERE item_id = ? AND position = ?`,
			[]any{at.pos, at.nanos, at.day, id, b.last.at.pos}); err != nil {
			return err
		}
	default:
		ab.rows = b.last.appendRow(ab.rows, id, at.pos, at.nanos, at.day)
	}
	b.state = it
	b.last = asmBulkFact{at: at, fact: fact, unit: it.unit, deadline: it.deadline, open: it.open}
	b.written = false
	return nil
}

// publishing writes every fact the bulk load holds, so that a publication
// computed now reads all of them: the finished ones, and each item's
// latest with the default next_* columns (its next fact updates them).
// Publications are monthly at most, so this happens rarely.
func (ab *asmBulk) publishing(ctx context.Context, tx *Tx) error {
	for id, b := range ab.items {
		if !b.written {
			ab.rows = b.last.appendRow(ab.rows, id, math.MaxInt64, math.MaxInt64, asmNoNextDay)
			b.written = true
		}
	}
	return Assessments{}.Flush(ctx, tx)
}

// appendRow appends f's row of asm_item_facts with its next fact's
// position, time and day.
func (f asmBulkFact) appendRow(rows []any, id string, nextPos, nextNanos int64, nextDay string) []any {
	return append(rows, id, f.at.pos, f.at.nanos, f.at.day, f.fact, f.unit, f.deadline, f.open, nextPos, nextNanos, nextDay)
}

// Flush implements Flusher: in a bulk load it writes the facts the batch
// finished; otherwise Apply has written everything already.
func (Assessments) Flush(ctx context.Context, tx *Tx) error {
	ab := asmBulkOf(tx)
	if ab == nil || len(ab.rows) == 0 {
		return nil
	}
	if err := execRows(ctx, tx, asmFactInsert, ``, asmFactColumns, ab.rows); err != nil {
		return fmt.Errorf("assessments: %w", err)
	}
	clear(ab.rows)
	ab.rows = ab.rows[:0]
	return nil
}

// Deferred implements BulkLoader: asm_item_facts' indexes are built once
// after the bulk load.
func (Assessments) Deferred() []string {
	return []string{"asm_item_facts_day", "asm_item_facts_alive", "asm_item_facts_next"}
}

// EndBulk implements BulkLoader: it writes every item's latest fact, which
// has no next fact yet, and asm_items.
func (Assessments) EndBulk(ctx context.Context, tx *Tx) error {
	ab := asmBulkOf(tx)
	ids := slices.Sorted(maps.Keys(ab.items))
	facts := make([]any, 0, asmFactColumns*len(ids))
	items := make([]any, 0, 5*len(ids))
	for _, id := range ids {
		b := ab.items[id]
		if !b.written {
			facts = b.last.appendRow(facts, id, math.MaxInt64, math.MaxInt64, asmNoNextDay)
		}
		items = append(items, id, b.state.unit, b.state.deadline, b.state.open, b.last.at.pos)
	}
	if err := execRows(ctx, tx, asmFactInsert, ``, asmFactColumns, facts); err != nil {
		return fmt.Errorf("assessments: %w", err)
	}
	if err := execRows(ctx, tx, `INSERT INTO asm_items (item_id, unit_id, deadline, open, last_pos) VALUES `, ``, 5, items); err != nil {
		return fmt.Errorf("assessments: %w", err)
	}
	ab.items = nil
	return nil
}
