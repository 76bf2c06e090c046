package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"rectify/services/natsx"
)

// TestCloseLetsRequestsInFlightFinish closes the gateway while a query
// waits for its view: the listener goes at once, and the waiting request
// still gets its answer.
func TestCloseLetsRequestsInFlightFinish(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	head, err := strconv.ParseUint(admin.MustGet("/api/v1/units", nil).Header.Get(headerPosition), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/units?min_position=%d", st.URL, head+1), nil)
		req.Header.Set("Authorization", "Bearer "+st.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{status: resp.StatusCode, body: string(b)}
	}()
	eventually(t, 5*time.Second, "the waiting request in flight", func() bool {
		return strings.Contains(string(st.Client(t, "").Get("/metrics").Body), "rectify_http_requests_in_flight 2")
	})

	closed := make(chan error, 1)
	go func() { closed <- st.Gateway.Close() }()
	eventually(t, 5*time.Second, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", st.Gateway.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// A write reaches the view; the waiting request is answered.
	if _, err := natsx.SendCommand(context.Background(), st.NC, "unit.register", natsx.CommandRequest{
		Actor: "admin", Command: []byte(`{"unit_id":"late","name":"关门前的单位","kind":"other"}`),
	}); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, "关门前的单位") {
		t.Fatalf("the request in flight got %d %q %v", a.status, a.body, a.err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestCORSIsOffUnlessConfigured(t *testing.T) {
	preflight := func(h http.Handler) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, "/api/v1/items", nil)
		req.Header.Set("Origin", "https://dash.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	off := New(Config{}, nil, nil)
	if rec := preflight(off.Handler()); rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Code == http.StatusNoContent {
		t.Errorf("CORS off: %d %v", rec.Code, rec.Header())
	}
	on := New(Config{CORSOrigins: []string{"https://dash.example"}}, nil, nil)
	rec := preflight(on.Handler())
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "https://dash.example" ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Idempotency-Key") {
		t.Errorf("CORS on: %d %v", rec.Code, rec.Header())
	}
	// Another origin gets nothing.
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("Origin", "https://evil.example")
	rec = httptest.NewRecorder()
	on.Handler().ServeHTTP(rec, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an unlisted origin was allowed")
	}
}
