package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/report"
)

func reportSample(name string) string {
	return filepath.Join("..", "..", "services", "report", "testdata", name)
}

func runImport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runImportReport(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

// squeeze collapses runs of spaces, so that checks do not depend on the
// width of table columns.
func squeeze(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

func TestImportReportDraftTable(t *testing.T) {
	out, err := runImport(t, reportSample("beiyuan_2019_noise.txt"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"北苑社区党委2019年度述职报告 (北苑社区党委)",
		"utf-8, 34 lines, 3 items, 8 commitments, 16 lines left out",
		"17 item p1 社区“两委”班子成员联系群众不够紧密 - 0 2",
		"17 commitment c1 班子成员每周至少走访楼院3次 3/week - -",
		"23 commitment c5 每半年召开1次共驻共建联席会议 2/year → 1/quarter ! - -",
		"27 measure! u1 推进垃圾分类工作，每周组织志愿者开展垃圾分类宣传2次 no item: attach or drop - -",
		"1 watermark 内部资料 注意保存",
		"18 contact 联系电话：0371-65551234",
		"32 closing 以上报告，请予评议。",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestImportReportReviewAndConfirm(t *testing.T) {
	dir := t.TempDir()
	review := filepath.Join(dir, "review.json")

	// Flags after FILE, and JSON.
	out, err := runImport(t, reportSample("xihu_2019_gb18030.txt"), "--json", "--out", review)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var d report.Draft
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Encoding != report.EncodingGB18030 || len(d.Items) != 3 {
		t.Fatalf("--json: %v, %+v", err, d)
	}
	if _, err := runImport(t, reportSample("xihu_2019_gb18030.txt"), "--out", review); err == nil || exitCode(err) != 2 {
		t.Errorf("overwriting a review file: %v, want a usage error", err)
	}

	// The fresh review is not ready: every problem is named.
	out, err = runImport(t, "--confirm", review)
	if events.ErrorCode(err) != events.CodeInvalid {
		t.Fatalf("confirming an empty review: %v", err)
	}
	for _, want := range []string{"assign.cycle_id: is required", "p1.unit_id", "c8.target: count to be set (X次)"} {
		if !strings.Contains(out, want) {
			t.Errorf("confirm output lacks %q:\n%s", want, out)
		}
	}

	// Filled in, it gives the commands, and names every step's key.
	var r report.Review
	b, err := os.ReadFile(review)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	r.Assign.CycleID, r.Assign.UnitID = "2019", "xihu"
	for i, e := range r.Assign.Entries {
		switch e.Key {
		case "u1", "u2", "c7", "c8":
			r.Assign.Entries[i].Drop = true
		case "c5", "c6":
			r.Assign.Entries[i].Accept = true
		}
	}
	b, err = json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(review, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runImport(t, "--confirm", review)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"p1 item.raise 理论学习不够深入系统\n",
		"c6 commitment.make 5/week 每天利用“学习强国”平台自学不少于1次\n",
		"15 commands would be written",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("confirm output lacks %q:\n%s", want, out)
		}
	}

	// A misspelt field is refused rather than ignored.
	bad := strings.Replace(string(b), `"cycle_id"`, `"cycle"`, 1)
	if err := os.WriteFile(review, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runImport(t, "--confirm", review); events.ErrorCode(err) != events.CodeInvalid {
		t.Errorf("a misspelt field: %v, want invalid", err)
	}
}

func TestImportReportUsage(t *testing.T) {
	if _, err := runImport(t); exitCode(err) != 2 {
		t.Errorf("no FILE: %v", err)
	}
	if _, err := runImport(t, "a.txt", "b.txt"); exitCode(err) != 2 {
		t.Errorf("two files: %v", err)
	}
	if _, err := runImport(t, "--confirm", "r.json", "a.txt"); exitCode(err) != 2 {
		t.Errorf("--confirm with FILE: %v", err)
	}
}

// TestImportReportConfirmAgainstServer sends a review to a running
// rectify: the import is written once, a second run of the same command
// writes nothing, and the items are in the ledger.
func TestImportReportConfirmAgainstServer(t *testing.T) {
	a, dataDir := MustServe(t)
	send(t, a, events.RegisterUnit{UnitID: "xihu", Name: "西湖社区党委", Kind: events.UnitCommunity}, "u-xihu")
	send(t, a, events.OpenCycle{CycleID: "2019", Name: "2019年度述职评议", Year: 2019, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2019-01-01"), End: events.MustDate("2019-12-31")}, "c-2019")
	dir := t.TempDir()
	review := filepath.Join(dir, "review.json")
	if out, err := runImport(t, reportSample("xihu_2019_gb18030.txt"), "--out", review); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r report.Review
	b, err := os.ReadFile(review)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	r.Assign.CycleID, r.Assign.UnitID, r.Assign.OwnerName = "2019", "xihu", "王书记"
	for i, e := range r.Assign.Entries {
		switch e.Key {
		case "u1", "u2", "c7", "c8":
			r.Assign.Entries[i].Drop = true
		case "c5", "c6":
			r.Assign.Entries[i].Accept = true
		}
	}
	if b, err = json.Marshal(r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(review, b, 0o644); err != nil {
		t.Fatal(err)
	}
	server := "http://" + a.gw.Addr()
	token := filepath.Join(dataDir, "admin.token")
	// The gateway knows the token once the access view has it.
	tok, err := os.ReadFile(token)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, body := httpDo(t, "GET", server+"/api/v1/me", strings.TrimSpace(string(tok)), "", nil)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never accepted the admin token: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond) // poll pacing
	}

	out, err := runImport(t, "--confirm", review, "--server", server, "--token-file", token)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Imported " + review + " into cycle 2019: 3 items,", "p1 item", "理论学习不够深入系统", "c6 commitment", server + "/#/items/"} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	head, err := a.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// The same command again (a retry after a lost answer), then with the
	// server and token from the environment: the same ids, nothing written.
	again, err := runImport(t, "--confirm", review, "--server", server, "--token-file", token)
	if err != nil || again != out {
		t.Errorf("second run: %v\n%s\nfirst:\n%s", err, again, out)
	}
	t.Setenv("RECTIFY_TOKEN", string(tok))
	t.Setenv("RECTIFY_SERVER", server)
	if third, err := runImport(t, "--confirm", review, "--json"); err != nil || !strings.Contains(third, `"import_key":"review-`) {
		t.Errorf("third run, from the environment: %v\n%s", err, third)
	}
	if now, err := a.store.Head(context.Background()); err != nil || now != head {
		t.Errorf("the repeated import moved the store from %d to %d (%v)", head, now, err)
	}

	// A review the server refuses is reported entry by entry.
	r.Assign.UnitID = "nowhere"
	r.Assign.ImportKey = "another"
	b, _ = json.Marshal(r)
	if err := os.WriteFile(review, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runImport(t, "--confirm", review, "--server", server, "--token-file", token)
	if events.ErrorCode(err) != events.CodeInvalid || !strings.Contains(out, "p1.unit_id: no such unit") {
		t.Errorf("a refused review: %v\n%s", err, out)
	}
	if _, err := runImport(t, "--confirm", review, "--server", server, "--token-file", filepath.Join(dir, "none")); err == nil {
		t.Error("a missing token file is no error")
	}
}
