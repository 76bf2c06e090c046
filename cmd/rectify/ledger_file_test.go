package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportLedgerCLI: the file goes up with a key derived from its
// bytes, a dry run says so, and a refused file prints its problems by
// sheet, row and column and fails.
func TestImportLedgerCLI(t *testing.T) {
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if r.URL.Path != "/api/v1/imports/ledger" || r.Header.Get("Authorization") != "Bearer tok" || string(body) != "整改事项\n" {
			http.Error(w, "bad request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("cycle_id") == "closed" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":"invalid","message":"the file has 1 problems in 1 rows; nothing was written","fields":[{"field":"整改事项!D3","problem":"整改时限: 2024-02-30 is not a calendar day"}]},
				"problems":[{"sheet":"整改事项","row":3,"column":"整改时限","cell":"D3","problem":"2024-02-30 is not a calendar day"}]}`)
			return
		}
		io.WriteString(w, `{"dry_run":`+map[bool]string{true: "true", false: "false"}[r.URL.Query().Get("dry_run") == "true"]+
			`,"cycle_id":"y-cur","import_key":"k","position":7,"events":3,"ignored":[],
			"items":[{"sheet":"整改事项","row":2,"id":"zg-1","title":"理论学习","unit_name":"东风社区","measures":[{"entry":"i2.m1","id":"m","title":"学"}]}],"commitments":[]}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "台账.csv")
	os.WriteFile(file, []byte("整改事项\n"), 0o644)
	t.Setenv("RECTIFY_TOKEN", "tok")

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"import", "ledger", file, "--dry-run", "--server", srv.URL}, &out, &errOut); err != nil {
		t.Fatalf("dry run: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "Checked (dry run, nothing written)") || !strings.Contains(out.String(), "理论学习") {
		t.Errorf("dry run printed:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"import", "ledger", "--server", srv.URL, file}, &out, &errOut); err != nil {
		t.Fatalf("import: %v", err)
	}
	if !strings.Contains(out.String(), "Imported") || len(keys) != 2 || keys[0] != keys[1] || !strings.HasPrefix(keys[0], "ledger-") {
		t.Errorf("import printed %s with keys %q", out.String(), keys)
	}
	out.Reset()
	err := run(context.Background(), []string{"import", "ledger", file, "--cycle", "closed", "--server", srv.URL}, &out, &errOut)
	if err == nil || !strings.Contains(out.String(), "D3") || !strings.Contains(out.String(), "整改时限") || !strings.Contains(out.String(), "not a calendar day") {
		t.Errorf("a refused file: %v\n%s", err, out.String())
	}
	if err := run(context.Background(), []string{"import", "ledger", file}, &out, &errOut); exitCode(err) != 2 {
		t.Errorf("without --server: %v", err)
	}
}

// TestExportCLI: the export lands in the file named, whole.
func TestExportCLI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/exports/ledger.csv" || r.URL.Query().Get("as_of") != "position:5" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":"invalid","message":"bad","fields":[{"field":"as_of","problem":"must be a time"}]}}`)
			return
		}
		w.Header().Set("X-Rectify-Rows", "1")
		w.Header().Set("X-Rectify-Position", "5")
		io.WriteString(w, "\uFEFF序号,事项编号\r\n1,zg-1\r\n")
	}))
	defer srv.Close()
	t.Setenv("RECTIFY_TOKEN", "tok")
	dir := t.TempDir()
	out := filepath.Join(dir, "台账.csv")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"export", "ledger", "--out", out, "--as-of", "position:5", "--server", srv.URL}, &stdout, &stderr); err != nil {
		t.Fatalf("export: %v", err)
	}
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "\uFEFF序号") || !strings.Contains(stdout.String(), "1 rows") {
		t.Errorf("wrote %q, printed %s", b, stdout.String())
	}
	if err := run(context.Background(), []string{"export", "ledger", "--out", filepath.Join(dir, "x.csv"), "--server", srv.URL}, &stdout, &stderr); err == nil {
		t.Errorf("a refused export succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.csv")); err == nil {
		t.Errorf("a refused export left a file")
	}
	if err := run(context.Background(), []string{"export", "planets", "--out", out, "--server", srv.URL}, &stdout, &stderr); exitCode(err) != 2 {
		t.Errorf("an unknown view: %v", err)
	}
}
