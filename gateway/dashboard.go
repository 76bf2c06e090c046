package gateway

// The dashboard: the single-page application of gateway/web, served at /
// (index.html) and /ui/<file> (its scripts, styles and dictionaries).
//
// The dashboard's paths are not routes of the API: they are answered from
// the router's NoRoute handler, so that the route table, and the OpenAPI
// document made from it, stay the API and nothing else. The application
// calls the API like any other client, with the bearer token the person
// signs in with.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"rectify/gateway/web"
)

// dashboardCSP is the Content-Security-Policy of every dashboard file.
// Scripts, styles and connections come from the gateway only; nothing is
// inline, so an item title that carries markup can never run. Evidence
// downloads are blob: URLs the application makes from fetched bytes.
const dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// dashboardPrefix is the path under which the dashboard's files are served.
const dashboardPrefix = "/ui/"

// dashboardFile is one embedded file, read once.
type dashboardFile struct {
	data  []byte
	ctype string
	etag  string
}

// loadDashboard reads the embedded files once for every Server of the
// process.
var loadDashboard = sync.OnceValues(dashboardFiles)

// dashboardFiles reads every embedded file of the dashboard, keyed by its
// path under /ui/ ("js/app.js"). It fails only if the embedded tree is
// unreadable, which the build would have caught.
func dashboardFiles() (map[string]dashboardFile, error) {
	out := map[string]dashboardFile{}
	static := web.Static()
	err := fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(data)
		}
		sum := sha256.Sum256(data)
		out[p] = dashboardFile{data: data, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return out, err
}

// serveDashboard answers GET and HEAD of / and /ui/<file> from the
// embedded files, and reports whether it answered.
func (s *Server) serveDashboard(c *gin.Context) bool {
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		return false
	}
	p := c.Request.URL.Path
	var name string
	switch {
	case p == "/" || p == "/index.html":
		name = "index.html"
	case strings.HasPrefix(p, dashboardPrefix):
		name = strings.TrimPrefix(p, dashboardPrefix)
	default:
		return false
	}
	f, ok := s.dashboard[name]
	if !ok {
		return false
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Type", f.ctype)
	// Revalidate every time: a new binary must show its new dashboard at
	// once, and the ETag makes the revalidation cheap.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(f.data))
	return true
}
