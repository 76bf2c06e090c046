package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"rectify/projections"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
)

// viewDigest is one line of `rectify views digest`.
type viewDigest struct {
	View     string `json:"view"`
	Replica  string `json:"replica"`
	Position uint64 `json:"position"`
	Digest   string `json:"digest"`
}

// runViewsDigest prints, as JSON lines, the position and digest of every
// view database of one replica, or with --rebuild those of views rebuilt
// from the event store into a temporary directory. Two replicas that
// applied the same events print the same digests, and so does a rebuild
// up to the same position: this is how to check that views converged.
func runViewsDigest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("views digest", stderr)
	dataDir := fl.String("data", envOr("RECTIFY_DATA", "data"), "data directory holding views/ (and, for --rebuild, events.db) (RECTIFY_DATA)")
	replica := fl.String("replica", envOr("RECTIFY_REPLICA", "0"), "replica whose view databases to read (RECTIFY_REPLICA)")
	rebuild := fl.Bool("rebuild", false, "rebuild every view from the event store into a temporary directory and print those digests instead")
	esdbURL := fl.String("esdb-url", envOr("RECTIFY_ESDB_URL", ""), "with --rebuild, read EventStoreDB instead of the embedded store in the data directory (RECTIFY_ESDB_URL)")
	var only listFlag
	fl.Var(&only, "views", "comma-separated views to digest; empty: every view")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return usageError{fmt.Sprintf("views digest takes no arguments, got %q", fl.Args())}
	}
	cfg := serveConfig{Views: only}
	if err := cfg.checkViews(); err != nil {
		return err
	}
	var ds []viewDigest
	var err error
	if *rebuild {
		ds, err = rebuiltDigests(ctx, *dataDir, *esdbURL, cfg.viewList())
	} else {
		ds, err = replicaDigests(ctx, filepath.Join(*dataDir, "views"), *replica, cfg.viewList())
	}
	enc := json.NewEncoder(stdout)
	for _, d := range ds {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return err
}

// replicaDigests reads the view databases of replica in dir. It is meant
// for a stopped replica, or a copy of one: beside a running replica it
// reads a view that moves.
func replicaDigests(ctx context.Context, dir, replica string, ps []projections.Projection) ([]viewDigest, error) {
	var out []viewDigest
	for _, p := range ps {
		path := filepath.Join(dir, p.Name()+"-"+replica+".db")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return out, fmt.Errorf("no view database %s", path)
		}
		r, err := projections.Open(ctx, p, projections.Options{Dir: dir, Replica: replica})
		if err != nil {
			return out, err
		}
		d, err := r.Digest(ctx)
		out = append(out, viewDigest{View: p.Name(), Replica: replica, Position: r.Position(), Digest: d})
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return out, fmt.Errorf("digest %s: %w", p.Name(), err)
		}
	}
	return out, nil
}

// rebuiltDigests rebuilds every view of ps from the store, all at once in
// one pass, into a temporary directory it removes afterwards.
func rebuiltDigests(ctx context.Context, dataDir, esdbURL string, ps []projections.Projection) ([]viewDigest, error) {
	var store eventstore.Store
	if esdbURL != "" {
		s, err := openESDB(ctx, esdbURL, discardLogger())
		if err != nil {
			return nil, err
		}
		store = s
	} else {
		path := filepath.Join(dataDir, "events.db")
		s, err := embedded.Open(path, embedded.Options{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		store = s
	}
	defer store.Close()
	tmp, err := os.MkdirTemp("", "rectify-rebuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	const replica = "rebuild"
	var runners []*projections.Runner
	defer func() {
		for _, r := range runners {
			r.Close()
		}
	}()
	for _, p := range ps {
		r, err := projections.Open(ctx, p, projections.Options{Dir: tmp, Replica: replica, Source: store, Logger: discardLogger()})
		if err != nil {
			return nil, err
		}
		runners = append(runners, r)
	}
	if _, err := projections.RebuildAll(ctx, runners, nil); err != nil {
		return nil, err
	}
	var out []viewDigest
	for _, r := range runners {
		d, err := r.Digest(ctx)
		if err != nil {
			return out, fmt.Errorf("digest %s: %w", r.Name(), err)
		}
		out = append(out, viewDigest{View: r.Name(), Replica: replica, Position: r.Position(), Digest: d})
	}
	return out, nil
}

// discardLogger logs nothing: the command's output is its JSON lines.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
