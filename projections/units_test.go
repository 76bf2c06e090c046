package projections

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"rectify/events"
	"rectify/projections/query"
)

// TestUnitTreeClosureMatchesParents registers and moves units at random,
// parents sometimes arriving after their children, and checks after every
// event that the closure table holds exactly the ancestor pairs the
// parent pointers imply.
func TestUnitTreeClosureMatchesParents(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	h := &ledgerHistory{tb: t}
	const n = 30
	registered := map[int]bool{}
	for len(h.evs) < 300 {
		u := rng.IntN(n)
		parent := ""
		if p := rng.IntN(n + 5); p < n && p != u {
			parent = fmt.Sprintf("u%d", p)
		}
		id := fmt.Sprintf("u%d", u)
		if !registered[u] {
			registered[u] = true
			h.add("2024-01-01", events.UnitRegisteredData{UnitID: id, Name: "单位" + id, Kind: events.UnitOther, ParentID: parent})
		} else {
			h.add("2024-01-01", events.UnitMovedData{UnitID: id, NewParentID: parent})
		}
	}
	r := MustOpenRunner(t, Ledger{}, nil, nil)
	ctx := context.Background()
	for i, d := range deliveries(h.evs) {
		if err := r.Apply(ctx, []Delivery{d}); err != nil {
			t.Fatal(err)
		}
		if i%10 != 9 {
			continue
		}
		err := r.Read(ctx, 0, func(db *sql.DB, _ uint64) error {
			parents := map[string]string{}
			rows, err := db.Query(`SELECT unit_id, parent_id FROM units`)
			if err != nil {
				return err
			}
			for rows.Next() {
				var u, p string
				if err := rows.Scan(&u, &p); err != nil {
					return err
				}
				parents[u] = p
			}
			rows.Close()
			want := map[string]int{}
			for u := range parents {
				depth := 0
				for a := u; a != ""; a = parents[a] {
					if _, known := parents[a]; !known {
						break // a parent not registered yet links nothing
					}
					if depth > n {
						return fmt.Errorf("cycle through %s", u)
					}
					want[a+">"+u] = depth
					depth++
				}
			}
			got := map[string]int{}
			rows, err = db.Query(`SELECT ancestor, descendant, depth FROM unit_tree`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var a, d string
				var depth int
				if err := rows.Scan(&a, &d, &depth); err != nil {
					return err
				}
				got[a+">"+d] = depth
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("after event %d the closure has %d pairs, the parents imply %d", i+1, len(got), len(want))
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnitInScope(t *testing.T) {
	r := MustOpenLedger(t, sampleLedger(t))
	cases := []struct {
		scope query.Scope
		unit  string
		want  bool
	}{
		{allScope, "zb1", true},
		{allScope, "unknown", true},
		{query.Scope{}, "zb1", false},
		{query.Scope{Units: []string{"jw"}}, "zb1", true},
		{query.Scope{Units: []string{"sq1"}}, "zb1", true},
		{query.Scope{Units: []string{"sq1"}}, "sq1", true},
		{query.Scope{Units: []string{"sq1"}}, "jw", false},
		{query.Scope{Units: []string{"sq2"}}, "zb1", false},
		{query.Scope{Units: []string{"sq2", "other"}}, "other", true},
		{query.Scope{Units: []string{"sq2", "other"}}, "sq1", false},
		{query.Scope{Units: []string{"jw"}}, "unknown", false},
	}
	for _, c := range cases {
		err := r.Read(context.Background(), 0, func(db *sql.DB, _ uint64) error {
			got, err := unitInScope(context.Background(), db, c.scope, c.unit)
			if err != nil {
				return err
			}
			if got != c.want {
				t.Errorf("%s in %+v: %v, want %v", c.unit, c.scope, got, c.want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The tree in scope of two subtrees lists both, in name order.
	err := r.Read(context.Background(), 0, func(db *sql.DB, _ uint64) error {
		tree, err := loadUnitTree(context.Background(), db, query.Scope{Units: []string{"sq2", "zb1"}}, "")
		if err != nil {
			return err
		}
		var got []string
		for _, n := range tree.Nodes {
			got = append(got, n.ID)
		}
		if want := []string{"zb1", "sq2"}; !slices.Equal(got, want) {
			t.Errorf("tree %v, want %v (第一支部 before 西湖社区)", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
