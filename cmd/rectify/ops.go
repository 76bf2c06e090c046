package main

// The operations endpoints of a process without the gateway role, and
// `rectify healthcheck`, which probes them (or the gateway's) for a
// container's health check in an image without curl.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rectify/events"
	"rectify/services/natsx"
)

// opsCheck is one thing a process needs to do its work: Check returns nil
// when it is fine, or an error saying what is wrong.
type opsCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// opsReadyTimeout bounds each readiness check, as the gateway's do.
const opsReadyTimeout = 2 * time.Second

// opsServer answers /healthz, /readyz and /metrics for a process that runs
// no gateway: command handlers, relays, projection replicas, watchers.
type opsServer struct {
	addr    string
	timeout time.Duration // shutdown
	srv     *http.Server
	ln      net.Listener
}

// newOpsServer serves the metrics of reg (with the Go runtime's and the
// process's) and readiness from checks on addr.
func newOpsServer(addr string, reg *prometheus.Registry, checks []opsCheck, shutdownTimeout time.Duration) *opsServer {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeOpsJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, rep := runOpsChecks(r.Context(), checks)
		writeOpsJSON(w, status, rep)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &opsServer{addr: addr, timeout: shutdownTimeout, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
}

// Open listens on the address, so that a listen error comes back at once.
func (o *opsServer) Open() error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.addr, err)
	}
	o.ln = ln
	return nil
}

// Addr is the address the server listens on.
func (o *opsServer) Addr() string { return o.ln.Addr().String() }

// Run serves until ctx is done, then lets requests in flight finish.
func (o *opsServer) Run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- o.srv.Serve(o.ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
	defer cancel()
	err := o.srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Close stops serving at once.
func (o *opsServer) Close() error {
	if err := o.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type opsResult struct {
	Name       string  `json:"name"`
	OK         bool    `json:"ok"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

type opsReport struct {
	Status string      `json:"status"` // "ready" or "not ready"
	Checks []opsResult `json:"checks"`
}

// runOpsChecks runs every check at once, each bounded by opsReadyTimeout,
// and answers 200 when all pass, 503 otherwise: the same shape as the
// gateway's /readyz.
func runOpsChecks(ctx context.Context, checks []opsCheck) (int, opsReport) {
	rep := opsReport{Status: "ready", Checks: make([]opsResult, len(checks))}
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, opsReadyTimeout)
			defer cancel()
			start := time.Now()
			err := ch.Check(cctx)
			r := opsResult{Name: ch.Name, OK: err == nil, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				r.Error = events.ErrorMessage(err)
			}
			rep.Checks[i] = r
		})
	}
	wg.Wait()
	status := http.StatusOK
	for _, r := range rep.Checks {
		if !r.OK {
			rep.Status, status = "not ready", http.StatusServiceUnavailable
		}
	}
	return status, rep
}

func writeOpsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readyChecks are what the roles of a process without a gateway need:
// NATS connected; the store readable where the process has one; every
// local view caught up with the store's head, which a projections
// process without a store learns from the store's owner over NATS. A
// relay standing by is ready: it takes over when the leader goes.
func (a *app) readyChecks() []opsCheck {
	checks := []opsCheck{{Name: "nats", Check: func(context.Context) error {
		if st := a.nc.Status(); st != nats.CONNECTED {
			return events.Errorf(events.CodeUnavailable, "the NATS connection is %s", st)
		}
		return nil
	}}}
	head := func(ctx context.Context) (uint64, error) { return natsx.NewStoreClient(a.nc).Head(ctx) }
	if a.store != nil {
		head = a.store.Head
		checks = append(checks, opsCheck{Name: "store", Check: func(ctx context.Context) error {
			_, err := a.store.Head(ctx)
			return err
		}})
	}
	for _, r := range a.views {
		checks = append(checks, opsCheck{Name: "view " + r.Name(), Check: func(ctx context.Context) error {
			h, err := head(ctx)
			if err != nil {
				return events.Wrap(events.CodeUnavailable, err, "the store head is unknown: %s", events.ErrorMessage(err))
			}
			return r.WaitFor(ctx, h)
		}})
	}
	return checks
}

// runHealthcheck asks a rectify process's /healthz (or /readyz) and
// exits 0 when it answers 200: a container's health check, in an image
// that has no curl.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", stderr)
	url := fs.String("url", defaultHealthURL(envOr("RECTIFY_ADDR", "127.0.0.1:8080")),
		"base URL of the process (default: from RECTIFY_ADDR, as the process listens)")
	ready := fs.Bool("ready", false, "ask /readyz (ready to do its work) rather than /healthz (alive)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("healthcheck takes no arguments, got %q", fs.Args())}
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*url, "/")+path, nil)
	if err != nil {
		return usageError{fmt.Sprintf("-url: %v", err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", req.URL, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s: %s\n", req.URL, strings.TrimSpace(string(body)))
	return nil
}

// defaultHealthURL turns a listen address into a URL to reach it from the
// same host: ":8080" and "0.0.0.0:8080" become http://127.0.0.1:8080.
func defaultHealthURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
