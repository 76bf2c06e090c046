package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/services/report"
)

// Report import (述职报告) over HTTP, in two requests: the report's text
// becomes a draft, which writes nothing; the draft, reviewed, becomes one
// report.import command. The parsing and the review rules are those of
// services/report, shared with the CLI.

const tagImports = "imports"

// importCommand is the command a confirmed review is sent as.
const importCommand = "report.import"

// maxReviewBytes bounds a review sent for confirmation: the draft of the
// largest report Parse reads, with its texts, and the assignments.
const maxReviewBytes = 2 * report.MaxInputSize

// importReply is the answer to a confirmed import: what each entry of the
// review created. A retry with the same Idempotency-Key gets the same
// answer and writes nothing.
type importReply struct {
	// ImportKey is the idempotency key the import ran under: the request's
	// Idempotency-Key, or one derived from the import's content.
	ImportKey string `json:"import_key"`
	CycleID   string `json:"cycle_id"`
	// Position is the last position the import wrote; pass it as
	// min_position to see the items in the ledger.
	Position    uint64          `json:"position"`
	Events      int             `json:"events"`
	Items       []importedItem  `json:"items"`
	Commitments []importedEntry `json:"commitments"`
}

// importedItem is an item an import created, with its measures.
type importedItem struct {
	importedEntry
	Measures []importedEntry `json:"measures"`
}

// importedEntry is one entry of a review and the id it created.
type importedEntry struct {
	Entry  string `json:"entry"`
	ID     string `json:"id"`
	Title  string `json:"title"`
	UnitID string `json:"unit_id,omitempty"`
	Source string `json:"source,omitempty"`
}

// draftReport answers POST /api/v1/imports/report: the report as a draft
// to review (report.Review: the draft with the line of every entry and
// the lines left out, and the assignments to fill in). The report comes as
// the body (text/plain or application/octet-stream, ?name= naming the
// file) or as the part "file" of a multipart form, in UTF-8, UTF-16 with
// a byte order mark, or GB18030. Nothing is written.
func (s *Server) draftReport(c *gin.Context) {
	if err := precheck(principalOf(c), importCommand, ""); err != nil {
		s.writeError(c, err)
		return
	}
	limit := int64(report.MaxInputSize)
	if err := checkLength(c, limit+64<<10, "the report"); err != nil {
		s.writeError(c, err)
		return
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, limit+64<<10)
	media, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var (
		text []byte
		name = c.Query("name")
		err  error
	)
	switch media {
	case "multipart/form-data":
		c.Request.Body = body
		text, name, err = fileFromForm(c, name, limit)
	case "text/plain", "application/octet-stream", "":
		text, err = io.ReadAll(body)
		if err != nil {
			err = uploadReadError(err)
		}
	default:
		err = unsupportedType("send the report as text/plain, application/octet-stream or multipart/form-data (part \"file\"), not %s", media)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	if len(bytes.TrimSpace(text)) == 0 {
		s.writeError(c, events.InvalidField(events.Fault("file", events.ProblemEmpty, "is empty: send the report's text")))
		return
	}
	d, err := report.Parse(bytes.NewReader(text))
	if err != nil {
		if events.ErrorCode(err) == events.CodeInvalid {
			var e *events.Error
			if errors.As(err, &e) && len(e.Fields) == 0 {
				err = events.Invalid("file", e.Message)
			}
		}
		s.writeError(c, err)
		return
	}
	if name != "" {
		name = sanitizeFileName(name)
	}
	c.JSON(http.StatusOK, report.NewReview(d, name))
}

// confirmReport answers POST /api/v1/imports/report/confirm: the reviewed
// draft (report.Review, as draftReport gave it, edited) is checked, turned
// into one report.import command and sent with the request's
// Idempotency-Key. A review that is not ready is 400 naming every problem
// "<entry>.<field>" (p2.deadline, c3.period, assign.cycle_id); an entry
// the ledger refuses (a retired unit, a missing role, an id already
// there) fails the whole import before anything is written.
func (s *Server) confirmReport(c *gin.Context) {
	if err := precheck(principalOf(c), importCommand, ""); err != nil {
		s.writeError(c, err)
		return
	}
	b, err := readJSONBody(c, max(s.cfg.MaxBodyBytes, maxReviewBytes), "the review")
	if err != nil {
		s.writeError(c, err)
		return
	}
	var r report.Review
	if err := decodeStrict(b, &r); err != nil {
		s.writeError(c, err)
		return
	}
	imp, err := r.Draft.Import(r.Assign)
	if err == nil {
		err = imp.Validate()
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	data, err := json.Marshal(imp)
	if err != nil {
		s.writeError(c, events.Wrap(events.CodeInternal, err, "encode import"))
		return
	}
	if max := s.nc.MaxPayload(); max > 0 && int64(len(data)) > max {
		s.writeError(c, tooLarge("the import ("+strconv.Itoa(len(data))+" bytes as a command)", max))
		return
	}
	rep, ok := s.send(c, importCommand, data)
	if !ok {
		return
	}
	c.Header(headerPosition, strconv.FormatUint(rep.Position, 10))
	c.JSON(http.StatusCreated, importReplyOf(imp, rep.ID, rep.Position, rep.Events, rep.Extra))
}

// importReplyOf lists what each entry of imp created, from the ids the
// command side reported.
func importReplyOf(imp events.ImportReport, key string, pos uint64, n int, ids map[string]string) importReply {
	out := importReply{ImportKey: key, CycleID: imp.CycleID, Position: pos, Events: n,
		Items: []importedItem{}, Commitments: []importedEntry{}}
	for _, it := range imp.Items {
		item := importedItem{importedEntry: importedEntry{Entry: it.Entry, ID: ids[it.Entry], Title: it.Title, UnitID: it.UnitID, Source: it.Source},
			Measures: []importedEntry{}}
		for _, m := range it.Measures {
			item.Measures = append(item.Measures, importedEntry{Entry: m.Entry, ID: ids[m.Entry], Title: firstLine(m.Text)})
		}
		out.Items = append(out.Items, item)
	}
	for _, cm := range imp.Commitments {
		out.Commitments = append(out.Commitments, importedEntry{Entry: cm.Entry, ID: ids[cm.Entry], Title: cm.Title, UnitID: cm.UnitID, Source: cm.Source})
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
