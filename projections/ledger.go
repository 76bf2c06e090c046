package projections

// The ledger view (台账): every item as it stands now, with its measures and
// evidence, the cycles, the unit tree, and the progress counters that
// progress.go answers from.
//
// Ledger and progress are one projection, "ledger", on purpose: the
// counters change exactly when an item's unit, cycle, category, status or
// deadline changes, and knowing the item's state before and after the
// event is what keeps them exact. One projection reads and folds each item
// once per event; two would do it twice in every rebuild.
//
// Where the time goes, and what keeps it down:
//   - applying: an item's committed row is kept in memory between batches
//     (itemCache), so an event rarely reads; the rows and counters a batch
//     changes are written once, at the end of the batch (Flush);
//   - rebuilding: the bulk load folds every item in memory and writes each
//     row once, after the last event, with the indexes and the text index
//     built after the rows (ledgerBulk);
//   - querying: a page first picks its items' keys from an index, then
//     reads those rows; read statements stay prepared (readStmt); and an
//     answer repeated at the same position comes from memory (answers.go,
//     for every view).

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"rectify/events"
	"rectify/projections/query"
)

// Ledger is the "ledger" projection. Its queries: list, get, units and
// cycles (this file), summary and trend (progress.go).
type Ledger struct{}

var (
	_ Queryable  = Ledger{}
	_ Flusher    = Ledger{}
	_ BulkLoader = Ledger{}
)

// Name implements Projection.
func (Ledger) Name() string { return "ledger" }

var ledgerSchema = []string{
	`CREATE TABLE cycles (
		cycle_id   TEXT PRIMARY KEY,
		name       TEXT NOT NULL,
		year       INTEGER NOT NULL,
		kind       TEXT NOT NULL,
		start      TEXT NOT NULL,
		end        TEXT NOT NULL,
		closed     INTEGER NOT NULL DEFAULT 0,
		close_note TEXT NOT NULL DEFAULT ''
	) WITHOUT ROWID`,
	// seq is the order items were raised in; it breaks sort ties and is
	// the "raised" sort itself. Dates are 'YYYY-MM-DD' ('' for none), so
	// they compare as text. Times are Unix nanoseconds.
	`CREATE TABLE items (
		seq            INTEGER PRIMARY KEY,
		item_id        TEXT NOT NULL UNIQUE,
		cycle_id       TEXT NOT NULL,
		unit_id        TEXT NOT NULL,
		title          TEXT NOT NULL,
		description    TEXT NOT NULL,
		category       TEXT NOT NULL,
		source         TEXT NOT NULL,
		severity       TEXT NOT NULL,
		deadline       TEXT NOT NULL,
		status         TEXT NOT NULL,
		status_rank    INTEGER NOT NULL,
		owner_id       TEXT NOT NULL,
		owner_name     TEXT NOT NULL,
		percent        INTEGER NOT NULL,
		progress_note  TEXT NOT NULL,
		progress_at    INTEGER NOT NULL,
		raised_on      TEXT NOT NULL,
		raised_at      INTEGER NOT NULL,
		updated_at     INTEGER NOT NULL,
		updated_pos    INTEGER NOT NULL,
		closed_on      TEXT NOT NULL,
		carried_from   TEXT NOT NULL,
		reason         TEXT NOT NULL,
		measures_total INTEGER NOT NULL,
		measures_done  INTEGER NOT NULL,
		evidence_count INTEGER NOT NULL,
		yellow_at       INTEGER NOT NULL,
		red_at          INTEGER NOT NULL,
		escalation      TEXT NOT NULL,
		escalation_step INTEGER NOT NULL,
		escalated_at    INTEGER NOT NULL
	)`,
	// One index per sort key (the implicit trailing seq breaks ties), and
	// the two filters that narrow the most.
	`CREATE INDEX items_deadline ON items (deadline)`,
	`CREATE INDEX items_updated ON items (updated_pos)`,
	`CREATE INDEX items_title ON items (title)`,
	`CREATE INDEX items_status ON items (status_rank)`,
	`CREATE INDEX items_unit ON items (unit_id, deadline)`,
	`CREATE INDEX items_cycle ON items (cycle_id, deadline)`,
	// Text search: trigram FTS5 over the searchable columns of items,
	// external content so the text is stored once.
	`CREATE VIRTUAL TABLE items_fts USING fts5(
		title, description, category, source,
		content='items', content_rowid='seq', tokenize='trigram')`,
	`CREATE TABLE measures (
		item_id      TEXT NOT NULL,
		measure_id   TEXT NOT NULL,
		seq          INTEGER NOT NULL,
		text         TEXT NOT NULL,
		owner_id     TEXT NOT NULL,
		owner_name   TEXT NOT NULL,
		due          TEXT NOT NULL,
		done         INTEGER NOT NULL,
		completed_on TEXT NOT NULL,
		note         TEXT NOT NULL,
		PRIMARY KEY (item_id, measure_id)
	) WITHOUT ROWID`,
	`CREATE TABLE evidence (
		item_id      TEXT NOT NULL,
		evidence_id  TEXT NOT NULL,
		seq          INTEGER NOT NULL,
		name         TEXT NOT NULL,
		size         INTEGER NOT NULL,
		sha256       TEXT NOT NULL,
		content_type TEXT NOT NULL,
		uploaded_by  TEXT NOT NULL,
		uploaded_at  INTEGER NOT NULL,
		PRIMARY KEY (item_id, evidence_id)
	) WITHOUT ROWID`,
}

// Migrate implements Projection.
func (Ledger) Migrate(ctx context.Context, tx *sql.Tx) error {
	if err := unitsMigrate(ctx, tx); err != nil {
		return err
	}
	for _, s := range append(slices.Clone(ledgerSchema), progressSchema...) {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("ledger schema: %w", err)
		}
	}
	// The instance names this database file for the item cache; it is
	// not part of the view.
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return fmt.Errorf("ledger instance: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE ledger_meta (instance TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("ledger schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_meta (instance) VALUES (?)`, hex.EncodeToString(id[:])); err != nil {
		return fmt.Errorf("ledger schema: %w", err)
	}
	return nil
}

// DigestQueries implements Projection. The text index is left out: it is
// a function of the items table.
func (Ledger) DigestQueries() []string {
	return append(slices.Clone(unitsDigestQueries),
		`SELECT * FROM cycles ORDER BY cycle_id`,
		`SELECT * FROM items ORDER BY seq`,
		`SELECT * FROM measures ORDER BY item_id, measure_id`,
		`SELECT * FROM evidence ORDER BY item_id, evidence_id`,
		`SELECT * FROM prog_counts ORDER BY unit_id, cycle_id, category`,
		`SELECT * FROM prog_due ORDER BY unit_id, cycle_id, category, deadline`,
		`SELECT * FROM prog_daily ORDER BY unit_id, cycle_id, category, day`,
	)
}

// Apply implements Projection.
func (Ledger) Apply(ctx context.Context, tx *Tx, e events.Event) error {
	switch e.Category() {
	case events.CategoryItem, events.CategoryUnit, events.CategoryCycle:
	default:
		return nil
	}
	p, err := tx.Decode(e)
	if err != nil {
		// An event this build cannot read changes nothing it knows of.
		return nil
	}
	if ok, err := unitsApply(ctx, tx, p); ok || err != nil {
		return err
	}
	switch d := p.(type) {
	case events.CycleOpenedData:
		_, err = tx.Exec(ctx, `INSERT INTO cycles (cycle_id, name, year, kind, start, end) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (cycle_id) DO UPDATE SET name = excluded.name, year = excluded.year, kind = excluded.kind,
				start = excluded.start, end = excluded.end`,
			d.CycleID, d.Name, d.Year, d.Kind, d.Start.String(), d.End.String())
		tx.Changed("cycles")
	case events.CycleClosedData:
		_, err = tx.Exec(ctx, `UPDATE cycles SET closed = 1, close_note = ? WHERE cycle_id = ?`, d.Note, d.CycleID)
		tx.Changed("cycles")
	default:
		if id := itemIDOf(p); id != "" {
			err = applyItem(ctx, tx, e, p, id)
		}
	}
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// ---- one item ----

// itemRow is one item of the ledger as the fold sees it.
type itemRow struct {
	Seq          int64 // 0 until stored
	ID           string
	CycleID      string
	UnitID       string
	Title        string
	Description  string
	Category     string
	Source       string
	Severity     string
	Deadline     events.Date
	Status       events.ItemStatus // "" while the item does not exist
	OwnerID      string
	OwnerName    string
	Percent      int
	ProgressNote string
	ProgressAt   int64 // Unix nanoseconds; 0 before any report
	RaisedOn     events.Date
	RaisedAt     int64
	UpdatedAt    int64
	UpdatedPos   uint64
	ClosedOn     events.Date
	CarriedFrom  string
	Reason       string

	MeasuresTotal int
	MeasuresDone  int
	EvidenceCount int

	// The deadline watcher's facts about the current deadline (Unix
	// nanoseconds of the events; 0: none): when the item turned yellow and
	// red, and the highest escalation step reached (Escalation is its
	// whom, "" before any). A deadline change clears them.
	YellowAt       int64
	RedAt          int64
	Escalation     string
	EscalationStep int
	EscalatedAt    int64

	// Measures and Evidence hold the item's lists in the order they were
	// first recorded. The fold needs them only for the events that change
	// them (measure planned or completed; evidence attached), and derives
	// the counters above from them then; at other events they may be nil.
	Measures []measureRow
	Evidence []evidenceRow
}

type measureRow struct {
	ID          string
	Seq         uint64 // position of the event that first recorded it
	Text        string
	OwnerID     string
	OwnerName   string
	Due         events.Date
	Done        bool
	CompletedOn events.Date
	Note        string
}

type evidenceRow struct {
	ID          string
	Seq         uint64
	Name        string
	Size        int64
	SHA256      string
	ContentType string
	UploadedBy  string
	UploadedAt  int64
}

// Exists reports whether the item has been raised.
func (r *itemRow) Exists() bool { return r.Status != "" }

// OnTime reports whether a closed item was verified on or before its
// deadline (an item without a deadline is always on time).
func (r *itemRow) OnTime() bool {
	return r.Status == events.StatusClosed && (r.Deadline.IsZero() || !r.ClosedOn.After(r.Deadline))
}

// itemIDOf returns the item an item payload is about, "" for any other.
func itemIDOf(p events.Payload) string {
	switch d := p.(type) {
	case events.ItemRaisedData:
		return d.ItemID
	case events.ItemAssignedData:
		return d.ItemID
	case events.ItemMeasurePlannedData:
		return d.ItemID
	case events.ItemMeasureCompletedData:
		return d.ItemID
	case events.ItemProgressReportedData:
		return d.ItemID
	case events.ItemEvidenceAttachedData:
		return d.ItemID
	case events.ItemDeadlineChangedData:
		return d.ItemID
	case events.ItemSubmittedData:
		return d.ItemID
	case events.ItemVerifiedData:
		return d.ItemID
	case events.ItemVerificationRejectedData:
		return d.ItemID
	case events.ItemReopenedData:
		return d.ItemID
	case events.ItemCarriedOverData:
		return d.ItemID
	case events.ItemWithdrawnData:
		return d.ItemID
	case events.ItemTurnedYellowData:
		return d.ItemID
	case events.ItemTurnedRedData:
		return d.ItemID
	case events.ItemEscalatedData:
		return d.ItemID
	}
	return ""
}

// foldItem applies one event of an item to its row and reports whether it
// changed the row. It is pure (no clock, no I/O) and never fails: the
// ledger's Apply and the as-of view both use it, so an item looks the same
// in both. Events for an item not raised yet change nothing. Status moves
// follow the command side's evolveItem: measures, progress and evidence
// start the work of a raised or assigned item. Lists are copied before
// they change, so earlier rows stay valid.
//
// Days (raised on, closed on) are the event's day in China Standard Time.
func foldItem(row *itemRow, e events.Event, p events.Payload) bool {
	raised, isRaise := p.(events.ItemRaisedData)
	if !row.Exists() && !isRaise {
		return false
	}
	startWork := func() {
		if row.Status == events.StatusRaised || row.Status == events.StatusAssigned {
			row.Status = events.StatusInProgress
		}
	}
	switch d := p.(type) {
	case events.ItemRaisedData:
		if !row.Exists() {
			*row = itemRow{
				Seq: row.Seq, ID: d.ItemID, Status: events.StatusRaised,
				RaisedOn: eventDay(e), RaisedAt: e.Time.UnixNano(),
			}
		}
		// Raised again (which the command side refuses): the newer text
		// wins, the lifecycle goes on.
		row.CycleID, row.UnitID = raised.CycleID, raised.UnitID
		row.Title, row.Description = d.Title, d.Description
		row.Category, row.Source, row.Severity = d.Category, d.Source, d.Severity
		if row.Deadline != d.Deadline {
			row.clearWatch()
		}
		row.Deadline = d.Deadline
	case events.ItemAssignedData:
		if d.UnitID != "" {
			row.UnitID = d.UnitID
		}
		row.OwnerID, row.OwnerName = d.OwnerID, d.OwnerName
		if row.Status == events.StatusRaised {
			row.Status = events.StatusAssigned
		}
	case events.ItemMeasurePlannedData:
		m := measureRow{ID: d.MeasureID, Seq: e.Position, Text: d.Text, OwnerID: d.OwnerID, OwnerName: d.OwnerName, Due: d.Due}
		row.Measures = slices.Clone(row.Measures)
		if i := slices.IndexFunc(row.Measures, func(x measureRow) bool { return x.ID == d.MeasureID }); i >= 0 {
			m.Seq, m.Done, m.CompletedOn, m.Note = row.Measures[i].Seq, row.Measures[i].Done, row.Measures[i].CompletedOn, row.Measures[i].Note
			row.Measures[i] = m
		} else {
			row.Measures = append(row.Measures, m)
		}
		row.countMeasures()
		startWork()
	case events.ItemMeasureCompletedData:
		row.Measures = slices.Clone(row.Measures)
		i := slices.IndexFunc(row.Measures, func(x measureRow) bool { return x.ID == d.MeasureID })
		if i < 0 {
			row.Measures = append(row.Measures, measureRow{ID: d.MeasureID, Seq: e.Position})
			i = len(row.Measures) - 1
		}
		row.Measures[i].Done, row.Measures[i].CompletedOn, row.Measures[i].Note = true, d.CompletedOn, d.Note
		row.countMeasures()
		startWork()
	case events.ItemProgressReportedData:
		row.Percent, row.ProgressNote, row.ProgressAt = d.Percent, d.Note, e.Time.UnixNano()
		startWork()
	case events.ItemEvidenceAttachedData:
		ev := evidenceRow{ID: d.EvidenceID, Seq: e.Position, Name: d.Name, Size: d.Size, SHA256: d.SHA256,
			ContentType: d.ContentType, UploadedBy: d.UploadedBy, UploadedAt: e.Time.UnixNano()}
		row.Evidence = slices.Clone(row.Evidence)
		if i := slices.IndexFunc(row.Evidence, func(x evidenceRow) bool { return x.ID == d.EvidenceID }); i >= 0 {
			ev.Seq = row.Evidence[i].Seq
			row.Evidence[i] = ev
		} else {
			row.Evidence = append(row.Evidence, ev)
		}
		row.EvidenceCount = len(row.Evidence)
		startWork()
	case events.ItemDeadlineChangedData:
		// The watcher's facts belong to the old deadline (the watcher
		// itself starts over, even for a change to the same day).
		row.Deadline = d.NewDeadline
		row.clearWatch()
	case events.ItemSubmittedData:
		row.Status = events.StatusSubmitted
	case events.ItemVerifiedData:
		row.Status = events.StatusClosed
		row.ClosedOn = eventDay(e)
	case events.ItemVerificationRejectedData:
		row.Status, row.Reason = events.StatusInProgress, d.Reason
	case events.ItemReopenedData:
		row.Status, row.Reason = events.StatusInProgress, d.Reason
		row.ClosedOn = events.Date{}
	case events.ItemCarriedOverData:
		row.CarriedFrom = row.CycleID
		if d.FromCycleID != "" {
			row.CarriedFrom = d.FromCycleID
		}
		if d.ToCycleID != "" {
			row.CycleID = d.ToCycleID
		}
	case events.ItemWithdrawnData:
		row.Status, row.Reason = events.StatusWithdrawn, d.Reason
		row.ClosedOn = events.Date{}
	case events.ItemTurnedYellowData, events.ItemTurnedRedData, events.ItemEscalatedData:
		// The watcher's facts leave UpdatedAt and UpdatedPos alone: they
		// order the ledger by the last work done on an item ("updated"),
		// and a watcher pass that turns a hundred items red overnight
		// would otherwise bury the day's real work under system facts.
		// The row still changes, so the view notifies and the dashboard
		// refetches; item pages that need a position past the fact get it
		// from the change notice.
		return foldWatch(row, e, p)
	default:
		return false
	}
	row.UpdatedAt, row.UpdatedPos = e.Time.UnixNano(), e.Position
	return true
}

// foldWatch applies one of the deadline watcher's facts. A fact about
// another deadline than the current one (recorded just before a deadline
// change, applied after it) changes nothing; so does a fact already known
// (only the first yellow and red count, and only a higher escalation
// step). Facts of a closed or withdrawn item are kept: they happened.
func foldWatch(row *itemRow, e events.Event, p events.Payload) bool {
	at := e.Time.UnixNano()
	switch d := p.(type) {
	case events.ItemTurnedYellowData:
		if d.Deadline != row.Deadline || row.YellowAt != 0 {
			return false
		}
		row.YellowAt = at
	case events.ItemTurnedRedData:
		if d.Deadline != row.Deadline || row.RedAt != 0 {
			return false
		}
		row.RedAt = at
	case events.ItemEscalatedData:
		if d.Deadline != row.Deadline || d.Whom == "" || (row.Escalation != "" && d.Step <= row.EscalationStep) {
			return false
		}
		row.Escalation, row.EscalationStep, row.EscalatedAt = d.Whom, d.Step, at
	default:
		return false
	}
	return true
}

// clearWatch forgets the watcher's facts of the deadline that was.
func (r *itemRow) clearWatch() {
	r.YellowAt, r.RedAt, r.Escalation, r.EscalationStep, r.EscalatedAt = 0, 0, "", 0, 0
}

func (r *itemRow) countMeasures() {
	r.MeasuresTotal, r.MeasuresDone = len(r.Measures), 0
	for _, m := range r.Measures {
		if m.Done {
			r.MeasuresDone++
		}
	}
}

// dateText is Date.String without fmt: applying events formats a few dates
// per event, and fmt was a noticeable part of a rebuild.
func dateText(d events.Date) string {
	if d.IsZero() {
		return ""
	}
	var b [10]byte
	y, m, dd := d.Year(), int(d.Month()), d.Day()
	b[0], b[1], b[2], b[3] = byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10)
	b[4], b[5], b[6] = '-', byte('0'+m/10), byte('0'+m%10)
	b[7], b[8], b[9] = '-', byte('0'+dd/10), byte('0'+dd%10)
	return string(b[:])
}

// itemColumns are the stored columns of an item after seq, in the order
// of itemRow.values.
var itemColumns = []string{
	"item_id", "cycle_id", "unit_id", "title", "description", "category", "source", "severity",
	"deadline", "status", "status_rank", "owner_id", "owner_name", "percent", "progress_note", "progress_at",
	"raised_on", "raised_at", "updated_at", "updated_pos", "closed_on", "carried_from", "reason",
	"measures_total", "measures_done", "evidence_count",
	"yellow_at", "red_at", "escalation", "escalation_step", "escalated_at",
}

// statusRank orders statuses along the lifecycle; finished ones rank
// finishedRank and above.
func statusRank(s events.ItemStatus) int { return slices.Index(query.ItemStatuses, s) }

const finishedRank = 4 // closed, withdrawn

func (r *itemRow) values() []any {
	return r.appendValues(make([]any, 0, len(itemColumns)))
}

// appendValues appends the stored columns of r after seq, in the order of
// itemColumns.
func (r *itemRow) appendValues(dst []any) []any {
	return append(dst,
		r.ID, r.CycleID, r.UnitID, r.Title, r.Description, r.Category, r.Source, r.Severity,
		dateText(r.Deadline), string(r.Status), int64(statusRank(r.Status)), r.OwnerID, r.OwnerName, int64(r.Percent), r.ProgressNote, r.ProgressAt,
		dateText(r.RaisedOn), r.RaisedAt, r.UpdatedAt, int64(r.UpdatedPos), dateText(r.ClosedOn), r.CarriedFrom, r.Reason,
		int64(r.MeasuresTotal), int64(r.MeasuresDone), int64(r.EvidenceCount),
		r.YellowAt, r.RedAt, r.Escalation, int64(r.EscalationStep), r.EscalatedAt,
	)
}

var itemSelect = `SELECT seq, ` + strings.Join(itemColumns, ", ") + ` FROM items`

// scanItem reads a row selected with itemSelect.
func scanItem(sc interface{ Scan(...any) error }) (itemRow, error) {
	var r itemRow
	var deadline, status, raisedOn, closedOn string
	var rank int
	var updatedPos int64
	err := sc.Scan(&r.Seq, &r.ID, &r.CycleID, &r.UnitID, &r.Title, &r.Description, &r.Category, &r.Source, &r.Severity,
		&deadline, &status, &rank, &r.OwnerID, &r.OwnerName, &r.Percent, &r.ProgressNote, &r.ProgressAt,
		&raisedOn, &r.RaisedAt, &r.UpdatedAt, &updatedPos, &closedOn, &r.CarriedFrom, &r.Reason,
		&r.MeasuresTotal, &r.MeasuresDone, &r.EvidenceCount,
		&r.YellowAt, &r.RedAt, &r.Escalation, &r.EscalationStep, &r.EscalatedAt)
	if err != nil {
		return r, err
	}
	r.Status, r.UpdatedPos = events.ItemStatus(status), uint64(updatedPos)
	// Stored dates were written by Date.String; a bad one reads as zero.
	r.Deadline, _ = events.ParseDate(deadline)
	r.RaisedOn, _ = events.ParseDate(raisedOn)
	r.ClosedOn, _ = events.ParseDate(closedOn)
	return r, nil
}

// loadItemRow reads an item for the fold; a missing item is a zero row.
func loadItemRow(ctx context.Context, tx *Tx, id string) (itemRow, error) {
	r, err := scanItem(tx.QueryRow(ctx, itemSelect+` WHERE item_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return itemRow{}, nil
	}
	return r, err
}

// ledgerBatch is what the ledger buffers across the events of one batch
// (see Flusher): the items the batch touched, and the moves of the progress
// counters, written once per batch instead of once per event.
type ledgerBatch struct {
	nextSeq int64 // seq for the next new item; 0 until read
	items   map[string]*batchItem
	cache   *itemCache
	progress
}

// batchItem is an item as stored before the batch and as it stands now.
type batchItem struct {
	stored, cur itemRow
}

type ledgerBatchKey struct{}

func ledgerBatchOf(ctx context.Context, tx *Tx) (*ledgerBatch, error) {
	var err error
	b := tx.Batch(ledgerBatchKey{}, func() any {
		b := &ledgerBatch{items: map[string]*batchItem{}, progress: newProgress()}
		b.cache, err = attachItemCache(ctx, tx)
		return b
	}).(*ledgerBatch)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (b *ledgerBatch) item(ctx context.Context, tx *Tx, id string) (*batchItem, error) {
	if bi, ok := b.items[id]; ok {
		return bi, nil
	}
	r, ok := b.cache.rows[id]
	if !ok && !b.cache.complete {
		var err error
		if r, err = loadItemRow(ctx, tx, id); err != nil {
			return nil, fmt.Errorf("load item %s: %w", id, err)
		}
	}
	bi := &batchItem{stored: r, cur: r}
	b.items[id] = bi
	return bi, nil
}

// itemCache keeps the committed rows of the items of one view database
// between batches. An item's events lie far apart in $all, so without it
// nearly every event would read its item back from the database; with it,
// an event costs a map lookup and the write. About 300 bytes per item.
//
// The cache learns whether a batch committed from the checkpoint the next
// batch starts from: rows flushed by a batch are pending until then, and a
// checkpoint the cache does not expect (a failed batch, a database it has
// not followed) drops what it cannot vouch for. The runner applies one
// batch at a time per database, which is all the locking this needs.
type itemCache struct {
	pos        uint64 // checkpoint the rows reflect
	complete   bool   // rows hold every item: a miss means "not raised"
	rows       map[string]itemRow
	pending    map[string]itemRow
	pendingPos uint64
}

// itemCaches holds the caches of the few newest view databases, by their
// instance id (ledger_meta): the live one and a rebuild's.
var itemCaches struct {
	sync.Mutex
	m     map[string]*itemCache
	order []string
}

const maxItemCaches = 4

func attachItemCache(ctx context.Context, tx *Tx) (*itemCache, error) {
	var pos int64
	var inst string
	if err := tx.QueryRow(ctx, `SELECT c.position, m.instance FROM checkpoint c, ledger_meta m`).Scan(&pos, &inst); err != nil {
		return nil, fmt.Errorf("item cache: %w", err)
	}
	itemCaches.Lock()
	defer itemCaches.Unlock()
	c := itemCaches.m[inst]
	if c == nil {
		if itemCaches.m == nil {
			itemCaches.m = map[string]*itemCache{}
		}
		if len(itemCaches.order) == maxItemCaches {
			delete(itemCaches.m, itemCaches.order[0])
			itemCaches.order = itemCaches.order[1:]
		}
		c = &itemCache{pos: uint64(pos), complete: pos == 0, rows: map[string]itemRow{}}
		itemCaches.m[inst] = c
		itemCaches.order = append(itemCaches.order, inst)
	}
	switch {
	case c.pending != nil && c.pendingPos == uint64(pos):
		maps.Copy(c.rows, c.pending)
		c.pos = uint64(pos)
	case c.pos == uint64(pos):
		// The last flushed batch did not commit: its rows are not the view.
	default:
		*c = itemCache{pos: uint64(pos), complete: pos == 0, rows: map[string]itemRow{}}
	}
	c.pending = nil
	return c, nil
}

// seedItemCache gives the item cache of tx's database every item, as
// committed with the checkpoint at tx.Position(): a bulk load knows them
// all.
func seedItemCache(ctx context.Context, tx *Tx, rows map[string]itemRow) error {
	c, err := attachItemCache(ctx, tx)
	if err != nil {
		return err
	}
	c.pending, c.pendingPos = rows, tx.Position()
	c.complete = true
	return nil
}

func (b *ledgerBatch) newSeq(ctx context.Context, tx *Tx) (int64, error) {
	if b.nextSeq == 0 {
		var last int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM items`).Scan(&last); err != nil {
			return 0, fmt.Errorf("item seq: %w", err)
		}
		b.nextSeq = last + 1
	}
	b.nextSeq++
	return b.nextSeq - 1, nil
}

func applyItem(ctx context.Context, tx *Tx, e events.Event, p events.Payload, id string) error {
	if lb := ledgerBulkOf(tx); lb != nil {
		lb.apply(e, p, id)
		return nil
	}
	b, err := ledgerBatchOf(ctx, tx)
	if err != nil {
		return err
	}
	bi, err := b.item(ctx, tx, id)
	if err != nil {
		return err
	}
	old := bi.cur
	if !old.Exists() {
		if _, ok := p.(events.ItemRaisedData); !ok {
			return nil // an event for an item never raised
		}
	}
	// Measures and evidence are few and written at once, so the tables
	// are always current for the fold.
	switch p.(type) {
	case events.ItemMeasurePlannedData, events.ItemMeasureCompletedData:
		if old.Measures, err = loadMeasures(ctx, tx, id); err != nil {
			return err
		}
	case events.ItemEvidenceAttachedData:
		if old.Evidence, err = loadEvidence(ctx, tx, id); err != nil {
			return err
		}
	}
	row := old
	if !foldItem(&row, e, p) {
		return nil
	}
	if !old.Exists() {
		if row.Seq, err = b.newSeq(ctx, tx); err != nil {
			return err
		}
	}
	switch d := p.(type) {
	case events.ItemMeasurePlannedData:
		err = storeMeasure(ctx, tx, id, row.Measures, d.MeasureID)
	case events.ItemMeasureCompletedData:
		err = storeMeasure(ctx, tx, id, row.Measures, d.MeasureID)
	case events.ItemEvidenceAttachedData:
		err = storeEvidence(ctx, tx, id, row.Evidence, d.EvidenceID)
	}
	if err != nil {
		return err
	}
	b.progress.move(e, p, &old, &row)
	row.Measures, row.Evidence = nil, nil
	bi.cur = row
	tx.ChangedIn("item:"+id, row.UnitID)
	tx.ChangedIn("unit:"+row.UnitID, row.UnitID)
	if old.Exists() && old.UnitID != row.UnitID {
		// Callers who see only the old unit learn that the item left it.
		tx.ChangedIn("item:"+id, old.UnitID)
		tx.ChangedIn("unit:"+old.UnitID, old.UnitID)
	}
	return nil
}

// Flush implements Flusher: it writes the items and counters the batch
// changed.
func (Ledger) Flush(ctx context.Context, tx *Tx) error {
	if lb := ledgerBulkOf(tx); lb != nil {
		lb.batch.mergeInto(&lb.progress)
		return nil
	}
	b, err := ledgerBatchOf(ctx, tx)
	if err != nil {
		return err
	}
	list := make([]*batchItem, 0, len(b.items))
	for _, bi := range b.items {
		if bi.cur.Exists() {
			list = append(list, bi)
		}
	}
	// In seq order, so that a rebuild writes the same file whatever the
	// map order.
	slices.SortFunc(list, func(x, y *batchItem) int { return cmp.Compare(x.cur.Seq, y.cur.Seq) })
	for _, bi := range list {
		if err := storeItem(ctx, tx, &bi.stored, &bi.cur); err != nil {
			return fmt.Errorf("ledger: store item %s: %w", bi.cur.ID, err)
		}
		bi.stored = bi.cur
	}
	b.cache.pending = make(map[string]itemRow, len(list))
	for _, bi := range list {
		b.cache.pending[bi.cur.ID] = bi.cur
	}
	b.cache.pendingPos = tx.Position()
	if err := b.progress.flush(ctx, tx); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// ledgerBulk is the ledger as a rebuild's bulk load keeps it (see
// BulkLoader): every item with its measures and evidence, and the
// progress counters as the batches so far have left them. EndBulk writes
// it. About 600 bytes per item besides the text it shares with the
// decoded events.
type ledgerBulk struct {
	items   map[string]*itemRow
	nextSeq int64
	batch   progress // this batch's moves, merged into progress by Flush
	progress
}

type ledgerBulkKey struct{}

// ledgerBulkOf returns the bulk load's ledger, nil outside a bulk load.
func ledgerBulkOf(tx *Tx) *ledgerBulk {
	v, ok := tx.Bulk(ledgerBulkKey{}, func() any {
		return &ledgerBulk{items: map[string]*itemRow{}, nextSeq: 1, batch: newProgress(), progress: newProgress()}
	})
	if !ok {
		return nil
	}
	return v.(*ledgerBulk)
}

// apply folds an item event as applyItem does, in memory.
func (lb *ledgerBulk) apply(e events.Event, p events.Payload, id string) {
	cur := lb.items[id]
	if cur == nil {
		if _, ok := p.(events.ItemRaisedData); !ok {
			return // an event for an item never raised
		}
		cur = &itemRow{}
		lb.items[id] = cur
	}
	old := *cur
	if !foldItem(cur, e, p) {
		return
	}
	if !old.Exists() {
		cur.Seq = lb.nextSeq
		lb.nextSeq++
	}
	lb.batch.move(e, p, &old, cur)
}

// Deferred implements BulkLoader: the items' sort and filter indexes and
// the counters' read indexes are built once, after the bulk load.
func (Ledger) Deferred() []string {
	return []string{"items_deadline", "items_updated", "items_title", "items_status", "items_unit", "items_cycle",
		"prog_due_deadline", "prog_daily_day"}
}

// EndBulk implements BulkLoader: it writes every item, measure, piece of
// evidence and counter, fills the text index, and hands the items to the
// item cache of the new database, so that the events after the bulk load
// (and, once swapped in, the live ones) find them in memory.
func (Ledger) EndBulk(ctx context.Context, tx *Tx) error {
	lb := ledgerBulkOf(tx)
	list := make([]*itemRow, 0, len(lb.items))
	for _, r := range lb.items {
		if r.Exists() {
			list = append(list, r)
		}
	}
	slices.SortFunc(list, func(x, y *itemRow) int { return cmp.Compare(x.Seq, y.Seq) })
	insert := `INSERT INTO items (seq, ` + strings.Join(itemColumns, ", ") + `) VALUES `
	rows := make([]any, 0, rowsPerStatement*(len(itemColumns)+1))
	for chunk := range slices.Chunk(list, rowsPerStatement) {
		for _, r := range chunk {
			rows = append(rows, r.Seq)
			rows = r.appendValues(rows)
		}
		if err := execRows(ctx, tx, insert, ``, len(itemColumns)+1, rows); err != nil {
			return fmt.Errorf("ledger: store items: %w", err)
		}
		clear(rows)
		rows = rows[:0]
	}
	// Measures and evidence in key order, which is the tables' order.
	slices.SortFunc(list, func(x, y *itemRow) int { return strings.Compare(x.ID, y.ID) })
	for chunk := range slices.Chunk(list, rowsPerStatement) {
		for _, r := range chunk {
			for _, m := range slices.SortedFunc(slices.Values(r.Measures), func(a, b measureRow) int { return strings.Compare(a.ID, b.ID) }) {
				rows = append(rows, r.ID, m.ID, int64(m.Seq), m.Text, m.OwnerID, m.OwnerName, dateText(m.Due), m.Done, dateText(m.CompletedOn), m.Note)
			}
		}
		if err := execRows(ctx, tx, `INSERT INTO measures (item_id, measure_id, seq, text, owner_id, owner_name, due, done, completed_on, note) VALUES `,
			``, 10, rows); err != nil {
			return fmt.Errorf("ledger: store measures: %w", err)
		}
		clear(rows)
		rows = rows[:0]
	}
	for chunk := range slices.Chunk(list, rowsPerStatement) {
		for _, r := range chunk {
			for _, v := range slices.SortedFunc(slices.Values(r.Evidence), func(a, b evidenceRow) int { return strings.Compare(a.ID, b.ID) }) {
				rows = append(rows, r.ID, v.ID, int64(v.Seq), v.Name, v.Size, v.SHA256, v.ContentType, v.UploadedBy, v.UploadedAt)
			}
		}
		if err := execRows(ctx, tx, `INSERT INTO evidence (item_id, evidence_id, seq, name, size, sha256, content_type, uploaded_by, uploaded_at) VALUES `,
			``, 9, rows); err != nil {
			return fmt.Errorf("ledger: store evidence: %w", err)
		}
		clear(rows)
		rows = rows[:0]
	}
	// The text index in one pass over the items: an FTS5 table flushes its
	// pending entries at every statement, so row by row costs more.
	if _, err := tx.ExecContext(ctx, `INSERT INTO items_fts (items_fts) VALUES ('rebuild')`); err != nil {
		return fmt.Errorf("ledger: text index: %w", err)
	}
	if err := lb.progress.writeAll(ctx, tx); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	cached := make(map[string]itemRow, len(list))
	for _, r := range list {
		row := *r
		row.Measures, row.Evidence = nil, nil
		cached[row.ID] = row
	}
	return seedItemCache(ctx, tx, cached)
}

// storeItem writes row, inserting it (with its seq) or updating only the
// columns that differ from old, so that indexes on unchanged columns are
// left alone.
func storeItem(ctx context.Context, tx *Tx, old, row *itemRow) error {
	nv := row.values()
	if !old.Exists() {
		q := `INSERT INTO items (seq, ` + strings.Join(itemColumns, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(itemColumns)) + `)`
		if _, err := tx.Exec(ctx, q, append([]any{row.Seq}, nv...)...); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO items_fts (rowid, title, description, category, source) VALUES (?, ?, ?, ?, ?)`,
			row.Seq, row.Title, row.Description, row.Category, row.Source)
		return err
	}
	ov := old.values()
	var set []string
	var args []any
	for i, c := range itemColumns {
		if ov[i] != nv[i] {
			set = append(set, c+" = ?")
			args = append(args, nv[i])
		}
	}
	if len(set) == 0 {
		return nil
	}
	if old.Title != row.Title || old.Description != row.Description || old.Category != row.Category || old.Source != row.Source {
		// External-content FTS5 forgets a row only when told its old text.
		if _, err := tx.Exec(ctx, `INSERT INTO items_fts (items_fts, rowid, title, description, category, source) VALUES ('delete', ?, ?, ?, ?, ?)`,
			old.Seq, old.Title, old.Description, old.Category, old.Source); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO items_fts (rowid, title, description, category, source) VALUES (?, ?, ?, ?, ?)`,
			old.Seq, row.Title, row.Description, row.Category, row.Source); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `UPDATE items SET `+strings.Join(set, ", ")+` WHERE seq = ?`, append(args, old.Seq)...)
	return err
}

func loadMeasures(ctx context.Context, tx *Tx, id string) ([]measureRow, error) {
	rows, err := tx.Query(ctx, `SELECT measure_id, seq, text, owner_id, owner_name, due, done, completed_on, note
		FROM measures WHERE item_id = ? ORDER BY seq, measure_id`, id)
	if err != nil {
		return nil, fmt.Errorf("load measures: %w", err)
	}
	defer rows.Close()
	var out []measureRow
	for rows.Next() {
		var m measureRow
		var due, completed string
		var seq int64
		if err := rows.Scan(&m.ID, &seq, &m.Text, &m.OwnerID, &m.OwnerName, &due, &m.Done, &completed, &m.Note); err != nil {
			return nil, fmt.Errorf("load measures: %w", err)
		}
		m.Seq = uint64(seq)
		m.Due, _ = events.ParseDate(due)
		m.CompletedOn, _ = events.ParseDate(completed)
		out = append(out, m)
	}
	return out, rows.Err()
}

func storeMeasure(ctx context.Context, tx *Tx, itemID string, ms []measureRow, id string) error {
	i := slices.IndexFunc(ms, func(m measureRow) bool { return m.ID == id })
	if i < 0 {
		return nil
	}
	m := ms[i]
	_, err := tx.Exec(ctx, `INSERT OR REPLACE INTO measures (item_id, measure_id, seq, text, owner_id, owner_name, due, done, completed_on, note)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		itemID, m.ID, int64(m.Seq), m.Text, m.OwnerID, m.OwnerName, m.Due.String(), m.Done, m.CompletedOn.String(), m.Note)
	if err != nil {
		return fmt.Errorf("store measure: %w", err)
	}
	return nil
}

func loadEvidence(ctx context.Context, tx *Tx, id string) ([]evidenceRow, error) {
	rows, err := tx.Query(ctx, `SELECT evidence_id, seq, name, size, sha256, content_type, uploaded_by, uploaded_at
		FROM evidence WHERE item_id = ? ORDER BY seq, evidence_id`, id)
	if err != nil {
		return nil, fmt.Errorf("load evidence: %w", err)
	}
	defer rows.Close()
	var out []evidenceRow
	for rows.Next() {
		var v evidenceRow
		var seq int64
		if err := rows.Scan(&v.ID, &seq, &v.Name, &v.Size, &v.SHA256, &v.ContentType, &v.UploadedBy, &v.UploadedAt); err != nil {
			return nil, fmt.Errorf("load evidence: %w", err)
		}
		v.Seq = uint64(seq)
		out = append(out, v)
	}
	return out, rows.Err()
}

func storeEvidence(ctx context.Context, tx *Tx, itemID string, evs []evidenceRow, id string) error {
	i := slices.IndexFunc(evs, func(v evidenceRow) bool { return v.ID == id })
	if i < 0 {
		return nil
	}
	v := evs[i]
	_, err := tx.Exec(ctx, `INSERT OR REPLACE INTO evidence (item_id, evidence_id, seq, name, size, sha256, content_type, uploaded_by, uploaded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		itemID, v.ID, int64(v.Seq), v.Name, v.Size, v.SHA256, v.ContentType, v.UploadedBy, v.UploadedAt)
	if err != nil {
		return fmt.Errorf("store evidence: %w", err)
	}
	return nil
}

// ---- queries ----

// Queries implements Queryable.
func (Ledger) Queries() map[string]QueryFunc {
	return map[string]QueryFunc{
		"list":    ledgerList,
		"get":     ledgerGet,
		"units":   ledgerUnits,
		"cycles":  ledgerCycles,
		"summary": progressSummary,
		"trend":   progressTrend,
	}
}

// colour derives an item's red/yellow/green from its status and deadline.
func colour(status events.ItemStatus, deadline, today events.Date, yellowDays int) (rag string, daysLeft *int) {
	if status.Finished() {
		return query.RAGDone, nil
	}
	if deadline.IsZero() {
		return query.RAGGreen, nil
	}
	n := int(deadline.Time(time.UTC).Sub(today.Time(time.UTC)).Hours() / 24)
	switch {
	case n < 0:
		return query.RAGRed, &n
	case n <= yellowDays:
		return query.RAGYellow, &n
	}
	return query.RAGGreen, &n
}

// ledgerItemOf turns a stored row into a ledger line.
func ledgerItemOf(r *itemRow, cycleName, unitName string, today events.Date, yellowDays int) query.LedgerItem {
	it := query.LedgerItem{
		ID: r.ID, CycleID: r.CycleID, CycleName: cycleName, UnitID: r.UnitID, UnitName: unitName,
		Title: r.Title, Category: r.Category, Source: r.Source, Severity: r.Severity,
		Deadline: r.Deadline, Status: r.Status, OwnerID: r.OwnerID, OwnerName: r.OwnerName, Percent: r.Percent,
		RaisedOn: r.RaisedOn, UpdatedAt: time.Unix(0, r.UpdatedAt).UTC(),
		UpdatedPosition: r.UpdatedPos, ClosedOn: r.ClosedOn, CarriedFrom: r.CarriedFrom, Reason: r.Reason,
		MeasuresTotal: r.MeasuresTotal, MeasuresDone: r.MeasuresDone, EvidenceCount: r.EvidenceCount,
	}
	if r.YellowAt != 0 {
		it.TurnedYellowAt = time.Unix(0, r.YellowAt).UTC()
	}
	if r.RedAt != 0 {
		it.TurnedRedAt = time.Unix(0, r.RedAt).UTC()
	}
	if r.Escalation != "" {
		it.Escalation = &query.Escalation{Whom: r.Escalation, Step: r.EscalationStep,
			At: time.Unix(0, r.EscalatedAt).UTC(), Open: !r.Status.Finished()}
	}
	it.RAG, it.DaysLeft = colour(r.Status, r.Deadline, today, yellowDays)
	it.Overdue = it.RAG == query.RAGRed
	if r.Status == events.StatusClosed {
		ot := r.OnTime()
		it.OnTime = &ot
	}
	return it
}

// readStmts keeps the ledger's read statements prepared, per view
// database: parsing and planning a query costs about as much as running a
// page of it. Statements are few (one per shape of filter), and a swapped
// database (after a rebuild) simply gets statements of its own; the cache
// keeps the newest few databases and at most maxReadStmts statements each.
var readStmts struct {
	sync.Mutex
	dbs []*readStmtSet
}

type readStmtSet struct {
	db *sql.DB
	m  map[string]*sql.Stmt
}

const (
	maxReadDBs   = 8
	maxReadStmts = 512
)

func readStmt(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	readStmts.Lock()
	defer readStmts.Unlock()
	var set *readStmtSet
	for _, s := range readStmts.dbs {
		if s.db == db {
			set = s
			break
		}
	}
	if set == nil {
		set = &readStmtSet{db: db, m: map[string]*sql.Stmt{}}
		// Forget the oldest database without closing its statements: a
		// query may still be using them, and closing the database
		// releases them anyway.
		if len(readStmts.dbs) == maxReadDBs {
			readStmts.dbs = readStmts.dbs[1:]
		}
		readStmts.dbs = append(readStmts.dbs, set)
	}
	if st, ok := set.m[q]; ok {
		return st, nil
	}
	if len(set.m) >= maxReadStmts {
		return nil, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	set.m[q] = st
	return st, nil
}

// readQuery runs q on db through a cached prepared statement.
func readQuery(ctx context.Context, db *sql.DB, q string, args ...any) (*sql.Rows, error) {
	st, err := readStmt(ctx, db, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return db.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// readQueryRow is readQuery for at most one row.
func readQueryRow(ctx context.Context, db *sql.DB, q string, args ...any) *sql.Row {
	st, err := readStmt(ctx, db, q)
	if err != nil || st == nil {
		return db.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// where collects the conditions and arguments of a query.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "1"
	}
	return strings.Join(w.conds, " AND ")
}

// ledgerSortExpr is the column each sort key orders by. Raised order is
// seq itself.
var ledgerSortExpr = map[string]string{
	query.LedgerSortDeadline: "i.deadline",
	query.LedgerSortRaised:   "i.seq",
	query.LedgerSortUpdated:  "i.updated_pos",
	query.LedgerSortTitle:    "i.title",
	query.LedgerSortStatus:   "i.status_rank",
}

// ledgerFilter turns the filters of a list query into conditions on items
// i. Overdue and colour compare deadlines with today as text, which works
// because stored dates are YYYY-MM-DD.
func ledgerFilter(req query.Request, p *query.LedgerParams, today events.Date) *where {
	w := &where{}
	if c, a := scopeFilter("i.unit_id", req.Scope); c != "1" {
		w.add(c, a...)
	}
	if p.UnitID != "" {
		if p.Subtree == nil || *p.Subtree {
			c, a := subtreeOf("i.unit_id", p.UnitID)
			w.add(c, a...)
		} else {
			w.add("i.unit_id = ?", p.UnitID)
		}
	}
	if p.CycleID != "" {
		w.add("i.cycle_id = ?", p.CycleID)
	}
	if len(p.Status) > 0 {
		args := make([]any, len(p.Status))
		for i, s := range p.Status {
			args[i] = s
		}
		w.add("i.status IN (?"+strings.Repeat(", ?", len(p.Status)-1)+")", args...)
	}
	if p.Category != "" {
		w.add("i.category = ?", p.Category)
	}
	if p.OwnerID != "" {
		w.add("i.owner_id = ?", p.OwnerID)
	}
	t := today.String()
	yellowEnd := today.AddDays(query.YellowWindow(p.YellowDays)).String()
	open := "i.status_rank < " + strconv.Itoa(finishedRank)
	overdue := "(" + open + " AND i.deadline <> '' AND i.deadline < ?)"
	if p.Overdue != nil {
		if *p.Overdue {
			w.add(overdue, t)
		} else {
			w.add("NOT "+overdue, t)
		}
	}
	switch p.RAG {
	case query.RAGRed:
		w.add(overdue, t)
	case query.RAGYellow:
		w.add(open+" AND i.deadline >= ? AND i.deadline <= ?", t, yellowEnd)
	case query.RAGGreen:
		w.add(open+" AND (i.deadline = '' OR i.deadline > ?)", yellowEnd)
	case query.RAGDone:
		w.add("i.status_rank >= " + strconv.Itoa(finishedRank))
	}
	if p.Escalated != "" {
		// Only open escalations: a finished item's is history.
		if whom, _ := query.EscalationWhom(p.Escalated); whom == "" {
			w.add(open + " AND i.escalation <> ''")
		} else {
			w.add(open+" AND i.escalation = ?", whom)
		}
	}
	if p.Q != "" {
		searchFilter(w, p.Q)
	}
	return w
}

// searchFilter adds text search: every word must occur in title,
// description, category or source. Words of three characters or more go
// through the trigram index; shorter ones (a trigram index cannot hold
// them) are looked for with instr over the same columns.
func searchFilter(w *where, q string) {
	var long []string
	for _, word := range strings.Fields(q) {
		if utf8.RuneCountInString(word) >= 3 {
			long = append(long, `"`+strings.ReplaceAll(word, `"`, `""`)+`"`)
			continue
		}
		lw := strings.ToLower(word)
		w.add(`(instr(lower(i.title), ?) > 0 OR instr(lower(i.description), ?) > 0 OR instr(lower(i.category), ?) > 0 OR instr(lower(i.source), ?) > 0)`,
			lw, lw, lw, lw)
	}
	if len(long) > 0 {
		w.add(`i.seq IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)`, strings.Join(long, " "))
	}
}

const ledgerItemSelect = `SELECT i.seq, i.item_id, i.cycle_id, i.unit_id, i.title, i.description, i.category, i.source, i.severity,
	i.deadline, i.status, i.status_rank, i.owner_id, i.owner_name, i.percent, i.progress_note, i.progress_at,
	i.raised_on, i.raised_at, i.updated_at, i.updated_pos, i.closed_on, i.carried_from, i.reason,
	i.measures_total, i.measures_done, i.evidence_count,
	i.yellow_at, i.red_at, i.escalation, i.escalation_step, i.escalated_at, coalesce(c.name, ''), coalesce(u.name, '')
	FROM items i LEFT JOIN cycles c ON c.cycle_id = i.cycle_id LEFT JOIN units u ON u.unit_id = i.unit_id`

// scanLedgerRow reads a row selected with ledgerItemSelect.
func scanLedgerRow(sc interface{ Scan(...any) error }) (itemRow, string, string, error) {
	var cycleName, unitName string
	r, err := scanItem(scanFunc(func(dest ...any) error {
		return sc.Scan(append(dest, &cycleName, &unitName)...)
	}))
	return r, cycleName, unitName, err
}

// ledgerListSelect selects what a ledger line shows, and no more: reading
// columns is most of the cost of a page.
const ledgerListSelect = `SELECT i.seq, i.item_id, i.cycle_id, i.unit_id, i.title, i.category, i.source, i.severity,
	i.deadline, i.status, i.owner_id, i.owner_name, i.percent, i.raised_on, i.updated_at, i.updated_pos,
	i.closed_on, i.carried_from, i.reason, i.measures_total, i.measures_done, i.evidence_count,
	i.yellow_at, i.red_at, i.escalation, i.escalation_step, i.escalated_at,
	coalesce(c.name, ''), coalesce(u.name, '')
	FROM items i LEFT JOIN cycles c ON c.cycle_id = i.cycle_id LEFT JOIN units u ON u.unit_id = i.unit_id`

// scanListRow reads a row selected with ledgerListSelect.
func scanListRow(sc interface{ Scan(...any) error }) (itemRow, string, string, error) {
	var r itemRow
	var cycleName, unitName, deadline, status, raisedOn, closedOn string
	var updatedPos int64
	err := sc.Scan(&r.Seq, &r.ID, &r.CycleID, &r.UnitID, &r.Title, &r.Category, &r.Source, &r.Severity,
		&deadline, &status, &r.OwnerID, &r.OwnerName, &r.Percent, &raisedOn, &r.UpdatedAt, &updatedPos,
		&closedOn, &r.CarriedFrom, &r.Reason, &r.MeasuresTotal, &r.MeasuresDone, &r.EvidenceCount,
		&r.YellowAt, &r.RedAt, &r.Escalation, &r.EscalationStep, &r.EscalatedAt,
		&cycleName, &unitName)
	if err != nil {
		return r, "", "", err
	}
	r.Status, r.UpdatedPos = events.ItemStatus(status), uint64(updatedPos)
	r.Deadline, _ = events.ParseDate(deadline)
	r.RaisedOn, _ = events.ParseDate(raisedOn)
	r.ClosedOn, _ = events.ParseDate(closedOn)
	return r, cycleName, unitName, nil
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

func ledgerList(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.LedgerParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today := queryToday(req)
	yellow := query.YellowWindow(p.YellowDays)
	w := ledgerFilter(req, &p, today)
	page := query.LedgerPage{Items: []query.LedgerItem{}, Today: today}
	if p.WithTotal {
		var n int
		if err := readQueryRow(ctx, db, `SELECT count(*) FROM items i WHERE `+w.sql(), w.args...).Scan(&n); err != nil {
			return nil, fmt.Errorf("ledger count: %w", err)
		}
		page.Total = &n
	}
	expr := ledgerSortExpr[p.Sort]
	dir, cmp := "ASC", ">"
	if p.Order == query.OrderDesc {
		dir, cmp = "DESC", "<"
	}
	if p.Cursor != "" {
		parts, err := readCursor(p.Cursor, 4)
		if err != nil {
			return nil, err
		}
		if parts[0] != p.Sort || parts[1] != p.Order {
			return nil, events.Invalid("cursor", fmt.Sprintf("was made for sort %s %s, not %s %s", parts[0], parts[1], p.Sort, p.Order))
		}
		seq, err := strconv.ParseInt(parts[3], 10, 64)
		if err != nil {
			return nil, events.Invalid("cursor", "is not a cursor of this query")
		}
		if p.Sort == query.LedgerSortRaised {
			w.add("i.seq "+cmp+" ?", seq)
		} else {
			var key any = parts[2]
			if p.Sort == query.LedgerSortUpdated || p.Sort == query.LedgerSortStatus {
				k, err := strconv.ParseInt(parts[2], 10, 64)
				if err != nil {
					return nil, events.Invalid("cursor", "is not a cursor of this query")
				}
				key = k
			}
			w.add("("+expr+", i.seq) "+cmp+" (?, ?)", key, seq)
		}
	}
	order := expr + " " + dir
	if p.Sort != query.LedgerSortRaised {
		order += ", i.seq " + dir
	}
	// Choose the page's items first, reading only what the filters and the
	// order need (often just an index), then read those rows whole: a
	// sort over a unit's thousands of items then moves keys, not rows.
	rows, err := readQuery(ctx, db, ledgerListSelect+` WHERE i.seq IN (SELECT i.seq FROM items i WHERE `+w.sql()+
		` ORDER BY `+order+` LIMIT ?) ORDER BY `+order, append(w.args, p.Limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("ledger list: %w", err)
	}
	defer rows.Close()
	var last itemRow
	for rows.Next() {
		r, cycleName, unitName, err := scanListRow(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger list: %w", err)
		}
		if len(page.Items) == p.Limit {
			page.NextCursor = makeCursor(p.Sort, p.Order, ledgerSortKey(&last, p.Sort), strconv.FormatInt(last.Seq, 10))
			break
		}
		page.Items = append(page.Items, ledgerItemOf(&r, cycleName, unitName, today, yellow))
		last = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger list: %w", err)
	}
	return page, nil
}

// ledgerSortKey is the value of r's sort key as the cursor keeps it.
func ledgerSortKey(r *itemRow, sort string) string {
	switch sort {
	case query.LedgerSortDeadline:
		return r.Deadline.String()
	case query.LedgerSortUpdated:
		return strconv.FormatUint(r.UpdatedPos, 10)
	case query.LedgerSortTitle:
		return r.Title
	case query.LedgerSortStatus:
		return strconv.Itoa(statusRank(r.Status))
	}
	return ""
}

func ledgerGet(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.ItemParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today := queryToday(req)
	w := &where{}
	w.add("i.item_id = ?", p.ItemID)
	if c, a := scopeFilter("i.unit_id", req.Scope); c != "1" {
		w.add(c, a...)
	}
	r, cycleName, unitName, err := scanLedgerRow(readQueryRow(ctx, db, ledgerItemSelect+` WHERE `+w.sql(), w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		// Out of scope reads as absent: the caller learns nothing of it.
		return nil, events.Errorf(events.CodeNotFound, "item %s not found", p.ItemID)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger get: %w", err)
	}
	out := query.ItemDetail{
		LedgerItem:  ledgerItemOf(&r, cycleName, unitName, today, query.YellowWindow(p.YellowDays)),
		Description: r.Description,
		RaisedAt:    time.Unix(0, r.RaisedAt).UTC(),
		Measures:    []query.Measure{},
		Evidence:    []query.Evidence{},
		Progress:    query.ItemProgress{Percent: r.Percent, Note: r.ProgressNote},
		Today:       today,
	}
	if r.ProgressAt != 0 {
		out.Progress.ReportedAt = time.Unix(0, r.ProgressAt).UTC()
	}
	rows, err := readQuery(ctx, db, `SELECT measure_id, text, owner_id, owner_name, due, done, completed_on, note
		FROM measures WHERE item_id = ? ORDER BY seq, measure_id`, p.ItemID)
	if err != nil {
		return nil, fmt.Errorf("ledger get: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m query.Measure
		var due, completed string
		if err := rows.Scan(&m.ID, &m.Text, &m.OwnerID, &m.OwnerName, &due, &m.Done, &completed, &m.Note); err != nil {
			return nil, fmt.Errorf("ledger get: %w", err)
		}
		m.Due, _ = events.ParseDate(due)
		m.CompletedOn, _ = events.ParseDate(completed)
		out.Measures = append(out.Measures, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger get: %w", err)
	}
	rows.Close()
	rows, err = readQuery(ctx, db, `SELECT evidence_id, name, size, sha256, content_type, uploaded_by, uploaded_at
		FROM evidence WHERE item_id = ? ORDER BY seq, evidence_id`, p.ItemID)
	if err != nil {
		return nil, fmt.Errorf("ledger get: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v query.Evidence
		var at int64
		if err := rows.Scan(&v.ID, &v.Name, &v.Size, &v.SHA256, &v.ContentType, &v.UploadedBy, &at); err != nil {
			return nil, fmt.Errorf("ledger get: %w", err)
		}
		v.UploadedAt = time.Unix(0, at).UTC()
		out.Evidence = append(out.Evidence, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger get: %w", err)
	}
	return out, nil
}

func ledgerUnits(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.UnitsParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	t, err := loadUnitTree(ctx, db, req.Scope, p.UnitID)
	if err != nil {
		return nil, err
	}
	out := query.UnitTree{Units: []query.Unit{}}
	for _, n := range t.Nodes {
		if n.Retired && !p.IncludeRetired {
			continue
		}
		out.Units = append(out.Units, query.Unit{ID: n.ID, ParentID: n.ParentID, Name: n.Name, Kind: n.Kind, Retired: n.Retired, Depth: n.Depth})
	}
	return out, nil
}

func ledgerCycles(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var none struct{}
	if err := parseParams(req.Params, &none); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT cycle_id, name, year, kind, start, end, closed, close_note
		FROM cycles ORDER BY year DESC, start DESC, cycle_id`)
	if err != nil {
		return nil, fmt.Errorf("ledger cycles: %w", err)
	}
	defer rows.Close()
	out := query.Cycles{Cycles: []query.Cycle{}}
	for rows.Next() {
		var c query.Cycle
		var start, end string
		if err := rows.Scan(&c.ID, &c.Name, &c.Year, &c.Kind, &start, &end, &c.Closed, &c.CloseNote); err != nil {
			return nil, fmt.Errorf("ledger cycles: %w", err)
		}
		c.Start, _ = events.ParseDate(start)
		c.End, _ = events.ParseDate(end)
		out.Cycles = append(out.Cycles, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger cycles: %w", err)
	}
	return out, nil
}
