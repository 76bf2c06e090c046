// Package gateway is rectify's HTTP edge: a Gin server that authenticates
// callers by bearer token, confines what they read to the units of their
// roles, turns each POST into one command sent over NATS and each GET into
// one query of a view, stores evidence files, and documents itself as
// OpenAPI 3. It talks to the rest of rectify only through NATS.
//
// Every route is listed once, in the route table (routes.go); the router
// and the OpenAPI document are both built from it, so they cannot drift.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"rectify/events"
)

// Config configures a Server. The zero value of every field means its
// default.
type Config struct {
	// Addr is the listen address, default ":8080"; "127.0.0.1:0" picks a
	// free port (see Server.Addr).
	Addr string
	// DataDir holds the evidence files, under <DataDir>/evidence. Required
	// for evidence uploads and downloads.
	DataDir string
	// MaxBodyBytes bounds a JSON request body, default 1 MiB.
	MaxBodyBytes int64
	// RequestTimeout bounds the handling of one request (the live stream
	// excepted), default 30s.
	RequestTimeout time.Duration
	// QueryWait bounds how long a GET waits for a view to reach the
	// requested minimum position, default 5s; past it the answer is 503.
	QueryWait time.Duration
	// MaxEvidenceBytes bounds one evidence file, default 20 MiB.
	MaxEvidenceBytes int64
	// EvidenceTypes are the content types an evidence file may have, as
	// sniffed from its bytes; default DefaultEvidenceTypes.
	EvidenceTypes []string
	// AuthCacheTTL is how long a resolved token is remembered, default 2s.
	// A change notice for the token's user drops it at once.
	AuthCacheTTL time.Duration
	// CORSOrigins lists the origins browsers may call the API from; empty
	// (the default) sends no CORS headers at all.
	CORSOrigins []string
	// ShutdownTimeout bounds how long Close waits for requests in flight,
	// default 10s.
	ShutdownTimeout time.Duration
	// Now is the clock for token expiry, default time.Now.
	Now func() time.Time

	// ReadyViews are the views /readyz requires caught up with the event
	// store, default DefaultReadyViews.
	ReadyViews []string
	// Registry receives the gateway's metrics, served on /metrics; a fresh
	// one when nil. Pass one to add metrics of other parts (relay and
	// projection lag) to the same page.
	Registry *prometheus.Registry
	// LiveBuffer is how many recent changes the live stream keeps for
	// clients resuming with Last-Event-ID, default 50,000.
	LiveBuffer int
	// LiveHeartbeat is the interval of heartbeat comments on idle live
	// streams, default 15s.
	LiveHeartbeat time.Duration
	// LiveClientQueue is how many changes may wait for one live client
	// before it is dropped as too slow, default 1,024.
	LiveClientQueue int

	// AuthFailureRate is how many failed token authentications a client
	// address may make per second once it has spent AuthFailureBurst;
	// past that it is answered 429 without its token being looked up.
	// Default DefaultAuthFailureRate; negative turns the limit off.
	AuthFailureRate float64
	// AuthFailureBurst is how many failed authentications a client
	// address may make at once, default DefaultAuthFailureBurst.
	AuthFailureBurst int
	// TrustedProxies are the addresses (IPs or CIDR ranges) of proxies
	// whose X-Forwarded-For and X-Real-IP headers name the client. Empty
	// (the default) trusts none: the client is the connection's peer, so
	// that nobody can spoof an address to escape the limit above.
	TrustedProxies []string
}

// Defaults of Config.
const (
	DefaultAddr             = ":8080"
	DefaultMaxBodyBytes     = 1 << 20
	DefaultRequestTimeout   = 30 * time.Second
	DefaultQueryWait        = 5 * time.Second
	DefaultMaxEvidenceBytes = 20 << 20
	DefaultAuthCacheTTL     = 2 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.QueryWait <= 0 {
		c.QueryWait = DefaultQueryWait
	}
	if c.MaxEvidenceBytes <= 0 {
		c.MaxEvidenceBytes = DefaultMaxEvidenceBytes
	}
	if len(c.EvidenceTypes) == 0 {
		c.EvidenceTypes = DefaultEvidenceTypes
	}
	if c.AuthCacheTTL <= 0 {
		c.AuthCacheTTL = DefaultAuthCacheTTL
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(c.ReadyViews) == 0 {
		c.ReadyViews = DefaultReadyViews
	}
	if c.AuthFailureRate == 0 {
		c.AuthFailureRate = DefaultAuthFailureRate
	}
	if c.AuthFailureBurst <= 0 {
		c.AuthFailureBurst = DefaultAuthFailureBurst
	}
	return c
}

// Server is the HTTP gateway. Build it with New, start it with Open (or
// Run), stop it with Close.
type Server struct {
	cfg      Config
	nc       *nats.Conn
	log      *slog.Logger
	engine   *gin.Engine
	routes   []route
	auth     *authenticator
	evidence *evidenceStore
	metrics  *metrics
	health   gin.HandlerFunc
	ready    gin.HandlerFunc
	live     *liveHub // from Open on
	// authLimit slows down clients whose tokens keep failing; nil when
	// turned off.
	authLimit *authLimiter
	// dashboard is the web interface's files, served at / and /ui/.
	dashboard map[string]dashboardFile

	openapiOnce sync.Once
	openapiDoc  []byte
	openapiErr  error

	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	serveErr chan error
	closed   bool
}

var ginMode sync.Once

// New builds a gateway that sends commands and queries over nc. It does
// not listen yet. Handler serves requests without listening at all, but
// only Open follows change notices: before it, a cached token is dropped
// only when Config.AuthCacheTTL runs out, and /api/v1/stream is 503.
func New(cfg Config, nc *nats.Conn, logger *slog.Logger) *Server {
	ginMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	if logger == nil {
		logger = slog.Default()
	}
	// Whatever is logged, a token that found its way into it is not.
	logger = slog.New(redactTokens(logger.Handler()))
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		nc:       nc,
		log:      logger,
		auth:     newAuthenticator(nc, cfg.AuthCacheTTL, cfg.QueryWait, cfg.Now),
		evidence: newEvidenceStore(cfg.DataDir, cfg.MaxEvidenceBytes, cfg.EvidenceTypes),
		metrics:  newMetrics(cfg.Registry),
		health:   healthHandler(),
	}
	s.authLimit = newAuthLimiter(cfg.AuthFailureRate, cfg.AuthFailureBurst, defaultAuthClients)
	s.ready = readyHandler(DefaultReadyTimeout, append(readyChecks(nc, cfg.ReadyViews...), s.liveCheck())...)
	dash, err := loadDashboard()
	if err != nil {
		logger.Error("dashboard files unreadable; serving the API only", "err", err)
	}
	s.dashboard = dash
	s.routes = routeTable()
	s.engine = s.buildEngine()
	return s
}

// Handler is the gateway's HTTP handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.engine }

// Open follows the views' change notices (for the token cache and the
// live stream) and starts listening on Config.Addr, serving in the
// background. A listen error comes back at once.
func (s *Server) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("gateway: closed")
	}
	if s.ln != nil {
		return errors.New("gateway: already open")
	}
	if err := s.auth.follow(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	live, err := newLiveHub(s.nc, liveOptions{Buffer: s.cfg.LiveBuffer, Heartbeat: s.cfg.LiveHeartbeat, ClientQueue: s.cfg.LiveClientQueue,
		StoreHead: commandsHead(s.nc)},
		s.log.With("component", "live"))
	if err != nil {
		s.auth.stop()
		return fmt.Errorf("gateway: %w", err)
	}
	if err := s.metrics.watchLive(live); err != nil {
		s.log.Warn("live stream metrics not registered", "err", err)
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		live.Close()
		s.auth.stop()
		return fmt.Errorf("gateway: listen %s: %w", s.cfg.Addr, err)
	}
	s.live = live
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: the live stream writes for hours; every other
		// route is bounded by RequestTimeout in its context.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.serveErr = make(chan error, 1)
	go func(srv *http.Server, ln net.Listener, done chan<- error) {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}(s.srv, ln, s.serveErr)
	return nil
}

// Addr is the address the server listens on, with the real port when
// Config.Addr asked for port 0; empty before Open.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves until ctx is done, then shuts down gracefully. It opens the
// server first when Open was not called.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	opened := s.ln != nil
	s.mu.Unlock()
	if !opened {
		if err := s.Open(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	done := s.serveErr
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return s.Close()
	case err := <-done:
		s.Close()
		if err != nil {
			return fmt.Errorf("gateway: serve: %w", err)
		}
		return nil
	}
}

// Close ends the live streams, stops accepting requests and waits, up to
// Config.ShutdownTimeout, for those in flight to finish: a command that
// was sent gets its reply written.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv, live := s.srv, s.live
	s.mu.Unlock()
	s.auth.stop()
	if live != nil {
		// First, so that open streams end and do not hold Shutdown up.
		live.Close()
	}
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	return nil
}

// buildEngine makes the router from the route table.
func (s *Server) buildEngine() *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	// gin trusts every proxy unless told otherwise; the client address
	// (for the authentication limit) must not be whatever a header says.
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		s.log.Error("trusted proxies unreadable; trusting none", "err", err)
		_ = e.SetTrustedProxies(nil)
	}
	e.Use(withRequestID, requestLogger(s.log), s.metrics.middleware(), s.recoverPanics, securityHeaders)
	if len(s.cfg.CORSOrigins) > 0 {
		e.Use(s.cors)
	}
	e.NoRoute(func(c *gin.Context) {
		if s.serveDashboard(c) {
			return
		}
		s.writeError(c, events.Errorf(events.CodeNotFound, "no route %s %s; the API is described at /api/openapi.json", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		s.writeError(c, &httpError{status: http.StatusMethodNotAllowed, code: events.CodeInvalid,
			msg: fmt.Sprintf("%s is not allowed on %s", c.Request.Method, c.Request.URL.Path)})
	})
	for i := range s.routes {
		rt := &s.routes[i]
		chain := []gin.HandlerFunc{}
		if !rt.stream {
			chain = append(chain, s.withTimeout)
		}
		if !rt.public {
			chain = append(chain, s.requireAuth)
		}
		chain = append(chain, s.handlerFor(rt))
		e.Handle(rt.method, rt.path, chain...)
	}
	return e
}

// withTimeout bounds the request's context by Config.RequestTimeout, and
// the reading of its body too, so that a client sending slowly cannot
// hold a handler.
func (s *Server) withTimeout(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
	defer cancel()
	// Not every writer can (httptest's cannot); the context bounds the rest.
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(s.cfg.RequestTimeout))
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			err := fmt.Errorf("panic: %v", r)
			if c.Writer.Written() {
				logInternal(s.log, c, "handler panicked after replying", err)
				return
			}
			s.writeError(c, events.Wrap(events.CodeInternal, err, "panic"))
		}
	}()
	c.Next()
}

// requestIDKey is where the request id lives in the gin context.
const requestIDKey = "rectify.request_id"

// withRequestID gives every request an id: the caller's X-Request-ID when
// it is a sane token, a fresh one otherwise. It is echoed in the reply,
// logged with internal errors and sent as the command's correlation id.
func withRequestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !saneRequestID(id) {
		id = uuid.NewString()
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

func saneRequestID(id string) bool {
	// An id holding a token would carry it into logs and, as the
	// correlation id, into the event store forever.
	if id == "" || len(id) > 128 || strings.Contains(id, events.TokenPrefix) {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// securityHeaders go on every answer: no content sniffing (a JSON error
// echoing input is never read as HTML), and no referrer leaving with a
// link. The dashboard and evidence downloads add their own
// Content-Security-Policy.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	c.Next()
}

// cors answers browsers from the configured origins: the preflight, and
// the headers that let them read replies.
func (s *Server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin == "" || !(slices.Contains(s.cfg.CORSOrigins, origin) || slices.Contains(s.cfg.CORSOrigins, "*")) {
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "ETag, X-Rectify-Position, X-Request-ID, Retry-After")
	if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, If-None-Match, Last-Event-ID, X-Rectify-Min-Position, X-Request-ID")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}
