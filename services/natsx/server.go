package natsx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rectify/events"
)

// EmbeddedOptions configures an in-process NATS server.
type EmbeddedOptions struct {
	// StoreDir is the directory JetStream keeps its files in (it creates a
	// "jetstream" directory inside). Required.
	StoreDir string
	// Host to listen on; "127.0.0.1" when empty.
	Host string
	// Port to listen on: 0 means NATS's default 4222, -1 a free port chosen
	// by the system (tests; read it back from ClientURL).
	Port int
	// ServerName names the server in logs and monitoring; "rectify" when
	// empty.
	ServerName string
	// Logger receives the server's log. Nil keeps the server silent.
	Logger *slog.Logger
	// Debug also passes the server's debug lines to Logger.
	Debug bool
	// ReadyTimeout bounds the wait for the server to accept clients with
	// JetStream up; 10 s when zero.
	ReadyTimeout time.Duration
}

// StartEmbedded starts a NATS server with JetStream stored under
// opts.StoreDir and returns once it accepts clients, JetStream included.
// Shut it down with Shutdown and WaitForShutdown.
//
// Errors: CodeInvalid for bad options, CodeUnavailable when the server does
// not come up (port taken, store directory unusable or locked by another
// server).
func StartEmbedded(opts EmbeddedOptions) (*server.Server, error) {
	if opts.StoreDir == "" {
		return nil, events.Invalid("StoreDir", "required")
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	name := opts.ServerName
	if name == "" {
		name = "rectify"
	}
	timeout := opts.ReadyTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sopts := &server.Options{
		ServerName: name,
		Host:       host,
		Port:       opts.Port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		// The process owning the server handles signals and logging.
		NoSigs:                 true,
		NoLog:                  true,
		DisableJetStreamBanner: true,
	}
	s, err := server.NewServer(sopts)
	if err != nil {
		return nil, events.Wrap(events.CodeInvalid, err, "nats server options")
	}
	lg := &serverLogger{log: opts.Logger, fatal: make(chan string, 1)}
	if lg.log == nil {
		lg.log = slog.New(slog.DiscardHandler)
	}
	s.SetLoggerV2(lg, opts.Debug, false, false)

	go s.Start()

	// Start gives up silently (through Fatalf) when JetStream cannot start,
	// so watch for that instead of waiting out the whole timeout.
	deadline := time.Now().Add(timeout)
	for !s.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-lg.fatal:
			s.Shutdown()
			s.WaitForShutdown()
			return nil, events.Errorf(events.CodeUnavailable, "nats server did not start: %s", msg)
		default:
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			s.WaitForShutdown()
			return nil, events.Errorf(events.CodeUnavailable, "nats server not ready after %s", timeout)
		}
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, events.Errorf(events.CodeUnavailable, "nats server started without jetstream")
	}
	return s, nil
}

// KeepJetStreamWriting watches the JetStream of a server started by
// StartEmbedded(opts) until ctx is done, checking it every interval (1 s
// when zero). A stream whose write failed once, because its disk was
// full, refuses every later write without a reply to the publisher until
// JetStream loads it again, and nats-server never does that by itself: the
// relay would wait for acknowledgements forever and the views would see
// no event after the disk had room again. When the server's health check
// reports such a stream, KeepJetStreamWriting restarts JetStream in place
// (its files and the clients' connections stay), pausing longer between
// restarts, up to ten times the interval, while the disk is still full.
func KeepJetStreamWriting(ctx context.Context, s *server.Server, opts EmbeddedOptions, interval time.Duration, logger *slog.Logger) {
	if interval <= 0 {
		interval = time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pause := interval
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		broken := jetStreamWriteErrors(s)
		if len(broken) == 0 {
			pause = interval
			t.Reset(interval)
			continue
		}
		logger.Warn("JetStream refuses writes after a write failed; restarting it", "streams", broken)
		if err := restartJetStream(s, opts); err != nil {
			logger.Error("JetStream restart failed", "err", err)
		}
		t.Reset(pause)
		pause = min(2*pause, 10*interval)
	}
}

// jetStreamWriteErrors lists the streams s's health check reports with a
// write error.
func jetStreamWriteErrors(s *server.Server) []string {
	if !s.JetStreamEnabled() {
		return []string{"(jetstream disabled)"}
	}
	var out []string
	for _, e := range s.Healthz(&server.HealthzOptions{Details: true}).Errors {
		// The health check says so only in words: "write error: ...".
		if e.Type == server.HealthzErrorStream && strings.Contains(e.Error, "write error") {
			out = append(out, e.Stream)
		}
	}
	return out
}

// restartJetStream shuts JetStream down and enables it again with the
// limits it had, reloading every stream from its files.
func restartJetStream(s *server.Server, opts EmbeddedOptions) error {
	var cfg server.JetStreamConfig
	if c := s.JetStreamConfig(); c != nil {
		cfg = *c
	}
	if s.JetStreamEnabled() {
		if err := s.ShutdownJetStream(); err != nil {
			return fmt.Errorf("shut jetstream down: %w", err)
		}
	}
	// EnableJetStream puts its "jetstream" directory under the one it is
	// given, as StartEmbedded's options did.
	cfg.StoreDir = opts.StoreDir
	if err := s.EnableJetStream(&cfg); err != nil {
		return fmt.Errorf("enable jetstream: %w", err)
	}
	return nil
}

// serverLogger passes nats-server's log to slog and catches its fatal
// errors, which must not end the process that embeds it.
type serverLogger struct {
	log   *slog.Logger
	fatal chan string
}

func (l *serverLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	select {
	case l.fatal <- msg:
	default:
	}
}

// Connect returns a connection to the NATS server(s) at url (a
// comma-separated list for a cluster), named name in the server's
// monitoring, once the first connection is up. It keeps trying until ctx is
// done, and the connection it returns reconnects forever with a capped,
// jittered backoff, buffering up to 32 MiB of publishes while disconnected.
// extra options are applied last.
//
// Errors: CodeUnavailable when ctx ends before a server answers,
// CodeUnauthorized when the server refuses the credentials, CodeInvalid for
// a malformed url.
func Connect(ctx context.Context, url, name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.ReconnectBufSize(32 << 20),
		nats.Timeout(2 * time.Second),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
	}
	opts = append(opts, extra...)
	for attempt := 0; ; attempt++ {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		switch {
		case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked):
			return nil, events.Wrap(events.CodeUnauthorized, err, "connect to nats")
		case !retryableConnect(err):
			return nil, events.Wrap(events.CodeInvalid, err, "connect to nats at %q", url)
		}
		t := time.NewTimer(reconnectDelay(attempt + 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, events.Wrap(events.CodeUnavailable, err, "connect to nats at %q", url)
		case <-t.C:
		}
	}
}

func retryableConnect(err error) bool {
	var ne net.Error
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrTimeout) ||
		errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// reconnectDelay grows from 50 ms to 2 s, with up to 25% jitter so that
// many clients do not reconnect in step.
func reconnectDelay(attempts int) time.Duration {
	d := 50 * time.Millisecond
	for i := 1; i < attempts && d < 2*time.Second; i++ {
		d *= 2
	}
	d = min(d, 2*time.Second)
	return d + rand.N(d/4+1)
}

// StreamOptions configures the events stream.
type StreamOptions struct {
	// Replicas of the stream in a JetStream cluster; 1 when zero.
	Replicas int
	// DuplicateWindow is how long JetStream remembers message ids to drop
	// resent events; 5 minutes when zero. The server keeps every id of the
	// window in memory (about 150 bytes each), so a longer window costs
	// memory at high event rates.
	DuplicateWindow time.Duration
}

// sameStreamConfig reports whether have already has every setting of want
// that EventsStreamConfig sets.
func sameStreamConfig(have, want jetstream.StreamConfig) bool {
	return have.Name == want.Name && have.Description == want.Description && slices.Equal(have.Subjects, want.Subjects) &&
		have.Retention == want.Retention && have.Discard == want.Discard && have.MaxMsgs == want.MaxMsgs &&
		have.MaxBytes == want.MaxBytes && have.Storage == want.Storage && have.Replicas == want.Replicas &&
		have.Duplicates == want.Duplicates
}

// EventsStreamConfig is the configuration EnsureStreams gives the events
// stream: file storage, every message kept (the stream is a full copy of
// $all), old messages never discarded.
func EventsStreamConfig(opts StreamOptions) jetstream.StreamConfig {
	replicas := opts.Replicas
	if replicas <= 0 {
		replicas = 1
	}
	window := opts.DuplicateWindow
	if window <= 0 {
		window = 5 * time.Minute
	}
	return jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "copy of rectify's $all, published by the relay; rebuilt from the event store when lost",
		Subjects:    []string{EventsSubjects},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  window,
	}
}

// errCodeReplicasNotSupported is the server's JSStreamReplicasNotSupportedErr,
// a configuration error that the server answers with status 500.
const errCodeReplicasNotSupported jetstream.ErrorCode = 10074

// EnsureStreams creates the events stream, or brings an existing one to
// EventsStreamConfig(opts). Calling it again, from any number of
// processes, changes nothing.
//
// Errors: CodeUnavailable when JetStream cannot be reached or refuses
// (CodeInvalid when it rejects the configuration itself).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opts StreamOptions) error {
	cfg := EventsStreamConfig(opts)
	// Update only what differs: the relay calls this on every start while
	// the views create their consumers, and nats-server (v2.15.2) updates
	// a stream's file store without the lock consumer creation takes (a
	// data race its own race detector reports). An unchanged stream needs
	// no update at all.
	if st, err := js.Stream(ctx, cfg.Name); err == nil && sameStreamConfig(st.CachedInfo().Config, cfg) {
		return nil
	}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.Code == 400 || apiErr.ErrorCode == errCodeReplicasNotSupported) {
			return events.Wrap(events.CodeInvalid, err, "ensure stream %s", cfg.Name)
		}
		return events.Wrap(events.CodeUnavailable, err, "ensure stream %s", cfg.Name)
	}
	return nil
}
