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
	"rectify/services/eventstore/verify"
)

// errBroken is returned when verify found something broken, so that the
// process exits with status 1 after printing the report.
type errBroken struct{ breaks, mismatches int }

func (e errBroken) Error() string {
	return fmt.Sprintf("the event store is not intact: %d chain break(s), %d publication(s) whose chain heads differ", e.breaks, e.mismatches)
}

// runVerify walks $all and checks every stream's hash chain and every
// published assessment's recorded chain heads (package verify). It opens
// the embedded store read-only, so it can run beside `rectify serve`.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	dataDir := fs.String("data", envOr("RECTIFY_DATA", "data"), "data directory whose events.db to check, read-only (RECTIFY_DATA)")
	esdbURL := fs.String("esdb-url", envOr("RECTIFY_ESDB_URL", ""), "check EventStoreDB instead of the embedded store in the data directory (RECTIFY_ESDB_URL)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: rectify verify [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Checks that every event is chained to the one before it in its stream, that no")
		fmt.Fprintln(stderr, "revision is missing or out of order, and that every published assessment's")
		fmt.Fprintln(stderr, "recorded chain heads match the store. Exits 1 when anything is broken.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("verify takes no arguments, got %q", fs.Args())}
	}

	var store eventstore.Store
	where := *esdbURL
	if *esdbURL != "" {
		s, err := openESDB(ctx, *esdbURL, discardLogger())
		if err != nil {
			return err
		}
		store = s
	} else {
		where = filepath.Join(*dataDir, "events.db")
		s, err := embedded.Open(where, embedded.Options{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("open %s: %w", where, err)
		}
		if !s.Hashed() {
			s.Close()
			return fmt.Errorf("%s was written by a version of rectify that kept no event hashes; start `rectify serve` on it once, which adds them, then verify", where)
		}
		store = s
	}
	defer store.Close()

	rep, err := verify.Run(ctx, store)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		out := struct {
			Store string `json:"store"`
			OK    bool   `json:"ok"`
			verify.Report
		}{where, rep.OK(), rep}
		if out.Breaks == nil {
			out.Breaks = []verify.Break{}
		}
		if out.Publications == nil {
			out.Publications = []verify.Publication{}
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printReport(stdout, where, rep)
	}
	if !rep.OK() {
		e := errBroken{breaks: len(rep.Breaks)}
		for _, p := range rep.Publications {
			if p.Status == verify.PublicationMismatch {
				e.mismatches++
			}
		}
		return e
	}
	return nil
}

// printReport writes every break and publication, then the summary.
func printReport(w io.Writer, where string, rep verify.Report) {
	for _, b := range rep.Breaks {
		fmt.Fprintf(w, "BROKEN  stream %s revision %d: %s: %s\n", b.Stream, b.Revision, b.Kind, b.Detail)
	}
	counts := map[string]int{}
	for _, p := range rep.Publications {
		counts[p.Status]++
		if p.Status == verify.PublicationMismatch {
			fmt.Fprintf(w, "BROKEN  %s\n", p)
		}
	}
	verdict := "intact"
	if !rep.OK() {
		verdict = "NOT intact"
	}
	fmt.Fprintf(w, "%s: %s\n", where, verdict)
	fmt.Fprintf(w, "  events:       %d up to position %d\n", rep.Events, rep.Head)
	fmt.Fprintf(w, "  streams:      %d checked\n", rep.Streams)
	fmt.Fprintf(w, "  breaks:       %d\n", len(rep.Breaks))
	fmt.Fprintf(w, "  publications: %d (%d chain heads match, %d differ, %d published before heads were recorded)\n",
		len(rep.Publications), counts[verify.PublicationOK], counts[verify.PublicationMismatch], counts[verify.PublicationNotRecorded])
	fmt.Fprintf(w, "  time:         %s\n", rep.Elapsed.Round(time.Millisecond))
}
