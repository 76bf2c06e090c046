package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// syntheticLedger makes a history shaped like the performance targets':
// units in a tree of a committee, communities and branches, two cycles,
// and items that go through a realistic part of their lifecycle (about 7
// events per item). It is deterministic for a seed.
func syntheticLedger(tb testing.TB, units, items int, seed uint64) []events.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	h := &ledgerHistory{tb: tb}
	day := func(n int) string { return events.MustDate("2023-01-01").AddDays(n).String() }
	h.add(day(0), events.UnitRegisteredData{UnitID: "u0", Name: "街道工委", Kind: events.UnitCommittee})
	communities := max(1, units/10)
	for i := 1; i < units; i++ {
		parent, kind := "u0", events.UnitCommunity
		if i > communities {
			parent, kind = fmt.Sprintf("u%d", 1+i%communities), events.UnitBranch
		}
		h.add(day(0), events.UnitRegisteredData{UnitID: fmt.Sprintf("u%d", i), Name: fmt.Sprintf("单位%d", i), Kind: kind, ParentID: parent})
	}
	h.add(day(1), events.CycleOpenedData{CycleID: "c2023", Name: "2023年度述职评议", Year: 2023, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2023-01-01"), End: events.MustDate("2023-12-31")})
	h.add(day(1), events.CycleOpenedData{CycleID: "c2024", Name: "2024年度述职评议", Year: 2024, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2024-01-01"), End: events.MustDate("2024-12-31")})
	categories := []string{"组织建设", "作风建设", "阵地建设", "民生服务", "Safety"}
	words := []string{"整改", "台账", "制度", "落实", "会议", "记录", "road", "lighting", "meeting", "安全", "隐患", "排查"}
	type live struct {
		id   string
		step int
		d    int
	}
	var open []live
	for n := 0; n < items || len(open) > 0; {
		// Raise new items while advancing others, so that events of
		// many items interleave as they would in a store.
		if n < items && (len(open) < 200 || rng.IntN(3) == 0) {
			d := n * 700 / items
			id := fmt.Sprintf("item-%d", n)
			title := words[rng.IntN(len(words))] + words[rng.IntN(len(words))] + words[rng.IntN(len(words))] + fmt.Sprint(n)
			cycle := "c2023"
			if d > 365 {
				cycle = "c2024"
			}
			h.add(day(d), events.ItemRaisedData{ItemID: id, CycleID: cycle, UnitID: fmt.Sprintf("u%d", rng.IntN(units)), Title: title,
				Description: "问题描述 " + title, Category: categories[rng.IntN(len(categories))], Deadline: events.MustDate(day(d + 30 + rng.IntN(120)))})
			open = append(open, live{id: id, d: d})
			n++
			continue
		}
		i := rng.IntN(len(open))
		it := &open[i]
		it.d += rng.IntN(5)
		switch it.step {
		case 0:
			h.add(day(it.d), events.ItemAssignedData{ItemID: it.id, UnitID: fmt.Sprintf("u%d", rng.IntN(units)), OwnerID: fmt.Sprintf("p%d", rng.IntN(500)), OwnerName: "负责人"})
		case 1:
			h.add(day(it.d), events.ItemMeasurePlannedData{ItemID: it.id, MeasureID: "m1", Text: "整改措施一"})
		case 2:
			h.add(day(it.d), events.ItemProgressReportedData{ItemID: it.id, Percent: 50})
		case 3:
			if rng.IntN(4) == 0 {
				h.add(day(it.d), events.ItemDeadlineChangedData{ItemID: it.id, NewDeadline: events.MustDate(day(it.d + 60)), Reason: "延期"})
			} else {
				h.add(day(it.d), events.ItemMeasureCompletedData{ItemID: it.id, MeasureID: "m1", CompletedOn: events.MustDate(day(it.d))})
			}
		case 4:
			h.add(day(it.d), events.ItemSubmittedData{ItemID: it.id})
		case 5:
			h.add(day(it.d), events.ItemVerifiedData{ItemID: it.id, ReviewerID: "rev"})
		}
		it.step++
		// About a third of the items stay unfinished at some step.
		if it.step > 5 || rng.IntN(12) == 0 {
			open[i] = open[len(open)-1]
			open = open[:len(open)-1]
		}
	}
	return h.evs
}

func benchSize(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkLedgerRebuild applies a synthetic history in rebuild-sized
// batches to a fresh view and reports events per second.
// LEDGER_BENCH_ITEMS sets the number of items (default 10000).
func BenchmarkLedgerRebuild(b *testing.B) {
	evs := syntheticLedger(b, 200, benchSize("LEDGER_BENCH_ITEMS", 10000), 1)
	ds := deliveries(evs)
	ctx := context.Background()
	var total time.Duration
	runs := 0
	for b.Loop() {
		b.StopTimer()
		r, err := Open(ctx, Ledger{}, Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for i := 0; i < len(ds); i += rebuildBatch {
			if err := r.Apply(ctx, ds[i:min(i+rebuildBatch, len(ds))]); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
		runs++
		b.StopTimer()
		r.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(evs)*runs)/total.Seconds(), "events/s")
	b.ReportMetric(float64(len(evs)), "events")
}

var (
	benchLedgerOnce sync.Once
	benchLedger     *Runner
	benchLedgerErr  error
)

// openBenchLedger builds, once per process, a ledger of
// LEDGER_BENCH_ITEMS items (default 100000) over 200 units.
func openBenchLedger(b *testing.B) *Runner {
	benchLedgerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ledger-bench")
		if err != nil {
			benchLedgerErr = err
			return
		}
		evs := syntheticLedger(b, 200, benchSize("LEDGER_BENCH_ITEMS", 100000), 2)
		r, err := Open(context.Background(), Ledger{}, Options{Dir: dir})
		if err != nil {
			benchLedgerErr = err
			return
		}
		ds := deliveries(evs)
		for i := 0; i < len(ds); i += rebuildBatch {
			if err := r.Apply(context.Background(), ds[i:min(i+rebuildBatch, len(ds))]); err != nil {
				benchLedgerErr = err
				return
			}
		}
		benchLedger = r
	})
	if benchLedgerErr != nil {
		b.Fatal(benchLedgerErr)
	}
	return benchLedger
}

// BenchmarkLedgerQueries answers the dashboard's queries in-process (the
// NATS and HTTP hops are not included), from parallel goroutines: each
// repeated through Answer (remembered after the first time, as long as no
// event arrives), and cold.
func BenchmarkLedgerQueries(b *testing.B) {
	r := openBenchLedger(b)
	// The history's last events happen around the end of 2024.
	today := events.MustDate("2025-01-31")
	community := query.Scope{Units: []string{"u3"}}
	cases := []struct {
		name   string
		op     string
		scope  query.Scope
		params any
	}{
		{"list_page50", "list", allScope, query.LedgerParams{}},
		{"list_page50_updated_desc", "list", allScope, query.LedgerParams{Sort: "updated", Order: "desc"}},
		{"list_community_scope", "list", community, query.LedgerParams{}},
		{"list_unit_subtree", "list", allScope, query.LedgerParams{UnitID: "u3"}},
		{"list_overdue", "list", allScope, query.LedgerParams{Overdue: ptr(true)}},
		{"list_cycle_status", "list", allScope, query.LedgerParams{CycleID: "c2024", Status: []string{"in_progress", "submitted"}}},
		{"list_search_trigram", "list", allScope, query.LedgerParams{Q: "落实制度"}},
		{"list_search_short", "list", allScope, query.LedgerParams{Q: "整改"}},
		{"get", "get", allScope, query.ItemParams{ItemID: "item-4242"}},
		{"summary_all", "summary", allScope, query.SummaryParams{Depth: 1}},
		{"summary_community", "summary", community, query.SummaryParams{}},
		{"trend_30_days", "trend", allScope, query.TrendParams{}},
	}
	// The raw query functions, without the memo of repeated answers.
	cold := map[string]QueryFunc{"list": ledgerList, "get": ledgerGet, "summary": progressSummary, "trend": progressTrend}
	for _, c := range cases {
		raw, _ := json.Marshal(c.params)
		req := query.Request{Scope: c.scope, Today: today, Params: raw}
		if resp := Answer(context.Background(), r, c.op, req, time.Second); resp.Error != nil {
			b.Fatal(resp.Error)
		}
		// Repeated: what a dashboard polling the same page costs.
		b.Run(c.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if resp := Answer(context.Background(), r, c.op, req, time.Second); resp.Error != nil {
						b.Error(resp.Error)
						return
					}
				}
			})
		})
		// Cold: every answer computed (and encoded) afresh.
		b.Run("cold_"+c.name, func(b *testing.B) {
			fn := cold[c.op]
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					err := r.Read(context.Background(), 0, func(db *sql.DB, _ uint64) error {
						out, err := fn(context.Background(), db, req)
						if err != nil {
							return err
						}
						_, err = json.Marshal(out)
						return err
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
