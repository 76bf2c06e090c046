package ledgerfile

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"rectify/events"
)

// Kinds of column: how a cell is written.
const (
	Text    = iota // one line of text
	Wrap           // text of several lines, wrapped
	Date           // an events.Date: a real Excel date, yyyy-mm-dd
	Int            // a whole number
	Percent        // an int 0..100, shown as 60%
	Ratio          // a float 0..1, shown as 85.7%
	Number         // a float, two decimals
)

// Fills of a cell, for colours that carry meaning (red, yellow, green).
const (
	FillNone = iota
	FillRed
	FillYellow
	FillGreen
	FillGrey
)

// Column is one column of a sheet.
type Column struct {
	Header string
	Width  float64
	Kind   int
}

// Cell is one value with an optional fill. V is a string, an int, a
// float64, an events.Date or nil.
type Cell struct {
	V    any
	Fill int
}

// Sheet is one table to write: a header row, then one row per record.
type Sheet struct {
	Name    string
	Columns []Column
	Rows    [][]Cell
}

// Info is what the export sheet 导出信息 says about a workbook: when it
// was made, by whom, from what.
type Info struct {
	Lines [][2]string
}

// ContentType is the media type of a format.
func ContentType(format string) string {
	if format == FormatCSV {
		return "text/csv; charset=utf-8"
	}
	return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
}

// WriteXLSX writes sheets as one workbook, each with a bold, frozen
// header row and a filter, then the info sheet when it has lines.
func WriteXLSX(w io.Writer, sheets []Sheet, info Info) error {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return err
	}
	for i, s := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", s.Name); err != nil {
				return fmt.Errorf("sheet %s: %w", s.Name, err)
			}
		} else if _, err := f.NewSheet(s.Name); err != nil {
			return fmt.Errorf("sheet %s: %w", s.Name, err)
		}
		if err := writeSheet(f, s, st); err != nil {
			return fmt.Errorf("sheet %s: %w", s.Name, err)
		}
	}
	if len(info.Lines) > 0 {
		s := Sheet{Name: SheetInfo, Columns: []Column{{Header: "项目", Width: 18}, {Header: "内容", Width: 80, Kind: Wrap}}}
		for _, l := range info.Lines {
			s.Rows = append(s.Rows, []Cell{{V: l[0]}, {V: l[1]}})
		}
		if _, err := f.NewSheet(s.Name); err != nil {
			return err
		}
		if err := writeSheet(f, s, st); err != nil {
			return fmt.Errorf("sheet %s: %w", s.Name, err)
		}
	}
	f.SetActiveSheet(0)
	if err := f.SetDocProps(&excelize.DocProperties{Creator: "rectify", Title: sheets[0].Name, Language: "zh-CN",
		Created: time.Now().UTC().Format(time.RFC3339)}); err != nil {
		return err
	}
	return f.Write(w)
}

// styles are the cell styles of a workbook, by column kind and fill.
type styles struct {
	header int
	cell   map[[2]int]int // {kind, fill} -> style id
}

func newStyles(f *excelize.File) (*styles, error) {
	border := []excelize.Border{{Type: "left", Color: "BFBFBF", Style: 1}, {Type: "right", Color: "BFBFBF", Style: 1},
		{Type: "top", Color: "BFBFBF", Style: 1}, {Type: "bottom", Color: "BFBFBF", Style: 1}}
	st := &styles{cell: map[[2]int]int{}}
	var err error
	st.header, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Border: border,
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D9E1F2"}},
		Alignment: &excelize.Alignment{Vertical: "center", WrapText: true}})
	if err != nil {
		return nil, err
	}
	fills := map[int]string{FillRed: "FFC7CE", FillYellow: "FFEB9C", FillGreen: "C6EFCE", FillGrey: "EDEDED"}
	date := "yyyy-mm-dd"
	for _, kind := range []int{Text, Wrap, Date, Int, Percent, Ratio, Number} {
		for _, fill := range []int{FillNone, FillRed, FillYellow, FillGreen, FillGrey} {
			s := &excelize.Style{Border: border, Alignment: &excelize.Alignment{Vertical: "top", WrapText: kind == Wrap}}
			switch kind {
			case Date:
				s.CustomNumFmt = &date
			case Int:
				s.NumFmt = 1 // 0
			case Percent:
				s.NumFmt = 9 // 0%
			case Ratio:
				s.NumFmt = 10 // 0.00%
			case Number:
				s.NumFmt = 2 // 0.00
			}
			if c, ok := fills[fill]; ok {
				s.Fill = excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{c}}
			}
			id, err := f.NewStyle(s)
			if err != nil {
				return nil, err
			}
			st.cell[[2]int{kind, fill}] = id
		}
	}
	return st, nil
}

// writeSheet streams one sheet: widths, the header, the rows, a frozen
// header row and an autofilter over the table.
func writeSheet(f *excelize.File, s Sheet, st *styles) error {
	sw, err := f.NewStreamWriter(s.Name)
	if err != nil {
		return err
	}
	for i, c := range s.Columns {
		width := c.Width
		if width == 0 {
			width = 12
		}
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, len(s.Columns))
	for i, c := range s.Columns {
		head[i] = excelize.Cell{StyleID: st.header, Value: c.Header}
	}
	if err := sw.SetRow("A1", head, excelize.RowOpts{Height: 20}); err != nil {
		return err
	}
	for r, row := range s.Rows {
		vals := make([]any, len(s.Columns))
		for i, c := range s.Columns {
			var cell Cell
			if i < len(row) {
				cell = row[i]
			}
			vals[i] = excelize.Cell{StyleID: st.cell[[2]int{c.Kind, cell.Fill}], Value: xlsxValue(c.Kind, cell.V)}
		}
		ref, _ := excelize.CoordinatesToCellName(1, r+2)
		if err := sw.SetRow(ref, vals); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if len(s.Rows) > 0 && s.Name != SheetInfo {
		last, _ := excelize.CoordinatesToCellName(len(s.Columns), len(s.Rows)+1)
		return f.AutoFilter(s.Name, "A1:"+last, nil)
	}
	return nil
}

// xlsxValue is what a cell holds in a workbook: dates as dates, percents
// as fractions, text as text (never a formula: a title starting with =
// stays text).
func xlsxValue(kind int, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case events.Date:
		if x.IsZero() {
			return nil
		}
		return x.Time(time.UTC)
	case int:
		if kind == Percent {
			return float64(x) / 100
		}
		return x
	case *float64:
		if x == nil {
			return nil
		}
		return *x
	}
	return v
}

// WriteCSV writes one sheet as CSV for Excel: UTF-8 with a byte order
// mark (without it Excel in China reads the file as GB18030 and garbles
// it), CRLF line ends, and a ' before any text Excel would run as a
// formula (=, +, -, @), which the import takes off again.
func WriteCSV(w io.Writer, s Sheet) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("\uFEFF")
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	rec := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		rec[i] = c.Header
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for _, row := range s.Rows {
		for i, c := range s.Columns {
			rec[i] = ""
			if i < len(row) {
				rec[i] = csvValue(c.Kind, row[i].V)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

func csvValue(kind int, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case events.Date:
		return x.String()
	case int:
		if kind == Percent {
			return strconv.Itoa(x) + "%"
		}
		return strconv.Itoa(x)
	case float64:
		if kind == Ratio {
			return strconv.FormatFloat(x*100, 'f', 1, 64) + "%"
		}
		return strconv.FormatFloat(x, 'f', 2, 64)
	case *float64:
		if x == nil {
			return ""
		}
		return csvValue(kind, *x)
	case string:
		if x != "" && strings.ContainsRune("=+-@", rune(x[0])) {
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				return "'" + x
			}
		}
		return x
	}
	return fmt.Sprint(v)
}
