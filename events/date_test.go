package events

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" with ok: the zero date
		ok   bool
	}{
		{"2019-12-31", "2019-12-31", true},
		{"2020-02-29", "2020-02-29", true},
		{"1900-01-01", "1900-01-01", true},
		{"2200-12-31", "2200-12-31", true},
		{"", "", true},
		{"2019-02-29", "", false}, // not a leap year
		{"2019-13-01", "", false},
		{"2019-1-5", "", false},
		{"1899-12-31", "", false},
		{"2201-01-01", "", false},
		{"2019-12-31T00:00:00Z", "", false},
		{"二〇一九年", "", false},
	}
	for _, tt := range tests {
		d, err := ParseDate(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseDate(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Errorf("ParseDate(%q) code = %s, want invalid", tt.in, ErrorCode(err))
			}
			continue
		}
		if d.String() != tt.want {
			t.Errorf("ParseDate(%q) = %q, want %q", tt.in, d, tt.want)
		}
	}
}

func TestDateJSON(t *testing.T) {
	type doc struct {
		D Date `json:"d"`
		O Date `json:"o,omitzero"`
	}
	b, err := json.Marshal(doc{D: MustDate("2019-06-30")})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"d":"2019-06-30"}` {
		t.Fatalf("marshal = %s", b)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil || back.D != MustDate("2019-06-30") {
		t.Fatalf("unmarshal = %+v, %v", back, err)
	}
	for _, zero := range []string{`{"d":null}`, `{"d":""}`, `{}`} {
		var z doc
		if err := json.Unmarshal([]byte(zero), &z); err != nil || !z.D.IsZero() {
			t.Errorf("unmarshal %s = %+v, %v; want zero date", zero, z, err)
		}
	}
	for _, bad := range []string{`{"d":"2019-02-30"}`, `{"d":20190101}`, `{"d":"31/12/2019"}`} {
		var z doc
		if err := json.Unmarshal([]byte(bad), &z); err == nil {
			t.Errorf("unmarshal %s succeeded: %+v", bad, z)
		}
	}
	zb, _ := json.Marshal(struct{ D Date }{})
	if string(zb) != `{"D":null}` {
		t.Errorf("zero date marshals as %s, want null", zb)
	}
}

func TestDateCompareAndArithmetic(t *testing.T) {
	a, b := MustDate("2019-12-31"), MustDate("2020-01-01")
	if !a.Before(b) || a.After(b) || a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
		t.Fatalf("compare %s and %s is wrong", a, b)
	}
	if (Date{}).Compare(MustDate("1900-01-01")) != -1 {
		t.Error("the zero date must sort first")
	}
	if got := a.AddDays(1); got != b {
		t.Errorf("%s + 1 day = %s, want %s", a, got, b)
	}
	if got := MustDate("2020-03-01").AddDays(-1); got != MustDate("2020-02-29") {
		t.Errorf("2020-03-01 - 1 day = %s", got)
	}
	if got := MustDate("2200-12-31").AddDays(1); !got.IsZero() {
		t.Errorf("a day past the range = %s, want the zero date", got)
	}
	if a.Weekday() != time.Tuesday {
		t.Errorf("2019-12-31 weekday = %s", a.Weekday())
	}
}

func TestDateFromUsesLocation(t *testing.T) {
	// 2019-12-31 17:30 UTC is already 2020-01-01 in Beijing.
	instant := time.Date(2019, 12, 31, 17, 30, 0, 0, time.UTC)
	beijing := time.FixedZone("CST", 8*3600)
	if got := DateFrom(instant, time.UTC); got != MustDate("2019-12-31") {
		t.Errorf("UTC date = %s", got)
	}
	if got := DateFrom(instant, beijing); got != MustDate("2020-01-01") {
		t.Errorf("Beijing date = %s", got)
	}
	if got := MustDate("2020-01-01").Time(beijing); !got.Equal(time.Date(2019, 12, 31, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("start of 2020-01-01 in Beijing = %s", got)
	}
}
