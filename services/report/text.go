package report

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"

	"rectify/events"
)

// MaxInputSize is the largest report Parse reads, in bytes. Annual reports
// are tens of kilobytes; anything near this is not one.
const MaxInputSize = 4 << 20

// Encodings Parse recognises, as reported in Draft.Encoding.
const (
	EncodingUTF8    = "utf-8"
	EncodingUTF8BOM = "utf-8-bom"
	EncodingUTF16LE = "utf-16le"
	EncodingUTF16BE = "utf-16be"
	EncodingGB18030 = "gb18030"
)

// decode turns the bytes of a report into text and names the encoding it
// found. The order of the checks matters: a byte order mark is certain;
// valid UTF-8 is almost certain (GB18030 text of any length is practically
// never valid UTF-8); text that is mostly UTF-8 with a few broken bytes is
// still UTF-8 (a truncated copy), with the broken bytes replaced and a
// warning; what remains is read as GB18030, which maps nearly every byte
// sequence, so that text is refused only when many replacement characters
// come out of it.
func decode(b []byte) (string, string, []string, error) {
	var warnings []string
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		s, w := lossyUTF8(b[3:])
		return s, EncodingUTF8BOM, append(warnings, w...), nil
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		s, err := utf16Text(b, xunicode.LittleEndian)
		return s, EncodingUTF16LE, nil, err
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		s, err := utf16Text(b, xunicode.BigEndian)
		return s, EncodingUTF16BE, nil, err
	case utf8.Valid(b):
		return string(b), EncodingUTF8, nil, nil
	}
	if e, ok := bomlessUTF16(b); ok {
		s, err := utf16Text(b, e)
		if err == nil && strings.Count(s, "\uFFFD")*100 <= utf8.RuneCountInString(s) {
			enc := EncodingUTF16LE
			if e == xunicode.BigEndian {
				enc = EncodingUTF16BE
			}
			return s, enc, []string{"UTF-16 without a byte order mark: the byte order was guessed from the zero bytes"}, nil
		}
	}
	if mostlyUTF8(b) {
		s, w := lossyUTF8(b)
		return s, EncodingUTF8, w, nil
	}
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil {
		return "", "", nil, events.Wrap(events.CodeInvalid, err, "the report is not UTF-8, UTF-16 with a byte order mark or GB18030")
	}
	s := string(out)
	total := utf8.RuneCountInString(s)
	bad := strings.Count(s, "\uFFFD")
	if bad > 0 && (bad*20 > total || bytes.IndexByte(b, 0) >= 0) {
		return "", "", nil, events.Errorf(events.CodeInvalid, "the report is not UTF-8, UTF-16 with a byte order mark or GB18030 (%d of %d characters unreadable)", bad, total)
	}
	if bad > 0 {
		warnings = append(warnings, plural(bad, "character could not be read as GB18030 and shows as \uFFFD", "characters could not be read as GB18030 and show as \uFFFD"))
	}
	return s, EncodingGB18030, warnings, nil
}

func utf16Text(b []byte, e xunicode.Endianness) (string, error) {
	out, err := xunicode.UTF16(e, xunicode.UseBOM).NewDecoder().Bytes(b)
	if err != nil {
		return "", events.Wrap(events.CodeInvalid, err, "the report is not valid UTF-16")
	}
	return string(out), nil
}

// bomlessUTF16 guesses UTF-16 without a byte order mark from zero bytes:
// no other encoding Parse reads has any, and UTF-16 has one in the high
// byte of every ASCII character (digits, line breaks), which even a
// Chinese report has a few of. The high byte is the second in
// little-endian order: the side with clearly more zeros gives the order.
func bomlessUTF16(b []byte) (xunicode.Endianness, bool) {
	if len(b) < 4 || len(b)%2 != 0 {
		return xunicode.BigEndian, false
	}
	var even, odd int
	for i := 0; i < len(b); i += 2 {
		if b[i] == 0 {
			even++
		}
		if b[i+1] == 0 {
			odd++
		}
	}
	half := len(b) / 2
	switch {
	case odd*100 >= half && odd >= 3*even:
		return xunicode.LittleEndian, true
	case even*100 >= half && even >= 3*odd:
		return xunicode.BigEndian, true
	}
	return xunicode.BigEndian, false
}

// mostlyUTF8 reports whether b is UTF-8 text with a few broken bytes: at
// least twenty well-formed multi-byte characters for every broken byte.
func mostlyUTF8(b []byte) bool {
	var good, bad int
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n == 1:
			bad++
		case n > 1:
			good++
		}
		b = b[n:]
	}
	return good > 0 && bad*20 <= good
}

func lossyUTF8(b []byte) (string, []string) {
	if utf8.Valid(b) {
		return string(b), nil
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	n := strings.Count(s, "\uFFFD")
	return s, []string{plural(n, "broken UTF-8 sequence shows as \uFFFD", "broken UTF-8 sequences show as \uFFFD")}
}

// splitLines splits text into lines at \r\n, \n or \r, without the line
// ends. Line i of the result is line i+1 of the file.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	if n := len(lines); n > 1 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	return lines
}

// fold is the one-to-one character mapping used for matching: full-width
// ASCII forms become ASCII (（１） reads as (1)), the ideographic and other
// exotic spaces become a space, and the dashes and wave dashes people put
// between numbers become - and ~. Every rune maps to exactly one rune, so an
// index into folded text is an index into the original: matching happens on
// the folded copy, display uses the original.
func fold(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		r -= 0xFEE0
	case r == 0x3000 || r == 0x00A0 || (r >= 0x2000 && r <= 0x200B) || r == 0x202F || r == 0x205F || r == 0xFEFF:
		return ' '
	case r == 0xFF61:
		return '。'
	case r == 0x2010 || r == 0x2011 || r == 0x2012 || r == 0x2013 || r == 0x2014 || r == 0x2015 || r == 0x2212 || r == 0xFE63:
		return '-'
	case r == 0x301C:
		return '~'
	}
	if r == '\t' {
		return ' '
	}
	return r
}

// text is a run of the report: the original characters, their folded
// twins (same length) and the file line each character came from. Text
// that spans lines holds a '\n' between them.
type text struct {
	orig, norm []rune
	lines      []int
}

func lineText(s string, line int) text {
	orig := []rune(s)
	t := text{orig: orig, norm: make([]rune, len(orig)), lines: make([]int, len(orig))}
	for i, r := range orig {
		t.norm[i] = fold(r)
		t.lines[i] = line
	}
	return t
}

func (t text) len() int { return len(t.orig) }

func (t text) slice(i, j int) text {
	return text{orig: t.orig[i:j:j], norm: t.norm[i:j:j], lines: t.lines[i:j:j]}
}

// String is the original text.
func (t text) String() string { return string(t.orig) }

// folded is the text used for matching.
func (t text) folded() string { return string(t.norm) }

// oneLine is the original text without line breaks, for one-line fields
// such as titles: a hard-wrapped sentence reads as one.
func (t text) oneLine() string {
	var b strings.Builder
	for i, r := range t.orig {
		switch {
		case t.norm[i] == paraBreak:
			b.WriteRune(' ')
		case r != '\n' && r != '\r':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// line is the file line of the first character, 0 for empty text.
func (t text) line() int {
	if len(t.lines) == 0 {
		return 0
	}
	return t.lines[0]
}

// paraBreak is the folded twin of a line break between a heading and the
// text under it, or between sibling entries: always a boundary, unlike a
// line break inside a paragraph, which may be hard wrapping. The original
// text keeps a plain '\n' in both cases.
const paraBreak = '\u2029'

// join returns t and u across a structural break (paraBreak), in a new
// array.
func (t text) join(u text) text {
	if t.len() == 0 {
		return u
	}
	if u.len() == 0 {
		return t
	}
	n := t.len() + u.len() + 1
	out := text{orig: make([]rune, 0, n), norm: make([]rune, 0, n), lines: make([]int, 0, n)}
	out.orig = append(append(append(out.orig, t.orig...), '\n'), u.orig...)
	out.norm = append(append(append(out.norm, t.norm...), paraBreak), u.norm...)
	out.lines = append(append(append(out.lines, t.lines...), t.lines[len(t.lines)-1]), u.lines...)
	return out
}

// add appends u to t in place, after brk when t is not empty. Use it
// only on a text being built: copies of t share its array.
func (t *text) add(u text, brk rune) {
	if u.len() == 0 {
		return
	}
	if t.len() > 0 {
		t.orig = append(t.orig, '\n')
		t.norm = append(t.norm, brk)
		t.lines = append(t.lines, t.lines[len(t.lines)-1])
	}
	t.orig = append(t.orig, u.orig...)
	t.norm = append(t.norm, u.norm...)
	t.lines = append(t.lines, u.lines...)
}

// trim drops leading and trailing characters for which cut reports true
// (judged on the folded text).
func (t text) trim(cut func(rune) bool) text {
	i, j := 0, t.len()
	for i < j && cut(t.norm[i]) {
		i++
	}
	for j > i && cut(t.norm[j-1]) {
		j--
	}
	return t.slice(i, j)
}

func (t text) trimSpace() text { return t.trim(unicode.IsSpace) }

// trimPunct trims spaces and the punctuation that separates clauses.
func (t text) trimPunct() text { return t.trim(isSeparator) }

func isSeparator(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("。；;，,、:：.!?！？", r)
}

// index returns the index of pat in the folded text at or after from, or
// -1.
func (t text) index(pat string, from int) int {
	if pat == "" {
		return from
	}
	first, _ := utf8.DecodeRuneInString(pat)
	for i := max(from, 0); i < len(t.norm); i++ {
		if t.norm[i] == first && t.at(i, pat) {
			return i
		}
	}
	return -1
}

// at reports whether the folded text has pat at index i.
func (t text) at(i int, pat string) bool {
	if i < 0 {
		return false
	}
	for _, r := range pat {
		if i >= len(t.norm) || t.norm[i] != r {
			return false
		}
		i++
	}
	return true
}

// cut returns t with every occurrence of the given words removed.
func (t text) cut(words ...string) text {
	out := text{}
	for i := 0; i < t.len(); {
		n := 0
		for _, w := range words {
			if t.at(i, w) {
				n = utf8.RuneCountInString(w)
				break
			}
		}
		if n > 0 {
			i += n
			continue
		}
		out.orig = append(out.orig, t.orig[i])
		out.norm = append(out.norm, t.norm[i])
		out.lines = append(out.lines, t.lines[i])
		i++
	}
	return out
}

// concat returns a followed by b without anything between them.
func concat(a, b text) text {
	out := text{
		orig:  append(append([]rune{}, a.orig...), b.orig...),
		norm:  append(append([]rune{}, a.norm...), b.norm...),
		lines: append(append([]int{}, a.lines...), b.lines...),
	}
	return out
}

// clip shortens s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
