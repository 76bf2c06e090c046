package events

import "testing"

func TestDecodeCarryOverCycle(t *testing.T) {
	cmd, err := DecodeCommand("cycle.carry_over", []byte(`{"from_cycle_id":"y2019","to_cycle_id":"y2020","reason":"转入2020年整改计划","dry_run":true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := CarryOverCycle{FromCycleID: "y2019", ToCycleID: "y2020", Reason: "转入2020年整改计划", DryRun: true}
	if cmd != Command(want) {
		t.Fatalf("decoded %#v, want %#v", cmd, want)
	}
	for _, tt := range []struct {
		body, field, problem string
	}{
		{`{"from_cycle_id":"y2019","to_cycle_id":"y2019"}`, "to_cycle_id", "must not be the cycle carried over from"},
		{`{"from_cycle_id":"y2019","to_cycle_id":"y2020","dry_run":"yes"}`, "dry_run", "must be true or false"},
		{`{"to_cycle_id":"y2020"}`, "from_cycle_id", textRequired},
	} {
		_, err := DecodeCommand("cycle.carry_over", []byte(tt.body))
		if got := fieldProblems(t, err)[tt.field]; got != tt.problem {
			t.Errorf("%s: %s %q, want %q", tt.body, tt.field, got, tt.problem)
		}
	}
}
