package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"

	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"

	"rectify/events"
)

var update = flag.Bool("update", false, "rewrite the golden drafts in testdata/")

// samples are the reports under testdata/, written for these tests in the
// shape of a 街道工委 or 社区党委 annual report.
func samples(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) < 5 {
		tb.Fatalf("samples: %v (%d files)", err, len(files))
	}
	return files
}

// MustParseFile parses a sample report.
func MustParseFile(tb testing.TB, path string) Draft {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	d, err := Parse(f)
	if err != nil {
		tb.Fatalf("Parse(%s): %v", path, err)
	}
	return d
}

func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestGoldenDrafts pins the draft of every sample. Run with -update after
// a deliberate change, and read the diff: it is the parser's behaviour.
func TestGoldenDrafts(t *testing.T) {
	for _, path := range samples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got := marshal(t, MustParseFile(t, path))
			golden := strings.TrimSuffix(path, ".txt") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update once to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("draft of %s differs from %s; run with -update if the change is meant:\n%s", path, golden, got)
			}
		})
	}
}

// TestSampleShapes states, per sample, what a reviewer would check first:
// the title and unit, how many items and commitments, how measures were
// tied, and what was left out. The goldens hold the rest.
func TestSampleShapes(t *testing.T) {
	tests := []struct {
		file                   string
		encoding, title, unit  string
		items, commitments     int
		match                  string // of the plans section
		unmatched              int
		skipped                map[string]int
		measuresPerItem        []int
		causesPerItem          []int
		firstCommitmentPerItem map[string]string // item key -> title of its first commitment
	}{
		{
			file: "dongfeng_2019.txt", encoding: EncodingUTF8,
			title: "东风街道工委2019年度抓基层党建工作述职报告", unit: "东风街道工委",
			items: 3, commitments: 9, match: MatchOrder,
			skipped:         map[string]int{ReasonClosing: 1},
			measuresPerItem: []int{3, 3, 3}, causesPerItem: []int{2, 2, 1},
			firstCommitmentPerItem: map[string]string{"p1": "街道工委每月召开1次党建工作专题会议", "p2": "社区党委书记每月走访弱势群体5户", "p3": "党建指导员每月到联系企业指导工作3-5次"},
		},
		{
			file: "xihu_2019_gb18030.txt", encoding: EncodingGB18030,
			title: "2019年度党建工作述职报告", unit: "中共西湖社区委员会",
			items: 3, commitments: 8, match: MatchKeywords, unmatched: 2,
			skipped:         map[string]int{},
			measuresPerItem: []int{3, 3, 0}, causesPerItem: []int{1, 1, 1},
			firstCommitmentPerItem: map[string]string{"p1": "党委中心组每月集中学习2次", "p2": "每月开展一次主题党日活动"},
		},
		{
			file: "nanshan_2019.txt", encoding: EncodingUTF8BOM,
			title: "南山社区党支部２０１９年度述职报告", unit: "南山社区党支部",
			items: 3, commitments: 8, match: MatchOrder,
			skipped:         map[string]int{},
			measuresPerItem: []int{3, 3, 3}, causesPerItem: []int{1, 1, 0},
			firstCommitmentPerItem: map[string]string{"p1": "每月至少1-2次开展主题党日活动", "p2": "支委成员每周入户走访三至五户", "p3": "在职党员每季度参加社区志愿服务不少于２次"},
		},
		{
			file: "beiyuan_2019_noise.txt", encoding: EncodingUTF8,
			title: "北苑社区党委2019年度述职报告", unit: "北苑社区党委",
			items: 3, commitments: 8, match: MatchKeywords, unmatched: 1,
			skipped: map[string]int{
				ReasonWatermark: 2, ReasonPageNumber: 3, ReasonRepeated: 3, ReasonAdvertising: 2,
				ReasonContact: 1, ReasonURL: 1, ReasonDecoration: 1, ReasonClosing: 3,
			},
			measuresPerItem: []int{2, 2, 2}, causesPerItem: []int{0, 0, 0},
			firstCommitmentPerItem: map[string]string{"p1": "班子成员每周至少走访楼院3次", "p2": "每季度开展1次党员档案自查", "p3": "每半年召开1次共驻共建联席会议"},
		},
		{
			file: "zhongxin_2019_utf16.txt", encoding: EncodingUTF16LE,
			title: "中心社区党支部书记2019年度抓党建工作述职报告", unit: "中心社区党支部",
			items: 2, commitments: 3, match: MatchOrder,
			skipped:         map[string]int{},
			measuresPerItem: []int{2, 2}, causesPerItem: []int{0, 0},
			firstCommitmentPerItem: map[string]string{"p1": "每年发展年轻党员不少于2名", "p2": "每季度开放阵地活动日三次"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := MustParseFile(t, filepath.Join("testdata", tt.file))
			if d.Encoding != tt.encoding || d.Title != tt.title || d.Unit != tt.unit || d.Year != 2019 {
				t.Errorf("read as %s, title %q, unit %q, year %d", d.Encoding, d.Title, d.Unit, d.Year)
			}
			if len(d.Items) != tt.items || len(d.Commitments) != tt.commitments || len(d.Unmatched) != tt.unmatched {
				t.Errorf("%d items, %d commitments, %d unmatched; want %d, %d, %d", len(d.Items), len(d.Commitments), len(d.Unmatched), tt.items, tt.commitments, tt.unmatched)
			}
			var match string
			for _, s := range d.Sections {
				if s.Kind == SectionPlans {
					match = s.Match
				}
			}
			if match != tt.match {
				t.Errorf("plans matched by %q, want %q", match, tt.match)
			}
			skipped := map[string]int{}
			for _, s := range d.Skipped {
				skipped[s.Reason]++
			}
			if !reflect.DeepEqual(skipped, tt.skipped) {
				t.Errorf("skipped %v, want %v", skipped, tt.skipped)
			}
			for i, it := range d.Items {
				if i < len(tt.measuresPerItem) && len(it.Measures) != tt.measuresPerItem[i] {
					t.Errorf("%s has %d measures, want %d", it.Key, len(it.Measures), tt.measuresPerItem[i])
				}
				if i < len(tt.causesPerItem) && len(it.Causes) != tt.causesPerItem[i] {
					t.Errorf("%s has %d causes, want %d", it.Key, len(it.Causes), tt.causesPerItem[i])
				}
			}
			first := map[string]string{}
			for _, c := range d.Commitments {
				if _, ok := first[c.Item]; !ok && c.Item != "" {
					first[c.Item] = c.Title
				}
			}
			if !reflect.DeepEqual(first, tt.firstCommitmentPerItem) {
				t.Errorf("first commitment per item %v, want %v", first, tt.firstCommitmentPerItem)
			}
		})
	}
}

// TestEncodingsGiveTheSameDraft re-encodes a UTF-8 sample in every
// encoding Parse reads, and with Windows line ends: the draft must not
// change but for the encoding and the digest.
func TestEncodingsGiveTheSameDraft(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "dongfeng_2019.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	gb, err := simplifiedchinese.GB18030.NewEncoder().Bytes(src)
	if err != nil {
		t.Fatal(err)
	}
	le, err := xunicode.UTF16(xunicode.LittleEndian, xunicode.UseBOM).NewEncoder().Bytes(src)
	if err != nil {
		t.Fatal(err)
	}
	be, err := xunicode.UTF16(xunicode.BigEndian, xunicode.UseBOM).NewEncoder().Bytes(src)
	if err != nil {
		t.Fatal(err)
	}
	leBare, err := xunicode.UTF16(xunicode.LittleEndian, xunicode.IgnoreBOM).NewEncoder().Bytes(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, encoding string
		b              []byte
	}{
		{"gb18030", EncodingGB18030, gb},
		{"utf-16le with bom", EncodingUTF16LE, le},
		{"utf-16be with bom", EncodingUTF16BE, be},
		{"utf-16le without bom", EncodingUTF16LE, leBare},
		{"utf-8 with bom", EncodingUTF8BOM, append([]byte{0xEF, 0xBB, 0xBF}, src...)},
		{"crlf", EncodingUTF8, bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n"))},
		{"cr", EncodingUTF8, bytes.ReplaceAll(src, []byte("\n"), []byte("\r"))},
	} {
		got, err := Parse(bytes.NewReader(tt.b))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got.Encoding != tt.encoding {
			t.Errorf("%s: read as %s", tt.name, got.Encoding)
		}
		got.Encoding, got.Digest, got.Warnings = want.Encoding, want.Digest, want.Warnings
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: draft differs:\n%s\nwant\n%s", tt.name, marshal(t, got), marshal(t, want))
		}
	}
}

// TestTextIsTheReportsOwn checks, for every sample, that every text in the
// draft is the report's own: titles, texts, causes and measures occur in
// the decoded file character for character (titles and commitment texts
// across hard wraps), and every line number points at the line the entry
// starts on.
func TestTextIsTheReportsOwn(t *testing.T) {
	for _, path := range samples(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d := MustParseFile(t, path)
		assertOwnText(t, path, b, d)
	}
}

func assertOwnText(t *testing.T, name string, b []byte, d Draft) {
	t.Helper()
	s, _, _, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	lines := splitLines(s)
	// Entries may run across lines left out as noise: compare with the
	// lines kept.
	skipped := map[int]bool{}
	for _, sk := range d.Skipped {
		skipped[sk.Line] = true
	}
	var keptLines []string
	for i, l := range lines {
		if !skipped[i+1] {
			keptLines = append(keptLines, l)
		}
	}
	kept := strings.Join(keptLines, "\n")
	flat := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	flatKept := flat(kept)
	in := func(what, text string, line int) {
		t.Helper()
		if line < 1 || line > len(lines) {
			t.Errorf("%s: %s %q: line %d outside 1..%d", name, what, text, line, len(lines))
			return
		}
		// A wrapped clause is joined across lines: only its first
		// character must stand on the line given.
		first := []rune(strings.TrimSpace(text))
		if len(first) > 1 {
			first = first[:1]
		}
		if !strings.Contains(lines[line-1], string(first)) {
			t.Errorf("%s: %s %q does not start on line %d: %q", name, what, text, line, lines[line-1])
		}
		body := strings.TrimSuffix(text, "…")
		if !strings.Contains(flatKept, flat(body)) {
			t.Errorf("%s: %s %q is not in the report", name, what, text)
		}
	}
	for _, it := range d.Items {
		in("item title", it.Title, it.Line)
		in("item text", it.Text, it.Line)
		for _, c := range it.Causes {
			if !strings.Contains(flatKept, flat(c)) {
				t.Errorf("%s: cause %q is not in the report", name, c)
			}
		}
		for _, m := range it.Measures {
			in("measure", m.Text, m.Line)
		}
	}
	for _, m := range d.Unmatched {
		in("unmatched measure", m.Text, m.Line)
	}
	for _, c := range d.Commitments {
		in("commitment", c.Text, c.Line)
		if !strings.Contains(flat(c.Text), flat(c.TargetText)) {
			t.Errorf("%s: %s target text %q is not in %q", name, c.Key, c.TargetText, c.Text)
		}
	}
	for _, sk := range d.Skipped {
		if sk.Line < 1 || sk.Line > len(lines) || lines[sk.Line-1] != sk.Text {
			t.Errorf("%s: skipped line %d %q is not that line", name, sk.Line, sk.Text)
		}
	}
}

func TestNoiseLines(t *testing.T) {
	tests := []struct {
		line, reason string
	}{
		{"内部资料 注意保存", ReasonWatermark},
		{"仅供学习参考", ReasonWatermark},
		{"　　内部资料　请勿外传　　", ReasonWatermark},
		{"第 3 页 共 10 页", ReasonPageNumber},
		{"第３页／共１０页", ReasonPageNumber},
		{"共10页 第3页", ReasonPageNumber},
		{"- 3 -", ReasonPageNumber},
		{"— 12 —", ReasonPageNumber},
		{"3/10", ReasonPageNumber},
		{"Page 3 of 10", ReasonPageNumber},
		{"12", ReasonPageNumber},
		{"https://example.com/doc/123", ReasonURL},
		{"更多资料请访问 www.example.cn", ReasonURL},
		{"联系电话：0371-65551234", ReasonContact},
		{"联系人：张老师 13812345678", ReasonContact},
		{"投稿邮箱 someone@example", ReasonContact},
		{"关注微信公众号“党建文库”，免费下载更多范文", ReasonAdvertising},
		{"扫码关注 获取更多资料", ReasonAdvertising},
		{"本文由网友上传，版权所有", ReasonAdvertising},
		{"**********", ReasonDecoration},
		{"————————", ReasonDecoration},
		{"\uFFFD\uFFFD\uFFFD\uFFFD党\uFFFD", ReasonUnreadable},

		// Content, however close to noise it looks.
		{"", ""},
		{"东风街道工委2019年度抓基层党建工作述职报告", ""},
		{"（三）保密工作", ""},
		{"一是社区党委书记每月走访弱势群体5户，通过社区微信公众号及时发布走访情况，关注困难群众的实际需求。", ""},
		{"2019年，在区委的坚强领导下，东风街道工委坚持以习近平新时代中国特色社会主义思想为指导。", ""},
		{"原因分析：", ""},
		{"2020年1月10日", ""},
		{"全年召开党建工作专题会议12次", ""},
	}
	for _, tt := range tests {
		if got := noiseReason(lineText(tt.line, 1)); got != tt.reason {
			t.Errorf("noiseReason(%q) = %q, want %q", tt.line, got, tt.reason)
		}
	}
}

// TestRepeatedLines: a short line three times is a header, except where it
// opens the report; a repeated label is not.
func TestRepeatedLines(t *testing.T) {
	report := strings.Join([]string{
		"西湖社区党委述职报告", // 1: the title, repeated below as a page header
		"二、存在的问题",
		"（一）理论学习不深入。原因分析：",
		"学习计划性不强。",
		"西湖社区党委述职报告",
		"（二）党员管理不严格。原因分析：",
		"台账更新不及时。",
		"西湖社区党委述职报告",
		"（三）阵地使用效率不高。原因分析：",
		"缺少专人管理。",
		"西湖社区党委述职报告",
	}, "\n")
	d, err := Parse(strings.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, s := range d.Skipped {
		if s.Reason != ReasonRepeated {
			t.Errorf("line %d skipped as %s", s.Line, s.Reason)
		}
		lines = append(lines, s.Line)
	}
	if !reflect.DeepEqual(lines, []int{5, 8, 11}) {
		t.Errorf("skipped lines %v, want 5 8 11", lines)
	}
	if d.Title != "西湖社区党委述职报告" || len(d.Items) != 3 {
		t.Fatalf("title %q, %d items", d.Title, len(d.Items))
	}
	for i, want := range []string{"学习计划性不强", "台账更新不及时", "缺少专人管理"} {
		if c := d.Items[i].Causes; len(c) != 1 || c[0] != want {
			t.Errorf("%s causes %q, want %q", d.Items[i].Key, c, want)
		}
	}
}

func TestSectionKinds(t *testing.T) {
	tests := map[string]string{
		"2019年度抓基层党建工作主要做法": SectionWork,
		"履职情况":        SectionWork,
		"一年来的主要工作":    SectionWork,
		"存在主要问题及原因分析": SectionProblems,
		"存在的问题和不足":    SectionProblems,
		"存在的差距":       SectionProblems,
		"问题产生的原因":     SectionCauses,
		"原因分析":        SectionCauses,
		"下一步重点工作思路":   SectionPlans,
		"2020年工作打算":   SectionPlans,
		"针对问题的整改措施":   SectionPlans,
		"存在的问题及整改措施":  SectionMixed,
		"问题和下一步努力方向":  SectionMixed,
		"基本情况":        SectionWork,
	}
	for title, want := range tests {
		if got := sectionKind(title); got != want {
			t.Errorf("sectionKind(%q) = %s, want %s", title, got, want)
		}
	}
}

func TestHeadings(t *testing.T) {
	tests := []struct {
		line       string
		rank, num  int
		text       string
		notHeading bool
	}{
		{line: "一、存在的问题", rank: rankCn, num: 1, text: "存在的问题"},
		{line: "十二、其他", rank: rankCn, num: 12, text: "其他"},
		{line: "（一）压实责任", rank: rankParenCn, num: 1, text: "压实责任"},
		{line: "(三) 压实责任", rank: rankParenCn, num: 3, text: "压实责任"},
		{line: "（十）压实责任", rank: rankParenCn, num: 10, text: "压实责任"},
		{line: "1.理论学习", rank: rankNum, num: 1, text: "理论学习"},
		{line: "２．理论学习", rank: rankNum, num: 2, text: "理论学习"},
		{line: "3、理论学习", rank: rankNum, num: 3, text: "理论学习"},
		{line: "⒋理论学习", rank: rankNum, num: 4, text: "理论学习"},
		{line: "（1）每月开展", rank: rankParenNum, num: 1, text: "每月开展"},
		{line: "（１２）每月开展", rank: rankParenNum, num: 12, text: "每月开展"},
		{line: "2)每月开展", rank: rankParenNum, num: 2, text: "每月开展"},
		{line: "⑶每月开展", rank: rankParenNum, num: 3, text: "每月开展"},
		{line: "①每月开展", rank: rankCircled, num: 1, text: "每月开展"},
		{line: "第二部分 存在的问题", rank: rankPlain, num: 2, text: "存在的问题"},
		{line: "存在的问题", rank: rankPlain, text: "存在的问题"},
		{line: "下一步工作打算：", rank: rankPlain, text: "下一步工作打算："},
		{line: "一是每月召开1次会议", notHeading: true},
		{line: "1.5万元用于阵地建设", notHeading: true},
		{line: "2019年，在区委的坚强领导下", notHeading: true},
		{line: "（2020年1月8日）", notHeading: true},
		{line: "十分重视党建工作", notHeading: true},
		{line: "下一步，我们将继续加强党员教育管理，每月召开1次会议。", notHeading: true},
	}
	for _, tt := range tests {
		l := lineText(tt.line, 1)
		h, ok := headingOf(l)
		if tt.notHeading {
			if ok {
				t.Errorf("headingOf(%q) = %+v, want none", tt.line, h)
			}
			continue
		}
		if !ok || h.rank != tt.rank || h.num != tt.num || l.slice(h.rest, l.len()).String() != tt.text {
			t.Errorf("headingOf(%q) = %+v %v, want rank %d num %d text %q", tt.line, h, ok, tt.rank, tt.num, tt.text)
		}
	}
}

func TestEnumerate(t *testing.T) {
	tests := []struct {
		in    string
		intro string
		parts []string
	}{
		{"原因分析：一是思想认识有偏差；二是考核机制不健全。", "原因分析", []string{"一是思想认识有偏差", "二是考核机制不健全"}},
		{"①每月开展；②每周走访；③每季度通报", "", []string{"①每月开展", "②每周走访", "③每季度通报"}},
		{"主要有：(1)学习不够；(2)管理不严", "主要有", []string{"(1)学习不够", "(2)管理不严"}},
		{"统一是前提，一是学习；二是管理", "统一是前提", []string{"一是学习", "二是管理"}},
		{"一是学习；三是管理", "一是学习；三是管理", nil}, // 二是 missing: no enumeration
		{"只有一是学习", "只有一是学习", nil},
	}
	for _, tt := range tests {
		intro, parts := enumerate(lineText(tt.in, 1))
		var got []string
		for _, p := range parts {
			got = append(got, p.String())
		}
		if intro.String() != tt.intro || !reflect.DeepEqual(got, tt.parts) {
			t.Errorf("enumerate(%q) = %q, %q; want %q, %q", tt.in, intro.String(), got, tt.intro, tt.parts)
		}
	}
}

func TestParseErrors(t *testing.T) {
	big := bytes.Repeat([]byte("一、存在的问题\n"), MaxInputSize/20+1)
	if _, err := Parse(bytes.NewReader(big)); events.ErrorCode(err) != events.CodeInvalid {
		t.Errorf("a %d-byte file: %v, want invalid", len(big), err)
	}
	broken := iotest.ErrReader(errors.New("disk on fire"))
	if _, err := Parse(broken); events.ErrorCode(err) != events.CodeUnavailable {
		t.Errorf("a failing reader: %v, want unavailable", err)
	}
	binary := []byte{0x00, 0x01, 0xFF, 0x80, 0x00, 0x81, 0x00, 0x07, 0xFE, 0x00, 0x90}
	if _, err := Parse(bytes.NewReader(binary)); events.ErrorCode(err) != events.CodeInvalid {
		t.Errorf("binary: %v, want invalid", err)
	}
	d, err := Parse(strings.NewReader("这不是一份述职报告。"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Items) != 0 || len(d.Commitments) != 0 || len(d.Warnings) != 2 {
		t.Errorf("a text without sections: %d items, %d commitments, warnings %q", len(d.Items), len(d.Commitments), d.Warnings)
	}
}

// TestBrokenUTF8 reads a UTF-8 report with a cut-off character as UTF-8
// (not as GB18030, which would garble every line), and says so.
func TestBrokenUTF8(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "dongfeng_2019.txt"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(src, []byte("以上报告"))
	b := append(append(append([]byte{}, src[:i]...), 0xE4, 0xBB), src[i:]...)
	d, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if d.Encoding != EncodingUTF8 || len(d.Warnings) != 1 || d.Title != "东风街道工委2019年度抓基层党建工作述职报告" || len(d.Items) != 3 {
		t.Errorf("read as %s, title %q, %d items, warnings %q", d.Encoding, d.Title, len(d.Items), d.Warnings)
	}
}

func FuzzParse(f *testing.F) {
	for _, path := range samples(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("一、存在的问题\n（一）每周X次。原因分析：一是；二是\n二、下一步\n每月1-次，每年廿次"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(bytes.NewReader(b))
		if err != nil {
			if events.ErrorCode(err) != events.CodeInvalid {
				t.Fatalf("Parse: %v, want invalid or nothing", err)
			}
			return
		}
		again, err := Parse(bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(d, again) {
			t.Fatalf("Parse is not deterministic: %v", err)
		}
		keys := map[string]bool{}
		for k := range d.keys() {
			keys[k] = true
		}
		if n := len(d.Items) + len(d.Unmatched) + len(d.Commitments); len(keys) < n {
			t.Fatalf("%d keys for %d entries", len(keys), n)
		}
		for _, c := range d.Commitments {
			if c.Target != nil && (*c.Target <= 0 || c.Min != *c.Target || c.Max < c.Min) {
				t.Fatalf("%s: target %d, range %d-%d", c.Key, *c.Target, c.Min, c.Max)
			}
			if c.Target == nil && c.Ledger.Target != 0 {
				t.Fatalf("%s: no count, but ledger target %d", c.Key, c.Ledger.Target)
			}
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), "\x00") == 0 {
			assertOwnText(t, "fuzz input", b, d)
		}
	})
}
