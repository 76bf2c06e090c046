package projections

import (
	"sync"
)

// answerCache keeps a view's encoded answers for as long as the view has
// not moved. A dashboard asks the same few questions over and over
// (progress of the organisation, the first ledger page), and between two
// events every answer to a question is the same: the view is a function
// of its position. Answering again cost an SQL query and JSON encoding
// each time, most of a query's CPU. The cache is emptied as soon as the
// view applies anything, so it never answers with something older than an
// uncached answer would be.
type answerCache struct {
	mu    sync.Mutex
	pos   uint64 // the view position every entry reflects
	size  int    // bytes held
	items map[string][]byte
}

// Bounds of one view's cache: past them answers are not kept until the
// view moves on (which empties it).
const (
	answerCacheBytes   = 16 << 20
	answerCacheEntries = 4096
)

// get returns the answer kept for key at position pos.
func (c *answerCache) get(pos uint64, key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pos != pos {
		return nil, false
	}
	b, ok := c.items[key]
	return b, ok
}

// put keeps b as the answer to key at position pos. An answer of a
// position older than the cache's is dropped; a newer one empties it.
func (c *answerCache) put(pos uint64, key string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case pos < c.pos:
		return
	case pos > c.pos || c.items == nil:
		c.pos, c.size, c.items = pos, 0, map[string][]byte{}
	}
	if c.size+len(b) > answerCacheBytes || len(c.items) >= answerCacheEntries {
		return
	}
	if _, ok := c.items[key]; !ok {
		c.items[key] = b
		c.size += len(b)
	}
}

// reset forgets every answer (a rebuilt view was swapped in).
func (c *answerCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos, c.size, c.items = 0, 0, nil
}
