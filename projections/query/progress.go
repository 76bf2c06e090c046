package query

import (
	"fmt"
	"time"

	"rectify/events"
)

// Queries of the progress view, served by projection "ledger": "summary"
// and "trend". Both count only items of units inside the request's scope;
// a unit's subtree counts therefore leave out what the caller may not see.

// SummaryParams are the parameters of "summary".
type SummaryParams struct {
	// UnitID is the root of the units summarised (default: everything in
	// scope).
	UnitID   string `json:"unit_id,omitempty"`
	CycleID  string `json:"cycle_id,omitempty"`
	Category string `json:"category,omitempty"`
	// Depth limits Units to this many levels below UnitID (or below the
	// visible roots); 0 lists every level. Counts always cover the whole
	// subtree.
	Depth int `json:"depth,omitempty"`
	// YellowDays overrides DefaultYellowDays.
	YellowDays *int `json:"yellow_days,omitempty"`
}

// MaxDepth bounds SummaryParams.Depth.
const MaxDepth = 64

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *SummaryParams) Validate() error {
	var v events.Validator
	checkID(&v, "unit_id", p.UnitID)
	checkID(&v, "cycle_id", p.CycleID)
	checkYellowDays(&v, p.YellowDays)
	if p.Depth < 0 || p.Depth > MaxDepth {
		v.Add("depth", fmt.Sprintf("must be between 0 and %d", MaxDepth))
	}
	return v.Err()
}

// Counts are the progress figures of a set of items.
type Counts struct {
	// Total counts every item, withdrawn ones included; ByStatus splits it.
	Total    int                       `json:"total"`
	ByStatus map[events.ItemStatus]int `json:"by_status"`
	// Open counts unfinished items; Closed verified ones; Withdrawn dropped
	// ones.
	Open      int `json:"open"`
	Closed    int `json:"closed"`
	Withdrawn int `json:"withdrawn"`
	// ClosedShare is Closed / (Total - Withdrawn), absent when that is 0.
	ClosedShare *float64 `json:"closed_share,omitempty"`
	// Overdue counts open items past their deadline (the red ones).
	Overdue int `json:"overdue"`
	// ClosedOnTime counts closed items verified on or before their
	// deadline; OnTimeRate is ClosedOnTime / Closed, absent when no item
	// is closed.
	ClosedOnTime int      `json:"closed_on_time"`
	OnTimeRate   *float64 `json:"on_time_rate,omitempty"`
	// Red + Yellow + Green = Open.
	Red    int `json:"red"`
	Yellow int `json:"yellow"`
	Green  int `json:"green"`
}

// UnitProgress is one unit's line of the summary.
type UnitProgress struct {
	UnitID   string `json:"unit_id"`
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Retired  bool   `json:"retired,omitempty"`
	// Depth is relative to the summary's roots.
	Depth int `json:"depth"`
	// Own counts the unit's own items; Subtree adds every visible unit
	// below it.
	Own     Counts `json:"own"`
	Subtree Counts `json:"subtree"`
}

// CategoryProgress is the summary of one category.
type CategoryProgress struct {
	Category string `json:"category"`
	Counts
}

// CycleProgress is the summary of one cycle.
type CycleProgress struct {
	CycleID   string `json:"cycle_id"`
	CycleName string `json:"cycle_name,omitempty"`
	Counts
}

// Summary is the answer of "summary".
type Summary struct {
	Today      events.Date `json:"today"`
	YellowDays int         `json:"yellow_days"`
	// Total covers every item selected.
	Total Counts `json:"total"`
	// Units lists the visible units of the selection in tree order (each
	// before its children, siblings by name then id).
	Units []UnitProgress `json:"units"`
	// Categories and Cycles split Total, ordered by category and by cycle
	// id; items without a category have the empty category.
	Categories []CategoryProgress `json:"categories"`
	Cycles     []CycleProgress    `json:"cycles"`
}

// Trend intervals.
const (
	IntervalDay  = "day"
	IntervalWeek = "week"
)

// MaxTrendPoints bounds the points of a trend.
const MaxTrendPoints = 1000

// TrendParams are the parameters of "trend".
type TrendParams struct {
	UnitID   string `json:"unit_id,omitempty"`
	CycleID  string `json:"cycle_id,omitempty"`
	Category string `json:"category,omitempty"`
	// Interval is day (default) or week (ISO weeks, Monday to Sunday).
	Interval string `json:"interval,omitempty"`
	// From and To bound the days reported. To defaults to today; From to
	// 29 days (day) or 11 weeks (week) before To's day or week.
	From events.Date `json:"from,omitzero"`
	To   events.Date `json:"to,omitzero"`
}

// Validate fills the default interval and reports every bad parameter as a
// CodeInvalid *events.Error.
func (p *TrendParams) Validate() error {
	var v events.Validator
	checkID(&v, "unit_id", p.UnitID)
	checkID(&v, "cycle_id", p.CycleID)
	switch p.Interval {
	case "":
		p.Interval = IntervalDay
	case IntervalDay, IntervalWeek:
	default:
		v.Add("interval", fmt.Sprintf("unknown interval %q (want day or week)", p.Interval))
	}
	if !p.From.IsZero() && !p.To.IsZero() {
		if p.To.Before(p.From) {
			v.Add("to", "must not be before from")
		} else if days := int(p.To.Time(time.UTC).Sub(p.From.Time(time.UTC)).Hours()/24) + 1; days > MaxTrendPoints*7 ||
			(p.Interval == IntervalDay && days > MaxTrendPoints) {
			v.Add("to", fmt.Sprintf("the range holds more than %d points", MaxTrendPoints))
		}
	}
	return v.Err()
}

// TrendPoint is one day or week of a trend. Open and Closed are the
// counts at the end of the point's last day; Raised and Verified count what
// happened during the point.
type TrendPoint struct {
	// Start and End are the first and last day of the point.
	Start    events.Date `json:"start"`
	End      events.Date `json:"end"`
	Open     int         `json:"open"`
	Closed   int         `json:"closed"`
	Raised   int         `json:"raised"`
	Verified int         `json:"verified"`
}

// Trend is the answer of "trend": open versus closed items over time,
// counted on the day each change happened (UTC+8). An item carried over to
// another cycle or assigned to another unit leaves the old selection and
// joins the new one on that day.
type Trend struct {
	Interval string       `json:"interval"`
	From     events.Date  `json:"from"`
	To       events.Date  `json:"to"`
	Points   []TrendPoint `json:"points"`
}
