// Package relay copies the event store's $all into one JetStream stream,
// in store order, each event once.
//
// JetStream is a copy, never the truth. The relay keeps no checkpoint of its
// own: whenever it starts, reconnects or meets an inconsistency it reads the
// last message JetStream actually holds and resumes right after that
// message's position, so a relay crash, a NATS restart that lost
// acknowledged messages or a deleted stream are all repaired by publishing
// again from the store.
//
// Each message carries the event id as its message id (a resend inside the
// duplicate window is dropped), the event's position and the position of
// its predecessor in $all (so that a consumer detects a gap), and is
// published with the stream sequence it must land on (expected last
// sequence). That last check is what keeps the copy gapless and in order
// with many publishes in flight: if one fails, every later one fails too
// instead of landing after a hole. It also fences a relay that lost its
// lease without noticing yet: its publishes no longer match the stream.
//
// Only the holder of a lease in a NATS KV bucket publishes; other relays
// wait as standbys and take over when the holder's key expires or is
// released.
//
// What the relay does not repair: messages deleted by hand from the middle
// of the stream, or from its end while newer ones were already published.
// Consumers see such a hole through the predecessor position and read the
// missing range from the store, as they do for any gap.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/natsx"
)

// Options tunes a Relay. The zero value gives production defaults.
type Options struct {
	// ID names this relay in the lease; host-pid-random when empty. Two
	// relays must never share one.
	ID string
	// MaxInFlight bounds the publishes awaiting JetStream's ack (256).
	MaxInFlight int
	// AckTimeout is how long one publish may wait for its ack before the
	// relay starts over from what JetStream holds (10 s).
	AckTimeout time.Duration
	// LeaseTTL is how long the lease lives without a refresh (10 s); the
	// holder refreshes it every third of that, and a standby takes over
	// at most LeaseTTL + LeasePoll after the holder died.
	LeaseTTL time.Duration
	// LeasePoll is how often a standby looks at the lease (LeaseTTL / 4).
	LeasePoll time.Duration
	// CheckInterval is how often the publishing relay checks that the
	// stream still holds what it published, which finds a stream deleted
	// or purged while no events arrive, and refreshes Stats.Head (2 s).
	CheckInterval time.Duration
	// RetryMax caps the wait between attempts after a failure (5 s).
	RetryMax time.Duration
	// Stream configures the events stream the relay creates when missing.
	Stream natsx.StreamOptions
	// Logger receives warnings about repairs and failures; nil is silent.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.ID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.LeasePoll <= 0 {
		o.LeasePoll = o.LeaseTTL / 4
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = 2 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats describes a relay's progress.
type Stats struct {
	// Leader is true while this relay holds the lease and publishes.
	Leader bool
	// LastPosition is the position of the last event JetStream
	// acknowledged to this relay, or found as the last message held when
	// the relay (re)started; LastSequence is that message's sequence.
	LastPosition uint64
	LastSequence uint64
	// Head is the store's last position as last seen (every
	// CheckInterval), and Lag is Head - LastPosition: events with the
	// embedded store, whose positions count events.
	Head uint64
	Lag  uint64
	// Published counts the events this relay got acknowledged.
	Published uint64
	// Restarts counts the start-up procedures after the first: repairs,
	// reconnects, lease changes.
	Restarts uint64
	// Rebuilds counts the times the stream was deleted and republished.
	Rebuilds uint64
	// LastError is the last failure the relay recovered from, "" if none.
	LastError string
}

// Relay publishes the store's $all to the events stream. Create it with
// New and run it with Run.
type Relay struct {
	store eventstore.Store
	js    jetstream.JetStream
	nc    *nats.Conn
	opts  Options
	log   *slog.Logger

	mu     sync.Mutex
	stats  Stats
	starts uint64
}

// New returns a relay from store to JetStream. js manages the stream and
// the lease; nc is the connection js was made from (js.Conn() when nil),
// whose reconnects make the relay start over, and on which the relay makes
// a publishing context of its own so that its bounded async publishes and
// their acks are not shared with anyone.
func New(store eventstore.Store, js jetstream.JetStream, nc *nats.Conn, opts Options) *Relay {
	opts = opts.withDefaults()
	if nc == nil && js != nil {
		nc = js.Conn()
	}
	return &Relay{store: store, js: js, nc: nc, opts: opts, log: opts.Logger.With("relay", opts.ID)}
}

// ID is the name this relay holds the lease under.
func (r *Relay) ID() string { return r.opts.ID }

// Stats returns a snapshot of the relay's progress.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	if s.Head > s.LastPosition {
		s.Lag = s.Head - s.LastPosition
	}
	return s
}

// Run competes for the lease and, while it holds it, publishes every event
// of the store after the last one JetStream holds, then follows new
// appends. It survives NATS outages, store hiccups and lost JetStream data
// by starting over with a capped backoff, and returns nil once ctx is done,
// releasing the lease. It returns a CodeInvalid *events.Error only when it
// cannot run at all.
func (r *Relay) Run(ctx context.Context) error {
	if r.store == nil || r.js == nil || r.nc == nil {
		return events.Errorf(events.CodeInvalid, "relay needs a store and a jetstream connection")
	}
	pub, err := jetstream.New(r.nc,
		jetstream.WithPublishAsyncMaxPending(r.opts.MaxInFlight+1),
		jetstream.WithPublishAsyncTimeout(r.opts.AckTimeout))
	if err != nil {
		return events.Wrap(events.CodeInvalid, err, "relay publishing context")
	}
	status := r.nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED, nats.CLOSED)
	defer r.nc.RemoveStatusListener(status)

	retry := backoff{max: r.opts.RetryMax}
	for ctx.Err() == nil {
		l, err := r.acquire(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.failed(err)
				retry.wait(ctx)
			}
			continue
		}
		retry.reset()
		r.log.Info("relay holds the lease")
		r.lead(ctx, l, pub, status)
	}
	return nil
}

// lead publishes while the lease holds, starting over after every failure.
func (r *Relay) lead(ctx context.Context, l *lease, pub jetstream.JetStream, status <-chan nats.Status) {
	lctx, lose := context.WithCancelCause(ctx)
	defer lose(nil)
	var keeping sync.WaitGroup
	keeping.Go(func() { l.keep(lctx, lose) })
	r.setLeader(true)

	retry := backoff{max: r.opts.RetryMax}
	rebuild := false
	// What this holder published is known good up to here; another holder
	// may have published since an earlier lease, so it starts unknown.
	var known *held
	for lctx.Err() == nil {
		started := time.Now()
		err := r.cycle(lctx, pub, status, rebuild, &known)
		if lctx.Err() != nil {
			break
		}
		rebuild = errors.Is(err, errRebuild)
		r.failed(err)
		if time.Since(started) > r.opts.RetryMax {
			retry.reset()
		}
		retry.wait(lctx)
	}
	r.setLeader(false)
	cause := context.Cause(lctx)
	lose(nil)
	keeping.Wait()
	if errors.Is(cause, errLeaseLost) {
		r.failed(cause)
		r.log.Warn("relay stopped publishing", "cause", cause)
		return
	}
	// ctx is usually done by now (the relay is stopping); the release
	// must still reach NATS.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.AckTimeout)
	defer cancel()
	if err := l.release(rctx); err != nil {
		r.log.Warn("relay lease not released; a standby takes over when it expires", "err", err)
	}
}

var (
	// errRebuild: the stream holds something other than a prefix of $all
	// that can be continued (purged, foreign messages, events the store
	// does not have, an id JetStream remembers but no longer holds). The
	// next start-up deletes and republishes it.
	errRebuild = errors.New("jetstream copy must be rebuilt")
	// errConnection: the NATS connection changed state; JetStream may have
	// restarted and lost messages.
	errConnection = errors.New("nats connection changed")
	// errDiverged: the stream no longer holds what this relay published.
	errDiverged = errors.New("stream lost published messages")
)

// held is a message of the events stream known to end a true copy of
// $all: the message at seq holds the event at pos, and so on backwards.
type held struct{ seq, pos uint64 }

// inflight is one publish awaiting its ack.
type inflight struct {
	fut  jetstream.PubAckFuture
	pos  uint64
	seq  uint64 // the sequence it must land on
	sent time.Time
}

// cycle is one start-up and the publishing that follows, until an error or
// ctx ends. It returns why it ended. known is the last message this holder
// saw acknowledged in order (nil when unknown); cycle updates it.
func (r *Relay) cycle(ctx context.Context, pub jetstream.JetStream, status <-chan nats.Status, rebuild bool, known **held) error {
	r.mu.Lock()
	if r.starts > 0 {
		r.stats.Restarts++
	}
	r.starts++
	r.mu.Unlock()
	drain(status)

	stream, lastPos, lastSeq, err := r.startUp(ctx, rebuild, *known)
	if err != nil {
		return err
	}
	end := held{seq: lastSeq, pos: lastPos}
	*known = &end
	sub, err := r.store.Subscribe(ctx, lastPos, eventstore.Filter{})
	if err != nil {
		return fmt.Errorf("subscribe after %d: %w", lastPos, err)
	}
	defer sub.Close()

	cctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var acked atomic.Uint64
	acked.Store(lastSeq)
	slots := make(chan struct{}, r.opts.MaxInFlight)
	acks := make(chan inflight, r.opts.MaxInFlight)
	var wg sync.WaitGroup
	wg.Go(func() { r.collect(cctx, stop, acks, slots, &acked, &end) })
	wg.Go(func() { r.watch(cctx, stop, stream, status, &acked) })

	prev, seq := lastPos, lastSeq
	for {
		ev, err := sub.Next(cctx)
		if err != nil {
			stop(fmt.Errorf("read $all after %d: %w", prev, err))
			break
		}
		select {
		case slots <- struct{}{}:
		case <-cctx.Done():
		}
		if cctx.Err() != nil {
			break
		}
		fut, err := pub.PublishMsgAsync(natsx.EncodeEvent(ev, prev),
			jetstream.WithExpectLastSequence(seq), jetstream.WithExpectStream(natsx.EventsStream))
		if err != nil {
			<-slots
			stop(fmt.Errorf("publish position %d: %w", ev.Position, err))
			break
		}
		seq++
		acks <- inflight{fut: fut, pos: ev.Position, seq: seq, sent: time.Now()}
		prev = ev.Position
	}
	close(acks)
	wg.Wait()
	cause := context.Cause(cctx)
	if ctx.Err() == nil {
		// Let the publishes already sent settle, so that the next start-up
		// reads a stream they no longer change.
		t := time.NewTimer(r.opts.AckTimeout)
		select {
		case <-pub.PublishAsyncComplete():
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	return cause
}

// startUp makes sure the stream exists and finds where to resume: after
// the position of the last message the stream holds, whose sequence the
// next publish expects. Messages after known, which landed after the
// publishing failed, must be the store's next events.
func (r *Relay) startUp(ctx context.Context, rebuild bool, known *held) (jetstream.Stream, uint64, uint64, error) {
	if rebuild {
		r.log.Warn("relay deletes the events stream to republish it from the store")
		if err := r.js.DeleteStream(ctx, natsx.EventsStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, 0, 0, fmt.Errorf("delete stream for rebuild: %w", err)
		}
		r.mu.Lock()
		r.stats.Rebuilds++
		r.mu.Unlock()
	}
	if err := natsx.EnsureStreams(ctx, r.js, r.opts.Stream); err != nil {
		return nil, 0, 0, err
	}
	stream, err := r.js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("stream info: %w", err)
	}
	state := stream.CachedInfo().State
	head, err := r.store.Head(ctx)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("store head: %w", err)
	}
	if state.Msgs == 0 {
		if state.LastSeq > 0 {
			// Purged: the duplicate window may still hold ids of events
			// it no longer has and would drop them when republished.
			return nil, 0, 0, fmt.Errorf("stream purged at sequence %d: %w", state.LastSeq, errRebuild)
		}
		r.resumed(0, 0, head)
		return stream, 0, 0, nil
	}
	last, err := stream.GetLastMsgForSubject(ctx, natsx.EventsSubjects)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read last message: %w", err)
	}
	if last.Sequence > state.LastSeq {
		return nil, 0, 0, fmt.Errorf("stream grew during start-up (sequence %d after %d): another publisher?", last.Sequence, state.LastSeq)
	}
	pos, _, err := natsx.HeaderPositions(last.Header)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("last message %d is no event (%w): %w", last.Sequence, err, errRebuild)
	}
	id, err := natsx.HeaderEventID(last.Header)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("last message %d is no event (%w): %w", last.Sequence, err, errRebuild)
	}
	// JetStream must hold a copy of this store's history, not another's.
	var stored []events.Event
	if pos > 0 {
		stored, err = r.store.ReadAll(ctx, pos-1, 1)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("read position %d: %w", pos, err)
		}
	}
	if len(stored) == 0 || stored[0].Position != pos || stored[0].ID != id {
		return nil, 0, 0, fmt.Errorf("last message %d holds event %q at position %d, which the store does not have: %w",
			last.Sequence, id, pos, errRebuild)
	}
	if known != nil && state.LastSeq > known.seq {
		if err := r.verifyTail(ctx, stream, *known, state.LastSeq); err != nil {
			return nil, 0, 0, err
		}
	}
	r.resumed(pos, state.LastSeq, head)
	return stream, pos, state.LastSeq, nil
}

// verifyTail checks that the messages after known up to last are the
// store's events after known.pos, in order. Publishes pipelined behind a
// failed one can land when something else took the failed one's sequence
// (someone publishing into the stream): the expected-sequence check alone
// would then leave a foreign message and a hole.
func (r *Relay) verifyTail(ctx context.Context, stream jetstream.Stream, known held, last uint64) error {
	n := last - known.seq
	if n > uint64(4*r.opts.MaxInFlight) {
		return fmt.Errorf("%d messages after sequence %d that this relay did not see acknowledged: %w", n, known.seq, errRebuild)
	}
	want, err := r.store.ReadAll(ctx, known.pos, int(n))
	if err != nil {
		return fmt.Errorf("read events after %d: %w", known.pos, err)
	}
	for i := range n {
		seq := known.seq + 1 + i
		raw, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("message %d missing: %w", seq, errRebuild)
		}
		if err != nil {
			return fmt.Errorf("read message %d: %w", seq, err)
		}
		pos, _, perr := natsx.HeaderPositions(raw.Header)
		id, ierr := natsx.HeaderEventID(raw.Header)
		if perr != nil || ierr != nil || i >= uint64(len(want)) || want[i].Position != pos || want[i].ID != id {
			return fmt.Errorf("message %d is not the event after position %d: %w", seq, known.pos, errRebuild)
		}
	}
	return nil
}

// collect waits for the acks in publishing order. The first failure stops
// the cycle; after that it only frees the slots.
func (r *Relay) collect(ctx context.Context, stop context.CancelCauseFunc, acks <-chan inflight, slots <-chan struct{}, acked *atomic.Uint64, end *held) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for p := range acks {
		if ctx.Err() == nil {
			timer.Reset(time.Until(p.sent.Add(r.opts.AckTimeout)))
			select {
			case ack := <-p.fut.Ok():
				switch {
				case ack.Duplicate:
					// The stream remembers this id but the start-up found
					// an earlier last message: it was deleted from the
					// stream within the duplicate window.
					stop(fmt.Errorf("position %d acked as a duplicate of sequence %d: %w", p.pos, ack.Sequence, errRebuild))
				case ack.Sequence != p.seq:
					stop(fmt.Errorf("position %d landed on sequence %d, not %d: %w", p.pos, ack.Sequence, p.seq, errDiverged))
				default:
					acked.Store(p.seq)
					*end = held{seq: p.seq, pos: p.pos}
					r.published(p.pos, p.seq)
				}
			case err := <-p.fut.Err():
				stop(fmt.Errorf("publish position %d: %w", p.pos, err))
			case <-timer.C:
				stop(fmt.Errorf("publish position %d: no ack after %s", p.pos, r.opts.AckTimeout))
			case <-ctx.Done():
			}
			timer.Stop()
		}
		<-slots
	}
}

// watch ends the cycle when the connection changes state or the stream no
// longer holds what was acknowledged, and keeps Stats.Head current.
func (r *Relay) watch(ctx context.Context, stop context.CancelCauseFunc, stream jetstream.Stream, status <-chan nats.Status, acked *atomic.Uint64) {
	t := time.NewTicker(r.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-status:
			stop(fmt.Errorf("%w: %s", errConnection, s))
			return
		case <-t.C:
		}
		if head, err := r.store.Head(ctx); err == nil {
			r.sawHead(head)
		}
		// Acked before asking, so that the answer must cover it.
		wasAcked := acked.Load()
		info, err := stream.Info(ctx)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			stop(fmt.Errorf("stream %s deleted: %w", natsx.EventsStream, errDiverged))
			return
		case err != nil:
			// Transient; a real outage shows as a status change or a
			// failed publish.
		case info.State.LastSeq < wasAcked:
			stop(fmt.Errorf("stream at sequence %d after %d was acknowledged: %w", info.State.LastSeq, wasAcked, errDiverged))
			return
		case info.State.Msgs == 0 && info.State.LastSeq > 0:
			stop(fmt.Errorf("stream purged: %w", errRebuild))
			return
		}
	}
}

func drain(status <-chan nats.Status) {
	for {
		select {
		case <-status:
		default:
			return
		}
	}
}

func (r *Relay) setLeader(v bool) {
	r.mu.Lock()
	r.stats.Leader = v
	r.mu.Unlock()
}

func (r *Relay) resumed(pos, seq, head uint64) {
	r.mu.Lock()
	r.stats.LastPosition, r.stats.LastSequence = pos, seq
	r.stats.Head = max(head, pos)
	r.mu.Unlock()
}

func (r *Relay) published(pos, seq uint64) {
	r.mu.Lock()
	r.stats.LastPosition, r.stats.LastSequence = pos, seq
	r.stats.Head = max(r.stats.Head, pos)
	r.stats.Published++
	r.mu.Unlock()
}

func (r *Relay) sawHead(head uint64) {
	r.mu.Lock()
	r.stats.Head = max(r.stats.Head, head)
	r.mu.Unlock()
}

func (r *Relay) failed(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	r.stats.LastError = err.Error()
	r.mu.Unlock()
	r.log.Warn("relay starts over", "err", err)
}

// backoff spaces out attempts after failures: 50 ms doubling up to max.
type backoff struct {
	d, max time.Duration
}

func (b *backoff) reset() { b.d = 0 }

func (b *backoff) wait(ctx context.Context) {
	if b.d == 0 {
		b.d = 50 * time.Millisecond
	} else {
		b.d = min(2*b.d, b.max)
	}
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
