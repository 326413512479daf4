package report

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium or Chrome binary: $RETAIN_CHROMIUM,
// else the first of the usual names on PATH. The test skips without one.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RETAIN_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("RETAIN_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (chromium, chromium-browser, google-chrome on PATH); set RETAIN_CHROMIUM to its path to run this test")
	return ""
}

// browserCtx starts a headless Chromium with the flags this sandbox needs
// and collects the page's console errors and uncaught exceptions.
func browserCtx(t *testing.T, width, height int) (context.Context, func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(width, height),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	cctx, ccancel := chromedp.NewContext(actx)
	t.Cleanup(ccancel)
	t0 := time.Now()
	defer func() { t.Logf("browser started in %v", time.Since(t0)) }()
	if err := chromedp.Do(cctx); err != nil { // start the browser
		t.Fatalf("start %s: %v", chromium(t), err)
	}
	var (
		mu   sync.Mutex
		errs []string
		done = make(chan struct{})
	)
	lctx, lcancel := context.WithCancel(cctx)
	msgs := chromedp.Console(lctx) // subscribed from here on
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { lcancel(); <-done })
	return cctx, func() []string {
		time.Sleep(100 * time.Millisecond) // let the last events arrive
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(errs)
	}
}

// servePage serves page at / with the dashboard's Content-Security-Policy,
// so that a policy that blocked the inline script or style would show.
func servePage(t *testing.T, page []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		w.Write(page)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// column returns the texts of column c (1-based) of table id, in page order.
func column(t *testing.T, ctx context.Context, id string, c int) []string {
	t.Helper()
	return run(t, ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#`+id+` tbody tr td:nth-child(`+string(rune('0'+c))+`)")).map(td => td.textContent)`))
}

// download clicks the link sel, which must download a data:text/csv URI,
// and returns the file's suggested name and content.
func download(t *testing.T, ctx context.Context, sel string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	begin := chromedp.Events(ctx, browser.DownloadWillBegin)
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true),
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatal(err)
	}
	var name string
	for ev, err := range begin {
		if err != nil {
			t.Fatal(err)
		}
		name = ev.SuggestedFilename
		if !strings.HasPrefix(ev.URL, "data:text/csv") {
			t.Errorf("%s: download URL %.40q, want a data:text/csv URI", sel, ev.URL)
		}
		break
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatal(err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatalf("%s: download canceled", sel)
		}
		if ev.State != browser.DownloadProgressStateCompleted {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil {
			t.Fatal(err)
		}
		return name, string(got)
	}
	t.Fatalf("%s: no download", sel)
	return "", ""
}

// TestChromium opens the fixture's page in headless Chromium: it renders
// with its five charts, a click on a header sorts the table (text and
// numbers), the CSV link downloads the table as Table.CSV writes it, and
// nothing is written to the console as an error.
func TestChromium(t *testing.T) {
	in := fixture()
	page := render(t, in)
	ctx, consoleErrors := browserCtx(t, 1400, 1000)
	url := servePage(t, page)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#atrisk"))); err != nil {
		t.Fatal(err)
	}
	if title := run(t, ctx, chromedp.Title()); title != "Retention report: north, 2025-03" {
		t.Errorf("title %q", title)
	}

	// Charts: five SVGs, each laid out with a size and holding its bars
	// (the page source has 21 rects, legends included).
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg").length`)); n != 5 {
		t.Errorf("%d svg elements, want 5", n)
	}
	if n, want := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg rect").length`)), strings.Count(string(page), "<rect"); n != want || n == 0 {
		t.Errorf("%d svg rects, want %d", n, want)
	}
	if ok := run(t, ctx, chromedp.Evaluate[bool](`Array.from(document.querySelectorAll("svg")).every(s => { const r = s.getBoundingClientRect(); return r.width > 100 && r.height > 100 })`)); !ok {
		t.Error("an svg is not laid out")
	}

	// Sorting by text: the at-risk table comes by probability; a click on
	// "member" sorts it by id, a second click reverses it.
	e := `E<b>"x",y</b>`
	if got, want := column(t, ctx, "atrisk", 2), []string{"A", "B", e, "C", "F", "D"}; !slices.Equal(got, want) {
		t.Fatalf("at-risk members before sorting %q, want %q", got, want)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#atrisk thead th:nth-child(2)"))); err != nil {
		t.Fatal(err)
	}
	asc := []string{"A", "B", "C", "D", e, "F"}
	if got := column(t, ctx, "atrisk", 2); !slices.Equal(got, asc) {
		t.Errorf("after one click: %q, want %q", got, asc)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#atrisk thead th:nth-child(2)"))); err != nil {
		t.Fatal(err)
	}
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	if got := column(t, ctx, "atrisk", 2); !slices.Equal(got, desc) {
		t.Errorf("after two clicks: %q, want %q", got, desc)
	}
	// Sorting by number: days absent A 120, B 3, E 95, C 10, F 4, D 1
	// sort as 1, 3, 4, 10, 95, 120 (as text they would be 1, 10, 120, 3...).
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#atrisk thead th:nth-child(7)"))); err != nil {
		t.Fatal(err)
	}
	if got, want := column(t, ctx, "atrisk", 7), []string{"1", "3", "4", "10", "95", "120"}; !slices.Equal(got, want) {
		t.Errorf("days absent after a click: %q, want %q", got, want)
	}
	if got := run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#atrisk thead th:nth-child(7)").getAttribute("aria-sort")`)); got != "ascending" {
		t.Errorf("aria-sort %q, want ascending", got)
	}

	// CSV: a click on the link downloads the callback list under its file
	// name, with the content Table.CSV gives.
	ts, err := Tables(in)
	if err != nil {
		t.Fatal(err)
	}
	cb := ts[1]
	name, got := download(t, ctx, `a.csv[data-table="callback"]`)
	if name != cb.Filename {
		t.Errorf("download named %q, want %q", name, cb.Filename)
	}
	if want := cb.CSV(); got != want {
		t.Errorf("downloaded CSV:\n%s\nwant:\n%s", got, want)
	}
	// The sorted at-risk table downloads in its new order.
	csv := run(t, ctx, chromedp.Evaluate[string](`retainTableCSV("atrisk")`))
	lines := strings.Split(strings.TrimSuffix(csv, "\n"), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[1], "6,D,") || !strings.HasPrefix(lines[6], "1,A,") {
		t.Errorf("at-risk CSV after sorting by days absent:\n%s", csv)
	}

	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}

	// A long list: with ListRows 2 the at-risk table shows its first 2
	// rows (A, B by probability) of 6, says 4 more, sorts the rows shown,
	// and both of its CSV links download all 6 rows in the page's order.
	in.ListRows = 2
	at := ts[3]
	if len(at.Rows) != 6 {
		t.Fatalf("fixture at-risk table has %d rows, want 6", len(at.Rows))
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(servePage(t, render(t, in))), chromedp.WaitReady(chromedp.CSS("#atrisk"))); err != nil {
		t.Fatal(err)
	}
	if got, want := column(t, ctx, "atrisk", 2), []string{"A", "B"}; !slices.Equal(got, want) {
		t.Errorf("truncated at-risk members %q, want %q", got, want)
	}
	more := run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#atrisk-list p.more").textContent`))
	if !strings.HasPrefix(more, "4 more: download the CSV (all 6 rows") {
		t.Errorf("truncated list's note %q", more)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#atrisk thead th:nth-child(2)")), chromedp.Click(chromedp.CSS("#atrisk thead th:nth-child(2)"))); err != nil {
		t.Fatal(err)
	}
	if got, want := column(t, ctx, "atrisk", 2), []string{"B", "A"}; !slices.Equal(got, want) {
		t.Errorf("truncated at-risk members sorted by id, descending: %q, want %q", got, want)
	}
	for _, link := range []string{`#atrisk-list h3 a.csv`, `#atrisk-list p.more a.csv`} {
		name, got := download(t, ctx, link)
		if name != at.Filename || got != at.CSV() {
			t.Errorf("%s: downloaded %q:\n%s\nwant %q:\n%s", link, name, got, at.Filename, at.CSV())
		}
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors on the truncated page:\n%s", strings.Join(errs, "\n"))
	}
}

// TestScreenshot writes a PNG of the top of the page in $RETAIN_REPORT_HTML
// (default: the fixture) to $RETAIN_REPORT_SCREENSHOT; it is skipped when
// that is unset. docs/img/report.png comes from it (docs/report.md).
func TestScreenshot(t *testing.T) {
	out := os.Getenv("RETAIN_REPORT_SCREENSHOT")
	if out == "" {
		t.Skip("set RETAIN_REPORT_SCREENSHOT=path.png (and RETAIN_REPORT_HTML=page.html) to write a screenshot")
	}
	page := render(t, fixture())
	if p := os.Getenv("RETAIN_REPORT_HTML"); p != "" {
		var err error
		if page, err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	// The top of the page, $RETAIN_REPORT_SCREENSHOT_HEIGHT pixels (default
	// 2300: the cards, the charts and the start of the lists).
	height := int64(2300)
	if h := os.Getenv("RETAIN_REPORT_SCREENSHOT_HEIGHT"); h != "" {
		var err error
		if height, err = strconv.ParseInt(h, 10, 32); err != nil || height < 100 {
			t.Fatalf("RETAIN_REPORT_SCREENSHOT_HEIGHT=%s: want a number of pixels, at least 100", h)
		}
	}
	ctx, consoleErrors := browserCtx(t, 1360, 900)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1360, height), chromedp.Navigate(servePage(t, page)), chromedp.WaitReady(chromedp.CSS("#atrisk"))); err != nil {
		t.Fatal(err)
	}
	png := run(t, ctx, chromedp.CaptureScreenshot())
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}

}

func ptr[T any](v T) *T { return &v }
