package ledgerfile

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"rectify/events"
	"rectify/projections/query"
)

// Directory is what Build resolves the names in a file against: the units
// the importing user can see (retired ones included, so that the error
// says "retired" rather than "unknown") and every cycle.
type Directory struct {
	Units  []query.Unit
	Cycles []query.Cycle
}

// Options tune Build.
type Options struct {
	// FileName is the uploaded file's name, cited in the source of rows
	// that have none of their own.
	FileName string
	// CycleID is the cycle to import into. Empty: the one cycle the
	// file's 评议周期 column names.
	CycleID string
}

// Problem is one thing wrong with a file, located as a person finds it in
// Excel: the sheet, the row number, the column's header and letter.
// Problems of the whole file have no sheet; problems of a whole row, no
// column.
type Problem struct {
	Sheet  string `json:"sheet,omitempty"`
	Row    int    `json:"row,omitempty"`
	Column string `json:"column,omitempty"`
	// Cell is the cell reference, "F12".
	Cell string `json:"cell,omitempty"`
	// Field is the field of the import command concerned ("i12.deadline")
	// or of the request ("cycle_id", "file").
	Field   string `json:"field,omitempty"`
	Value   string `json:"value,omitempty"`
	Problem string `json:"problem"`
}

// Where names the problem's place in the form Excel users read:
// 整改事项!F12, 整改事项!12:12 for a whole row, the sheet alone, or the
// request field.
func (p Problem) Where() string {
	switch {
	case p.Sheet != "" && p.Cell != "":
		return p.Sheet + "!" + p.Cell
	case p.Sheet != "" && p.Row > 0:
		return fmt.Sprintf("%s!%d:%d", p.Sheet, p.Row, p.Row)
	case p.Sheet != "":
		return p.Sheet
	case p.Field != "":
		return p.Field
	}
	return "file"
}

// Plan is a file made into one import: the command, and where each of
// its entries came from.
type Plan struct {
	Import   events.ImportReport
	Format   string
	Encoding string
	// Tables are the sheets read, Ignored the sheets and columns that
	// were not ("备注 (整改事项!M)").
	Tables  []TableInfo
	Ignored []string
	Items   []PlannedItem
	// Commitments are the commitments in file order.
	Commitments []PlannedCommitment

	tables  []*table
	entries map[string]entryLoc
}

// TableInfo describes one sheet that was read.
type TableInfo struct {
	Sheet     string `json:"sheet"`
	Kind      string `json:"kind"`
	HeaderRow int    `json:"header_row"`
	Rows      int    `json:"rows"`
}

// PlannedItem is an item of the import and the row it came from.
type PlannedItem struct {
	Sheet    string
	Row      int
	Entry    string
	UnitName string
}

// PlannedCommitment is a commitment of the import and its row.
type PlannedCommitment struct {
	Sheet    string
	Row      int
	Entry    string
	UnitName string
}

// table is a sheet recognised as items or commitments.
type table struct {
	sheet     string
	kind      string
	headerRow int            // 1-based
	cols      map[string]int // logical column -> 0-based index
	headers   []string
	rows      [][]string // the sheet's rows from the header's next on
	raw       [][]string
	csv       bool
	date1904  bool
}

// entryLoc is where an entry of the import came from.
type entryLoc struct {
	t       *table
	row     int // 1-based row in the sheet
	measure int // 1-based number of a measure in its cell, 0 for the row
}

// Build turns a book into one import of every item (with its measures)
// and commitment, and checks each row as far as the file and the
// directory tell: required cells, dates, counts, periods, ids, units,
// the cycle, duplicate ids. It returns every problem found, each with its
// sheet, row and column; the plan is usable only when there are none.
// Rules that need the ledger's state (an id already taken, roles) are the
// command side's, whose errors Locate places in the file.
func Build(b *Book, dir Directory, opts Options) (*Plan, []Problem) {
	p := &Plan{Format: b.Format, Encoding: b.Encoding, entries: map[string]entryLoc{}}
	var probs []Problem
	add := func(pr Problem) { probs = append(probs, pr) }

	for _, t := range findTables(b, p, add) {
		p.tables = append(p.tables, t)
		p.Tables = append(p.Tables, TableInfo{Sheet: t.sheet, Kind: t.kind, HeaderRow: t.headerRow, Rows: len(t.rows)})
	}
	if len(p.tables) == 0 && len(probs) == 0 {
		add(Problem{Field: "file", Problem: "holds no sheet of items (整改事项) or commitments (承诺事项): " +
			"a header row needs at least 整改事项 and 整改时限, or 承诺事项, 履诺活动, 目标次数, 统计周期, 开始日期 and 结束日期"})
	}
	if len(p.tables) == 0 {
		return p, probs
	}

	r := resolver{dir: dir}
	r.index()
	cycle, cycleProbs := r.importCycle(p.tables, opts.CycleID)
	probs = append(probs, cycleProbs...)
	p.Import.CycleID = cycle.ID

	ids := map[string]string{} // kind/id -> "sheet row N"
	for _, t := range p.tables {
		for i, row := range t.rows {
			n := t.headerRow + 1 + i
			if blankRow(t, row) {
				continue
			}
			rc := rowCtx{t: t, n: n, row: row, raw: rowAt(t.raw, i), add: add, book: b}
			if t.kind == KindItems {
				it, unitName, ok := rc.item(&r, cycle, opts.FileName)
				if !ok {
					continue
				}
				rc.unique(ids, "item", colID, it.ItemID)
				p.entries[it.Entry] = entryLoc{t: t, row: n}
				for k, m := range it.Measures {
					p.entries[m.Entry] = entryLoc{t: t, row: n, measure: k + 1}
				}
				p.Import.Items = append(p.Import.Items, it)
				p.Items = append(p.Items, PlannedItem{Sheet: t.sheet, Row: n, Entry: it.Entry, UnitName: unitName})
			} else {
				cm, unitName, ok := rc.commitment(&r, cycle, opts.FileName)
				if !ok {
					continue
				}
				rc.unique(ids, "commitment", colID, cm.CommitmentID)
				p.entries[cm.Entry] = entryLoc{t: t, row: n}
				p.Import.Commitments = append(p.Import.Commitments, cm)
				p.Commitments = append(p.Commitments, PlannedCommitment{Sheet: t.sheet, Row: n, Entry: cm.Entry, UnitName: unitName})
			}
		}
	}
	n := len(p.Import.Items) + len(p.Import.Commitments)
	for _, it := range p.Import.Items {
		n += len(it.Measures)
	}
	switch {
	case n == 0 && len(probs) == 0:
		add(Problem{Field: "file", Problem: "holds no rows under its headers"})
	case n > events.MaxImportEntries:
		add(Problem{Field: "file", Problem: fmt.Sprintf("holds %d entries (items, measures and commitments); one import takes at most %d: split the file, by unit for instance",
			n, events.MaxImportEntries)})
	}
	if len(probs) > 0 {
		return p, probs
	}
	// The command's own checks (lengths, characters) in the file's terms.
	if err := p.Import.Validate(); err != nil {
		probs = append(probs, p.Locate(err)...)
		if len(probs) == 0 {
			probs = append(probs, Problem{Field: "file", Problem: events.ErrorMessage(err)})
		}
	}
	return p, probs
}

// findTables recognises the sheets of items and of commitments. In a
// workbook of several sheets only those named for what they hold are
// read (整改事项…, 承诺事项…), so that an exported compliance or info
// sheet is never taken for data; a single sheet, or a CSV file, is
// recognised by its header.
func findTables(b *Book, p *Plan, add func(Problem)) []*table {
	var out []*table
	seen := map[string]string{} // kind -> sheet
	for _, s := range b.Sheets {
		kind := kindByName(s.Name)
		single := len(b.Sheets) == 1
		if kind == "" && !single {
			if len(s.Rows) > 0 {
				p.Ignored = append(p.Ignored, "sheet "+s.Name)
			}
			continue
		}
		t := headerOf(s, kind)
		if t == nil {
			if kind != "" {
				add(Problem{Sheet: sheetLabel(s.Name, kind), Problem: "has no header row: its first rows must name the columns (" +
					strings.Join(requiredNames(kind), ", ") + ")"})
			}
			continue
		}
		t.csv = b.Format == FormatCSV
		t.date1904 = b.date1904
		if b.Format == FormatCSV || t.sheet == "" {
			t.sheet = sheetLabel("", t.kind)
		}
		if other, dup := seen[t.kind]; dup {
			add(Problem{Sheet: t.sheet, Problem: fmt.Sprintf("holds %s like sheet %s: keep them on one sheet", t.kind, other)})
			continue
		}
		seen[t.kind] = t.sheet
		ok := true
		for _, c := range columnsOf(t.kind) {
			if c.required {
				if _, has := t.cols[c.key]; !has {
					add(Problem{Sheet: t.sheet, Row: t.headerRow, Column: c.names[0], Problem: "the column " + c.names[0] + " is missing"})
					ok = false
				}
			}
		}
		_, unit := t.cols[colUnit]
		_, unitID := t.cols[colUnitID]
		if !unit && !unitID {
			add(Problem{Sheet: t.sheet, Row: t.headerRow, Column: header(t.kind, colUnit), Problem: "the column 责任单位 (or 单位编号) is missing"})
			ok = false
		}
		for i, h := range t.headers {
			if h = strings.TrimSpace(h); h != "" && !slices.Contains(mapsValues(t.cols), i) {
				p.Ignored = append(p.Ignored, fmt.Sprintf("%s (%s!%s)", h, t.sheet, colName(i)))
			}
		}
		if ok {
			out = append(out, t)
		}
	}
	return out
}

func mapsValues(m map[string]int) []int {
	out := make([]int, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// sheetLabel is the name problems give a sheet: its own, or for a CSV
// file the name of the table it holds.
func sheetLabel(name, kind string) string {
	if name != "" {
		return name
	}
	if kind == KindCommitments {
		return SheetCommitments
	}
	return SheetItems
}

// kindByName says what a sheet holds by its name, "" when the name does
// not say.
func kindByName(name string) string {
	n := normHeader(name)
	switch {
	case strings.Contains(n, "履诺"), strings.Contains(n, "汇总"), strings.Contains(n, "导出"), strings.Contains(n, "说明"):
		return ""
	case strings.Contains(n, "承诺"), strings.Contains(n, "commitment"):
		return KindCommitments
	case strings.Contains(n, "整改"), strings.Contains(n, "事项"), strings.Contains(n, "台账"), strings.Contains(n, "item"), strings.Contains(n, "ledger"):
		return KindItems
	}
	return ""
}

func requiredNames(kind string) []string {
	var out []string
	for _, c := range columnsOf(kind) {
		if c.required {
			out = append(out, c.names[0])
		}
	}
	return out
}

// headerOf finds the header row among a sheet's first rows: the first row
// naming the title column and at least one other known column. kind, when
// not empty, is what the sheet's name says it holds; otherwise the header
// decides (a commitment's columns 目标次数 or 统计周期 make it commitments).
func headerOf(s RawSheet, kind string) *table {
	for i := 0; i < len(s.Rows) && i < headerScan; i++ {
		k := kind
		if k == "" {
			ci, cc := matchColumns(s.Rows[i], KindItems), matchColumns(s.Rows[i], KindCommitments)
			_, target := cc[colTarget]
			_, period := cc[colPeriod]
			switch {
			case (target || period) && len(cc) >= 3:
				k = KindCommitments
			case len(ci) >= 2:
				k = KindItems
			default:
				continue
			}
		}
		cols := matchColumns(s.Rows[i], k)
		if _, ok := cols[colTitle]; !ok || len(cols) < 2 {
			continue
		}
		t := &table{sheet: s.Name, kind: k, headerRow: i + 1, cols: cols, headers: s.Rows[i], rows: s.Rows[i+1:]}
		if s.Raw != nil && len(s.Raw) > i+1 {
			t.raw = s.Raw[i+1:]
		}
		return t
	}
	return nil
}

// matchColumns maps the logical columns of kind to their index in a
// header row. A header that names a column already found is left out
// (it appears among the ignored columns), so the first one wins.
func matchColumns(hdr []string, kind string) map[string]int {
	cols := map[string]int{}
	for i, h := range hdr {
		n := normHeader(h)
		if n == "" {
			continue
		}
	next:
		for _, c := range columnsOf(kind) {
			for _, name := range c.names {
				if n == normHeader(name) {
					if _, dup := cols[c.key]; !dup {
						cols[c.key] = i
					}
					break next
				}
			}
		}
	}
	return cols
}

func rowAt(rows [][]string, i int) []string {
	if i < 0 || i >= len(rows) {
		return nil
	}
	return rows[i]
}

// blankRow reports whether a row holds nothing in the columns read (a
// row holding only a running number counts as blank).
func blankRow(t *table, row []string) bool {
	for _, i := range t.cols {
		if strings.TrimSpace(cellAt(row, i)) != "" {
			return false
		}
	}
	return true
}

// colName is the letter of a 0-based column index: 0 -> A.
func colName(i int) string {
	s, err := excelize.ColumnNumberToName(i + 1)
	if err != nil {
		return strconv.Itoa(i + 1)
	}
	return s
}

// ---- rows ----

// rowCtx reads the cells of one row and reports its problems.
type rowCtx struct {
	t    *table
	n    int
	row  []string
	raw  []string
	add  func(Problem)
	book *Book
	bad  bool
}

// cell is the text of a column's cell, trimmed, "" when the sheet has no
// such column. A CSV export writes ' before a text that Excel would take
// for a formula; it comes off here.
func (rc *rowCtx) cell(key string) string {
	i, ok := rc.t.cols[key]
	if !ok {
		return ""
	}
	s := strings.TrimSpace(cellAt(rc.row, i))
	if rc.t.csv && len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@", rune(s[1])) {
		s = s[1:]
	}
	return s
}

func (rc *rowCtx) rawCell(key string) string {
	i, ok := rc.t.cols[key]
	if !ok {
		return ""
	}
	return strings.TrimSpace(cellAt(rc.raw, i))
}

// problem reports a problem with the row's cell of a column (or with the
// whole row when key is "").
func (rc *rowCtx) problem(key, msg string) {
	rc.bad = true
	p := Problem{Sheet: rc.t.sheet, Row: rc.n, Problem: msg}
	if i, ok := rc.t.cols[key]; ok {
		p.Column = strings.TrimSpace(rc.t.headers[i])
		p.Cell = fmt.Sprintf("%s%d", colName(i), rc.n)
		p.Value = clip(rc.cell(key), 60)
	} else if key != "" {
		p.Column = header(rc.t.kind, key)
	}
	rc.add(p)
}

// unique reports an id given on an earlier row too.
func (rc *rowCtx) unique(seen map[string]string, kind, key, id string) {
	if id == "" {
		return
	}
	where := fmt.Sprintf("row %d of %s", rc.n, rc.t.sheet)
	if first, dup := seen[kind+"/"+id]; dup {
		rc.problem(key, fmt.Sprintf("%s is also the id on %s: every %s needs its own id", id, first, kind))
		return
	}
	seen[kind+"/"+id] = where
}

func (rc *rowCtx) id(key string) string {
	s := rc.cell(key)
	if s != "" && !events.ValidID(s) {
		rc.problem(key, "must be an id of 1 to 64 characters of A-Z a-z 0-9 _ - (or left empty for a new one)")
	}
	return s
}

func (rc *rowCtx) required(key, s string) {
	if s == "" {
		rc.problem(key, header(rc.t.kind, key)+" is required")
	}
}

func (rc *rowCtx) date(key string, required bool) events.Date {
	d, problem := parseDate(rc.cell(key), rc.rawCell(key), rc.book.Format == FormatXLSX, rc.t.date1904)
	switch {
	case problem != "":
		rc.problem(key, problem)
	case required && d.IsZero():
		rc.problem(key, header(rc.t.kind, key)+" is required: a date such as 2024-06-30")
	}
	return d
}

// unit resolves the row's unit: 单位编号 when given, else 责任单位 by id
// or name.
func (rc *rowCtx) unit(r *resolver) (query.Unit, bool) {
	if id := rc.cell(colUnitID); id != "" {
		u, ok := r.unitByID[id]
		if !ok {
			rc.problem(colUnitID, fmt.Sprintf("no unit %s among the units you can see", id))
		}
		return u, ok
	}
	name := rc.cell(colUnit)
	if name == "" {
		rc.problem(colUnit, "责任单位 is required")
		return query.Unit{}, false
	}
	u, problem := r.unit(name)
	if problem != "" {
		rc.problem(colUnit, problem)
		return query.Unit{}, false
	}
	return u, true
}

// rowCycle checks the row's 评议周期 against the import's cycle.
func (rc *rowCtx) rowCycle(r *resolver, cycle query.Cycle) {
	s := rc.cell(colCycle)
	if s == "" || cycle.ID == "" {
		return
	}
	c, problem := r.cycle(s)
	switch {
	case problem != "":
		rc.problem(colCycle, problem)
	case c.ID != cycle.ID:
		rc.problem(colCycle, fmt.Sprintf("names cycle %s, but the import goes into %s (%s): clear the cell or import the row into its own cycle", c.ID, cycle.ID, cycle.Name))
	}
}

func (rc *rowCtx) source(file string) string {
	if s := oneLine(rc.cell(colSource)); s != "" {
		return s
	}
	name := clip(file, 60)
	if name == "" {
		name = "台账"
	}
	return fmt.Sprintf("台账导入《%s》%s第%d行", name, rc.t.sheet, rc.n)
}

// item reads a row of items.
func (rc *rowCtx) item(r *resolver, cycle query.Cycle, file string) (events.ImportItem, string, bool) {
	entry := fmt.Sprintf("i%d", rc.n)
	it := events.ImportItem{Entry: entry, ItemID: rc.id(colID)}
	it.Title = oneLine(rc.cell(colTitle))
	rc.required(colTitle, it.Title)
	it.Description = paragraph(rc.cell(colDescription))
	it.Category = oneLine(rc.cell(colCategory))
	if s := rc.cell(colSeverity); s != "" {
		sev, ok := parseSeverity(s)
		if !ok {
			rc.problem(colSeverity, "must be 一般, 较重 or 严重 (low, normal, high)")
		}
		it.Severity = sev
	}
	it.Deadline = rc.date(colDeadline, true)
	u, _ := rc.unit(r)
	it.UnitID = u.ID
	it.OwnerName = oneLine(rc.cell(colOwner))
	it.OwnerID = rc.id(colOwnerID)
	rc.rowCycle(r, cycle)
	it.Source = rc.source(file)
	ms, problems := parseMeasures(rc.cell(colMeasures))
	for _, pr := range problems {
		rc.problem(colMeasures, pr)
	}
	for k, m := range ms {
		it.Measures = append(it.Measures, events.ImportMeasure{Entry: fmt.Sprintf("%s.m%d", entry, k+1),
			Text: m.text, OwnerName: m.ownerName, OwnerID: m.ownerID, Due: m.due})
	}
	return it, u.Name, !rc.bad
}

// commitment reads a row of commitments.
func (rc *rowCtx) commitment(r *resolver, cycle query.Cycle, file string) (events.ImportCommitment, string, bool) {
	cm := events.ImportCommitment{Entry: fmt.Sprintf("c%d", rc.n), CommitmentID: rc.id(colID)}
	cm.Title = oneLine(rc.cell(colTitle))
	rc.required(colTitle, cm.Title)
	cm.Activity = oneLine(rc.cell(colActivity))
	rc.required(colActivity, cm.Activity)
	if n, problem := parseCount(rc.cell(colTarget)); problem != "" {
		rc.problem(colTarget, problem)
	} else {
		cm.Target = n
	}
	if s := rc.cell(colPeriod); s == "" {
		rc.required(colPeriod, s)
	} else if p, ok := parsePeriod(s); !ok {
		rc.problem(colPeriod, "must be 每周, 每月 or 每季度 (week, month, quarter)")
	} else {
		cm.Period = p
	}
	cm.Start = rc.date(colStart, true)
	cm.End = rc.date(colEnd, true)
	if !cm.Start.IsZero() && !cm.End.IsZero() && cm.End.Before(cm.Start) {
		rc.problem(colEnd, "must not be before 开始日期 "+cm.Start.String())
	}
	u, _ := rc.unit(r)
	cm.UnitID = u.ID
	cm.PersonName = oneLine(rc.cell(colOwner))
	cm.PersonID = rc.id(colOwnerID)
	rc.rowCycle(r, cycle)
	cm.Source = rc.source(file)
	return cm, u.Name, !rc.bad
}

// ---- locating the command side's errors ----

// Locate places the fields of an error about the plan's import (from
// Validate, or the command side: "i12.deadline", "i12.m2.text", "c3",
// "cycle_id") in the file. Fields naming no entry become problems of the
// whole file. An error that is not an *events.Error gives none.
func (p *Plan) Locate(err error) []Problem {
	var e *events.Error
	if !errors.As(err, &e) {
		return nil
	}
	var out []Problem
	for _, f := range e.Fields {
		out = append(out, p.locate(f))
	}
	if len(out) == 0 && e.Message != "" {
		out = append(out, Problem{Field: "file", Problem: e.Message})
	}
	return out
}

func (p *Plan) locate(f events.FieldError) Problem {
	parts := strings.Split(f.Field, ".")
	var loc entryLoc
	var entry, rest string
	found := false
	if len(parts) >= 2 {
		if l, ok := p.entries[parts[0]+"."+parts[1]]; ok && strings.HasPrefix(parts[1], "m") {
			loc, entry, rest, found = l, parts[0]+"."+parts[1], strings.Join(parts[2:], "."), true
		}
	}
	if !found {
		if l, ok := p.entries[parts[0]]; ok {
			loc, entry, rest, found = l, parts[0], strings.Join(parts[1:], "."), true
		}
	}
	if !found {
		return Problem{Field: f.Field, Problem: f.Problem}
	}
	// A whole-entry message repeats the entry's key: drop it.
	msg := strings.TrimPrefix(f.Problem, entry+": ")
	rc := rowCtx{t: loc.t, n: loc.row, row: rowAt(loc.t.rows, loc.row-loc.t.headerRow-1), add: func(Problem) {}}
	key := ""
	if loc.measure > 0 {
		key = colMeasures
		msg = fmt.Sprintf("measure %d: %s", loc.measure, strings.TrimSpace(rest+" "+msg))
	} else if rest != "" {
		key = columnOf(loc.t, rest, rc.cell(colUnitID) != "")
		if key == "" {
			msg = rest + " " + msg
		} else {
			msg = header(loc.t.kind, key) + " " + msg
		}
	}
	var pr Problem
	rc.add = func(x Problem) { pr = x }
	rc.problem(key, msg)
	pr.Field = f.Field
	return pr
}

// columnOf is the logical column a command field comes from in t, ""
// when none of t's columns does. unitByID: the row names its unit in 单位编号.
func columnOf(t *table, field string, unitByID bool) string {
	if field == "unit_id" {
		if _, ok := t.cols[colUnitID]; ok && unitByID {
			return colUnitID
		}
	}
	for _, c := range columnsOf(t.kind) {
		if slices.Contains(c.fields, field) {
			if _, ok := t.cols[c.key]; ok {
				return c.key
			}
		}
	}
	if field == "owner_id" || field == "person_id" {
		if _, ok := t.cols[colOwner]; ok {
			return colOwner
		}
	}
	return ""
}

// ---- resolving names ----

type resolver struct {
	dir        Directory
	unitByID   map[string]query.Unit
	unitByName map[string][]query.Unit
}

func (r *resolver) index() {
	r.unitByID = map[string]query.Unit{}
	r.unitByName = map[string][]query.Unit{}
	for _, u := range r.dir.Units {
		r.unitByID[u.ID] = u
		n := normName(u.Name)
		r.unitByName[n] = append(r.unitByName[n], u)
	}
}

// normName compares names without spaces and width differences.
func normName(s string) string {
	return strings.Join(strings.Fields(foldWidth(s)), "")
}

// unit finds a unit by id or exact name.
func (r *resolver) unit(s string) (query.Unit, string) {
	if u, ok := r.unitByID[s]; ok {
		return u, ""
	}
	us := r.unitByName[normName(s)]
	switch len(us) {
	case 0:
		return query.Unit{}, fmt.Sprintf("no unit named %s among the units you can see", s)
	case 1:
		return us[0], ""
	}
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return query.Unit{}, fmt.Sprintf("%d units are named %s (%s): give the unit's id in 单位编号", len(us), s, strings.Join(ids, ", "))
}

// cycle finds a cycle by id, exact name, or year when one cycle has it.
func (r *resolver) cycle(s string) (query.Cycle, string) {
	var byYear []query.Cycle
	for _, c := range r.dir.Cycles {
		if c.ID == s || normName(c.Name) == normName(s) {
			return c, ""
		}
		if strconv.Itoa(c.Year) == strings.TrimSuffix(s, "年") {
			byYear = append(byYear, c)
		}
	}
	if len(byYear) == 1 {
		return byYear[0], ""
	}
	if len(byYear) > 1 {
		return query.Cycle{}, fmt.Sprintf("%d cycles are of year %s: name one by its id or name", len(byYear), s)
	}
	return query.Cycle{}, fmt.Sprintf("no cycle %s", s)
}

// importCycle decides the cycle of the import: the one asked for, or the
// one every row's 评议周期 names. It must be open.
func (r *resolver) importCycle(tables []*table, asked string) (query.Cycle, []Problem) {
	var c query.Cycle
	if asked != "" {
		var problem string
		if c, problem = r.cycle(asked); problem != "" {
			return c, []Problem{{Field: "cycle_id", Value: asked, Problem: problem}}
		}
	} else {
		named := map[string]query.Cycle{}
		var order []string
		for _, t := range tables {
			i, ok := t.cols[colCycle]
			if !ok {
				continue
			}
			for _, row := range t.rows {
				s := strings.TrimSpace(cellAt(row, i))
				if s == "" || blankRow(t, row) {
					continue
				}
				cy, problem := r.cycle(s)
				if problem != "" {
					continue // the row reports it
				}
				if _, ok := named[cy.ID]; !ok {
					order = append(order, cy.ID)
				}
				named[cy.ID] = cy
			}
		}
		switch len(order) {
		case 0:
			return c, []Problem{{Field: "cycle_id", Problem: "the file names no cycle (评议周期): say which cycle to import into"}}
		case 1:
			c = named[order[0]]
		default:
			return c, []Problem{{Field: "cycle_id", Problem: fmt.Sprintf("the file names %d cycles (%s); one import goes into one cycle: say which, or split the file",
				len(order), strings.Join(order, ", "))}}
		}
	}
	if c.Closed {
		return c, []Problem{{Field: "cycle_id", Value: c.ID, Problem: fmt.Sprintf("cycle %s (%s) is closed: import into an open cycle", c.ID, c.Name)}}
	}
	return c, nil
}

// ---- values ----

// parseDate reads a date cell: an Excel date (a serial number in an XLSX
// cell), or text as people write dates in China: 2024-06-30, 2024/6/30,
// 2024.6.30, 2024年6月30日, 20240630. A time of day after the date is
// ignored. problem is empty when the cell is a date or empty.
func parseDate(shown, raw string, xlsx, date1904 bool) (events.Date, string) {
	s := strings.TrimSpace(foldWidth(shown))
	if s == "" {
		return events.Date{}, ""
	}
	if xlsx {
		if f, err := strconv.ParseFloat(raw, 64); err == nil {
			switch {
			case f == math.Trunc(f) && f >= 19000101 && f <= 22001231:
				s = strconv.Itoa(int(f))
			case f >= 1 && f < 110000:
				t, err := excelize.ExcelDateToTime(f, date1904)
				if err == nil {
					if d, err := events.NewDate(t.Year(), t.Month(), t.Day()); err == nil {
						return d, ""
					}
				}
			}
		}
	}
	bad := fmt.Sprintf("%s is not a date: write it as 2024-06-30", s)
	if i := strings.IndexAny(s, " T"); i > 0 {
		s = s[:i]
	}
	s = strings.NewReplacer("年", "-", "月", "-", "日", "", "号", "", "/", "-", ".", "-").Replace(s)
	var y, m, d int
	if len(s) == 8 && !strings.Contains(s, "-") {
		s = s[:4] + "-" + s[4:6] + "-" + s[6:]
	}
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return events.Date{}, bad
	}
	for i, dst := range []*int{&y, &m, &d} {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return events.Date{}, bad
		}
		*dst = n
	}
	if y < 100 {
		y += 2000 // 24-6-30
	}
	date, err := events.NewDate(y, time.Month(m), d)
	if err != nil {
		return events.Date{}, fmt.Sprintf("%s is not a calendar day", shown)
	}
	return date, ""
}

// parseCount reads a positive whole number: 2, 2次, ２.
func parseCount(s string) (int, string) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(foldWidth(s)), "次"))
	if s == "" {
		return 0, "目标次数 is required: a whole number above 0"
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || f != math.Trunc(f):
		return 0, fmt.Sprintf("must be a whole number above 0, not %s", s)
	case f <= 0:
		return 0, fmt.Sprintf("must be a whole number above 0, not %s", s)
	case f > events.MaxTarget:
		return 0, fmt.Sprintf("must be at most %d", events.MaxTarget)
	}
	return int(f), ""
}

// oneLine joins the lines of a cell into one: with nothing between two
// Chinese characters, with a space otherwise.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	var b strings.Builder
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			last, _ := utf8.DecodeLastRuneInString(b.String())
			first, _ := utf8.DecodeRuneInString(l)
			if last < utf8.RuneSelf || first < utf8.RuneSelf {
				b.WriteByte(' ')
			}
		}
		b.WriteString(strings.ReplaceAll(l, "\t", " "))
	}
	return b.String()
}

// paragraph keeps a cell's lines, with Windows line ends made plain.
func paragraph(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"))
}

// clip shortens s to n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
