package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fieldProblems returns field -> problem of a CodeInvalid *Error, failing
// the test for anything else.
func fieldProblems(tb testing.TB, err error) map[string]string {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalid {
		tb.Fatalf("error = %v, want an invalid *Error", err)
	}
	m := map[string]string{}
	for _, f := range e.Fields {
		m[f.Field] = f.Problem
	}
	return m
}

func TestEveryCommandIsDecodable(t *testing.T) {
	names := CommandNames()
	if len(names) != 34 {
		t.Fatalf("%d commands, want 34: %v", len(names), names)
	}
	for _, name := range names {
		// An empty object is never a valid command: every one needs at
		// least one field.
		_, err := DecodeCommand(name, []byte(`{}`))
		if len(fieldProblems(t, err)) == 0 {
			t.Errorf("%s: empty command accepted", name)
		}
	}
}

func TestDecodeCommandChineseRoundTrip(t *testing.T) {
	in := RaiseItem{
		CycleID:     "2019",
		UnitID:      "dongfeng",
		Title:       "“三会一课”落实不到位",
		Description: "支部会议记录缺失；\n党员大会未按期召开。",
		Category:    "组织生活",
		Source:      "2019年度述职评议 · 群众意见",
		Severity:    SeverityNormal,
		Deadline:    MustDate("2019-12-31"),
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := DecodeCommand(in.CommandName(), b)
	if err != nil {
		t.Fatalf("DecodeCommand: %v", err)
	}
	if !reflect.DeepEqual(cmd, Command(in)) {
		t.Fatalf("round trip = %#v, want %#v", cmd, in)
	}
}

func TestDecodeCommandReportsEveryBadField(t *testing.T) {
	body := `{
		"cycle_id": "2019 年",
		"unit_id": 42,
		"title": "",
		"deadline": "2019-02-30",
		"severity": "urgent",
		"colour": "red"
	}`
	_, err := DecodeCommand("item.raise", []byte(body))
	got := fieldProblems(t, err)
	want := map[string]string{
		"cycle_id": textID,
		"unit_id":  "must be a string",
		"title":    textRequired,
		"deadline": textDate + ": 2019-02-30 is not a calendar day",
		"severity": "must be one of low, normal, high",
		"colour":   "is not a field of item.raise",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems = %v\nwant       %v", got, want)
	}
}

func TestDecodeCommandRejectsNonObjectsAndUnknownNames(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `"x"`, `{"item_id":`} {
		if _, err := DecodeCommand("item.submit", []byte(body)); ErrorCode(err) != CodeInvalid {
			t.Errorf("body %q: error %v, want invalid", body, err)
		}
	}
	if _, err := DecodeCommand("item.explode", []byte(`{}`)); ErrorCode(err) != CodeInvalid {
		t.Errorf("unknown command: error %v, want invalid", err)
	}
}

func TestCommandValidation(t *testing.T) {
	u64 := func(v uint64) *uint64 { return &v }
	pct := func(v int) *int { return &v }
	long := func(n int) string { return strings.Repeat("整", n) }
	tests := []struct {
		name string
		cmd  Command
		bad  []string // fields reported, in any order; none: valid
	}{
		{"title of 200 Chinese characters", RaiseItem{CycleID: "c", UnitID: "u", Title: long(200), Deadline: MustDate("2020-01-01")}, nil},
		{"title of 201 Chinese characters", RaiseItem{CycleID: "c", UnitID: "u", Title: long(201), Deadline: MustDate("2020-01-01")}, []string{"title"}},
		{"control character in title", RaiseItem{CycleID: "c", UnitID: "u", Title: "a\x00b", Deadline: MustDate("2020-01-01")}, []string{"title"}},
		{"line break in title", RaiseItem{CycleID: "c", UnitID: "u", Title: "a\nb", Deadline: MustDate("2020-01-01")}, []string{"title"}},
		{"line break in description", RaiseItem{CycleID: "c", UnitID: "u", Title: "t", Description: "a\nb", Deadline: MustDate("2020-01-01")}, nil},
		{"invalid utf-8", RaiseItem{CycleID: "c", UnitID: "u", Title: "\xff\xfe", Deadline: MustDate("2020-01-01")}, []string{"title"}},
		{"blank title", RaiseItem{CycleID: "c", UnitID: "u", Title: "  ", Deadline: MustDate("2020-01-01")}, []string{"title"}},
		{"missing deadline", RaiseItem{CycleID: "c", UnitID: "u", Title: "t"}, []string{"deadline"}},
		{"deadline change without date and reason", ChangeDeadline{ItemID: "i"}, []string{"deadline", "reason"}},
		{"deadline change", ChangeDeadline{ItemID: "i", Deadline: MustDate("2020-01-01"), Reason: "延期", ExpectedRevision: u64(3)}, nil},
		{"rejection without reason", RejectItem{ItemID: "i"}, []string{"reason"}},
		{"withdrawal without reason", WithdrawItem{ItemID: "i", Reason: " "}, []string{"reason"}},
		{"reopen without reason", ReopenItem{ItemID: "i"}, []string{"reason"}},
		{"percent over 100", ReportProgress{ItemID: "i", Percent: pct(101)}, []string{"percent"}},
		{"percent 0 is a report", ReportProgress{ItemID: "i", Percent: pct(0)}, nil},
		{"neither percent nor note", ReportProgress{ItemID: "i"}, []string{"note"}},
		{"note only", ReportProgress{ItemID: "i", Note: "进展顺利"}, nil},
		{"evidence without size and hash", AttachEvidence{ItemID: "i", Name: "照片.jpg", SHA256: "ABC"}, []string{"size", "sha256"}},
		{"target zero", MakeCommitment{UnitID: "u", Title: "t", Activity: "走访", Target: 0, Period: PeriodWeek, Start: MustDate("2020-01-01"), End: MustDate("2020-12-31")}, []string{"target"}},
		{"negative target", MakeCommitment{UnitID: "u", Title: "t", Activity: "走访", Target: -2, Period: PeriodWeek, Start: MustDate("2020-01-01"), End: MustDate("2020-12-31")}, []string{"target"}},
		{"unknown period, end before start", MakeCommitment{UnitID: "u", Title: "t", Activity: "走访", Target: 1, Period: "day", Start: MustDate("2020-01-01"), End: MustDate("2019-12-31")}, []string{"period", "end"}},
		{"revision without change", ReviseCommitment{CommitmentID: "k", Reason: "r"}, []string{"target"}},
		{"revision to target 0", ReviseCommitment{CommitmentID: "k", Target: pct(0), Reason: "r"}, []string{"target"}},
		{"activity count zero", LogActivity{CommitmentID: "k", OccurredOn: MustDate("2020-01-01")}, []string{"count"}},
		{"activity count negative, no date", LogActivity{CommitmentID: "k", Count: -1}, []string{"count", "occurred_on"}},
		{"cycle year out of range", OpenCycle{Name: "n", Year: 20, Kind: CycleAnnualReview, Start: MustDate("2020-01-01"), End: MustDate("2020-12-31")}, []string{"year"}},
		{"unit kind unknown", RegisterUnit{Name: "东风社区", Kind: "village"}, []string{"kind"}},
		{"unit its own parent", MoveUnit{UnitID: "u", ParentID: "u"}, []string{"parent_id"}},
		{"reserved user id", CreateUser{UserID: "system", Name: "系统"}, []string{"user_id"}},
		{"unknown role", GrantRole{UserID: "u", Role: "owner"}, []string{"role"}},
		{"bad ids", AssignItem{ItemID: "a/b", UnitID: "东风"}, []string{"item_id", "unit_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cmd.Validate()
			if len(tt.bad) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			got := fieldProblems(t, err)
			var fields []string
			for f := range got {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			want := slices.Clone(tt.bad)
			slices.Sort(want)
			if !slices.Equal(fields, want) {
				t.Fatalf("bad fields = %v (%v), want %v", fields, got, want)
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add("item.raise", []byte(`{"cycle_id":"2019","unit_id":"u","title":"党员走访","deadline":"2019-12-31"}`))
	f.Add("item.report_progress", []byte(`{"item_id":"i","percent":50,"note":"进展","expected_revision":3}`))
	f.Add("commitment.make", []byte(`{"unit_id":"u","title":"t","activity":"走访","target":1,"period":"week","start":"2020-01-01","end":"2020-12-31"}`))
	f.Add("user.issue_token", []byte(`{"user_id":"u","expires_at":"2020-01-01T00:00:00+08:00"}`))
	f.Add("item.raise", []byte(`{"deadline":"2019-02-30","x":1}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		cmd, err := DecodeCommand(name, data)
		if err != nil {
			if c := ErrorCode(err); c != CodeInvalid {
				t.Fatalf("error code %s, want invalid: %v", c, err)
			}
			return
		}
		// Whatever was accepted is valid and survives a round trip.
		if err := cmd.Validate(); err != nil {
			t.Fatalf("accepted command does not validate: %v", err)
		}
		b, err := json.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeCommand(name, b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if !reflect.DeepEqual(again, cmd) {
			t.Fatalf("round trip changed %#v into %#v", cmd, again)
		}
	})
}
