package web_test

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"rectify/events"
	"rectify/gateway/web"
	"rectify/projections/query"
	"rectify/services/report"
)

// langs are the dashboard's languages; i18n.js lists the same.
var langs = []string{"zh-CN", "en"}

func mustDict(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(web.Static(), "i18n/"+lang+".json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]string
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("i18n/%s.json: %v", lang, err)
	}
	return d
}

// TestDictionariesHaveTheSameKeys: a label present in one language only
// would show its key in the other.
func TestDictionariesHaveTheSameKeys(t *testing.T) {
	dicts := map[string]map[string]string{}
	for _, l := range langs {
		dicts[l] = mustDict(t, l)
	}
	for _, a := range langs {
		for _, b := range langs {
			for k := range dicts[a] {
				if _, ok := dicts[b][k]; !ok {
					t.Errorf("key %q is in %s but not in %s", k, a, b)
				}
			}
		}
		for k, v := range dicts[a] {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: key %q has an empty text", a, k)
			}
		}
	}
	// Placeholders must match, or a translation drops a figure.
	ph := regexp.MustCompile(`\{\w+\}`)
	for k, zh := range dicts["zh-CN"] {
		a, b := ph.FindAllString(zh, -1), ph.FindAllString(dicts["en"][k], -1)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("key %q: placeholders %v in zh-CN, %v in en", k, a, b)
		}
	}
}

// Keys built at run time from data ("status." + item.status) cannot be
// found in the source; each prefix is checked instead against every value
// the domain defines.
func dynamicKeys() map[string][]string {
	str := func(xs ...string) []string { return xs }
	var statuses []string
	for _, s := range query.ItemStatuses {
		statuses = append(statuses, string(s))
	}
	codes := []string{}
	for _, c := range []events.Code{events.CodeInvalid, events.CodeNotFound, events.CodeConflict, events.CodeForbidden,
		events.CodeUnauthorized, events.CodeUnavailable, events.CodeInternal} {
		codes = append(codes, string(c))
	}
	return map[string][]string{
		"status":   statuses,
		"rag":      str(query.RAGRed, query.RAGYellow, query.RAGGreen, query.RAGDone),
		"pstatus":  str(query.PeriodMet, query.PeriodMissed, query.PeriodInProgress, query.PeriodUpcoming, query.PeriodExempt),
		"period":   events.Periods,
		"severity": events.Severities,
		"role":     events.Roles,
		"unitkind": events.UnitKinds,
		"kind":     query.AggregateKinds,
		"event":    events.Types(),
		"error":    append(codes, "network"), // network: the client's own, for a failed fetch
		"mstate":   str("planned", "completed"),
		"esc":      events.Escalations,
		// Every problem code of the API, worded in each language; the
		// types a wrong_type problem expects.
		"problem":  events.ProblemCodes(),
		"jsontype": str("string", "integer", "boolean", "array", "object"),
		"nav":      str("overview", "ledger", "commitments", "rankings", "activity", "signin", "import"),
		// Why the report import left a line out (report.SkippedLine).
		"skip": str(report.ReasonPageNumber, report.ReasonURL, report.ReasonContact, report.ReasonAdvertising,
			report.ReasonWatermark, report.ReasonRepeated, report.ReasonDecoration, report.ReasonUnreadable, report.ReasonClosing),
		// The fields an audit entry may name (query.FieldChange), measure
		// and evidence without their ids.
		"field": str("status", "deadline", "unit", "owner", "owner_name", "percent", "cycle", "title", "category",
			"severity", "name", "kind", "parent", "person", "activity", "target", "period", "start", "end", "ended_on",
			"count", "occurred_on", "measure", "evidence", "role", "token", "reason", "source"),
	}
}

// TestEveryKeyUsedExists reads the HTML and the scripts for the keys they
// use: data-i18n attributes, string literals that name a key of a known
// namespace ("ledger.title"), and the prefixes of keys built at run time.
func TestEveryKeyUsedExists(t *testing.T) {
	dict := mustDict(t, "zh-CN")
	namespaces := map[string]bool{}
	for k := range dict {
		ns, _, _ := strings.Cut(k, ".")
		namespaces[ns] = true
	}
	attr := regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"]+)"`)
	literal := regexp.MustCompile(`'([a-z][A-Za-z]*\.[A-Za-z0-9_.]*[A-Za-z0-9_])'`)
	dynamic := regexp.MustCompile("(?:t|tOr)\\(`([a-z]+)\\.\\$\\{")
	dyn := dynamicKeys()
	used := 0
	err := fs.WalkDir(web.Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.Static(), p)
		if err != nil {
			return err
		}
		src := string(b)
		check := func(key string) {
			used++
			if _, ok := dict[key]; !ok {
				t.Errorf("%s uses key %q, which the dictionaries lack", p, key)
			}
		}
		switch {
		case strings.HasSuffix(p, ".html"):
			for _, m := range attr.FindAllStringSubmatch(src, -1) {
				check(m[1])
			}
		case strings.HasSuffix(p, ".js"):
			for _, m := range literal.FindAllStringSubmatch(src, -1) {
				if ns, _, _ := strings.Cut(m[1], "."); namespaces[ns] {
					check(m[1])
				}
			}
			for _, m := range dynamic.FindAllStringSubmatch(src, -1) {
				if _, ok := dyn[m[1]]; !ok {
					t.Errorf("%s builds keys with prefix %q. at run time; list its values in dynamicKeys", p, m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if used < 100 {
		t.Errorf("found only %d uses of keys; is the scan still reading the sources?", used)
	}
	for prefix, values := range dyn {
		for _, v := range values {
			if _, ok := dict[prefix+"."+v]; !ok {
				t.Errorf("key %s.%s is missing: the dashboard shows it for %q", prefix, v, v)
			}
		}
	}
}

// TestScriptsNeverParseMarkup: item titles, reasons and names are user
// input, so the scripts put text in with textContent only. Any use of the
// HTML parser on strings would be a place where markup could run.
func TestScriptsNeverParseMarkup(t *testing.T) {
	bad := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment`)
	err := fs.WalkDir(web.Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := fs.ReadFile(web.Static(), p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if bad.MatchString(line) {
				t.Errorf("%s:%d parses markup or code from a string: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
