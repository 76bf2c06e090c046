package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func sampleImport() ImportReport {
	return ImportReport{
		CycleID: "2019",
		Items: []ImportItem{{
			Entry: "p1", ItemID: "it-1", UnitID: "dongfeng", Title: "理论学习不够深入系统",
			Description: "学习流于形式；\n\n原因分析：\n1. 重视不够", Category: "思想建设",
			Source: "述职报告《东风.txt》第12行：理论学习不够深入系统", Deadline: MustDate("2020-12-31"),
			OwnerName: "王书记",
			Measures:  []ImportMeasure{{Entry: "p1.m1", MeasureID: "m-1", Text: "每月召开1次专题学习会", Due: MustDate("2020-06-30")}},
		}},
		Commitments: []ImportCommitment{{
			Entry: "c1", CommitmentID: "cm-1", UnitID: "dongfeng", Title: "班子成员每周至少到分包社区走访2次",
			Activity: "走访", Target: 2, Period: PeriodWeek, Start: MustDate("2020-01-01"), End: MustDate("2020-12-31"),
			Source: "述职报告第30行：班子成员每周至少到分包社区走访2次",
		}},
	}
}

// TestImportReportRoundTrip: the import travels as JSON, every Chinese
// text exactly as given.
func TestImportReportRoundTrip(t *testing.T) {
	in := sampleImport()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := DecodeCommand("report.import", b)
	if err != nil {
		t.Fatalf("DecodeCommand: %v", err)
	}
	if !reflect.DeepEqual(cmd, Command(in)) {
		t.Fatalf("round trip = %#v, want %#v", cmd, in)
	}
	if a, ok := in.Items[0].Assign(); !ok || a.OwnerName != "王书记" || a.UnitID != "dongfeng" || a.ItemID != "it-1" {
		t.Errorf("Assign = %+v, %v", a, ok)
	}
	if _, ok := (ImportItem{}).Assign(); ok {
		t.Error("an item without an owner is assigned")
	}
}

// TestImportReportValidateNamesEntries: every problem is named by the
// entry it is in, as the review names it.
func TestImportReportValidateNamesEntries(t *testing.T) {
	bad := sampleImport()
	bad.Items[0].Title = ""
	bad.Items[0].Deadline = Date{}
	bad.Items[0].OwnerID = "王"
	bad.Items[0].Measures[0].Text = " "
	bad.Items = append(bad.Items, ImportItem{Entry: "p1", ItemID: "it-1", UnitID: "x", Title: "重复", Deadline: MustDate("2020-12-31")})
	bad.Commitments[0].Period = "fortnight"
	bad.Commitments[0].Target = 0
	bad.Commitments = append(bad.Commitments, ImportCommitment{Entry: "第三条"})
	got := fieldProblems(t, bad.Validate())
	for _, field := range []string{"p1.title", "p1.deadline", "p1.owner_id", "p1.m1.text", "p1.entry", "p1.item_id",
		"c1.period", "c1.target", "commitments[1].entry", "commitments[1].unit_id"} {
		if got[field] == "" {
			t.Errorf("no problem named %s: %v", field, got)
		}
	}
	for field := range got {
		if strings.HasSuffix(field, "cycle_id") && field != "cycle_id" {
			t.Errorf("the cycle is named per entry (%s); it belongs to the import", field)
		}
	}

	if got := fieldProblems(t, (ImportReport{}).Validate()); got["cycle_id"] == "" || got["items"] == "" {
		t.Errorf("an empty import: %v", got)
	}
	big := ImportReport{CycleID: "2019"}
	for range MaxImportEntries + 1 {
		big.Commitments = append(big.Commitments, sampleImport().Commitments[0])
	}
	if got := fieldProblems(t, big.Validate()); !strings.Contains(got["items"], "at most") {
		t.Errorf("an oversized import: %v", got)
	}
}

// TestDecodeImportReportRefusesUnknownNestedFields: a misspelt field of
// an entry is refused, not dropped.
func TestDecodeImportReportRefusesUnknownNestedFields(t *testing.T) {
	body := `{"cycle_id":"2019","items":[{"entry":"p1","unit_id":"u","title":"问题","deadline":"2020-12-31","dealine":"2020-01-01"}]}`
	got := fieldProblems(t, func() error { _, err := DecodeCommand("report.import", []byte(body)); return err }())
	if !strings.Contains(got["items"], "dealine") {
		t.Errorf("unknown nested field: %v", got)
	}
}
