package report

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"rectify/events"
)

// Periods a promise in a report can name. The ledger itself knows only
// week, month and quarter (events.Periods); LedgerFor proposes one of them
// for the others.
const (
	PeriodDay     = "day"
	PeriodWeek    = events.PeriodWeek
	PeriodMonth   = events.PeriodMonth
	PeriodQuarter = events.PeriodQuarter
	PeriodYear    = "year"
)

// Quantity is a countable promise read from one clause of a report:
// "每周至少到分包社区走访2次" is 2 (Unit 次) per week of 到分包社区走访.
type Quantity struct {
	// Period is day, week, month, quarter or year; empty when the text
	// names a rhythm that none of them fits (每两周), which Note says.
	Period string `json:"period"`
	// PeriodText is the words that gave the period, as written (每月, 全年).
	PeriodText string `json:"period_text"`
	// Target is the count per period; nil when it is to be set by hand (a
	// placeholder such as X, 若干, or a numeral Parse does not read).
	// For a range it is the lower bound.
	Target *int `json:"target"`
	// Min and Max are the bounds of a range (三至五次: 3 and 5); equal to
	// Target for a single count, zero when Target is nil.
	Min int `json:"min,omitempty"`
	Max int `json:"max,omitempty"`
	// Unit is the measure word that was counted: 次, 户, 个, 场 …
	Unit string `json:"unit,omitempty"`
	// TargetText is the count as written, with its qualifier (不少于4次).
	TargetText string `json:"target_text"`
	// Activity is what is counted, as written, without the period and the
	// count (召开专题会议).
	Activity string `json:"activity"`
	// Note explains a reading that is not literal (每半年 → twice a year)
	// or why the count is to be set.
	Note string `json:"note,omitempty"`
}

// ReadQuantity reads the first countable promise in clause: a period word
// (每天 每周 每月 每季度 每半年 每年 全年 年内 …, or a trailing /月) before a
// count with a measure word (1次, 两户, 不少于4次, 3-5次, 三至五次, X次).
// It reports false when the clause holds none: a count without a period, a
// date (2019年), a percentage, an ordinal (第一), an upper bound (不超过3次)
// or a count of zero.
func ReadQuantity(clause string) (Quantity, bool) {
	return readQuantity(lineText(clause, 1))
}

// periodWord is a word that names a period, and how to read counts after
// it: a count per half year is read as twice the count per year.
type periodWord struct {
	word   string
	period string
	factor int
}

var periodWords = func() []periodWord {
	ws := []periodWord{
		{"每个工作日", PeriodDay, 1}, {"每工作日", PeriodDay, 1}, {"每天", PeriodDay, 1}, {"每日", PeriodDay, 1},
		{"天天", PeriodDay, 1}, {"日均", PeriodDay, 1},
		{"每个星期", PeriodWeek, 1}, {"每星期", PeriodWeek, 1}, {"每一周", PeriodWeek, 1}, {"每个周", PeriodWeek, 1},
		{"每周", PeriodWeek, 1}, {"周均", PeriodWeek, 1},
		{"每半个月", PeriodMonth, 2}, {"每半月", PeriodMonth, 2},
		{"每一个月", PeriodMonth, 1}, {"每个月", PeriodMonth, 1}, {"每一月", PeriodMonth, 1}, {"每月", PeriodMonth, 1},
		{"月均", PeriodMonth, 1}, {"按月", PeriodMonth, 1},
		{"每个季度", PeriodQuarter, 1}, {"每一季度", PeriodQuarter, 1}, {"每季度", PeriodQuarter, 1}, {"每季", PeriodQuarter, 1},
		{"季均", PeriodQuarter, 1}, {"按季度", PeriodQuarter, 1},
		{"每个半年", PeriodYear, 2}, {"每半年", PeriodYear, 2},
		{"每一年", PeriodYear, 1}, {"每个年度", PeriodYear, 1}, {"每年度", PeriodYear, 1}, {"每年", PeriodYear, 1},
		{"全年", PeriodYear, 1}, {"年内", PeriodYear, 1}, {"一年", PeriodYear, 1}, {"年均", PeriodYear, 1},
	}
	// Longest first, so that 每个季度 wins over 每季.
	sort.SliceStable(ws, func(i, j int) bool {
		return utf8.RuneCountInString(ws[i].word) > utf8.RuneCountInString(ws[j].word)
	})
	return ws
}()

// trailingPeriods are written after a count: 1次/月.
var trailingPeriods = []periodWord{
	{"/季度", PeriodQuarter, 1}, {"/工作日", PeriodDay, 1}, {"/星期", PeriodWeek, 1},
	{"/天", PeriodDay, 1}, {"/日", PeriodDay, 1}, {"/周", PeriodWeek, 1}, {"/月", PeriodMonth, 1},
	{"/季", PeriodQuarter, 1}, {"/年", PeriodYear, 1},
}

// units are the measure words a promise counts, longest first.
var units = []string{
	"人次", "户次", "场次", "个次",
	"次", "户", "个", "场", "篇", "人", "名", "家", "件", "天", "期", "项", "条", "堂", "节", "回", "趟", "轮", "份", "批",
}

// Qualifiers around a count.
var (
	atLeastBefore = []string{"不得少于", "不少于", "不低于", "至少", "最少", "最低", ">=", "≥"}
	atLeastAfter  = []string{"及以上", "以上"}
	atMostBefore  = []string{"不超过", "不多于", "不高于", "至多", "最多", "<=", "≤"}
	atMostAfter   = []string{"以内", "以下"}
	// fillers lead into the activity without being part of it.
	fillers = []string{"原则上", "按要求", "必须", "坚持", "确保", "保证", "力争", "都要", "均要", "要", "须", "应", "都", "均", "各", "分别"}
)

// found is a period word at [start, end) of a clause.
type found struct {
	start, end int
	w          periodWord
	note       string // set for a rhythm the ledger cannot hold
}

// periodsIn finds every period word in t, left to right, without overlaps.
func periodsIn(t text) []found {
	var out []found
	for i := 0; i < t.len(); {
		if f, ok := everyN(t, i); ok {
			out = append(out, f)
			i = f.end
			continue
		}
		matched := false
		for _, w := range periodWords {
			if !t.at(i, w.word) {
				continue
			}
			end := i + utf8.RuneCountInString(w.word)
			if w.word == "一年" && (t.at(end, "来") || t.at(end, "多")) {
				break // 一年来: looking back, not a promise
			}
			out = append(out, found{start: i, end: end, w: w})
			i, matched = end, true
			break
		}
		if !matched {
			i++
		}
	}
	return out
}

// everyN reads 每N个月 / 每N周 / 每N天 / 每N年 at i: every three months is a
// quarter, every six a half year; every two weeks has no ledger period.
func everyN(t text, i int) (found, bool) {
	if !t.at(i, "每") {
		return found{}, false
	}
	tok, ok := numberAt(t, i+1)
	if !ok || tok.placeholder || tok.unreadable != "" || tok.hi != tok.lo {
		return found{}, false
	}
	n, j := tok.lo, tok.end
	var span string
	for _, s := range []string{"个星期", "个月", "星期", "个季度", "月", "周", "天", "日", "年"} {
		if t.at(j, s) {
			span, j = s, j+utf8.RuneCountInString(s)
			break
		}
	}
	if span == "" {
		return found{}, false
	}
	f := found{start: i, end: j}
	word := string(t.orig[i:j])
	switch strings.TrimPrefix(span, "个") {
	case "月":
		switch n {
		case 1:
			f.w = periodWord{word, PeriodMonth, 1}
		case 3:
			f.w = periodWord{word, PeriodQuarter, 1}
		case 6:
			f.w = periodWord{word, PeriodYear, 2}
		case 12:
			f.w = periodWord{word, PeriodYear, 1}
		}
	case "星期", "周":
		if n == 1 {
			f.w = periodWord{word, PeriodWeek, 1}
		}
	case "天", "日":
		if n == 1 {
			f.w = periodWord{word, PeriodDay, 1}
		}
	case "季度":
		if n == 1 {
			f.w = periodWord{word, PeriodQuarter, 1}
		}
	case "年":
		if n == 1 {
			f.w = periodWord{word, PeriodYear, 1}
		}
	}
	if f.w.period == "" {
		f.w = periodWord{word: word, factor: 1}
		f.note = fmt.Sprintf("%s: no day, week, month, quarter or year fits this rhythm; set period and target", word)
	}
	return f, true
}

// number is a count token.
type number struct {
	start, end  int
	lo, hi      int
	placeholder bool   // X, XX, 若干: count to be set
	unreadable  string // why a numeral was not read
}

const cnDigits = "零〇一二两三四五六七八九"

func cnDigit(r rune) (int, bool) {
	switch r {
	case '零', '〇':
		return 0, true
	case '一':
		return 1, true
	case '二', '两':
		return 2, true
	case '三':
		return 3, true
	case '四':
		return 4, true
	case '五':
		return 5, true
	case '六':
		return 6, true
	case '七':
		return 7, true
	case '八':
		return 8, true
	case '九':
		return 9, true
	}
	return 0, false
}

func isCnNumeral(r rune) bool {
	return strings.ContainsRune(cnDigits+"十百千廿卅", r)
}

func isPlaceholder(r rune) bool {
	return strings.ContainsRune("Xx×*_□", r)
}

// numberAt reads a count token at i: digits, a Chinese numeral, two
// neighbouring Chinese digits meaning a range (两三, 三五), or a
// placeholder.
func numberAt(t text, i int) (number, bool) {
	n := t.norm
	if i >= len(n) {
		return number{}, false
	}
	switch r := n[i]; {
	case r >= '0' && r <= '9':
		j := i
		for j < len(n) && n[j] >= '0' && n[j] <= '9' {
			j++
		}
		if j-i > 6 {
			return number{start: i, end: j, unreadable: "the number is too large to be a count per period"}, true
		}
		v := 0
		for _, d := range n[i:j] {
			v = v*10 + int(d-'0')
		}
		return number{start: i, end: j, lo: v, hi: v}, true
	case isCnNumeral(r):
		j := i
		for j < len(n) && j-i < 8 && isCnNumeral(n[j]) {
			j++
		}
		s := n[i:j]
		for _, c := range s {
			if c == '廿' || c == '卅' {
				return number{start: i, end: j, unreadable: fmt.Sprintf("the numeral %s is not read; set the count", string(t.orig[i:j]))}, true
			}
		}
		if v, ok := cnValue(s); ok {
			return number{start: i, end: j, lo: v, hi: v}, true
		}
		if len(s) == 2 {
			a, ok1 := cnDigit(s[0])
			b, ok2 := cnDigit(s[1])
			if ok1 && ok2 && a > 0 && a < b {
				return number{start: i, end: j, lo: a, hi: b}, true
			}
		}
		return number{start: i, end: j, unreadable: fmt.Sprintf("the numeral %s is not read; set the count", string(t.orig[i:j]))}, true
	case isPlaceholder(r):
		j := i
		for j < len(n) && j-i < 4 && isPlaceholder(n[j]) {
			j++
		}
		return number{start: i, end: j, placeholder: true}, true
	case t.at(i, "若干"):
		return number{start: i, end: i + 2, placeholder: true}, true
	}
	return number{}, false
}

// cnValue reads a Chinese numeral up to 9999 (十二, 二十, 一百零五, 两千).
func cnValue(s []rune) (int, bool) {
	total, digit, lastUnit := 0, -1, 10000
	sawZero := false
	for _, r := range s {
		if d, ok := cnDigit(r); ok {
			if d == 0 {
				if digit >= 0 {
					return 0, false
				}
				sawZero = true
				continue
			}
			if digit >= 0 {
				return 0, false // two digits in a row: 三五 is not one number
			}
			digit = d
			continue
		}
		unit := map[rune]int{'十': 10, '百': 100, '千': 1000}[r]
		if unit == 0 || unit >= lastUnit {
			return 0, false
		}
		if digit < 0 {
			if unit != 10 || total != 0 || sawZero {
				return 0, false
			}
			digit = 1 // 十二
		}
		total += digit * unit
		digit, lastUnit, sawZero = -1, unit, false
	}
	if digit >= 0 {
		total += digit
	}
	return total, len(s) > 0
}

// countAt reads a count with its measure word at i: a number, an optional
// range to a second number, an optional 余/多 and a unit.
func countAt(t text, i int) (lo, hi number, unit string, end int, ok bool) {
	lo, ok = numberAt(t, i)
	if !ok {
		return
	}
	hi, j := lo, lo.end
	for _, sep := range []string{"-", "~", "至", "到"} {
		if !t.at(j, sep) {
			continue
		}
		k := j + utf8.RuneCountInString(sep)
		if second, ok2 := numberAt(t, k); ok2 && !second.placeholder && !lo.placeholder {
			hi, j = second, second.end
		}
		break
	}
	if t.at(j, "余") || t.at(j, "多") {
		j++
	}
	for _, u := range units {
		if t.at(j, u) {
			unit, end = u, j+utf8.RuneCountInString(u)
			break
		}
	}
	if unit == "" {
		return lo, hi, "", lo.end, false
	}
	// 一次性 is "once and for all"; 1个月 is a span of time, not a count.
	if unit == "次" && t.at(end, "性") {
		return lo, hi, "", lo.end, false
	}
	if unit == "个" {
		for _, s := range []string{"月", "星期", "季度", "工作日", "小时", "年"} {
			if t.at(end, s) {
				return lo, hi, "", lo.end, false
			}
		}
	}
	return lo, hi, unit, end, true
}

func readQuantity(t text) (Quantity, bool) {
	periods := periodsIn(t)
	next := 0 // the first period word that does not end before i
	for i := 0; i < t.len(); {
		for next < len(periods) && periods[next].end <= i {
			next++
		}
		if next < len(periods) && periods[next].start <= i {
			i = periods[next].end // a period word is no count
			continue
		}
		lo, hi, unit, end, ok := countAt(t, i)
		if !ok {
			if lo.end > i {
				i = lo.end
			} else {
				i++
			}
			continue
		}
		if q, ok := promise(t, periods, lo, hi, unit, end); ok {
			return q, true
		}
		i = end
	}
	return Quantity{}, false
}

// promise decides whether the count [lo.start, end) is a promise, and reads
// it.
func promise(t text, periods []found, lo, hi number, unit string, end int) (Quantity, bool) {
	n := t.norm
	start := lo.start
	// Not counts: an ordinal (第一次), a decimal (1.5次), a percentage.
	if start > 0 && n[start-1] == '第' {
		return Quantity{}, false
	}
	if start > 1 && n[start-1] == '.' && unicode.IsDigit(n[start-2]) {
		return Quantity{}, false
	}
	if t.at(lo.end, ".") && lo.end+1 < len(n) && unicode.IsDigit(n[lo.end+1]) {
		return Quantity{}, false
	}
	if t.at(lo.end, "%") {
		return Quantity{}, false
	}
	before := trimLeftSpace(t, start)
	for _, w := range atMostBefore {
		if endsWith(t, before, w) {
			return Quantity{}, false
		}
	}
	qualStart := start
	for _, w := range atLeastBefore {
		if endsWith(t, before, w) {
			qualStart = before - utf8.RuneCountInString(w)
			break
		}
	}
	after := end
	for _, w := range atMostAfter {
		if t.at(after, w) {
			return Quantity{}, false
		}
	}
	for _, w := range atLeastAfter {
		if t.at(after, w) {
			after += utf8.RuneCountInString(w)
			break
		}
	}

	// The period: the nearest period word before the count, else one
	// written right after it (1次/月).
	if !lo.placeholder && lo.unreadable == "" && (lo.lo == 0 || hi.hi == 0) {
		return Quantity{}, false
	}
	var p *found
	// Period words do not overlap and come in order: k is the first that
	// ends after the count starts.
	k := sort.Search(len(periods), func(k int) bool { return periods[k].end > qualStart })
	if k > 0 {
		p = &periods[k-1]
	}
	tail := after
	if p == nil {
		for _, w := range trailingPeriods {
			if t.at(after, w.word) {
				wl := utf8.RuneCountInString(w.word)
				p = &found{start: after, end: after + wl, w: w}
				tail = after + wl
				break
			}
		}
	}
	if p == nil {
		return Quantity{}, false
	}

	q := Quantity{
		Period:     p.w.period,
		PeriodText: string(t.orig[p.start:p.end]),
		Unit:       unit,
		TargetText: string(t.orig[qualStart:after]),
		Note:       p.note,
	}
	switch {
	case lo.placeholder:
		q.Note = joinNote(q.Note, "count to be set: "+q.TargetText)
	case lo.unreadable != "" || hi.unreadable != "":
		q.Note = joinNote(q.Note, lo.unreadable+hi.unreadable)
	default:
		a, b := min(lo.lo, hi.hi), max(lo.lo, hi.hi)
		f := max(p.w.factor, 1)
		a, b = a*f, b*f
		q.Target, q.Min, q.Max = &a, a, b
		if f != 1 {
			q.Note = joinNote(q.Note, fmt.Sprintf("%s %s read as %s per %s", q.PeriodText, q.TargetText, countText(a, b), p.w.period))
		}
		if a != b {
			q.Note = joinNote(q.Note, fmt.Sprintf("range %d-%d: the target is the lower bound", a, b))
		}
	}

	// The activity: what lies between the period word and the count, and
	// what follows the count, without qualifiers and fillers.
	var act text
	if p.start < start {
		act = t.slice(p.end, qualStart)
	} else {
		act = t.slice(0, qualStart)
	}
	act = act.cut(atLeastBefore...).trimPunct()
	act = stripFillers(act)
	rest := t.slice(tail, t.len())
	if rest.at(0, "的") {
		rest = rest.slice(1, rest.len())
	}
	act = concat(act, rest.trimPunct()).trimPunct()
	if act.len() <= 2 && p.start < start {
		// 支委会每月召开2次: 召开 alone is no activity; its subject says which.
		from := 0
		if k > 1 {
			from = periods[k-2].end // 全年每月召开1次: 全年 is no subject
		}
		if subject := stripFillers(t.slice(from, p.start).trimPunct()); subject.len() > 0 {
			act = concat(subject, act)
		}
	}
	q.Activity = clip(act.oneLine(), events.MaxShortLen)
	return q, true
}

func countText(a, b int) string {
	if a == b {
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("%d-%d", a, b)
}

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// trimLeftSpace returns the index after the last non-space before i.
func trimLeftSpace(t text, i int) int {
	for i > 0 && unicode.IsSpace(t.norm[i-1]) {
		i--
	}
	return i
}

func endsWith(t text, end int, w string) bool {
	return t.at(end-utf8.RuneCountInString(w), w)
}

func stripFillers(t text) text {
	for changed := true; changed; {
		changed = false
		for _, f := range fillers {
			if t.at(0, f) && t.len() > utf8.RuneCountInString(f) {
				t = t.slice(utf8.RuneCountInString(f), t.len()).trimPunct()
				changed = true
			}
		}
	}
	return t
}

// Ledger is the form a commitment takes in the ledger, which counts per
// week, month or quarter only.
type Ledger struct {
	// Period is week, month or quarter; empty when none can be proposed.
	Period string `json:"period,omitempty"`
	// Target is the count per Period; 0 when it is to be set.
	Target int `json:"target,omitempty"`
	// Confirm is true when the form is a reading rather than the report's
	// own words (a yearly count spread over quarters, a daily count over a
	// week) or is incomplete: Commands refuses it until the reviewer accepts
	// it or sets period and target.
	Confirm bool `json:"confirm,omitempty"`
	// Note says how the form was reached.
	Note string `json:"note,omitempty"`
}

// LedgerFor proposes the ledger form of q:
//
//   - week, month and quarter are kept as they are;
//   - a count per day becomes 5× per week (working days), to be confirmed:
//     whether weekends count is the reviewer's call;
//   - a count per year becomes a count per quarter, to be confirmed: N/4
//     when N divides by four (全年不少于4次 → 1 per quarter), else the next
//     whole number above, which is stricter than the report (2 per year →
//     1 per quarter means 4 a year), and the note says so;
//   - a count to be set, or a rhythm no period fits, proposes what it can
//     and must be completed.
func LedgerFor(q Quantity) Ledger {
	l := Ledger{}
	target := 0
	if q.Target != nil {
		target = *q.Target
	}
	switch q.Period {
	case PeriodWeek, PeriodMonth, PeriodQuarter:
		l.Period, l.Target = q.Period, target
	case PeriodDay:
		l.Period, l.Target, l.Confirm = PeriodWeek, target*5, true
		if target > 0 {
			l.Note = fmt.Sprintf("%d per day read as %d per week of five working days; use %d if weekends count", target, target*5, target*7)
		}
	case PeriodYear:
		l.Period, l.Confirm = PeriodQuarter, true
		if target > 0 {
			l.Target = (target + 3) / 4
			if target%4 == 0 {
				l.Note = fmt.Sprintf("%d per year read as %d per quarter", target, target/4)
			} else {
				l.Note = fmt.Sprintf("%d per year has no exact quarterly form: %d per quarter asks for %d a year", target, l.Target, l.Target*4)
			}
		}
	default:
		l.Target, l.Confirm = target, true
		l.Note = "no ledger period fits; set period and target"
	}
	if q.Target == nil {
		l.Target, l.Confirm = 0, true
		l.Note = joinNote(l.Note, "count to be set")
	}
	return l
}
