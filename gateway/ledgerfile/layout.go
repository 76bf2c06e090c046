// Package ledgerfile reads and writes the ledger (台账) as spreadsheets:
// XLSX workbooks and CSV files with Chinese headers, the way a committee
// keeps its ledger in Excel.
//
// Reading turns a file into one events.ImportReport (Build), naming every
// problem by sheet, row and column; writing turns the views' answers into
// sheets (LedgerSheet, CommitmentSheet, ComplianceSheets) and the sheets
// into a file (WriteXLSX, WriteCSV). The layout is the same both ways, so
// an exported ledger imports again unchanged.
package ledgerfile

import (
	"strings"
	"unicode"

	"rectify/events"
)

// Kinds of table a sheet holds.
const (
	KindItems       = "items"
	KindCommitments = "commitments"
)

// Sheet names the export writes and the import looks for first.
const (
	SheetItems       = "整改事项"
	SheetCommitments = "承诺事项"
	SheetCompliance  = "履诺情况"
	SheetTally       = "履诺汇总"
	SheetInfo        = "导出信息"
)

// Logical columns. Each has one header the export writes (the first of
// its names) and the other names the import accepts for it.
const (
	colID          = "id"
	colTitle       = "title"
	colDescription = "description"
	colCategory    = "category"
	colSeverity    = "severity"
	colUnit        = "unit"
	colUnitID      = "unit_id"
	colOwner       = "owner"
	colOwnerID     = "owner_id"
	colDeadline    = "deadline"
	colMeasures    = "measures"
	colCycle       = "cycle"
	colSource      = "source"
	colActivity    = "activity"
	colTarget      = "target"
	colPeriod      = "period"
	colStart       = "start"
	colEnd         = "end"
)

// column is one logical column of an import table.
type column struct {
	key      string
	names    []string // names[0] is the header the export writes
	required bool
	// field is the command field (events.ImportItem or ImportCommitment,
	// JSON name) the column fills, for naming errors the command side
	// reports; "" when it fills none directly.
	fields []string
}

// itemColumns is the layout of a sheet of items (整改事项).
var itemColumns = []column{
	{key: colID, names: []string{"事项编号", "编号", "事项ID", "item_id", "id"}, fields: []string{"item_id"}},
	{key: colTitle, names: []string{"整改事项", "事项名称", "问题", "存在问题", "问题名称", "标题", "title"}, required: true, fields: []string{"title"}},
	{key: colDescription, names: []string{"问题描述", "具体问题", "问题表现", "描述", "description"}, fields: []string{"description"}},
	{key: colUnit, names: []string{"责任单位", "单位", "单位名称", "unit", "unit_name"}, fields: []string{"unit_id"}},
	{key: colOwner, names: []string{"责任人", "owner", "owner_name"}, fields: []string{"owner_name"}},
	{key: colDeadline, names: []string{"整改时限", "完成时限", "时限", "截止日期", "deadline"}, required: true, fields: []string{"deadline"}},
	{key: colMeasures, names: []string{"整改措施", "措施", "measures"}},
	{key: colCategory, names: []string{"问题类别", "类别", "分类", "category"}, fields: []string{"category"}},
	{key: colSeverity, names: []string{"严重程度", "severity"}, fields: []string{"severity"}},
	{key: colSource, names: []string{"来源", "问题来源", "source"}, fields: []string{"source"}},
	{key: colCycle, names: []string{"评议周期", "年度", "cycle", "cycle_id"}, fields: []string{"cycle_id"}},
	{key: colUnitID, names: []string{"单位编号", "unit_id"}, fields: []string{"unit_id"}},
	{key: colOwnerID, names: []string{"责任人编号", "owner_id"}, fields: []string{"owner_id"}},
}

// commitmentColumns is the layout of a sheet of commitments (承诺事项).
var commitmentColumns = []column{
	{key: colID, names: []string{"承诺编号", "编号", "commitment_id", "id"}, fields: []string{"commitment_id"}},
	{key: colTitle, names: []string{"承诺事项", "承诺内容", "承诺", "title"}, required: true, fields: []string{"title"}},
	{key: colUnit, names: []string{"责任单位", "单位", "单位名称", "unit", "unit_name"}, fields: []string{"unit_id"}},
	{key: colOwner, names: []string{"责任人", "承诺人", "person", "person_name"}, fields: []string{"person_name"}},
	{key: colActivity, names: []string{"履诺活动", "活动", "活动类型", "activity"}, required: true, fields: []string{"activity"}},
	{key: colTarget, names: []string{"目标次数", "次数", "目标", "target"}, required: true, fields: []string{"target"}},
	{key: colPeriod, names: []string{"统计周期", "周期", "period"}, required: true, fields: []string{"period"}},
	{key: colStart, names: []string{"开始日期", "起始日期", "开始", "start"}, required: true, fields: []string{"start"}},
	{key: colEnd, names: []string{"结束日期", "截止日期", "结束", "end"}, required: true, fields: []string{"end"}},
	{key: colSource, names: []string{"来源", "source"}, fields: []string{"source"}},
	{key: colCycle, names: []string{"评议周期", "年度", "cycle", "cycle_id"}, fields: []string{"cycle_id"}},
	{key: colUnitID, names: []string{"单位编号", "unit_id"}, fields: []string{"unit_id"}},
	{key: colOwnerID, names: []string{"责任人编号", "person_id"}, fields: []string{"person_id"}},
}

func columnsOf(kind string) []column {
	if kind == KindCommitments {
		return commitmentColumns
	}
	return itemColumns
}

// header returns the header the export writes for a logical column.
func header(kind, key string) string {
	for _, c := range columnsOf(kind) {
		if c.key == key {
			return c.names[0]
		}
	}
	return key
}

// normHeader makes headers comparable: no spaces, no required-marks, no
// bracketed notes ("整改时限（年月日）"), Latin letters in lower case,
// full-width forms folded.
func normHeader(s string) string {
	s = foldWidth(s)
	if i := strings.IndexAny(s, "(（"); i > 0 {
		s = s[:i]
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r), r == '*', r == '※', r == ':', r == '：':
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// foldWidth turns full-width ASCII (ＡＢＣ１２３．／－) into ASCII and the
// ideographic space into a space.
func foldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '！' && r <= '～':
			return r - '！' + '!'
		case r == '\u3000':
			return ' '
		}
		return r
	}, s)
}

// Vocabularies: the Chinese words the export writes, and what the import
// accepts.

var statusNames = map[events.ItemStatus]string{
	events.StatusRaised:     "已提出",
	events.StatusAssigned:   "已交办",
	events.StatusInProgress: "整改中",
	events.StatusSubmitted:  "待验收",
	events.StatusClosed:     "已销号",
	events.StatusWithdrawn:  "已撤销",
}

var ragNames = map[string]string{
	"red":    "红（逾期）",
	"yellow": "黄（临期）",
	"green":  "绿（正常）",
	"done":   "已结束",
}

var severityNames = map[string]string{
	events.SeverityLow:    "一般",
	events.SeverityNormal: "较重",
	events.SeverityHigh:   "严重",
}

var periodNames = map[string]string{
	events.PeriodWeek:    "每周",
	events.PeriodMonth:   "每月",
	events.PeriodQuarter: "每季度",
}

var periodStatusNames = map[string]string{
	"met":         "达标",
	"missed":      "未达标",
	"in_progress": "进行中",
	"upcoming":    "未开始",
	"exempt":      "免考",
}

// parseSeverity reads a severity in Chinese or English.
func parseSeverity(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "一般", "低", "轻", "轻微", "low":
		return events.SeverityLow, true
	case "较重", "中", "normal", "medium":
		return events.SeverityNormal, true
	case "严重", "高", "重", "high":
		return events.SeverityHigh, true
	}
	return "", false
}

// parsePeriod reads a period in Chinese or English.
func parsePeriod(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, "每"), "度")) {
	case "周", "星期", "week", "weekly":
		return events.PeriodWeek, true
	case "月", "month", "monthly":
		return events.PeriodMonth, true
	case "季", "quarter", "quarterly":
		return events.PeriodQuarter, true
	}
	return "", false
}
