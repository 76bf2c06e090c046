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
	"math"
	"net"
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
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/eventstore/esdbstore"
	"rectify/services/natsx"
	"rectify/services/relay"
	"rectify/services/watcher"
)

// The roles a rectify process can run (--roles).
const (
	roleCommands    = "commands"    // command service: load, decide, append
	roleRelay       = "relay"       // store -> JetStream; one leads, the others stand by
	roleProjections = "projections" // views and their query service
	roleGateway     = "gateway"     // HTTP API, dashboard, live stream
	roleWatcher     = "watcher"     // deadline watcher
)

// allRoles is every role, in the order a process starts them.
var allRoles = []string{roleCommands, roleRelay, roleProjections, roleGateway, roleWatcher}

// serveConfig is everything `rectify serve` can be told.
type serveConfig struct {
	DataDir  string // RECTIFY_DATA
	NATSURL  string // RECTIFY_NATS_URL: use an external NATS instead of the embedded one
	NATSHost string // RECTIFY_NATS_HOST: where the embedded NATS listens
	NATSPort int    // RECTIFY_NATS_PORT: -1 picks a free port
	Replica  string // RECTIFY_REPLICA: names this process's view databases and consumers
	LogLevel string // RECTIFY_LOG_LEVEL: debug, info, warn, error
	Demo     bool   // fill a fresh data directory with a sample in Chinese
	Addr     string // RECTIFY_ADDR: where the HTTP gateway (or, without it, the operations endpoints) listens

	// Roles this process runs (RECTIFY_ROLES); empty means all of them.
	Roles []string
	// Views this process keeps when it runs the projections
	// (RECTIFY_VIEWS); empty means all of them.
	Views []string
	// ESDBURL is an EventStoreDB connection string (RECTIFY_ESDB_URL);
	// empty uses the embedded store in DataDir.
	ESDBURL string
	// StreamReplicas of the JetStream events stream and the relay's lease
	// bucket (RECTIFY_STREAM_REPLICAS): 3 on a three-node NATS cluster.
	StreamReplicas int
	// AdminTokenFile is where the first administrator's token is written
	// (RECTIFY_ADMIN_TOKEN_FILE); empty means DataDir/admin.token.
	AdminTokenFile string

	// The gateway's limits; zero means the gateway's default.
	MaxBodyBytes     int64         // RECTIFY_MAX_BODY
	MaxEvidenceBytes int64         // RECTIFY_MAX_EVIDENCE
	RequestTimeout   time.Duration // RECTIFY_REQUEST_TIMEOUT
	QueryWait        time.Duration // RECTIFY_QUERY_WAIT
	ShutdownTimeout  time.Duration // RECTIFY_SHUTDOWN_TIMEOUT
	CORSOrigins      []string      // RECTIFY_CORS_ORIGINS
	// Failed token authentications allowed per client address: a burst,
	// then a rate per second (0: no limit); and the proxies trusted to
	// name the client.
	AuthFailureRate  float64  // RECTIFY_AUTH_FAILURE_RATE
	AuthFailureBurst int      // RECTIFY_AUTH_FAILURE_BURST
	TrustedProxies   []string // RECTIFY_TRUSTED_PROXIES

	// The deadline watcher; zero values mean the watcher's defaults.
	Watch         bool          // RECTIFY_WATCH: run it in this process (with the watcher role)
	WatchInterval time.Duration // RECTIFY_WATCH_INTERVAL
	YellowDays    int           // RECTIFY_YELLOW_DAYS
	HeadDays      int           // RECTIFY_ESCALATE_HEAD_DAYS
	CommitteeDays int           // RECTIFY_ESCALATE_COMMITTEE_DAYS
}

// runs reports whether the process runs role.
func (c serveConfig) runs(role string) bool {
	return len(c.Roles) == 0 || slices.Contains(c.Roles, role)
}

// ownsStore reports whether a role of the process writes or follows the
// event store (the command service, the relay, the watcher): with the
// embedded store, such a process owns the file. The projections only
// read the store, to fill gaps and rebuild: EventStoreDB directly, the
// embedded store through its owner, over NATS.
func (c serveConfig) ownsStore() bool {
	return c.runs(roleCommands) || c.runs(roleRelay) || (c.runs(roleWatcher) && c.Watch)
}

// viewList is the projections the process keeps: every one of views(),
// or those named by Views.
func (c serveConfig) viewList() []projections.Projection {
	var out []projections.Projection
	for _, p := range views() {
		if len(c.Views) == 0 || slices.Contains(c.Views, p.Name()) {
			out = append(out, p)
		}
	}
	return out
}

// adminTokenPath is where bootstrap writes the first administrator's token.
func (c serveConfig) adminTokenPath() string {
	if c.AdminTokenFile != "" {
		return c.AdminTokenFile
	}
	return filepath.Join(c.DataDir, "admin.token")
}

func serveFlags(name string, stderr io.Writer, args []string) (serveConfig, error) {
	fs := newEnvFlags(name, stderr)
	var c serveConfig
	c.Roles = slices.Clone(allRoles)
	fs.Var((*listFlag)(&c.Roles), "roles", "comma-separated roles this process runs: commands, relay, projections, gateway, watcher, or all")
	fs.StringVar(&c.ESDBURL, "esdb-url", "", "EventStoreDB connection string, e.g. esdb://host:2113?tls=false; empty keeps the embedded store in the data directory")
	fs.Var((*listFlag)(&c.Views), "views", "comma-separated views the projections role keeps; empty keeps every view")
	fs.StringVar(&c.DataDir, "data", "data", "data directory: event store, NATS files, views, evidence, admin token")
	fs.StringVar(&c.NATSURL, "nats-url", "", "external NATS URL (comma-separated for a cluster); empty runs NATS in-process")
	fs.StringVar(&c.NATSHost, "nats-host", "127.0.0.1", "listen address of the in-process NATS")
	fs.IntVar(&c.NATSPort, "nats-port", -1, "listen port of the in-process NATS; -1 picks a free one")
	fs.IntVar(&c.StreamReplicas, "stream-replicas", 1, "replicas of the JetStream events stream and of the relay lease (3 on a three-node cluster)")
	fs.StringVar(&c.Replica, "replica", "0", "replica id of this process's views (names their databases and consumers; distinct for every projections process)")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", "", "where the first start writes the administrator's token; empty means admin.token in the data directory")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address of the HTTP API and dashboard (without the gateway role: of /healthz, /readyz and /metrics; empty: none)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body", gateway.DefaultMaxBodyBytes, "largest JSON request body, in bytes")
	fs.Int64Var(&c.MaxEvidenceBytes, "max-evidence", gateway.DefaultMaxEvidenceBytes, "largest evidence file, in bytes")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", gateway.DefaultRequestTimeout, "longest handling of one HTTP request (live streams excepted)")
	fs.DurationVar(&c.QueryWait, "query-wait", gateway.DefaultQueryWait, "longest a read waits for a view to reach its min_position before answering 503")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", gateway.DefaultShutdownTimeout, "on SIGTERM, longest wait for HTTP requests in flight to finish")
	fs.Var((*listFlag)(&c.CORSOrigins), "cors-origins", "comma-separated origins browsers may call the API from; empty sends no CORS headers")
	fs.Float64Var(&c.AuthFailureRate, "auth-failure-rate", gateway.DefaultAuthFailureRate, "failed token authentications a client address may make per second once its burst is spent (then 429); 0 turns the limit off")
	fs.IntVar(&c.AuthFailureBurst, "auth-failure-burst", gateway.DefaultAuthFailureBurst, "failed token authentications a client address may make at once")
	fs.Var((*listFlag)(&c.TrustedProxies), "trusted-proxies", "comma-separated IPs or CIDR ranges of proxies whose X-Forwarded-For names the client; empty trusts none")
	fs.BoolVar(&c.Watch, "watch", true, "run the deadline watcher when the watcher role is on; false leaves it out")
	fs.DurationVar(&c.WatchInterval, "watch-interval", watcher.DefaultInterval, "time between the deadline watcher's passes; the first comes one interval after start")
	fs.IntVar(&c.YellowDays, "yellow-days", watcher.DefaultYellowDays, "an unfinished item turns yellow this many days before its deadline")
	fs.IntVar(&c.HeadDays, "escalate-head-days", watcher.DefaultHeadDays, "days overdue before the unit's head is reminded (the owner is, the first day)")
	fs.IntVar(&c.CommitteeDays, "escalate-committee-days", watcher.DefaultCommitteeDays, "days overdue before the committee is reminded")
	fs.BoolVar(&c.Demo, "demo", false, "on a fresh data directory, first fill it with a realistic sample in Chinese (a committee, its communities, a year of items and commitments)")
	for flagName, env := range map[string]string{
		"roles": "RECTIFY_ROLES", "esdb-url": "RECTIFY_ESDB_URL", "views": "RECTIFY_VIEWS",
		"data": "RECTIFY_DATA", "nats-url": natsx.EnvURL, "nats-host": "RECTIFY_NATS_HOST", "nats-port": "RECTIFY_NATS_PORT",
		"stream-replicas": "RECTIFY_STREAM_REPLICAS", "admin-token-file": "RECTIFY_ADMIN_TOKEN_FILE",
		"replica": "RECTIFY_REPLICA", "log-level": "RECTIFY_LOG_LEVEL", "addr": "RECTIFY_ADDR",
		"max-body": "RECTIFY_MAX_BODY", "max-evidence": "RECTIFY_MAX_EVIDENCE", "request-timeout": "RECTIFY_REQUEST_TIMEOUT",
		"query-wait": "RECTIFY_QUERY_WAIT", "shutdown-timeout": "RECTIFY_SHUTDOWN_TIMEOUT", "cors-origins": "RECTIFY_CORS_ORIGINS",
		"auth-failure-rate": "RECTIFY_AUTH_FAILURE_RATE", "auth-failure-burst": "RECTIFY_AUTH_FAILURE_BURST", "trusted-proxies": "RECTIFY_TRUSTED_PROXIES",
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
		{"watch-interval", c.WatchInterval > 0}, {"yellow-days", c.YellowDays > 0}, {"auth-failure-burst", c.AuthFailureBurst > 0},
	} {
		if !d.ok {
			return c, usageError{fmt.Sprintf("-%s must be greater than zero", d.name)}
		}
	}
	if c.AuthFailureRate < 0 || math.IsNaN(c.AuthFailureRate) || math.IsInf(c.AuthFailureRate, 0) {
		return c, usageError{"-auth-failure-rate must be 0 (no limit) or a positive number of failures per second"}
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return c, usageError{fmt.Sprintf("-trusted-proxies: %q is neither an IP address nor a CIDR range", p)}
		}
	}
	// JetStream allows at most five replicas of a stream.
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		return c, usageError{"-stream-replicas must be between 1 and 5"}
	}
	// The owner is reminded on the first day overdue; each later step
	// comes later.
	if c.HeadDays < 2 || c.CommitteeDays <= c.HeadDays {
		return c, usageError{"-escalate-head-days must be at least 2, and -escalate-committee-days greater than it"}
	}
	if err := c.checkRoles(); err != nil {
		return c, err
	}
	return c, nil
}

// checkRoles normalises Roles and Views and refuses what cannot work.
func (c *serveConfig) checkRoles() error {
	if slices.Contains(c.Roles, "all") {
		if len(c.Roles) > 1 {
			return usageError{"-roles: all stands alone"}
		}
		c.Roles = slices.Clone(allRoles)
	}
	if len(c.Roles) == 0 {
		return usageError{"-roles: name at least one role (commands, relay, projections, gateway, watcher) or all"}
	}
	for _, r := range c.Roles {
		if !slices.Contains(allRoles, r) {
			return usageError{fmt.Sprintf("-roles: unknown role %q; the roles are %s", r, strings.Join(allRoles, ", "))}
		}
	}
	if err := c.checkViews(); err != nil {
		return err
	}
	if c.Demo && !c.runs(roleCommands) {
		return usageError{"-demo needs the commands role in the same process: it writes the sample through the store"}
	}
	if c.Addr == "" && c.runs(roleGateway) {
		return usageError{"-addr: the gateway role needs a listen address"}
	}
	return nil
}

// checkViews refuses a view name that views() does not list.
func (c *serveConfig) checkViews() error {
	var names []string
	for _, p := range views() {
		names = append(names, p.Name())
	}
	for _, v := range c.Views {
		if !slices.Contains(names, v) {
			return usageError{fmt.Sprintf("-views: unknown view %q; the views are %s", v, strings.Join(names, ", "))}
		}
	}
	return nil
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

// app is the roles of rectify that one process runs (by default every
// one), on the same code paths whether they share a process or not:
// commands and queries cross NATS.
type app struct {
	cfg   serveConfig
	log   *slog.Logger
	store eventstore.Store // nil when no role of this process opens it
	// serveStore: this process owns the embedded store file and serves
	// reads of it over NATS to processes that have no store.
	serveStore bool
	ns         *server.Server // nil with an external NATS
	natsOpts   natsx.EmbeddedOptions
	nc         *nats.Conn
	js         jetstream.JetStream
	cmds       *services.Service // nil without the commands role
	relay      *relay.Relay      // nil without the relay role
	gw         *gateway.Server   // nil without the gateway role
	ops        *opsServer        // the operations endpoints when there is no gateway
	views      []*projections.Runner
	watch      *watcher.Watcher // nil when the watcher runs elsewhere
	closed     sync.Once
}

// views lists the projections a serving process keeps.
func views() []projections.Projection {
	return []projections.Projection{projections.Ledger{}, projections.Commitments{}, projections.Audit{}, projections.Access{},
		projections.Assessments{}}
}

// openApp opens what the process's roles need — the event store, NATS
// (started in-process or connected to), the views — creates the first
// administrator on a fresh store, and starts listening for HTTP. Nothing
// runs until Run.
func openApp(ctx context.Context, cfg serveConfig, logger *slog.Logger, stdout io.Writer) (_ *app, err error) {
	// a, not the named result: a failing return sets that to nil before
	// the deferred Close runs, and what was opened must still be closed.
	a := &app{cfg: cfg, log: logger}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	url := cfg.NATSURL
	if url == "" {
		var natsLog *slog.Logger // the embedded server's start-up banner is noise unless debugging
		if logger.Enabled(ctx, slog.LevelDebug) {
			natsLog = logger.With("component", "nats")
		}
		a.natsOpts = natsx.EmbeddedOptions{StoreDir: filepath.Join(cfg.DataDir, "nats"), Host: cfg.NATSHost, Port: cfg.NATSPort, Logger: natsLog}
		a.ns, err = natsx.StartEmbedded(a.natsOpts)
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		url = a.ns.ClientURL()
	}
	connectCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a.nc, err = natsx.Connect(connectCtx, url, "rectify-"+strings.Join(cfg.roleNames(), "-"))
	if err != nil {
		return nil, err
	}
	a.js, err = jetstream.New(a.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	streamOpts := natsx.StreamOptions{Replicas: cfg.StreamReplicas}
	if cfg.runs(roleRelay) {
		// A cluster that is still electing its JetStream leader refuses for
		// a moment; that is no reason to give up starting.
		for {
			err := natsx.EnsureStreams(connectCtx, a.js, streamOpts)
			if err == nil {
				break
			}
			if events.ErrorCode(err) != events.CodeUnavailable || connectCtx.Err() != nil {
				return nil, err
			}
			logger.Warn("events stream not ready yet; retrying", "err", err)
			time.Sleep(250 * time.Millisecond)
		}
	}
	if cfg.runs(roleCommands) {
		a.cmds = services.New(a.store, services.Options{})
		if err := a.bootstrap(ctx, stdout); err != nil {
			return nil, err
		}
		if cfg.Demo {
			if err := a.seedDemo(ctx, stdout); err != nil {
				return nil, err
			}
		}
	}
	if cfg.runs(roleRelay) {
		a.relay = relay.New(a.store, a.js, a.nc, relay.Options{ID: relayID(cfg), Stream: streamOpts, Logger: logger.With("component", "relay")})
	}
	if cfg.runs(roleProjections) {
		// Gaps and rebuilds read the store: directly where this process
		// has it, else through the process that owns it.
		var source projections.Source = natsx.NewStoreClient(a.nc)
		if a.store != nil {
			source = a.store
		}
		for _, p := range cfg.viewList() {
			r, err := projections.Open(ctx, p, projections.Options{
				Dir:      filepath.Join(cfg.DataDir, "views"),
				Replica:  cfg.Replica,
				Source:   source,
				OnCommit: a.publishChanges,
				Logger:   logger.With("component", "projection", "projection", p.Name()),
			})
			if err != nil {
				return nil, err
			}
			a.views = append(a.views, r)
		}
	}
	if cfg.runs(roleWatcher) && cfg.Watch {
		if a.watch, err = newWatcher(cfg, a.store, logger); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	a.registerLag(reg)
	switch {
	case cfg.runs(roleGateway):
		a.gw = gateway.New(gateway.Config{
			Addr: cfg.Addr, DataDir: cfg.DataDir, Registry: reg,
			MaxBodyBytes: cfg.MaxBodyBytes, MaxEvidenceBytes: cfg.MaxEvidenceBytes, RequestTimeout: cfg.RequestTimeout,
			QueryWait: cfg.QueryWait, ShutdownTimeout: cfg.ShutdownTimeout, CORSOrigins: cfg.CORSOrigins,
			AuthFailureRate: authFailureRate(cfg.AuthFailureRate), AuthFailureBurst: cfg.AuthFailureBurst, TrustedProxies: cfg.TrustedProxies,
		}, a.nc, logger.With("component", "gateway"))
		if err := a.gw.Open(); err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		fmt.Fprintf(stdout, "rectify: serving http://%s (API under /api/v1, OpenAPI at /api/openapi.json)\n", a.gw.Addr())
	case cfg.Addr != "":
		a.ops = newOpsServer(cfg.Addr, reg, a.readyChecks(), cfg.ShutdownTimeout)
		if err := a.ops.Open(); err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		fmt.Fprintf(stdout, "rectify: serving http://%s (roles %s; operations only: /healthz, /readyz, /metrics)\n",
			a.ops.Addr(), strings.Join(cfg.roleNames(), ","))
	}
	return a, nil
}

// roleNames lists the roles the process runs, in start order.
func (c serveConfig) roleNames() []string {
	var out []string
	for _, r := range allRoles {
		if c.runs(r) {
			out = append(out, r)
		}
	}
	return out
}

// relayID names this process's relay in the lease: the host, the data
// directory and the listen address as configured, the same across
// restarts. A relay killed while holding the lease leaves its id in the
// lease's key until the key's TTL runs out; restarted with the same id, it
// takes the lease back at once instead of leaving the views without new
// events for that long (the crash suite saw ten seconds of it after every
// kill). Two relays running at once differ in one of the three: one host
// cannot listen twice on one address, and the embedded store's file
// belongs to one process. Were two to share an id anyway, both would
// publish, and the relay's expected-sequence publishes would still keep
// the copy in order.
func relayID(cfg serveConfig) string {
	host, _ := os.Hostname()
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		dir = cfg.DataDir
	}
	return host + ":" + dir + "@" + cfg.Addr
}

// openStore opens the event store when a role of this process needs it:
// EventStoreDB for any role that reads or writes the store (the
// projections included), or the embedded store in the data directory
// for the command service, the relay and the watcher. A process with
// the embedded store serves reads of it over NATS.
func (a *app) openStore(ctx context.Context) error {
	cfg := a.cfg
	switch {
	case cfg.ESDBURL != "" && (cfg.ownsStore() || cfg.runs(roleProjections)):
		s, err := openESDB(ctx, cfg.ESDBURL, a.log)
		if err != nil {
			return fmt.Errorf("event store: %w", err)
		}
		a.store = s
	case cfg.ESDBURL == "" && cfg.ownsStore():
		s, err := embedded.Open(filepath.Join(cfg.DataDir, "events.db"), embedded.Options{})
		if err != nil {
			return fmt.Errorf("event store: %w", err)
		}
		a.store, a.serveStore = s, true
	}
	return nil
}

// openESDB connects to EventStoreDB, waiting up to a minute for a server
// that is still starting.
func openESDB(ctx context.Context, url string, logger *slog.Logger) (*esdbstore.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	wait := 250 * time.Millisecond
	for {
		s, err := esdbstore.Open(ctx, url)
		if err == nil || events.ErrorCode(err) != events.CodeUnavailable {
			return s, err
		}
		logger.Warn("EventStoreDB not reachable yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// newWatcher makes the deadline watcher of cfg. It watches the store this
// process has: it reads the items from the store itself, the one copy
// that is never behind (see package watcher).
func newWatcher(cfg serveConfig, store eventstore.Store, logger *slog.Logger) (*watcher.Watcher, error) {
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
	if a.relay != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rectify_relay_lag_events", Help: "Events stored but not yet published to JetStream."},
			func() float64 { return float64(a.relay.Stats().Lag) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rectify_relay_leader", Help: "1 while this relay holds the lease and publishes, 0 while it stands by."},
			func() float64 {
				if a.relay.Stats().Leader {
					return 1
				}
				return 0
			}))
	}
	for _, r := range a.views {
		labels := prometheus.Labels{"view": r.Name(), "replica": r.Replica()}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rectify_projection_lag_events", Help: "Positions a view is behind the newest event it has seen.", ConstLabels: labels},
			func() float64 { return float64(r.Stats().Behind) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rectify_projection_position", Help: "Last $all position applied to a view.", ConstLabels: labels},
			func() float64 { return float64(r.Position()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rectify_projection_gaps_filled_total", Help: "Gaps in the JetStream copy a view filled from the event store.", ConstLabels: labels},
			func() float64 { return float64(r.Stats().Gaps) }))
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
	path := a.cfg.adminTokenPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
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

// Run runs the process's roles until ctx is done or one of them fails,
// then shuts down in order: HTTP first, so that requests in flight get
// their replies while the command service, the relay and the views still
// run; then the other roles.
func (a *app) Run(ctx context.Context) error {
	// stop ends the HTTP server: the caller is done, or a role failed.
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	// roles outlives ctx until HTTP has drained.
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
	if a.ns != nil {
		goRun(roles, "jetstream watch", func(ctx context.Context) error {
			natsx.KeepJetStreamWriting(ctx, a.ns, a.natsOpts, 0, a.log.With("component", "nats"))
			return nil
		})
	}
	if a.serveStore {
		goRun(roles, "store reads", func(ctx context.Context) error {
			return natsx.ServeStore(ctx, a.nc, a.store, a.log.With("component", "store"))
		})
	}
	if a.cmds != nil {
		goRun(roles, "commands", func(ctx context.Context) error {
			return a.cmds.ServeNATS(ctx, a.nc, a.log.With("component", "commands"))
		})
	}
	if a.relay != nil {
		goRun(roles, "relay", a.relay.Run)
	}
	if a.watch != nil {
		goRun(roles, "watcher", a.watch.Run)
	}
	for _, r := range a.views {
		goRun(roles, "projection "+r.Name(), func(ctx context.Context) error { return r.Consume(ctx, a.js, projections.ConsumeOptions{}) })
	}
	if len(a.views) > 0 {
		goRun(roles, "queries", func(ctx context.Context) error {
			return projections.ServeQueries(ctx, a.nc, a.views, projections.ServeOptions{Logger: a.log.With("component", "queries")})
		})
	}
	httpDone := make(chan error, 1)
	addr := ""
	switch {
	case a.gw != nil:
		addr = a.gw.Addr()
		go func() { httpDone <- a.gw.Run(stop) }()
	case a.ops != nil:
		addr = a.ops.Addr()
		go func() { httpDone <- a.ops.Run(stop) }()
	default:
		go func() { <-stop.Done(); httpDone <- nil }()
	}
	a.log.Info("rectify serving", "roles", a.cfg.roleNames(), "data", a.cfg.DataDir, "http", addr, "nats", a.nc.ConnectedUrlRedacted())

	<-stop.Done()
	// HTTP's Run returns once its requests in flight have their replies
	// (bounded by the shutdown timeout).
	httpErr := <-httpDone
	if httpErr != nil && ctx.Err() == nil {
		httpErr = fmt.Errorf("http: %w", httpErr)
	}
	a.log.Info("rectify stopping", "reason", context.Cause(stop))
	cancelRoles()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return httpErr
	}
}

// Close stops NATS and closes the views and the store. Appends in flight
// finish first, so nothing acknowledged is lost.
func (a *app) Close() error {
	var errs []error
	a.closed.Do(func() {
		// HTTP first: requests in flight finish and get their replies
		// while NATS and the command service are still there.
		if a.gw != nil {
			errs = append(errs, a.gw.Close())
		}
		if a.ops != nil {
			errs = append(errs, a.ops.Close())
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

// authFailureRate is the gateway's AuthFailureRate for the flag's value:
// the flag's 0 (no limit) is the gateway's negative, whose 0 is its
// default.
func authFailureRate(flag float64) float64 {
	if flag == 0 {
		return -1
	}
	return flag
}
