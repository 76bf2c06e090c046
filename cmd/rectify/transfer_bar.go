package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// transferBar draws a progress bar on a terminal while bytes move: a bar and
// a percentage when the total is known, a spinner with the count and the
// time taken when not. It draws nothing when its writer is not a terminal
// (a log, a pipe, a test) and nothing for a run that ends within
// barDelay, so quick runs stay quiet.
type transferBar struct {
	w     io.Writer
	label string
	total int64
	n     atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
	drawn bool
}

// barDelay is how long a run goes before the bar appears.
const barDelay = 300 * time.Millisecond

// newTransferBar starts a bar for label; total is the byte count to expect,
// or -1 when unknown.
func newTransferBar(w io.Writer, label string, total int64) *transferBar {
	p := &transferBar{w: w, label: label, total: total, start: time.Now(), stop: make(chan struct{})}
	if !isTerminal(w) {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				if time.Since(p.start) >= barDelay {
					p.draw(false)
				}
			}
		}
	}()
	return p
}

// reader counts what is read through r.
func (p *transferBar) reader(r io.Reader) io.Reader { return &countingReader{r: r, n: &p.n} }

// done stops the bar and, when it was drawn, finishes its line.
func (p *transferBar) done() {
	close(p.stop)
	p.wg.Wait()
	if p.drawn {
		p.draw(true)
		fmt.Fprintln(p.w)
	}
}

func (p *transferBar) draw(final bool) {
	p.drawn = true
	n := p.n.Load()
	took := time.Since(p.start).Round(100 * time.Millisecond)
	if p.total > 0 {
		frac := min(float64(n)/float64(p.total), 1)
		const width = 30
		fill := int(frac * width)
		fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %s/%s %s ", p.label, strings.Repeat("#", fill), strings.Repeat("-", width-fill),
			frac*100, byteCount(n), byteCount(p.total), took)
		return
	}
	spin := `|/-\`[int(took/(100*time.Millisecond))%4]
	if final {
		spin = ' '
	}
	fmt.Fprintf(p.w, "\r%s %c %s %s ", p.label, spin, byteCount(n), took)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func byteCount(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
