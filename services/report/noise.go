package report

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reasons a line is left out of the draft, as reported in SkippedLine.
const (
	ReasonPageNumber  = "page_number"     // 第 3 页 共 10 页, - 3 -, 3/10
	ReasonURL         = "url"             // a web address
	ReasonContact     = "contact"         // 联系电话, 邮箱, a phone number
	ReasonAdvertising = "advertising"     // 公众号, 扫码, 免费下载 …
	ReasonWatermark   = "watermark"       // 内部资料 注意保存, 仅供学习参考 …
	ReasonRepeated    = "repeated_header" // the same short line three times or more
	ReasonDecoration  = "decoration"      // a rule of ***** or ——
	ReasonUnreadable  = "unreadable"      // mostly characters the decoder could not read
	ReasonClosing     = "closing"         // 以上报告，请予评议 and the signature after it
)

// Noise words. Keyword rules apply to short lines only: a real paragraph
// may well mention a 微信公众号 the community runs; a line that is nothing
// but "关注微信公众号" is not part of the report.
var (
	contactWords = []string{"联系电话", "联系人", "联系方式", "电话:", "手机:", "传真", "邮箱", "e-mail", "email", "qq:", "qq群", "地址:"}
	adWords      = []string{"公众号", "扫码", "扫一扫", "二维码", "长按识别", "关注我们", "免费下载", "下载地址", "更多精彩", "更多范文", "范文", "文库", "点击查看", "点击下载", "点击阅读", "原创", "转载", "版权所有", "本文由", "会员", "vip", "广告", "推广", "淘宝", "购买"}
	markWords    = []string{"内部资料", "注意保存", "仅供参考", "仅供学习", "学习参考", "请勿外传", "请勿转载", "内部使用", "样稿", "水印", "机密", "秘密", "保密"}
)

const (
	shortNoise   = 40 // runes: lines judged by keywords
	shortRepeat  = 40 // runes: repeated lines counted as headers
	minRepeats   = 3
	maxURLLength = 80
)

// noiseReason says why one line is not part of the report, or "". It does
// not see repetition; markNoise does.
func noiseReason(t text) string {
	t = t.trimSpace()
	if t.len() == 0 {
		return ""
	}
	bad := 0
	for _, r := range t.orig {
		if r == '\uFFFD' {
			bad++
		}
	}
	if bad*10 > t.len()*3 {
		return ReasonUnreadable
	}
	s := strings.ToLower(compact(t.folded()))
	if isPageNumber(s) {
		return ReasonPageNumber
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
		return ReasonDecoration
	}
	n := t.len()
	if n <= maxURLLength && hasURL(s) {
		return ReasonURL
	}
	if _, ok := headingOf(t); ok {
		return "" // a numbered heading is content, whatever its words
	}
	if n <= shortNoise {
		switch {
		case containsAny(s, contactWords) || hasPhone(s):
			return ReasonContact
		case containsAny(s, adWords):
			return ReasonAdvertising
		case containsAny(s, markWords):
			return ReasonWatermark
		}
	}
	return ""
}

// compact removes spaces: 第 3 页 共 10 页 reads as 第3页共10页.
func compact(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// isPageNumber recognises page footers on compacted, lower-cased text:
// 第3页共10页, 第3页/共10页, 共10页第3页, 第3页, -3-, 3, 3/10, page3of10.
func isPageNumber(s string) bool {
	s = strings.Trim(s, "-~·.")
	if rest, ok := digitsAfter(s, "page"); ok {
		if rest == "" {
			return true
		}
		rest, ok = digitsAfter(rest, "of")
		return ok && rest == ""
	}
	if allDigits(s) && s != "" && len(s) <= 4 {
		return true
	}
	if i := strings.IndexByte(s, '/'); i > 0 && allDigits(s[:i]) && allDigits(s[i+1:]) && i+1 < len(s) && len(s) <= 9 {
		return true
	}
	page := func(s string) (string, bool) { // 第3页 → rest
		if !strings.HasPrefix(s, "第") {
			return s, false
		}
		s = strings.TrimPrefix(s, "第")
		i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
		if i <= 0 || !strings.HasPrefix(s[i:], "页") {
			return s, false
		}
		return strings.TrimPrefix(s[i:], "页"), true
	}
	total := func(s string) (string, bool) { // 共10页 → rest
		if !strings.HasPrefix(s, "共") {
			return s, false
		}
		s = strings.TrimPrefix(s, "共")
		i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
		if i <= 0 || !strings.HasPrefix(s[i:], "页") {
			return s, false
		}
		return strings.TrimPrefix(s[i:], "页"), true
	}
	sep := func(s string) string { return strings.TrimLeft(s, ",，/、|") }
	if rest, ok := page(s); ok {
		rest = sep(rest)
		if rest == "" {
			return true
		}
		rest, ok = total(rest)
		return ok && rest == ""
	}
	if rest, ok := total(s); ok {
		rest, ok = page(sep(rest))
		return ok && rest == ""
	}
	return false
}

// digitsAfter strips prefix and the digits after it.
func digitsAfter(s, prefix string) (string, bool) {
	if !strings.HasPrefix(s, prefix) {
		return s, false
	}
	s = s[len(prefix):]
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i == 0 {
		return s, false
	}
	if i < 0 {
		return "", true
	}
	return s[i:], true
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func hasURL(s string) bool {
	if strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "www.") {
		return true
	}
	for _, tld := range []string{".com", ".cn", ".net", ".org"} {
		i := strings.Index(s, tld)
		if i <= 0 {
			continue
		}
		prev, _ := utf8.DecodeLastRuneInString(s[:i])
		next, _ := utf8.DecodeRuneInString(s[i+len(tld):])
		if isASCIIAlnum(prev) && !isASCIIAlnum(next) {
			return true
		}
	}
	return false
}

func isASCIIAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// hasPhone finds a mainland phone number: a mobile number (1[3-9] and nine
// more digits) or an area code and a local number (0371-12345678).
func hasPhone(s string) bool {
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		if i > 0 && rs[i-1] >= '0' && rs[i-1] <= '9' {
			continue
		}
		j := i
		var digits []rune
		for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == '-') {
			if rs[j] != '-' {
				digits = append(digits, rs[j])
			}
			j++
		}
		switch n := len(digits); {
		case n == 11 && digits[0] == '1' && digits[1] >= '3':
			return true
		case n >= 10 && n <= 12 && digits[0] == '0':
			return true
		case n == 10 && strings.HasPrefix(string(digits), "400"):
			return true
		}
		if j > i {
			i = j
		}
	}
	return false
}

// markNoise classifies every line: a reason for noise, or "". A short line
// that occurs three times or more is a page header or footer: every
// occurrence is noise except a first one that opens the report (a title
// repeated as a page header). Headings and labels ending in a colon
// (原因分析：) repeat legitimately and are never counted.
func markNoise(lines []text) []string {
	reasons := make([]string, len(lines))
	count := map[string]int{}
	for i, t := range lines {
		reasons[i] = noiseReason(t)
		if reasons[i] == "" {
			if k, ok := repeatKey(t); ok {
				count[k]++
			}
		}
	}
	first := -1
	for i, t := range lines {
		if reasons[i] == "" && t.trimSpace().len() > 0 {
			first = i
			break
		}
	}
	for i, t := range lines {
		if reasons[i] != "" || i == first {
			continue
		}
		if k, ok := repeatKey(t); ok && count[k] >= minRepeats {
			reasons[i] = ReasonRepeated
		}
	}
	return reasons
}

func repeatKey(t text) (string, bool) {
	t = t.trimSpace()
	if t.len() == 0 || t.len() > shortRepeat {
		return "", false
	}
	if _, ok := headingOf(t); ok {
		return "", false
	}
	if last := t.norm[t.len()-1]; last == ':' {
		return "", false
	}
	return compact(t.folded()), true
}

// isClosing recognises the closing formula of a report (以上报告，请予评议;
// 特此报告): it and the signature and date after it are not entries.
func isClosing(t text) bool {
	s := compact(t.folded())
	if strings.HasPrefix(s, "以上") {
		head := []rune(s)
		if len(head) > 12 {
			head = head[:12]
		}
		if containsAny(string(head), []string{"报告", "述职", "汇报"}) {
			return true
		}
	}
	if utf8.RuneCountInString(s) > 40 {
		return false
	}
	return containsAny(s, []string{"请予评议", "请予审议", "请审议", "请各位", "特此报告", "请批评指正", "不妥之处"}) ||
		strings.TrimRight(s, "!！。") == "谢谢" || strings.TrimRight(s, "!！。") == "谢谢大家"
}
