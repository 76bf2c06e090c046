package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"sync"
)

// chainDomain starts every event hash, so that no other SHA-256 input of
// rectify (a token, a digest of views) can be mistaken for one.
const chainDomain = "rectify.event.chain.v1"

// headsDomain starts the digest of a set of chain heads.
const headsDomain = "rectify.chain.heads.v1"

// ChainHash returns the hash of e chained to prev, the Hash of the event
// before e in its stream ("" for revision 0), as 64 lowercase hex digits.
//
// It covers what never changes once the event is stored: stream, revision,
// id, type, schema version, time to the nanosecond (as an instant: the
// zone is not part of it, since stores keep the instant only), actor,
// correlation and causation ids, and data byte for byte. Position is left
// out: EventStoreDB assigns it after the append, and the stream's order is
// already in the revision. Each field is written with its length before
// it, so no two different events encode alike (with concatenation
// "ab"+"c" and "a"+"bc" would).
func ChainHash(prev string, e Event) string {
	bp := chainBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = appendText(b, chainDomain)
	b = appendText(b, prev)
	b = appendText(b, e.Stream)
	b = appendNumber(b, e.Revision)
	b = appendText(b, e.ID)
	b = appendText(b, e.Type)
	b = appendNumber(b, uint64(int64(e.Version)))
	if e.Time.IsZero() {
		// The stores keep "no time" apart from every instant (NULL in
		// SQLite), so the hash does too: an empty field.
		b = binary.BigEndian.AppendUint64(b, 0)
	} else {
		b = binary.BigEndian.AppendUint64(b, 12)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Time.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(e.Time.Nanosecond()))
	}
	b = appendText(b, e.Actor)
	b = appendText(b, e.CorrelationID)
	b = appendText(b, e.CausationID)
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.Data)))
	b = append(b, e.Data...)
	sum := sha256.Sum256(b)
	if cap(b) <= maxPooledChainBuf {
		*bp = b
		chainBufs.Put(bp)
	}
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// chainBufs holds the buffers ChainHash encodes events into: the store's
// writer hashes every event it appends, and one allocation less per event
// shows there. Buffers grown by a large payload are not kept.
var chainBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledChainBuf = 64 << 10

// appendText appends s with its length before it.
func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// appendNumber appends n as an 8-byte field with its length before it.
func appendNumber(b []byte, n uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, 8)
	return binary.BigEndian.AppendUint64(b, n)
}

// ChainHead is the last event of a stream as far as a chain goes: its
// revision and stored hash.
type ChainHead struct {
	Revision uint64 `json:"revision"`
	Hash     string `json:"hash"`
}

// ChainHeads collects the head of every stream from events read in $all
// order, for a digest of a store's state at a position: the digest pins
// every stream's chain, so it changes when any event up to that position
// is changed, removed or added afterwards. The zero value is not usable;
// make one with make(ChainHeads).
type ChainHeads map[string]ChainHead

// Add records e as its stream's head when it is past the head recorded so
// far.
func (h ChainHeads) Add(e Event) {
	if cur, ok := h[e.Stream]; ok && cur.Revision >= e.Revision {
		return
	}
	h[e.Stream] = ChainHead{Revision: e.Revision, Hash: e.Hash}
}

// Digest returns the hex SHA-256 over every (stream, revision, hash) head
// in stream order, each field length-prefixed, and how many streams there
// are. An empty set has a digest too.
func (h ChainHeads) Digest() (digest string, streams int) {
	names := make([]string, 0, len(h))
	for s := range h {
		names = append(names, s)
	}
	sort.Strings(names)
	d := sha256.New()
	b := appendText(nil, headsDomain)
	b = binary.BigEndian.AppendUint64(b, uint64(len(names)))
	for _, s := range names {
		hd := h[s]
		b = appendText(b, s)
		b = appendNumber(b, hd.Revision)
		b = appendText(b, hd.Hash)
		if len(b) >= 32<<10 {
			d.Write(b)
			b = b[:0]
		}
	}
	d.Write(b)
	return hex.EncodeToString(d.Sum(nil)), len(names)
}
