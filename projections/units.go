package projections

// The unit tree, shared by every view that filters by unit or scope. Each
// view database keeps its own copy (tables units and unit_tree), maintained
// by unitsApply inside the view's own Apply, so a view never depends on
// another view's progress.
//
// unit_tree is a closure table: one row (ancestor, descendant, depth) for
// every unit and each of its ancestors, itself included at depth 0. "Unit X
// and its subtree" is then one primary-key range lookup,
//
//	SELECT descendant FROM unit_tree WHERE ancestor = X
//
// and a move rewrites only the rows linking the moved subtree to its old
// ancestors. With a few hundred units the table stays a few thousand rows.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"rectify/events"
	"rectify/projections/query"
)

// unitsSchema creates the unit tree tables.
var unitsSchema = []string{
	`CREATE TABLE units (
		unit_id   TEXT PRIMARY KEY,
		parent_id TEXT NOT NULL DEFAULT '',
		name      TEXT NOT NULL DEFAULT '',
		kind      TEXT NOT NULL DEFAULT '',
		retired   INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID`,
	`CREATE INDEX units_parent ON units (parent_id, unit_id)`,
	`CREATE TABLE unit_tree (
		ancestor   TEXT NOT NULL,
		descendant TEXT NOT NULL,
		depth      INTEGER NOT NULL,
		PRIMARY KEY (ancestor, descendant)
	) WITHOUT ROWID`,
	`CREATE INDEX unit_tree_descendant ON unit_tree (descendant, ancestor)`,
}

// unitsDigestQueries define the unit tree's content for a view's digest.
var unitsDigestQueries = []string{
	`SELECT unit_id, parent_id, name, kind, retired FROM units ORDER BY unit_id`,
	`SELECT ancestor, descendant, depth FROM unit_tree ORDER BY ancestor, descendant`,
}

// unitsMigrate creates the tables units and unit_tree in a fresh view
// database. Call it from the projection's Migrate.
func unitsMigrate(ctx context.Context, tx *sql.Tx) error {
	for _, s := range unitsSchema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("units schema: %w", err)
		}
	}
	return nil
}

// unitsApply applies the unit events (registered, renamed, moved, retired)
// to the unit tree and reports whether p was one of them; any other payload
// is ignored. Domain-odd events never fail: a unit registered under a
// parent not registered yet is attached when the parent arrives; a move of
// an unknown unit, or under the unit's own subtree, is ignored. The only
// errors are database errors.
//
// It records the change notice "units" in the unit concerned when the
// tree changed, and for a move also in the unit's former parent, so that
// callers who saw the unit there hear that it left.
func unitsApply(ctx context.Context, tx *Tx, p events.Payload) (bool, error) {
	var err error
	var unit, formerParent string
	switch d := p.(type) {
	case events.UnitRegisteredData:
		unit = d.UnitID
		err = unitRegister(ctx, tx, d)
	case events.UnitRenamedData:
		unit = d.UnitID
		_, err = tx.Exec(ctx, `UPDATE units SET name = ? WHERE unit_id = ?`, d.NewName, d.UnitID)
	case events.UnitMovedData:
		unit = d.UnitID
		err = tx.QueryRow(ctx, `SELECT parent_id FROM units WHERE unit_id = ?`, d.UnitID).Scan(&formerParent)
		if err == sql.ErrNoRows {
			err = nil
		}
		if err == nil {
			err = unitMove(ctx, tx, d.UnitID, d.NewParentID)
		}
	case events.UnitRetiredData:
		unit = d.UnitID
		_, err = tx.Exec(ctx, `UPDATE units SET retired = 1 WHERE unit_id = ?`, d.UnitID)
	default:
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("unit tree: %w", err)
	}
	tx.ChangedIn("units", unit)
	if formerParent != "" {
		tx.ChangedIn("units", formerParent)
	}
	return true, nil
}

func unitRegister(ctx context.Context, tx *Tx, d events.UnitRegisteredData) error {
	var oldParent string
	err := tx.QueryRow(ctx, `SELECT parent_id FROM units WHERE unit_id = ?`, d.UnitID).Scan(&oldParent)
	switch {
	case err == sql.ErrNoRows:
		if _, err := tx.Exec(ctx, `INSERT INTO units (unit_id, parent_id, name, kind) VALUES (?, '', ?, ?)`, d.UnitID, d.Name, d.Kind); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO unit_tree (ancestor, descendant, depth) VALUES (?, ?, 0)`, d.UnitID, d.UnitID); err != nil {
			return err
		}
		// Adopt units registered earlier under this one as their parent.
		children, err := unitChildren(ctx, tx, d.UnitID)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := unitMove(ctx, tx, c, d.UnitID); err != nil {
				return err
			}
		}
	case err != nil:
		return err
	default:
		// Registered twice: take the newer name and kind.
		if _, err := tx.Exec(ctx, `UPDATE units SET name = ?, kind = ? WHERE unit_id = ?`, d.Name, d.Kind, d.UnitID); err != nil {
			return err
		}
	}
	if d.ParentID == "" || d.ParentID == oldParent {
		return nil
	}
	return unitMove(ctx, tx, d.UnitID, d.ParentID)
}

func unitChildren(ctx context.Context, tx *Tx, id string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT unit_id FROM units WHERE parent_id = ? AND unit_id <> ?`, id, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// unitMove hangs the subtree of id under parent (empty: make it a root).
// A parent not registered yet is recorded and linked when it registers.
func unitMove(ctx context.Context, tx *Tx, id, parent string) error {
	var exists int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM units WHERE unit_id = ?`, id).Scan(&exists); err != nil || exists == 0 {
		return err
	}
	if parent != "" {
		// A unit cannot move under itself or its own subtree.
		var cyc int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM unit_tree WHERE ancestor = ? AND descendant = ?`, id, parent).Scan(&cyc); err != nil || cyc > 0 {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE units SET parent_id = ? WHERE unit_id = ?`, parent, id); err != nil {
		return err
	}
	// Cut the subtree off its old ancestors...
	if _, err := tx.Exec(ctx, `DELETE FROM unit_tree
		WHERE descendant IN (SELECT descendant FROM unit_tree WHERE ancestor = ?1)
		  AND ancestor NOT IN (SELECT descendant FROM unit_tree WHERE ancestor = ?1)`, id); err != nil {
		return err
	}
	if parent == "" {
		return nil
	}
	// ...and link it to the new parent and the parent's ancestors.
	_, err := tx.Exec(ctx, `INSERT INTO unit_tree (ancestor, descendant, depth)
		SELECT a.ancestor, d.descendant, a.depth + d.depth + 1
		FROM unit_tree a, unit_tree d
		WHERE a.descendant = ?1 AND d.ancestor = ?2`, parent, id)
	return err
}

// subtreeOf returns an SQL condition true when the unit id in column col
// is unit or one of its descendants, with its argument. An unknown unit
// has an empty subtree.
func subtreeOf(col, unit string) (string, []any) {
	return col + ` IN (SELECT descendant FROM unit_tree WHERE ancestor = ?)`, []any{unit}
}

// scopeFilter returns an SQL condition true when the unit id in column col
// lies inside scope (the subtrees of s.Units, or anything when s.All), and
// its arguments. A scope with no units admits nothing.
func scopeFilter(col string, s query.Scope) (string, []any) {
	if s.All {
		return "1", nil
	}
	if len(s.Units) == 0 {
		return "0", nil
	}
	if len(s.Units) == 1 {
		return subtreeOf(col, s.Units[0])
	}
	args := make([]any, len(s.Units))
	for i, u := range s.Units {
		args[i] = u
	}
	return col + ` IN (SELECT descendant FROM unit_tree WHERE ancestor IN (?` + strings.Repeat(", ?", len(s.Units)-1) + `))`, args
}

// unitInScope reports whether unit lies inside scope. A unit the view does
// not know is inside only an All scope.
func unitInScope(ctx context.Context, db *sql.DB, s query.Scope, unit string) (bool, error) {
	if s.All {
		return true, nil
	}
	if len(s.Units) == 0 {
		return false, nil
	}
	cond, args := scopeFilter("?", s)
	var n int
	err := readQueryRow(ctx, db, `SELECT count(*) WHERE `+cond, append([]any{unit}, args...)...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("scope: %w", err)
	}
	return n > 0, nil
}

// unitNode is one unit of the tree as views read it back.
type unitNode struct {
	ID       string
	ParentID string
	Name     string
	Kind     string
	Retired  bool
	Depth    int // 0 for a root
}

// unitTree is the part of the unit tree a query may see, in tree order:
// each unit before its children, siblings by name then id. The parent of
// a unit may lie outside the scope; such a unit is a root of the tree the
// caller sees.
type unitTree struct {
	Nodes []unitNode
	index map[string]int
}

// loadUnitTree reads the units inside scope and, when under is not empty,
// inside the subtree of under.
func loadUnitTree(ctx context.Context, db *sql.DB, s query.Scope, under string) (*unitTree, error) {
	cond, args := scopeFilter("u.unit_id", s)
	q := `SELECT u.unit_id, u.parent_id, u.name, u.kind, u.retired FROM units u WHERE ` + cond
	if under != "" {
		c2, a2 := subtreeOf("u.unit_id", under)
		q += ` AND ` + c2
		args = append(args, a2...)
	}
	rows, err := readQuery(ctx, db, q, args...)
	if err != nil {
		return nil, fmt.Errorf("unit tree: %w", err)
	}
	defer rows.Close()
	var nodes []unitNode
	for rows.Next() {
		var n unitNode
		if err := rows.Scan(&n.ID, &n.ParentID, &n.Name, &n.Kind, &n.Retired); err != nil {
			return nil, fmt.Errorf("unit tree: %w", err)
		}
		nodes = append(nodes, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unit tree: %w", err)
	}
	return newUnitTree(nodes), nil
}

// newUnitTree orders nodes depth first and sets their depths relative to
// the visible roots.
func newUnitTree(nodes []unitNode) *unitTree {
	byID := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = true
	}
	children := map[string][]unitNode{}
	var roots []unitNode
	for _, n := range nodes {
		if n.ParentID == "" || !byID[n.ParentID] {
			roots = append(roots, n)
		} else {
			children[n.ParentID] = append(children[n.ParentID], n)
		}
	}
	less := func(a, b unitNode) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}
	t := &unitTree{index: make(map[string]int, len(nodes))}
	var walk func(list []unitNode, depth int)
	walk = func(list []unitNode, depth int) {
		slices.SortFunc(list, less)
		for _, n := range list {
			n.Depth = depth
			t.index[n.ID] = len(t.Nodes)
			t.Nodes = append(t.Nodes, n)
			walk(children[n.ID], depth+1)
		}
	}
	walk(roots, 0)
	return t
}
