package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rectify/events"
	"rectify/services/natsx"
)

// ConsumeOptions tune Consume.
type ConsumeOptions struct {
	// Batch is the most events applied in one transaction (default 500).
	Batch int
	// Linger is how long to wait for more messages before applying a
	// partial batch (default 2ms): a little latency buys large batches
	// under load.
	Linger time.Duration
	// AckWait is how long JetStream waits for a batch's acknowledgement
	// before delivering it again (default 30s).
	AckWait time.Duration
}

// pullExpiry bounds each pull request. The server sends a heartbeat every
// half of it while a pull waits, and two missed heartbeats end the pull
// with an error, after which Consume starts over. A pull parked on a
// server that lost it (its JetStream restarted after a full disk, a
// cluster node died) is thus noticed within this time instead of the
// client's default of 30 s, during which the view would stand still.
const pullExpiry = 5 * time.Second

// ConsumerName is the durable consumer of one projection replica.
func ConsumerName(projection, replica string) string {
	return "proj_" + projection + "_" + replica
}

// Consume feeds the runner from its durable JetStream consumer until ctx is
// done. It acknowledges a batch only after it has committed, so a crash
// redelivers at most what was not committed, and the checkpoint makes the
// redelivery harmless. NATS outages, a deleted stream or consumer are
// retried with backoff.
func (r *Runner) Consume(ctx context.Context, js jetstream.JetStream, opts ConsumeOptions) error {
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Linger <= 0 {
		opts.Linger = 2 * time.Millisecond
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	backoff := 50 * time.Millisecond
	for {
		err := r.consumeOnce(ctx, js, opts)
		if ctx.Err() != nil {
			return nil
		}
		r.opts.Logger.Warn("projection consumer restarting", "projection", r.proj.Name(), "replica", r.opts.Replica, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (r *Runner) consumeOnce(ctx context.Context, js jetstream.JetStream, opts ConsumeOptions) error {
	stream, err := js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		return fmt.Errorf("events stream: %w", err)
	}
	cons, err := r.ensureConsumer(ctx, stream, opts.AckWait)
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2*opts.Batch), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	batch := make([]Delivery, 0, opts.Batch)
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("next: %w", err)
		}
		last := msg
		batch = batch[:0]
		batch = r.appendDelivery(batch, msg)
		// Linger bounds the wait of the whole batch, not of each message:
		// under a steady trickle a per-message wait would keep a batch
		// open for as long as the trickle lasts.
		deadline := time.Now().Add(opts.Linger)
		for len(batch) < opts.Batch {
			wait := time.Until(deadline)
			if wait <= 0 {
				break
			}
			m, err := it.Next(jetstream.NextMaxWait(wait))
			if errors.Is(err, nats.ErrTimeout) {
				break
			}
			if err != nil {
				return fmt.Errorf("next: %w", err)
			}
			last = m
			batch = r.appendDelivery(batch, m)
		}
		if err := r.Apply(ctx, batch); err != nil {
			return err
		}
		// The consumer acknowledges all: acking the last message of the
		// batch acknowledges every message before it.
		if err := last.Ack(); err != nil {
			r.opts.Logger.Debug("ack failed; the batch will be redelivered and skipped", "err", err)
		}
	}
}

// appendDelivery decodes msg into a delivery. A message that cannot be
// decoded is dropped: the next event's predecessor points at it, so the
// runner fills it in from the store.
func (r *Runner) appendDelivery(batch []Delivery, msg jetstream.Msg) []Delivery {
	e, prev, err := natsx.DecodeEventParts(msg.Headers(), msg.Data())
	if err != nil {
		r.opts.Logger.Error("undecodable event message; it will be read from the store", "projection", r.proj.Name(), "subject", msg.Subject(), "err", err)
		return batch
	}
	return append(batch, Delivery{Event: e, Prev: prev})
}

// ensureConsumer (re)creates the replica's durable consumer to start just
// after the view's checkpoint. The checkpoint, committed with the view, is
// the truth; the consumer's ack floor is not: a consumer left by an
// earlier process (stopped, killed, or cut off from NATS) may hold
// messages it delivered that were never acknowledged, and JetStream would
// redeliver them only once their AckWait ran out, leaving the view behind
// for that long. Starting afresh at the checkpoint costs a few lookups.
func (r *Runner) ensureConsumer(ctx context.Context, stream jetstream.Stream, ackWait time.Duration) (jetstream.Consumer, error) {
	name := ConsumerName(r.proj.Name(), r.opts.Replica)
	if err := stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       ackWait,
		MaxAckPending: 20000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	seq, err := seqAfter(ctx, stream, r.Position())
	if err != nil {
		return nil, err
	}
	if seq > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = seq
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return cons, nil
}

// seqAfter finds the first stream sequence whose event position is above
// pos, by binary search over the stream (positions grow with sequences).
// Where messages are missing it errs towards an earlier sequence: an
// earlier start only costs skipped redeliveries.
func seqAfter(ctx context.Context, stream jetstream.Stream, pos uint64) (uint64, error) {
	if pos == 0 {
		return 1, nil
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("events stream info: %w", err)
	}
	lo, hi := info.State.FirstSeq, info.State.LastSeq+1
	if info.State.Msgs == 0 {
		return info.State.LastSeq + 1, nil
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := stream.GetMsg(ctx, mid)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			// A hole: give up narrowing from above here.
			hi = mid
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("events stream get %d: %w", mid, err)
		}
		p, _, err := natsx.HeaderPositions(m.Header)
		if err != nil {
			return 0, &events.Error{Code: events.CodeInternal, Message: "bad event message on stream", Err: err}
		}
		if p <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}
