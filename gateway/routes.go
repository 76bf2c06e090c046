package gateway

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/report"
)

// route is one HTTP operation. The router (buildEngine) and the OpenAPI
// document (openapi.go) are both made from the one table routeTable
// returns.
type route struct {
	method string
	path   string // gin syntax: /api/v1/items/:id
	id     string // OpenAPI operationId
	tag    string
	// summary is the first line of the OpenAPI description.
	summary string
	public  bool // no bearer token needed
	stream  bool // long-lived: no request timeout

	// bind maps path parameters to the JSON field of the command or the
	// query parameters they fill.
	bind map[string]string

	// A command route sends command, decoded from the JSON body.
	command events.Command
	created bool // 201 rather than 200

	// A query route asks view for op with parameters of the type params
	// points to (nil: the op takes none) and answers with result. A
	// command route with a result documents its reply with it.
	view, op string
	params   any
	result   any
	fixed    map[string]string // parameters set by the route, not the caller
	omit     []string          // parameters of params the route does not take
	// asOf is the query answering this route when ?as_of= is given; with
	// asOfNow, the route's own op is an as-of op and as_of is optional.
	asOf    *asOfQuery
	asOfNow bool
	// scopeRoles: the route reads with the scope of the caller's grants
	// of these roles only, and needs one (admins only, or those who may
	// assign items).
	scopeRoles []string
	// noAsOf says why the route refuses ?as_of= (400 naming it): set for
	// the few reads that have no past to show; commands refuse it too.
	noAsOf string

	// custom handles the route itself (evidence, documents, the caller).
	custom func(*Server, *gin.Context)
	doc    customDoc
}

// asOfQuery is the view op that answers a route's as-of reads.
type asOfQuery struct {
	view, op string
	params   any
	result   any
}

// customDoc describes a custom route for OpenAPI.
type customDoc struct {
	query     []paramDoc
	headers   []paramDoc
	multipart []paramDoc // form fields of a multipart body
	body      any        // a JSON request body of this type
	raw       []string   // content types of a raw request body (beside multipart)
	result    any        // JSON result; nil for result types below
	resultCT  string     // a non-JSON result's content type
	status    int
	also      []int // other success statuses with the same result (a dry run's 200)
}

type paramDoc struct {
	name, typ, format, description string
	required                       bool
}

// Path parameter bindings used by several routes.
var (
	bindItem       = map[string]string{"id": "item_id"}
	bindCommitment = map[string]string{"id": "commitment_id"}
	bindCycle      = map[string]string{"id": "cycle_id"}
	bindUnit       = map[string]string{"id": "unit_id"}
	bindUser       = map[string]string{"id": "user_id"}
	bindTimeline   = map[string]string{"id": "id"}
)

const (
	tagItems       = "items"
	tagCommitments = "commitments"
	tagCycles      = "cycles"
	tagUnits       = "units"
	tagUsers       = "users"
	tagViews       = "views"
	tagMeta        = "meta"
	tagOps         = "operations"
)

func cmd(path, id, tag, summary string, c events.Command, bind map[string]string) route {
	return route{method: http.MethodPost, path: path, id: id, tag: tag, summary: summary, command: c, bind: bind}
}

func create(path, id, tag, summary string, c events.Command, bind map[string]string) route {
	r := cmd(path, id, tag, summary, c, bind)
	r.created = true
	return r
}

func get(path, id, tag, summary, view, op string, params, result any, bind map[string]string) route {
	return route{method: http.MethodGet, path: path, id: id, tag: tag, summary: summary, view: view, op: op, params: params, result: result, bind: bind}
}

func timeline(path, id, tag, kind string) route {
	r := get(path, id, tag, "The audit timeline of one "+kind+", oldest first; with as_of, its entries up to then.", "audit", "timeline",
		&query.TimelineParams{}, query.AuditPage{}, bindTimeline)
	r.fixed = map[string]string{"kind": kind}
	r.omit = []string{"stream"}
	r.asOfNow = true
	return r
}

// Why some reads refuse as_of.
const (
	noAsOfLive     = "the live stream only follows what happens from now on (resume it with Last-Event-ID); read a view with as_of to see the past"
	noAsOfProcess  = "it describes this process as it runs now; it has no history"
	noAsOfDocument = "the API document has no history"
	noAsOfCaller   = "it is the caller as they are now: today's roles decide what every read shows, as of any point"
	noAsOfEvidence = "an evidence file never changes once attached; which files an item had then, its timeline as of then shows"
	noAsOfCommand  = "a command acts now; as_of is for reads"
)

// routeTable lists every route of the gateway.
func routeTable() []route {
	const v1 = "/api/v1"
	withAsOf := func(r route, q asOfQuery) route { r.asOf = &q; return r }
	asOfNow := func(r route) route { r.asOfNow = true; return r }
	admin := func(r route) route { r.scopeRoles = []string{events.RoleAdmin}; return r }
	// asOfSame: the as-of op takes the route's own parameters and answers
	// with the route's own result type, from the audit view's history.
	asOfSame := func(r route, op string) route {
		r.asOf = &asOfQuery{"audit", op, r.params, r.result}
		return r
	}
	withResult := func(r route, result any) route { r.result = result; return r }
	routes := []route{
		// ---- items ----
		create(v1+"/items", "raiseItem", tagItems, "Raise an item (整改事项) of a unit in a cycle.", events.RaiseItem{}, nil),
		cmd(v1+"/items/:id/assign", "assignItem", tagItems, "Make a unit, and optionally a person of it, responsible for the item.", events.AssignItem{}, bindItem),
		create(v1+"/items/:id/measures", "planMeasure", tagItems, "Add a measure (整改措施) to the item.", events.PlanMeasure{}, bindItem),
		cmd(v1+"/items/:id/measures/:mid/complete", "completeMeasure", tagItems, "Mark a measure of the item done.", events.CompleteMeasure{},
			map[string]string{"id": "item_id", "mid": "measure_id"}),
		cmd(v1+"/items/:id/progress", "reportProgress", tagItems, "Report how far the item is.", events.ReportProgress{}, bindItem),
		{method: http.MethodPost, path: v1 + "/items/:id/evidence", id: "attachEvidence", tag: tagItems,
			summary: "Upload an evidence file (multipart) and attach it to the item.",
			command: events.AttachEvidence{}, bind: bindItem, created: true,
			custom: (*Server).uploadEvidence, doc: customDoc{
				multipart: []paramDoc{
					{name: "file", typ: "string", format: "binary", required: true, description: "the file: an image, a PDF, an Office document or plain text"},
					{name: "evidence_id", typ: "string", description: "an id for the evidence; the command side assigns one when absent"},
					{name: "expected_revision", typ: "integer", description: "apply only while the item is at this revision"},
				},
				result: evidenceReply{}, status: http.StatusCreated,
			}},
		cmd(v1+"/items/:id/submit", "submitItem", tagItems, "Submit the item for verification (验收).", events.SubmitItem{}, bindItem),
		cmd(v1+"/items/:id/verify", "verifyItem", tagItems, "Verify the fix and close the item (销号).", events.VerifyItem{}, bindItem),
		cmd(v1+"/items/:id/reject", "rejectItem", tagItems, "Send a submitted item back to work, for a reason.", events.RejectItem{}, bindItem),
		cmd(v1+"/items/:id/deadline", "changeDeadline", tagItems, "Move the item's deadline, for a reason.", events.ChangeDeadline{}, bindItem),
		cmd(v1+"/items/:id/carry-over", "carryOverItem", tagItems, "Carry the unfinished item over into a later cycle (结转).", events.CarryOverItem{}, bindItem),
		cmd(v1+"/items/:id/withdraw", "withdrawItem", tagItems, "Drop the unfinished item, for a reason.", events.WithdrawItem{}, bindItem),
		cmd(v1+"/items/:id/reopen", "reopenItem", tagItems, "Put a closed item back in progress, for a reason.", events.ReopenItem{}, bindItem),
		withAsOf(get(v1+"/items", "listItems", tagItems, "The ledger (台账): items in the caller's scope, filtered, sorted and paged.",
			"ledger", "list", &query.LedgerParams{}, query.LedgerPage{}, nil),
			asOfQuery{"audit", "asof_ledger", &query.AsOfLedgerParams{}, query.AsOfLedger{}}),
		withAsOf(get(v1+"/items/:id", "getItem", tagItems, "One item with its measures, evidence and progress.",
			"ledger", "get", &query.ItemParams{}, query.ItemDetail{}, bindItem),
			asOfQuery{"audit", "asof_item", &query.AsOfItemParams{}, query.AsOfItem{}}),
		timeline(v1+"/items/:id/timeline", "itemTimeline", tagItems, events.CategoryItem),
		{method: http.MethodGet, path: v1 + "/items/:id/evidence/:eid", id: "downloadEvidence", tag: tagItems,
			summary: "Download an evidence file of the item.", custom: (*Server).downloadEvidence, noAsOf: noAsOfEvidence,
			doc: customDoc{resultCT: "application/octet-stream", status: http.StatusOK}},

		// ---- commitments ----
		create(v1+"/commitments", "makeCommitment", tagCommitments, "Make a commitment (承诺) of a unit or a person.", events.MakeCommitment{}, nil),
		cmd(v1+"/commitments/:id/revise", "reviseCommitment", tagCommitments, "Change the target, period or end of a commitment.", events.ReviseCommitment{}, bindCommitment),
		cmd(v1+"/commitments/:id/end", "endCommitment", tagCommitments, "End a commitment early.", events.EndCommitment{}, bindCommitment),
		create(v1+"/commitments/:id/activities", "logActivity", tagCommitments, "Log activities (履诺记录) toward a commitment.", events.LogActivity{}, bindCommitment),
		asOfSame(get(v1+"/commitments", "listCommitments", tagCommitments, "Commitments in the caller's scope, now or as they stood at as_of.",
			"commitments", "list", &query.CommitmentListParams{}, query.CommitmentPage{}, nil), "asof_commitments"),
		asOfNow(get(v1+"/commitments/:id", "getCommitment", tagCommitments, "One commitment, now or as it stood at as_of.",
			"audit", "asof_commitment", &query.AsOfCommitmentParams{}, query.AsOfCommitment{}, bindCommitment)),
		asOfSame(get(v1+"/commitments/:id/compliance", "commitmentCompliance", tagCommitments,
			"The compliance of one commitment, period by period; with as_of, counting what had been logged by then.",
			"commitments", "compliance", &query.ComplianceParams{}, query.Compliance{}, bindCommitment), "asof_compliance"),
		timeline(v1+"/commitments/:id/timeline", "commitmentTimeline", tagCommitments, events.CategoryCommitment),
		asOfSame(get(v1+"/compliance", "compliance", tagCommitments,
			"The compliance of the commitments in scope, period by period; with as_of, counting what had been logged by then.",
			"commitments", "compliance", &query.ComplianceParams{}, query.Compliance{}, nil), "asof_compliance"),
		asOfSame(get(v1+"/compliance/units", "unitCompliance", tagCommitments, "Each unit's compliance with its commitments, now or as of as_of.",
			"commitments", "units", &query.CommitmentUnitsParams{}, query.UnitsCompliance{}, nil), "asof_compliance_units"),

		// ---- assessments (周总结 / 月考核 / 季排名) ----
		create(v1+"/rulesets", "draftRuleset", tagAssessments, "Draft a scoring rule set (考核细则): weights and how subtrees roll up.",
			events.DraftRuleset{}, nil),
		cmd(v1+"/rulesets/:id/revise", "reviseRuleset", tagAssessments, "Replace the draft of a rule set, for a reason.", events.ReviseRuleset{}, bindRuleset),
		cmd(v1+"/rulesets/:id/publish", "publishRuleset", tagAssessments, "Publish the draft of a rule set as its next version.", events.PublishRuleset{}, bindRuleset),
		asOfNow(get(v1+"/rulesets", "listRulesets", tagAssessments, "Every rule set with its draft and published versions.",
			"assessments", "rulesets", nil, query.Rulesets{}, nil)),
		asOfNow(get(v1+"/rulesets/:id", "getRuleset", tagAssessments, "One rule set with its draft and published versions.",
			"assessments", "ruleset", &query.RulesetParams{}, query.Ruleset{}, bindRuleset)),
		asOfNow(get(v1+"/assessments/weekly", "weeklySummary", tagAssessments, "The weekly summary (周总结): what changed in each unit in a week, scored.",
			"assessments", "weekly", &query.AssessmentParams{}, query.AssessmentResult{}, nil)),
		asOfNow(get(v1+"/assessments/monthly", "monthlyAssessment", tagAssessments, "The monthly assessment (月考核): each unit's score with its breakdown.",
			"assessments", "monthly", &query.AssessmentParams{}, query.AssessmentResult{}, nil)),
		asOfNow(get(v1+"/assessments/ranking", "quarterlyRanking", tagAssessments, "The quarterly ranking (季排名): units in order, with their movement since the last quarter.",
			"assessments", "ranking", &query.AssessmentParams{}, query.AssessmentResult{}, nil)),
		admin(asOfNow(get(v1+"/assessments/preview", "previewAssessment", tagAssessments,
			"What the draft of a rule set would give for a period (admins only); writes nothing.",
			"assessments", "preview", &query.PreviewParams{}, query.AssessmentResult{}, nil))),
		asOfNow(get(v1+"/assessments/publications", "listPublications", tagAssessments, "Published results, the newest period first.",
			"assessments", "publications", &query.PublicationsParams{}, query.PublicationsPage{}, nil)),
		asOfNow(get(v1+"/assessments/published", "getPublished", tagAssessments,
			"Every published version of one period's result, as reported and as corrected, side by side.",
			"assessments", "published", &query.PublishedParams{}, query.Published{}, nil)),
		{method: http.MethodPost, path: v1 + "/assessments/publications", id: "publishAssessment", tag: tagAssessments,
			summary: "Publish the result of a week, month or quarter, recording the position and rule set version it was computed from " +
				"and its digest; a period published before gets a new version (a correction), the earlier ones stay.",
			command: events.PublishAssessment{}, created: true,
			custom: (*Server).publishAssessment, doc: customDoc{body: publishAssessmentBody{}, result: publishAssessmentReply{}, status: http.StatusCreated}},

		// ---- cycles ----
		create(v1+"/cycles", "openCycle", tagCycles, "Open a review cycle (评议周期).", events.OpenCycle{}, nil),
		cmd(v1+"/cycles/:id/close", "closeCycle", tagCycles, "Close a cycle to new items.", events.CloseCycle{}, bindCycle),
		withResult(cmd(v1+"/cycles/:id/carry-over", "carryOverCycle", tagCycles,
			"Carry every unfinished item of the cycle into a later, open cycle (年度结转), each keeping its id and history; "+
				"with dry_run, list what would move and write nothing. Retry with the same Idempotency-Key to complete an interrupted run.",
			events.CarryOverCycle{}, map[string]string{"id": "from_cycle_id"}), cycleCarryOverReply{}),
		asOfSame(get(v1+"/cycles", "listCycles", tagCycles, "Every cycle, newest first; with as_of, those opened by then.",
			"ledger", "cycles", nil, query.Cycles{}, nil), "asof_cycles"),
		timeline(v1+"/cycles/:id/timeline", "cycleTimeline", tagCycles, events.CategoryCycle),

		// ---- units ----
		create(v1+"/units", "registerUnit", tagUnits, "Register a unit under a parent (or as a root).", events.RegisterUnit{}, nil),
		cmd(v1+"/units/:id/rename", "renameUnit", tagUnits, "Rename a unit.", events.RenameUnit{}, bindUnit),
		cmd(v1+"/units/:id/move", "moveUnit", tagUnits, "Move a unit under another parent.", events.MoveUnit{}, bindUnit),
		cmd(v1+"/units/:id/retire", "retireUnit", tagUnits, "Retire a unit, for a reason.", events.RetireUnit{}, bindUnit),
		asOfSame(get(v1+"/units", "listUnits", tagUnits, "The unit tree in the caller's scope; with as_of, as it stood then.",
			"ledger", "units", &query.UnitsParams{}, query.UnitTree{}, nil), "asof_units"),
		asOfNow(get(v1+"/units/:id", "getUnit", tagUnits, "One unit, now or as it stood at as_of.",
			"audit", "asof_unit", &query.AsOfUnitParams{}, query.AsOfUnit{}, bindUnit)),
		timeline(v1+"/units/:id/timeline", "unitTimeline", tagUnits, events.CategoryUnit),
		peopleRoute(v1),

		// ---- users ----
		create(v1+"/users", "createUser", tagUsers, "Create a user account.", events.CreateUser{}, nil),
		cmd(v1+"/users/:id/roles", "grantRole", tagUsers, "Grant the user a role on a unit and its subtree.", events.GrantRole{}, bindUser),
		cmd(v1+"/users/:id/roles/revoke", "revokeRole", tagUsers, "Take a role away from the user.", events.RevokeRole{}, bindUser),
		create(v1+"/users/:id/tokens", "issueToken", tagUsers, "Issue an API token; the reply's extra.token shows it this once.", events.IssueToken{}, bindUser),
		cmd(v1+"/users/:id/tokens/:tid/revoke", "revokeToken", tagUsers, "Revoke an API token.", events.RevokeToken{},
			map[string]string{"id": "user_id", "tid": "token_id"}),
		admin(asOfSame(get(v1+"/users", "listUsers", tagUsers, "Users with roles in the caller's admin scope (admins only); with as_of, as they stood then.",
			"access", "users", &query.UsersParams{}, query.UserPage{}, nil), "asof_users")),
		admin(asOfSame(get(v1+"/users/:id", "getUser", tagUsers, "One user, with roles and tokens (admins only); with as_of, as they stood then.",
			"access", "user", &query.UserParams{}, query.User{}, bindUser), "asof_user")),
		timeline(v1+"/users/:id/timeline", "userTimeline", tagUsers, events.CategoryUser),
		{method: http.MethodGet, path: v1 + "/me", id: "me", tag: tagUsers, summary: "The caller: user, token and roles.",
			custom: (*Server).me, noAsOf: noAsOfCaller, doc: customDoc{result: meReply{}, status: http.StatusOK}},

		// ---- report import (述职报告) ----
		{method: http.MethodPost, path: v1 + "/imports/report", id: "draftReportImport", tag: tagImports,
			summary: "Read an annual work report (述职报告) into a draft ledger to review; writes nothing.",
			custom:  (*Server).draftReport, doc: customDoc{
				query:     []paramDoc{{name: "name", typ: "string", description: "the report's file name, cited in each entry's source (a raw body has none)"}},
				multipart: []paramDoc{{name: "file", typ: "string", format: "binary", required: true, description: "the report as plain text: UTF-8, UTF-16 with a byte order mark, or GB18030"}},
				raw:       []string{"text/plain", "application/octet-stream"},
				result:    report.Review{}, status: http.StatusOK,
			}},
		{method: http.MethodPost, path: v1 + "/imports/report/confirm", id: "confirmReportImport", tag: tagImports,
			summary: "Write a reviewed draft as one report.import command: every item with its measures, every commitment.",
			command: events.ImportReport{}, created: true,
			custom: (*Server).confirmReport, doc: customDoc{body: report.Review{}, result: importReply{}, status: http.StatusCreated}},

		// ---- ledger import and exports (Excel, CSV) ----
		{method: http.MethodPost, path: v1 + "/imports/ledger", id: "importLedger", tag: tagImports,
			summary: "Import a ledger (台账) from an XLSX workbook or a CSV file as one report.import command: every item with its measures, every commitment; " +
				"with dry_run, check every row and write nothing. Any bad row fails the whole file, with every problem named by sheet, row and column.",
			command: events.ImportReport{}, created: true,
			custom: (*Server).importLedger, doc: customDoc{
				query:     ledgerImportParams,
				multipart: []paramDoc{{name: "file", typ: "string", format: "binary", required: true, description: "the ledger: .xlsx, or .csv in UTF-8 (with or without a byte order mark), UTF-16 with one, or GB18030"}},
				raw:       ledgerImportTypes,
				result:    ledgerImportReply{}, status: http.StatusCreated, also: []int{http.StatusOK},
			}},

		// ---- views ----
		asOfSame(get(v1+"/progress/summary", "progressSummary", tagViews,
			"Progress of the items in scope, per unit, category and cycle; with as_of, as it stood then, coloured for that day.",
			"ledger", "summary", &query.SummaryParams{}, query.Summary{}, nil), "asof_summary"),
		asOfSame(get(v1+"/progress/trend", "progressTrend", tagViews, "Open versus closed items over time; with as_of, as known then.",
			"ledger", "trend", &query.TrendParams{}, query.Trend{}, nil), "asof_trend"),
		asOfNow(get(v1+"/audit", "auditFeed", tagViews, "The audit trail (操作记录) of the caller's scope, newest first; with as_of, up to then.",
			"audit", "feed", &query.FeedParams{}, query.AuditPage{}, nil)),
		asOfNow(get(v1+"/timeline", "timeline", tagViews, "The audit timeline of any stream (stream=item-42, or kind and id); with as_of, up to then.",
			"audit", "timeline", &query.TimelineParams{}, query.AuditPage{}, nil)),

		// ---- live updates and operations ----
		{method: http.MethodGet, path: v1 + "/stream", id: "stream", tag: tagViews, stream: true, noAsOf: noAsOfLive,
			summary: "Live change notices (server-sent events) in the caller's scope; resume with Last-Event-ID.",
			custom:  (*Server).stream, doc: customDoc{
				query: []paramDoc{
					{name: "topic", typ: "array", description: "item:<id>, unit:<id> (its subtree) or view:<name>; repeat for several"},
					{name: "last_event_id", typ: "string", description: "like the Last-Event-ID header, for clients that cannot send it"},
				},
				headers:  []paramDoc{{name: "Last-Event-ID", typ: "string", description: "the id of the last event seen; the stream resumes after it or sends a reset"}},
				resultCT: "text/event-stream", status: http.StatusOK,
			}},
		{method: http.MethodGet, path: "/healthz", id: "healthz", tag: tagOps, public: true,
			summary: "200 while the process serves HTTP.", custom: (*Server).healthz, noAsOf: noAsOfProcess,
			doc: customDoc{result: map[string]string{}, status: http.StatusOK}},
		{method: http.MethodGet, path: "/readyz", id: "readyz", tag: tagOps, public: true,
			summary: "200 when NATS, the command side and every view are up and caught up; 503 with the failing checks otherwise.",
			custom:  (*Server).readyz, noAsOf: noAsOfProcess, doc: customDoc{result: readyReport{}, status: http.StatusOK}},
		{method: http.MethodGet, path: "/metrics", id: "metrics", tag: tagOps, public: true,
			summary: "Prometheus metrics.", custom: (*Server).serveMetrics, noAsOf: noAsOfProcess,
			doc: customDoc{resultCT: "text/plain", status: http.StatusOK}},

		// ---- documents ----
		{method: http.MethodGet, path: "/api/openapi.json", id: "openapi", tag: tagMeta, public: true,
			summary: "This API as an OpenAPI 3 document.", custom: (*Server).serveOpenAPI, noAsOf: noAsOfDocument,
			doc: customDoc{resultCT: "application/json", status: http.StatusOK}},
	}
	return append(routes, exportRoutes(v1)...)
}

// peopleRoute lists the people of a unit for the assignment form: open to
// whoever may assign items there (editors and admins, as item.assign in
// services/authz.go), scoped to the units of those roles.
func peopleRoute(v1 string) route {
	r := get(v1+"/units/:id/people", "unitPeople", tagUnits,
		"The people who hold a role on the unit or a unit below it (id, name, those roles): whom an item of the unit can be "+
			"assigned to; with as_of, as they stood then. For editors and admins, on the units of those roles.",
		accessView, "people", &query.PeopleParams{}, query.People{}, bindUnit)
	r.scopeRoles = []string{events.RoleEditor, events.RoleAdmin}
	r.asOf = &asOfQuery{"audit", "asof_people", &query.PeopleParams{}, query.People{}}
	return r
}

// handlerFor returns the handler of rt. A route that has no past to show
// refuses ?as_of= rather than answering for now as if for then.
func (s *Server) handlerFor(rt *route) gin.HandlerFunc {
	var h gin.HandlerFunc
	switch {
	case rt.custom != nil:
		h = func(c *gin.Context) { rt.custom(s, c) }
	case rt.command != nil:
		h = s.commandHandler(rt)
	default:
		return s.queryHandler(rt) // buildQuery reads as_of
	}
	reason := rt.noAsOf
	if reason == "" && (rt.command != nil || rt.method != http.MethodGet) {
		reason = noAsOfCommand
	}
	if reason == "" {
		return h // an export: it reads as_of itself
	}
	return func(c *gin.Context) {
		if _, ok := c.GetQuery(paramAsOf); ok {
			s.writeError(c, events.Invalid(paramAsOf, "is not taken here: "+reason))
			return
		}
		h(c)
	}
}

// stream serves the live stream with the caller's scope.
func (s *Server) stream(c *gin.Context) {
	s.mu.Lock()
	live := s.live
	s.mu.Unlock()
	if live == nil {
		s.writeError(c, events.Errorf(events.CodeUnavailable, "live updates are not running on this server"))
		return
	}
	scope := func(c *gin.Context) (query.Scope, error) { return principalOf(c).Scope(), nil }
	live.handler(scope, s.writeError)(c)
}

func (s *Server) healthz(c *gin.Context) { s.health(c) }

func (s *Server) readyz(c *gin.Context) { s.ready(c) }

func (s *Server) serveMetrics(c *gin.Context) { s.metrics.handler().ServeHTTP(c.Writer, c.Request) }
