package ledgerfile

import (
	"fmt"
	"strings"

	"rectify/projections/query"
)

// ItemRow is one item of a ledger export: the ledger's line, and what
// only the item's detail holds (its description and measures).
type ItemRow struct {
	Item        query.LedgerItem
	Description string
	Measures    []query.Measure
}

// LedgerSheet is the sheet 整改事项: one row per item, the columns the
// import reads first (so the file imports again), then the state of the
// work (status, progress, overdue, colour), then the ids behind the names.
func LedgerSheet(rows []ItemRow) Sheet {
	s := Sheet{Name: SheetItems, Columns: []Column{
		{Header: "序号", Width: 6, Kind: Int},
		{Header: header(KindItems, colID), Width: 14},
		{Header: header(KindItems, colTitle), Width: 36, Kind: Wrap},
		{Header: header(KindItems, colDescription), Width: 40, Kind: Wrap},
		{Header: header(KindItems, colUnit), Width: 22},
		{Header: header(KindItems, colOwner), Width: 10},
		{Header: header(KindItems, colDeadline), Width: 12, Kind: Date},
		{Header: header(KindItems, colMeasures), Width: 60, Kind: Wrap},
		{Header: "状态", Width: 9},
		{Header: "进度", Width: 7, Kind: Percent},
		{Header: "是否逾期", Width: 9},
		{Header: "预警", Width: 11},
		{Header: "剩余天数", Width: 9, Kind: Int},
		{Header: "措施完成", Width: 9},
		{Header: header(KindItems, colCategory), Width: 11},
		{Header: header(KindItems, colSeverity), Width: 9},
		{Header: header(KindItems, colSource), Width: 30, Kind: Wrap},
		{Header: header(KindItems, colCycle), Width: 28},
		{Header: "立项日期", Width: 12, Kind: Date},
		{Header: "销号日期", Width: 12, Kind: Date},
		{Header: header(KindItems, colUnitID), Width: 14},
		{Header: header(KindItems, colOwnerID), Width: 14},
	}}
	for i, r := range rows {
		it := r.Item
		ms := make([]measureOut, len(r.Measures))
		for k, m := range r.Measures {
			ms[k] = measureOut{Text: m.Text, OwnerName: m.OwnerName, OwnerID: m.OwnerID, Due: m.Due, Done: m.Done}
		}
		overdue := "否"
		if it.Overdue {
			overdue = "是"
		}
		var daysLeft any
		if it.DaysLeft != nil {
			daysLeft = *it.DaysLeft
		}
		cycle := it.CycleName
		if cycle == "" {
			cycle = it.CycleID
		}
		severity := severityNames[it.Severity]
		s.Rows = append(s.Rows, []Cell{
			{V: i + 1}, {V: it.ID}, {V: it.Title}, {V: r.Description}, {V: orID(it.UnitName, it.UnitID)}, {V: it.OwnerName},
			{V: it.Deadline, Fill: ragFill(it.RAG)}, {V: formatMeasures(ms)},
			{V: orID(statusNames[it.Status], string(it.Status))}, {V: it.Percent}, {V: overdue},
			{V: orID(ragNames[it.RAG], it.RAG), Fill: ragFill(it.RAG)}, {V: daysLeft},
			{V: fmt.Sprintf("%d/%d", it.MeasuresDone, it.MeasuresTotal)},
			{V: it.Category}, {V: severity}, {V: it.Source}, {V: cycle},
			{V: it.RaisedOn}, {V: it.ClosedOn}, {V: it.UnitID}, {V: it.OwnerID},
		})
	}
	return s
}

func ragFill(rag string) int {
	switch rag {
	case query.RAGRed:
		return FillRed
	case query.RAGYellow:
		return FillYellow
	case query.RAGGreen:
		return FillGreen
	case query.RAGDone:
		return FillGrey
	}
	return FillNone
}

func orID(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// CommitmentSheet is the sheet 承诺事项: one row per commitment, as it
// stands (its current target, period and end). cycleNames names the
// cycles by id.
func CommitmentSheet(cs []query.Commitment, cycleNames map[string]string) Sheet {
	s := Sheet{Name: SheetCommitments, Columns: []Column{
		{Header: "序号", Width: 6, Kind: Int},
		{Header: header(KindCommitments, colID), Width: 18},
		{Header: header(KindCommitments, colTitle), Width: 36, Kind: Wrap},
		{Header: header(KindCommitments, colUnit), Width: 22},
		{Header: header(KindCommitments, colOwner), Width: 10},
		{Header: header(KindCommitments, colActivity), Width: 14},
		{Header: header(KindCommitments, colTarget), Width: 9, Kind: Int},
		{Header: header(KindCommitments, colPeriod), Width: 9},
		{Header: header(KindCommitments, colStart), Width: 12, Kind: Date},
		{Header: header(KindCommitments, colEnd), Width: 12, Kind: Date},
		{Header: "已记录次数", Width: 10, Kind: Int},
		{Header: "状态", Width: 20},
		{Header: header(KindCommitments, colCycle), Width: 28},
		{Header: header(KindCommitments, colUnitID), Width: 14},
		{Header: header(KindCommitments, colOwnerID), Width: 14},
	}}
	for i, c := range cs {
		state := "履诺中"
		if c.Ended {
			state = "已于 " + c.EndedOn.String() + " 终止"
		}
		cycle := cycleNames[c.CycleID]
		if cycle == "" {
			cycle = c.CycleID
		}
		s.Rows = append(s.Rows, []Cell{
			{V: i + 1}, {V: c.ID}, {V: c.Title}, {V: orID(c.UnitName, c.UnitID)}, {V: c.PersonName}, {V: c.Activity},
			{V: c.Target}, {V: orID(periodNames[c.Period], c.Period)}, {V: c.Start}, {V: c.End}, {V: c.Logged},
			{V: state}, {V: cycle}, {V: c.UnitID}, {V: c.PersonID},
		})
	}
	return s
}

// ComplianceSheets are the sheets of commitment compliance: 履诺情况, one
// row per commitment and period (target, actual, met or missed), and
// 履诺汇总, one row per commitment with its tally.
func ComplianceSheets(cs []query.CommitmentCompliance) (Sheet, Sheet) {
	periods := Sheet{Name: SheetCompliance, Columns: []Column{
		{Header: "承诺编号", Width: 18},
		{Header: "承诺事项", Width: 36, Kind: Wrap},
		{Header: "责任单位", Width: 22},
		{Header: "责任人", Width: 10},
		{Header: "履诺活动", Width: 14},
		{Header: "统计周期", Width: 9},
		{Header: "周期开始", Width: 12, Kind: Date},
		{Header: "周期结束", Width: 12, Kind: Date},
		{Header: "目标次数", Width: 9, Kind: Int},
		{Header: "实际次数", Width: 9, Kind: Int},
		{Header: "结果", Width: 9},
		{Header: "按比例折算", Width: 10},
		{Header: "折算前目标", Width: 10, Kind: Number},
	}}
	tally := Sheet{Name: SheetTally, Columns: []Column{
		{Header: "承诺编号", Width: 18},
		{Header: "承诺事项", Width: 36, Kind: Wrap},
		{Header: "责任单位", Width: 22},
		{Header: "责任人", Width: 10},
		{Header: "统计周期", Width: 9},
		{Header: "目标次数", Width: 9, Kind: Int},
		{Header: "达标周期数", Width: 10, Kind: Int},
		{Header: "未达标周期数", Width: 12, Kind: Int},
		{Header: "进行中", Width: 8, Kind: Int},
		{Header: "达标率", Width: 9, Kind: Ratio},
		{Header: "当前连续达标", Width: 12, Kind: Int},
		{Header: "最长连续达标", Width: 12, Kind: Int},
	}}
	for _, cc := range cs {
		c := cc.Commitment
		unit := orID(c.UnitName, c.UnitID)
		for _, p := range cc.Periods {
			fill := FillNone
			switch p.Status {
			case query.PeriodMet:
				fill = FillGreen
			case query.PeriodMissed:
				fill = FillRed
			case query.PeriodInProgress:
				fill = FillYellow
			}
			scaled := ""
			if p.Scaled {
				scaled = "是"
			}
			periods.Rows = append(periods.Rows, []Cell{
				{V: c.ID}, {V: c.Title}, {V: unit}, {V: c.PersonName}, {V: c.Activity},
				{V: orID(periodNames[p.Kind], p.Kind)}, {V: p.Start}, {V: p.End}, {V: p.Target}, {V: p.Actual},
				{V: orID(periodStatusNames[p.Status], p.Status), Fill: fill}, {V: scaled}, {V: p.ExactTarget},
			})
		}
		tally.Rows = append(tally.Rows, []Cell{
			{V: c.ID}, {V: c.Title}, {V: unit}, {V: c.PersonName}, {V: orID(periodNames[c.Period], c.Period)}, {V: c.Target},
			{V: cc.Met}, {V: cc.Missed}, {V: cc.InProgress}, {V: cc.Rate}, {V: cc.CurrentStreak}, {V: cc.LongestStreak},
		})
	}
	return periods, tally
}

// Sheet names of the assessments.
const (
	SheetMonthly = "月度考核"
	SheetRanking = "季度排名"
	SheetWeekly  = "周总结"
)

// AssessmentSheet is the sheet of an assessment result: one row per unit
// in tree order, with its level, rank, movement, score and the breakdown
// and counts it was scored on.
func AssessmentSheet(r query.AssessmentResult) Sheet {
	name := SheetMonthly
	switch r.Kind {
	case "quarter":
		name = SheetRanking
	case "week":
		name = SheetWeekly
	}
	s := Sheet{Name: name, Columns: []Column{
		{Header: "层级", Width: 6, Kind: Int},
		{Header: "名次", Width: 6, Kind: Int},
		{Header: "单位", Width: 26},
		{Header: "得分", Width: 9, Kind: Number},
		{Header: "本级得分", Width: 9, Kind: Number},
		{Header: "上期名次", Width: 9, Kind: Int},
		{Header: "名次变化", Width: 9},
		{Header: "基础分", Width: 8, Kind: Number},
		{Header: "销号得分", Width: 9, Kind: Number},
		{Header: "按期销号得分", Width: 12, Kind: Number},
		{Header: "逾期扣分", Width: 9, Kind: Number},
		{Header: "重新打开扣分", Width: 12, Kind: Number},
		{Header: "履诺达标得分", Width: 12, Kind: Number},
		{Header: "履诺未达标扣分", Width: 14, Kind: Number},
		{Header: "销号数", Width: 8, Kind: Int},
		{Header: "按期销号数", Width: 10, Kind: Int},
		{Header: "逾期数", Width: 8, Kind: Int},
		{Header: "重新打开数", Width: 10, Kind: Int},
		{Header: "履诺达标期数", Width: 12, Kind: Int},
		{Header: "履诺未达标期数", Width: 14, Kind: Int},
		{Header: "新增事项", Width: 9, Kind: Int},
		{Header: "进展报告", Width: 9, Kind: Int},
		{Header: "时限调整", Width: 9, Kind: Int},
		{Header: "单位编号", Width: 14},
	}}
	for _, u := range r.Units {
		var prev, move any
		fill := FillNone
		if u.PreviousRank > 0 {
			prev = u.PreviousRank
		}
		if u.Movement != nil {
			switch m := *u.Movement; {
			case m > 0:
				move, fill = fmt.Sprintf("↑%d", m), FillGreen
			case m < 0:
				move, fill = fmt.Sprintf("↓%d", -m), FillRed
			default:
				move = "—"
			}
		}
		b, n := u.Breakdown, u.Counts
		s.Rows = append(s.Rows, []Cell{
			{V: u.Depth + 1}, {V: u.Rank}, {V: strings.Repeat("\u3000", u.Depth) + orID(u.UnitName, u.UnitID)},
			{V: u.Score}, {V: u.Own}, {V: prev}, {V: move, Fill: fill},
			{V: b.Base}, {V: b.ItemClosed}, {V: b.ItemOnTime}, {V: b.ItemOverdue}, {V: b.ItemReopened}, {V: b.PeriodMet}, {V: b.PeriodMissed},
			{V: n.ItemsClosed}, {V: n.ItemsOnTime}, {V: n.ItemsOverdue}, {V: n.ItemsReopened}, {V: n.PeriodsMet}, {V: n.PeriodsMissed},
			{V: n.ItemsRaised}, {V: n.ProgressReports}, {V: n.DeadlinesChanged}, {V: u.UnitID},
		})
	}
	return s
}
