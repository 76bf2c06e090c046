package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// The README's configuration table lists every flag of `rectify serve` and
// its variable, so that the documentation cannot fall behind the code.
func TestReadmeListsEveryServeFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var help strings.Builder
	if _, err := serveFlags("serve", &help, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve -h: %v", err)
	}
	n := 0
	for _, line := range strings.Split(help.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		n++
		name := "--" + strings.TrimPrefix(f[0], "-")
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("README's configuration table lacks %s", name)
		}
		if i := strings.Index(line, "(RECTIFY_"); i >= 0 {
			env := strings.TrimSuffix(strings.Fields(line[i+1:])[0], ")")
			if !strings.Contains(string(readme), "| `"+name+"` | `"+env+"` |") {
				t.Errorf("README's configuration table does not pair %s with %s", name, env)
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d flags in:\n%s", n, help.String())
	}
}

func TestServeConfigFromEnvironmentAndFlags(t *testing.T) {
	t.Setenv("RECTIFY_QUERY_WAIT", "7s")
	t.Setenv("RECTIFY_ADDR", "127.0.0.1:9999")
	t.Setenv("RECTIFY_CORS_ORIGINS", "https://a.example, https://b.example")
	c, err := serveFlags("serve", io.Discard, []string{"--addr", "127.0.0.1:7777"})
	if err != nil {
		t.Fatal(err)
	}
	if c.QueryWait != 7*time.Second || c.Addr != "127.0.0.1:7777" || len(c.CORSOrigins) != 2 || c.CORSOrigins[1] != "https://b.example" {
		t.Fatalf("config %+v: want query wait from the variable, addr from the flag, two origins", c)
	}

	t.Setenv("RECTIFY_REQUEST_TIMEOUT", "soon")
	_, err = serveFlags("serve", io.Discard, nil)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "RECTIFY_REQUEST_TIMEOUT") {
		t.Fatalf("a bad variable: %v (exit %d); want a usage error naming it", err, exitCode(err))
	}
	t.Setenv("RECTIFY_REQUEST_TIMEOUT", "")
	if _, err := serveFlags("serve", io.Discard, []string{"--query-wait", "0s"}); exitCode(err) != 2 || !strings.Contains(err.Error(), "query-wait") {
		t.Fatalf("a zero wait: %v; want a usage error naming -query-wait", err)
	}
}

// The limit on failed authentications: from the variables, checked, and
// 0 turning it off.
func TestServeAuthFailureFlags(t *testing.T) {
	t.Setenv("RECTIFY_AUTH_FAILURE_RATE", "0.5")
	t.Setenv("RECTIFY_AUTH_FAILURE_BURST", "20")
	t.Setenv("RECTIFY_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16, ::1")
	c, err := serveFlags("serve", io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthFailureRate != 0.5 || c.AuthFailureBurst != 20 || len(c.TrustedProxies) != 3 || c.TrustedProxies[1] != "192.168.0.0/16" {
		t.Fatalf("config %+v: want rate 0.5, burst 20 and three proxies from the variables", c)
	}
	if authFailureRate(0) >= 0 || authFailureRate(2) != 2 {
		t.Errorf("--auth-failure-rate 0 must turn the gateway's limit off, 2 keep 2")
	}
	for _, bad := range [][]string{{"--auth-failure-rate", "-1"}, {"--auth-failure-burst", "0"}, {"--trusted-proxies", "proxy.example"}} {
		if _, err := serveFlags("serve", io.Discard, bad); exitCode(err) != 2 || !strings.Contains(err.Error(), strings.TrimPrefix(bad[0], "-")) {
			t.Errorf("%v: %v; want a usage error naming the flag", bad, err)
		}
	}
}

// A start-up that fails half-way says why and closes what it opened,
// instead of crashing.
func TestServeFailingToListenSaysWhy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"serve", "--data", t.TempDir(), "--addr", ln.Addr().String(), "--log-level", "error"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("serve on a taken port: %v", err)
	}
}
