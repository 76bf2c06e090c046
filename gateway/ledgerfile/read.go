package ledgerfile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"

	"rectify/events"
)

// Formats of a file.
const (
	FormatXLSX = "xlsx"
	FormatCSV  = "csv"
)

// Encodings of a CSV file, as Book.Encoding reports them.
const (
	EncodingUTF8    = "utf-8"
	EncodingUTF8BOM = "utf-8-bom"
	EncodingUTF16LE = "utf-16le"
	EncodingUTF16BE = "utf-16be"
	EncodingGB18030 = "gb18030"
)

// Limits of what Read accepts. A committee's ledger is hundreds of rows;
// an import takes at most events.MaxImportEntries entries anyway.
const (
	// MaxFileSize is the largest file Read accepts, in bytes.
	MaxFileSize = 10 << 20
	// MaxRows is the most rows a sheet may have.
	MaxRows = 5000
	// maxUnzipped bounds what an XLSX may expand to (a zip bomb stops
	// here), and maxSheetXML one sheet's XML.
	maxUnzipped = 100 << 20
	maxSheetXML = 50 << 20
	// headerScan is how many rows may stand above the header (a title
	// such as "城关街道工委2024年整改台账", a date line).
	headerScan = 10
)

// Book is a file read into sheets of text cells.
type Book struct {
	Format string
	// Encoding is the text encoding of a CSV file.
	Encoding string
	Sheets   []RawSheet
	// date1904: the workbook counts dates from 1904 (old Mac Excel).
	date1904 bool
}

// RawSheet is one sheet's cells: Rows as the spreadsheet shows them, Raw
// (XLSX only) the stored values, where a date is a serial number.
type RawSheet struct {
	Name string
	Rows [][]string
	Raw  [][]string
}

// Read reads an XLSX workbook or a CSV file (UTF-8 with or without a byte
// order mark, UTF-16 with one, or GB18030 as Excel in China writes it).
// name is the file's name; a CSV sheet is named after the table it holds
// once Build has recognised it.
//
// Errors are CodeInvalid naming "file": a file that is neither, an old
// binary .xls, a damaged or encrypted workbook, a CSV that does not parse.
func Read(data []byte, name string) (*Book, error) {
	if len(data) == 0 {
		return nil, events.Invalid("file", "is empty")
	}
	if len(data) > MaxFileSize {
		return nil, events.Invalid("file", fmt.Sprintf("is larger than %d MiB", MaxFileSize>>20))
	}
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return readXLSX(data)
	case bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		return nil, events.Invalid("file", "is an old Excel 97-2003 workbook (.xls) or an encrypted one: save it as .xlsx (Excel 工作簿) or .csv and import that")
	}
	return readCSV(data, name)
}

func readXLSX(data []byte) (*Book, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: maxUnzipped, UnzipXMLSizeLimit: maxSheetXML})
	if err != nil {
		return nil, events.Invalid("file", "is not a readable XLSX workbook: "+err.Error())
	}
	defer f.Close()
	b := &Book{Format: FormatXLSX}
	if p, err := f.GetWorkbookProps(); err == nil && p.Date1904 != nil {
		b.date1904 = *p.Date1904
	}
	for _, name := range f.GetSheetList() {
		rows, err := f.GetRows(name)
		if err != nil {
			return nil, events.Invalid("file", fmt.Sprintf("sheet %s cannot be read: %v", name, err))
		}
		raw, err := f.GetRows(name, excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, events.Invalid("file", fmt.Sprintf("sheet %s cannot be read: %v", name, err))
		}
		if len(rows) > MaxRows+headerScan {
			return nil, events.Invalid("file", fmt.Sprintf("sheet %s has %d rows; an import takes at most %d", name, len(rows), MaxRows))
		}
		// A ledger kept by hand merges cells (one unit over the rows of
		// its items): every cell of a merged range holds its value.
		if merged, err := f.GetMergeCells(name); err == nil {
			for _, m := range merged {
				fillMerged(rows, m)
				fillMerged(raw, m)
			}
		}
		b.Sheets = append(b.Sheets, RawSheet{Name: name, Rows: rows, Raw: raw})
	}
	return b, nil
}

// fillMerged copies the value of a merged range's first cell into the
// range's other cells of rows, for the rows that exist.
func fillMerged(rows [][]string, m excelize.MergeCell) {
	c1, r1, err1 := excelize.CellNameToCoordinates(m.GetStartAxis())
	c2, r2, err2 := excelize.CellNameToCoordinates(m.GetEndAxis())
	if err1 != nil || err2 != nil || r1 < 1 || r1 > len(rows) {
		return
	}
	v := cellAt(rows[r1-1], c1-1)
	for r := r1; r <= r2 && r <= len(rows); r++ {
		for c := c1; c <= c2; c++ {
			if r == r1 && c == c1 {
				continue
			}
			row := rows[r-1]
			for len(row) < c {
				row = append(row, "")
			}
			row[c-1] = v
			rows[r-1] = row
		}
	}
}

func readCSV(data []byte, name string) (*Book, error) {
	text, enc, err := decodeText(data)
	if err != nil {
		return nil, err
	}
	if strings.ContainsRune(text, 0) {
		return nil, events.Invalid("file", "is neither an XLSX workbook nor a CSV text file")
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = sniffComma(text)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, events.Invalid("file", fmt.Sprintf("is not valid CSV at line %d: %v", pe.Line, pe.Err))
			}
			return nil, events.Invalid("file", "is not valid CSV: "+err.Error())
		}
		rows = append(rows, rec)
		if len(rows) > MaxRows+headerScan {
			return nil, events.Invalid("file", fmt.Sprintf("has more than %d rows; an import takes at most %d", MaxRows, MaxRows))
		}
	}
	return &Book{Format: FormatCSV, Encoding: enc, Sheets: []RawSheet{{Name: name, Rows: rows}}}, nil
}

// sniffComma picks the separator of the first line: Excel writes commas
// in CSV, and tabs when it saves "Unicode text".
func sniffComma(text string) rune {
	line, _, _ := strings.Cut(text, "\n")
	if strings.Count(line, "\t") > strings.Count(line, ",") {
		return '\t'
	}
	return ','
}

// decodeText turns a CSV file's bytes into text. A byte order mark is
// certain; valid UTF-8 is practically certain (GB18030 text of any length
// is practically never valid UTF-8); what remains is read as GB18030 and
// refused when it does not decode cleanly, rather than importing garbled
// names.
func decodeText(b []byte) (string, string, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		if !utf8.Valid(b[3:]) {
			return "", "", events.Invalid("file", "starts with a UTF-8 byte order mark but is not valid UTF-8")
		}
		return string(b[3:]), EncodingUTF8BOM, nil
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		order, enc := xunicode.LittleEndian, EncodingUTF16LE
		if b[0] == 0xFE {
			order, enc = xunicode.BigEndian, EncodingUTF16BE
		}
		out, err := xunicode.UTF16(order, xunicode.ExpectBOM).NewDecoder().Bytes(b)
		if err != nil || bytes.Contains(out, []byte("\uFFFD")) {
			return "", "", events.Invalid("file", "starts with a UTF-16 byte order mark but is not valid UTF-16")
		}
		return string(out), enc, nil
	case utf8.Valid(b):
		return string(b), EncodingUTF8, nil
	}
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil || bytes.Contains(out, []byte("\uFFFD")) || !utf8.Valid(out) {
		return "", "", events.Invalid("file", "is neither UTF-8 nor GB18030 text: save the CSV as UTF-8 (CSV UTF-8) or as CSV from Chinese Excel")
	}
	return string(out), EncodingGB18030, nil
}

// cellAt is row[i], or "" past the row's end.
func cellAt(row []string, i int) string {
	if i < 0 || i >= len(row) {
		return ""
	}
	return row[i]
}
