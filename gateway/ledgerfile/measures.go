package ledgerfile

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"rectify/events"
)

// The measures of an item (整改措施) share one cell, one measure after
// another, numbered as people number them in Chinese documents:
//
//	1. 制定年度学习计划（责任人：王秀兰；完成时限：2024-05-31）
//	2. 开展专题研讨，形成调研报告（完成时限：2024-06-30；已完成）
//
// A bracket at the end of a measure that holds only the keys 责任人,
// 责任人编号, 完成时限 and the mark 已完成 gives the measure's owner and
// due date; the import plans measures and leaves 已完成 to the work that
// follows. Without numbers, every line is a measure. A line of a
// numbered cell that carries no number continues the measure above it
// (the export indents such lines by three spaces; the import trims them).

// measureIndent starts the continuation lines of a measure's text.
const measureIndent = "   "

// numbering matches the number in front of a measure: 1. 1、 1) （1） (一) ①.
var numbering = regexp.MustCompile(`^\s*(?:(\d{1,3}|[一二三四五六七八九十]{1,3})\s*([.、．)）])|[（(]\s*(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*[)）]|[①-⑳])\s*`)

// detailsRe matches a trailing bracket of details.
var detailsRe = regexp.MustCompile(`[（(]([^（）()]*)[)）]\s*$`)

type parsedMeasure struct {
	text               string
	ownerName, ownerID string
	due                events.Date
	done               bool
}

// numberAt returns the length of the number in front of line, 0 when
// there is none. "1.5万元" starts with a decimal, not a number.
func numberAt(line string) int {
	m := numbering.FindStringSubmatchIndex(line)
	if m == nil {
		return 0
	}
	if m[4] >= 0 && (line[m[4]:m[5]] == "." || line[m[4]:m[5]] == "．") {
		if r, _ := utf8.DecodeRuneInString(line[m[1]:]); unicode.IsDigit(r) && m[1] == m[5] {
			return 0
		}
	}
	return m[1]
}

// parseMeasures splits a measures cell into measures. problems name the
// measure ("measure 2: ...").
func parseMeasures(cell string) ([]parsedMeasure, []string) {
	cell = strings.ReplaceAll(strings.ReplaceAll(cell, "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(cell, "\n")
	numbered := false
	for _, l := range lines {
		if numberAt(l) > 0 {
			numbered = true
			break
		}
	}
	var texts []string
	for _, l := range lines {
		switch {
		case strings.TrimSpace(l) == "":
			continue
		case !numbered:
			texts = append(texts, strings.TrimSpace(l))
		case numberAt(l) > 0:
			texts = append(texts, strings.TrimSpace(l[numberAt(l):]))
		case len(texts) == 0:
			texts = append(texts, strings.TrimSpace(l))
		default:
			texts[len(texts)-1] += "\n" + strings.TrimSpace(l)
		}
	}
	var out []parsedMeasure
	var problems []string
	for k, t := range texts {
		m, problem := measureDetails(t)
		if problem != "" {
			problems = append(problems, fmt.Sprintf("measure %d: %s", k+1, problem))
		}
		if m.text == "" {
			problems = append(problems, fmt.Sprintf("measure %d has no text", k+1))
			continue
		}
		out = append(out, m)
	}
	return out, problems
}

// measureDetails splits the trailing bracket of details off a measure.
func measureDetails(t string) (parsedMeasure, string) {
	m := parsedMeasure{text: strings.TrimSpace(t)}
	loc := detailsRe.FindStringSubmatchIndex(t)
	if loc == nil {
		return m, ""
	}
	d := parsedMeasure{text: strings.TrimSpace(t[:loc[0]])}
	var problem string
	for part := range strings.FieldsFuncSeq(t[loc[2]:loc[3]], func(r rune) bool { return r == '；' || r == ';' }) {
		part = strings.TrimSpace(part)
		if part == "已完成" || part == "完成" {
			d.done = true
			continue
		}
		k, v, ok := strings.Cut(part, "：")
		if !ok {
			k, v, ok = strings.Cut(part, ":")
		}
		if !ok {
			return m, "" // not a bracket of details: part of the text
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "责任人":
			d.ownerName = v
		case "责任人编号":
			if !events.ValidID(v) {
				problem = fmt.Sprintf("责任人编号 %s is not an id", v)
			}
			d.ownerID = v
		case "完成时限", "时限":
			date, p := parseDate(v, "", false, false)
			if p != "" {
				problem = "完成时限 " + p
			}
			d.due = date
		default:
			return m, ""
		}
	}
	return d, problem
}

// formatMeasures writes measures into one cell, numbered, each with its
// details, so that parseMeasures reads them back.
func formatMeasures(ms []measureOut) string {
	var b strings.Builder
	for k, m := range ms {
		if k > 0 {
			b.WriteByte('\n')
		}
		text := strings.ReplaceAll(strings.TrimSpace(m.Text), "\n", "\n"+measureIndent)
		fmt.Fprintf(&b, "%d. %s", k+1, text)
		var parts []string
		if m.OwnerName != "" {
			parts = append(parts, "责任人："+m.OwnerName)
		}
		if m.OwnerID != "" {
			parts = append(parts, "责任人编号："+m.OwnerID)
		}
		if !m.Due.IsZero() {
			parts = append(parts, "完成时限："+m.Due.String())
		}
		if m.Done {
			parts = append(parts, "已完成")
		}
		if len(parts) > 0 {
			b.WriteString("（" + strings.Join(parts, "；") + "）")
		}
	}
	return b.String()
}

// measureOut is a measure as the export writes it.
type measureOut struct {
	Text      string
	OwnerName string
	OwnerID   string
	Due       events.Date
	Done      bool
}
