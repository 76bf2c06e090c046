// Package natstest starts real in-process NATS servers with JetStream for
// other packages' tests: a free port, a store directory in tb.TempDir(),
// shut down at the end of the test, and restartable on the same port and
// directory to stage outages.
package natstest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rectify/services/natsx"
)

// Server is a test NATS server that can be stopped and started again with
// the same port and JetStream directory, the way a real server restarts.
// Its methods are meant for the test goroutine.
type Server struct {
	tb  testing.TB
	dir string
	// Port the server listens on, kept across restarts.
	Port int
	// URL clients connect to, kept across restarts.
	URL string
	srv *server.Server
}

// MustStartServer starts a NATS server with JetStream on a free port, its
// store in tb.TempDir(), shut down at cleanup. It returns the server and
// its client URL.
func MustStartServer(tb testing.TB) (*server.Server, string) {
	tb.Helper()
	s := MustStartRestartable(tb)
	return s.srv, s.URL
}

// MustStartRestartable is MustStartServer returning a Server that can be
// stopped and restarted.
func MustStartRestartable(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, dir: tb.TempDir(), Port: -1}
	s.MustStart(tb)
	tb.Cleanup(s.Stop)
	return s
}

// Current returns the running server, nil while stopped.
func (s *Server) Current() *server.Server { return s.srv }

// StoreDir is the directory JetStream keeps its files in.
func (s *Server) StoreDir() string { return s.dir }

// Stop shuts the server down and waits until it is gone; clients see a
// disconnect and start reconnecting. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// MustStart starts the server again on its port with its JetStream
// directory, keeping every stream it had. It fails tb if the server is
// running or does not come up.
func (s *Server) MustStart(tb testing.TB) {
	tb.Helper()
	if s.srv != nil {
		tb.Fatalf("natstest: server on port %d is already running", s.Port)
	}
	var err error
	// A port just released can take a moment to be free again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.srv, err = natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: s.dir, Port: s.Port})
		if err == nil || time.Now().After(deadline) || s.Port == -1 {
			break
		}
		time.Sleep(50 * time.Millisecond) // retry pacing, not waiting for an event
	}
	if err != nil {
		tb.Fatalf("natstest: start nats server: %v", err)
	}
	if s.Port == -1 {
		s.Port = s.srv.Addr().(*net.TCPAddr).Port
		s.URL = s.srv.ClientURL()
	}
}

// MustRestart stops the server and starts it again.
func (s *Server) MustRestart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	s.MustStart(tb)
}

// MustConnect connects to url with natsx.Connect, closing the connection at
// cleanup, and returns it with a JetStream context on it.
func MustConnect(tb testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := natsx.Connect(ctx, url, tb.Name())
	if err != nil {
		tb.Fatalf("natstest: connect %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}
