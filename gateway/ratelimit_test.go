package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"rectify/events"
)

// unknownToken is shaped like a rectify token but belongs to nobody.
const unknownToken = events.TokenPrefix + "Zm9yZ2VkLXRva2VuLXRoYXQtbm9ib2R5LWhhcy1hdC1hbGw"

// TestFailedAuthenticationsAreRateLimitedPerClient: behind a trusted proxy
// that names each client in X-Forwarded-For, a client may fail its burst
// of 10 authentications, then is answered 429 with Retry-After until its
// allowance refills at one a second; other clients, and successful
// requests, are not affected; and the limiter forgets clients once their
// allowance is full again, however many addresses it has seen.
func TestFailedAuthenticationsAreRateLimitedPerClient(t *testing.T) {
	st := MustStartStack(t, func(c *Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.AuthFailureBurst, c.AuthFailureRate = 10, 1
	})
	call := func(ip, token string, hdr ...string) Reply {
		return st.Client(t, token).Get("/api/v1/me", append([]string{"X-Forwarded-For", ip}, hdr...)...)
	}

	const attacker, neighbour, worker = "203.0.113.7", "203.0.113.8", "198.51.100.20"
	for i := range 10 {
		if r := call(attacker, unknownToken); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d of the burst: %d %s, want 401", i+1, r.Status, r.Body)
		}
	}
	r := call(attacker, unknownToken)
	var body errorBody
	r.JSON(t, &body)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" ||
		!strings.Contains(body.Error.Message, "too many failed authentications") {
		t.Fatalf("the 11th failure: %d Retry-After %q %s, want 429, Retry-After 1 and a message", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	// Blocked means the token is not even looked up: a right one waits too.
	if r := call(attacker, st.AdminToken); r.Status != http.StatusTooManyRequests {
		t.Errorf("a valid token from the blocked address: %d, want 429", r.Status)
	}
	// Another address has its own allowance, and success is never slowed.
	if r := call(neighbour, unknownToken); r.Status != http.StatusUnauthorized {
		t.Errorf("a neighbour's first failure: %d, want 401", r.Status)
	}
	for i := range 40 {
		if r := call(worker, st.AdminToken); r.Status != http.StatusOK {
			t.Fatalf("successful request %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	// No Authorization header at all is no guess.
	for range 15 {
		if r := st.Client(t, "").Get("/api/v1/me", "X-Forwarded-For", worker); r.Status != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", r.Status)
		}
	}
	if r := call(worker, st.AdminToken); r.Status != http.StatusOK {
		t.Errorf("after requests without a token: %d, want 200", r.Status)
	}

	// One second later the attacker has one attempt, then waits again.
	st.Clock.Advance(time.Second)
	if r := call(attacker, unknownToken); r.Status != http.StatusUnauthorized {
		t.Errorf("after a second: %d, want one more 401", r.Status)
	}
	if r := call(attacker, unknownToken); r.Status != http.StatusTooManyRequests {
		t.Errorf("right after: %d, want 429", r.Status)
	}
	if r := call(attacker, "", "Authorization", "Basic YWRtaW46cGFzc3dvcmQ="); r.Status != http.StatusTooManyRequests {
		t.Errorf("another scheme while blocked: %d, want 429", r.Status)
	}
	// A full refill forgets the attacker altogether.
	st.Clock.Advance(11 * time.Second)
	if r := call(attacker, st.AdminToken); r.Status != http.StatusOK {
		t.Errorf("after the refill, a valid token: %d, want 200", r.Status)
	}

	// An IPv6 client is one /64: its neighbours in the network share it.
	for i := range 10 {
		call(fmt.Sprintf("2001:db8:1:2::%x", i+1), "not-a-token")
	}
	if r := call("2001:db8:1:2:ffff::1", unknownToken); r.Status != http.StatusTooManyRequests {
		t.Errorf("the 11th failure in one IPv6 /64: %d, want 429", r.Status)
	}
	if r := call("2001:db8:1:3::1", unknownToken); r.Status != http.StatusUnauthorized {
		t.Errorf("another /64: %d, want 401", r.Status)
	}

	// Many addresses: memory stays bounded by the limiter's size, and
	// clients whose allowance refilled are forgotten.
	lim := st.Gateway.authLimit
	lim.mu.Lock()
	lim.max = 300
	lim.mu.Unlock()
	const many = 1200
	for i := range many {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if r := call(ip, "not-a-token"); r.Status != http.StatusUnauthorized {
			t.Fatalf("client %s: %d %s", ip, r.Status, r.Body)
		}
		if n := lim.size(); n > 300 {
			t.Fatalf("after %d clients the limiter holds %d, more than its 300", i+1, n)
		}
	}
	held := lim.size()
	st.Clock.Advance(11 * time.Second)
	call("192.0.2.1", unknownToken)
	if n := lim.size(); n != 1 {
		t.Errorf("after every allowance refilled, the limiter holds %d clients, want 1", n)
	}
	t.Logf("tried: 10 failures and 2 more from one address, 1 valid token from it while blocked, 40 successes and 15 requests without a token "+
		"from another, 11 failures from one IPv6 /64, %d failures from distinct addresses; found: 429 with Retry-After 1 after the burst, "+
		"success never slowed, at most %d clients held, 1 after the refill", many, held)
}

// TestForwardedForIsIgnoredUnlessTheProxyIsTrusted: with no trusted
// proxy, a client cannot escape the limit by naming itself another
// address in X-Forwarded-For or X-Real-IP.
func TestForwardedForIsIgnoredUnlessTheProxyIsTrusted(t *testing.T) {
	st := MustStartStack(t)
	// A second gateway on the same rectify with the default
	// configuration, served over plain httptest.
	gw := New(Config{DataDir: st.DataDir, QueryWait: 2 * time.Second, Now: st.Clock.Now}, st.NC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	statuses := map[int]int{}
	for i := range 12 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer not-a-token")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		req.Header.Set("X-Real-IP", fmt.Sprintf("198.51.100.%d", i+1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
	}
	if statuses[http.StatusUnauthorized] != 10 || statuses[http.StatusTooManyRequests] != 2 {
		t.Errorf("12 failures under 12 spoofed addresses: %v, want 10 401s then 2 429s", statuses)
	}
}
