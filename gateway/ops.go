package gateway

// Operations: /healthz, /readyz, /metrics and the request log.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/natsx"
)

// healthHandler answers GET /healthz: 200 as long as the process serves
// HTTP at all. It checks nothing else; /readyz does.
func healthHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

// readyCheck is one thing the gateway needs to serve: Check returns nil
// when it is fine, or an error whose message (events.ErrorMessage) says
// what is wrong.
type readyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// readyResult is one check in the /readyz answer.
type readyResult struct {
	Name       string  `json:"name"`
	OK         bool    `json:"ok"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// readyReport is the /readyz answer.
type readyReport struct {
	Status string        `json:"status"` // "ready" or "not ready"
	Checks []readyResult `json:"checks"`
}

// DefaultReadyTimeout bounds each readiness check.
const DefaultReadyTimeout = 2 * time.Second

// readyHandler answers GET /readyz: it runs every check at once, each
// bounded by timeout (DefaultReadyTimeout when zero), and answers 200 with
// {"status": "ready", "checks": [{name, ok, duration_ms}]} when all pass,
// 503 with the failing checks' errors otherwise.
func readyHandler(timeout time.Duration, checks ...readyCheck) gin.HandlerFunc {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	return func(c *gin.Context) {
		rep := readyReport{Status: "ready", Checks: make([]readyResult, len(checks))}
		var wg sync.WaitGroup
		for i, ch := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
				defer cancel()
				start := time.Now()
				err := ch.Check(ctx)
				r := readyResult{Name: ch.Name, OK: err == nil, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
				if err != nil {
					r.Error = events.ErrorMessage(err)
				}
				rep.Checks[i] = r
			}()
		}
		wg.Wait()
		status := http.StatusOK
		for _, r := range rep.Checks {
			if !r.OK {
				rep.Status, status = "not ready", http.StatusServiceUnavailable
			}
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(status, rep)
	}
}

// natsCheck passes while nc is connected.
func natsCheck(nc *nats.Conn) readyCheck {
	return readyCheck{Name: "nats", Check: func(context.Context) error {
		if st := nc.Status(); st != nats.CONNECTED {
			return events.Errorf(events.CodeUnavailable, "the NATS connection is %s", st)
		}
		return nil
	}}
}

// commandsCheck passes when a command service answers and can read its
// event store (natsx.CommandsStatus).
func commandsCheck(nc *nats.Conn) readyCheck {
	return readyCheck{Name: "commands", Check: func(ctx context.Context) error {
		_, err := natsx.CommandsStatus(ctx, nc)
		return err
	}}
}

// viewCheck passes when view answers and has caught up with the event
// store: it asks the command side for the store head, then asks the view
// for its status at least at that position, so a view further behind
// than the check's timeout fails.
func viewCheck(nc *nats.Conn, view string) readyCheck {
	return readyCheck{Name: "view " + view, Check: func(ctx context.Context) error {
		head, err := natsx.CommandsStatus(ctx, nc)
		if err != nil {
			return events.Wrap(events.CodeUnavailable, err, "the store head is unknown: %s", events.ErrorMessage(err))
		}
		var resp query.Response
		if err := natsx.QueryRequest(ctx, nc, view, query.StatusOp, query.Request{MinPosition: head}, &resp); err != nil {
			if ctx.Err() != nil {
				return events.Wrap(events.CodeUnavailable, err, "view %s has not reached the store head %d in time", view, head)
			}
			return err
		}
		if resp.Error != nil {
			return events.Wrap(events.CodeUnavailable, resp.Error, "view %s at position %d has not reached the store head %d: %s",
				view, resp.Position, head, resp.Error.Message)
		}
		return nil
	}}
}

// DefaultReadyViews are the views a gateway needs caught up to be ready.
var DefaultReadyViews = []string{"ledger", "commitments", "audit", "access", "assessments"}

// readyChecks are the standard checks of a gateway: NATS connected, the
// command side answering with its store readable, and every one of views
// answering and caught up.
func readyChecks(nc *nats.Conn, views ...string) []readyCheck {
	out := []readyCheck{natsCheck(nc), commandsCheck(nc)}
	for _, v := range views {
		out = append(out, viewCheck(nc, v))
	}
	return out
}

// metrics are the gateway's Prometheus metrics.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	commands *prometheus.CounterVec
}

// newMetrics registers the gateway's metrics, with the Go runtime and
// process collectors, in reg (a fresh registry when nil).
func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rectify_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rectify_http_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its reply, by route template and method (live streams: the stream's lifetime).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rectify_http_requests_in_flight",
			Help: "HTTP requests being handled now, live streams included.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rectify_commands_total",
			Help: "Commands sent to the command side, by command name and outcome (ok, or the error code).",
		}, []string{"command", "outcome"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.commands,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// unmatchedRoute labels requests no route matched, so that random paths
// do not make new series.
const unmatchedRoute = "unmatched"

// middleware counts and times every request by its route template.
func (m *metrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		m.duration.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
}

// handler serves GET /metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observeCommand counts one command sent: outcome "ok", or the code of
// the error it failed with ("unavailable" when the command side did not
// answer).
func (m *metrics) observeCommand(name string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = string(events.ErrorCode(err))
	}
	m.commands.WithLabelValues(name, outcome).Inc()
}

// registerGauge exposes f as a gauge, read at every scrape (f must be safe
// to call from any goroutine). The same name may be registered several
// times with different constant labels, e.g. one per view:
//
//	m.registerGauge("rectify_projection_lag_positions", "...", prometheus.Labels{"view": "ledger"}, f)
//
// The error says why the gauge was refused (a clash with an existing
// metric).
func (m *metrics) registerGauge(name, help string, labels prometheus.Labels, f func() float64) error {
	if err := m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)); err != nil {
		return fmt.Errorf("gauge %s: %w", name, err)
	}
	return nil
}

// registerCounter is registerGauge for a value that only goes up.
func (m *metrics) registerCounter(name, help string, labels prometheus.Labels, f func() float64) error {
	if err := m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f)); err != nil {
		return fmt.Errorf("counter %s: %w", name, err)
	}
	return nil
}

// watchLive exposes the live hub's clients and counters.
func (m *metrics) watchLive(h *liveHub) error {
	for _, g := range []struct {
		name, help string
		counter    bool
		f          func(liveStats) float64
	}{
		{"rectify_sse_clients", "Live streams open now.", false, func(s liveStats) float64 { return float64(s.Connected) }},
		{"rectify_sse_dropped_total", "Live streams disconnected for reading too slowly.", true, func(s liveStats) float64 { return float64(s.Dropped) }},
		{"rectify_sse_resets_total", "Reset events sent to live streams.", true, func(s liveStats) float64 { return float64(s.Resets) }},
		{"rectify_sse_changes_total", "Change events sent to live streams.", true, func(s liveStats) float64 { return float64(s.Delivered) }},
		{"rectify_sse_interruptions_total", "Times the change feed was interrupted and every stream was reset.", true, func(s liveStats) float64 { return float64(s.Interrupted) }},
	} {
		f := func() float64 { return g.f(h.stats()) }
		var err error
		if g.counter {
			err = m.registerCounter(g.name, g.help, nil, f)
		} else {
			err = m.registerGauge(g.name, g.help, nil, f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// quietRoutes are logged at debug level only: probes and scrapes would
// drown everything else.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// requestLogger writes one structured line per request after it is
// answered: request id, method, route template, path, status, duration,
// bytes written and the caller's user id when known. It never logs
// headers or query strings, so never a token. Server errors (5xx) are
// logged at warn level; probes and scrapes at debug level.
func requestLogger(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		status := c.Writer.Status()
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelWarn
		case quietRoutes[route]:
			level = slog.LevelDebug
		}
		ctx := c.Request.Context()
		if !logger.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
		}
		if u := principalOf(c).UserID; u != "" {
			attrs = append(attrs, slog.String("user_id", u))
		}
		logger.LogAttrs(context.WithoutCancel(ctx), level, "request", attrs...)
	}
}
