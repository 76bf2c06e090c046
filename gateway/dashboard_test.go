package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"rectify/projections/query"
	"rectify/services/demo"
	"rectify/services/watcher"
)

// TestDashboardFiles checks how the gateway serves the dashboard: the
// page at /, its files under /ui/ with their types, a Content-Security-
// Policy that allows nothing from elsewhere and nothing inline, cheap
// revalidation, and JSON 404s for everything else.
func TestDashboardFiles(t *testing.T) {
	st := MustStartStack(t)
	anon := st.Client(t, "")
	r := anon.Get("/")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(r.Body), `src="/ui/js/app.js"`) {
		t.Errorf("GET / does not load the application: %s", r.Body)
	}
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("Content-Security-Policy %q allows inline code", csp)
	}
	// script-src names the gateway only: no inline script, no other host.
	for d := range strings.SplitSeq(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "script-src" && strings.Join(f[1:], " ") != "'self'" {
			t.Errorf("script-src is %q, want 'self' only", d)
		}
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("GET /: %s is %q, want %q", h, got, want)
		}
	}
	// The API's answers are never sniffed either: a JSON error that
	// echoes input stays JSON.
	if r := anon.Get("/api/v1/items?q=<script>"); r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("an API answer's headers: %v", r.Header)
	}
	for path, ctype := range map[string]string{
		"/ui/js/app.js":        "text/javascript",
		"/ui/style.css":        "text/css",
		"/ui/i18n/zh-CN.json":  "application/json",
		"/ui/js/pages/item.js": "text/javascript",
	} {
		r := anon.Get(path)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q, want 200 %s", path, r.Status, r.Header.Get("Content-Type"), ctype)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
		if again := anon.Get(path, "If-None-Match", r.Header.Get("ETag")); again.Status != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.Status)
		}
	}
	for _, path := range []string{"/ui/", "/ui/nope.js", "/ui/../go.mod", "/nope"} {
		r := anon.Get(path)
		if code, _ := r.ErrorFields(t); r.Status != http.StatusNotFound || code != "not_found" {
			t.Errorf("GET %s: %d %s, want a JSON 404", path, r.Status, r.Body)
		}
	}
	if r := anon.Post("/", "{}"); r.Status != http.StatusNotFound {
		t.Errorf("POST /: %d, want 404", r.Status)
	}
}

// browserPath finds Chromium. Without one the browser tests skip, saying
// how to get it, except in CI (CI=true), where .ci/run installs it and a
// missing browser is a failure.
func browserPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RECTIFY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found, and CI=true: the dashboard's browser tests must run in CI (.ci/run installs the chromium package)")
	}
	t.Skip("no Chromium found: apt-get install chromium fonts-wqy-microhei, or set RECTIFY_CHROMIUM, to run the dashboard's browser tests")
	return ""
}

// streamGate stands between the browser and the gateway. It passes
// everything through, and can cut the live streams and refuse new ones for
// a while, as a network outage or a restarting proxy would. It records the
// token and the Last-Event-ID of every stream request.
type streamGate struct {
	next http.Handler

	mu      sync.Mutex
	blocked bool
	cancels map[int]context.CancelFunc
	seq     int
	streams []streamRequest
}

type streamRequest struct{ auth, lastID string }

func (g *streamGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/stream" {
		g.next.ServeHTTP(w, r)
		return
	}
	g.mu.Lock()
	g.streams = append(g.streams, streamRequest{r.Header.Get("Authorization"), r.Header.Get("Last-Event-ID")})
	if g.blocked {
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"code":"unavailable","message":"the test cut the live stream"}}`)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	id := g.seq
	g.seq++
	g.cancels[id] = cancel
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.cancels, id)
		g.mu.Unlock()
		cancel()
	}()
	g.next.ServeHTTP(w, r.WithContext(ctx))
}

// cut ends every open stream; with block, new ones are refused until
// open is called.
func (g *streamGate) cut(block bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked = block
	for _, c := range g.cancels {
		c()
	}
}

func (g *streamGate) open() {
	g.mu.Lock()
	g.blocked = false
	g.mu.Unlock()
}

// lastIDsSince lists the Last-Event-IDs sent with token by the stream
// requests after the first n.
func (g *streamGate) lastIDsSince(n int, token string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, r := range g.streams[n:] {
		if r.auth == "Bearer "+token {
			out = append(out, r.lastID)
		}
	}
	return out
}

func (g *streamGate) requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.streams)
}

// browser is one Chromium shared by the subtests; each person gets a tab
// in a browser context of their own (own storage, as another computer).
type browser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string
	mu      sync.Mutex
	console []string
}

func mustStartBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := browserPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		// A browser that prefers Chinese: the dashboard must start in zh-CN.
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("accept-lang", "zh-CN,zh"),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		chromedp.Cancel(cctx)
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	shots := os.Getenv("RECTIFY_SCREENSHOTS")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &browser{t: t, ctx: bctx, base: base, shots: shots}
}

// tab opens a tab for one person and collects its console errors.
func (b *browser) tab(name string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	msgs := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a tab for %s: %v", name, err)
	}
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if bad(m) {
				b.mu.Lock()
				b.console = append(b.console, fmt.Sprintf("%s: [%s %s] %s %s", name, m.Type, m.Source, m.Text, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return &tab{b: b, ctx: ctx, name: name}
}

// bad reports a console message that is an error of the page: an
// exception, a console.error call, a policy violation, or a failed load
// of the dashboard's own files. The browser also logs every HTTP error
// status of the API as a network error; those are answers the dashboard
// shows (a 400 naming a field, the 503 of a cut stream), not faults.
func bad(m chromedp.ConsoleMessage) bool {
	if m.IsException() {
		return true
	}
	if m.Type != "error" {
		return false
	}
	if m.Source == "network" {
		return !strings.Contains(m.URL, "/api/v1/")
	}
	return true
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// tab is one person's browser tab.
type tab struct {
	b    *browser
	ctx  context.Context
	name string
}

const uiWait = 20 * time.Second

// do runs actions, bounded.
func (tb *tab) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, uiWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, uiWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: evaluate %s: %v", tb.name, expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func (tb *tab) waitFor(t *testing.T, what, cond string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, uiWait+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`Boolean(`+cond+`)`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(uiWait))); err != nil {
		page := eval[string](t, tb, `document.querySelector('main') ? document.querySelector('main').innerText.slice(0, 1500) : ''`)
		t.Fatalf("%s: %s: %v\npage shows:\n%s", tb.name, what, err, page)
	}
}

// goTo moves the single-page application to a route, as a link would.
func (tb *tab) goTo(t *testing.T, hash string) {
	t.Helper()
	eval[chromedp.Void](t, tb, fmt.Sprintf(`location.hash = %q`, hash))
}

// text is the visible text of the first element matching sel.
func (tb *tab) text(t *testing.T, sel string) string {
	t.Helper()
	return eval[string](t, tb, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ''}).innerText`, sel))
}

func (tb *tab) count(t *testing.T, sel string) int {
	t.Helper()
	return eval[int](t, tb, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// screenshot saves a PNG of the page when RECTIFY_SCREENSHOTS names a
// folder.
func (tb *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	if tb.b.shots == "" {
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, uiWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(tb.b.shots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signIn opens the dashboard and signs in with token, as a person would.
func (tb *tab) signIn(t *testing.T, token string) {
	t.Helper()
	tb.do(t, "open the dashboard", chromedp.Navigate(tb.b.base+"/"))
	tb.waitFor(t, "the sign-in form", `document.querySelector('#signin #token')`)
	tb.do(t, "sign in",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)))
	tb.waitFor(t, "the overview after signing in", `!document.querySelector('#nav').hidden && document.querySelector('.kpis')`)
}

// markPage sets a mark that a reload would wipe: a test that finds it
// later knows the page updated in place.
func (tb *tab) markPage(t *testing.T) {
	t.Helper()
	eval[chromedp.Void](t, tb, `window.__sameDocument = true`)
}

func (tb *tab) mustBeSamePage(t *testing.T) {
	t.Helper()
	if !eval[bool](t, tb, `window.__sameDocument === true`) {
		t.Errorf("%s: the page was reloaded; it should have updated in place", tb.name)
	}
}

// TestDashboardInBrowser drives the dashboard in headless Chromium against
// a whole rectify holding the demo sample: the people of the sample sign
// in and work through the pages and forms, and what they see is checked.
func TestDashboardInBrowser(t *testing.T) {
	st := MustStartStack(t)
	ctx := context.Background()
	seeded, err := demo.Seed(ctx, st.Store, demo.Options{PutEvidence: func(name string, data []byte) (string, error) {
		return StoreEvidence(st.DataDir, name, data)
	}})
	if err != nil {
		t.Fatal(err)
	}
	seedHead, err := st.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin := st.Client(t, st.AdminToken)
	eventually(t, 60*time.Second, "the views hold the demo sample", func() bool {
		var sum query.Summary
		r := admin.Get("/api/v1/progress/summary")
		if r.Status != http.StatusOK {
			return false
		}
		r.JSON(t, &sum)
		return sum.Total.Total == seeded.Items
	})
	firstItem := func(status string) query.LedgerItem {
		t.Helper()
		var page query.LedgerPage
		admin.MustGet("/api/v1/items?limit=1&sort=deadline&order=desc&status="+status, &page)
		if len(page.Items) == 0 {
			t.Fatalf("the demo has no %s item", status)
		}
		return page.Items[0]
	}
	submitted := firstItem("submitted")
	working := firstItem("in_progress")

	gate := &streamGate{next: st.Gateway.Handler(), cancels: map[int]context.CancelFunc{}}
	srv := httptest.NewServer(gate)
	t.Cleanup(func() {
		gate.cut(true)
		srv.Close()
	})
	br := mustStartBrowser(t, srv.URL)
	ad := br.tab("admin")

	t.Run("sign in and see the overview in Chinese", func(t *testing.T) {
		ad.do(t, "open the dashboard", chromedp.Navigate(br.base+"/"))
		ad.waitFor(t, "the sign-in form", `document.querySelector('#signin #token')`)
		if lang := eval[string](t, ad, `document.documentElement.lang`); lang != "zh-CN" {
			t.Errorf("a browser preferring Chinese got lang %q", lang)
		}
		ad.do(t, "a wrong token",
			chromedp.SendKeys(chromedp.CSS("#token"), "rfy_not-a-real-token"),
			chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)))
		ad.waitFor(t, "the token refused next to its field", `!document.querySelector('#token-error').hidden && document.querySelector('#token').getAttribute('aria-invalid') === 'true'`)
		ad.do(t, "clear the token", chromedp.Clear(chromedp.CSS("#token")))
		ad.signIn(t, st.AdminToken)
		ad.waitFor(t, "units with their Chinese names", `document.querySelector('table.units') && document.querySelector('table.units').innerText.includes('城关街道工委')`)
		units := ad.text(t, "table.units")
		for _, name := range []string{"东风社区党委", "华鑫科技有限公司党支部", "逾期"} {
			if !strings.Contains(units, name) {
				t.Errorf("the progress table lacks %q:\n%s", name, units)
			}
		}
		if n := ad.count(t, "svg.chart path.series"); n != 2 {
			t.Errorf("the open-versus-closed chart has %d lines, want 2", n)
		}
		if nav := ad.text(t, `#nav a[data-route="overview"]`); nav != "概览" {
			t.Errorf("the navigation reads %q, want 概览", nav)
		}
		ad.waitFor(t, "the live indicator", `document.querySelector('#live').dataset.state === 'live'`)
		ad.screenshot(t, "overview-zh-CN")
	})

	t.Run("ledger search and filter narrow the list", func(t *testing.T) {
		ad.goTo(t, "#/ledger")
		ad.waitFor(t, "the ledger", `document.querySelectorAll('table.ledger tbody tr').length > 0`)
		all := ad.count(t, "table.ledger tbody tr")
		ad.do(t, "search", chromedp.SendKeys(chromedp.CSS("#flt-q"), "流动党员"))
		ad.waitFor(t, "only matching items",
			fmt.Sprintf(`(() => { const rows = [...document.querySelectorAll('table.ledger tbody tr')];
				return rows.length > 0 && rows.length < %d && rows.every((r) => r.querySelector('.item-link').textContent.includes('流动党员')); })()`, all))
		ad.do(t, "filter by status", chromedp.SetValue(chromedp.CSS("#flt-status"), "closed"))
		eval[chromedp.Void](t, ad, `document.querySelector('#flt-status').dispatchEvent(new Event('change'))`)
		ad.waitFor(t, "only closed matching items",
			`(() => { const rows = [...document.querySelectorAll('table.ledger tbody tr')];
				return rows.length > 0 && rows.every((r) => r.querySelector('[data-status]').dataset.status === 'closed' && r.innerText.includes('流动党员')); })()`)
		if loc := eval[string](t, ad, `location.hash`); !strings.Contains(loc, "status=closed") {
			t.Errorf("the filter is not in the address (%s), so it cannot be bookmarked", loc)
		}
		shown := ad.count(t, "table.ledger tbody tr")
		ad.do(t, "export", chromedp.Click(chromedp.CSS("#export")))
		ad.waitFor(t, "the export done", fmt.Sprintf(`document.querySelector('.head-tools [role="status"]').textContent.includes('%d')`, shown))
		ad.screenshot(t, "ledger-filtered")
	})

	t.Run("an administrator checks a ledger file and sees each bad row", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "台账.csv")
		csv := "整改事项,责任单位,整改时限\n新发现的问题,东风社区党委,2030-02-30\n网格员队伍不稳定,东风社区党委,2030-06-30\n"
		if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		ad.goTo(t, "#/ledger")
		ad.waitFor(t, "the import panel", `document.querySelector('#ledger-import')`)
		ad.do(t, "open it, choose the file and the cycle",
			chromedp.Click(chromedp.CSS("#ledger-import > summary")),
			chromedp.SetUploadFiles(chromedp.CSS("#ledger-file"), []string{path}),
			chromedp.SetValue(chromedp.CSS("#ledger-import-cycle"), "y-cur"),
			chromedp.Click(chromedp.CSS("#ledger-import-check")))
		ad.waitFor(t, "the problem of row 2 in a table",
			`(() => { const t = document.querySelector('table.import-problems'); return t && t.innerText.includes('整改时限') && t.innerText.includes('C2'); })()`)
		if eval[bool](t, ad, `document.querySelector('#ledger-import-confirm').disabled`) == false {
			t.Errorf("a file with a bad row can be imported")
		}
		ad.screenshot(t, "ledger-import-problems")
	})

	t.Run("an item shows its timeline and the time slider shows its past", func(t *testing.T) {
		ad.goTo(t, "#/items/"+working.ID)
		ad.waitFor(t, "the item's timeline", `document.querySelectorAll('#timeline-list li.entry').length >= 3`)
		tl := ad.text(t, "#timeline-list")
		for _, want := range []string{"提出整改事项", "管理员", "状态"} {
			if !strings.Contains(tl, want) {
				t.Errorf("the timeline lacks %q:\n%s", want, tl)
			}
		}
		if title := ad.text(t, "#item-title"); title != working.Title {
			t.Errorf("the item page is titled %q, want %q", title, working.Title)
		}
		ad.waitFor(t, "the state as of today", `document.querySelector('#asof-state [data-status]')`)
		today := ad.text(t, "#asof-date")
		ad.do(t, "move the slider to the first day with the keyboard",
			chromedp.Focus(chromedp.CSS("#asof-day")), chromedp.KeyEvent(kb.Home))
		ad.waitFor(t, "the item as it was raised",
			fmt.Sprintf(`document.querySelector('#asof-date').textContent !== %q &&
				['raised', 'assigned'].includes((document.querySelector('#asof-state [data-status]') || {dataset: {}}).dataset.status)`, today))
		ad.screenshot(t, "item-asof")
	})

	t.Run("a validation error shows next to its field", func(t *testing.T) {
		ad.goTo(t, "#/items/"+working.ID)
		ad.waitFor(t, "the progress form", `document.querySelector('details[data-action="progress"]')`)
		ad.do(t, "report 150%",
			chromedp.Click(chromedp.CSS(`details[data-action="progress"] > summary`)),
			chromedp.SendKeys(chromedp.CSS(`details[data-action="progress"] input[name="percent"]`), "150"),
			chromedp.Click(chromedp.CSS(`details[data-action="progress"] button[type="submit"]`)))
		// The API's problem comes with a code and its limits; the page words
		// it in Chinese.
		ad.waitFor(t, "the problem beside the percent field, in Chinese",
			`(() => { const f = document.querySelector('details[data-action="progress"] [data-field="percent"]');
				const e = f.querySelector('.field-error');
				return !e.hidden && e.dataset.code === 'out_of_range' && f.querySelector('input').getAttribute('aria-invalid') === 'true'; })()`)
		if got := ad.text(t, `details[data-action="progress"] [data-field="percent"] .field-error`); got != "必须在 0 到 100 之间" {
			t.Errorf("the percent problem reads %q, want 必须在 0 到 100 之间", got)
		}
		ad.screenshot(t, "item-validation-error")
		var it query.ItemDetail
		admin.MustGet("/api/v1/items/"+working.ID, &it)
		if it.Percent != working.Percent {
			t.Errorf("a refused report changed the item: percent %d, was %d", it.Percent, working.Percent)
		}
	})

	t.Run("evidence is uploaded through its form", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "整改佐证.txt")
		if err := os.WriteFile(file, []byte("会议记录：已完成整改。\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ad.goTo(t, "#/items/"+working.ID)
		ad.waitFor(t, "the evidence form", `document.querySelector('details[data-action="evidence"]')`)
		ad.do(t, "upload a file",
			chromedp.Click(chromedp.CSS(`details[data-action="evidence"] > summary`)),
			chromedp.SetUploadFiles(chromedp.CSS(`details[data-action="evidence"] input[name="file"]`), []string{file}),
			chromedp.Click(chromedp.CSS(`details[data-action="evidence"] button[type="submit"]`)))
		ad.waitFor(t, "the file among the evidence", `[...document.querySelectorAll('#evidence .e-name')].some((e) => e.textContent === '整改佐证.txt')`)
		ad.screenshot(t, "item-evidence")
	})

	t.Run("a reviewer rejects and then verifies through the forms", func(t *testing.T) {
		rv := br.tab("reviewer")
		rv.signIn(t, seeded.Tokens["u-reviewer"])
		rv.goTo(t, "#/items/"+submitted.ID)
		rv.waitFor(t, "the reject form", `document.querySelector('details[data-action="reject"]')`)
		rv.markPage(t)
		rv.do(t, "reject without a reason",
			chromedp.Click(chromedp.CSS(`details[data-action="reject"] > summary`)),
			chromedp.Click(chromedp.CSS(`details[data-action="reject"] button[type="submit"]`)))
		rv.waitFor(t, "the missing reason beside its field",
			`(() => { const e = document.querySelector('details[data-action="reject"] [data-field="reason"] .field-error'); return !e.hidden && e.textContent !== ''; })()`)
		const reason = "佐证材料不完整，请补充会议记录"
		rv.do(t, "reject with a reason",
			chromedp.SendKeys(chromedp.CSS(`details[data-action="reject"] textarea[name="reason"]`), reason),
			chromedp.Click(chromedp.CSS(`details[data-action="reject"] button[type="submit"]`)))
		rv.waitFor(t, "the item back in progress with the reason",
			fmt.Sprintf(`document.querySelector('.item-head [data-status]').dataset.status === 'in_progress' &&
				document.querySelector('#item-reason') && document.querySelector('#item-reason').textContent === %q &&
				document.querySelector('#timeline-list [data-type="rectify.item.verification_rejected"]')`, reason))
		if n := rv.count(t, `details[data-action="verify"]`); n != 0 {
			t.Errorf("an item in progress offers verification")
		}

		// Someone else resubmits; the reviewer's page follows without a reload.
		admin.MustPost("/api/v1/items/"+submitted.ID+"/submit", map[string]any{"note": "已补充"}, http.StatusOK)
		rv.waitFor(t, "the resubmitted item, live", `document.querySelector('.item-head [data-status]').dataset.status === 'submitted' &&
			document.querySelector('details[data-action="verify"]')`)
		rv.mustBeSamePage(t)

		rv.do(t, "verify with a double click",
			chromedp.Click(chromedp.CSS(`details[data-action="verify"] > summary`)),
			chromedp.SendKeys(chromedp.CSS(`details[data-action="verify"] textarea[name="note"]`), "同意销号"),
			chromedp.DoubleClick(chromedp.CSS(`details[data-action="verify"] button[type="submit"]`)))
		rv.waitFor(t, "the item closed", `document.querySelector('.item-head [data-status]').dataset.status === 'closed' &&
			document.querySelector('#timeline-list [data-type="rectify.item.verified"]')`)
		if n := rv.count(t, `#timeline-list [data-type="rectify.item.verified"]`); n != 1 {
			t.Errorf("a double click verified %d times, want once", n)
		}
		rv.screenshot(t, "item-verified")
	})

	t.Run("an editor sees forms for the items of their unit only", func(t *testing.T) {
		var own, other query.LedgerPage
		admin.MustGet("/api/v1/items?limit=1&status=in_progress&subtree=false&unit_id=sq-dongfeng", &own)
		admin.MustGet("/api/v1/items?limit=1&status=in_progress&unit_id=sq-xinhua", &other)
		if len(own.Items) == 0 || len(other.Items) == 0 {
			t.Fatal("the demo lacks items in progress of 东风 and 新华")
		}
		ed := br.tab("editor")
		ed.signIn(t, seeded.Tokens["u-dongfeng"])
		ed.goTo(t, "#/items/"+own.Items[0].ID)
		ed.waitFor(t, "the progress form on an item of the editor's unit", `document.querySelector('details[data-action="progress"]')`)
		if n := ed.count(t, `details[data-action="verify"], details[data-action="withdraw"]`); n != 0 {
			t.Errorf("an editor is offered %d reviewer or administrator forms", n)
		}
		// Another unit's item is outside the editor's scope altogether.
		ed.goTo(t, "#/items/"+other.Items[0].ID)
		ed.waitFor(t, "another unit's item, not found", `document.querySelector('#facts .error-box')`)
		if n := ed.count(t, "details.action"); n != 0 {
			t.Errorf("an editor is offered %d forms on another unit's item", n)
		}
		ed.goTo(t, "#/ledger")
		ed.waitFor(t, "the raise form", `document.querySelector('details[data-action="raise"]')`)
		ed.screenshot(t, "ledger-editor")
	})

	t.Run("an editor assigns an item to a person picked from the unit, and the activity feed names it", func(t *testing.T) {
		// A new item of 东风, owned by nobody yet.
		var cycles query.Cycles
		admin.MustGet("/api/v1/cycles", &cycles)
		it := struct{ ID, Title string }{Title: "网格员入户走访记录不全"}
		it.ID = admin.MustPost("/api/v1/items", map[string]any{"cycle_id": openCycle(t, cycles), "unit_id": "sq-dongfeng",
			"title": it.Title, "deadline": time.Now().AddDate(0, 3, 0).Format("2006-01-02")}, http.StatusCreated).ID
		name := seeded.Users["u-dongfeng"]
		ed := br.tab("editor-assigns")
		ed.signIn(t, seeded.Tokens["u-dongfeng"])
		ed.goTo(t, "#/items/"+it.ID)
		// An editor cannot list users; the form lists the unit's people.
		ed.waitFor(t, "the unit's people in the assign form", `(() => {
			const s = document.querySelector('details[data-action="assign"] select[name="owner_id"]');
			return s && s.dataset.loaded > 0 && [...s.options].some((o) => o.value === 'u-dongfeng'); })()`)
		if opt := eval[string](t, ed, `document.querySelector('details[data-action="assign"] select[name="owner_id"] option[value="u-dongfeng"]').textContent`); !strings.Contains(opt, name) || !strings.Contains(opt, "填报人") {
			t.Errorf("the person is offered as %q, want the name %s and the role 填报人", opt, name)
		}
		if n := ed.count(t, `details[data-action="assign"] input[name="owner_id"]`); n != 0 {
			t.Error("the assign form still asks for a typed owner id")
		}
		ed.do(t, "pick the person",
			chromedp.Click(chromedp.CSS(`details[data-action="assign"] > summary`)),
			chromedp.SetValue(chromedp.CSS(`details[data-action="assign"] select[name="owner_id"]`), "u-dongfeng"))
		eval[chromedp.Void](t, ed, `document.querySelector('details[data-action="assign"] select[name="owner_id"]').dispatchEvent(new Event('change'))`)
		if got := eval[string](t, ed, `document.querySelector('details[data-action="assign"] input[name="owner_name"]').value`); got != name {
			t.Errorf("picking the person filled the name with %q, want %q", got, name)
		}
		ed.screenshot(t, "item-assign-picker")
		ed.do(t, "assign", chromedp.Click(chromedp.CSS(`details[data-action="assign"] button[type="submit"]`)))
		ed.waitFor(t, "the owner on the item", fmt.Sprintf(`document.querySelector('#facts').innerText.includes(%q) &&
			document.querySelector('#timeline-list [data-type="rectify.item.assigned"]')`, name))
		var got query.ItemDetail
		admin.MustGet("/api/v1/items/"+it.ID, &got)
		if got.OwnerID != "u-dongfeng" || got.OwnerName != name {
			t.Errorf("the item's owner is %q %q, want u-dongfeng %q", got.OwnerID, got.OwnerName, name)
		}
		ed.screenshot(t, "item-assigned-by-picker")

		// The feed names the item by its title, linked to its page.
		ed.goTo(t, "#/activity")
		ed.waitFor(t, "the assignment in the feed, under the item's title", fmt.Sprintf(`[...document.querySelectorAll('#feed li.entry[data-type="rectify.item.assigned"]')].some((li) => {
			const a = li.querySelector('.target a'); return a && a.textContent === %q && a.getAttribute('href') === %q; })`, it.Title, "#/items/"+it.ID))
		if n := ed.count(t, `#feed .target a`); n == 0 || eval[bool](t, ed, `[...document.querySelectorAll('#feed .target a')].some((a) => a.textContent === a.title)`) {
			t.Errorf("the feed shows ids instead of titles (%d links)", n)
		}
		ed.screenshot(t, "activity-titles")
	})

	t.Run("a viewer sees no action forms", func(t *testing.T) {
		vw := br.tab("viewer")
		vw.signIn(t, seeded.Tokens["u-viewer"])
		vw.goTo(t, "#/items/"+working.ID)
		vw.waitFor(t, "the item", `document.querySelectorAll('#timeline-list li.entry').length > 0`)
		if n := vw.count(t, "form[data-action], details.action"); n != 0 {
			t.Errorf("a viewer sees %d action forms on an item", n)
		}
		vw.goTo(t, "#/ledger")
		vw.waitFor(t, "the ledger", `document.querySelectorAll('table.ledger tbody tr').length > 0`)
		vw.goTo(t, "#/commitments")
		vw.waitFor(t, "the commitments", `document.querySelectorAll('#grid .c-row').length > 0`)
		if n := vw.count(t, "form[data-action], details.action"); n != 0 {
			t.Errorf("a viewer sees %d action forms on the commitments page", n)
		}
		vw.goTo(t, "#/ledger")
		vw.waitFor(t, "the ledger", `document.querySelectorAll('table.ledger tbody tr').length > 0`)
		if n := vw.count(t, "form[data-action], details.action"); n != 0 {
			t.Errorf("a viewer sees %d action forms on the ledger", n)
		}
		if !eval[bool](t, vw, `document.querySelector('#nav a[data-route="import"]').hidden`) {
			t.Error("a viewer is offered the report import")
		}
		vw.screenshot(t, "ledger-viewer")
	})

	t.Run("an item raised by someone else appears live, as text", func(t *testing.T) {
		ad.goTo(t, "#/ledger?sort=raised&order=desc")
		ad.waitFor(t, "the ledger, newest first", `document.querySelectorAll('table.ledger tbody tr').length > 0`)
		ad.markPage(t)
		// A title with markup: it must show as text and never become an element.
		title := `新问题 <img src=x id=injected onerror="window.__xss=1">`
		var cycles query.Cycles
		admin.MustGet("/api/v1/cycles", &cycles)
		admin.MustPost("/api/v1/items", map[string]any{"cycle_id": openCycle(t, cycles), "unit_id": "sq-heping",
			"title": title, "deadline": time.Now().AddDate(0, 2, 0).Format("2006-01-02")}, http.StatusCreated)
		ad.waitFor(t, "the new item in the list",
			fmt.Sprintf(`[...document.querySelectorAll('table.ledger .item-link')].some((a) => a.textContent === %q)`, title))
		ad.mustBeSamePage(t)
		if eval[bool](t, ad, `Boolean(document.querySelector('#injected') || window.__xss)`) {
			t.Error("markup in an item title became an element")
		}
		ad.screenshot(t, "ledger-live")
	})

	t.Run("a cut stream shows in the indicator and resumes without missing a change", func(t *testing.T) {
		ad.goTo(t, "#/items/"+working.ID)
		ad.waitFor(t, "the item", `document.querySelector('#item-percent') && document.querySelector('#live').dataset.state === 'live'`)
		ad.markPage(t)
		before := gate.requests()
		gate.cut(true)
		ad.waitFor(t, "the indicator saying the connection is lost", `document.querySelector('#live').dataset.state === 'lost'`)
		ad.screenshot(t, "live-lost")
		if txt := ad.text(t, "#live"); !strings.Contains(txt, "中断") {
			t.Errorf("the lost indicator reads %q", txt)
		}
		// While the page is cut off, someone reports progress.
		admin.MustPost("/api/v1/items/"+working.ID+"/progress", map[string]any{"percent": 77, "note": "断线期间的进展"}, http.StatusOK)
		gate.open()
		ad.waitFor(t, "the indicator back to live", `document.querySelector('#live').dataset.state === 'live'`)
		ad.waitFor(t, "the change made meanwhile", `document.querySelector('#item-percent').textContent.includes('77')`)
		ad.screenshot(t, "live-restored")
		ad.mustBeSamePage(t)
		ids := gate.lastIDsSince(before, st.AdminToken)
		if len(ids) == 0 || slices.Contains(ids, "") {
			t.Errorf("the stream was reopened without Last-Event-ID (requests: %q): it could not resume", ids)
		}
	})

	t.Run("the language switches between Chinese and English", func(t *testing.T) {
		ad.goTo(t, "#/")
		ad.waitFor(t, "the overview", `document.querySelector('.kpis')`)
		ad.do(t, "choose English", chromedp.SetValue(chromedp.CSS("#lang"), "en"))
		eval[chromedp.Void](t, ad, `document.querySelector('#lang').dispatchEvent(new Event('change'))`)
		ad.waitFor(t, "English labels", `document.documentElement.lang === 'en' &&
			document.querySelector('#nav a[data-route="overview"]').textContent === 'Overview' &&
			document.querySelector('.page-head h1').textContent === 'Overview' && document.querySelector('.kpis')`)
		if h := ad.text(t, "#live"); h != "Live" {
			t.Errorf("the live indicator reads %q in English", h)
		}
		ad.screenshot(t, "overview-en")
		ad.do(t, "choose Chinese", chromedp.SetValue(chromedp.CSS("#lang"), "zh-CN"))
		eval[chromedp.Void](t, ad, `document.querySelector('#lang').dispatchEvent(new Event('change'))`)
		ad.waitFor(t, "Chinese labels", `document.documentElement.lang === 'zh-CN' &&
			document.querySelector('#nav a[data-route="overview"]').textContent === '概览'`)
	})

	t.Run("the keyboard reaches the page", func(t *testing.T) {
		ad.do(t, "reload", chromedp.Reload())
		ad.waitFor(t, "the overview", `document.querySelector('.kpis')`)
		ad.do(t, "tab", chromedp.KeyEvent(kb.Tab))
		if id := eval[string](t, ad, `document.activeElement.id`); id != "skip" {
			t.Errorf("the first Tab reaches %q, want the skip link", id)
		}
		ad.do(t, "tab", chromedp.KeyEvent(kb.Tab))
		if r := eval[string](t, ad, `document.activeElement.dataset.route || ''`); r != "overview" {
			t.Errorf("the second Tab reaches %q, want the first navigation link", r)
		}
		// Following a link with the keyboard lands on the new page.
		ad.do(t, "tab to the ledger link and follow it", chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter))
		ad.waitFor(t, "the ledger, with the focus on the page", `document.querySelector('table.ledger') && document.activeElement.id === 'main'`)
	})

	t.Run("an administrator imports a report", func(t *testing.T) {
		sample, err := filepath.Abs(filepath.Join("..", "services", "report", "testdata", "beiyuan_2019_noise.txt"))
		if err != nil {
			t.Fatal(err)
		}
		var cycles query.Cycles
		admin.MustGet("/api/v1/cycles", &cycles)
		ad.goTo(t, "#/import")
		ad.waitFor(t, "the import page, linked from the navigation", `!document.querySelector('#nav a[data-route="import"]').hidden && document.querySelector('#import-file')`)
		ad.do(t, "read the report",
			chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{sample}),
			chromedp.Click(chromedp.CSS("#import-read-submit")))
		ad.waitFor(t, "the draft with its noise left out", `document.querySelectorAll('table.import-items tbody tr').length === 3 &&
			document.querySelector('#import-skipped').innerText.includes('16')`)
		if row := ad.text(t, `tr[data-key="p1"]`); !strings.Contains(row, "第 17 行") || !strings.Contains(row, "走访楼院") {
			t.Errorf("the first item's row lacks its line or its measures:\n%s", row)
		}
		ad.do(t, "confirm without a cycle", chromedp.Click(chromedp.CSS("#import-confirm")))
		ad.waitFor(t, "the missing cycle beside its field", `document.querySelector('#import-cycle').getAttribute('aria-invalid') === 'true' &&
			!document.querySelector('#import-cycle').parentElement.querySelector('.field-error').hidden`)
		ad.do(t, "settle the review and drop p3",
			chromedp.SetValue(chromedp.CSS("#import-cycle"), openCycle(t, cycles)),
			chromedp.SetValue(chromedp.CSS("#import-unit"), "sq-dongfeng"),
			chromedp.Click(chromedp.CSS(`tr[data-key="p3"] input.keep`)))
		ad.screenshot(t, "import-review")
		ad.do(t, "confirm", chromedp.Click(chromedp.CSS("#import-confirm")))
		ad.waitFor(t, "the created items", `document.querySelectorAll('#import-result a.import-item').length === 2`)
		ad.screenshot(t, "import-done")
		ad.do(t, "open the first item", chromedp.Click(chromedp.CSS(`#import-result a.import-item[data-entry="p1"]`)))
		ad.waitFor(t, "the imported item with its source in the timeline",
			`document.querySelector('#item-title') && document.querySelector('#item-title').textContent.includes('两委') &&
			document.querySelector('#timeline-list') && document.querySelector('#timeline-list').innerText.includes('述职报告《beiyuan_2019_noise.txt》第17行')`)
	})

	t.Run("the rankings show the quarter with movements, and the month published as reported", func(t *testing.T) {
		ad.goTo(t, "#/rankings")
		ad.waitFor(t, "ranking, monthly scores and weekly summary", `document.querySelectorAll('#asm-ranking table.ranking tbody tr').length > 3 &&
			document.querySelectorAll('#asm-ranking .move').length > 3 && document.querySelector('#asm-monthly table.monthly') && document.querySelector('#asm-weekly table.weekly')`)
		ad.do(t, "publish the month", chromedp.Click(chromedp.CSS(`details[data-action="publish-assessment"] > summary`)),
			chromedp.Click(chromedp.CSS(`form[data-action="publish-assessment"] button[type="submit"]`)))
		ad.waitFor(t, "the month as reported, reproduced", `document.querySelector('#asm-published .asm-pub[data-kind="month"] table.side-by-side') &&
			document.querySelector('#asm-published').innerText.includes('复算一致')`)
		ad.do(t, "revise the draft and preview it", chromedp.Click(chromedp.CSS(`details[data-action="revise-ruleset"] > summary`)),
			chromedp.SetValue(chromedp.CSS(`form[data-action="revise-ruleset"] [name="rules.base"]`), "90"),
			chromedp.SendKeys(chromedp.CSS(`form[data-action="revise-ruleset"] [name="reason"]`), "基础分调整为90分"),
			chromedp.Click(chromedp.CSS(`form[data-action="revise-ruleset"] button[type="submit"]`)))
		ad.waitFor(t, "the draft changed", `document.querySelector('#asm-admin').textContent.includes('草稿有尚未发布的修改')`)
		ad.do(t, "preview", chromedp.Click(chromedp.CSS(`#asm-preview-run`)))
		ad.waitFor(t, "the preview, 10 points down", `document.querySelector('#asm-preview table.preview') && document.querySelector('#asm-preview').innerText.includes('-10')`)
		ad.screenshot(t, "rankings")
	})

	t.Run("the watcher's escalations show as badges, and the overview and rankings show the past", func(t *testing.T) {
		// The real deadline watcher, on today's clock, over the demo's
		// overdue items.
		w, err := watcher.New(st.Store, watcher.Options{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := w.Check(ctx)
		if err != nil || n == 0 {
			t.Fatalf("the watcher recorded %d facts (%v); the demo has overdue items", n, err)
		}
		head, _ := st.Store.Head(ctx)
		var page query.LedgerPage
		admin.MustGet(fmt.Sprintf("/api/v1/items?escalated=any&limit=200&min_position=%d", head), &page)
		if len(page.Items) == 0 || page.Items[0].Escalation == nil {
			t.Fatalf("no escalated item in the ledger after the watcher's pass: %+v", page.Items)
		}
		ad.goTo(t, "#/ledger?escalated=any")
		ad.waitFor(t, "the escalated items, each with its badge", fmt.Sprintf(`(() => { const rows = [...document.querySelectorAll('table.ledger tbody tr')];
			return rows.length === %d && rows.every((r) => r.querySelector('.chip.esc[data-escalation]')); })()`, len(page.Items)))
		if v := eval[string](t, ad, `document.querySelector('#flt-escalated').value`); v != "any" {
			t.Errorf("the escalation filter reads %q, want any", v)
		}
		ad.screenshot(t, "ledger-escalated")
		esc := page.Items[0]
		ad.goTo(t, "#/items/"+esc.ID)
		ad.waitFor(t, "the item's escalation", fmt.Sprintf(`document.querySelector('#item-escalation .chip.esc[data-escalation="%s"]') &&
			document.querySelector('#item-title .chip, .item-head .chip.esc')`, esc.Escalation.Whom))

		// The overview as it stood when the demo was seeded, before this
		// test raised and imported items; then back to now.
		var now, then query.Summary
		admin.MustGet(fmt.Sprintf("/api/v1/progress/summary?min_position=%d", head), &now)
		admin.MustGet(fmt.Sprintf("/api/v1/progress/summary?min_position=%d&as_of=position:%d", head, seedHead), &then)
		if then.Total.Total != seeded.Items || now.Total.Total <= then.Total.Total {
			t.Fatalf("items as of the seeding %d (want %d), now %d", then.Total.Total, seeded.Items, now.Total.Total)
		}
		ad.goTo(t, fmt.Sprintf("#/?as_of=position:%d", seedHead))
		ad.waitFor(t, "the past overview under its banner", fmt.Sprintf(`document.querySelector('#asof-banner') && document.querySelector('table.units') &&
			document.querySelector('[data-kpi="total"] .kpi-value').textContent === '%d'`, then.Total.Total))
		ad.screenshot(t, "overview-as-of")
		ad.do(t, "back to now", chromedp.Click(chromedp.CSS("#asof-now")))
		ad.waitFor(t, "today's overview", fmt.Sprintf(`!document.querySelector('#asof-banner') &&
			document.querySelector('[data-kpi="total"] .kpi-value') && document.querySelector('[data-kpi="total"] .kpi-value').textContent === '%d'`, now.Total.Total))
		ad.goTo(t, fmt.Sprintf("#/rankings?as_of=position:%d", seedHead))
		ad.waitFor(t, "the past rankings under their banner, without forms", `document.querySelector('#asof-banner') &&
			(document.querySelector('#asm-no-rules') || document.querySelector('#asm-ranking table')) && !document.querySelector('#asm-admin details')`)
	})

	t.Run("a phone-width screen has no horizontal overflow", func(t *testing.T) {
		ph := br.tab("phone")
		ph.do(t, "a 375 px wide screen", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulatePortrait))
		ph.signIn(t, st.AdminToken)
		pages := []struct{ hash, ready string }{
			{"#/", `document.querySelector('table.units')`},
			{"#/ledger", `document.querySelectorAll('table.ledger tbody tr').length > 0`},
			{"#/items/" + working.ID, `document.querySelectorAll('#timeline-list li.entry').length > 0 && document.querySelector('#asof-state [data-status]')`},
			{"#/commitments", `document.querySelectorAll('#grid .c-row').length > 0`},
			{"#/rankings", `document.querySelector('#asm-ranking table')`},
			{"#/activity", `document.querySelectorAll('#feed li.entry').length > 0`},
			{"#/import", `document.querySelector('#import-file')`},
		}
		for _, p := range pages {
			ph.goTo(t, p.hash)
			ph.waitFor(t, p.hash, p.ready)
			w := eval[[]int](t, ph, `[document.documentElement.scrollWidth, window.innerWidth]`)
			if w[0] > w[1] {
				t.Errorf("%s is %d px wide on a %d px screen", p.hash, w[0], w[1])
			}
			if p.hash == "#/" {
				ph.screenshot(t, "overview-phone")
			}
		}
	})

	t.Run("no console errors", func(t *testing.T) {
		// The console messages arrive asynchronously; give the last ones a moment.
		time.Sleep(200 * time.Millisecond) // no event marks "all delivered"
		for _, m := range br.consoleErrors() {
			t.Errorf("console: %s", m)
		}
	})
}

// openCycle is a cycle that takes new items.
func openCycle(t *testing.T, cs query.Cycles) string {
	t.Helper()
	for _, c := range cs.Cycles {
		if !c.Closed {
			return c.ID
		}
	}
	t.Fatal("no open cycle")
	return ""
}
