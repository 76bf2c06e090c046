package eventstore

import (
	"context"
	"fmt"
	"slices"

	"rectify/events"
)

// AllReader reads $all; every Store is one, and so is a client of the
// store-read service.
type AllReader interface {
	ReadAll(ctx context.Context, after uint64, limit int) ([]events.Event, error)
}

// HeadDigest is the digest of every stream's last event (revision and
// hash) at a position of $all, and how many streams there were: see
// events.ChainHeads.Digest.
type HeadDigest struct {
	Digest  string `json:"digest"`
	Streams int    `json:"streams"`
}

// headPage is how many events HeadDigests reads at a time.
var headPage = 5000

// HeadDigests reads $all from the start up to the largest of positions and
// returns the HeadDigest at each of them: of the events at or before it. A
// position past the last event gets the digest of the whole store.
// Errors are those of ReadAll.
func HeadDigests(ctx context.Context, r AllReader, positions ...uint64) (map[uint64]HeadDigest, error) {
	want := slices.Sorted(slices.Values(positions))
	want = slices.Compact(want)
	out := make(map[uint64]HeadDigest, len(want))
	heads := make(events.ChainHeads)
	snapshot := func(pos uint64) {
		d, n := heads.Digest()
		out[pos] = HeadDigest{Digest: d, Streams: n}
	}
	var after uint64
	for len(want) > 0 {
		page, err := r.ReadAll(ctx, after, headPage)
		if err != nil {
			return nil, fmt.Errorf("chain heads: read $all after %d: %w", after, err)
		}
		for _, e := range page {
			for len(want) > 0 && want[0] < e.Position {
				snapshot(want[0])
				want = want[1:]
			}
			if len(want) == 0 {
				break
			}
			heads.Add(e)
			after = e.Position
		}
		if len(page) < headPage {
			break
		}
	}
	for _, pos := range want {
		snapshot(pos)
	}
	return out, nil
}
