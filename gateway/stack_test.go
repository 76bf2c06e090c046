package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"rectify/events"
	"rectify/projections"
	"rectify/services"
	"rectify/services/eventstore/embedded"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
	"rectify/services/relay"
)

// Stack is every part of rectify a gateway test needs, running in-process
// on real parts: a NATS server with JetStream, the embedded event store,
// the command service, the relay, the views (consuming from JetStream and
// answering over NATS) and the gateway on a real port.
type Stack struct {
	// URL is the gateway's base URL, http://127.0.0.1:<port>.
	URL string
	// AdminToken is the bootstrap administrator's token.
	AdminToken string
	// DataDir is the gateway's data directory (evidence files).
	DataDir string
	Gateway *Server
	NC      *nats.Conn
	Store   *embedded.Store
	Views   []*projections.Runner
	// Clock moves the gateway's clock (token expiry) by an offset.
	Clock *testClock
}

// testClock is a clock that runs with real time plus an offset.
type testClock struct{ offset atomic.Int64 }

// Now is the clock's time.
func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock on by d.
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// MustStartStack starts a whole rectify behind a gateway, bootstraps the
// administrator and waits until the gateway accepts the administrator's
// token. configure, when given, adjusts the gateway's Config. Everything
// stops at cleanup.
func MustStartStack(tb testing.TB, configure ...func(*Config)) *Stack {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	_, url := natstest.MustStartServer(tb)
	nc, js := natstest.MustConnect(tb, url)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	st := &Stack{DataDir: tb.TempDir(), NC: nc, Clock: &testClock{}}
	store, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	st.Store = store
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		if st.Gateway != nil {
			st.Gateway.Close()
		}
		for _, r := range st.Views {
			r.Close()
		}
		store.Close()
	})
	if err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{}); err != nil {
		tb.Fatal(err)
	}
	cmds := services.New(store, services.Options{})
	token, created, err := cmds.Bootstrap(ctx, "管理员")
	if err != nil || !created {
		tb.Fatalf("bootstrap: created %v, %v", created, err)
	}
	st.AdminToken = token

	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				tb.Errorf("%s: %v", name, err)
			}
		}()
	}
	run("commands", func(ctx context.Context) error { return cmds.ServeNATS(ctx, nc, logger) })
	rl := relay.New(store, js, nc, relay.Options{Logger: logger})
	run("relay", rl.Run)
	viewDir := tb.TempDir()
	for _, p := range []projections.Projection{projections.Ledger{}, projections.Commitments{}, projections.Audit{}, projections.Access{}, projections.Assessments{}} {
		r, err := projections.Open(ctx, p, projections.Options{Dir: viewDir, Source: store, Logger: logger, OnCommit: func(cs []projections.Change) {
			if b, err := json.Marshal(cs); err == nil {
				nc.Publish(natsx.ChangesSubject(cs[0].View), b)
			}
		}})
		if err != nil {
			tb.Fatal(err)
		}
		st.Views = append(st.Views, r)
		run("projection "+p.Name(), func(ctx context.Context) error { return r.Consume(ctx, js, projections.ConsumeOptions{}) })
	}
	run("queries", func(ctx context.Context) error {
		return projections.ServeQueries(ctx, nc, st.Views, projections.ServeOptions{MaxWait: 2 * time.Second, Logger: logger})
	})

	cfg := Config{Addr: "127.0.0.1:0", DataDir: st.DataDir, QueryWait: 2 * time.Second, Now: st.Clock.Now}
	for _, f := range configure {
		f(&cfg)
	}
	st.Gateway = New(cfg, nc, logger)
	if err := st.Gateway.Open(); err != nil {
		tb.Fatal(err)
	}
	st.URL = "http://" + st.Gateway.Addr()

	// Ready when the access view knows the administrator's token and the
	// command service answers.
	admin := st.Client(tb, st.AdminToken)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := admin.Get("/api/v1/me")
		if r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the gateway did not accept the admin token in time: %d %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond) // poll pacing
	}
	for {
		_, err := natsx.SendCommand(ctx, nc, "user.create", natsx.CommandRequest{Actor: "nobody-yet", Command: []byte(`{"name":"x"}`)})
		if events.ErrorCode(err) != events.CodeUnavailable {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the command service did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // poll pacing
	}
	return st
}

// Client is an HTTP client of a stack calling with one token.
type Client struct {
	tb    testing.TB
	base  string
	token string
	hc    *http.Client
}

// Client returns a client calling the stack's gateway with token ("" for
// none).
func (st *Stack) Client(tb testing.TB, token string) *Client {
	return &Client{tb: tb, base: st.URL, token: token, hc: &http.Client{Timeout: 20 * time.Second}}
}

// Reply is an HTTP answer, read whole.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the reply's body into v, failing the test when it is not
// JSON.
func (r Reply) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("reply %d is not JSON: %v: %s", r.Status, err, r.Body)
	}
}

// ErrorFields returns the code and the field names of an error reply.
func (r Reply) ErrorFields(tb testing.TB) (events.Code, []string) {
	tb.Helper()
	var e errorBody
	r.JSON(tb, &e)
	var out []string
	for _, f := range e.Error.Fields {
		out = append(out, f.Field)
		// Every field problem a client sees has a code it can word.
		if !events.IsProblemCode(f.Code) {
			tb.Errorf("field %s (%q) has problem code %q, not one of events.ProblemCodes", f.Field, f.Problem, f.Code)
		}
	}
	return e.Error.Code, out
}

// Do sends one request; body is JSON-encoded unless it is a string or
// []byte. hdr holds header name, value pairs.
func (c *Client) Do(method, path string, body any, hdr ...string) Reply {
	c.tb.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.tb.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.send(req)
}

func (c *Client) send(req *http.Request) Reply {
	c.tb.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatalf("%s %s: read: %v", req.Method, req.URL.Path, err)
	}
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Get sends a GET.
func (c *Client) Get(path string, hdr ...string) Reply {
	c.tb.Helper()
	return c.Do(http.MethodGet, path, nil, hdr...)
}

// Post sends a POST with a JSON body.
func (c *Client) Post(path string, body any, hdr ...string) Reply {
	c.tb.Helper()
	return c.Do(http.MethodPost, path, body, hdr...)
}

// MustPost sends a POST that must answer want and returns its result.
func (c *Client) MustPost(path string, body any, want int, hdr ...string) commandResult {
	c.tb.Helper()
	r := c.Post(path, body, hdr...)
	if r.Status != want {
		c.tb.Fatalf("POST %s %v: %d %s, want %d", path, body, r.Status, r.Body, want)
	}
	var res commandResult
	r.JSON(c.tb, &res)
	return res
}

// MustGet sends a GET that must answer 200 and decodes its body into v.
func (c *Client) MustGet(path string, v any, hdr ...string) Reply {
	c.tb.Helper()
	r := c.Get(path, hdr...)
	if r.Status != http.StatusOK {
		c.tb.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	if v != nil {
		r.JSON(c.tb, v)
	}
	return r
}

// upload is one part of a multipart upload.
type upload struct {
	field, filename, ctype string
	data                   []byte
}

// Upload sends a multipart POST with the given parts.
func (c *Client) Upload(path string, parts []upload, hdr ...string) Reply {
	c.tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := `form-data; name="` + p.field + `"`
		if p.filename != "" {
			disp += `; filename="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p.filename) + `"`
		}
		h.Set("Content-Disposition", disp)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			c.tb.Fatal(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, c.base+path, &buf)
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.send(req)
}

// eventually polls f until it reports true or the deadline passes.
func eventually(tb testing.TB, within time.Duration, what string, f func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond) // poll pacing
	}
}
