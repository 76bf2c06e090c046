package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/gateway/ledgerfile"
	"rectify/projections/query"
)

// Exports (导出) of the views as XLSX workbooks and CSV files with Chinese
// headers. An export reads the views through the same NATS queries as
// the other GETs, with the caller's scope, so an editor's export holds
// their units only; min_position, today and as_of work as for the other
// GETs.

const tagExports = "exports"

// Views that can be exported.
const (
	exportLedger      = "ledger"
	exportCommitments = "commitments"
	exportCompliance  = "compliance"
	exportMonthly     = "assessments"
	exportRanking     = "rankings"
)

// exportAssessmentOps are the assessments view's ops the assessment
// exports read.
var exportAssessmentOps = map[string]string{exportMonthly: "monthly", exportRanking: "ranking"}

// maxExportItems bounds the items (or commitments) of one export: an
// export is built in memory and reads each item's detail.
const maxExportItems = 20000

// exportDetailWorkers is how many item details an export asks for at
// once.
const exportDetailWorkers = 4

// exportDoc says what each export holds, its file name and whether it
// answers as-of reads.
var exportDoc = map[string]struct {
	title, file string
	asOf        bool
	summary     string
}{
	exportLedger: {"整改台账", "ledger", true,
		"The ledger (台账) in the caller's scope: items with unit, owner, status, deadline, overdue, colour, progress and measures; " +
			"the workbook adds the commitments (承诺事项). It imports again unchanged (POST /api/v1/imports/ledger)."},
	exportCommitments: {"承诺事项", "commitments", true,
		"The commitments (承诺事项) in the caller's scope, in the layout the ledger import reads."},
	exportCompliance: {"履诺情况", "compliance", true,
		"Commitment compliance: per commitment and period the target, the actual count and met or missed; the workbook adds each commitment's tally."},
	exportMonthly: {"月度考核", "assessments", true,
		"The monthly assessment (月考核) of a month under a published rule set: each unit's score, rank and breakdown; the workbook adds what it was computed from (position, rule set version, digest)."},
	exportRanking: {"季度排名", "rankings", true,
		"The quarterly ranking (季排名): the units of each level in order, with their movement since the last quarter, score and breakdown."},
}

// exportRoutes are the routes of every export, one per view and format.
func exportRoutes(v1 string) []route {
	var out []route
	for _, view := range []string{exportLedger, exportCommitments, exportCompliance, exportMonthly, exportRanking} {
		for _, format := range []string{ledgerfile.FormatXLSX, ledgerfile.FormatCSV} {
			d := exportDoc[view]
			q := []paramDoc{
				{name: "unit_id", typ: "string", description: "only this unit's and its subtree's"},
				{name: paramMinPosition, typ: "integer", description: "answer once the views have this position"},
				{name: paramToday, typ: "string", format: "date", description: "the day overdue and colours are derived for (default today, UTC+8)"},
			}
			if _, ok := exportAssessmentOps[view]; ok {
				q = append(q,
					paramDoc{name: "period", typ: "string", format: "date", description: "any day of the month (quarter); default: the last one that ended"},
					paramDoc{name: "ruleset_id", typ: "string", description: "the rule set; default: the one published most recently"},
					paramDoc{name: "version", typ: "integer", description: "a published version of ruleset_id; default: its latest"})
			} else {
				q = append(q, paramDoc{name: "cycle_id", typ: "string", description: "only this cycle's"})
			}
			if view == exportLedger {
				q = append(q,
					paramDoc{name: "status", typ: "array", description: "only items in these statuses"},
					paramDoc{name: "rag", typ: "string", description: "only items of this colour: red, yellow, green or done"},
					paramDoc{name: "escalated", typ: "string", description: "only unfinished items whose escalation stands at this step: owner, head, committee or any"},
					paramDoc{name: "q", typ: "string", description: "only items whose texts hold every word (not with as_of)"},
					paramDoc{name: "sort", typ: "string", description: "the list's order (deadline, raised, updated, title, status); default: by unit, then deadline (not with as_of)"},
					paramDoc{name: "order", typ: "string", description: "asc or desc (not with as_of)"})
			}
			if d.asOf {
				q = append(q, paramDoc{name: paramAsOf, typ: "string", description: "as it stood then: a time (2024-05-01T00:00:00+08:00) or a position (position:123)"})
			}
			if view == exportCompliance {
				q = append(q,
					paramDoc{name: "from", typ: "string", format: "date", description: "the first day of the periods reported (default: 1 January of to's year)"},
					paramDoc{name: "to", typ: "string", format: "date", description: "the last day (default today)"},
					paramDoc{name: "period", typ: "string", description: "count in weeks, months or quarters instead of each commitment's own periods"})
			}
			summary := d.summary
			if format == ledgerfile.FormatCSV {
				summary += " CSV: UTF-8 with a byte order mark, the first sheet only."
			}
			view, format := view, format
			out = append(out, route{method: http.MethodGet, path: v1 + "/exports/" + view + "." + format,
				id: "export" + strings.ToUpper(view[:1]) + view[1:] + strings.ToUpper(format[:1]) + format[1:], tag: tagExports,
				summary: summary,
				custom:  func(s *Server, c *gin.Context) { s.export(c, view, format) },
				doc:     customDoc{query: q, resultCT: strings.TrimSuffix(ledgerfile.ContentType(format), "; charset=utf-8"), status: http.StatusOK}})
		}
	}
	return out
}

// exportParams are the parameters of an export.
type exportParams struct {
	cycleID, unitID string
	from, to        events.Date
	period          string
	// The ledger's own filters, as the dashboard's list has them: the
	// export holds what the person sees.
	status      []string
	rag, q      string
	escalated   string
	sort, order string
	// The assessments' parameters.
	assessment query.AssessmentParams
	base       query.Request // scope, min_position, today, as_of
}

// ledgerFilters are the ledger list's filters an export of the ledger
// takes; as of a past point only status, rag and escalated (the as-of
// ledger has no search or sort).
var ledgerFilters = []string{"status", "rag", "escalated", "q", "sort", "order"}

// parseExportParams reads the query string, naming every bad parameter.
func parseExportParams(c *gin.Context, view string, scope query.Scope) (exportParams, error) {
	var p exportParams
	var v events.Validator
	p.base.Scope = scope
	var err error
	if p.base.MinPosition, err = minPosition(c); err != nil {
		return p, err
	}
	allowed := []string{"unit_id", paramMinPosition, paramToday}
	if exportDoc[view].asOf {
		allowed = append(allowed, paramAsOf)
	}
	_, assessment := exportAssessmentOps[view]
	switch {
	case assessment:
		allowed = append(allowed, "period", "ruleset_id", "version")
	case view == exportCompliance:
		allowed = append(allowed, "cycle_id", "from", "to", "period")
	default:
		allowed = append(allowed, "cycle_id")
	}
	if view == exportLedger {
		allowed = append(allowed, ledgerFilters...)
	}
	asOf := c.Query(paramAsOf) != ""
	for name, vals := range c.Request.URL.Query() {
		switch {
		case name == paramAsOf && !exportDoc[view].asOf:
			v.Add(name, "the "+view+" export does not answer as-of reads")
		case !slices.Contains(allowed, name):
			v.Add(paramName(name), "is not a parameter of this export ("+strings.Join(allowed, ", ")+")")
		case asOf && (name == "q" || name == "sort" || name == "order"):
			v.Add(name, "cannot be combined with as_of: the ledger as it stood is listed by unit, without search")
		case name == "status":
			for _, val := range vals {
				for st := range strings.SplitSeq(val, ",") {
					if st = strings.TrimSpace(st); st != "" {
						p.status = append(p.status, st)
					}
				}
			}
		case len(vals) != 1:
			v.Add(name, "is given more than once")
		}
	}
	if view == exportLedger {
		p.rag, p.q, p.sort, p.order = c.Query("rag"), c.Query("q"), c.Query("sort"), c.Query("order")
		p.escalated = c.Query("escalated")
		// The list's own checks, in its words.
		lp := query.LedgerParams{Status: p.status, RAG: p.rag, Escalated: p.escalated, Q: p.q, Sort: p.sort, Order: p.order}
		if err := lp.Validate(); err != nil {
			if e, ok := err.(*events.Error); ok {
				for _, f := range e.Fields {
					v.Add(f.Field, f.Problem)
				}
			}
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"cycle_id", &p.cycleID}, {"unit_id", &p.unitID}} {
		*f.dst = c.Query(f.name)
		if *f.dst != "" && !events.ValidID(*f.dst) {
			v.Add(f.name, "must be an id: 1 to 64 characters of A-Z a-z 0-9 _ -")
		}
	}
	for _, f := range []struct {
		name string
		dst  *events.Date
	}{{paramToday, &p.base.Today}, {"from", &p.from}, {"to", &p.to}} {
		if s := c.Query(f.name); s != "" {
			if *f.dst, err = events.ParseDate(s); err != nil {
				v.Add(f.name, "must be a date YYYY-MM-DD")
			}
		}
	}
	if assessment {
		a := query.AssessmentParams{UnitID: p.unitID, RulesetID: c.Query("ruleset_id")}
		if s := c.Query("period"); s != "" {
			if a.Period, err = events.ParseDate(s); err != nil {
				v.Add("period", "must be a date YYYY-MM-DD: any day of the period")
			}
		}
		if s := c.Query("version"); s != "" {
			if a.Version, err = strconv.Atoi(s); err != nil {
				v.Add("version", "must be an integer")
			}
		}
		if err := a.Validate(); err != nil {
			if e, ok := err.(*events.Error); ok {
				for _, f := range e.Fields {
					v.Add(f.Field, f.Problem)
				}
			}
		}
		p.assessment = a
	} else if s := c.Query("period"); s != "" {
		switch s {
		case events.PeriodWeek, events.PeriodMonth, events.PeriodQuarter:
			p.period = s
		default:
			v.Fault("period", events.ProblemNotOneOf, "must be week, month or quarter", "allowed", strings.Join(events.Periods, ","))
		}
	}
	if s := c.Query(paramAsOf); s != "" && exportDoc[view].asOf {
		var code, problem string
		if p.base.AsOf, code, problem = parseAsOf(s); problem != "" {
			v.Fault(paramAsOf, code, problem)
		}
	}
	return p, v.Err()
}

// export answers GET /api/v1/exports/<view>.<format>.
//
// Exporting needs a role on some unit: a caller without any (a token of a
// user whose roles were all revoked) is 403, rather than a file that
// holds nothing.
func (s *Server) export(c *gin.Context, view, format string) {
	pr := principalOf(c)
	if len(pr.Roles) == 0 {
		s.writeError(c, events.Errorf(events.CodeForbidden, "%s may not export: needs a role (viewer, editor, reviewer or admin) on some unit", pr.UserID))
		return
	}
	p, err := parseExportParams(c, view, pr.Scope())
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx := c.Request.Context()
	x := exporter{s: s, p: p}
	var sheets []ledgerfile.Sheet
	var count int
	switch view {
	case exportLedger:
		items, err := x.items(ctx)
		if err != nil {
			s.writeError(c, err)
			return
		}
		count = len(items)
		sheets = append(sheets, ledgerfile.LedgerSheet(items))
		if format == ledgerfile.FormatXLSX {
			cs, names, err := x.commitments(ctx)
			if err != nil {
				s.writeError(c, err)
				return
			}
			sheets = append(sheets, ledgerfile.CommitmentSheet(cs, names))
		}
	case exportCommitments:
		cs, names, err := x.commitments(ctx)
		if err != nil {
			s.writeError(c, err)
			return
		}
		count = len(cs)
		sheets = append(sheets, ledgerfile.CommitmentSheet(cs, names))
	case exportCompliance:
		cs, err := x.compliance(ctx)
		if err != nil {
			s.writeError(c, err)
			return
		}
		count = len(cs)
		periods, tally := ledgerfile.ComplianceSheets(cs)
		sheets = append(sheets, periods, tally)
	case exportMonthly, exportRanking:
		var r query.AssessmentResult
		if err := x.ask(ctx, "assessments", exportAssessmentOps[view], x.p.base, &x.p.assessment, &r); err != nil {
			s.writeError(c, err)
			return
		}
		count = len(r.Units)
		sheets = append(sheets, ledgerfile.AssessmentSheet(r))
		x.result = &r
	}

	d := exportDoc[view]
	now := s.cfg.Now().In(chinaTime)
	stamp := now.Format("2006-01-02")
	if !p.base.AsOf.IsZero() {
		stamp = "asof-" + asOfLabel(p.base.AsOf)
	}
	var buf bytes.Buffer
	if format == ledgerfile.FormatCSV {
		err = ledgerfile.WriteCSV(&buf, sheets[0])
	} else {
		err = ledgerfile.WriteXLSX(&buf, sheets, x.info(d.title, pr, now, count))
	}
	if err != nil {
		s.writeError(c, events.Wrap(events.CodeInternal, err, "write the %s export", view))
		return
	}
	name := d.title + "-" + stamp + "." + format
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.%s"; filename*=UTF-8''%s`, d.file, stamp, format, rfc5987(name)))
	c.Header(headerPosition, strconv.FormatUint(x.pos, 10))
	c.Header("Cache-Control", "private, no-store")
	c.Header("X-Rectify-Rows", strconv.Itoa(count))
	c.Data(http.StatusOK, ledgerfile.ContentType(format), buf.Bytes())
}

// chinaTime is the zone of the ledger's days and of the export's stamp.
var chinaTime = time.FixedZone("CST", 8*3600)

// asOfLabel names an as-of point in a file name.
func asOfLabel(a query.AsOf) string {
	if a.Position > 0 {
		return "position-" + strconv.FormatUint(a.Position, 10)
	}
	return a.Time.In(chinaTime).Format("2006-01-02T150405")
}

// exporter gathers the answers of one export.
type exporter struct {
	s *Server
	p exportParams
	// pos is the highest view position an answer reflected: the
	// X-Rectify-Position of the export.
	mu  sync.Mutex
	pos uint64
	// result is an assessment export's result, for the info sheet.
	result *query.AssessmentResult
}

// ask asks one question and decodes the answer; later questions wait for
// the position earlier answers reflected, so that the export never reads
// a view older than one it read already.
func (x *exporter) ask(ctx context.Context, view, op string, req query.Request, params, out any) error {
	x.mu.Lock()
	req.MinPosition = max(req.MinPosition, x.pos)
	x.mu.Unlock()
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return events.Wrap(events.CodeInternal, err, "encode %s %s params", view, op)
		}
		req.Params = b
	}
	resp, err := x.s.ask(ctx, view, op, req)
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.pos = max(x.pos, resp.Position)
	x.mu.Unlock()
	if err := json.Unmarshal(resp.Data, out); err != nil {
		return events.Wrap(events.CodeInternal, err, "decode %s %s", view, op)
	}
	return nil
}

// now is the request without as-of: the view as it stands.
func (x *exporter) now() query.Request {
	r := x.p.base
	r.AsOf = query.AsOf{}
	return r
}

// items reads the ledger's items with their details, in the unit tree's
// order, then by deadline and id.
func (x *exporter) items(ctx context.Context) ([]ledgerfile.ItemRow, error) {
	var list []query.LedgerItem
	asOf := !x.p.base.AsOf.IsZero()
	cursor := ""
	for {
		if asOf {
			var page query.AsOfLedger
			params := query.AsOfLedgerParams{UnitID: x.p.unitID, CycleID: x.p.cycleID, Escalated: x.p.escalated, Limit: query.MaxPageSize, Cursor: cursor}
			if err := x.ask(ctx, "audit", "asof_ledger", x.p.base, &params, &page); err != nil {
				return nil, err
			}
			for _, it := range page.Items {
				if (len(x.p.status) == 0 || slices.Contains(x.p.status, string(it.Status))) && (x.p.rag == "" || it.RAG == x.p.rag) {
					list = append(list, it)
				}
			}
			cursor = page.NextCursor
		} else {
			var page query.LedgerPage
			params := query.LedgerParams{UnitID: x.p.unitID, CycleID: x.p.cycleID, Status: x.p.status, RAG: x.p.rag, Escalated: x.p.escalated,
				Q: x.p.q, Sort: x.p.sort, Order: x.p.order, Limit: query.MaxPageSize, Cursor: cursor}
			if err := x.ask(ctx, "ledger", "list", x.now(), &params, &page); err != nil {
				return nil, err
			}
			list, cursor = append(list, page.Items...), page.NextCursor
		}
		if len(list) > maxExportItems {
			return nil, events.Invalid("cycle_id", fmt.Sprintf("the export would hold more than %d items: narrow it with cycle_id or unit_id", maxExportItems))
		}
		if cursor == "" {
			break
		}
	}
	order, err := x.unitOrder(ctx)
	if err != nil {
		return nil, err
	}
	if x.p.sort != "" {
		order = nil // the order asked for, as the list gave it
	}
	slices.SortStableFunc(list, func(a, b query.LedgerItem) int {
		if order == nil {
			return 0
		}
		if c := order.compare(a.UnitID, b.UnitID); c != 0 {
			return c
		}
		if c := a.Deadline.Compare(b.Deadline); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})

	rows := make([]ledgerfile.ItemRow, len(list))
	errs := make([]error, len(list))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(exportDetailWorkers, len(list)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rows[i], errs[i] = x.detail(ctx, list[i], asOf)
			}
		}()
	}
	for i := range list {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// detail adds an item's description and measures. As of a past point,
// the measures are those planned by then, done or not as they stood
// (from the item's timeline); their texts, owners and due dates never
// change after planning, and neither does the description, so the
// current detail supplies them. An item outside the scope now (moved
// since) keeps its line without them.
func (x *exporter) detail(ctx context.Context, it query.LedgerItem, asOf bool) (ledgerfile.ItemRow, error) {
	row := ledgerfile.ItemRow{Item: it}
	var d query.ItemDetail
	err := x.ask(ctx, "ledger", "get", x.now(), &query.ItemParams{ItemID: it.ID}, &d)
	switch {
	case events.ErrorCode(err) == events.CodeNotFound:
		return row, nil
	case err != nil:
		return row, err
	}
	row.Description = d.Description
	if !asOf {
		row.Measures = d.Measures
		return row, nil
	}
	byID := map[string]query.Measure{}
	for _, m := range d.Measures {
		byID[m.ID] = m
	}
	at := x.p.base.AsOf
	cursor := ""
	for {
		var page query.AuditPage
		params := query.TimelineParams{Kind: events.CategoryItem, ID: it.ID, Limit: query.MaxPageSize, Cursor: cursor}
		if err := x.ask(ctx, "audit", "timeline", x.now(), &params, &page); err != nil {
			if events.ErrorCode(err) == events.CodeNotFound {
				return row, nil
			}
			return row, err
		}
		for _, e := range page.Entries {
			if (at.Position > 0 && e.Position > at.Position) || (!at.Time.IsZero() && e.Time.After(at.Time)) {
				return row, nil
			}
			for _, ch := range e.Changes {
				id, ok := strings.CutPrefix(ch.Field, "measure:")
				if !ok {
					continue
				}
				if ch.Before == "" {
					m := byID[id]
					m.ID, m.Text, m.Done, m.CompletedOn = id, ch.After, false, events.Date{}
					row.Measures = append(row.Measures, m)
				} else if ch.After == "completed" {
					for k := range row.Measures {
						if row.Measures[k].ID == id {
							row.Measures[k].Done = true
						}
					}
				}
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			return row, nil
		}
	}
}

// commitments reads the commitments (as of the export's point, when it
// has one) in the unit tree's order, and the cycles' names (of then).
func (x *exporter) commitments(ctx context.Context) ([]query.Commitment, map[string]string, error) {
	var list []query.Commitment
	cursor := ""
	for {
		var page query.CommitmentPage
		params := query.CommitmentListParams{UnitID: x.p.unitID, CycleID: x.p.cycleID, Limit: query.MaxPageSize, Cursor: cursor}
		var err error
		if x.p.base.AsOf.IsZero() {
			err = x.ask(ctx, "commitments", "list", x.now(), &params, &page)
		} else {
			err = x.ask(ctx, "audit", "asof_commitments", x.p.base, &params, &page)
		}
		if err != nil {
			return nil, nil, err
		}
		list, cursor = append(list, page.Commitments...), page.NextCursor
		if len(list) > maxExportItems {
			return nil, nil, events.Invalid("unit_id", fmt.Sprintf("the export would hold more than %d commitments: narrow it with cycle_id or unit_id", maxExportItems))
		}
		if cursor == "" {
			break
		}
	}
	order, err := x.unitOrder(ctx)
	if err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(list, func(a, b query.Commitment) int {
		if c := order.compare(a.UnitID, b.UnitID); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	var cycles query.Cycles
	var err2 error
	if x.p.base.AsOf.IsZero() {
		err2 = x.ask(ctx, "ledger", "cycles", x.now(), nil, &cycles)
	} else {
		err2 = x.ask(ctx, "audit", "asof_cycles", x.p.base, nil, &cycles)
	}
	if err2 != nil {
		return nil, nil, err2
	}
	names := map[string]string{}
	for _, c := range cycles.Cycles {
		names[c.ID] = c.Name
	}
	return list, names, nil
}

// compliance reads the compliance of every commitment in scope; as of a
// past point, counting the activities logged by then, with the periods'
// statuses of that day.
func (x *exporter) compliance(ctx context.Context) ([]query.CommitmentCompliance, error) {
	var out []query.CommitmentCompliance
	cursor := ""
	for {
		var page query.Compliance
		params := query.ComplianceParams{UnitID: x.p.unitID, CycleID: x.p.cycleID, From: x.p.from, To: x.p.to, Period: x.p.period,
			Limit: query.MaxPageSize, Cursor: cursor}
		var err error
		if x.p.base.AsOf.IsZero() {
			err = x.ask(ctx, "commitments", "compliance", x.now(), &params, &page)
		} else {
			err = x.ask(ctx, "audit", "asof_compliance", x.p.base, &params, &page)
		}
		if err != nil {
			return nil, err
		}
		out, cursor = append(out, page.Commitments...), page.NextCursor
		if len(out) > maxExportItems {
			return nil, events.Invalid("unit_id", fmt.Sprintf("the export would hold more than %d commitments: narrow it with cycle_id or unit_id", maxExportItems))
		}
		if cursor == "" {
			return out, nil
		}
	}
}

// unitOrder ranks units in the tree's order (each before its children,
// siblings by name), as the dashboard lists them.
type unitOrder map[string]int

func (x *exporter) unitOrder(ctx context.Context) (unitOrder, error) {
	var tree query.UnitTree
	if err := x.ask(ctx, "ledger", "units", x.now(), &query.UnitsParams{IncludeRetired: true}, &tree); err != nil {
		return nil, err
	}
	o := unitOrder{}
	for i, u := range tree.Units {
		o[u.ID] = i
	}
	return o, nil
}

func (o unitOrder) compare(a, b string) int {
	ia, oka := o[a]
	ib, okb := o[b]
	switch {
	case oka && okb:
		return ia - ib
	case oka:
		return -1
	case okb:
		return 1
	}
	return strings.Compare(a, b)
}

// info is the workbook's sheet 导出信息: what, when, by whom, from where.
func (x *exporter) info(title string, p Principal, now time.Time, count int) ledgerfile.Info {
	scope := "全部单位"
	if s := x.p.base.Scope; !s.All {
		scope = strings.Join(s.Units, "、") + "（及下级单位）"
	}
	lines := [][2]string{
		{"导出内容", title},
		{"导出时间", now.Format("2006-01-02 15:04:05") + "（UTC+8）"},
		{"导出人", strings.TrimSpace(p.Name + "（" + p.UserID + "）")},
		{"可见范围", scope},
		{"行数", strconv.Itoa(count)},
		{"数据位置", strconv.FormatUint(x.pos, 10)},
	}
	if a := x.p.base.AsOf; !a.IsZero() {
		at := ""
		if a.Position > 0 {
			at = "事件位置 " + strconv.FormatUint(a.Position, 10)
		}
		if !a.Time.IsZero() {
			at = strings.TrimSpace(at + " " + a.Time.In(chinaTime).Format("2006-01-02 15:04:05") + "（UTC+8）")
		}
		lines = append(lines, [2]string{"历史时点", at})
	}
	if x.p.cycleID != "" {
		lines = append(lines, [2]string{"评议周期", x.p.cycleID})
	}
	if x.p.unitID != "" {
		lines = append(lines, [2]string{"单位", x.p.unitID + "（及下级单位）"})
	}
	if r := x.result; r != nil {
		complete := "是"
		if !r.Complete {
			complete = "否（统计至 " + r.Through.String() + "）"
		}
		lines = append(lines,
			[2]string{"考核期间", r.PeriodStart.String() + " 至 " + r.PeriodEnd.String()},
			[2]string{"期间已结束", complete},
			[2]string{"考核细则", fmt.Sprintf("%s（%s 第 %d 版）", r.Ruleset.Name, r.Ruleset.ID, r.Ruleset.Version)},
			[2]string{"计算所依据的事件位置", strconv.FormatUint(r.Position, 10)},
			[2]string{"结果摘要（SHA-256）", r.Digest})
	}
	if len(x.p.status) > 0 || x.p.rag != "" || x.p.q != "" || x.p.escalated != "" {
		lines = append(lines, [2]string{"筛选", strings.TrimSpace(fmt.Sprintf("状态 %s 预警 %s 督办 %s 检索 %s",
			orDash(strings.Join(x.p.status, ",")), orDash(x.p.rag), orDash(x.p.escalated), orDash(x.p.q)))})
	}
	if !x.p.base.Today.IsZero() {
		lines = append(lines, [2]string{"逾期判断日期", x.p.base.Today.String()})
	}
	return ledgerfile.Info{Lines: lines}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
