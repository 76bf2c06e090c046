package eventstoretest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
)

// The crash child is this same test binary, run again with these variables
// set; Run sees envChild and becomes the child.
const (
	envChild = "RECTIFY_STORETEST_CRASH_CHILD"
	envDSN   = "RECTIFY_STORETEST_CRASH_DSN"
	envNS    = "RECTIFY_STORETEST_CRASH_NS"
	envRound = "RECTIFY_STORETEST_CRASH_ROUND"
	// envSeed repeats a crash run: set it to the seed a failed run logged.
	envSeed = "RECTIFY_STORETEST_SEED"
)

const (
	crashWorkers = 8
	// childLifetime ends a child that its parent never killed.
	childLifetime = 2 * time.Minute
	// childDeadline bounds how long the parent waits for enough acks.
	childDeadline = 60 * time.Second
)

// runCrashChild is the child's whole life: it appends from crashWorkers
// goroutines until it is killed, printing one line per acknowledged append:
//
//	ACK <tab> stream <tab> next expected <tab> position <tab> id,id,...
//
// Event ids are <round>-w<worker>-b<batch>-<index>.<size>, so the parent
// can group the events of every attempted batch, acknowledged or not.
func runCrashChild(h Harness) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(3)
	}
	if h.OpenDSN == nil {
		fail("Harness.OpenDSN is nil")
	}
	dsn, ns, round := os.Getenv(envDSN), os.Getenv(envNS), os.Getenv(envRound)
	s, err := h.OpenDSN(dsn)
	if err != nil {
		fail("open %s: %v", dsn, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), childLifetime)
	defer cancel()

	var out sync.Mutex
	for w := 0; w < crashWorkers; w++ {
		go func() {
			own := ns + fmt.Sprintf("crash-w%d", w)
			exp := eventstore.NoStream
			last, err := s.ReadStream(ctx, own, eventstore.Backwards, fromEnd, 1)
			switch {
			case err == nil && len(last) == 1:
				exp = eventstore.Exact(last[0].Revision)
			case events.ErrorCode(err) != events.CodeNotFound:
				fail("read the end of %s: %v (%d events)", own, err, len(last))
			}
			for b := 0; ; b++ {
				size := 1
				if b%3 == 1 {
					size = 2 + b%4
				}
				stream, e := own, exp
				if b%4 == 3 {
					stream, e = ns+fmt.Sprintf("crash-shared-%d", w%3), eventstore.Any
				}
				evs := make([]events.Event, size)
				ids := make([]string, size)
				for i := range evs {
					ids[i] = fmt.Sprintf("%s-w%d-b%d-%d.%d", round, w, b, i, size)
					data, _ := json.Marshal(map[string]any{"title": "崩溃测试", "worker": w, "batch": b, "index": i})
					evs[i] = events.Event{ID: ids[i], Type: typeLogged, Version: 1, Time: time.Now(), Actor: "system:崩溃子进程", Data: data}
				}
				res, err := s.Append(ctx, stream, e, evs...)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					fail("append %v to %s expecting %v: %v", ids, stream, e, err)
				}
				if stream == own {
					exp = eventstore.Exact(res.NextExpected)
				}
				line := fmt.Sprintf("ACK\t%s\t%d\t%d\t%s\n", stream, res.NextExpected, res.Position, strings.Join(ids, ","))
				out.Lock()
				_, err = os.Stdout.WriteString(line)
				out.Unlock()
				if err != nil {
					fail("write ack: %v", err)
				}
			}
		}()
	}
	<-ctx.Done()
	fail("not killed within %s", childLifetime)
}

func testCrash(t *testing.T, h Harness, runName string) {
	if h.DSN == nil || h.OpenDSN == nil {
		t.Skip("crash: the harness gives no DSN and OpenDSN, so no child process can open the store")
	}
	seed := time.Now().UnixNano()
	if v := os.Getenv(envSeed); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", envSeed, v, err)
		}
	}
	t.Logf("crash seed %d (set %s=%d to repeat the kill points)", seed, envSeed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))

	dsn := h.DSN(t)
	ns := h.StreamPrefix + randomTag() + "_"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	s, err := h.OpenDSN(dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	base, err := s.Head(ctx)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if !h.Shared && base != 0 {
		t.Fatalf("head of a new store = %d", base)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	rounds := h.CrashRounds
	if rounds <= 0 {
		rounds = 4
	}
	var acks []ack
	for r := 0; r < rounds; r++ {
		threshold := 20 + rng.IntN(300)
		got := runChild(t, runName, dsn, ns, r, threshold)
		t.Logf("round %d: killed after %d acknowledged appends (threshold %d)", r, len(got), threshold)
		acks = append(acks, got...)

		s, err := h.OpenDSN(dsn)
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", r, err)
		}
		stored := mustReadOursFrom(t, ctx, s, base, ns, h.Shared, 0)
		checkAcks(t, stored, acks, false)
		checkBatches(t, stored)
		checkStreams(t, ctx, s, stored)
		if r == rounds-1 {
			// The store still takes appends where the dead process left off.
			own := ns + "crash-w0"
			exp, next := eventstore.NoStream, uint64(0)
			if last, err := s.ReadStream(ctx, own, eventstore.Backwards, fromEnd, 1); err == nil && len(last) == 1 {
				exp, next = eventstore.Exact(last[0].Revision), last[0].Revision+1
			}
			res, err := s.Append(ctx, own, exp, newEvent(typeLogged, "重启之后"))
			if err != nil || res.NextExpected != next {
				t.Fatalf("append after the last kill = %+v, %v; want next expected %d", res, err, next)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: close: %v", r, err)
		}
	}
}

// runChild starts the crash child for one round, kills it with SIGKILL once
// it has acknowledged threshold appends, and returns every append it
// acknowledged before dying.
func runChild(t *testing.T, runName, dsn, ns string, round, threshold int) []ack {
	t.Helper()
	var pattern []string
	for _, part := range strings.Split(runName, "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(pattern, "/"), "-test.count=1")
	cmd.Env = append(os.Environ(),
		envChild+"=1", envDSN+"="+dsn, envNS+"="+ns, envRound+"="+fmt.Sprintf("r%d", round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the crash child: %v", err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var acks []ack
	killed := false
	deadline := time.After(childDeadline)
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			if a, ok := parseAck(line); ok {
				acks = append(acks, a)
			}
			if !killed && len(acks) >= threshold {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatalf("kill the crash child: %v", err)
				}
				killed = true
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			for range lines {
			}
			_ = cmd.Wait()
			t.Fatalf("round %d: the crash child acknowledged %d appends in %s, want %d; stderr:\n%s", round, len(acks), childDeadline, threshold, stderr.String())
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: the crash child ended by itself (%v) after %d acks; stderr:\n%s", round, err, len(acks), stderr.String())
	}
	// The race detector reports as it goes, so a child built with -race
	// has told of any race before the kill.
	if strings.Contains(stderr.String(), "DATA RACE") {
		t.Fatalf("round %d: the crash child raced:\n%s", round, stderr.String())
	}
	return acks
}

func parseAck(line string) (ack, bool) {
	f := strings.Split(line, "\t")
	if len(f) != 5 || f[0] != "ACK" {
		return ack{}, false
	}
	next, err1 := strconv.ParseUint(f[2], 10, 64)
	pos, err2 := strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return ack{}, false
	}
	return ack{stream: f[1], ids: strings.Split(f[4], ","), res: eventstore.AppendResult{NextExpected: next, Position: pos}}, true
}

// checkBatches fails tb unless every batch the crash child attempted is
// either wholly stored, as one adjacent run, or not stored at all.
func checkBatches(tb testing.TB, stored []events.Event) {
	tb.Helper()
	for i := 0; i < len(stored); {
		key, idx, size, ok := splitCrashID(stored[i].ID)
		if !ok {
			tb.Fatalf("stored event id %q was not written by the crash child", stored[i].ID)
		}
		if idx != 0 {
			tb.Fatalf("batch %s: event %d of %d stored without the ones before it", key, idx, size)
		}
		for k := 1; k < size; k++ {
			if i+k >= len(stored) {
				tb.Fatalf("batch %s: only %d of %d events stored", key, k, size)
			}
			key2, idx2, size2, _ := splitCrashID(stored[i+k].ID)
			if key2 != key || idx2 != k || size2 != size {
				tb.Fatalf("batch %s: only %d of %d events stored together (next is %s)", key, k, size, stored[i+k].ID)
			}
		}
		i += size
	}
}

// splitCrashID splits "<round>-w<w>-b<b>-<index>.<size>".
func splitCrashID(id string) (key string, index, size int, ok bool) {
	cut := strings.LastIndexByte(id, '-')
	if cut < 0 {
		return "", 0, 0, false
	}
	is, ss, found := strings.Cut(id[cut+1:], ".")
	if !found {
		return "", 0, 0, false
	}
	index, err1 := strconv.Atoi(is)
	size, err2 := strconv.Atoi(ss)
	if err1 != nil || err2 != nil || index < 0 || index >= size {
		return "", 0, 0, false
	}
	return id[:cut], index, size, true
}
