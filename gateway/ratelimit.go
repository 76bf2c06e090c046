package gateway

// Slowing down token guessing: failed bearer-token authentications are
// counted per client address, and a client that has spent its burst of
// failures is refused (429) before its next token is even looked up,
// until its allowance has refilled. Successful requests never touch the
// limiter, so a client that authenticates is never slowed by it.

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"rectify/events"
)

// Defaults of the authentication limiter.
const (
	DefaultAuthFailureRate  = 1.0 // failures per second, once the burst is spent
	DefaultAuthFailureBurst = 10
	// defaultAuthClients bounds how many client addresses the limiter
	// remembers at once.
	defaultAuthClients = 100_000
)

// authLimiter counts failed authentications per client. A client is
// forgotten once its allowance is full again, which is the same as never
// having failed, so memory holds only clients that failed recently; past
// max clients, the oldest-looking are dropped (see remember).
type authLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu        sync.Mutex
	clients   map[string]*authClient
	lastSweep time.Time
}

type authClient struct {
	lim  *rate.Limiter
	last time.Time // the last failure
}

// newAuthLimiter allows burst failures, then perSecond a second, per
// client. perSecond <= 0 turns the limiter off (nil).
func newAuthLimiter(perSecond float64, burst, max int) *authLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &authLimiter{limit: rate.Limit(perSecond), burst: max1(burst), max: max1(max), clients: map[string]*authClient{}}
}

func max1(n int) int { return max(n, 1) }

// refill is how long a client that spent every failure takes to have its
// whole burst back: after it, the client's entry carries nothing.
func (l *authLimiter) refill() time.Duration {
	return time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
}

// blocked reports whether client has no failed attempt left at now, and
// how long until it has one.
func (l *authLimiter) blocked(client string, now time.Time) (time.Duration, bool) {
	if l == nil {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cl, ok := l.clients[client]
	if !ok {
		return 0, false
	}
	tokens := cl.lim.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	wait := time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
	return wait, true
}

// failed records a failed authentication of client at now.
func (l *authLimiter) failed(client string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cl, ok := l.clients[client]
	if !ok {
		l.remember(now)
		cl = &authClient{lim: rate.NewLimiter(l.limit, l.burst)}
		l.clients[client] = cl
	}
	cl.lim.AllowN(now, 1)
	cl.last = now
}

// remember makes room for one more client: it forgets every client whose
// allowance has refilled (at most once a second, or whenever the map is
// full), and when the map is still full, arbitrary clients. Those regain
// their burst early, which costs little: an attacker with that many
// addresses has that many bursts anyway.
func (l *authLimiter) remember(now time.Time) {
	full := len(l.clients) >= l.max
	if !full && now.Sub(l.lastSweep) < time.Second {
		return
	}
	l.lastSweep = now
	refill := l.refill()
	for k, cl := range l.clients {
		if now.Sub(cl.last) >= refill {
			delete(l.clients, k)
		}
	}
	for k := range l.clients {
		if len(l.clients) < l.max {
			break
		}
		delete(l.clients, k)
	}
}

// size is how many clients the limiter remembers.
func (l *authLimiter) size() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// clientKey is the address failures are counted against: the client's IP
// as gin sees it (the connection's peer, or, behind a trusted proxy of
// Config.TrustedProxies, the address the proxy forwards), an IPv6
// address by its /64 network, which one subscriber usually holds whole.
func clientKey(ip string) string {
	addr := net.ParseIP(ip)
	switch {
	case addr == nil:
		return ip
	case addr.To4() != nil:
		return addr.To4().String()
	}
	return addr.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// tooManyFailures is the 429 for a client whose failures are spent.
// Its Retry-After is the whole seconds until the client may try again.
func tooManyFailures(wait time.Duration) (retryAfter string, err error) {
	secs := max(int64(math.Ceil(wait.Seconds())), 1)
	return strconv.FormatInt(secs, 10), &httpError{status: http.StatusTooManyRequests, code: events.CodeUnavailable,
		msg: fmt.Sprintf("too many failed authentications from your address; try again in %d s with a valid token", secs)}
}
