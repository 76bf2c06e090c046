package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"rectify/events"
	"rectify/gateway"
	"rectify/projections"
	"rectify/services"
	"rectify/services/demo"
	"rectify/services/eventstore/embedded"
	"rectify/services/natsx"
	"rectify/services/relay"
	"rectify/services/watcher"
)

// serveConfig is everything `rectify serve` can be told.
type serveConfig struct {
	DataDir  string // RECTIFY_DATA
	NATSURL  string // RECTIFY_NATS_URL: use an external NATS instead of the embedded one
	NATSHost string // RECTIFY_NATS_HOST: where the embedded NATS listens
	NATSPort int    // RECTIFY_NATS_PORT: -1 picks a free port
	Replica  string // RECTIFY_REPLICA: names this process's view databases and consumers
	LogLevel string // RECTIFY_LOG_LEVEL: debug, info, warn, error
	Demo     bool   // fill a fresh data directory with a sample in Chinese
	Addr     string // RECTIFY_ADDR: where the HTTP gateway listens

	// The gateway's limits; zero means the gateway's default.
	MaxBodyBytes     int64         // RECTIFY_MAX_BODY
	MaxEvidenceBytes int64         // RECTIFY_MAX_EVIDENCE
	RequestTimeout   time.Duration // RECTIFY_REQUEST_TIMEOUT
	QueryWait        time.Duration // RECTIFY_QUERY_WAIT
	ShutdownTimeout  time.Duration // RECTIFY_SHUTDOWN_TIMEOUT
	CORSOrigins      []string      // RECTIFY_CORS_ORIGINS

	// The deadline watcher; zero values mean the watcher's defaults.
	Watch         bool          // RECTIFY_WATCH: run it in this process
	WatchInterval time.Duration // RECTIFY_WATCH_INTERVAL
	YellowDays    int           // RECTIFY_YELLOW_DAYS
	HeadDays      int           // RECTIFY_ESCALATE_HEAD_DAYS
	CommitteeDays int           // RECTIFY_ESCALATE_COMMITTEE_DAYS
}

func serveFlags(name string, stderr io.Writer, args []string) (serveConfig, error) {
	fs := newEnvFlags(name, stderr)
	var c serveConfig
	fs.StringVar(&c.DataDir, "data", "data", "data directory: event store, NATS files, views, evidence, admin token")
	fs.StringVar(&c.NATSURL, "nats-url", "", "external NATS URL; empty runs NATS in-process")
	fs.StringVar(&c.NATSHost, "nats-host", "127.0.0.1", "listen address of the in-process NATS")
	fs.IntVar(&c.NATSPort, "nats-port", -1, "listen port of the in-process NATS; -1 picks a free one")
	fs.StringVar(&c.Replica, "replica", "0", "replica id of this process's views (names their databases and consumers)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address of the HTTP API and dashboard")
	fs.Int64Var(&c.MaxBodyBytes, "max-body", gateway.DefaultMaxBodyBytes, "largest JSON request body, in bytes")
	fs.Int64Var(&c.MaxEvidenceBytes, "max-evidence", gateway.DefaultMaxEvidenceBytes, "largest evidence file, in bytes")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", gateway.DefaultRequestTimeout, "longest handling of one HTTP request (live streams excepted)")
	fs.DurationVar(&c.QueryWait, "query-wait", gateway.DefaultQueryWait, "longest a read waits for a view to reach its min_position before answering 503")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", gateway.DefaultShutdownTimeout, "on SIGTERM, longest wait for HTTP requests in flight to finish")
	fs.Var((*listFlag)(&c.CORSOrigins), "cors-origins", "comma-separated origins browsers may call the API from; empty sends no CORS headers")
	fs.BoolVar(&c.Watch, "watch", true, "run the deadline watcher, which records items turning yellow and red and escalates overdue ones")
	fs.DurationVar(&c.WatchInterval, "watch-interval", watcher.DefaultInterval, "time between the deadline watcher's passes; the first comes one interval after start")
	fs.IntVar(&c.YellowDays, "yellow-days", watcher.DefaultYellowDays, "an unfinished item turns yellow this many days before its deadline")
	fs.IntVar(&c.HeadDays, "escalate-head-days", watcher.DefaultHeadDays, "days overdue before the unit's head is reminded (the owner is, the first day)")
	fs.IntVar(&c.CommitteeDays, "escalate-committee-days", watcher.DefaultCommitteeDays, "days overdue before the committee is reminded")
	fs.BoolVar(&c.Demo, "demo", false, "on a fresh data directory, first fill it with a realistic sample in Chinese (a committee, its communities, a year of items and commitments)")
	for flagName, env := range map[string]string{
		"data": "RECTIFY_DATA", "nats-url": natsx.EnvURL, "nats-host": "RECTIFY_NATS_HOST", "nats-port": "RECTIFY_NATS_PORT",
		"replica": "RECTIFY_REPLICA", "log-level": "RECTIFY_LOG_LEVEL", "addr": "RECTIFY_ADDR",
		"max-body": "RECTIFY_MAX_BODY", "max-evidence": "RECTIFY_MAX_EVIDENCE", "request-timeout": "RECTIFY_REQUEST_TIMEOUT",
		"query-wait": "RECTIFY_QUERY_WAIT", "shutdown-timeout": "RECTIFY_SHUTDOWN_TIMEOUT", "cors-origins": "RECTIFY_CORS_ORIGINS",
		"watch": "RECTIFY_WATCH", "watch-interval": "RECTIFY_WATCH_INTERVAL", "yellow-days": "RECTIFY_YELLOW_DAYS",
		"escalate-head-days": "RECTIFY_ESCALATE_HEAD_DAYS", "escalate-committee-days": "RECTIFY_ESCALATE_COMMITTEE_DAYS",
	} {
		fs.bind(flagName, env)
	}
	if err := fs.parse(args); err != nil {
		return c, err
	}
	for _, d := range []struct {
		name string
		ok   bool
	}{
		{"max-body", c.MaxBodyBytes > 0}, {"max-evidence", c.MaxEvidenceBytes > 0}, {"request-timeout", c.RequestTimeout > 0},
		{"query-wait", c.QueryWait > 0}, {"shutdown-timeout", c.ShutdownTimeout > 0},
		{"watch-interval", c.WatchInterval > 0}, {"yellow-days", c.YellowDays > 0},
	} {
		if !d.ok {
			return c, usageError{fmt.Sprintf("-%s must be greater than zero", d.name)}
		}
	}
	// The owner is reminded on the first day overdue; each later step
	// comes later.
	if c.HeadDays < 2 || c.CommitteeDays <= c.HeadDays {
		return c, usageError{"-escalate-head-days must be at least 2, and -escalate-committee-days greater than it"}
	}
	return c, nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("log level %q: want debug, info, warn or error", level)}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := serveFlags("serve", stderr, args)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	app, err := openApp(ctx, cfg, logger, stdout)
	if err != nil {
		return err
	}
	defer app.Close()
	return app.Run(ctx)
}

// app is every role of rectify in one process, on the same code paths as
// separate processes: commands and queries cross NATS.
type app struct {
	cfg    serveConfig
	log    *slog.Logger
	store  *embedded.Store
	ns     *server.Server // nil with an external NATS
	nc     *nats.Conn
	js     jetstream.JetStream
	cmds   *services.Service
	relay  *relay.Relay
	gw     *gateway.Server
	views  []*projections.Runner
	watch  *watcher.Watcher // nil when the watcher runs elsewhere
	closed sync.Once
}

// views lists the projections a serving process keeps.
func views() []projections.Projection {
	return []projections.Projection{projections.Ledger{}, projections.Commitments{}, projections.Audit{}, projections.Access{}}
}

// openApp opens the store, starts or connects to NATS, opens the views and
// creates the first administrator on a fresh data directory. Nothing runs
// until Run.
func openApp(ctx context.Context, cfg serveConfig, logger *slog.Logger, stdout io.Writer) (a *app, err error) {
	a = &app{cfg: cfg, log: logger}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	a.store, err = embedded.Open(filepath.Join(cfg.DataDir, "events.db"), embedded.Options{})
	if err != nil {
		return nil, fmt.Errorf("event store: %w", err)
	}
	url := cfg.NATSURL
	if url == "" {
		var natsLog *slog.Logger // the embedded server's start-up banner is noise unless debugging
		if logger.Enabled(ctx, slog.LevelDebug) {
			natsLog = logger.With("component", "nats")
		}
		a.ns, err = natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: filepath.Join(cfg.DataDir, "nats"), Host: cfg.NATSHost, Port: cfg.NATSPort, Logger: natsLog})
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		url = a.ns.ClientURL()
	}
	connectCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a.nc, err = natsx.Connect(connectCtx, url, "rectify-serve")
	if err != nil {
		return nil, err
	}
	a.js, err = jetstream.New(a.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := natsx.EnsureStreams(connectCtx, a.js, natsx.StreamOptions{}); err != nil {
		return nil, err
	}
	a.cmds = services.New(a.store, services.Options{})
	if err := a.bootstrap(ctx, stdout); err != nil {
		return nil, err
	}
	if cfg.Demo {
		if err := a.seedDemo(ctx, stdout); err != nil {
			return nil, err
		}
	}
	a.relay = relay.New(a.store, a.js, a.nc, relay.Options{Logger: logger.With("component", "relay")})
	for _, p := range views() {
		r, err := projections.Open(ctx, p, projections.Options{
			Dir:      filepath.Join(cfg.DataDir, "views"),
			Replica:  cfg.Replica,
			Source:   a.store,
			OnCommit: a.publishChanges,
			Logger:   logger.With("component", "projection", "projection", p.Name()),
		})
		if err != nil {
			return nil, err
		}
		a.views = append(a.views, r)
	}
	if cfg.Watch {
		if a.watch, err = newWatcher(cfg, a.store, logger); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	a.registerLag(reg)
	a.gw = gateway.New(gateway.Config{
		Addr: cfg.Addr, DataDir: cfg.DataDir, Registry: reg,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxEvidenceBytes: cfg.MaxEvidenceBytes, RequestTimeout: cfg.RequestTimeout,
		QueryWait: cfg.QueryWait, ShutdownTimeout: cfg.ShutdownTimeout, CORSOrigins: cfg.CORSOrigins,
	}, a.nc, logger.With("component", "gateway"))
	if err := a.gw.Open(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	fmt.Fprintf(stdout, "rectify: serving http://%s (API under /api/v1, OpenAPI at /api/openapi.json)\n", a.gw.Addr())
	return a, nil
}

// newWatcher makes the deadline watcher of cfg. It watches the store this
// process owns: it reads the items from the store itself, the one copy
// that is never behind (see package watcher).
func newWatcher(cfg serveConfig, store *embedded.Store, logger *slog.Logger) (*watcher.Watcher, error) {
	opts := watcher.Options{Interval: cfg.WatchInterval, YellowDays: cfg.YellowDays, Logger: logger.With("component", "watcher")}
	if cfg.HeadDays != 0 || cfg.CommitteeDays != 0 {
		opts.Steps = watcher.Ladder(cmp.Or(cfg.HeadDays, watcher.DefaultHeadDays), cmp.Or(cfg.CommitteeDays, watcher.DefaultCommitteeDays))
	}
	w, err := watcher.New(store, opts)
	if err != nil {
		return nil, usageError{fmt.Sprintf("deadline watcher: %v", err)}
	}
	return w, nil
}

// registerLag puts the relay's and every view's lag on /metrics.
func (a *app) registerLag(reg *prometheus.Registry) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rectify_relay_lag_events", Help: "Events stored but not yet published to JetStream."},
		func() float64 { return float64(a.relay.Stats().Lag) }))
	for _, r := range a.views {
		r := r
		labels := prometheus.Labels{"view": r.Name(), "replica": r.Replica()}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rectify_projection_lag_events", Help: "Positions a view is behind the newest event it has seen.", ConstLabels: labels},
			func() float64 { return float64(r.Stats().Behind) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rectify_projection_position", Help: "Last $all position applied to a view.", ConstLabels: labels},
			func() float64 { return float64(r.Position()) }))
	}
}

// bootstrap creates the first administrator on a fresh store and writes its
// token to a file only the owner can read; it says where, once.
func (a *app) bootstrap(ctx context.Context, stdout io.Writer) error {
	token, created, err := a.cmds.Bootstrap(ctx, "")
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if !created {
		return nil
	}
	path := filepath.Join(a.cfg.DataDir, "admin.token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	abs, _ := filepath.Abs(path)
	fmt.Fprintf(stdout, "rectify: created the administrator; its API token is in %s (readable by you only)\n", abs)
	return nil
}

// seedDemo fills a fresh store with the demo sample and writes the demo
// users' tokens beside the admin token. On a store that already holds data
// it says so and goes on: --demo is safe to leave in a start script.
func (a *app) seedDemo(ctx context.Context, stdout io.Writer) error {
	start := time.Now()
	res, err := demo.Seed(ctx, a.store, demo.Options{PutEvidence: func(name string, data []byte) (string, error) {
		return gateway.StoreEvidence(a.cfg.DataDir, name, data)
	}})
	if events.ErrorCode(err) == events.CodeConflict {
		fmt.Fprintln(stdout, "rectify: --demo: the data directory already holds data; leaving it as it is")
		return nil
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var b strings.Builder
	b.WriteString("# Demo users' API tokens (rectify serve --demo). Use as: Authorization: Bearer <token>\n")
	for _, uid := range slices.Sorted(maps.Keys(res.Tokens)) {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", uid, res.Users[uid], res.Tokens[uid])
	}
	path := filepath.Join(a.cfg.DataDir, "demo-tokens.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write demo tokens: %w", err)
	}
	fmt.Fprintf(stdout, "rectify: demo sample written (%d items, %d commands in %s); tokens of a reviewer, an editor and a viewer are in %s\n",
		res.Items, res.Commands, time.Since(start).Round(time.Millisecond), path)
	return nil
}

// publishChanges announces committed view changes on NATS for live
// dashboards. A lost notice is not lost data: clients refetch on reset.
func (a *app) publishChanges(cs []projections.Change) {
	b, err := json.Marshal(cs)
	if err != nil {
		return
	}
	if err := a.nc.Publish(natsx.ChangesSubject(cs[0].View), b); err != nil {
		a.log.Debug("change notice not published", "err", err)
	}
}

// Run runs every role until ctx is done or one of them fails, then shuts
// down in order: the gateway first, so that requests in flight get their
// replies while the command service, the relay and the views still run;
// then the other roles.
func (a *app) Run(ctx context.Context) error {
	// stop ends the gateway: the caller is done, or a role failed.
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	// roles outlives ctx until the gateway has drained.
	roles, cancelRoles := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRoles()

	var wg sync.WaitGroup
	errs := make(chan error, 8+len(a.views))
	goRun := func(ctx context.Context, name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancelStop()
			}
		}()
	}
	goRun(roles, "commands", func(ctx context.Context) error {
		return a.cmds.ServeNATS(ctx, a.nc, a.log.With("component", "commands"))
	})
	goRun(roles, "relay", a.relay.Run)
	if a.watch != nil {
		goRun(roles, "watcher", a.watch.Run)
	}
	for _, r := range a.views {
		goRun(roles, "projection "+r.Name(), func(ctx context.Context) error { return r.Consume(ctx, a.js, projections.ConsumeOptions{}) })
	}
	goRun(roles, "queries", func(ctx context.Context) error {
		return projections.ServeQueries(ctx, a.nc, a.views, projections.ServeOptions{Logger: a.log.With("component", "queries")})
	})
	gwDone := make(chan error, 1)
	go func() { gwDone <- a.gw.Run(stop) }()
	a.log.Info("rectify serving", "data", a.cfg.DataDir, "http", a.gw.Addr(), "nats", a.nc.ConnectedUrlRedacted())

	<-stop.Done()
	// The gateway's Run returns once its requests in flight have their
	// replies (bounded by the shutdown timeout).
	gwErr := <-gwDone
	if gwErr != nil && ctx.Err() == nil {
		gwErr = fmt.Errorf("http: %w", gwErr)
	}
	a.log.Info("rectify stopping", "reason", context.Cause(stop))
	cancelRoles()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return gwErr
	}
}

// Close stops NATS and closes the views and the store. Appends in flight
// finish first, so nothing acknowledged is lost.
func (a *app) Close() error {
	var errs []error
	a.closed.Do(func() {
		// The gateway first: requests in flight finish and get their replies
		// while NATS and the command service are still there.
		if a.gw != nil {
			errs = append(errs, a.gw.Close())
		}
		if a.nc != nil {
			a.nc.Drain()
		}
		for _, r := range a.views {
			errs = append(errs, r.Close())
		}
		if a.store != nil {
			errs = append(errs, a.store.Close())
		}
		if a.ns != nil {
			a.ns.Shutdown()
			a.ns.WaitForShutdown()
		}
	})
	return errors.Join(errs...)
}
