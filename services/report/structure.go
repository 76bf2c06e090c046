package report

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Heading ranks, outermost first. Numbered styles follow the order of
// Chinese official documents (GB/T 9704: 一、 （一） 1. （1）) with ① below
// them; a report may skip a level (一、 then 1.) and the tree still comes
// out right, since a heading closes every open heading of the same or a
// lower rank. Unnumbered section headings (存在的问题) and 第一部分 rank
// above all numbered styles, so that a report with plain sections may
// number the entries inside them with 一、.
const (
	rankRoot     = -1
	rankPlain    = 0 // 存在的问题, 下一步工作打算, 第一部分
	rankCn       = 1 // 一、 一． 一,
	rankParenCn  = 2 // （一） (一)
	rankNum      = 3 // 1. 1、 1． ⒈
	rankParenNum = 4 // （1） (1) 1) ⑴
	rankCircled  = 5 // ①
)

// heading is the numbering at the start of a line.
type heading struct {
	rank int
	num  int // the number, 0 for a plain heading
	rest int // where the heading's own text starts in the line
}

// plainHeadings are the unnumbered lines that open a section.
var plainHeadings = []string{
	"存在的问题", "存在问题", "存在的不足", "存在不足", "问题和不足", "问题与不足", "不足之处", "主要问题", "差距和不足",
	"原因分析", "问题原因",
	"下一步", "下步", "工作打算", "工作思路", "工作计划", "努力方向", "今后", "明年",
	"主要工作", "工作开展情况", "主要做法", "经验做法", "履职情况", "工作成效", "基本情况", "工作回顾",
}

// headingOf reads the numbering of a trimmed line.
func headingOf(t text) (heading, bool) {
	n := t.norm
	if len(n) == 0 {
		return heading{}, false
	}
	h, ok := numbered(t)
	if !ok {
		return plainHeading(t)
	}
	// The heading's text starts after the marker and any stray 、. or space.
	for h.rest < len(n) && (unicode.IsSpace(n[h.rest]) || strings.ContainsRune("、.,:", n[h.rest])) {
		h.rest++
	}
	return h, true
}

func numbered(t text) (heading, bool) {
	n := t.norm
	r := n[0]
	switch {
	case r >= '①' && r <= '⑳':
		return heading{rank: rankCircled, num: int(r-'①') + 1, rest: 1}, true
	case r >= '⑴' && r <= '⒇':
		return heading{rank: rankParenNum, num: int(r-'⑴') + 1, rest: 1}, true
	case r >= '⒈' && r <= '⒛':
		return heading{rank: rankNum, num: int(r-'⒈') + 1, rest: 1}, true
	case r == '(' || r == '〔' || r == '[' || r == '【':
		close := map[rune]rune{'(': ')', '〔': '〕', '[': ']', '【': '】'}[r]
		if v, end, ok := cnOrdinal(n, 1); ok && end < len(n) && n[end] == close {
			return heading{rank: rankParenCn, num: v, rest: end + 1}, true
		}
		if v, end, ok := arabic(n, 1); ok && end < len(n) && n[end] == close {
			return heading{rank: rankParenNum, num: v, rest: end + 1}, true
		}
	case r >= '0' && r <= '9':
		v, end, ok := arabic(n, 0)
		if !ok || end >= len(n) {
			return heading{}, false
		}
		switch n[end] {
		case ')':
			return heading{rank: rankParenNum, num: v, rest: end + 1}, true
		case '.', '、', ',':
			if end+1 < len(n) && unicode.IsDigit(n[end+1]) {
				return heading{}, false // 1.5万元
			}
			return heading{rank: rankNum, num: v, rest: end + 1}, true
		}
	case r == '第':
		if v, end, ok := cnOrdinal(n, 1); ok {
			for _, w := range []string{"部分", "章", "篇"} {
				if t.at(end, w) {
					return heading{rank: rankPlain, num: v, rest: end + utf8.RuneCountInString(w)}, true
				}
			}
		}
	default:
		if v, end, ok := cnOrdinal(n, 0); ok && end < len(n) && strings.ContainsRune("、.,", n[end]) {
			return heading{rank: rankCn, num: v, rest: end + 1}, true
		}
	}
	return heading{}, false
}

// plainHeading recognises an unnumbered section heading: a short line
// without sentence punctuation that names a section.
func plainHeading(t text) (heading, bool) {
	s := strings.TrimRight(t.folded(), ":： ")
	if utf8.RuneCountInString(s) > 20 || strings.ContainsAny(s, "。;；,，") {
		return heading{}, false
	}
	for _, w := range plainHeadings {
		if strings.Contains(s, w) {
			return heading{rank: rankPlain, rest: 0}, true
		}
	}
	return heading{}, false
}

// cnOrdinal reads a Chinese numeral of at most three characters (一 … 九十九)
// at i.
func cnOrdinal(n []rune, i int) (int, int, bool) {
	j := i
	for j < len(n) && j-i < 3 && strings.ContainsRune("一二三四五六七八九十", n[j]) {
		j++
	}
	if j == i {
		return 0, i, false
	}
	v, ok := cnValue(n[i:j])
	if !ok || v < 1 || v > 99 {
		return 0, i, false
	}
	return v, j, true
}

// arabic reads one or two digits at i.
func arabic(n []rune, i int) (int, int, bool) {
	j := i
	for j < len(n) && j-i < 3 && n[j] >= '0' && n[j] <= '9' {
		j++
	}
	if j == i || j-i > 2 {
		return 0, i, false
	}
	v := 0
	for _, d := range n[i:j] {
		v = v*10 + int(d-'0')
	}
	return v, j, v > 0
}

// node is a heading with what stands under it: the text of its own line,
// the lines up to its first sub-heading, and its sub-headings.
type node struct {
	h     heading
	line  text   // the whole line, numbering included
	head  text   // the line after the numbering
	paras []text // the lines under the heading, before its first child
	kids  []*node
}

func (n *node) body() text {
	var t text
	for _, p := range n.paras {
		t.add(p, '\n')
	}
	return t
}

// content is the heading's text and everything under it, sub-headings
// with their numbering.
func (n *node) content() text {
	var t text
	n.write(&t, false)
	return t
}

// all is content with the node's own numbering.
func (n *node) all() text {
	var t text
	n.write(&t, true)
	return t
}

func (n *node) write(t *text, numbered bool) {
	if numbered {
		t.add(n.line, paraBreak)
	} else {
		t.add(n.head, paraBreak)
	}
	for i, p := range n.paras {
		brk := '\n'
		if i == 0 {
			brk = paraBreak
		}
		t.add(p, brk)
	}
	for _, k := range n.kids {
		k.write(t, true)
	}
}

// title is the heading's first sentence, without the numbering.
func (n *node) title() text { return titleOf(n.head) }

// buildTree arranges the lines (already trimmed, noise removed) under
// their headings.
func buildTree(lines []text) *node {
	root := &node{h: heading{rank: rankRoot}}
	stack := []*node{root}
	for _, t := range lines {
		h, ok := headingOf(t)
		if !ok {
			top := stack[len(stack)-1]
			top.paras = append(top.paras, t)
			continue
		}
		for len(stack) > 1 && stack[len(stack)-1].h.rank >= h.rank {
			stack = stack[:len(stack)-1]
		}
		n := &node{h: h, line: t, head: t.slice(h.rest, t.len()).trimSpace()}
		parent := stack[len(stack)-1]
		parent.kids = append(parent.kids, n)
		stack = append(stack, n)
	}
	return root
}

// isTerminator ends a sentence.
func isTerminator(r rune) bool { return strings.ContainsRune("。;；!?！？", r) }

// firstSentence splits t after its first sentence: up to a full stop,
// semicolon, colon or line break. The sentence comes back trimmed of
// punctuation; rest is what follows, trimmed at its start only, so that
// joining it to more text keeps its own last punctuation.
func firstSentence(t text) (sentence, rest text) {
	for i, r := range t.norm {
		if isTerminator(r) || r == ':' || r == '\n' || r == paraBreak {
			rest = t.slice(i+1, t.len())
			j := 0
			for j < rest.len() && isSeparator(rest.norm[j]) {
				j++
			}
			return t.slice(0, i).trimPunct(), rest.slice(j, rest.len())
		}
	}
	return t.trimPunct(), text{}
}

// titleOf is the first sentence of t that says something: a heading may
// begin with stray punctuation.
func titleOf(t text) text {
	for t.len() > 0 {
		s, rest := firstSentence(t)
		if s.len() > 0 || rest.len() >= t.len() {
			return s
		}
		t = rest
	}
	return text{}
}

// clause is a clause of a text: t[start:end] with the line breaks of
// wrapping dropped. comma tells whether a comma (not a sentence end)
// separates it from the clause before it.
type clause struct {
	t          text
	start, end int
	comma      bool
}

// clauses splits t at sentence ends, commas and structural breaks. Line
// breaks inside a clause are dropped: a hard-wrapped sentence is one
// clause.
func clauses(t text) []clause {
	var out []clause
	start, comma := 0, false
	flush := func(end int, next bool) {
		c := t.slice(start, end).cut("\n").trimPunct()
		if c.len() > 0 {
			out = append(out, clause{t: c, start: start, end: end, comma: comma})
			comma = next
		} else {
			comma = comma && next
		}
		start = end + 1
	}
	for i, r := range t.norm {
		switch {
		case r == ',' || r == '，':
			flush(i, true)
		case isTerminator(r) || r == paraBreak:
			flush(i, false)
		}
	}
	flush(t.len(), false)
	return out
}

// paragraphs splits t at line breaks that follow a sentence end; other
// line breaks are wrapping inside a paragraph.
func paragraphs(t text) []text {
	var out []text
	start := 0
	for i, r := range t.norm {
		if r == paraBreak || r == '\n' && i > 0 && (isTerminator(t.norm[i-1]) || t.norm[i-1] == ':') {
			if p := t.slice(start, i).trimSpace(); p.len() > 0 {
				out = append(out, p)
			}
			start = i + 1
		}
	}
	if p := t.slice(start, t.len()).trimSpace(); p.len() > 0 {
		out = append(out, p)
	}
	return out
}

// enumeration styles inside a paragraph: 一是…二是…, ①…②…, (1)…(2)…, 1、…2、…
var enumStyles = []func(k int) []string{
	func(k int) []string { return []string{cnNumber(k) + "是", "其" + cnNumber(k) + ","} },
	func(k int) []string { return []string{string(rune('①' + k - 1))} },
	func(k int) []string {
		return []string{"(" + strconv.Itoa(k) + ")", string(rune('⑴' + k - 1))}
	},
	func(k int) []string { return []string{strconv.Itoa(k) + "、"} },
}

// enumerate splits t at an inline enumeration (一是…；二是…；三是…) into the
// text before it and the enumerated parts. A marker counts only at the
// start or after punctuation or a line break, and the numbers must run
// 1, 2, 3 …; with fewer than two parts there is no enumeration. When
// several styles occur, the one that starts first wins.
func enumerate(t text) (intro text, parts []text) {
	best := -1
	var bestPos []int
	for _, style := range enumStyles {
		var pos []int
		from := 0
		for k := 1; k <= 20; k++ {
			p := findMarker(t, style(k), from)
			if p < 0 {
				break
			}
			pos = append(pos, p)
			from = p + 1
		}
		if len(pos) >= 2 && (best < 0 || pos[0] < best) {
			best, bestPos = pos[0], pos
		}
	}
	if best < 0 {
		return t, nil
	}
	intro = t.slice(0, bestPos[0]).trimPunct()
	for i, p := range bestPos {
		end := t.len()
		if i+1 < len(bestPos) {
			end = bestPos[i+1]
		}
		if part := t.slice(p, end).trimPunct(); part.len() > 0 {
			parts = append(parts, part)
		}
	}
	return intro, parts
}

// findMarker finds the first of markers at a boundary, at or after from.
func findMarker(t text, markers []string, from int) int {
	best := -1
	for _, m := range markers {
		for i := from; ; {
			p := t.index(m, i)
			if p < 0 {
				break
			}
			if p == 0 || isSeparator(t.norm[p-1]) || t.norm[p-1] == '\n' || t.norm[p-1] == '(' || t.norm[p-1] == '“' {
				if best < 0 || p < best {
					best = p
				}
				break
			}
			i = p + 1
		}
	}
	return best
}

// stripEnumerator removes a leading 一是 / ① / (1) / 1、 / 其一， from a clause.
func stripEnumerator(t text) text {
	n := t.norm
	if len(n) == 0 {
		return t
	}
	if v, end, ok := cnOrdinal(n, 0); ok && v > 0 && t.at(end, "是") {
		return t.slice(end+1, t.len()).trimPunct()
	}
	if t.at(0, "其") {
		if _, end, ok := cnOrdinal(n, 1); ok && end < len(n) && isSeparator(n[end]) {
			return t.slice(end+1, t.len()).trimPunct()
		}
	}
	if h, ok := numbered(t); ok {
		return t.slice(h.rest, t.len()).trimPunct()
	}
	return t
}

func cnNumber(k int) string {
	d := []string{"", "一", "二", "三", "四", "五", "六", "七", "八", "九"}
	switch {
	case k < 10:
		return d[k]
	case k == 10:
		return "十"
	case k < 20:
		return "十" + d[k-10]
	case k%10 == 0:
		return d[k/10] + "十"
	}
	return d[k/10] + "十" + d[k%10]
}
