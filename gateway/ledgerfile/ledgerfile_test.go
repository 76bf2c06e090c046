package ledgerfile

import (
	"archive/zip"
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"

	"rectify/events"
	"rectify/projections/query"
)

var testDir = Directory{
	Units: []query.Unit{
		{ID: "gw", Name: "城关街道工委"},
		{ID: "sq-dongfeng", ParentID: "gw", Name: "东风社区党委"},
		{ID: "sq-xinhua", ParentID: "gw", Name: "新华社区党委"},
		{ID: "zb-1", ParentID: "sq-dongfeng", Name: "第一党支部"},
		{ID: "zb-2", ParentID: "sq-xinhua", Name: "第一党支部"},
	},
	Cycles: []query.Cycle{
		{ID: "y-cur", Name: "2024年度抓基层党建工作述职评议", Year: 2024},
		{ID: "y-prev", Name: "2023年度抓基层党建工作述职评议", Year: 2023, Closed: true},
	},
}

func date(s string) events.Date { return events.MustDate(s) }

// sampleRows is a ledger as the views give it, with everything that must
// survive a round trip: Chinese text, multi-line descriptions and
// measures, brackets inside measure texts, owners with and without ids.
func sampleRows() ([]ItemRow, []query.Commitment) {
	days := -12
	items := []ItemRow{
		{Item: query.LedgerItem{ID: "zg-001", CycleID: "y-cur", CycleName: "2024年度抓基层党建工作述职评议", UnitID: "sq-dongfeng", UnitName: "东风社区党委",
			Title: "理论学习不够深入，学用结合不紧密", Category: "思想建设", Source: "述职评议会议点评意见", Severity: events.SeverityHigh,
			Deadline: date("2024-06-30"), Status: events.StatusInProgress, OwnerID: "u-dongfeng", OwnerName: "王秀兰", Percent: 60,
			RAG: query.RAGRed, Overdue: true, DaysLeft: &days, RaisedOn: date("2024-01-05"), MeasuresTotal: 2, MeasuresDone: 1},
			Description: "东风社区党委在述职评议中被指出：\n学习流于形式。",
			Measures: []query.Measure{
				{ID: "m1", Text: "制定年度学习计划，每月集中学习不少于1次（含线上）", OwnerID: "u-dongfeng", OwnerName: "王秀兰", Due: date("2024-05-31"), Done: true},
				{ID: "m2", Text: "开展“学用结合”专题研讨\n形成调研报告", Due: date("2024-06-30")},
			}},
		{Item: query.LedgerItem{ID: "zg-002", CycleID: "y-cur", UnitID: "zb-2", UnitName: "第一党支部", Title: "=SUM(A1) 不是公式",
			Deadline: date("2024-12-31"), Status: events.StatusRaised, RAG: query.RAGGreen}},
	}
	cs := []query.Commitment{
		{ID: "cn-1", CycleID: "y-cur", UnitID: "sq-dongfeng", UnitName: "东风社区党委", PersonID: "u-dongfeng", PersonName: "王秀兰",
			Title: "社区书记每周至少到网格入户走访2次", Activity: "入户走访", Target: 2, Period: events.PeriodWeek,
			Start: date("2024-01-15"), End: date("2024-12-31"), Logged: 40},
		{ID: "cn-2", CycleID: "y-cur", UnitID: "gw", UnitName: "城关街道工委", Title: "每季度开展1次主题党日活动", Activity: "主题党日",
			Target: 1, Period: events.PeriodQuarter, Start: date("2024-01-01"), End: date("2024-12-31")},
	}
	return items, cs
}

// wantImport is what importing sampleRows gives.
func checkSampleImport(t *testing.T, imp events.ImportReport, withCommitments bool) {
	t.Helper()
	if imp.CycleID != "y-cur" || len(imp.Items) != 2 {
		t.Fatalf("import: cycle %q, %d items", imp.CycleID, len(imp.Items))
	}
	it := imp.Items[0]
	want := events.ImportItem{Entry: it.Entry, ItemID: "zg-001", UnitID: "sq-dongfeng", Title: "理论学习不够深入，学用结合不紧密",
		Description: "东风社区党委在述职评议中被指出：\n学习流于形式。", Category: "思想建设", Source: "述职评议会议点评意见",
		Severity: events.SeverityHigh, Deadline: date("2024-06-30"), OwnerID: "u-dongfeng", OwnerName: "王秀兰",
		Measures: []events.ImportMeasure{
			{Entry: it.Entry + ".m1", Text: "制定年度学习计划，每月集中学习不少于1次（含线上）", OwnerID: "u-dongfeng", OwnerName: "王秀兰", Due: date("2024-05-31")},
			{Entry: it.Entry + ".m2", Text: "开展“学用结合”专题研讨\n形成调研报告", Due: date("2024-06-30")},
		}}
	if !reflect.DeepEqual(it, want) {
		t.Errorf("item 1 reads\n%+v\nwant\n%+v", it, want)
	}
	it2 := imp.Items[1]
	if it2.ItemID != "zg-002" || it2.UnitID != "zb-2" || it2.Title != "=SUM(A1) 不是公式" || len(it2.Measures) != 0 || it2.OwnerName != "" ||
		!strings.HasPrefix(it2.Source, "台账导入《") {
		t.Errorf("item 2 reads %+v", it2)
	}
	if !withCommitments {
		return
	}
	if len(imp.Commitments) != 2 {
		t.Fatalf("%d commitments", len(imp.Commitments))
	}
	c := imp.Commitments[0]
	if c.CommitmentID != "cn-1" || c.UnitID != "sq-dongfeng" || c.PersonID != "u-dongfeng" || c.PersonName != "王秀兰" ||
		c.Title != "社区书记每周至少到网格入户走访2次" || c.Activity != "入户走访" || c.Target != 2 || c.Period != events.PeriodWeek ||
		c.Start != date("2024-01-15") || c.End != date("2024-12-31") {
		t.Errorf("commitment 1 reads %+v", c)
	}
	if c := imp.Commitments[1]; c.Period != events.PeriodQuarter || c.UnitID != "gw" || c.PersonName != "" {
		t.Errorf("commitment 2 reads %+v", c)
	}
}

func mustBuild(t *testing.T, data []byte, name string, opts Options) *Plan {
	t.Helper()
	b, err := Read(data, name)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	opts.FileName = name
	p, probs := Build(b, testDir, opts)
	if len(probs) > 0 {
		t.Fatalf("Build: %+v", probs)
	}
	return p
}

// TestXLSXRoundTrip: a written workbook reads back as the same ledger,
// and is a well-formed XLSX (a zip with the parts Excel and LibreOffice
// need) that excelize opens with the sheets, headers and cell types
// written.
func TestXLSXRoundTrip(t *testing.T) {
	items, cs := sampleRows()
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, []Sheet{LedgerSheet(items), CommitmentSheet(cs, map[string]string{"y-cur": "2024年度抓基层党建工作述职评议"})},
		Info{Lines: [][2]string{{"导出内容", "整改台账"}}}); err != nil {
		t.Fatal(err)
	}
	mustBeXLSX(t, buf.Bytes(), []string{SheetItems, SheetCommitments, SheetInfo})

	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.GetCellValue(SheetItems, "C1"); v != "整改事项" {
		t.Errorf("C1 = %q", v)
	}
	if v, _ := f.GetCellValue(SheetItems, "G2"); v != "2024-06-30" {
		t.Errorf("the deadline cell shows %q", v)
	}
	if typ, _ := f.GetCellType(SheetItems, "C3"); typ == excelize.CellTypeFormula {
		t.Errorf("a title starting with = became a formula")
	}
	if v, _ := f.GetCellValue(SheetItems, "J2"); v != "60%" {
		t.Errorf("the progress cell shows %q", v)
	}

	p := mustBuild(t, buf.Bytes(), "台账.xlsx", Options{})
	checkSampleImport(t, p.Import, true)
	if len(p.Tables) != 2 || p.Tables[0].Kind != KindItems || p.Tables[1].Kind != KindCommitments {
		t.Errorf("tables %+v", p.Tables)
	}
	if !slices.Contains(p.Ignored, "sheet "+SheetInfo) || !slices.ContainsFunc(p.Ignored, func(s string) bool { return strings.HasPrefix(s, "状态 (") }) {
		t.Errorf("ignored %v", p.Ignored)
	}
	if err := p.Import.Validate(); err != nil {
		t.Errorf("the import does not validate: %v", err)
	}
}

// mustBeXLSX checks the zip structure of a workbook: every part a
// spreadsheet application reads is there, and every sheet is listed.
func mustBeXLSX(t *testing.T, data []byte, sheets []string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	parts := map[string]bool{}
	for _, f := range zr.File {
		parts[f.Name] = true
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("part %s: %v", f.Name, err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			t.Fatalf("part %s: %v", f.Name, err)
		}
		rc.Close()
	}
	for _, p := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml", "docProps/core.xml"} {
		if !parts[p] {
			t.Errorf("the workbook lacks %s", p)
		}
	}
	for i := range sheets {
		if !parts[fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1)] {
			t.Errorf("the workbook lacks sheet %d", i+1)
		}
	}
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !slices.Equal(got, sheets) {
		t.Errorf("sheets %v, want %v", got, sheets)
	}
}

// TestCSVRoundTrip: the CSV export (BOM, CRLF, ' before formula-like
// text) reads back as the same items.
func TestCSVRoundTrip(t *testing.T) {
	items, _ := sampleRows()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, LedgerSheet(items)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.HasPrefix(b, []byte("\uFEFF序号,事项编号,整改事项")) || !bytes.Contains(b, []byte("\r\n")) || !bytes.Contains(b, []byte(",'=SUM(A1) 不是公式,")) {
		t.Errorf("CSV starts %q", b[:min(len(b), 200)])
	}
	p := mustBuild(t, b, "台账.csv", Options{})
	checkSampleImport(t, p.Import, false)
	if p.Encoding != EncodingUTF8BOM || p.Tables[0].Sheet != SheetItems {
		t.Errorf("encoding %s, tables %+v", p.Encoding, p.Tables)
	}
}

// TestCSVEncodings: the same hand-made CSV in UTF-8, UTF-8 with a BOM,
// GB18030 (Excel in China) and UTF-16 with a BOM gives the same import.
func TestCSVEncodings(t *testing.T) {
	text := "城关街道工委2024年整改台账\r\n" + // a title above the header
		"序号,整改事项,问题描述,责任单位,责任人,整改时限,整改措施,年度\r\n" +
		"1,\"党建工作台账不完整、更新不及时\",台账缺页,东风社区党委,王秀兰,2024/6/30,\"1、规范台账目录\n2、每月由专人核对更新（完成时限：2024年5月31日）\",2024\r\n" +
		"2,流动党员管理存在薄弱环节,,新华社区党委,,2024年12月31日,摸清流动党员底数,2024\r\n"
	gb, err := simplifiedchinese.GB18030.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	u16, err := xunicode.UTF16(xunicode.LittleEndian, xunicode.UseBOM).NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	var first events.ImportReport
	for _, c := range []struct {
		enc  string
		data []byte
	}{
		{EncodingUTF8, []byte(text)},
		{EncodingUTF8BOM, append([]byte("\uFEFF"), text...)},
		{EncodingGB18030, []byte(gb)},
		{EncodingUTF16LE, []byte(u16)},
	} {
		p := mustBuild(t, c.data, "台账.csv", Options{})
		if p.Encoding != c.enc {
			t.Errorf("%s read as %s", c.enc, p.Encoding)
		}
		imp := p.Import
		if c.enc == EncodingUTF8 {
			first = imp
			it := imp.Items[0]
			if imp.CycleID != "y-cur" || it.Title != "党建工作台账不完整、更新不及时" || it.UnitID != "sq-dongfeng" || it.Deadline != date("2024-06-30") ||
				len(it.Measures) != 2 || it.Measures[0].Text != "规范台账目录" || it.Measures[1].Due != date("2024-05-31") ||
				imp.Items[1].Deadline != date("2024-12-31") || imp.Items[1].Measures[0].Text != "摸清流动党员底数" || imp.Items[0].Source != "台账导入《台账.csv》整改事项第3行" {
				t.Errorf("UTF-8 import %+v", imp)
			}
			continue
		}
		if !reflect.DeepEqual(imp, first) {
			t.Errorf("%s gives\n%+v\nwant\n%+v", c.enc, imp, first)
		}
	}
}

// TestBrokenFile: every bad row is reported with its sheet, row and
// column, and the plan is not usable.
func TestBrokenFile(t *testing.T) {
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", "整改事项")
	rows := [][]any{
		{"事项编号", "整改事项", "责任单位", "整改时限", "整改措施", "严重程度"},
		{"a-1", "好的一行", "东风社区党委", "2024-06-30", "1. 措施一", "严重"},
		{"a-2", "时限写错", "东风社区党委", "2024-13-45", "", ""},
		{"a-3", "单位不存在", "幸福社区党委", "2024-06-30", "", ""},
		{"a-4", "", "东风社区党委", "2024-06-30", "", ""},
		{"a-1", "编号重复", "东风社区党委", "2024-06-30", "", ""},
		{"a 6", "编号不合规", "第一党支部", "2024-06-30", "1. 措施（完成时限：明天）", "很重"},
	}
	for i, r := range rows {
		f.SetSheetRow("整改事项", fmt.Sprintf("A%d", i+1), &r)
	}
	f.NewSheet("承诺事项")
	crow := [][]any{
		{"承诺事项", "责任单位", "履诺活动", "目标次数", "统计周期", "开始日期", "结束日期"},
		{"每周走访", "东风社区党委", "走访", -2, "每周", "2024-01-01", "2024-12-31"},
		{"每月开会", "东风社区党委", "会议", 1, "每两周", "2024-03-01", "2024-01-01"},
	}
	for i, r := range crow {
		f.SetSheetRow("承诺事项", fmt.Sprintf("A%d", i+1), &r)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := Read(buf.Bytes(), "坏.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	_, probs := Build(b, testDir, Options{CycleID: "y-cur"})
	got := map[string]bool{}
	for _, p := range probs {
		got[fmt.Sprintf("%s!%d %s %s", p.Sheet, p.Row, p.Column, p.Cell)] = true
		if p.Problem == "" {
			t.Errorf("problem without text: %+v", p)
		}
	}
	for _, want := range []string{
		"整改事项!3 整改时限 D3",
		"整改事项!4 责任单位 C4",
		"整改事项!5 整改事项 B5",
		"整改事项!6 事项编号 A6",
		"整改事项!7 事项编号 A7",
		"整改事项!7 责任单位 C7", // two units are named 第一党支部
		"整改事项!7 整改措施 E7",
		"整改事项!7 严重程度 F7",
		"承诺事项!2 目标次数 D2",
		"承诺事项!3 统计周期 E3",
		"承诺事项!3 结束日期 G3",
	} {
		if !got[want] {
			t.Errorf("no problem %s among %v", want, got)
		}
	}
	if len(got) != 11 {
		t.Errorf("%d problems, want 11: %v", len(got), got)
	}
}

// TestBuildFileProblems: problems of the whole file.
func TestBuildFileProblems(t *testing.T) {
	csvOf := func(s string) *Book {
		b, err := Read([]byte(s), "x.csv")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name, csv, cycle, field string
	}{
		{"no header", "a,b\n1,2\n", "", "file"},
		{"no cycle", "整改事项,责任单位,整改时限\n学习,东风社区党委,2024-06-30\n", "", "cycle_id"},
		{"closed cycle", "整改事项,责任单位,整改时限\n学习,东风社区党委,2024-06-30\n", "y-prev", "cycle_id"},
		{"unknown cycle", "整改事项,责任单位,整改时限\n学习,东风社区党委,2024-06-30\n", "y-nope", "cycle_id"},
		{"two cycles", "整改事项,责任单位,整改时限,评议周期\n学习,东风社区党委,2024-06-30,y-cur\n会议,东风社区党委,2024-06-30,2023\n", "", "cycle_id"},
		{"only headers", "整改事项,责任单位,整改时限\n", "y-cur", "file"},
	} {
		_, probs := Build(csvOf(c.csv), testDir, Options{CycleID: c.cycle})
		if len(probs) == 0 || probs[0].Field != c.field {
			t.Errorf("%s: problems %+v, want one on %s", c.name, probs, c.field)
		}
	}
	// A missing required column is named with the header row.
	_, probs := Build(csvOf("整改事项,责任单位\n学习,东风社区党委\n"), testDir, Options{CycleID: "y-cur"})
	if len(probs) != 1 || probs[0].Column != "整改时限" || probs[0].Row != 1 {
		t.Errorf("missing column: %+v", probs)
	}
	// A row whose cycle differs from the import's.
	_, probs = Build(csvOf("整改事项,责任单位,整改时限,评议周期\n学习,东风社区党委,2024-06-30,2023\n"), testDir, Options{CycleID: "y-cur"})
	if len(probs) != 1 || probs[0].Cell != "D2" {
		t.Errorf("row of another cycle: %+v", probs)
	}
}

// TestReadRefusesOtherFiles: an old .xls, a damaged workbook and binary
// junk are refused naming the file.
func TestReadRefusesOtherFiles(t *testing.T) {
	for name, data := range map[string][]byte{
		"old.xls":  {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0},
		"bad.xlsx": []byte("PK\x03\x04 this is no zip"),
		"bin.csv":  {0x00, 0x01, 0x02, 0xFF, 0xFE, 0x00},
		"empty":    {},
	} {
		_, err := Read(data, name)
		var e *events.Error
		if err == nil || !errorsAs(err, &e) || e.Code != events.CodeInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "file" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestMergedCellsAndSerialDates: a hand-kept workbook with merged unit
// cells, a header under a title, and dates typed as Excel dates.
func TestMergedCellsAndSerialDates(t *testing.T) {
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", "2024台账")
	f.SetCellValue("2024台账", "A1", "城关街道工委2024年度整改台账")
	f.MergeCell("2024台账", "A1", "E1")
	f.SetSheetRow("2024台账", "A2", &[]any{"序号", "责任单位", "整改事项", "整改时限", "整改措施"})
	f.SetSheetRow("2024台账", "A3", &[]any{1, "东风社区党委", "问题一", 45473, "措施一\n措施二"})
	f.SetSheetRow("2024台账", "A4", &[]any{2, nil, "问题二", "20241231"})
	f.MergeCell("2024台账", "B3", "B4")
	style, _ := f.NewStyle(&excelize.Style{NumFmt: 14})
	f.SetCellStyle("2024台账", "D3", "D3", style)
	var buf bytes.Buffer
	f.Write(&buf)
	p := mustBuild(t, buf.Bytes(), "手工台账.xlsx", Options{CycleID: "y-cur"})
	its := p.Import.Items
	if len(its) != 2 || its[1].UnitID != "sq-dongfeng" || its[0].Deadline != date("2024-06-30") || its[1].Deadline != date("2024-12-31") ||
		len(its[0].Measures) != 2 || its[0].Measures[1].Text != "措施二" || p.Tables[0].HeaderRow != 2 {
		t.Errorf("import %+v, tables %+v", its, p.Tables)
	}
}

// TestLocate: the command side's field errors land on the rows and
// columns they came from.
func TestLocate(t *testing.T) {
	text := "事项编号,整改事项,责任单位,整改时限,整改措施\nzg-1,问题一,东风社区党委,2024-06-30,\"1. 甲\n2. 乙\"\n"
	p := mustBuild(t, []byte(text), "x.csv", Options{CycleID: "y-cur"})
	err := &events.Error{Code: events.CodeConflict, Message: "x", Fields: []events.FieldError{
		{Field: "i2.item_id", Problem: "item zg-1 already exists"},
		{Field: "i2.m2.text", Problem: "must be at most 2000 characters"},
		{Field: "i2", Problem: "i2: admin may not raise an item"},
		{Field: "cycle_id", Problem: "cycle y-cur is closed"},
	}}
	got := p.Locate(err)
	want := []Problem{
		{Sheet: "整改事项", Row: 2, Column: "事项编号", Cell: "A2", Field: "i2.item_id", Value: "zg-1", Problem: "事项编号 item zg-1 already exists"},
		{Sheet: "整改事项", Row: 2, Column: "整改措施", Cell: "E2", Field: "i2.m2.text", Value: "1. 甲\n2. 乙", Problem: "measure 2: text must be at most 2000 characters"},
		{Sheet: "整改事项", Row: 2, Field: "i2", Problem: "admin may not raise an item"},
		{Field: "cycle_id", Problem: "cycle y-cur is closed"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Locate:\n%+v\nwant\n%+v", got, want)
	}
}

func TestMeasuresCell(t *testing.T) {
	ms := []measureOut{
		{Text: "制定计划（含线上）", OwnerName: "王秀兰", OwnerID: "u-1", Due: date("2024-05-31"), Done: true},
		{Text: "第一行\n第二行", Due: date("2024-06-30")},
		{Text: "1.5万元专项经费到位"},
	}
	cell := formatMeasures(ms)
	got, probs := parseMeasures(cell)
	if len(probs) > 0 {
		t.Fatalf("problems %v in %q", probs, cell)
	}
	want := []parsedMeasure{
		{text: "制定计划（含线上）", ownerName: "王秀兰", ownerID: "u-1", due: date("2024-05-31"), done: true},
		{text: "第一行\n第二行", due: date("2024-06-30")},
		{text: "1.5万元专项经费到位"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMeasures(%q) =\n%+v\nwant\n%+v", cell, got, want)
	}
	for cell, texts := range map[string][]string{
		"措施一\n措施二\n\n":      {"措施一", "措施二"},
		"（一）建立制度\n（二）抓好落实":  {"建立制度", "抓好落实"},
		"①排查\n②整改":          {"排查", "整改"},
		"1、学习\n 继续学习\n2、总结": {"学习\n继续学习", "总结"},
		"召开会议（每月1次）":        {"召开会议（每月1次）"},
		"1.5万元经费":           {"1.5万元经费"},
		"":                  nil,
	} {
		got, _ := parseMeasures(cell)
		var texts2 []string
		for _, m := range got {
			texts2 = append(texts2, m.text)
		}
		if !slices.Equal(texts2, texts) {
			t.Errorf("parseMeasures(%q) = %q, want %q", cell, texts2, texts)
		}
	}
}

func TestParseDate(t *testing.T) {
	for _, c := range []struct {
		shown, raw string
		xlsx       bool
		want       string
		bad        bool
	}{
		{"2024-06-30", "", false, "2024-06-30", false},
		{"2024/6/3", "", false, "2024-06-03", false},
		{"2024.6.30", "", false, "2024-06-30", false},
		{"2024年6月30日", "", false, "2024-06-30", false},
		{"２０２４－０６－３０", "", false, "2024-06-30", false},
		{"20240630", "", false, "2024-06-30", false},
		{"2024-06-30 00:00:00", "", false, "2024-06-30", false},
		{"6/30/24", "45473", true, "2024-06-30", false},
		{"", "", false, "", false},
		{"2024-02-30", "", false, "", true},
		{"明年", "", false, "", true},
		{"45473", "45473", false, "", true}, // a serial in a CSV is no date
	} {
		d, problem := parseDate(c.shown, c.raw, c.xlsx, false)
		if (problem != "") != c.bad || (!c.bad && d.String() != c.want) {
			t.Errorf("parseDate(%q, %q) = %s, %q", c.shown, c.raw, d, problem)
		}
	}
}

func TestParseCount(t *testing.T) {
	for s, want := range map[string]int{"2": 2, "3次": 3, "２": 2, "4.0": 4, "-2": 0, "0": 0, "1.5": 0, "两": 0, "": 0} {
		n, problem := parseCount(s)
		if n != want || (want == 0) != (problem != "") {
			t.Errorf("parseCount(%q) = %d, %q", s, n, problem)
		}
	}
}

// FuzzRead: no input makes reading and building panic, and every
// problem says something.
func FuzzRead(f *testing.F) {
	items, _ := sampleRows()
	var buf bytes.Buffer
	WriteCSV(&buf, LedgerSheet(items))
	f.Add(buf.Bytes())
	f.Add([]byte("整改事项,责任单位,整改时限,整改措施\n学习,东风社区党委,2024-06-30,\"1. 甲（责任人：王；完成时限：x）\"\n"))
	f.Add([]byte("承诺事项,责任单位,履诺活动,目标次数,统计周期,开始日期,结束日期\n走访,gw,走访,3,每周,2024-01-01,2024-12-31\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Read(data, "f.csv")
		if err != nil {
			return
		}
		_, probs := Build(b, testDir, Options{CycleID: "y-cur"})
		for _, p := range probs {
			if p.Problem == "" {
				t.Errorf("empty problem %+v", p)
			}
		}
	})
}

// FuzzReadXLSX is FuzzRead for workbooks: seeded with real ones (an
// exported ledger, a commitments sheet alone), it mutates their zip
// archives. Reading never panics; a refusal is CodeInvalid naming "file";
// a workbook read builds into rows whose every problem says something.
func FuzzReadXLSX(f *testing.F) {
	items, cs := sampleRows()
	for _, sheets := range [][]Sheet{
		{LedgerSheet(items), CommitmentSheet(cs, map[string]string{"y-cur": "2024年度抓基层党建工作述职评议"})},
		{CommitmentSheet(cs, nil)},
	} {
		var buf bytes.Buffer
		if err := WriteXLSX(&buf, sheets, Info{}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Read(data, "台账.xlsx")
		if err != nil {
			var e *events.Error
			if !errorsAs(err, &e) || e.Code != events.CodeInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "file" {
				t.Fatalf("error %v: want CodeInvalid naming file", err)
			}
			return
		}
		_, probs := Build(b, testDir, Options{CycleID: "y-cur"})
		for _, p := range probs {
			if p.Problem == "" {
				t.Errorf("empty problem %+v", p)
			}
		}
	})
}

func errorsAs(err error, target **events.Error) bool {
	e, ok := err.(*events.Error)
	if ok {
		*target = e
	}
	return ok
}
