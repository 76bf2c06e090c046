package gateway

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/projections/query"
)

// Content types of evidence files.
const (
	typeDOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	typeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	typePPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	typeODT  = "application/vnd.oasis.opendocument.text"
	typeODS  = "application/vnd.oasis.opendocument.spreadsheet"
	typeODP  = "application/vnd.oasis.opendocument.presentation"
	typeDOC  = "application/msword"
	typeXLS  = "application/vnd.ms-excel"
	typePPT  = "application/vnd.ms-powerpoint"
	typeText = "text/plain; charset=utf-8"
	typeCSV  = "text/csv; charset=utf-8"
)

// DefaultEvidenceTypes are the content types evidence files may have:
// images, PDF, Office and OpenDocument files, plain text and CSV.
var DefaultEvidenceTypes = []string{
	"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp",
	"application/pdf",
	typeDOCX, typeXLSX, typePPTX, typeODT, typeODS, typeODP, typeDOC, typeXLS, typePPT,
	"text/plain", "text/csv",
}

// kinds of content, as far as telling a declared type from the real one
// goes: an upload declared as one kind must be of that kind.
const (
	kindImage  = "image"
	kindPDF    = "pdf"
	kindOffice = "office"
	kindText   = "text"
	kindOther  = "other"
)

// fileKind classifies a content type.
func fileKind(ct string) string {
	media, _, _ := mime.ParseMediaType(ct)
	switch {
	case strings.HasPrefix(media, "image/"):
		return kindImage
	case media == "application/pdf":
		return kindPDF
	case media == "text/plain" || media == "text/csv":
		return kindText
	case media == typeDOCX || media == typeXLSX || media == typePPTX || media == typeODT || media == typeODS || media == typeODP ||
		media == typeDOC || media == typeXLS || media == typePPT || media == "application/zip" || media == "application/x-zip-compressed":
		return kindOffice
	}
	return kindOther
}

// extensions lists the file name endings accepted for each stored type.
var extensions = map[string][]string{
	"image/png":       {".png"},
	"image/jpeg":      {".jpg", ".jpeg", ".jfif"},
	"image/gif":       {".gif"},
	"image/webp":      {".webp"},
	"image/bmp":       {".bmp"},
	"application/pdf": {".pdf"},
	typeDOCX:          {".docx"},
	typeXLSX:          {".xlsx"},
	typePPTX:          {".pptx"},
	typeODT:           {".odt"},
	typeODS:           {".ods"},
	typeODP:           {".odp"},
	typeDOC:           {".doc"},
	typeXLS:           {".xls"},
	typePPT:           {".ppt"},
	typeText:          {".txt", ".text", ".md", ".log"},
	typeCSV:           {".csv"},
}

// zipTypes: an Office Open XML or OpenDocument file is a zip archive; its
// type follows from its name and is confirmed by the part it must hold
// (for OpenDocument, the "mimetype" entry's content).
var zipTypes = map[string]struct{ ctype, part string }{
	".docx": {typeDOCX, "word/document.xml"},
	".xlsx": {typeXLSX, "xl/workbook.xml"},
	".pptx": {typePPTX, "ppt/presentation.xml"},
	".odt":  {typeODT, "mimetype"},
	".ods":  {typeODS, "mimetype"},
	".odp":  {typeODP, "mimetype"},
}

// oleTypes: the Office formats before 2007 are OLE compound files.
var oleTypes = map[string]string{".doc": typeDOC, ".xls": typeXLS, ".ppt": typePPT}

var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// evidenceStore keeps evidence files content-addressed under
// <root>/evidence/sha256/<first two hex digits>/<hash>. A file is written
// to a temporary file, synced, and linked into place only if no file has
// that name: a stored file is never overwritten or replaced.
type evidenceStore struct {
	root    string // <DataDir>/evidence, "" when no data directory is set
	max     int64
	allowed []string
}

func newEvidenceStore(dataDir string, max int64, allowed []string) *evidenceStore {
	st := &evidenceStore{max: max, allowed: allowed}
	if dataDir != "" {
		st.root = filepath.Join(dataDir, "evidence")
	}
	return st
}

// storedFile describes a file the store holds.
type storedFile struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
}

// path is where the file with the given hash lives.
func (st *evidenceStore) path(hash string) string {
	return filepath.Join(st.root, "sha256", hash[:2], hash)
}

// put stores the bytes of r, at most st.max of them, as a file named name
// whose sender declared the content type declared.
//
// Errors: a 413 past the size limit; a 415 when the content is not of an
// accepted type, does not match the name's extension, or is not what was
// declared; CodeInvalid for an empty file; CodeInternal when a different
// file already has the name the hash gives (never overwritten).
func (st *evidenceStore) put(r io.Reader, name, declared string) (storedFile, error) {
	if st.root == "" {
		return storedFile{}, events.Errorf(events.CodeUnavailable, "this server keeps no evidence files: it has no data directory")
	}
	tmpDir := filepath.Join(st.root, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return storedFile{}, events.Wrap(events.CodeInternal, err, "evidence directory")
	}
	tmp, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return storedFile{}, events.Wrap(events.CodeInternal, err, "evidence temporary file")
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	h := sha256.New()
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return storedFile{}, uploadReadError(err)
	}
	head = head[:n]
	w := io.MultiWriter(tmp, h)
	if _, err := w.Write(head); err != nil {
		return storedFile{}, events.Wrap(events.CodeInternal, err, "write evidence")
	}
	rest, err := io.Copy(w, io.LimitReader(r, st.max-int64(n)+1))
	if err != nil {
		return storedFile{}, uploadReadError(err)
	}
	size := int64(n) + rest
	switch {
	case size > st.max:
		return storedFile{}, tooLarge("the file", st.max)
	case size == 0:
		return storedFile{}, events.InvalidField(events.Fault("file", events.ProblemEmpty, "is empty"))
	}
	ctype, err := st.detect(head, name, declared, tmp, size)
	if err != nil {
		return storedFile{}, err
	}
	if err := tmp.Sync(); err != nil {
		return storedFile{}, events.Wrap(events.CodeInternal, err, "sync evidence")
	}
	hash := hex.EncodeToString(h.Sum(nil))
	if err := st.place(tmp.Name(), hash, size); err != nil {
		return storedFile{}, err
	}
	return storedFile{Name: name, Size: size, SHA256: hash, ContentType: ctype}, nil
}

func uploadReadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge("the upload", mbe.Limit)
	}
	return events.Wrap(events.CodeInvalid, err, "the upload broke off: %v", err)
}

// formReadError words a failure to read the next part of a multipart
// form: a 413 past the limit, otherwise a form that is not well formed
// (a part's header with a NUL in it, a missing boundary), naming "body".
func formReadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge("the upload", mbe.Limit)
	}
	return events.Invalid("body", "is not a well-formed multipart/form-data body: "+err.Error())
}

// place links the synced temporary file into its content address, unless
// a file is there already; then that file must hold the same bytes.
func (st *evidenceStore) place(tmp, hash string, size int64) error {
	final := st.path(hash)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return events.Wrap(events.CodeInternal, err, "evidence directory")
	}
	// A hard link is created only when the name is free: no window in
	// which a reader sees a half-written file, and never a replacement.
	err := os.Link(tmp, final)
	if errors.Is(err, fs.ErrExist) {
		same, cerr := sameFile(tmp, final, size)
		if cerr != nil {
			return events.Wrap(events.CodeInternal, cerr, "compare evidence %s", hash)
		}
		if !same {
			return events.Errorf(events.CodeInternal, "a different file is stored as evidence %s; it was kept, the upload refused", hash)
		}
		return nil
	}
	if err != nil {
		return events.Wrap(events.CodeInternal, err, "store evidence %s", hash)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the new name durable
		d.Close()
	}
	return nil
}

// sameFile reports whether two files hold the same bytes.
func sameFile(a, b string, size int64) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	if st, err := fb.Stat(); err != nil || st.Size() != size {
		return false, err
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

// detect works out the content type to record from the bytes: it sniffs
// them (http.DetectContentType, and the archive for Office files), checks
// the name's extension fits, and refuses content that is not what the
// sender declared.
func (st *evidenceStore) detect(head []byte, name, declared string, f io.ReaderAt, size int64) (string, error) {
	sniffed := http.DetectContentType(head)
	ext := strings.ToLower(filepath.Ext(name))
	ctype := ""
	switch media, _, _ := mime.ParseMediaType(sniffed); media {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/pdf":
		ctype = media
	case "text/plain":
		if strings.HasSuffix(sniffed, "charset=utf-8") && utf8.Valid(trimPartialRune(head)) {
			ctype = typeText
			if ext == ".csv" {
				ctype = typeCSV
			}
		}
	case "application/zip":
		if zt, ok := zipTypes[ext]; ok && zipHolds(f, size, zt.part, zt.ctype) {
			ctype = zt.ctype
		}
	case "application/octet-stream":
		if t, ok := oleTypes[ext]; ok && bytes.HasPrefix(head, oleMagic) {
			ctype = t
		}
	}
	if ctype == "" {
		return "", unsupportedType("the content of %q is %s, which is not accepted as evidence (images, PDF, Office documents, plain text)", name, describeType(sniffed, ext))
	}
	if !slices.Contains(extensions[ctype], ext) {
		return "", unsupportedType("%q is named like %s but its content is %s; name the file for what it is", name, extOrNone(ext), ctype)
	}
	if declared != "" && declared != "application/octet-stream" {
		if dk := fileKind(declared); dk != fileKind(ctype) {
			return "", unsupportedType("%q was declared as %s but its content is %s", name, declared, ctype)
		}
	}
	media, _, _ := mime.ParseMediaType(ctype)
	if !slices.Contains(st.allowed, media) && !slices.Contains(st.allowed, ctype) {
		return "", unsupportedType("evidence of type %s is not accepted here", media)
	}
	return ctype, nil
}

func describeType(sniffed, ext string) string {
	if sniffed == "application/zip" {
		return "a zip archive that is not a " + extOrNone(ext) + " document"
	}
	return sniffed
}

func extOrNone(ext string) string {
	if ext == "" {
		return "nothing (no extension)"
	}
	return ext
}

// trimPartialRune drops a rune cut in half at the end of a sniffed head.
func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

// zipHolds reports whether the zip archive f holds the entry part; for
// "mimetype" (OpenDocument) the entry must also say ctype.
func zipHolds(f io.ReaderAt, size int64, part, ctype string) bool {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return false
	}
	for _, zf := range zr.File {
		if zf.Name != part {
			continue
		}
		if part != "mimetype" {
			return true
		}
		rc, err := zf.Open()
		if err != nil {
			return false
		}
		b, err := io.ReadAll(io.LimitReader(rc, 200))
		rc.Close()
		return err == nil && strings.TrimSpace(string(b)) == ctype
	}
	return false
}

// sanitizeFileName makes an uploaded file's name safe to record and to
// send back: the last path element only (whichever separator the sender's
// system uses), no control, bidirectional control or reserved characters,
// no leading or trailing dots or spaces, valid UTF-8, at most
// events.MaxNameLen*2 characters with the extension kept. Chinese and
// other letters stay as they are.
func sanitizeFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || events.IsBidiControl(r) || strings.ContainsRune(`<>:"|?*`, r) || r == utf8.RuneError {
			return '_'
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	const max = events.MaxNameLen * 2
	if utf8.RuneCountInString(name) > max {
		ext := filepath.Ext(name)
		if utf8.RuneCountInString(ext) > 20 {
			ext = ""
		}
		base := []rune(strings.TrimSuffix(name, ext))
		name = string(base[:max-utf8.RuneCountInString(ext)]) + ext
	}
	if name == "" {
		name = "evidence"
	}
	return name
}

// uploadNameProblem says what is wrong with the file name an upload's part
// gives, as sent (multipart's FileName keeps only the last element of a
// path): a path, a name with control or bidirectional control characters,
// or none at all. Browsers send the bare name of the file chosen, so only
// a hand-made request is refused; sanitizeFileName then makes whatever
// passes safe to record.
func uploadNameProblem(part *multipart.Part) string {
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	name, ok := params["filename"]
	switch {
	case err != nil:
		return "the part's Content-Disposition cannot be read: " + err.Error()
	case !ok || strings.TrimSpace(name) == "":
		return "has no file name: send the file's name, such as 整改报告.pdf, in the part's filename"
	case !utf8.ValidString(name):
		return "the file name must be valid UTF-8"
	case strings.ContainsAny(name, `/\`) || name == "." || name == "..":
		return fmt.Sprintf("the file name must be a plain name such as 整改报告.pdf, not a path (%q)", name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Sprintf("the file name must not contain control characters (%q)", name)
	case strings.ContainsFunc(name, events.IsBidiControl):
		return fmt.Sprintf("the file name must not contain bidirectional control characters, which make it read as another name (%q)", name)
	}
	return ""
}

// inlineTypes are the content types a download is shown inline with:
// raster images and PDF, which browsers display without running anything
// of the file. Everything else, SVG (an image that may carry script) and
// HTML included, is an attachment.
var inlineTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/pdf"}

// contentDisposition is the Content-Disposition of a download: inline for
// inlineTypes, attachment for the rest, with an ASCII fallback name and
// the exact name as RFC 5987 filename*.
func contentDisposition(name, ctype string) string {
	disp := "attachment"
	if media, _, err := mime.ParseMediaType(ctype); err == nil && slices.Contains(inlineTypes, media) {
		disp = "inline"
	}
	fallback := strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, disp, fallback, rfc5987(name))
}

// rfc5987 percent-encodes s as an RFC 5987 ext-value (after the charset).
func rfc5987(s string) string {
	const attrChars = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(attrChars, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// evidenceReply is the reply to an upload: the command's result and what
// was stored.
type evidenceReply struct {
	commandResult
	Evidence evidenceInfo `json:"evidence"`
}

type evidenceInfo struct {
	ID string `json:"id"`
	storedFile
}

// maxFormValue bounds the small fields of an upload.
const maxFormValue = 256

// uploadEvidence stores a multipart upload's file and attaches it to the
// item with item.attach_evidence. The item must be in the caller's scope
// (404 otherwise) before anything is stored.
func (s *Server) uploadEvidence(c *gin.Context) {
	const name = "item.attach_evidence"
	p := principalOf(c)
	if err := precheck(p, name, ""); err != nil {
		s.writeError(c, err)
		return
	}
	itemID := c.Param("id")
	if !events.ValidID(itemID) {
		s.writeError(c, events.InvalidField(events.Fault("item_id", events.ProblemBadID, "must be 1 to 64 characters of A-Z a-z 0-9 _ -")))
		return
	}
	minPos, err := minPosition(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if _, err := s.itemDetail(c.Request.Context(), p.Scope(), itemID, minPos); err != nil {
		s.writeError(c, err)
		return
	}
	// The whole request may exceed the file by its other parts and the
	// multipart framing; the file itself is bounded in put.
	if err := checkLength(c, s.cfg.MaxEvidenceBytes+64<<10, "the upload"); err != nil {
		s.writeError(c, err)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxEvidenceBytes+64<<10)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		s.writeError(c, unsupportedType("send the evidence as multipart/form-data with the file in a part named \"file\""))
		return
	}
	cmd := map[string]any{"item_id": itemID}
	var file *storedFile
	var v events.Validator
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.writeError(c, formReadError(err))
			return
		}
		field := part.FormName()
		switch field {
		case "file":
			if file != nil {
				v.Add("file", "is given more than once; upload one file at a time")
				part.Close()
				continue
			}
			if problem := uploadNameProblem(part); problem != "" {
				part.Close()
				s.writeError(c, events.Invalid("file", problem))
				return
			}
			st, err := s.evidence.put(part, sanitizeFileName(part.FileName()), part.Header.Get("Content-Type"))
			part.Close()
			if err != nil {
				s.writeError(c, err)
				return
			}
			file = &st
		case "evidence_id", "expected_revision":
			val, err := formValue(part)
			if err != nil {
				v.Add(field, err.Error())
				continue
			}
			if field == "evidence_id" {
				cmd[field] = val
			} else if n, err := strconv.ParseUint(val, 10, 64); err != nil {
				v.Add(field, "must be a non-negative integer")
			} else {
				cmd[field] = n
			}
		case "note":
			part.Close()
			v.Add("note", "is not recorded with evidence yet: the evidence event has no note; report progress with the note instead")
		default:
			part.Close()
			v.Add(field, "is not a field of an evidence upload (file, evidence_id, expected_revision)")
		}
	}
	if file == nil {
		v.Add("file", "is required")
	}
	if err := v.Err(); err != nil {
		s.writeError(c, err)
		return
	}
	cmd["name"], cmd["size"], cmd["sha256"], cmd["content_type"] = file.Name, file.Size, file.SHA256, file.ContentType
	data, err := json.Marshal(cmd)
	if err != nil {
		s.writeError(c, events.Wrap(events.CodeInternal, err, "encode command"))
		return
	}
	if _, err := events.DecodeCommand(name, data); err != nil {
		s.writeError(c, err)
		return
	}
	rep, ok := s.send(c, name, data)
	if !ok {
		return
	}
	rt := &route{path: c.FullPath(), created: true}
	s.replyCommand(c, rt, rep, evidenceReply{commandResult: resultOf(rep), Evidence: evidenceInfo{ID: rep.Extra["evidence_id"], storedFile: *file}})
}

// formValue reads a small text part of a multipart form.
func formValue(part *multipart.Part) (string, error) {
	defer part.Close()
	b, err := io.ReadAll(io.LimitReader(part, maxFormValue+1))
	if err != nil {
		return "", fmt.Errorf("could not be read: %v", err)
	}
	if len(b) > maxFormValue {
		return "", fmt.Errorf("must be at most %d bytes", maxFormValue)
	}
	return string(b), nil
}

// itemDetail reads one item through the ledger with the caller's scope:
// CodeNotFound when it does not exist or lies outside the scope.
func (s *Server) itemDetail(ctx context.Context, scope query.Scope, itemID string, minPos uint64) (query.ItemDetail, error) {
	params, _ := json.Marshal(query.ItemParams{ItemID: itemID})
	resp, err := s.ask(ctx, "ledger", "get", query.Request{MinPosition: minPos, Scope: scope, Params: params})
	if err != nil {
		return query.ItemDetail{}, err
	}
	var d query.ItemDetail
	if err := json.Unmarshal(resp.Data, &d); err != nil {
		return query.ItemDetail{}, events.Wrap(events.CodeInternal, err, "decode item")
	}
	return d, nil
}

// downloadEvidence sends an evidence file of an item in the caller's
// scope, with its recorded type, never sniffed by the browser.
func (s *Server) downloadEvidence(c *gin.Context) {
	p := principalOf(c)
	itemID, evID := c.Param("id"), c.Param("eid")
	var v events.Validator
	v.Check(events.ValidID(itemID), "id", "must be an item id")
	v.Check(events.ValidID(evID), "eid", "must be an evidence id")
	if err := v.Err(); err != nil {
		s.writeError(c, err)
		return
	}
	minPos, err := minPosition(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	d, err := s.itemDetail(c.Request.Context(), p.Scope(), itemID, minPos)
	if err != nil {
		s.writeError(c, err)
		return
	}
	i := slices.IndexFunc(d.Evidence, func(e query.Evidence) bool { return e.ID == evID })
	if i < 0 {
		s.writeError(c, events.Errorf(events.CodeNotFound, "item %s has no evidence %s", itemID, evID))
		return
	}
	ev := d.Evidence[i]
	if s.evidence.root == "" || !events.ValidSHA256(ev.SHA256) {
		s.writeError(c, events.Errorf(events.CodeNotFound, "the file of evidence %s is not kept on this server", evID))
		return
	}
	f, err := os.Open(s.evidence.path(ev.SHA256))
	if errors.Is(err, fs.ErrNotExist) {
		s.writeError(c, events.Errorf(events.CodeNotFound, "the file of evidence %s is not kept on this server", evID))
		return
	}
	if err != nil {
		s.writeError(c, events.Wrap(events.CodeInternal, err, "open evidence"))
		return
	}
	defer f.Close()
	ctype := ev.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := c.Writer.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", contentDisposition(ev.Name, ctype))
	if fileKind(ctype) != kindPDF {
		// Whatever a browser makes of the file, it runs nothing from it.
		h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
	}
	h.Set("Cache-Control", "private, max-age=3600, immutable")
	h.Set("ETag", `"`+ev.SHA256+`"`)
	var mod time.Time
	if !ev.UploadedAt.IsZero() {
		mod = ev.UploadedAt
	}
	http.ServeContent(c.Writer, c.Request, "", mod, f)
}
