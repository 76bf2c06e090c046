package main

// The crash suite: `rectify serve` as a child process under a steady load
// of commands over HTTP, killed with SIGKILL at seeded random moments and
// restarted on the same data directory. After every kill the store is
// held against what the clients were told; at some kills, and at the end,
// every view against a fresh rebuild.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashSeed is RECTIFY_CRASH_SEED, or the clock.
func crashSeed(tb testing.TB) uint64 {
	tb.Helper()
	if s := os.Getenv("RECTIFY_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("RECTIFY_CRASH_SEED=%q: want a whole number", s)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// crashKills is RECTIFY_CRASH_KILLS, 20 by default.
func crashKills(tb testing.TB) int {
	tb.Helper()
	if s := os.Getenv("RECTIFY_CRASH_KILLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			tb.Fatalf("RECTIFY_CRASH_KILLS=%q: want a whole number above zero", s)
		}
		return v
	}
	return 20
}

// How a life of the child ends.
const (
	killStartup = "during start-up"           // before or just as it serves; no load
	killLoad    = "under load"                // commands in flight
	killBurst   = "right after a burst"       // load just stopped; views and relay still busy
	killIdle    = "after the views caught up" // load stopped, every view at the store head
)

// Every acknowledged command is in the store exactly once, nothing
// unacknowledged is half-visible, the views converge to a fresh rebuild,
// and a live-stream client that reconnects with its last id misses
// nothing, whatever moment rectify is killed at.
func TestCrashSuiteKillsUnderLoadLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the crash suite builds the binary and kills it 20 times under load")
	}
	seed, kills := crashSeed(t), crashKills(t)
	t.Logf("crash suite: seed %d, %d kills (repeat with RECTIFY_CRASH_SEED=%d RECTIFY_CRASH_KILLS=%d)", seed, kills, seed, kills)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the crash suite failed with RECTIFY_CRASH_SEED=%d RECTIFY_CRASH_KILLS=%d", seed, kills)
		}
	})
	rng := rand.New(rand.NewPCG(seed, 0x7265637469667921))
	started := time.Now()
	dir := t.TempDir()
	// The watcher would append events of its own at its first pass, a
	// minute in; the lives here are shorter, so leaving it out changes
	// nothing but keeps the store the clients' alone.
	args := []string{"--watch=false"}

	c := startChild(t, dir, args...)
	token := tokens(t, dir)["admin"]
	load := newFaultLoad(t, token, 4, rng, 10*time.Second)
	load.setup(c.base)
	sse := newSSEFollower(token)

	byMode := map[string]int{}
	var beforeServing, unackedAtKill, writtenUnacked, eventsChecked, sseChecked, viewsCompared int
	// check holds the store (and, after an idle kill, the views) against
	// what the clients were told, with the child dead.
	check := func(k int, mode string) {
		t.Helper()
		snap := readStore(t, dir)
		u, w := load.unackedWritten(snap)
		unackedAtKill += u
		writtenUnacked += w
		eventsChecked += load.checkCommands(snap)
		sseChecked += sse.check(t, snap)
		if mode == killIdle {
			viewsCompared += checkConverged(t, dir, dir, "0")
		}
		if t.Failed() {
			t.Fatalf("kill %d of %d (%s) broke a guarantee; the store holds %d events", k, kills, mode, len(snap.all))
		}
	}

	c.kill9() // the first life only set things up
	check(0, killBurst)
	for k := 1; k <= kills; k++ {
		mode := killLoad
		switch r := rng.Float64(); {
		case k%5 == 0:
			mode = killIdle
		case r < 0.2:
			mode = killStartup
		case r < 0.6:
			mode = killLoad
		default:
			mode = killBurst
		}
		byMode[mode]++
		life := fmt.Sprintf("l%d", k)
		lifeStart := time.Now()
		if mode == killStartup {
			// It takes about a tenth of a second to serve here: some of
			// these kills land before, some just after.
			c = spawnChild(t, dir, args...)
			d := time.Duration(rng.IntN(150)) * time.Millisecond
			time.Sleep(d)
			c.kill9()
			served := servingLine.MatchString(c.stdout.String())
			if !served {
				beforeServing++
			}
			check(k, mode)
			t.Logf("kill %d: %s, %s after the start (had said where it serves: %v)", k, mode, d, served)
			continue
		}

		c = startChild(t, dir, args...)
		ready := time.Since(lifeStart)
		load.setBase(c.base)
		ctx, cancel := context.WithCancel(context.Background())
		streamDone, err := sse.follow(ctx, c.base)
		if err != nil {
			cancel()
			t.Fatalf("life %d: live stream: %v", k, err)
		}
		stop := make(chan struct{})
		wait := load.run(stop, life)
		d := time.Duration(300+rng.IntN(1200)) * time.Millisecond
		switch mode {
		case killLoad:
			// Halfway, the dashboard drops its connection and comes back
			// with its last id, as after a network blip.
			time.Sleep(d / 2)
			cancel()
			<-streamDone
			ctx, cancel = context.WithCancel(context.Background())
			if streamDone, err = sse.follow(ctx, c.base); err != nil {
				cancel()
				t.Fatalf("life %d: live stream, reconnecting: %v", k, err)
			}
			time.Sleep(d / 2)
			c.kill9()
			close(stop)
			wait()
		case killBurst:
			time.Sleep(d)
			close(stop)
			wait()
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
			c.kill9()
		case killIdle:
			time.Sleep(d)
			close(stop)
			wait()
			load.finish(30 * time.Second)
			c.awaitReady(t, time.Minute)
			// Every change up to the last acknowledged one reaches the
			// live stream before the kill.
			sse.awaitSeen(t, load.maxAckedPos(), 15*time.Second)
			c.kill9()
		}
		cancel()
		<-streamDone
		inFlight := load.pending()
		check(k, mode)
		acked, _ := load.counts()
		t.Logf("kill %d: %s, after %s serving (ready in %s) with %d commands in flight; %d acknowledged so far",
			k, mode, d.Round(time.Millisecond), ready.Round(time.Millisecond), inFlight, acked)
	}

	// A last life: the commands left in flight by the last kill are sent
	// again, the views catch up, and a clean stop leaves every view equal
	// to a rebuild.
	c = startChild(t, dir, args...)
	load.setBase(c.base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamDone, err := sse.follow(ctx, c.base)
	if err != nil {
		t.Fatalf("last life: live stream: %v", err)
	}
	load.finish(30 * time.Second)
	c.awaitReady(t, time.Minute)
	sse.awaitSeen(t, load.maxAckedPos(), 15*time.Second)
	if err := c.signal(t, syscall.SIGTERM, time.Minute); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	cancel()
	<-streamDone
	snap := readStore(t, dir)
	eventsChecked += load.checkCommands(snap)
	sseChecked += sse.check(t, snap)
	viewsCompared += checkConverged(t, dir, dir, "0")

	acked, retried := load.counts()
	var modes []string
	for _, m := range []string{killStartup, killLoad, killBurst, killIdle} {
		modes = append(modes, fmt.Sprintf("%d %s", byMode[m], m))
	}
	sse.mu.Lock()
	changes, resumed := sse.changes, sse.resumed
	sse.mu.Unlock()
	t.Logf("crash suite, seed %d: %d kills (%s; %d of the start-up kills before it served) in %s",
		seed, kills, strings.Join(modes, ", "), beforeServing, time.Since(started).Round(time.Millisecond))
	t.Logf("commands: %d acknowledged, %d of them after a retry with the same key; %d were in flight at a kill, %d of those had been written; replies %v, %d without a reply",
		acked, retried, unackedAtKill, writtenUnacked, load.status, load.transport)
	t.Logf("checked: %d events of %d commands against the store over %d store checks (%d events stored in the end); %d item changes owed to the live stream, %d delivered, %d resumes without a reset, resets: %s; %d view digests against a rebuild",
		eventsChecked, len(load.cmds), kills+2, len(snap.all), sseChecked, changes, resumed, sse.resetCounts(), viewsCompared)
	if acked < 10*kills || (byMode[killLoad] > 0 && (retried == 0 || unackedAtKill == 0)) {
		t.Errorf("the load did not exercise the kills: %d acknowledged, %d retried, %d in flight at a kill", acked, retried, unackedAtKill)
	}
}
