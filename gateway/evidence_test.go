package gateway

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/natsx"
)

// pngBytes is a real PNG picture of w x h pixels.
func pngBytes(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 13), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// zipBytes is a zip archive holding the named entries.
func zipBytes(tb testing.TB, entries map[string]string) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range entries {
		w, err := zw.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestEvidenceUploadAndDownload(t *testing.T) {
	st := MustStartStack(t, func(c *Config) { c.MaxEvidenceBytes = 256 << 10 })
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	admin.MustPost("/api/v1/items", map[string]any{"item_id": "i1", "cycle_id": "y2024", "unit_id": "sqA", "title": "阵地建设不规范", "deadline": "2030-06-30"}, http.StatusCreated)
	raised := admin.MustPost("/api/v1/items", map[string]any{"item_id": "i2", "cycle_id": "y2024", "unit_id": "sqA", "title": "制度上墙", "deadline": "2030-06-30"}, http.StatusCreated)

	// The upload waits, like a query, for the view to know the new item.
	photo := pngBytes(t, 64, 48)
	r := admin.Upload("/api/v1/items/i1/evidence", []upload{{field: "file", filename: "整改前后对比照片.png", ctype: "image/png", data: photo}},
		headerMinPosition, fmt.Sprint(raised.Position))
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	var up evidenceReply
	r.JSON(t, &up)
	if up.Evidence.ID == "" || up.Evidence.Name != "整改前后对比照片.png" || up.Evidence.Size != int64(len(photo)) ||
		up.Evidence.SHA256 != sha(photo) || up.Evidence.ContentType != "image/png" || up.Position == 0 {
		t.Fatalf("upload replied %+v", up)
	}
	// Stored content-addressed, byte for byte.
	stored := filepath.Join(st.DataDir, "evidence", "sha256", sha(photo)[:2], sha(photo))
	if b, err := os.ReadFile(stored); err != nil || !bytes.Equal(b, photo) {
		t.Fatalf("stored file %s: %v", stored, err)
	}
	// The event records name, size, hash, type and uploader.
	var d query.ItemDetail
	admin.MustGet(fmt.Sprintf("/api/v1/items/i1?min_position=%d", up.Position), &d)
	if len(d.Evidence) != 1 {
		t.Fatalf("item shows evidence %+v", d.Evidence)
	}
	if ev := d.Evidence[0]; ev.ID != up.Evidence.ID || ev.Name != "整改前后对比照片.png" || ev.Size != int64(len(photo)) ||
		ev.SHA256 != sha(photo) || ev.ContentType != "image/png" || ev.UploadedBy != "admin" {
		t.Errorf("recorded evidence %+v", ev)
	}

	// Download: the bytes, the recorded type, no sniffing, inline for a
	// picture, and the exact Chinese name.
	dl := admin.Get("/api/v1/items/i1/evidence/" + up.Evidence.ID)
	if dl.Status != http.StatusOK || !bytes.Equal(dl.Body, photo) {
		t.Fatalf("download: %d, %d bytes", dl.Status, len(dl.Body))
	}
	if dl.Header.Get("Content-Type") != "image/png" || dl.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("download headers %v", dl.Header)
	}
	disp, params, err := mime.ParseMediaType(dl.Header.Get("Content-Disposition"))
	if err != nil || disp != "inline" || params["filename"] != "整改前后对比照片.png" {
		t.Errorf("Content-Disposition %q: %s %v %v", dl.Header.Get("Content-Disposition"), disp, params, err)
	}
	if !strings.Contains(dl.Header.Get("Content-Disposition"), "filename*=UTF-8''"+url.PathEscape("整改前后对比照片.png")) {
		t.Errorf("Content-Disposition %q lacks the RFC 5987 name", dl.Header.Get("Content-Disposition"))
	}
	if r := admin.Get("/api/v1/items/i1/evidence/"+up.Evidence.ID, "If-None-Match", `"`+sha(photo)+`"`); r.Status != http.StatusNotModified {
		t.Errorf("conditional download: %d", r.Status)
	}
	if r := admin.Get("/api/v1/items/i1/evidence/nope"); r.Status != http.StatusNotFound {
		t.Errorf("unknown evidence: %d", r.Status)
	}
	if r := admin.Get("/api/v1/items/i2/evidence/" + up.Evidence.ID); r.Status != http.StatusNotFound {
		t.Errorf("evidence of i1 through i2: %d", r.Status)
	}

	// An Office document is recognised from its archive and downloaded as
	// an attachment. (A name that is a path is refused: TestHostileInputsAreRefusedCleanly.)
	docx := zipBytes(t, map[string]string{"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"})
	r = admin.Upload("/api/v1/items/i1/evidence", []upload{{field: "file", filename: "整改报告.docx", data: docx}}, "Idempotency-Key", "doc-1")
	if r.Status != http.StatusCreated {
		t.Fatalf("docx upload: %d %s", r.Status, r.Body)
	}
	var doc evidenceReply
	r.JSON(t, &doc)
	if doc.Evidence.ContentType != typeDOCX || doc.Evidence.Name != "整改报告.docx" {
		t.Errorf("docx recorded as %+v", doc.Evidence)
	}
	dl = admin.Get(fmt.Sprintf("/api/v1/items/i1/evidence/%s?min_position=%d", doc.Evidence.ID, doc.Position))
	if disp, _, _ := mime.ParseMediaType(dl.Header.Get("Content-Disposition")); dl.Status != http.StatusOK || disp != "attachment" || dl.Header.Get("Content-Type") != typeDOCX {
		t.Errorf("docx download: %d %v", dl.Status, dl.Header)
	}
	// The same upload retried with its key attaches once.
	r = admin.Upload("/api/v1/items/i1/evidence", []upload{{field: "file", filename: "整改报告.docx", data: docx}}, "Idempotency-Key", "doc-1")
	var again evidenceReply
	r.JSON(t, &again)
	if r.Status != http.StatusCreated || again.Evidence.ID != doc.Evidence.ID || again.Position != doc.Position {
		t.Errorf("retried upload: %d %+v, first %+v", r.Status, again, doc)
	}

	// The same bytes for another item: one file, never rewritten.
	info, _ := os.Stat(stored)
	r = admin.Upload("/api/v1/items/i2/evidence", []upload{{field: "file", filename: "照片.png", data: photo}})
	if r.Status != http.StatusCreated {
		t.Fatalf("second upload of the photo: %d %s", r.Status, r.Body)
	}
	if info2, _ := os.Stat(stored); !os.SameFile(info, info2) || !info2.ModTime().Equal(info.ModTime()) {
		t.Errorf("the stored photo was replaced")
	}
	// A different file under a taken name is refused, and the stored one kept.
	if err := os.Chmod(stored, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stored, append([]byte{}, photo[:len(photo)-1]...), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := admin.Upload("/api/v1/items/i2/evidence", []upload{{field: "file", filename: "照片.png", data: photo}}); r.Status != http.StatusInternalServerError {
		t.Errorf("upload over a different stored file: %d %s", r.Status, r.Body)
	}
	if b, _ := os.ReadFile(stored); len(b) != len(photo)-1 {
		t.Errorf("the stored file was overwritten")
	}
}

func TestEvidenceIsRefusedWhenItLies(t *testing.T) {
	st := MustStartStack(t, func(c *Config) { c.MaxEvidenceBytes = 64 << 10 })
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	raised := admin.MustPost("/api/v1/items", map[string]any{"item_id": "i1", "cycle_id": "y2024", "unit_id": "sqA", "title": "阵地建设", "deadline": "2030-06-30"}, http.StatusCreated)
	admin.MustGet(fmt.Sprintf("/api/v1/items/i1?min_position=%d", raised.Position), nil)
	html := []byte("<!DOCTYPE html><html><body><script>alert('整改')</script></body></html>")
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), make([]byte, 600)...)
	big := append(pngBytes(t, 8, 8), make([]byte, 70<<10)...)
	for _, c := range []struct {
		name   string
		parts  []upload
		status int
		field  string
	}{
		{"HTML declared as PNG", []upload{{field: "file", filename: "照片.png", ctype: "image/png", data: html}}, 415, ""},
		{"an executable declared as PNG", []upload{{field: "file", filename: "照片.png", ctype: "image/png", data: exe}}, 415, ""},
		{"a PNG named .pdf", []upload{{field: "file", filename: "报告.pdf", data: pngBytes(t, 4, 4)}}, 415, ""},
		{"a PNG declared as PDF", []upload{{field: "file", filename: "照片.png", ctype: "application/pdf", data: pngBytes(t, 4, 4)}}, 415, ""},
		{"a zip named .docx", []upload{{field: "file", filename: "报告.docx", data: zipBytes(t, map[string]string{"a.txt": "x"})}}, 415, ""},
		{"too large", []upload{{field: "file", filename: "大照片.png", data: big}}, 413, ""},
		{"empty", []upload{{field: "file", filename: "空.txt", data: nil}}, 400, "file"},
		{"no file", []upload{{field: "evidence_id", data: []byte("e1")}}, 400, "file"},
		{"a note", []upload{{field: "file", filename: "说明.txt", data: []byte("整改说明")}, {field: "note", data: []byte("备注")}}, 400, "note"},
		{"an unknown field", []upload{{field: "file", filename: "说明.txt", data: []byte("整改说明")}, {field: "colour", data: []byte("red")}}, 400, "colour"},
	} {
		r := admin.Upload("/api/v1/items/i1/evidence", c.parts)
		if r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
			continue
		}
		code, fields := r.ErrorFields(t)
		if code != events.CodeInvalid || (c.field != "" && !slices.Contains(fields, c.field)) {
			t.Errorf("%s: %s %v", c.name, code, fields)
		}
	}
	if r := admin.Post("/api/v1/items/i1/evidence", map[string]any{"name": "x", "sha256": strings.Repeat("a", 64), "size": 1}); r.Status != http.StatusUnsupportedMediaType {
		t.Errorf("evidence claimed as JSON: %d %s", r.Status, r.Body)
	}
	// Nothing was attached and no stray file was kept.
	var d query.ItemDetail
	admin.MustGet("/api/v1/items/i1", &d)
	if len(d.Evidence) != 0 {
		t.Errorf("refused uploads attached %+v", d.Evidence)
	}
	tmp, _ := os.ReadDir(filepath.Join(st.DataDir, "evidence", "tmp"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// Plain text in Chinese is welcome.
	r := admin.Upload("/api/v1/items/i1/evidence", []upload{{field: "file", filename: "整改说明.txt", ctype: "text/plain", data: []byte("已召开专题会议，制定整改方案。")}})
	if r.Status != http.StatusCreated {
		t.Errorf("text upload: %d %s", r.Status, r.Body)
	}
}

// TestEvidenceDownloadHeaders: every download is sent with nosniff and a
// sandboxing Content-Security-Policy; only raster images and PDF are shown
// inline, everything else is an attachment. HTML and SVG never come back
// inline: as .html or .svg they are refused at upload, disguised as text
// they are stored and sent back as a text/plain attachment, and an SVG
// recorded by some other way than the upload (a command sent on NATS) is
// still an attachment.
func TestEvidenceDownloadHeaders(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	raised := admin.MustPost("/api/v1/items", map[string]any{"item_id": "hd1", "cycle_id": "y2024", "unit_id": "sqA", "title": "下载头测试", "deadline": "2030-06-30"}, http.StatusCreated)
	wait := []string{headerMinPosition, fmt.Sprint(raised.Position)}
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert('整改')</script></svg>`)
	html := []byte("<!DOCTYPE html><html><body><script>alert('整改')</script></body></html>")

	for _, c := range []struct{ name, filename, ctype string }{
		{"HTML as .html", "说明.html", ""},
		{"HTML as .htm declared text/html", "说明.htm", "text/html"},
		{"SVG as .svg", "图.svg", "image/svg+xml"},
		{"SVG as .svg without a type", "图.svg", ""},
	} {
		data := html
		if strings.Contains(c.name, "SVG") {
			data = svg
		}
		if r := admin.Upload("/api/v1/items/hd1/evidence", []upload{{field: "file", filename: c.filename, ctype: c.ctype, data: data}}, wait...); r.Status != http.StatusUnsupportedMediaType {
			t.Errorf("%s: %d %s, want 415", c.name, r.Status, r.Body)
		}
	}

	pdf := []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	uploads := []struct {
		name, filename string
		data           []byte
		disposition    string
		ctype          string
	}{
		{"a PNG", "照片.png", pngBytes(t, 5, 5), "inline", "image/png"},
		{"a PDF", "报告.pdf", pdf, "inline", "application/pdf"},
		{"plain text", "说明.txt", []byte("整改说明：已完成。"), "attachment", "text/plain; charset=utf-8"},
		{"SVG disguised as text", "图.txt", svg, "attachment", "text/plain; charset=utf-8"},
		{"a CSV", "台账.csv", []byte("事项,状态\n走访,完成\n"), "attachment", "text/csv; charset=utf-8"},
	}
	for _, u := range uploads {
		r := admin.Upload("/api/v1/items/hd1/evidence", []upload{{field: "file", filename: u.filename, data: u.data}}, wait...)
		if r.Status != http.StatusCreated {
			t.Fatalf("%s: upload %d %s", u.name, r.Status, r.Body)
		}
		var ev evidenceReply
		r.JSON(t, &ev)
		wait = []string{headerMinPosition, fmt.Sprint(ev.Position)}
		dl := admin.Get("/api/v1/items/hd1/evidence/"+ev.Evidence.ID, wait...)
		checkDownload(t, u.name, dl, u.ctype, u.disposition, u.filename)
	}

	// An SVG recorded without the upload's checks.
	hash := sha(svg)
	dir := filepath.Join(st.DataDir, "evidence", "sha256", hash[:2])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hash), svg, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf(`{"item_id":"hd1","evidence_id":"svg1","name":"图.svg","size":%d,"sha256":%q,"content_type":"image/svg+xml"}`, len(svg), hash)
	rep, err := natsx.SendCommand(context.Background(), st.NC, "item.attach_evidence", natsx.CommandRequest{Actor: "admin", Command: []byte(cmd)})
	if err != nil {
		t.Fatal(err)
	}
	dl := admin.Get("/api/v1/items/hd1/evidence/svg1", headerMinPosition, fmt.Sprint(rep.Position))
	checkDownload(t, "an SVG recorded on NATS", dl, "image/svg+xml", "attachment", "图.svg")
	t.Logf("tried: 4 HTML and SVG uploads, %d downloads of accepted types, 1 SVG recorded around the upload; found: the first refused, "+
		"only PNG and PDF inline, every download with nosniff and a sandbox", len(uploads))
}

// checkDownload checks a download's status, type, disposition and the
// headers that keep a browser from running it.
func checkDownload(t *testing.T, name string, dl Reply, ctype, disposition, filename string) {
	t.Helper()
	if dl.Status != http.StatusOK {
		t.Errorf("%s: download %d %s", name, dl.Status, dl.Body)
		return
	}
	disp, params, err := mime.ParseMediaType(dl.Header.Get("Content-Disposition"))
	switch {
	case dl.Header.Get("Content-Type") != ctype:
		t.Errorf("%s: Content-Type %q, want %q", name, dl.Header.Get("Content-Type"), ctype)
	case err != nil || disp != disposition || params["filename"] != filename:
		t.Errorf("%s: Content-Disposition %q, want %s for %s", name, dl.Header.Get("Content-Disposition"), disposition, filename)
	case dl.Header.Get("X-Content-Type-Options") != "nosniff":
		t.Errorf("%s: no nosniff: %v", name, dl.Header)
	}
	csp := dl.Header.Get("Content-Security-Policy")
	if ctype != "application/pdf" && (!strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'")) {
		t.Errorf("%s: Content-Security-Policy %q does not sandbox the file", name, csp)
	}
}

func TestSanitizeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"../../etc/passwd":                "passwd",
		`..\..\windows\整改.png`:            "整改.png",
		"整改 报告.docx":                      "整改 报告.docx",
		"..":                              "evidence",
		"":                                "evidence",
		"a\x00b\nc.txt":                   "a_b_c.txt",
		`re<po>rt:"1"|?*.pdf`:             "re_po_rt__1____.pdf",
		" .hidden. ":                      "hidden",
		"\xff\xfe坏.txt":                   "_坏.txt",
		strings.Repeat("长", 300) + ".pdf": strings.Repeat("长", 196) + ".pdf",
	} {
		if got := sanitizeFileName(in); got != want {
			t.Errorf("sanitizeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzFileNames: whatever name a client sends, the recorded name is safe
// (one path element, no control or reserved characters, valid UTF-8,
// bounded), stable, and survives the Content-Disposition round trip.
func FuzzFileNames(f *testing.F) {
	for _, s := range []string{"整改报告.docx", "../../etc/passwd", `C:\a\b.png`, "\x00", "..", "a\"b\\c%20.txt", strings.Repeat("长", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name := sanitizeFileName(in)
		if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "/\\<>:\"|?*") || utf8.RuneCountInString(name) > events.MaxNameLen*2 {
			t.Fatalf("sanitizeFileName(%q) = %q", in, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) {
				t.Fatalf("sanitizeFileName(%q) = %q keeps a control character", in, name)
			}
		}
		if again := sanitizeFileName(name); again != name {
			t.Fatalf("sanitizeFileName is not stable: %q then %q", name, again)
		}
		_, params, err := mime.ParseMediaType(contentDisposition(name, "application/pdf"))
		if err != nil || params["filename"] != name {
			t.Fatalf("Content-Disposition of %q reads back %q (%v)", name, params["filename"], err)
		}
		// The name as an upload sends it (RFC 5987, so that any byte can
		// travel): refused with a problem, or a plain name.
		body := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''" + url.PathEscape(in) + "\r\n\r\nx\r\n--b--\r\n"
		part, err := multipart.NewReader(strings.NewReader(body), "b").NextPart()
		if err != nil {
			return
		}
		if uploadNameProblem(part) == "" {
			_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			raw := params["filename"]
			if raw == "" || raw == ".." || strings.ContainsAny(raw, "/\\") || strings.ContainsFunc(raw, unicode.IsControl) ||
				strings.ContainsFunc(raw, events.IsBidiControl) || !utf8.ValidString(raw) {
				t.Fatalf("the upload name %q was accepted", raw)
			}
		}
	})
}
