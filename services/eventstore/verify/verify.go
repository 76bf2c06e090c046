// Package verify checks that an event store still holds the history it was
// given: every event chained to the one before it in its stream
// (events.ChainHash), no revision missing or out of order, and every
// published assessment's recorded chain heads
// (events.AssessmentPublishedData.ChainDigest) matching the store. It is
// what `rectify verify` runs.
package verify

import (
	"context"
	"fmt"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
)

// Kinds of Break.
const (
	// HashMismatch: the stored hash is not the hash of the event chained to
	// its predecessor: the event, or its hash, was changed after the fact.
	HashMismatch = "hash_mismatch"
	// NoHash: the event has no stored hash at all.
	NoHash = "no_hash"
	// MissingRevision: revisions of the stream are not in the store (a
	// deleted event); Revision is the first missing one.
	MissingRevision = "missing_revision"
	// RevisionOutOfOrder: a revision comes in $all after a later one of
	// its stream, or twice.
	RevisionOutOfOrder = "revision_out_of_order"
)

// Break is one place where a stream's chain does not hold.
type Break struct {
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	Kind     string `json:"kind"`
	// Position and EventID are those of the event where the break shows
	// (for a missing revision, the first event after the gap).
	Position uint64 `json:"position"`
	EventID  string `json:"event_id"`
	Detail   string `json:"detail"`
}

func (b Break) String() string {
	return fmt.Sprintf("%s@%d: %s: %s", b.Stream, b.Revision, b.Kind, b.Detail)
}

// Publication states.
const (
	// PublicationOK: the recorded chain heads are the store's.
	PublicationOK = "ok"
	// PublicationMismatch: the store's chain heads at the recorded
	// position differ from the recorded ones: history the result was
	// computed from has changed since.
	PublicationMismatch = "mismatch"
	// PublicationNotRecorded: published before chain heads were recorded.
	PublicationNotRecorded = "not_recorded"
)

// Publication is the check of one published assessment.
type Publication struct {
	AssessmentID string `json:"assessment_id"`
	Version      int    `json:"version"`
	// Stream, Revision and EventPosition place the publication event.
	Stream        string `json:"stream"`
	Revision      uint64 `json:"revision"`
	EventPosition uint64 `json:"event_position"`
	// Position is the store position the result was computed from.
	Position        uint64 `json:"position"`
	Status          string `json:"status"`
	RecordedDigest  string `json:"recorded_digest,omitempty"`
	RecordedStreams int    `json:"recorded_streams,omitempty"`
	ActualDigest    string `json:"actual_digest,omitempty"`
	ActualStreams   int    `json:"actual_streams,omitempty"`
}

func (p Publication) String() string {
	s := fmt.Sprintf("publication %s version %d (%s@%d, computed at position %d): %s", p.AssessmentID, p.Version, p.Stream, p.Revision, p.Position, p.Status)
	if p.Status == PublicationMismatch {
		s += fmt.Sprintf(": recorded %s over %d streams, the store has %s over %d", p.RecordedDigest, p.RecordedStreams, p.ActualDigest, p.ActualStreams)
	}
	return s
}

// Report is the outcome of Run.
type Report struct {
	Events       int           `json:"events"`
	Streams      int           `json:"streams"`
	Breaks       []Break       `json:"breaks"`
	Publications []Publication `json:"publications"`
	// Head is the position of the last event checked.
	Head    uint64        `json:"head"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// OK reports whether nothing is broken: no break and no publication whose
// chain heads differ. Publications without recorded heads are not breaks.
func (r Report) OK() bool {
	if len(r.Breaks) > 0 {
		return false
	}
	for _, p := range r.Publications {
		if p.Status == PublicationMismatch {
			return false
		}
	}
	return true
}

// page is how many events Run reads at a time.
var page = 5000

// link is what the walk knows of a stream's chain so far.
type link struct {
	rev uint64
	// stored is the last event's hash as stored; computed is its hash
	// recomputed from its content and its predecessor's stored hash. They
	// differ right after an event whose content or hash was changed.
	stored, computed string
}

// Run reads $all from the start to its end once, checking every stream's
// chain, then, when publications recorded chain heads, reads it again up to
// the last of their positions to compare. It only reads, so it can run on a
// store that is being written (a read-only embedded store beside `rectify
// serve`); events appended during the walk are checked if the walk reaches
// them. An error is a failure to read, not a break.
func Run(ctx context.Context, r eventstore.AllReader) (Report, error) {
	start := time.Now()
	var rep Report
	chains := make(map[string]*link)
	var after uint64
	for {
		evs, err := r.ReadAll(ctx, after, page)
		if err != nil {
			return rep, fmt.Errorf("verify: read $all after %d: %w", after, err)
		}
		for _, e := range evs {
			rep.Events++
			if b, ok := check(chains, e); !ok {
				rep.Breaks = append(rep.Breaks, b)
			}
			if e.Type == events.AssessmentPublished {
				rep.Publications = append(rep.Publications, publication(e))
			}
			after = e.Position
		}
		if len(evs) < page {
			break
		}
	}
	rep.Head = after
	rep.Streams = len(chains)
	if err := checkPublications(ctx, r, rep.Publications); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// check advances the chain of e's stream by e and returns the break e
// shows, if any.
func check(chains map[string]*link, e events.Event) (Break, bool) {
	br := func(kind string, rev uint64, format string, args ...any) Break {
		return Break{Stream: e.Stream, Revision: rev, Kind: kind, Position: e.Position, EventID: e.ID, Detail: fmt.Sprintf(format, args...)}
	}
	l, seen := chains[e.Stream]
	var next uint64
	if seen {
		next = l.rev + 1
		if e.Revision <= l.rev {
			// The chain goes on from the later revision already seen.
			return br(RevisionOutOfOrder, e.Revision, "revision %d (event %s, position %d) comes after revision %d in $all", e.Revision, e.ID, e.Position, l.rev), false
		}
	} else {
		l = &link{}
		chains[e.Stream] = l
	}
	if e.Revision > next {
		// The predecessor is not there to chain to: the chain starts
		// over from this event's stored hash.
		*l = link{rev: e.Revision, stored: e.Hash, computed: e.Hash}
		missing := fmt.Sprintf("revision %d is missing", next)
		if e.Revision > next+1 {
			missing = fmt.Sprintf("revisions %d to %d are missing", next, e.Revision-1)
		}
		if !seen {
			return br(MissingRevision, next, "%s: the stream starts at revision %d (event %s, position %d)", missing, e.Revision, e.ID, e.Position), false
		}
		return br(MissingRevision, next, "%s: revision %d (event %s, position %d) follows revision %d", missing, e.Revision, e.ID, e.Position, next-1), false
	}
	want := events.ChainHash(l.stored, e)
	ok := e.Hash == want
	// After an event whose stored hash alone was changed, its successor
	// still chains to the hash it had: that break was reported already.
	if !ok && l.computed != l.stored && e.Hash == events.ChainHash(l.computed, e) {
		ok = true
	}
	prevStored := l.stored
	*l = link{rev: e.Revision, stored: e.Hash, computed: want}
	switch {
	case ok:
		return Break{}, true
	case e.Hash == "":
		return br(NoHash, e.Revision, "event %s at position %d has no hash", e.ID, e.Position), false
	}
	return br(HashMismatch, e.Revision, "event %s at position %d: stored hash %s, but its content chained to %s gives %s",
		e.ID, e.Position, e.Hash, describePrev(e.Revision, prevStored), want), false
}

func describePrev(rev uint64, hash string) string {
	if rev == 0 {
		return "nothing (revision 0)"
	}
	return fmt.Sprintf("revision %d's hash %s", rev-1, hash)
}

// publication reads what a publication event recorded.
func publication(e events.Event) Publication {
	p := Publication{Stream: e.Stream, Revision: e.Revision, EventPosition: e.Position, Status: PublicationNotRecorded}
	payload, err := events.Decode(e)
	d, ok := payload.(events.AssessmentPublishedData)
	if err != nil || !ok {
		// Its hash check says whether it was tampered with; what it
		// recorded cannot be read.
		p.AssessmentID = e.ID
		return p
	}
	p.AssessmentID, p.Version, p.Position = d.AssessmentID, d.Version, d.Position
	if d.ChainDigest != "" {
		p.RecordedDigest, p.RecordedStreams = d.ChainDigest, d.ChainStreams
	}
	return p
}

// checkPublications computes the chain heads at every position a
// publication recorded heads for, in one more read of $all, and compares.
func checkPublications(ctx context.Context, r eventstore.AllReader, pubs []Publication) error {
	var positions []uint64
	for _, p := range pubs {
		if p.RecordedDigest != "" {
			positions = append(positions, p.Position)
		}
	}
	if len(positions) == 0 {
		return nil
	}
	at, err := eventstore.HeadDigests(ctx, r, positions...)
	if err != nil {
		return fmt.Errorf("verify publications: %w", err)
	}
	for i := range pubs {
		p := &pubs[i]
		if p.RecordedDigest == "" {
			continue
		}
		actual := at[p.Position]
		p.ActualDigest, p.ActualStreams = actual.Digest, actual.Streams
		p.Status = PublicationOK
		if actual.Digest != p.RecordedDigest || actual.Streams != p.RecordedStreams {
			p.Status = PublicationMismatch
		}
	}
	return nil
}
