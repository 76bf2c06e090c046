package gateway

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"rectify/events"
)

// TestTokensNeverReachTheLog runs a gateway whose log is captured at debug
// level and sends it a good and a bad token everywhere a token may
// travel: the Authorization header in every spelling, the query string,
// the path, X-Request-ID, Last-Event-ID, Idempotency-Key, a cookie, and
// into handlers that panic with what they were sent. The log must hold
// neither token, nor the secret part of either.
func TestTokensNeverReachTheLog(t *testing.T) {
	st := MustStartStack(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw := New(Config{Addr: "127.0.0.1:0", DataDir: st.DataDir, QueryWait: 2 * time.Second, Now: st.Clock.Now, AuthFailureRate: -1}, st.NC, logger)
	// Handlers that panic with what the caller sent, as a careless one
	// might: the recovery logs the panic.
	gw.engine.GET("/api/v1/panic", gw.requireAuth, func(c *gin.Context) {
		panic("cannot handle " + c.GetHeader("Authorization") + " and " + c.Query("token"))
	})
	gw.engine.GET("/panic", func(c *gin.Context) { panic(fmt.Errorf("wrapped: %s", c.GetHeader("X-Api-Key"))) })
	if err := gw.Open(); err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	base := "http://" + gw.Addr()

	good, bad := st.AdminToken, events.TokenPrefix+"YmFkLXRva2VuLWd1ZXNzZWQtYnktYW4tYXR0YWNrZXItMDE"
	sent := 0
	send := func(method, path, auth string, hdr ...string) *http.Response {
		t.Helper()
		var body *strings.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{"name":"日志测试用户"}`)
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sent++
		if id := resp.Header.Get("X-Request-ID"); strings.Contains(id, events.TokenPrefix) {
			t.Errorf("%s %s: the request id %q carries a token", method, path, id)
		}
		return resp
	}
	for _, tok := range []string{good, bad} {
		basic := base64.StdEncoding.EncodeToString([]byte("admin:" + tok))
		send(http.MethodGet, "/api/v1/me", "Bearer "+tok)
		send(http.MethodGet, "/api/v1/me", "bearer   "+tok+"  ")
		send(http.MethodGet, "/api/v1/me", "Basic "+basic)
		send(http.MethodGet, "/api/v1/me", tok)
		send(http.MethodGet, "/api/v1/me?token="+tok+"&access_token="+tok, "")
		send(http.MethodGet, "/api/v1/items/"+tok, "Bearer "+good)
		send(http.MethodGet, "/"+tok, "")
		send(http.MethodGet, "/api/v1/me", "Bearer "+good, "X-Request-ID", tok)
		send(http.MethodGet, "/api/v1/me", "Bearer "+good, "X-Request-ID", "trace-"+tok)
		send(http.MethodGet, "/api/v1/stream", "Bearer "+good, "Last-Event-ID", tok)
		send(http.MethodGet, "/api/v1/me", "", "Cookie", "token="+tok)
		send(http.MethodPost, "/api/v1/users", "Bearer "+good, "Idempotency-Key", tok)
		if r := send(http.MethodGet, "/api/v1/panic?token="+tok, "Bearer "+tok); tok == good && r.StatusCode != http.StatusInternalServerError {
			t.Errorf("the panicking handler answered %d, want 500", r.StatusCode)
		}
		send(http.MethodGet, "/panic", "", "X-Api-Key", tok)
	}
	gw.Close()

	mu.Lock()
	logged := buf.String()
	mu.Unlock()
	for name, tok := range map[string]string{"good": good, "bad": bad} {
		secret := strings.TrimPrefix(tok, events.TokenPrefix)
		if strings.Contains(logged, secret) || strings.Contains(logged, secret[:16]) {
			t.Errorf("the log holds the %s token:\n%s", name, logged)
		}
	}
	lines := strings.Count(logged, "\n")
	redactions := strings.Count(logged, redacted)
	if lines < sent || redactions == 0 {
		t.Errorf("%d log lines for %d requests, %d redactions: the log was not captured as expected:\n%s", lines, sent, redactions, logged)
	}
	t.Logf("tried: %d requests carrying a good and a bad token in 14 places; found: %d log lines, %d tokens blanked out, none left", sent, lines, redactions)
}

func TestRedactString(t *testing.T) {
	tok := events.TokenPrefix + strings.Repeat("A", 43)
	for in, want := range map[string]string{
		"no token here":                     "no token here",
		tok:                                 redacted,
		"Bearer " + tok + " and " + tok:     "Bearer " + redacted + " and " + redacted,
		"/api/v1/" + tok + "/x":             "/api/v1/" + redacted + "/x",
		"cut " + tok[:10]:                   "cut " + redacted,
		"整改" + tok + "事项":                   "整改" + redacted + "事项",
		"rfy_":                              redacted,
		"prefix only: rfy_, then more text": "prefix only: " + redacted + ", then more text",
	} {
		if got := redactString(in); got != want {
			t.Errorf("redactString(%q) = %q, want %q", in, got, want)
		}
	}
}
