package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"rectify/services/natsx"
)

// errLeaseHeld: another relay holds the lease.
var errLeaseHeld = errors.New("relay lease held by another relay")

// errLeaseLost: a refresh failed, so this relay may no longer publish.
var errLeaseLost = errors.New("relay lease lost")

// lease is this relay's hold on natsx.RelayLeaseKey. The key's value is the
// holder's id; the bucket's TTL expires it unless the holder updates it,
// and every update is checked against the revision the holder last wrote,
// so two relays can never both believe a refresh of theirs succeeded.
type lease struct {
	kv  jetstream.KeyValue
	id  string
	ttl time.Duration
	// rev is the revision this holder last wrote; validUntil is when the
	// key may expire on the server if no refresh succeeds before.
	rev        uint64
	validUntil time.Time
}

// leaseBucket creates or updates the lease bucket with the configured TTL.
func (r *Relay) leaseBucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := r.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      natsx.RelayLeaseBucket,
		Description: "the relay that publishes rectify's events to JetStream",
		History:     1,
		TTL:         r.opts.LeaseTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(r.opts.Stream.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	return kv, nil
}

// acquire waits until this relay holds the lease or ctx is done. A relay
// whose id is still in the key (it lost the lease through a failed refresh
// and nobody took over) takes it back.
func (r *Relay) acquire(ctx context.Context) (*lease, error) {
	kv, err := r.leaseBucket(ctx)
	if err != nil {
		return nil, err
	}
	poll := time.NewTicker(r.opts.LeasePoll)
	defer poll.Stop()
	for {
		sent := time.Now()
		rev, err := r.tryAcquire(ctx, kv)
		if err == nil {
			return &lease{kv: kv, id: r.opts.ID, ttl: r.opts.LeaseTTL, rev: rev, validUntil: validity(sent, r.opts.LeaseTTL)}, nil
		}
		if !errors.Is(err, errLeaseHeld) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-poll.C:
		}
	}
}

func (r *Relay) tryAcquire(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	e, err := kv.Get(ctx, natsx.RelayLeaseKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		// Expired, deleted or never held.
		rev, err := kv.Create(ctx, natsx.RelayLeaseKey, []byte(r.opts.ID))
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, errLeaseHeld
		}
		return rev, err
	case err != nil:
		return 0, fmt.Errorf("read lease: %w", err)
	case string(e.Value()) == r.opts.ID:
		rev, err := kv.Update(ctx, natsx.RelayLeaseKey, []byte(r.opts.ID), e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, errLeaseHeld
		}
		return rev, err
	default:
		return 0, errLeaseHeld
	}
}

// validity is how long a lease written at sent may be relied on: the server
// expires the key TTL after it stored it, which is after sent; a tenth of
// the TTL is kept in hand for clocks that run at slightly different rates.
func validity(sent time.Time, ttl time.Duration) time.Time {
	return sent.Add(ttl - ttl/10)
}

// keep refreshes the lease every third of its TTL until ctx is done. The
// first refresh that fails, or does not succeed before the lease could
// expire, calls lost at once: the caller stops publishing before any
// standby can take over.
func (l *lease) keep(ctx context.Context, lost context.CancelCauseFunc) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		rctx, cancel := context.WithDeadline(ctx, l.validUntil)
		rev, err := l.kv.Update(rctx, natsx.RelayLeaseKey, []byte(l.id), l.rev)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				lost(fmt.Errorf("%w: refresh: %w", errLeaseLost, err))
			}
			return
		}
		l.rev, l.validUntil = rev, validity(sent, l.ttl)
	}
}

// release deletes the key if it is still this holder's, so that a standby
// takes over at its next poll instead of after the TTL.
func (l *lease) release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return l.kv.Delete(ctx, natsx.RelayLeaseKey, jetstream.LastRevision(l.rev))
}
