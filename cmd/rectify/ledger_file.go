package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"rectify/events"
)

// `rectify import ledger` and `rectify export`: the ledger as a
// spreadsheet, through a running rectify's HTTP API (the server reads
// and writes the files; the CLI moves them, with a progress bar).

// ledgerTimeout bounds one import or export: the server answers a ledger
// of thousands of rows in seconds.
const ledgerTimeout = 10 * time.Minute

// ledgerProblem is one problem of an import, as the server reports it.
type ledgerProblem struct {
	Sheet   string `json:"sheet"`
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Cell    string `json:"cell"`
	Field   string `json:"field"`
	Value   string `json:"value"`
	Problem string `json:"problem"`
}

// ledgerImportReply is the server's answer to a ledger import.
type ledgerImportReply struct {
	DryRun    bool     `json:"dry_run"`
	Format    string   `json:"format"`
	Encoding  string   `json:"encoding"`
	CycleID   string   `json:"cycle_id"`
	ImportKey string   `json:"import_key"`
	Position  uint64   `json:"position"`
	Events    int      `json:"events"`
	Ignored   []string `json:"ignored"`
	Items     []struct {
		Sheet    string          `json:"sheet"`
		Row      int             `json:"row"`
		ID       string          `json:"id"`
		Title    string          `json:"title"`
		UnitName string          `json:"unit_name"`
		Measures []importedEntry `json:"measures"`
	} `json:"items"`
	Commitments []struct {
		Sheet    string `json:"sheet"`
		Row      int    `json:"row"`
		ID       string `json:"id"`
		Title    string `json:"title"`
		UnitName string `json:"unit_name"`
	} `json:"commitments"`
}

func runImportLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import ledger", stderr)
	dry := fs.Bool("dry-run", false, "check every row against the ledger and write nothing")
	cycle := fs.String("cycle", "", "the cycle to import into (default: the one the file's 评议周期 column names)")
	server := fs.String("server", envOr("RECTIFY_SERVER", ""), "the rectify to import into, e.g. http://127.0.0.1:8080 (RECTIFY_SERVER)")
	tokenFile := fs.String("token-file", "", "a file holding the API token, e.g. data/admin.token (or the token itself in RECTIFY_TOKEN)")
	asJSON := fs.Bool("json", false, "print the server's answer as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: rectify import ledger FILE.xlsx|FILE.csv [--dry-run] [--cycle ID] --server URL --token-file FILE")
		fmt.Fprintln(stderr, "\nImports a ledger (整改事项 with measures, 承诺事项) from a spreadsheet as one command; any bad row")
		fmt.Fprintln(stderr, "fails the whole file, and every problem is listed by sheet, row and column. Run it again after a")
		fmt.Fprintln(stderr, "timeout: the idempotency key comes from the file, so nothing is written twice.")
		fs.PrintDefaults()
	}
	path, err := parseWithArg(fs, args, "FILE")
	if err != nil {
		return err
	}
	if *server == "" {
		return usageError{"--server is required (or RECTIFY_SERVER)"}
	}
	token, err := apiToken(*tokenFile)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	q := url.Values{"name": {filepath.Base(path)}}
	if *dry {
		q.Set("dry_run", "true")
	}
	if *cycle != "" {
		q.Set("cycle_id", *cycle)
	}
	// The key is the file and the cycle asked for: the same command run
	// again finishes an import cut off and writes nothing twice.
	sum := sha256.Sum256(append(append([]byte{}, data...), "\x00"+*cycle...))
	key := "ledger-" + hex.EncodeToString(sum[:16])

	ctx, cancel := context.WithTimeout(ctx, ledgerTimeout)
	defer cancel()
	base := serverBase(*server)
	bar := newTransferBar(stderr, "上传 "+filepath.Base(path), int64(len(data)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/imports/ledger?"+q.Encode(), bar.reader(bytes.NewReader(data)))
	if err != nil {
		return usageError{fmt.Sprintf("--server %q: %v", *server, err)}
	}
	req.ContentLength = int64(len(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	bar.done()
	if err != nil {
		return events.Wrap(events.CodeUnavailable, err, "send %s to %s (run the same command again: nothing is written twice)", path, base)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return events.Wrap(events.CodeUnavailable, err, "read the answer of %s (run the same command again: nothing is written twice)", base)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error    *events.Error   `json:"error"`
			Problems []ledgerProblem `json:"problems"`
		}
		if json.Unmarshal(body, &eb) != nil || eb.Error == nil {
			return events.Errorf(events.CodeInternal, "%s answered %s: %.200s", base, resp.Status, body)
		}
		if len(eb.Problems) > 0 {
			printLedgerProblems(stdout, path, eb.Problems)
			return fmt.Errorf("%s: %s", path, eb.Error.Message)
		}
		return reviewProblems(stdout, path, "was not imported", eb.Error)
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var rep ledgerImportReply
	if err := json.Unmarshal(body, &rep); err != nil {
		return events.Wrap(events.CodeInternal, err, "%s answered with something other than an import", base)
	}
	printLedgerImport(stdout, path, base, rep)
	return nil
}

// printLedgerProblems lists the problems of a file as a table a person
// fixes the file from.
func printLedgerProblems(w io.Writer, path string, ps []ledgerProblem) {
	fmt.Fprintf(w, "%s was not imported; nothing was written. Fix these, then run the command again:\n\n", path)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHEET\tROW\tCOLUMN\tCELL\tPROBLEM")
	for _, p := range ps {
		row := ""
		if p.Row > 0 {
			row = fmt.Sprint(p.Row)
		}
		sheet := p.Sheet
		if sheet == "" {
			sheet = p.Field
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sheet, row, p.Column, p.Cell, p.Problem)
	}
	tw.Flush()
}

func printLedgerImport(w io.Writer, path, base string, rep ledgerImportReply) {
	measures := 0
	for _, it := range rep.Items {
		measures += len(it.Measures)
	}
	verb := "Imported"
	if rep.DryRun {
		verb = "Checked (dry run, nothing written)"
	}
	fmt.Fprintf(w, "%s %s into cycle %s: %d items, %d measures, %d commitments", verb, path, rep.CycleID, len(rep.Items), measures, len(rep.Commitments))
	if !rep.DryRun {
		fmt.Fprintf(w, " (%d events, up to position %d)", rep.Events, rep.Position)
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHEET\tROW\tID\tUNIT\tTITLE")
	for _, it := range rep.Items {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", it.Sheet, it.Row, it.ID, it.UnitName, reportClip(it.Title, 30))
	}
	for _, c := range rep.Commitments {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", c.Sheet, c.Row, c.ID, c.UnitName, reportClip(c.Title, 30))
	}
	tw.Flush()
	if len(rep.Ignored) > 0 {
		fmt.Fprintf(w, "\nNot read: %s\n", strings.Join(rep.Ignored, "; "))
	}
	if rep.DryRun {
		fmt.Fprintln(w, "\nEvery row passes. Run the same command without --dry-run to import.")
		return
	}
	fmt.Fprintf(w, "\nImport key %s: running the same command again writes nothing new.\n", rep.ImportKey)
}

// exportViews are the views `rectify export` writes.
var exportViews = []string{"ledger", "commitments", "compliance", "assessments", "rankings"}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", stderr)
	format := fs.String("format", "", "xlsx or csv (default: from --out's extension, else xlsx)")
	asOf := fs.String("as-of", "", "as it stood then: a time (2024-05-01T00:00:00+08:00) or a position (position:123)")
	cycle := fs.String("cycle", "", "only this cycle's")
	escalated := fs.String("escalated", "", "ledger: only unfinished items escalated to owner, head, committee, or any of them")
	unit := fs.String("unit", "", "only this unit's and its subtree's")
	period := fs.String("period", "", "assessments, rankings: any day of the month or quarter (default: the last one ended)")
	from := fs.String("from", "", "compliance: the first day (YYYY-MM-DD)")
	to := fs.String("to", "", "compliance: the last day (YYYY-MM-DD)")
	out := fs.String("out", "", "the file to write (required; - for standard output)")
	server := fs.String("server", envOr("RECTIFY_SERVER", ""), "the rectify to export from, e.g. http://127.0.0.1:8080 (RECTIFY_SERVER)")
	tokenFile := fs.String("token-file", "", "a file holding the API token (or the token itself in RECTIFY_TOKEN)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: rectify export ledger|commitments|compliance|assessments|rankings --out FILE [--format xlsx|csv] [--as-of T] --server URL --token-file FILE")
		fmt.Fprintln(stderr, "\nWrites a view as an Excel workbook or a CSV file with Chinese headers, holding what the token may see.")
		fs.PrintDefaults()
	}
	view, err := parseWithArg(fs, args, "VIEW")
	if err != nil {
		return err
	}
	if !contains(exportViews, view) {
		return usageError{fmt.Sprintf("unknown view %q: export ledger, commitments, compliance, assessments or rankings", view)}
	}
	if *out == "" {
		return usageError{"--out is required"}
	}
	if *format == "" {
		*format = "xlsx"
		if strings.EqualFold(filepath.Ext(*out), ".csv") {
			*format = "csv"
		}
	}
	if *format != "xlsx" && *format != "csv" {
		return usageError{fmt.Sprintf("--format %q: want xlsx or csv", *format)}
	}
	if *server == "" {
		return usageError{"--server is required (or RECTIFY_SERVER)"}
	}
	token, err := apiToken(*tokenFile)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"as_of": *asOf, "cycle_id": *cycle, "unit_id": *unit, "from": *from, "to": *to, "period": *period,
		"escalated": *escalated} {
		if v != "" {
			q.Set(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, ledgerTimeout)
	defer cancel()
	base := serverBase(*server)
	u := base + "/api/v1/exports/" + view + "." + *format
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return usageError{fmt.Sprintf("--server %q: %v", *server, err)}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	wait := newTransferBar(stderr, "导出 "+view+"（服务器生成中）", -1)
	resp, err := http.DefaultClient.Do(req)
	wait.done()
	if err != nil {
		return events.Wrap(events.CodeUnavailable, err, "export from %s", base)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb struct {
			Error *events.Error `json:"error"`
		}
		if json.Unmarshal(body, &eb) != nil || eb.Error == nil {
			return events.Errorf(events.CodeInternal, "%s answered %s: %.200s", base, resp.Status, body)
		}
		return reviewProblems(stdout, view, "could not be exported", eb.Error)
	}
	var w io.Writer = stdout
	var f *os.File
	if *out != "-" {
		// Write beside the target and rename, so that a cut-off download
		// never leaves a damaged file under the name asked for.
		f, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		w = f
	}
	bar := newTransferBar(stderr, "下载 "+filepath.Base(*out), resp.ContentLength)
	n, err := io.Copy(w, bar.reader(resp.Body))
	bar.done()
	if err != nil {
		return events.Wrap(events.CodeUnavailable, err, "download the export from %s", base)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), *out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote %s: %s rows, %d bytes, at position %s.\n", *out, resp.Header.Get("X-Rectify-Rows"), n, resp.Header.Get("X-Rectify-Position"))
	}
	return nil
}

// parseWithArg parses flags that may stand before or after one
// positional argument, and returns that argument.
func parseWithArg(fs interface {
	Parse([]string) error
	Args() []string
}, args []string, what string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", usageError{what + " is required"}
	}
	arg := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return "", err
	}
	if len(fs.Args()) > 0 {
		return "", usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	return arg, nil
}

func serverBase(server string) string {
	base := strings.TrimRight(server, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return base
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
