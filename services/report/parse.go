package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"rectify/events"
)

// Parse reads an annual work report (述职报告) as plain text and proposes a
// draft ledger from it. It reads UTF-8 (with or without a byte order mark),
// UTF-16 with a byte order mark, and GB18030.
//
// How the report is read:
//
//  1. Lines that are not part of the report are left out and listed in
//     Draft.Skipped with a reason: page numbers, web addresses, contact
//     lines, advertising, watermarks, decoration, and short lines that
//     occur three times or more (page headers and footers).
//  2. Headings are found by their numbering (see the rank constants:
//     一、 （一） 1. （1） ①, full-width or half-width alike, and unnumbered
//     section names such as 存在的问题 or 下一步工作打算), and the text is
//     arranged under them.
//  3. Each top-level section is classified by its heading's words:
//     problems (问题, 不足), causes (原因 on its own), plans (下一步, 打算,
//     思路, 措施 …), problems with their measures (问题及整改措施), or other
//     work. Only problems and plans become entries.
//  4. Every sub-heading of a problems section is a problem; without
//     sub-headings, an inline enumeration (一是…二是…) or else each
//     paragraph is. A problem's title is its first sentence; its causes
//     follow a label (原因分析：, 究其原因, 主要原因是 …) and are split at their
//     enumeration or at semicolons.
//  5. Every sub-heading of a plans section is a work area; its measures are
//     its inline enumeration, else its sub-headings, else its paragraphs.
//     Areas are tied to problems as match.go explains; measures of an area
//     tied to no problem are listed in Draft.Unmatched.
//  6. Every clause (split at full stops, semicolons and commas) of the
//     plans that holds a countable promise becomes a commitment; see
//     ReadQuantity and LedgerFor.
//
// Parse fails only when the input cannot be read as text: CodeInvalid for
// a file larger than MaxInputSize or in none of the encodings above,
// CodeUnavailable when r fails. A text that has nothing of a report's
// shape gives an empty draft with warnings.
func Parse(r io.Reader) (Draft, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxInputSize+1))
	if err != nil {
		return Draft{}, events.Wrap(events.CodeUnavailable, err, "read report")
	}
	if len(b) > MaxInputSize {
		return Draft{}, events.Errorf(events.CodeInvalid, "the report is larger than %d MiB", MaxInputSize>>20)
	}
	return parse(b)
}

// problem is a problem as read, before keys are given out.
type problem struct {
	head, full text
	title      text
	desc       text
	causes     []text
	measures   []measure
}

type measure struct {
	text  text
	area  string
	match string
}

// area is a work area of a plans section.
type area struct {
	n        *node // nil for the body of a section without sub-headings
	title    text
	all      text
	measures []text
}

func parse(b []byte) (Draft, error) {
	s, enc, warnings, err := decode(b)
	if err != nil {
		return Draft{}, err
	}
	sum := sha256.Sum256(b)
	d := Draft{
		Encoding: enc, Digest: hex.EncodeToString(sum[:]), Warnings: warnings,
		Sections: []DraftSection{}, Items: []DraftItem{}, Commitments: []DraftCommitment{}, Skipped: []SkippedLine{},
	}
	raw := splitLines(s)
	d.Lines = len(raw)
	lines := make([]text, len(raw))
	for i, l := range raw {
		lines[i] = lineText(l, i+1)
	}
	reasons := markNoise(lines)
	// The closing formula ends the report, once a heading has been seen.
	headed := false
	for i, t := range lines {
		if reasons[i] != "" {
			continue
		}
		t = t.trimSpace()
		if _, ok := headingOf(t); ok && t.len() > 0 {
			headed = true
		} else if headed && isClosing(t) {
			for j := i; j < len(lines); j++ {
				if reasons[j] == "" && lines[j].trimSpace().len() > 0 {
					reasons[j] = ReasonClosing
				}
			}
			break
		}
	}
	var kept []text
	for i, t := range lines {
		if reasons[i] != "" {
			d.Skipped = append(d.Skipped, SkippedLine{Line: i + 1, Text: raw[i], Reason: reasons[i]})
			continue
		}
		if t = t.trimSpace(); t.len() > 0 {
			kept = append(kept, t)
		}
	}
	root := buildTree(kept)
	d.Title, d.Unit, d.Year = preamble(root.paras)

	var (
		problems   []*problem
		causeTexts []text
		plans      []int // indexes into d.Sections of plans sections
		plansNodes []*node
		mixed      []*problem
	)
	for _, sec := range root.kids {
		kind := sectionKind(sec.title().folded())
		d.Sections = append(d.Sections, DraftSection{Kind: kind, Title: sec.title().oneLine(), Line: sec.line.line()})
		switch kind {
		case SectionProblems, SectionMixed:
			ps, cs := problemsOf(sec)
			for _, p := range ps {
				if p.full.trimPunct().len() == 0 {
					continue // a numbering with nothing after it
				}
				problems = append(problems, p)
				if kind == SectionMixed {
					mixed = append(mixed, p)
				}
			}
			causeTexts = append(causeTexts, cs...)
		case SectionCauses:
			causeTexts = append(causeTexts, listOf(sec)...)
		case SectionPlans:
			plans = append(plans, len(d.Sections)-1)
			plansNodes = append(plansNodes, sec)
		}
	}

	texts := make([]string, len(problems))
	for i, p := range problems {
		var b strings.Builder
		b.WriteString(p.full.folded())
		for _, c := range p.causes {
			b.WriteString("\n")
			b.WriteString(c.folded())
		}
		texts[i] = b.String()
	}
	sc := newScorer(texts)

	// Causes written in a section of their own.
	causeTexts = slices.DeleteFunc(causeTexts, func(t text) bool { return t.len() == 0 })
	if len(causeTexts) > 0 {
		ts := make([]string, len(causeTexts))
		for i, c := range causeTexts {
			ts[i] = c.folded()
		}
		to, _ := sc.match(ts)
		for i, c := range causeTexts {
			if to[i] < 0 {
				d.UnmatchedCauses = append(d.UnmatchedCauses, Excerpt{Text: c.String(), Line: c.line()})
				continue
			}
			problems[to[i]].causes = append(problems[to[i]].causes, c)
		}
	}

	// Next year's work: measures per area, tied to problems.
	var loose []measure
	var promises []pending
	for k, sec := range plansNodes {
		areas := areasOf(sec)
		var to []int
		var how string
		if len(areas) == 1 && areas[0].n == nil {
			// No work areas: tie each measure on its own.
			for _, m := range areas[0].measures {
				i := sc.best(m.folded())
				addMeasure(problems, &loose, i, measure{text: m, match: matchOf(i, MatchKeywords)})
				promises = append(promises, pendingIn(m, i)...)
			}
			how = MatchKeywords
		} else {
			ts := make([]string, len(areas))
			for i, a := range areas {
				ts[i] = a.all.folded()
			}
			to, how = sc.match(ts)
			promises = append(promises, pendingIn(sec.body(), -1)...)
			for i, a := range areas {
				for _, m := range a.measures {
					addMeasure(problems, &loose, to[i], measure{text: m, area: a.title.oneLine(), match: matchOf(to[i], how)})
				}
				promises = append(promises, pendingIn(a.all, to[i])...)
			}
		}
		if len(problems) > 0 {
			d.Sections[plans[k]].Match = how
		}
	}
	for _, p := range mixed {
		for _, m := range p.measures {
			if m.match == MatchInline {
				promises = append(promises, pendingIn(m.text, indexOf(problems, p))...)
			}
		}
	}
	// Commitments in the order of the report: mixed sections come before
	// the plans.
	sort.SliceStable(promises, func(i, j int) bool { return promises[i].t.line() < promises[j].t.line() })

	// Keys, in the order of the report.
	for i, p := range problems {
		key := "p" + strconv.Itoa(i+1)
		it := DraftItem{
			Key: key, Title: clip(p.title.oneLine(), events.MaxTitleLen), Text: p.desc.String(),
			Causes: []string{}, Measures: []DraftMeasure{}, Line: p.title.line(),
		}
		if it.Line == 0 {
			it.Line = p.full.line()
		}
		for _, c := range p.causes {
			it.Causes = append(it.Causes, c.String())
		}
		for j, m := range p.measures {
			it.Measures = append(it.Measures, DraftMeasure{
				Key: fmt.Sprintf("%s.m%d", key, j+1), Text: m.text.String(), Line: m.text.line(), Area: m.area, Match: m.match,
			})
		}
		it.Category = categoryOf(p.title.folded(), p.full.folded())
		d.Items = append(d.Items, it)
	}
	for i, m := range loose {
		d.Unmatched = append(d.Unmatched, DraftMeasure{
			Key: "u" + strconv.Itoa(i+1), Text: m.text.String(), Line: m.text.line(), Area: m.area, Match: MatchUnmatched,
		})
	}
	for _, pr := range promises {
		c := stripEnumerator(pr.t)
		q, ok := readQuantity(c)
		if !ok {
			continue
		}
		title := c
		if utf8.RuneCountInString(q.Activity) <= 2 && pr.ctx.len() > 0 {
			// 建立党员信息台账，每季度更新两次: the clause alone says too little.
			title = stripEnumerator(pr.ctx)
		}
		dc := DraftCommitment{
			Key:      "c" + strconv.Itoa(len(d.Commitments)+1),
			Title:    clip(title.oneLine(), events.MaxTitleLen),
			Text:     pr.t.String(),
			Quantity: q,
			Ledger:   LedgerFor(q),
			Line:     pr.t.line(),
		}
		if pr.item >= 0 {
			dc.Item = d.Items[pr.item].Key
		}
		d.Commitments = append(d.Commitments, dc)
	}

	if !hasKind(d.Sections, SectionProblems, SectionMixed) {
		d.Warnings = append(d.Warnings, "no section of problems found (存在的问题, 存在问题及原因分析 …): no items proposed")
	}
	if !hasKind(d.Sections, SectionPlans, SectionMixed) {
		d.Warnings = append(d.Warnings, "no section of next year's work found (下一步工作打算, 下一步重点工作思路 …): no measures or commitments proposed")
	}
	if n := len(d.Unmatched); n > 0 {
		d.Warnings = append(d.Warnings, plural(n, "measure answers no problem clearly; attach it to an item in the review or leave it out", "measures answer no problem clearly; attach them to items in the review or leave them out"))
	}
	return d, nil
}

// pending is a clause that may hold a promise, with the item its work
// area was tied to (-1: none).
type pending struct {
	t text
	// ctx is the clause together with the one before it in its sentence,
	// when that one holds no promise of its own.
	ctx  text
	item int
}

func pendingIn(t text, item int) []pending {
	cs := clauses(t)
	out := make([]pending, 0, len(cs))
	for i, c := range cs {
		p := pending{t: c.t, item: item}
		if i > 0 && c.comma {
			if _, ok := readQuantity(stripEnumerator(cs[i-1].t)); !ok {
				p.ctx = t.slice(cs[i-1].start, c.end).cut("\n").trimPunct()
			}
		}
		out = append(out, p)
	}
	return out
}

func addMeasure(problems []*problem, loose *[]measure, i int, m measure) {
	if m.text.len() == 0 {
		return
	}
	if i < 0 {
		m.match = MatchUnmatched
		*loose = append(*loose, m)
		return
	}
	problems[i].measures = append(problems[i].measures, m)
}

func matchOf(i int, how string) string {
	if i < 0 {
		return MatchUnmatched
	}
	return how
}

func indexOf(ps []*problem, p *problem) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

func hasKind(ss []DraftSection, kinds ...string) bool {
	for _, s := range ss {
		for _, k := range kinds {
			if s.Kind == k {
				return true
			}
		}
	}
	return false
}

// sectionKind classifies a top-level heading by its words.
func sectionKind(title string) string {
	has := func(words ...string) bool { return containsAny(title, words) }
	problem := has("问题", "不足", "差距", "短板", "薄弱")
	switch {
	case has("原因", "成因") && !has("及原因", "和原因", "与原因", "及其原因", "及成因", "原因分析") || has("原因分析") && !problem:
		return SectionCauses
	case problem && has("及整改", "和整改", "与整改", "及改进", "和改进", "及措施", "和措施", "及下一步", "和下一步", "及努力方向", "和努力方向", "及今后"):
		return SectionMixed
	case !problem && has("情况", "做法", "成效", "回顾", "成绩", "经验"):
		return SectionWork
	case has("下一步", "下步", "打算", "思路", "计划", "努力方向", "今后", "明年", "措施", "举措", "重点工作", "工作安排"):
		return SectionPlans
	case problem:
		return SectionProblems
	}
	return SectionWork
}

// problemsOf reads the problems of a problems section, and the causes of a
// sub-section of its own (（二）原因分析) when there is one.
func problemsOf(sec *node) ([]*problem, []text) {
	var ps []*problem
	var causes []text
	if len(sec.kids) == 0 {
		for _, t := range listText(sec.body()) {
			ps = append(ps, readProblem(t, t))
		}
		return ps, nil
	}
	for _, k := range sec.kids {
		title := k.title()
		group := len(k.kids) > 0 && title.len() <= 12
		switch {
		case group && strings.Contains(title.folded(), "原因"):
			causes = append(causes, listOf(k)...)
		case group && containsAny(title.folded(), []string{"问题", "不足", "表现"}):
			for _, kk := range k.kids {
				ps = append(ps, readProblem(kk.head, kk.content()))
			}
		default:
			ps = append(ps, readProblem(k.head, k.content()))
		}
	}
	return ps, causes
}

// listOf reads the entries of a section: its sub-headings, else its inline
// enumeration, else its paragraphs.
func listOf(sec *node) []text {
	if len(sec.kids) == 0 {
		return listText(sec.body())
	}
	var out []text
	for _, k := range sec.kids {
		out = append(out, k.content().trimPunct())
	}
	return out
}

func listText(t text) []text {
	if _, parts := enumerate(t); len(parts) >= 2 {
		for i := range parts {
			parts[i] = stripEnumerator(parts[i])
		}
		return parts
	}
	return paragraphs(t)
}

// Labels that open a problem's causes or measures.
var (
	causeLabels   = []string{"原因分析", "究其原因", "分析原因", "主要原因是", "主要原因", "原因是", "原因:", "产生问题的原因", "存在问题的原因", "问题原因", "深层次原因"}
	measureLabels = []string{"整改措施", "改进措施", "整改方向", "措施:", "下一步", "下步"}
)

// readProblem splits a problem into description, causes and measures at
// their labels.
func readProblem(head, full text) *problem {
	p := &problem{head: head, full: full}
	p.title = titleOf(head)
	if p.title.len() == 0 {
		p.title = titleOf(full)
	}
	type label struct {
		at, end int
		cause   bool
	}
	var labels []label
	for i := 0; i < full.len(); i++ {
		if i > 0 && !isSeparator(full.norm[i-1]) && full.norm[i-1] != '\n' {
			continue
		}
		if n, cause := labelAt(full, i); n > 0 {
			labels = append(labels, label{i, i + n, cause})
			i += n - 1
		}
	}
	if len(labels) == 0 {
		p.desc = full.trimPunct()
		return p
	}
	p.desc = full.slice(0, labels[0].at).trimPunct()
	for k, l := range labels {
		end := full.len()
		if k+1 < len(labels) {
			end = labels[k+1].at
		}
		part := full.slice(l.end, end).trimPunct()
		if part.len() == 0 {
			continue
		}
		for _, item := range splitList(part) {
			if l.cause {
				p.causes = append(p.causes, item)
			} else {
				p.measures = append(p.measures, measure{text: item, match: MatchInline})
			}
		}
	}
	if p.desc.len() == 0 {
		p.desc = p.title
	}
	return p
}

// labelAt returns the length of a cause or measure label at i, 0 when
// there is none.
func labelAt(t text, i int) (n int, cause bool) {
	for _, w := range causeLabels {
		if t.at(i, w) {
			return utf8.RuneCountInString(w), true
		}
	}
	for _, w := range measureLabels {
		if t.at(i, w) {
			return utf8.RuneCountInString(w), false
		}
	}
	return 0, false
}

// splitList splits causes or measures at their enumeration, else at
// semicolons. An introduction before the enumeration is kept when it says
// something (more than a lead-in like 主要有以下两个方面：).
func splitList(t text) []text {
	intro, parts := enumerate(t)
	if len(parts) >= 2 {
		var out []text
		if intro.len() > 15 {
			out = append(out, intro)
		}
		for _, p := range parts {
			out = append(out, stripEnumerator(p))
		}
		return out
	}
	var out []text
	start := 0
	for i, r := range t.norm {
		if r == ';' || r == '；' {
			if p := t.slice(start, i).trimPunct(); p.len() > 0 {
				out = append(out, p)
			}
			start = i + 1
		}
	}
	if p := t.slice(start, t.len()).trimPunct(); p.len() > 0 {
		out = append(out, p)
	}
	return out
}

// areasOf reads the work areas of a plans section and their measures.
func areasOf(sec *node) []area {
	if len(sec.kids) == 0 {
		return []area{{all: sec.body(), measures: measuresOf(sec.body(), nil)}}
	}
	var out []area
	for _, k := range sec.kids {
		_, rest := firstSentence(k.head)
		a := area{n: k, title: k.title(), all: k.content()}
		a.measures = measuresOf(rest.join(k.body()), k.kids)
		if len(a.measures) == 0 {
			a.measures = []text{a.title}
		}
		out = append(out, a)
	}
	return out
}

func measuresOf(t text, kids []*node) []text {
	if _, parts := enumerate(t); len(parts) >= 2 {
		for i := range parts {
			parts[i] = stripEnumerator(parts[i])
		}
		return parts
	}
	if len(kids) > 0 {
		var out []text
		for _, k := range kids {
			out = append(out, k.content().trimPunct())
		}
		return out
	}
	var out []text
	for _, p := range paragraphs(t) {
		out = append(out, p.trimPunct())
	}
	return out
}

// Org-name endings for Draft.Unit, longest first.
var unitSuffixes = []string{"街道办事处", "党工委", "委员会", "党总支", "党支部", "工委", "党委", "办事处", "总支", "支部", "社区", "街道", "党组"}

// preamble finds the title, the author unit and the year among the lines
// before the first heading.
func preamble(lines []text) (title, unit string, year int) {
	var t text
	for _, l := range lines {
		if l.len() <= 80 && containsAny(l.folded(), []string{"报告", "述职", "总结", "汇报"}) {
			t = l
			break
		}
	}
	if t.len() == 0 && len(lines) > 0 && lines[0].len() <= 80 {
		t = lines[0]
	}
	title = t.oneLine()
	cands := []text{t}
	for _, l := range lines {
		if l.len() <= 40 {
			cands = append(cands, l)
		}
	}
	for _, c := range cands {
		if u := unitOf(c); u != "" {
			unit = u
			break
		}
	}
	for _, c := range cands {
		if y := yearOf(c.folded()); y != 0 {
			year = y
			break
		}
	}
	return title, unit, year
}

// unitOf reads an organisation's name at the start of a line: the text
// before the first digit, 年度, 书记 … when it ends like a unit's name.
func unitOf(t text) string {
	n := t.norm
	end := len(n)
	for i, r := range n {
		if r >= '0' && r <= '9' || r == ' ' || r == '(' || r == '（' || r == ':' {
			end = i
			break
		}
		stop := false
		for _, w := range []string{"年度", "书记", "主任", "述职", "关于", "抓基层", "党建工作", "工作报告"} {
			if t.at(i, w) {
				stop = true
				break
			}
		}
		if stop {
			end = i
			break
		}
	}
	prefix := t.slice(0, end)
	for e := prefix.len(); e >= 3; e-- {
		for _, s := range unitSuffixes {
			if endsWith(prefix, e, s) {
				return string(prefix.orig[:e])
			}
		}
	}
	return ""
}

// yearOf finds the first 19xx or 20xx followed by 年.
func yearOf(s string) int {
	rs := []rune(s)
	for i := 0; i+4 < len(rs); i++ {
		if (i == 0 || rs[i-1] < '0' || rs[i-1] > '9') && rs[i+4] == '年' {
			if y, err := strconv.Atoi(string(rs[i : i+4])); err == nil && y >= 1949 && y <= 2100 {
				return y
			}
		}
	}
	return 0
}

// categories suggest an item's category from its words. Words in the
// title count three times.
var categories = []struct {
	name  string
	words []string
}{
	{"思想建设", []string{"理论学习", "学习教育", "思想", "意识形态", "理论武装", "政治学习"}},
	{"组织建设", []string{"组织建设", "支部", "党组织", "换届", "发展党员", "党员教育", "党员管理", "组织生活", "三会一课", "覆盖"}},
	{"作风建设", []string{"作风", "形式主义", "官僚主义", "廉洁", "廉政", "纪律"}},
	{"责任落实", []string{"主体责任", "责任制", "一岗双责", "责任落实", "考核"}},
	{"服务群众", []string{"服务群众", "群众", "弱势群体", "走访", "民生"}},
	{"队伍建设", []string{"队伍", "干部", "社区工作者", "人才", "能力"}},
	{"阵地建设", []string{"阵地", "活动场所", "党群服务中心", "服务站"}},
}

func categoryOf(title, full string) string {
	best, bestScore := "", 0
	for _, c := range categories {
		score := 0
		for _, w := range c.words {
			score += 3*strings.Count(title, w) + strings.Count(full, w)
		}
		if score > bestScore {
			best, bestScore = c.name, score
		}
	}
	return best
}
