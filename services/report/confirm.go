package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"rectify/events"
)

// Review is the file a reviewer edits between parsing and confirming: the
// draft (whose titles and texts may be edited in place, and whose entries
// may be deleted) and the assignments.
type Review struct {
	Draft  Draft       `json:"draft"`
	Assign Assignments `json:"assign"`
}

// NewReview returns a review of d to be filled in: file names the report
// in source references, the commitments run through the year after the
// report's (a 2019 report plans 2020) with items due at its end, and
// there is one entry per key, so that the reviewer sees every key there
// is to assign or drop. Cycle and unit are left for the reviewer.
func NewReview(d Draft, file string) Review {
	a := Assignments{File: file, Entries: []Entry{}}
	if d.Year > 0 && d.Year+1 <= events.MaxYear {
		a.Start, _ = events.NewDate(d.Year+1, 1, 1)
		a.End, _ = events.NewDate(d.Year+1, 12, 31)
		a.Deadline = a.End
	}
	for _, it := range d.Items {
		a.Entries = append(a.Entries, Entry{Key: it.Key})
		for _, m := range it.Measures {
			a.Entries = append(a.Entries, Entry{Key: m.Key})
		}
	}
	for _, m := range d.Unmatched {
		a.Entries = append(a.Entries, Entry{Key: m.Key})
	}
	for _, c := range d.Commitments {
		a.Entries = append(a.Entries, Entry{Key: c.Key})
	}
	return Review{Draft: d, Assign: a}
}

// Assignments say where a reviewed draft goes: defaults for every entry,
// and per entry (by key) what to drop or set differently.
type Assignments struct {
	// ImportKey makes the import idempotent: the ids and idempotency keys
	// of every command derive from it and the entry's key. Default: derived
	// from the draft's digest and CycleID, so that confirming the same
	// report into the same cycle twice writes it once.
	ImportKey string `json:"import_key,omitempty"`
	// File names the report in source references.
	File string `json:"file,omitempty"`
	// CycleID is the review cycle the items are findings of. Required.
	CycleID string `json:"cycle_id"`
	// UnitID is the unit of every item and commitment without one of its
	// own.
	UnitID string `json:"unit_id"`
	// OwnerID and OwnerName: the person responsible for every item
	// without one of its own (optional).
	OwnerID   string `json:"owner_id,omitempty"`
	OwnerName string `json:"owner_name,omitempty"`
	// Deadline of every item without one of its own.
	Deadline events.Date `json:"deadline,omitzero"`
	// Start and End of every commitment without its own.
	Start events.Date `json:"start,omitzero"`
	End   events.Date `json:"end,omitzero"`
	// Entries change single entries, by key.
	Entries []Entry `json:"entries"`
}

// Entry changes one entry of the draft.
type Entry struct {
	Key string `json:"key"`
	// Drop leaves the entry out; dropping an item drops its measures.
	Drop bool `json:"drop,omitempty"`
	// UnitID, OwnerID, OwnerName: for an item or commitment (a
	// commitment's person is PersonID / PersonName).
	UnitID    string `json:"unit_id,omitempty"`
	OwnerID   string `json:"owner_id,omitempty"`
	OwnerName string `json:"owner_name,omitempty"`
	// Deadline and Severity of an item.
	Deadline events.Date `json:"deadline,omitzero"`
	Severity string      `json:"severity,omitempty"`
	// Item puts a measure under another item (by key): the way to write an
	// unmatched measure, or to move a measure that was tied wrongly.
	Item string `json:"item,omitempty"`
	// Due is a measure's due date; default: its item's deadline.
	Due events.Date `json:"due,omitzero"`
	// PersonID and PersonName make a commitment a person's.
	PersonID   string `json:"person_id,omitempty"`
	PersonName string `json:"person_name,omitempty"`
	// Period and Target set a commitment's ledger form; one alone keeps
	// the proposal's other half.
	Period string `json:"period,omitempty"`
	Target *int   `json:"target,omitempty"`
	// Accept takes the proposed ledger form of a commitment that needs
	// confirming (Ledger.Confirm).
	Accept bool `json:"accept,omitempty"`
	// Start and End of a commitment.
	Start events.Date `json:"start,omitzero"`
	End   events.Date `json:"end,omitzero"`
}

// Step is one command of a confirmed import, with the idempotency key it
// must be executed under and the draft entry it comes from.
type Step struct {
	Entry   string         `json:"entry"`
	Name    string         `json:"command"`
	Key     string         `json:"idempotency_key"`
	Command events.Command `json:"data"`
}

// importSpace is the UUID namespace of the ids an import gives its items,
// measures and commitments.
var importSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:rectify:import:report"))

// Commands turns a reviewed draft into the commands that write it: per
// item, RaiseItem (its Source naming the report line), AssignItem when an
// owner is set, and PlanMeasure per measure; per commitment,
// MakeCommitment (with Source). Item, measure and commitment ids and each
// command's idempotency key derive from the import key and the entry key,
// so the same review always gives the same commands.
//
// It fails with CodeInvalid listing every problem at once, each named
// "<key>.<field>" (p2.deadline, c3.period, assign.cycle_id) or
// "entries.<key>": a missing cycle, unit, deadline or commitment span, a
// count still to be set, a ledger form still to be confirmed (accept it
// or set period and target), an entry key the draft does not have, a
// measure put under an item that does not exist or is dropped, and any
// field the command itself refuses.
func (d Draft) Commands(a Assignments) ([]Step, error) {
	var v problems
	entries := map[string]Entry{}
	known := d.keys()
	for _, e := range a.Entries {
		switch {
		case !known[e.Key] && e == (Entry{Key: e.Key}):
			continue // left from NewReview for an entry deleted from the draft
		case !known[e.Key]:
			v.Add("entries."+e.Key, "no such entry in the draft")
		case entries[e.Key].Key != "":
			v.AddField(events.Fault("entries."+e.Key, events.ProblemDuplicate, "is given twice"))
		}
		entries[e.Key] = e
	}
	v.Required(a.CycleID != "", "assign.cycle_id", "is required")
	importKey := a.ImportKey
	if importKey == "" {
		if d.Digest == "" {
			v.Required(false, "assign.import_key", "is required for a draft without a digest")
		}
		sum := sha256.Sum256([]byte(d.Digest + "\x00" + a.CycleID))
		importKey = "report-" + hex.EncodeToString(sum[:8])
	}
	id := func(key string) string {
		return uuid.NewSHA1(importSpace, []byte(importKey+"\x00"+key)).String()
	}
	step := func(entry, verb string, c events.Command) Step {
		return Step{Entry: entry, Name: c.CommandName(), Key: importKey + "/" + entry + "/" + verb, Command: c}
	}
	check := func(key string, c events.Command) {
		var e *events.Error
		if err := c.Validate(); errors.As(err, &e) {
			for _, f := range e.Fields {
				if f.Field == "cycle_id" && a.CycleID == "" {
					continue // said once, as assign.cycle_id
				}
				v.AddField(f.Under(key))
			}
		}
	}
	unit := func(key string, e Entry) string {
		u := orStr(e.UnitID, a.UnitID)
		v.Required(u != "", key+".unit_id", "is required: set assign.unit_id or the entry's unit_id")
		return u
	}

	// Measures by the item they go under: the draft's tie, or the review's.
	items := map[string]DraftItem{}
	for _, it := range d.Items {
		items[it.Key] = it
	}
	under := map[string][]DraftMeasure{}
	place := func(m DraftMeasure, item string) {
		e := entries[m.Key]
		if e.Drop {
			return
		}
		if e.Item != "" {
			target, ok := items[e.Item]
			switch {
			case !ok:
				v.Add(m.Key+".item", "no item "+e.Item+" in the draft")
				return
			case entries[target.Key].Drop:
				v.Add(m.Key+".item", "item "+e.Item+" is dropped")
				return
			}
			item = e.Item
		}
		if item != "" && !entries[item].Drop {
			under[item] = append(under[item], m)
		}
	}
	for _, it := range d.Items {
		for _, m := range it.Measures {
			place(m, it.Key)
		}
	}
	for _, m := range d.Unmatched {
		place(m, "")
	}

	var steps []Step
	for _, it := range d.Items {
		e := entries[it.Key]
		if e.Drop {
			continue
		}
		itemID := id(it.Key)
		deadline := orDate(e.Deadline, a.Deadline)
		v.Required(!deadline.IsZero(), it.Key+".deadline", "is required: set assign.deadline or the entry's deadline")
		raise := events.RaiseItem{
			ItemID: itemID, CycleID: a.CycleID, UnitID: unit(it.Key, e),
			Title: oneLine(it.Title), Description: clip(description(it), events.MaxDescriptionLen),
			Category: clip(it.Category, events.MaxShortLen), Source: source(a.File, it.Line, it.Title),
			Severity: e.Severity, Deadline: deadline,
		}
		check(it.Key, raise)
		steps = append(steps, step(it.Key, "raise", raise))
		owner, ownerName := orStr(e.OwnerID, a.OwnerID), orStr(e.OwnerName, a.OwnerName)
		if owner != "" || ownerName != "" {
			as := events.AssignItem{ItemID: itemID, UnitID: raise.UnitID, OwnerID: owner, OwnerName: ownerName}
			check(it.Key, as)
			steps = append(steps, step(it.Key, "assign", as))
		}
		for _, m := range under[it.Key] {
			me := entries[m.Key]
			pm := events.PlanMeasure{
				ItemID: itemID, MeasureID: id(m.Key), Text: clip(paragraph(m.Text), events.MaxTextLen),
				OwnerID: orStr(me.OwnerID, owner), OwnerName: orStr(me.OwnerName, ownerName), Due: orDate(me.Due, deadline),
			}
			check(m.Key, pm)
			steps = append(steps, step(m.Key, "plan", pm))
		}
	}

	for _, c := range d.Commitments {
		e := entries[c.Key]
		if e.Drop {
			continue
		}
		period, target := c.Ledger.Period, c.Ledger.Target
		if e.Period != "" || e.Target != nil {
			period = orStr(e.Period, period)
			if e.Target != nil {
				target = *e.Target
			}
		} else if c.Ledger.Confirm && !e.Accept {
			switch {
			case target == 0:
				v.Required(false, c.Key+".target", fmt.Sprintf("count to be set (%s): set target, and period if needed", orStr(c.TargetText, c.Title)))
			default:
				v.Required(false, c.Key+".period", fmt.Sprintf("%s: accept the proposal (%s, %d) with accept, or set period and target", c.Ledger.Note, period, target))
			}
			continue
		}
		v.Required(target > 0, c.Key+".target", "count to be set: set target")
		activity := orStr(c.Activity, c.Title)
		mc := events.MakeCommitment{
			CommitmentID: id(c.Key), CycleID: a.CycleID, UnitID: unit(c.Key, e),
			PersonID: e.PersonID, PersonName: e.PersonName,
			Title: oneLine(c.Title), Activity: clip(oneLine(activity), events.MaxShortLen),
			Target: target, Period: period,
			Start: orDate(e.Start, a.Start), End: orDate(e.End, a.End),
			Source: source(a.File, c.Line, c.Text),
		}
		check(c.Key, mc)
		steps = append(steps, step(c.Key, "make", mc))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return steps, nil
}

// Exec runs one command under an idempotency key: a retry with the same
// key must write nothing new (services.Service.Execute with Meta.
// IdempotencyKey, or natsx.SendCommand with CommandRequest.IdempotencyKey).
type Exec func(ctx context.Context, cmd events.Command, key string) error

// Apply executes the steps of an import in order (each item before its
// measures) and reports how many were applied.
//
// The event store appends atomically per stream, so an import is atomic
// per entry, not as a whole: when a step fails, the steps before it stay
// written. Running Apply again with the same steps completes the import:
// steps already applied are idempotent retries that write nothing. Two
// limits follow from how the command side keys retries: the retry must
// run as the same user (idempotency is per actor and key), and an entry
// already written keeps what was first written even if the review changed
// since (change it with the ordinary commands). The error wraps exec's, so
// events.ErrorCode gives its code, and names the failing entry.
func Apply(ctx context.Context, exec Exec, steps []Step) (int, error) {
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return i, events.Wrap(events.CodeUnavailable, err, "import stopped after %d of %d commands; confirm again to finish it", i, len(steps))
		}
		if err := exec(ctx, s.Command, s.Key); err != nil {
			return i, fmt.Errorf("%s %s (%d of %d commands applied; confirm again to finish the import): %w", s.Entry, s.Name, i, len(steps), err)
		}
	}
	return len(steps), nil
}

// problems collects what is wrong with a review, one problem per field:
// the first, which is the most specific (Commands checks its own rules
// before the commands' generic ones).
type problems struct {
	v    events.Validator
	seen map[string]bool
}

// Add records a problem with the catch-all code events.ProblemInvalid.
func (p *problems) Add(field, problem string) {
	p.AddField(events.Fault(field, events.ProblemInvalid, problem))
}

// AddField records a problem keeping its code and parameters.
func (p *problems) AddField(fe events.FieldError) {
	if p.seen[fe.Field] {
		return
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	p.seen[fe.Field] = true
	p.v.AddField(fe)
}

// Required records that field is missing, for the reason problem gives.
func (p *problems) Required(ok bool, field, problem string) {
	if !ok {
		p.AddField(events.Fault(field, events.ProblemRequired, problem))
	}
}

func (p *problems) Err() error { return p.v.Err() }

// keys lists every entry key of the draft.
func (d Draft) keys() map[string]bool {
	k := map[string]bool{}
	for _, it := range d.Items {
		k[it.Key] = true
		for _, m := range it.Measures {
			k[m.Key] = true
		}
	}
	for _, m := range d.Unmatched {
		k[m.Key] = true
	}
	for _, c := range d.Commitments {
		k[c.Key] = true
	}
	return k
}

// source is the reference from a created item or commitment back to the
// report: 述职报告《file》第12行：excerpt.
func source(file string, line int, excerpt string) string {
	s := "述职报告"
	if file != "" {
		s += "《" + file + "》"
	}
	s += "第" + strconv.Itoa(line) + "行：" + oneLine(excerpt)
	return clip(s, events.MaxSourceLen)
}

// description is an item's text with its causes.
func description(it DraftItem) string {
	s := paragraph(it.Text)
	if len(it.Causes) > 0 {
		s += "\n\n原因分析："
		for i, c := range it.Causes {
			s += "\n" + strconv.Itoa(i+1) + ". " + paragraph(c)
		}
	}
	return s
}

// oneLine makes s fit a one-line field: line breaks and other control
// characters go.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			if r == '\n' || r == '\t' {
				return ' '
			}
			return -1
		}
		return r
	}, s))
}

// paragraph keeps line breaks and tabs and drops other control characters.
func paragraph(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, s))
}

func orStr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func orDate(d, def events.Date) events.Date {
	if d.IsZero() {
		return def
	}
	return d
}

// Import turns a reviewed draft into the one command that writes it,
// events.ImportReport: the steps of Commands grouped by entry, each item
// with its owner and measures. It fails as Commands does, naming every
// problem; the command side then checks the entries against the ledger
// (units, cycle, roles) before it writes any.
func (d Draft) Import(a Assignments) (events.ImportReport, error) {
	steps, err := d.Commands(a)
	if err != nil {
		return events.ImportReport{}, err
	}
	return ImportOf(a.CycleID, steps), nil
}

// ImportOf groups the steps of a confirmed review into an ImportReport
// for cycleID. Steps come in Commands' order: each item's raise before its
// assignment and measures.
func ImportOf(cycleID string, steps []Step) events.ImportReport {
	imp := events.ImportReport{CycleID: cycleID}
	items := map[string]int{} // item id -> index in imp.Items
	for _, s := range steps {
		switch c := s.Command.(type) {
		case events.RaiseItem:
			items[c.ItemID] = len(imp.Items)
			imp.Items = append(imp.Items, events.ImportItem{
				Entry: s.Entry, ItemID: c.ItemID, UnitID: c.UnitID, Title: c.Title, Description: c.Description,
				Category: c.Category, Source: c.Source, Severity: c.Severity, Deadline: c.Deadline,
			})
		case events.AssignItem:
			if i, ok := items[c.ItemID]; ok {
				imp.Items[i].OwnerID, imp.Items[i].OwnerName = c.OwnerID, c.OwnerName
			}
		case events.PlanMeasure:
			if i, ok := items[c.ItemID]; ok {
				imp.Items[i].Measures = append(imp.Items[i].Measures, events.ImportMeasure{
					Entry: s.Entry, MeasureID: c.MeasureID, Text: c.Text, OwnerID: c.OwnerID, OwnerName: c.OwnerName, Due: c.Due,
				})
			}
		case events.MakeCommitment:
			imp.Commitments = append(imp.Commitments, events.ImportCommitment{
				Entry: s.Entry, CommitmentID: c.CommitmentID, UnitID: c.UnitID, PersonID: c.PersonID, PersonName: c.PersonName,
				Title: c.Title, Activity: c.Activity, Target: c.Target, Period: c.Period, Start: c.Start, End: c.End, Source: c.Source,
			})
		}
	}
	return imp
}
