package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
)

// runEventsTail prints the events of $all as JSON lines, one event per line,
// and with --follow keeps printing new ones as they are appended. It opens
// the embedded store read-only, so it can run beside `rectify serve`.
func runEventsTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events tail", stderr)
	dataDir := fs.String("data", envOr("RECTIFY_DATA", "data"), "data directory (RECTIFY_DATA)")
	after := fs.Uint64("after", 0, "print events after this $all position (0: from the start)")
	follow := fs.Bool("follow", true, "keep printing events as they are appended")
	limit := fs.Int("n", 0, "stop after this many events (0: no limit)")
	prefix := fs.String("stream", "", "only streams starting with this prefix, e.g. item-")
	eventType := fs.String("type", "", "only events of this type, e.g. rectify.item.raised")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("events tail takes no arguments, got %q", fs.Args())}
	}
	path := filepath.Join(*dataDir, "events.db")
	store, err := embedded.Open(path, embedded.Options{ReadOnly: true, PollInterval: 200 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer store.Close()

	var filter eventstore.Filter
	if *prefix != "" {
		filter.StreamPrefixes = []string{*prefix}
	}
	if *eventType != "" {
		filter.EventTypes = []string{*eventType}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	printed := 0
	emit := func(e any) error {
		printed++
		return enc.Encode(e)
	}
	done := func() bool { return *limit > 0 && printed >= *limit }

	if !*follow {
		head, err := store.Head(ctx)
		if err != nil {
			return err
		}
		pos := *after
		for pos < head && !done() {
			batch, err := store.ReadAll(ctx, pos, 1000)
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				break
			}
			for _, e := range batch {
				pos = e.Position
				if filter.Matches(e) {
					if err := emit(e); err != nil {
						return err
					}
					if done() {
						break
					}
				}
			}
		}
		return nil
	}

	sub, err := store.Subscribe(ctx, *after, filter)
	if err != nil {
		return err
	}
	defer sub.Close()
	for !done() {
		e, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a normal way to stop following
			}
			return err
		}
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}
