// Command rectify is the one binary of rectify: it runs every role (event
// store, relay, projections, gateway) and the operator's tools.
//
// Usage:
//
//	rectify <command> [flags]
//
// Run `rectify help` for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"modernc.org/sqlite"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand of the CLI.
type command struct {
	name    string // may contain a space: "events tail"
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"version", "print the version of rectify", runVersion},
		{"events tail", "print $all as JSON lines and follow it live", runEventsTail},
		{"serve", "run every role in one process with the embedded defaults, or the roles named by --roles", runServe},
		{"healthcheck", "exit 0 when a rectify process's /healthz (or /readyz) answers 200", runHealthcheck},
		{"views digest", "print the digest of every view, or of a fresh rebuild from the store", runViewsDigest},
		{"verify", "check every event's hash chain and the chain heads of published assessments", runVerify},
		{"import report", "read an annual work report (述职报告) into a draft ledger", runImportReport},
		{"import ledger", "import a ledger (台账) from an XLSX or CSV file, with a dry run", runImportLedger},
		{"export", "export the ledger, commitments or compliance as XLSX or CSV", runExport},
		{"bench", "measure the performance targets, each beside a baseline", runBench},
		{"soak", "run serve under a steady load for a set time; fail on steady growth of memory, goroutines or open files", runSoak},
	}
}

func main() {
	// fdatasync is as durable as fsync for SQLite's WAL and skips flushing
	// file metadata the log does not need: a cheaper commit for every
	// store and view in the process.
	if _, err := sqlite.Fdatasync(true); err != nil {
		fmt.Fprintln(os.Stderr, "rectify: fdatasync:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rectify:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks a mistake in the command line, which exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0 // -h asked for the usage, and got it
	}
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// run dispatches args to the longest matching subcommand name.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		return nil
	}
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return len(cmds[i].name) > len(cmds[j].name) })
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && equalWords(args[:len(words)], words) {
			return c.run(ctx, args[len(words):], stdout, stderr)
		}
	}
	printHelp(stderr)
	return usageError{fmt.Sprintf("unknown command %q", strings.Join(args, " "))}
}

func equalWords(a, b []string) bool {
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "rectify: commitment and rectification tracker (整改与承诺台账)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: rectify <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `rectify <command> -h` for the flags of a command.")
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rectify %s\n", version)
	return nil
}

// newFlagSet returns a flag set that reports errors instead of exiting, so
// that tests can call run() directly.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rectify "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// envOr returns the value of the environment variable key, or def.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
