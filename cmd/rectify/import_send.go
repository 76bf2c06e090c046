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
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"rectify/events"
)

// importReply is the gateway's answer to a confirmed import
// (POST /api/v1/imports/report/confirm).
type importReply struct {
	ImportKey   string          `json:"import_key"`
	CycleID     string          `json:"cycle_id"`
	Position    uint64          `json:"position"`
	Events      int             `json:"events"`
	Items       []importedItem  `json:"items"`
	Commitments []importedEntry `json:"commitments"`
}

type importedItem struct {
	importedEntry
	Measures []importedEntry `json:"measures"`
}

type importedEntry struct {
	Entry  string `json:"entry"`
	ID     string `json:"id"`
	Title  string `json:"title"`
	UnitID string `json:"unit_id,omitempty"`
	Source string `json:"source,omitempty"`
}

// apiToken is the token in file, or else in RECTIFY_TOKEN.
func apiToken(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		return "", usageError{fmt.Sprintf("token file %s is empty", file)}
	}
	if tok := strings.TrimSpace(os.Getenv("RECTIFY_TOKEN")); tok != "" {
		return tok, nil
	}
	return "", usageError{"--server needs a token: --token-file data/admin.token, or RECTIFY_TOKEN"}
}

// importTimeout bounds one confirmation: an import of a year's report is
// tens of entries, written in well under a second.
const importTimeout = 2 * time.Minute

// sendReportReview checks a review file, then sends it to the rectify at
// server as one import and prints what it created.
//
// The idempotency key is derived from the file's bytes: running the same
// command again, after a timeout or a lost connection, finishes the import
// and writes nothing twice. A review edited after an import ran is another
// request; its entries already written are refused (409), naming them, and
// the review can drop them to import the rest.
func sendReportReview(ctx context.Context, server, token, path string, asJSON bool, stdout io.Writer) error {
	b, r, err := readReportReview(path)
	if err != nil {
		return err
	}
	// The server checks the same; checking here says what is wrong
	// without a round trip, in the same words.
	if _, err := r.Draft.Import(r.Assign); err != nil {
		return reviewProblems(stdout, path, "is not ready to confirm", err)
	}
	sum := sha256.Sum256(b)
	key := "review-" + hex.EncodeToString(sum[:16])

	base := strings.TrimRight(server, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, importTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/imports/report/confirm", bytes.NewReader(b))
	if err != nil {
		return usageError{fmt.Sprintf("--server %q: %v", server, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
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
			Error *events.Error `json:"error"`
		}
		if json.Unmarshal(body, &eb) != nil || eb.Error == nil {
			return events.Errorf(events.CodeInternal, "%s answered %s: %.200s", base, resp.Status, body)
		}
		return reviewProblems(stdout, path, "was not imported", eb.Error)
	}
	if asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var rep importReply
	if err := json.Unmarshal(body, &rep); err != nil {
		return events.Wrap(events.CodeInternal, err, "%s answered with something other than an import", base)
	}
	printImportReply(stdout, path, base, rep)
	return nil
}

func printImportReply(w io.Writer, path, base string, rep importReply) {
	measures := 0
	for _, it := range rep.Items {
		measures += len(it.Measures)
	}
	fmt.Fprintf(w, "Imported %s into cycle %s: %d items, %d measures, %d commitments (%d events, up to position %d).\n\n",
		path, rep.CycleID, len(rep.Items), measures, len(rep.Commitments), rep.Events, rep.Position)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTRY\tKIND\tID\tTITLE")
	for _, it := range rep.Items {
		fmt.Fprintf(tw, "%s\titem\t%s\t%s\n", it.Entry, it.ID, reportClip(it.Title, 36))
		for _, m := range it.Measures {
			fmt.Fprintf(tw, "%s\tmeasure\t%s\t%s\n", m.Entry, m.ID, reportClip(m.Title, 36))
		}
	}
	for _, c := range rep.Commitments {
		fmt.Fprintf(tw, "%s\tcommitment\t%s\t%s\n", c.Entry, c.ID, reportClip(c.Title, 36))
	}
	tw.Flush()
	if len(rep.Items) > 0 {
		fmt.Fprintf(w, "\nThe items are in the ledger: %s/#/items/%s …\n", base, rep.Items[0].ID)
	}
	fmt.Fprintf(w, "Import key %s: running the same command again writes nothing new.\n", rep.ImportKey)
}
