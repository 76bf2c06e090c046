package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// samplePayloads returns one filled payload of every event type, with
// Chinese text wherever a person would write some.
func samplePayloads() []Payload {
	d := MustDate
	return []Payload{
		CycleOpenedData{CycleID: "2019", Name: "2019年度述职评议", Year: 2019, Kind: CycleAnnualReview, Start: d("2019-01-01"), End: d("2019-12-31")},
		CycleClosedData{CycleID: "2019", Note: "评议结束"},
		UnitRegisteredData{UnitID: "c1", Name: "东风社区", Kind: UnitCommunity, ParentID: "gw"},
		UnitRenamedData{UnitID: "c1", OldName: "东风社区", NewName: "东风社区居委会"},
		UnitMovedData{UnitID: "c1", OldParentID: "gw", NewParentID: "gw2"},
		UnitRetiredData{UnitID: "c1", Reason: "撤并到西湖社区"},
		ItemRaisedData{ItemID: "i1", CycleID: "2019", UnitID: "c1", Title: "党员走访不到位", Description: "部分党员一年未走访。\n需整改。", Category: "作风建设", Source: "2019年度述职评议会议", Severity: SeverityHigh, Deadline: d("2019-12-31")},
		ItemAssignedData{ItemID: "i1", UnitID: "c1", OwnerID: "lisi", OwnerName: "李四", OldUnitID: "c0", OldOwnerID: "zhangsan", OldOwnerName: "张三"},
		ItemMeasurePlannedData{ItemID: "i1", MeasureID: "m1", Text: "建立走访台账", OwnerID: "lisi", OwnerName: "李四", Due: d("2019-10-01")},
		ItemMeasureCompletedData{ItemID: "i1", MeasureID: "m1", Note: "台账已建立", CompletedOn: d("2019-09-20")},
		ItemProgressReportedData{ItemID: "i1", Percent: 60, OldPercent: 30, Note: "已走访六成党员"},
		ItemEvidenceAttachedData{ItemID: "i1", EvidenceID: "e1", Name: "走访记录.pdf", Size: 20480, SHA256: strings.Repeat("ab", 32), ContentType: "application/pdf", UploadedBy: "lisi"},
		ItemDeadlineChangedData{ItemID: "i1", OldDeadline: d("2019-12-31"), NewDeadline: d("2020-03-31"), Reason: "疫情影响，延期"},
		ItemSubmittedData{ItemID: "i1", Note: "请验收"},
		ItemVerifiedData{ItemID: "i1", ReviewerID: "wangwu", Note: "同意销号"},
		ItemVerificationRejectedData{ItemID: "i1", ReviewerID: "wangwu", Reason: "佐证材料不足"},
		ItemReopenedData{ItemID: "i1", Reason: "群众反映问题复发"},
		ItemCarriedOverData{ItemID: "i1", FromCycleID: "2019", ToCycleID: "2020", Reason: "转入2020年整改计划"},
		ItemWithdrawnData{ItemID: "i1", Reason: "重复事项"},
		ItemTurnedYellowData{ItemID: "i1", Deadline: d("2019-12-31"), DaysLeft: 7},
		ItemTurnedRedData{ItemID: "i1", Deadline: d("2019-12-31"), DaysOverdue: 1},
		ItemEscalatedData{ItemID: "i1", Step: 1, Whom: EscalateOwner, NotifyUnitID: "c1", OwnerID: "lisi", OwnerName: "李四", Deadline: d("2019-12-31"), DaysOverdue: 3},
		CommitmentMadeData{CommitmentID: "k1", CycleID: "2019", UnitID: "c1", PersonID: "lisi", PersonName: "李四", Title: "每周走访社区", Activity: "走访社区", Target: 1, Period: PeriodWeek, Start: d("2019-01-01"), End: d("2019-12-31"), Source: "述职报告 第19行：班子成员每周至少到分包社区走访2次"},
		CommitmentRevisedData{CommitmentID: "k1", OldTarget: 1, NewTarget: 2, OldPeriod: PeriodWeek, NewPeriod: PeriodWeek, OldEnd: d("2019-12-31"), NewEnd: d("2020-06-30"), Reason: "提高标准"},
		CommitmentEndedData{CommitmentID: "k1", Reason: "人员调动", EndedOn: d("2019-11-30")},
		CommitmentActivityLoggedData{CommitmentID: "k1", ActivityID: "a1", Count: 2, OccurredOn: d("2019-03-05"), Note: "走访东风社区两户", LoggedBy: "lisi"},
		UserCreatedData{UserID: "lisi", Name: "李四"},
		UserRoleGrantedData{UserID: "lisi", Role: RoleEditor, UnitID: "c1"},
		UserRoleRevokedData{UserID: "lisi", Role: RoleEditor, UnitID: "c1", Reason: "调离"},
		UserTokenIssuedData{UserID: "lisi", TokenID: "t1", SHA256: strings.Repeat("cd", 32), Label: "手机", ExpiresAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
		UserTokenRevokedData{UserID: "lisi", TokenID: "t1", Reason: "手机丢失"},
		RulesetDraftedData{RulesetID: "r1", Name: "2019年月度考核细则", Rules: DefaultScoringRules()},
		RulesetRevisedData{RulesetID: "r1", OldName: "2019年月度考核细则", NewName: "2019年考核细则（修订）", OldRules: DefaultScoringRules(),
			NewRules: ScoringRules{Base: 100, ItemClosed: 2.5, ItemOnTime: 1, ItemOverdue: -1.5, ItemReopened: -3, PeriodMet: 1, PeriodMissed: -2, Rollup: RollupAverage},
			Reason:   "逾期扣分过重"},
		RulesetPublishedData{RulesetID: "r1", Version: 2, Name: "2019年考核细则（修订）", Rules: DefaultScoringRules(), Note: "经工委会议通过"},
		AssessmentPublishedData{AssessmentID: "month-2019-03-01", Kind: PeriodMonth, PeriodStart: d("2019-03-01"), PeriodEnd: d("2019-03-31"),
			Version: 2, RulesetID: "r1", RulesetVersion: 2, Position: 4711, Digest: strings.Repeat("ef", 32), Note: "补录走访记录后更正"},
	}
}

func TestEveryEventTypeIsRegisteredAndSampled(t *testing.T) {
	sampled := map[string]bool{}
	for _, p := range samplePayloads() {
		if _, ok := CurrentVersion(p.EventType()); !ok {
			t.Errorf("%s (%T) is not registered", p.EventType(), p)
		}
		sampled[p.EventType()] = true
	}
	for _, name := range Types() {
		if !sampled[name] {
			t.Errorf("registered type %s has no sample", name)
		}
		if !strings.HasPrefix(name, "rectify.") {
			t.Errorf("type %s is not namespaced", name)
		}
	}
	if len(Types()) != 35 {
		t.Errorf("%d types registered, want 35", len(Types()))
	}
}

// TestPayloadRoundTrip builds an event from every sample, decodes it back
// and expects the same payload, Chinese text included.
func TestPayloadRoundTrip(t *testing.T) {
	at := time.Date(2019, 9, 1, 8, 0, 0, 0, time.UTC)
	for _, p := range samplePayloads() {
		e, err := New(p, Meta{ID: "ev1", Stream: "item-i1", Actor: "lisi", Time: at, CorrelationID: "c", CausationID: "k"})
		if err != nil {
			t.Fatalf("New(%T): %v", p, err)
		}
		v, _ := CurrentVersion(p.EventType())
		if e.Type != p.EventType() || e.Version != v || e.Actor != "lisi" || !e.Time.Equal(at) || e.ID != "ev1" || e.CorrelationID != "c" || e.CausationID != "k" {
			t.Errorf("New(%T) envelope = %+v", p, e)
		}
		// A trip through JSON is what a stored event goes through.
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var stored Event
		if err := json.Unmarshal(b, &stored); err != nil {
			t.Fatal(err)
		}
		got, err := Decode(stored)
		if err != nil {
			t.Fatalf("Decode(%s): %v", e.Type, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("Decode(%s) = %#v, want %#v", e.Type, got, p)
		}
	}
}

// TestPayloadGolden pins the wire form of every payload: projections in
// other processes and stored events depend on it. Run with -update after a
// deliberate change (and bump the schema version with an upcaster).
func TestPayloadGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, p := range samplePayloads() {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := CurrentVersion(p.EventType())
		fmt.Fprintf(&buf, "%s v%d %s\n", p.EventType(), v, b)
	}
	golden := filepath.Join("testdata", "payloads.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("payload wire format changed:\n got: %s\nwant: %s", buf.Bytes(), want)
	}
}

func TestNewRejectsUnregisteredPayload(t *testing.T) {
	_, err := New(bogusPayload{}, Meta{ID: "x"})
	if ErrorCode(err) != CodeInternal {
		t.Fatalf("New(unregistered) = %v, want internal", err)
	}
	_, err = New(&ItemRaisedData{}, Meta{ID: "x"})
	if ErrorCode(err) != CodeInternal {
		t.Fatalf("New(pointer payload) = %v, want internal", err)
	}
}

type bogusPayload struct{}

func (bogusPayload) EventType() string { return "rectify.item.exploded" }

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		e     Event
		wants []string // substrings the message must name
	}{
		{"unknown type", Event{ID: "ev-7", Type: "rectify.item.exploded", Version: 1, Data: json.RawMessage(`{}`)}, []string{"ev-7", "rectify.item.exploded"}},
		{"bad json", Event{ID: "ev-8", Type: ItemRaised, Version: 1, Data: json.RawMessage(`{"title": 7}`)}, []string{"ev-8", ItemRaised}},
		{"bad date", Event{ID: "ev-9", Type: ItemRaised, Version: 1, Data: json.RawMessage(`{"deadline": "2019-02-30"}`)}, []string{"ev-9"}},
		{"future version", Event{ID: "ev-10", Type: ItemRaised, Version: 9, Data: json.RawMessage(`{}`)}, []string{"ev-10", "version 9"}},
		{"no version", Event{ID: "ev-11", Type: ItemRaised, Data: json.RawMessage(`{}`)}, []string{"ev-11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.e)
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInternal {
				t.Fatalf("Decode = %v, want an internal *Error", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not name %q", e.Message, w)
				}
			}
		})
	}
}

// TestUpcastDeadlineChangedV1 reads an event stored by the first schema of
// rectify.item.deadline_changed, which knew only the new date and a note.
func TestUpcastDeadlineChangedV1(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "deadline_changed_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var stored Event
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Version != 1 {
		t.Fatalf("test data is version %d, want a version 1 event", stored.Version)
	}
	p, err := Decode(stored)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := ItemDeadlineChangedData{
		ItemID:      "8a1f2c3d-0000-4000-8000-000000000001",
		NewDeadline: MustDate("2020-06-30"),
		Reason:      "受疫情影响，经工委同意延期",
	}
	if p != Payload(want) {
		t.Fatalf("Decode(v1) = %#v, want %#v", p, want)
	}
	up, err := Upcast(stored)
	if err != nil || up.Version != 2 || up.ID != stored.ID {
		t.Fatalf("Upcast = %+v, %v", up, err)
	}
	// The stored event is untouched: upcasting happens on read only.
	if stored.Version != 1 || !bytes.Contains(stored.Data, []byte(`"note"`)) {
		t.Fatalf("Upcast changed its input: %+v", stored)
	}
	// A current event passes through unchanged.
	cur, err := New(want, Meta{ID: "x", Stream: ItemStream(want.ItemID)})
	if err != nil {
		t.Fatal(err)
	}
	if cur.Version != 2 {
		t.Fatalf("new deadline_changed events are version %d, want 2", cur.Version)
	}
	if p, err := Decode(cur); err != nil || p != Payload(want) {
		t.Fatalf("Decode(v2) = %#v, %v", p, err)
	}
}

// FuzzDecodeStoredEvent feeds the decoder what a store could hand it: any
// type, schema version, stream and data, older versions included (the
// seeds are every payload of testdata/payloads.golden and the version 1
// deadline change of testdata/). Decode never panics; a failure is
// CodeInternal and names the event; an accepted payload has the type's
// registered Go type at its current version, encodes to JSON that decodes
// to the same payload (a fixed point), and an upcast version 1 deadline
// change takes its item id from the stream.
func FuzzDecodeStoredEvent(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "payloads.golden"))
	if err != nil {
		f.Fatal(err)
	}
	for line := range strings.Lines(string(golden)) {
		typ, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		ver, data, _ := strings.Cut(rest, " ")
		v := 0
		fmt.Sscanf(ver, "v%d", &v)
		f.Add(typ, v, "item-东风1", []byte(data))
	}
	var v1 Event
	if b, err := os.ReadFile(filepath.Join("testdata", "deadline_changed_v1.json")); err != nil || json.Unmarshal(b, &v1) != nil {
		f.Fatalf("deadline_changed_v1.json: %v", err)
	}
	f.Add(v1.Type, v1.Version, v1.Stream, []byte(v1.Data))
	f.Fuzz(func(t *testing.T, typ string, version int, stream string, data []byte) {
		e := Event{ID: "ev-fuzz", Stream: stream, Type: typ, Version: version, Position: 7, Data: data}
		p, err := Decode(e)
		if err != nil {
			if ErrorCode(err) != CodeInternal || !strings.Contains(err.Error(), "ev-fuzz") {
				t.Fatalf("error %v: want CodeInternal naming the event", err)
			}
			return
		}
		cur, ok := CurrentVersion(typ)
		if !ok || p.EventType() != typ || reflect.TypeOf(p) != registry[typ].typ {
			t.Fatalf("decoded %s v%d as %T (%s)", typ, version, p, p.EventType())
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("accepted payload does not encode: %v", err)
		}
		again, err := Decode(Event{ID: "ev-again", Stream: stream, Type: typ, Version: cur, Data: b})
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if b2, _ := json.Marshal(again); !bytes.Equal(b, b2) {
			t.Fatalf("not a fixed point:\n%s\n%s", b, b2)
		}
		if d, ok := p.(ItemDeadlineChangedData); ok && version == 1 {
			if _, id, _ := ParseStream(stream); d.ItemID != id {
				t.Fatalf("upcast item id %q from stream %q", d.ItemID, stream)
			}
		}
	})
}
