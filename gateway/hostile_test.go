package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// hostileCase is one bad request: what it must be answered, and what the
// answer must name.
type hostileCase struct {
	name string
	send func(t *testing.T) Reply
	// status is the answer it must get.
	status int
	// field, when set, is the field the error must name; problem is a
	// piece of its problem (or, without field, of the message).
	field, problem string
}

// TestHostileInputsAreRefusedCleanly sends the rectify stack one request
// per kind of hostile input over HTTP. Each must be refused with the
// right 4xx, an error body that names the field and the problem, and no
// event written: the store's head does not move. Then the unusual but
// legitimate inputs (mixed scripts, zero-width joiners, marks) are
// accepted and read back exactly as sent.
func TestHostileInputsAreRefusedCleanly(t *testing.T) {
	const maxBody = 64 << 10
	st := MustStartStack(t, func(c *Config) { c.MaxBodyBytes = maxBody })
	admin := st.Client(t, st.AdminToken)
	pos := mustOrg(t, admin)
	item := admin.MustPost("/api/v1/items", map[string]any{"item_id": "hostile-1", "cycle_id": "y2024", "unit_id": "sqA1",
		"title": "靶子事项", "deadline": "2030-06-30"}, http.StatusCreated, headerMinPosition, fmt.Sprint(pos))
	cmt := admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": "hostile-c", "unit_id": "sqA1", "title": "每周走访",
		"activity": "走访", "target": 1, "period": "week", "start": "2024-01-01", "end": "2030-12-31"}, http.StatusCreated)
	wait := []string{headerMinPosition, fmt.Sprint(max(item.Position, cmt.Position))}

	// raise is a raise-item body with field set to the raw JSON value.
	raise := func(field, raw string) string {
		b := map[string]string{"cycle_id": `"y2024"`, "unit_id": `"sqA1"`, "title": `"走访不到位"`, "deadline": `"2030-06-30"`}
		b[field] = raw
		var parts []string
		for _, k := range []string{"cycle_id", "unit_id", "title", "deadline", "description", "item_id"} {
			if v, ok := b[k]; ok {
				parts = append(parts, fmt.Sprintf("%q:%s", k, v))
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	post := func(path, body string, hdr ...string) func(t *testing.T) Reply {
		return func(t *testing.T) Reply { return st.Client(t, st.AdminToken).Post(path, body, append(wait, hdr...)...) }
	}
	raiseWith := func(field, raw string) func(t *testing.T) Reply { return post("/api/v1/items", raise(field, raw)) }
	commitWith := func(target string) func(t *testing.T) Reply {
		return post("/api/v1/commitments", `{"unit_id":"sqA1","title":"每月专题会议","activity":"会议","target":`+target+
			`,"period":"month","start":"2024-01-01","end":"2030-12-31"}`)
	}
	get := func(path string, hdr ...string) func(t *testing.T) Reply {
		return func(t *testing.T) Reply { return st.Client(t, st.AdminToken).Get(path, append(wait, hdr...)...) }
	}
	withType := func(path, body, ctype string) func(t *testing.T) Reply {
		return func(t *testing.T) Reply {
			req, err := http.NewRequest(http.MethodPost, st.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+st.AdminToken)
			req.Header.Set("Content-Type", ctype)
			return st.Client(t, st.AdminToken).send(req)
		}
	}
	evidence := func(filename string) func(t *testing.T) Reply {
		return func(t *testing.T) Reply {
			return st.Client(t, st.AdminToken).Upload("/api/v1/items/hostile-1/evidence",
				[]upload{{field: "file", filename: filename, data: []byte("整改会议记录")}}, wait...)
		}
	}
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	huge := `{"cycle_id":"y2024","unit_id":"sqA1","title":"t","deadline":"2030-06-30","description":"` + strings.Repeat("长", maxBody/3+10) + `"}`

	cases := []hostileCase{
		// Size.
		{"body over --max-body", post("/api/v1/items", huge), http.StatusRequestEntityTooLarge, "", "larger than the limit of 64 KiB"},
		{"Content-Length of 2 GB with a small body", func(t *testing.T) Reply { return rawLengthLie(t, st, 2<<30) },
			http.StatusRequestEntityTooLarge, "", "larger than the limit of 64 KiB"},
		// Structure.
		{"JSON nested 10,000 deep", raiseWith("description", deep), http.StatusBadRequest, "body", "nests deeper than 32 levels"},
		{"a key given twice", post("/api/v1/items", `{"cycle_id":"y2024","unit_id":"sqA1","title":"甲","title":"乙","deadline":"2030-06-30"}`),
			http.StatusBadRequest, "title", "more than once"},
		{"a key given twice in other case", post("/api/v1/items", `{"cycle_id":"y2024","unit_id":"sqA1","title":"甲","TITLE":"乙","deadline":"2030-06-30"}`),
			http.StatusBadRequest, "TITLE", "more than once"},
		{"trailing garbage after the object", post("/api/v1/items", raise("title", `"甲"`)+` {"x":1}`), http.StatusBadRequest, "body", "something follows"},
		{"trailing text after the object", post("/api/v1/items", raise("title", `"甲"`)+`garbage`), http.StatusBadRequest, "body", "something follows"},
		{"an array instead of an object", post("/api/v1/items", `[{"title":"甲"}]`), http.StatusBadRequest, "body", "must be a JSON object"},
		{"JSON cut short", post("/api/v1/items", `{"title":"甲`), http.StatusBadRequest, "body", "ends too early"},
		{"an unknown field", raiseWith("item_id", `"ok-id"`+`,"colour":"red"`), http.StatusBadRequest, "colour", "is not a field"},
		// Text.
		{"invalid UTF-8 in a title", raiseWith("title", "\"整改\xff\xfe不到位\""), http.StatusBadRequest, "title", "valid UTF-8"},
		{"a lone surrogate escape in a title", raiseWith("title", `"整改\ud800"`), http.StatusBadRequest, "title", "lone surrogate"},
		{"right-to-left override in a title", raiseWith("title", "\"报告\u202Efdp.exe\""), http.StatusBadRequest, "title", "bidirectional control"},
		{"bidi isolate in a description", raiseWith("description", "\"说明\u2067隔离\u2069\""), http.StatusBadRequest, "description", "bidirectional control"},
		{"NUL in a title", raiseWith("title", `"整改\u0000"`), http.StatusBadRequest, "title", "control characters"},
		{"zero-width space in a unit id", raiseWith("unit_id", "\"sq\u200bA1\""), http.StatusBadRequest, "unit_id", "A-Z a-z 0-9"},
		{"zero-width joiner in an item id", raiseWith("item_id", "\"item\u200d1\""), http.StatusBadRequest, "item_id", "A-Z a-z 0-9"},
		{"right-to-left mark in an item id", raiseWith("item_id", "\"\u200fitem\""), http.StatusBadRequest, "item_id", "A-Z a-z 0-9"},
		{"a title of 201 characters", raiseWith("title", `"`+strings.Repeat("整", 201)+`"`), http.StatusBadRequest, "title", "at most 200"},
		// Dates.
		{"deadline in year 0001", raiseWith("deadline", `"0001-01-01"`), http.StatusBadRequest, "deadline", "from 1900 to 2200"},
		{"deadline in year 99999", raiseWith("deadline", `"99999-01-01"`), http.StatusBadRequest, "deadline", "YYYY-MM-DD"},
		{"deadline on 30 February", raiseWith("deadline", `"2025-02-30"`), http.StatusBadRequest, "deadline", "not a calendar day"},
		{"deadline as a number", raiseWith("deadline", `20250101`), http.StatusBadRequest, "deadline", "YYYY-MM-DD"},
		{"deadline with a time", raiseWith("deadline", `"2025-06-30T00:00:00Z"`), http.StatusBadRequest, "deadline", "YYYY-MM-DD"},
		// Counts.
		{"target -1", commitWith("-1"), http.StatusBadRequest, "target", "positive"},
		{"target 1e12", commitWith("1e12"), http.StatusBadRequest, "target", "integer"},
		{"target 10^12 written out", commitWith("1000000000000"), http.StatusBadRequest, "target", "at most 100000"},
		{"target 1.5", commitWith("1.5"), http.StatusBadRequest, "target", "integer"},
		{"target \"3\"", commitWith(`"3"`), http.StatusBadRequest, "target", "integer"},
		{"target past int64", commitWith("99999999999999999999"), http.StatusBadRequest, "target", "integer"},
		{"activity count -1", post("/api/v1/commitments/hostile-c/activities", `{"count":-1,"occurred_on":"2024-05-06"}`),
			http.StatusBadRequest, "count", "positive"},
		{"progress 101 percent", post("/api/v1/items/hostile-1/progress", `{"percent":101}`), http.StatusBadRequest, "percent", "100"},
		{"expected revision -1", post("/api/v1/items/hostile-1/submit", `{"expected_revision":-1}`), http.StatusBadRequest, "expected_revision", "non-negative"},
		// Ids of the wrong kind.
		{"an item id where a unit id belongs", raiseWith("unit_id", `"hostile-1"`), http.StatusBadRequest, "unit_id", "no such unit"},
		{"a unit id where an item id belongs", post("/api/v1/items/sqA1/submit", `{}`), http.StatusNotFound, "", "item sqA1"},
		{"a commitment id where an item id belongs", post("/api/v1/items/hostile-c/progress", `{"percent":10}`), http.StatusNotFound, "", "item hostile-c"},
		{"a path id that disagrees with the body", post("/api/v1/items/hostile-1/progress", `{"item_id":"other","percent":10}`),
			http.StatusBadRequest, "item_id", "the id in the path"},
		// Evidence names.
		{"evidence named ../../etc/passwd.txt", evidence("../../etc/passwd.txt"), http.StatusBadRequest, "file", "not a path"},
		{"evidence named /etc/passwd.txt", evidence("/etc/passwd.txt"), http.StatusBadRequest, "file", "not a path"},
		{`evidence named C:\Windows\报告.txt`, evidence(`C:\Windows\报告.txt`), http.StatusBadRequest, "file", "not a path"},
		{"evidence named ..", evidence(".."), http.StatusBadRequest, "file", "not a path"},
		{"evidence with NUL in its name", evidence("报告\x00.txt"), http.StatusBadRequest, "body", "not a well-formed multipart"},
		{"evidence with an encoded NUL in its name", rawUpload(st, `form-data; name="file"; filename*=UTF-8''%E6%8A%A5%00.txt`, wait),
			http.StatusBadRequest, "file", "control characters"},
		{"evidence with an encoded ../ in its name", rawUpload(st, `form-data; name="file"; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd.txt`, wait),
			http.StatusBadRequest, "file", "not a path"},
		{"evidence with RLO in its name", evidence("报告\u202Etxt.exe"), http.StatusBadRequest, "file", "bidirectional"},
		{"evidence with no name", evidence(""), http.StatusBadRequest, "file", "no file name"},
		// Content types that lie.
		{"JSON sent as text/plain", withType("/api/v1/items", raise("title", `"甲"`), "text/plain"), http.StatusUnsupportedMediaType, "", "not text/plain"},
		{"JSON sent as multipart/form-data", withType("/api/v1/items", raise("title", `"甲"`), "multipart/form-data; boundary=x"),
			http.StatusUnsupportedMediaType, "", "not multipart/form-data"},
		{"a form sent to a JSON route", withType("/api/v1/items", "title=%E7%94%B2", "application/x-www-form-urlencoded"),
			http.StatusUnsupportedMediaType, "", "application/json"},
		{"evidence sent as JSON", withType("/api/v1/items/hostile-1/evidence", `{"file":"x"}`, "application/json"),
			http.StatusUnsupportedMediaType, "", "multipart/form-data"},
		{"HTML uploaded as a .txt file", func(t *testing.T) Reply {
			return st.Client(t, st.AdminToken).Upload("/api/v1/items/hostile-1/evidence",
				[]upload{{field: "file", filename: "说明.txt", data: []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")}}, wait...)
		}, http.StatusUnsupportedMediaType, "", "text/html"},
		// Query parameters, headers and paths.
		{"limit -1", get("/api/v1/items?limit=-1"), http.StatusBadRequest, "limit", ""},
		{"limit past int64", get("/api/v1/items?limit=99999999999999999999"), http.StatusBadRequest, "limit", "integer"},
		{"min_position -1", get("/api/v1/items?min_position=-1"), http.StatusBadRequest, "min_position", "non-negative"},
		{"today in year 0001", get("/api/v1/items?today=0001-01-01"), http.StatusBadRequest, "today", "from 1900 to 2200"},
		{"as_of that is neither a time nor a position", get("/api/v1/items?as_of=yesterday"), http.StatusBadRequest, "as_of", "position"},
		{"an unknown parameter", get("/api/v1/items?colour=red"), http.StatusBadRequest, "colour", "not a parameter"},
		{"a parameter given twice", get("/api/v1/items?rag=red&rag=green"), http.StatusBadRequest, "rag", "more than once"},
		{"a Last-Event-ID that is no position", get("/api/v1/stream", "Last-Event-ID", "abc"), http.StatusBadRequest, "Last-Event-ID", "not an event id"},
		{"a Last-Event-ID past uint64", get("/api/v1/stream", "Last-Event-ID", "184467440737095516150"), http.StatusBadRequest, "Last-Event-ID", "not an event id"},
		{"a last_event_id of -1", get("/api/v1/stream?last_event_id=-1"), http.StatusBadRequest, "last_event_id", "not an event id"},
		{"a topic of an unknown kind", get("/api/v1/stream?topic=file:../../etc"), http.StatusBadRequest, "topic", "want item:<id>"},
		{"an evidence id of ..", get("/api/v1/items/hostile-1/evidence/.."), http.StatusBadRequest, "eid", "evidence id"},
		{"a unit read as an item", get("/api/v1/items/sqA1"), http.StatusNotFound, "", "sqA1"},
		{"an Idempotency-Key with a line break", post("/api/v1/items", raise("title", `"甲"`), "Idempotency-Key", "a\u0085b"),
			http.StatusBadRequest, "Idempotency-Key", "printable ASCII"},
	}

	head := func() uint64 {
		t.Helper()
		h, err := st.Store.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, c := range cases {
		before := head()
		r := c.send(t)
		code, fields := r.ErrorFields(t)
		var body errorBody
		r.JSON(t, &body)
		problem := body.Error.Message
		for _, f := range body.Error.Fields {
			if f.Field == c.field {
				problem = f.Problem
			}
		}
		t.Logf("%-45s -> %d %s %v: %s", c.name, r.Status, code, fields, problem)
		switch {
		case r.Status != c.status:
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
		case c.field != "" && !slices.Contains(fields, c.field):
			t.Errorf("%s: the error names %v, not %s: %s", c.name, fields, c.field, r.Body)
		case !strings.Contains(problem, c.problem):
			t.Errorf("%s: the problem %q does not say %q", c.name, problem, c.problem)
		case body.Error.Code == events.CodeInternal || body.Error.Message == "":
			t.Errorf("%s: an unclear answer: %s", c.name, r.Body)
		}
		if after := head(); after != before {
			t.Errorf("%s: the store moved from %d to %d", c.name, before, after)
		}
	}

	// Unusual but legitimate text is kept exactly as given: mixed
	// Chinese, Arabic and Latin, the marks and joiners scripts need.
	accepted := []struct{ name, title, description string }{
		{"Chinese and Arabic mixed", "整改 تقرير العمل 2024 年度 report", "第一条：اجتماع شهري 每月一次"},
		{"a right-to-left mark between scripts", "东风社区\u200fمجتمع\u200e报告", "标记\u200e不改变顺序"},
		{"zero-width joiners in an emoji and Persian", "入户走访 👨\u200d👩\u200d👧", "می\u200cخواهم 走访"},
		{"combining marks and an unnormalised e", "cafe\u0301 咖啡 e\u0301", "Å Å"},
	}
	for i, a := range accepted {
		id := fmt.Sprintf("hostile-ok-%d", i)
		res := admin.MustPost("/api/v1/items", map[string]any{"item_id": id, "cycle_id": "y2024", "unit_id": "sqA1",
			"title": a.title, "description": a.description, "deadline": "2030-06-30"}, http.StatusCreated)
		var d query.ItemDetail
		admin.MustGet("/api/v1/items/"+id, &d, headerMinPosition, fmt.Sprint(res.Position))
		if d.Title != a.title || d.Description != a.description {
			t.Errorf("%s: read back %q / %q, want %q / %q", a.name, d.Title, d.Description, a.title, a.description)
		}
		t.Logf("%-45s -> 201, read back exactly", a.name)
	}
	t.Logf("%d hostile inputs, all refused cleanly; %d unusual but legitimate inputs accepted and read back exactly", len(cases), len(accepted))
}

// rawUpload uploads one small text file as evidence of hostile-1 with the
// part header Content-Disposition: disposition, as written.
func rawUpload(st *Stack, disposition string, hdr []string) func(t *testing.T) Reply {
	return func(t *testing.T) Reply {
		body := "--b\r\nContent-Disposition: " + disposition + "\r\n\r\n整改会议记录\r\n--b--\r\n"
		req, err := http.NewRequest(http.MethodPost, st.URL+"/api/v1/items/hostile-1/evidence", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+st.AdminToken)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return st.Client(t, st.AdminToken).send(req)
	}
}

// rawLengthLie sends a command whose Content-Length claims length bytes
// but whose body is a few, over a bare connection (net/http's client
// refuses to send such a request), and reads the answer.
func rawLengthLie(t *testing.T, st *Stack, length int64) Reply {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(st.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "POST /api/v1/items HTTP/1.1\r\nHost: rectify\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n{\"title\":\"甲\"}", st.AdminToken, length)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a Content-Length of %d: %v", length, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: []byte(b.String())}
}
