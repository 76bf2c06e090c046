package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/gateway/ledgerfile"
	"rectify/projections/query"
	"rectify/services/natsx"
)

// Ledger import (台账导入) from an XLSX workbook or a CSV file, in one
// request: the file is read (gateway/ledgerfile), its names resolved
// against the units the caller can see and the cycles, every row checked,
// and the whole file sent as one report.import command under one
// idempotency key: the same mechanism, and the same guarantees, as a
// confirmed annual report. With dry_run the command side checks every
// entry against the ledger and the caller's roles and writes nothing.

// ledgerImportParams are the query parameters of POST /api/v1/imports/ledger.
var ledgerImportParams = []paramDoc{
	{name: "dry_run", typ: "boolean", description: "check every row against the ledger and the caller's roles, and write nothing"},
	{name: "cycle_id", typ: "string", description: "the cycle to import into; default: the one cycle the file's 评议周期 column names"},
	{name: "name", typ: "string", description: "the file's name, cited in the source of rows without one (a raw body has none)"},
	{name: paramMinPosition, typ: "integer", description: "read the units and cycles once the views have this position (after registering units, say)"},
}

// ledgerImportTypes are the raw body types the import takes besides a
// multipart form: browsers send .csv as text/csv or, on Windows with
// Excel, as application/vnd.ms-excel.
var ledgerImportTypes = []string{
	ledgerfile.ContentType(ledgerfile.FormatXLSX), "text/csv", "application/csv", "text/plain",
	"application/vnd.ms-excel", "application/octet-stream",
}

// ledgerImportReply is the answer to a ledger import: each row and what it
// created (or, in a dry run, would create).
type ledgerImportReply struct {
	DryRun   bool   `json:"dry_run"`
	File     string `json:"file,omitempty"`
	Format   string `json:"format"`
	Encoding string `json:"encoding,omitempty"`
	CycleID  string `json:"cycle_id"`
	// ImportKey is the idempotency key the import ran (or would run)
	// under: the request's Idempotency-Key, or one derived from the
	// import's content.
	ImportKey string `json:"import_key"`
	// Position is the last position written; pass it as min_position to
	// see the items. 0 in a dry run.
	Position uint64 `json:"position"`
	Events   int    `json:"events"`
	// Sheets are the sheets read; Ignored the sheets and columns that
	// were not.
	Sheets      []ledgerfile.TableInfo     `json:"sheets"`
	Ignored     []string                   `json:"ignored"`
	Items       []ledgerImportedItem       `json:"items"`
	Commitments []ledgerImportedCommitment `json:"commitments"`
}

type ledgerImportedItem struct {
	Sheet     string          `json:"sheet"`
	Row       int             `json:"row"`
	Entry     string          `json:"entry"`
	ID        string          `json:"id"`
	Title     string          `json:"title"`
	UnitID    string          `json:"unit_id"`
	UnitName  string          `json:"unit_name,omitempty"`
	OwnerName string          `json:"owner_name,omitempty"`
	Deadline  events.Date     `json:"deadline"`
	Measures  []importedEntry `json:"measures"`
}

type ledgerImportedCommitment struct {
	Sheet    string `json:"sheet"`
	Row      int    `json:"row"`
	Entry    string `json:"entry"`
	ID       string `json:"id"`
	Title    string `json:"title"`
	UnitID   string `json:"unit_id"`
	UnitName string `json:"unit_name,omitempty"`
	Activity string `json:"activity"`
	Target   int    `json:"target"`
	Period   string `json:"period"`
}

// ledgerImportError is the error reply of a ledger import: the usual
// error (each field named as Excel names a cell, 整改事项!F12) and the
// same problems with sheet, row and column apart, for a table.
type ledgerImportError struct {
	Error    errorDetail          `json:"error"`
	Problems []ledgerfile.Problem `json:"problems"`
}

// importLedger answers POST /api/v1/imports/ledger.
func (s *Server) importLedger(c *gin.Context) {
	p := principalOf(c)
	if err := precheck(p, importCommand, ""); err != nil {
		s.writeError(c, err)
		return
	}
	var v events.Validator
	dry := false
	minPos, err := minPosition(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	for name, vals := range c.Request.URL.Query() {
		switch {
		case name == "dry_run" || name == "cycle_id" || name == "name" || name == paramMinPosition:
			if len(vals) != 1 {
				v.Add(name, "is given more than once")
			}
		default:
			v.Add(name, "is not a parameter of this route (dry_run, cycle_id, name, min_position)")
		}
	}
	if s := c.Query("dry_run"); s != "" {
		if dry, err = strconv.ParseBool(s); err != nil {
			v.Add("dry_run", "must be true or false")
		}
	}
	cycleID := c.Query("cycle_id")
	if cycleID != "" && !events.ValidID(cycleID) {
		v.Add("cycle_id", "must be a cycle id: 1 to 64 characters of A-Z a-z 0-9 _ -")
	}
	if err := v.Err(); err != nil {
		s.writeError(c, err)
		return
	}

	data, name, err := readUpload(c, int64(ledgerfile.MaxFileSize), c.Query("name"), ledgerImportTypes)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if name != "" {
		name = sanitizeFileName(name)
	}
	book, err := ledgerfile.Read(data, name)
	if err != nil {
		s.writeError(c, err)
		return
	}

	// The names in the file mean what the caller can see.
	ctx := c.Request.Context()
	req := query.Request{Scope: p.Scope(), MinPosition: minPos}
	var dir ledgerfile.Directory
	var tree query.UnitTree
	if err := s.askInto(ctx, "ledger", "units", req, query.UnitsParams{IncludeRetired: true}, &tree); err != nil {
		s.writeError(c, err)
		return
	}
	var cycles query.Cycles
	if err := s.askInto(ctx, "ledger", "cycles", req, nil, &cycles); err != nil {
		s.writeError(c, err)
		return
	}
	dir.Units, dir.Cycles = tree.Units, cycles.Cycles

	plan, problems := ledgerfile.Build(book, dir, ledgerfile.Options{FileName: name, CycleID: cycleID})
	if len(problems) > 0 {
		s.writeLedgerProblems(c, events.CodeInvalid, problems, dry)
		return
	}
	imp := plan.Import
	imp.DryRun = dry
	cmd, err := json.Marshal(imp)
	if err != nil {
		s.writeError(c, events.Wrap(events.CodeInternal, err, "encode import"))
		return
	}
	if max := s.nc.MaxPayload(); max > 0 && int64(len(cmd)) > max {
		s.writeError(c, tooLarge("the import ("+strconv.Itoa(len(cmd))+" bytes as a command; split the file)", max))
		return
	}
	rep, err := s.sendImport(c, cmd)
	if err != nil {
		switch code := events.ErrorCode(err); code {
		case events.CodeInvalid, events.CodeConflict, events.CodeForbidden, events.CodeNotFound:
			if located := plan.Locate(err); len(located) > 0 {
				s.writeLedgerProblems(c, code, located, dry)
				return
			}
		}
		s.writeError(c, err)
		return
	}
	out := ledgerImportReply{DryRun: dry, File: name, Format: plan.Format, Encoding: plan.Encoding, CycleID: imp.CycleID,
		ImportKey: rep.ID, Events: rep.Events, Sheets: plan.Tables, Ignored: plan.Ignored,
		Items: []ledgerImportedItem{}, Commitments: []ledgerImportedCommitment{}}
	if out.Ignored == nil {
		out.Ignored = []string{}
	}
	for i, it := range imp.Items {
		pi := plan.Items[i]
		item := ledgerImportedItem{Sheet: pi.Sheet, Row: pi.Row, Entry: it.Entry, ID: rep.Extra[it.Entry], Title: it.Title,
			UnitID: it.UnitID, UnitName: pi.UnitName, OwnerName: it.OwnerName, Deadline: it.Deadline, Measures: []importedEntry{}}
		for _, m := range it.Measures {
			item.Measures = append(item.Measures, importedEntry{Entry: m.Entry, ID: rep.Extra[m.Entry], Title: firstLine(m.Text)})
		}
		out.Items = append(out.Items, item)
	}
	for i, cm := range imp.Commitments {
		pc := plan.Commitments[i]
		out.Commitments = append(out.Commitments, ledgerImportedCommitment{Sheet: pc.Sheet, Row: pc.Row, Entry: cm.Entry,
			ID: rep.Extra[cm.Entry], Title: cm.Title, UnitID: cm.UnitID, UnitName: pc.UnitName, Activity: cm.Activity,
			Target: cm.Target, Period: cm.Period})
	}
	status := http.StatusOK
	if !dry {
		status = http.StatusCreated
		out.Position = rep.Position
		c.Header(headerPosition, strconv.FormatUint(rep.Position, 10))
	}
	c.JSON(status, out)
}

// sendImport sends the import command with the caller as actor and the
// request's Idempotency-Key, returning the command side's error for the
// caller to place in the file.
func (s *Server) sendImport(c *gin.Context, cmd []byte) (natsx.CommandReply, error) {
	key := c.GetHeader("Idempotency-Key")
	if len(key) > maxIdempotencyKey || !printableASCII(key) {
		return natsx.CommandReply{}, badIdempotencyKey()
	}
	rep, err := natsx.SendCommand(c.Request.Context(), s.nc, importCommand, natsx.CommandRequest{
		Actor: principalOf(c).UserID, CorrelationID: requestID(c), IdempotencyKey: key, Command: cmd,
	})
	s.metrics.observeCommand(importCommand, err)
	return rep, err
}

// writeLedgerProblems answers with the problems of a file: the status of
// code, every problem as a field of the error and in the table.
func (s *Server) writeLedgerProblems(c *gin.Context, code events.Code, problems []ledgerfile.Problem, dry bool) {
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusBadRequest
	}
	rows := map[string]bool{}
	for _, p := range problems {
		if p.Row > 0 {
			rows[fmt.Sprintf("%s/%d", p.Sheet, p.Row)] = true
		}
	}
	msg := fmt.Sprintf("the file has %d problems in %d rows; nothing was written", len(problems), len(rows))
	if len(rows) == 0 {
		msg = fmt.Sprintf("the file has %d problems; nothing was written", len(problems))
	}
	if dry {
		msg = strings.Replace(msg, "nothing was written", "fix them, then import (a dry run writes nothing)", 1)
	}
	body := ledgerImportError{Error: errorDetail{Code: code, Message: msg}, Problems: problems}
	for _, p := range problems {
		text := p.Problem
		if p.Column != "" && !strings.HasPrefix(text, p.Column) {
			text = p.Column + ": " + text
		}
		// Problems are worded per sheet, row and column: they keep the
		// catch-all code, and problems lists them in full.
		body.Error.Fields = append(body.Error.Fields, events.Fault(p.Where(), events.ProblemInvalid, text))
	}
	c.AbortWithStatusJSON(status, body)
}

// askInto asks a view one question and decodes the answer into out.
func (s *Server) askInto(ctx context.Context, view, op string, req query.Request, params, out any) error {
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return events.Wrap(events.CodeInternal, err, "encode %s %s params", view, op)
		}
		req.Params = b
	}
	resp, err := s.ask(ctx, view, op, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Data, out); err != nil {
		return events.Wrap(events.CodeInternal, err, "decode %s %s", view, op)
	}
	return nil
}

// readUpload reads an uploaded file of at most limit bytes: the body
// itself (of one of types, or without a type), or the part "file" of a
// multipart form (a part "name" may name it). name is the file's name.
func readUpload(c *gin.Context, limit int64, name string, types []string) ([]byte, string, error) {
	if err := checkLength(c, limit+64<<10, "the file"); err != nil {
		return nil, "", err
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, limit+64<<10)
	media, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if media == "multipart/form-data" {
		c.Request.Body = body
		return fileFromForm(c, name, limit)
	}
	known := media == ""
	for _, t := range types {
		if media == t {
			known = true
		}
	}
	if !known {
		return nil, "", unsupportedType("send the file as multipart/form-data (part \"file\") or as the body (%s), not %s", strings.Join(types, ", "), media)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, "", uploadReadError(err)
	}
	if int64(len(b)) > limit {
		return nil, "", tooLarge("the file", limit)
	}
	return b, name, nil
}

// fileFromForm reads the part "file" of a multipart form.
func fileFromForm(c *gin.Context, name string, limit int64) ([]byte, string, error) {
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return nil, "", unsupportedType("send the file as multipart/form-data with the file in a part named \"file\"")
	}
	var data []byte
	var v events.Validator
	seen := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", uploadReadError(err)
		}
		switch part.FormName() {
		case "file":
			if seen {
				v.Add("file", "is given more than once; send one file at a time")
				part.Close()
				continue
			}
			seen = true
			if name == "" {
				name = part.FileName()
			}
			data, err = io.ReadAll(io.LimitReader(part, limit+1))
			part.Close()
			if err != nil {
				return nil, "", uploadReadError(err)
			}
			if int64(len(data)) > limit {
				return nil, "", tooLarge("the file", limit)
			}
		case "name":
			val, err := formValue(part)
			if err != nil {
				v.Add("name", err.Error())
				continue
			}
			name = val
		default:
			v.Add(part.FormName(), "is not a field of a file upload (file, name)")
			part.Close()
		}
	}
	v.Check(seen, "file", "is required")
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	return data, name, nil
}
