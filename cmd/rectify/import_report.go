package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"rectify/events"
	"rectify/services/report"
)

// runImportReport is `rectify import report`: it reads an annual work
// report (述职报告) and shows the draft ledger it proposes, or checks a
// reviewed draft and shows the commands confirming it would send.
//
//	rectify import report FILE [--json] [--out review.json [--force]]
//	rectify import report --confirm review.json [--json] [--server URL --token-file FILE]
//
// The first form prints the draft (a table, or JSON with --json) and, with
// --out, writes a review file: the draft plus the assignments to fill in
// (cycle, unit, owners, deadlines, and per entry drop, accept, period,
// target …; see report.Assignments). The second form checks a filled-in
// review; with --server (or RECTIFY_SERVER) it sends it to a running
// rectify as one report.import command and prints what was created,
// without it it prints the commands the review turns into and how to send
// them.
func runImportReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import report", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	out := fs.String("out", "", "write a review file (the draft and the assignments to fill in) to this path")
	force := fs.Bool("force", false, "with --out: replace an existing review file")
	confirm := fs.String("confirm", "", "check this filled-in review file; with --server, write it")
	server := fs.String("server", envOr("RECTIFY_SERVER", ""), "with --confirm: the rectify to write to, e.g. http://127.0.0.1:8080 (RECTIFY_SERVER)")
	tokenFile := fs.String("token-file", "", "with --server: a file holding the API token, e.g. data/admin.token (or the token itself in RECTIFY_TOKEN)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage:")
		fmt.Fprintln(stderr, "  rectify import report FILE [--json] [--out review.json [--force]]")
		fmt.Fprintln(stderr, "  rectify import report --confirm review.json [--json] [--server URL --token-file FILE]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "FILE is a report as plain text: UTF-8, UTF-16 with a byte order mark, or GB18030.")
		fs.PrintDefaults()
	}
	// Flags may come before or after FILE.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}

	if *confirm != "" {
		if len(files) > 0 || *out != "" {
			return usageError{"import report --confirm takes a review file only, no FILE or --out"}
		}
		if *server == "" {
			return confirmReportReview(*confirm, *asJSON, stdout)
		}
		token, err := apiToken(*tokenFile)
		if err != nil {
			return err
		}
		return sendReportReview(ctx, *server, token, *confirm, *asJSON, stdout)
	}
	if *tokenFile != "" {
		return usageError{"--token-file goes with --confirm and --server"}
	}
	if len(files) != 1 {
		return usageError{fmt.Sprintf("import report needs one FILE, got %d", len(files))}
	}
	path := files[0]
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := report.Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if *out != "" {
		if err := writeReportReview(*out, report.NewReview(d, filepath.Base(path)), *force); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeReportJSON(stdout, d)
	}
	printReportDraft(stdout, d)
	if *out != "" {
		fmt.Fprintf(stdout, "\nReview file written to %s: set assign.cycle_id and assign.unit_id, settle the entries marked !, then run\n  rectify import report --confirm %s\n", *out, *out)
	}
	return nil
}

func writeReportReview(path string, r report.Review, force bool) error {
	b, err := reportJSON(r)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		// A review file holds a person's edits: never overwrite one by
		// accident.
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return usageError{fmt.Sprintf("%s exists; pass --force to replace it", path)}
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readReportReview reads a review file: its bytes, and the review.
func readReportReview(path string) ([]byte, report.Review, error) {
	var r report.Review
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, r, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt field would silently do nothing
	if err := dec.Decode(&r); err != nil {
		return nil, r, fmt.Errorf("%s: %w", path, events.Wrap(events.CodeInvalid, err, "not a review file"))
	}
	return b, r, nil
}

// reviewProblems prints the problems err names, one a line, and returns
// err with the file named.
func reviewProblems(stdout io.Writer, path, what string, err error) error {
	var e *events.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		fmt.Fprintf(stdout, "%s %s:\n", path, what)
		for _, f := range e.Fields {
			fmt.Fprintf(stdout, "  %s: %s\n", f.Field, f.Problem)
		}
	}
	return fmt.Errorf("%s: %w", path, err)
}

// confirmReportReview checks a review file and prints the commands it gives.
func confirmReportReview(path string, asJSON bool, stdout io.Writer) error {
	_, r, err := readReportReview(path)
	if err != nil {
		return err
	}
	steps, err := r.Draft.Commands(r.Assign)
	if err != nil {
		return reviewProblems(stdout, path, "is not ready to confirm", err)
	}
	if asJSON {
		return writeReportJSON(stdout, steps)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	// No keys here: sent, the import is one report.import command under
	// one key (derived from this file), not these steps one by one.
	fmt.Fprintln(tw, "ENTRY\tCOMMAND\tWHAT")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Entry, s.Name, reportClip(reportStepText(s.Command), 36))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%d commands would be written. Nothing was sent; to write them as one import, run\n"+
		"  rectify import report --confirm %s --server http://127.0.0.1:8080 --token-file data/admin.token\n", len(steps), path)
	return nil
}

func reportStepText(c events.Command) string {
	switch c := c.(type) {
	case events.RaiseItem:
		return c.Title
	case events.AssignItem:
		return strings.TrimSpace(c.UnitID + " " + c.OwnerName)
	case events.PlanMeasure:
		return c.Text
	case events.MakeCommitment:
		return fmt.Sprintf("%d/%s %s", c.Target, c.Period, c.Title)
	}
	return ""
}

// printReportDraft prints the draft as a table: items with their measures and
// causes counted, commitments with their count and period, measures tied
// to no item, and the lines left out.
func printReportDraft(w io.Writer, d report.Draft) {
	fmt.Fprintf(w, "%s", reportDash(d.Title))
	if d.Unit != "" {
		fmt.Fprintf(w, "  (%s)", d.Unit)
	}
	fmt.Fprintf(w, "\n%s, %d lines, %d items, %d commitments, %d lines left out\n\n", d.Encoding, d.Lines, len(d.Items), len(d.Commitments), len(d.Skipped))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tKIND\tKEY\tTITLE\tTARGET/PERIOD\tCAUSES\tMEASURES")
	for _, it := range d.Items {
		fmt.Fprintf(tw, "%d\titem\t%s\t%s\t-\t%d\t%d\n", it.Line, it.Key, reportClip(it.Title, 30), len(it.Causes), len(it.Measures))
	}
	for _, c := range d.Commitments {
		fmt.Fprintf(tw, "%d\tcommitment\t%s\t%s\t%s\t-\t-\n", c.Line, c.Key, reportClip(c.Title, 30), reportTargetText(c))
	}
	for _, m := range d.Unmatched {
		fmt.Fprintf(tw, "%d\tmeasure!\t%s\t%s\tno item: attach or drop\t-\t-\n", m.Line, m.Key, reportClip(m.Text, 30))
	}
	tw.Flush()
	if len(d.Skipped) > 0 {
		fmt.Fprintln(w, "\nLeft out:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range d.Skipped {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Line, s.Reason, reportClip(strings.TrimSpace(s.Text), 40))
		}
		tw.Flush()
	}
	for _, warn := range d.Warnings {
		fmt.Fprintln(w, "\nwarning:", warn)
	}
	fmt.Fprintln(w, "\n! marks entries to settle in the review: a count to be set, or a ledger form to accept or restate.")
}

// reportTargetText shows a commitment's count as read and, when the ledger needs
// another form, the form proposed: "4/year → 1/quarter !".
func reportTargetText(c report.DraftCommitment) string {
	count := "?"
	if c.Target != nil {
		count = strconv.Itoa(*c.Target)
		if c.Max > c.Min {
			count = fmt.Sprintf("%d-%d", c.Min, c.Max)
		}
	}
	s := count + "/" + reportDash(c.Period)
	l := c.Ledger
	if l.Period != c.Period || (c.Target != nil && l.Target != *c.Target) {
		lt := "?"
		if l.Target > 0 {
			lt = strconv.Itoa(l.Target)
		}
		s += " → " + lt + "/" + reportDash(l.Period)
	}
	if l.Confirm {
		s += " !"
	}
	return s
}

func reportClip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func reportDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func reportJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeReportJSON(w io.Writer, v any) error {
	b, err := reportJSON(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
