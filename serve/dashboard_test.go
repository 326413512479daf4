package serve_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"retain/datasets/synth"
	"retain/features"
	retainv1 "retain/proto/retain/v1"
	"retain/serve"
	"retain/serve/report"
)

// TestDashboard serves the dashboard of a store loaded from a synthetic
// dataset, scored by a bundle, on a real HTTP server on 127.0.0.1:0, and
// checks its authentication (Basic with the token as password, or
// Bearer), scope (report or admin), parameters and page.
func TestDashboard(t *testing.T) {
	checkNoLeak(t)
	dir := filepath.Join(t.TempDir(), "gym")
	if _, err := synth.WriteDir(synthConfig(), dir, &synth.WriteOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	sc, err := serve.NewBundleScorer(testBundle(t, true, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := serve.ParseTokens([]byte(tokensYAML + `
  - name: manager
    token: manager-token-0123456789
    scopes: [report]
`))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, serve.Options{Tokens: tokens}, nil, &serve.Batch{})
	if _, err := ts.store.Load(dir, nil); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(ts.srv.HTTPHandler())
	defer hs.Close()

	get := func(method, query string, auth func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctxT(t), method, hs.URL+serve.DashboardPath+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != nil {
			auth(req)
		}
		res, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(b)
	}
	basic := func(tok string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth("anyone", tok) } }
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}

	// No model yet.
	if res, body := get("GET", "", basic(tokAdmin)); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("without a model: %d %q, want 503", res.StatusCode, body)
	}
	if err := ts.srv.SetScorer(ctxT(t), sc); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, method, query string
		auth                func(*http.Request)
		code                int
		want                string // in the body
	}{
		{"no token", "GET", "", nil, 401, "missing token"},
		{"unknown token", "GET", "", basic("not-a-token-0123456789"), 401, "unknown token"},
		{"bad basic", "GET", "", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, 401, "malformed"},
		{"other scheme", "GET", "", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, 401, "unsupported"},
		{"lacks scope", "GET", "", basic(tokCRM), 403, "client crm lacks scope report"},
		{"report scope", "GET", "", basic("manager-token-0123456789"), 200, "<svg"},
		{"admin bearer", "GET", "", bearer(tokAdmin), 200, "<svg"},
		{"as of", "GET", "?as_of=2024-06-01&club=all", basic(tokAdmin), 200, "<title>Retention report: all clubs, 2024-05</title>"},
		{"month", "GET", "?month=2024-07", basic(tokAdmin), 200, "Members scored as of <time>2024-08-01T00:00:00Z</time>"},
		{"club", "GET", "?club=nowhere", basic(tokAdmin), 400, `unknown club "nowhere"`},
		{"bad month", "GET", "?month=July", basic(tokAdmin), 400, `"July" is not YYYY-MM`},
		{"bad as_of", "GET", "?as_of=yesterday", basic(tokAdmin), 400, "as_of"},
		{"future as_of", "GET", "?as_of=2200-01-01", basic(tokAdmin), 400, "as_of: 2200-01-01T00:00:00Z is in the future"},
		{"as_of before 1990", "GET", "?as_of=1989-12-31", basic(tokAdmin), 400, "as_of: 1989-12-31T00:00:00Z is before 1990"},
		{"unknown parameter", "GET", "?clubs=all", basic(tokAdmin), 400, `unknown query parameter "clubs"`},
		{"post", "POST", "", basic(tokAdmin), 405, "use GET"},
	} {
		res, body := get(c.method, c.query, c.auth)
		if res.StatusCode != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %.200q; want %d and %q", c.name, res.StatusCode, body, c.code, c.want)
			continue
		}
		switch c.code {
		case 401:
			if h := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Basic ") {
				t.Errorf("%s: WWW-Authenticate %q, want Basic", c.name, h)
			}
		case 200:
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", c.name, ct)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
				t.Errorf("%s: Content-Security-Policy %q", c.name, csp)
			}
			if n := strings.Count(body, "<svg"); n != 5 {
				t.Errorf("%s: %d charts, want 5", c.name, n)
			}
			if !strings.Contains(body, sc.Info().Version) {
				t.Errorf("%s: model version %s not on the page", c.name, sc.Info().Version)
			}
		}
	}

	// The JSON API still answers next to the dashboard.
	res, err := hs.Client().Post(hs.URL+"/retain.v1.RetainService/GetModelInfo", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("JSON API without a token: %d, want 401", res.StatusCode)
	}
}

// TestReportBuildFromMatchesBuild holds the report's batch path
// (report.OpenDir or report.HistorySource, report.BuildFrom,
// ReportBatchScoreFunc: one read into features.AsOf, KPIs streamed into a
// features.Builder, ScoreBatch) equal to the per-member path (report.ReadDir,
// report.Build, ReportScoreFunc: features.ComputeKPIs on histories,
// BundleScorer.Score per member) on a synthetic gym, for several as-of
// instants and clubs: the same members, counts, KPIs, tiers, flags, days,
// actions and reasons, probabilities and contributions within 1e-6.
// RETAIN_REPORT_DATA and RETAIN_REPORT_MODEL run it on another dataset
// and bundle too (the demo gym: .demo/data, .demo/model.rtmb).
func TestReportBuildFromMatchesBuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gym")
	if _, err := synth.WriteDir(synthConfig(), dir, &synth.WriteOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ data, model string }{{dir, testBundle(t, true, 1)}}
	if d, m := os.Getenv("RETAIN_REPORT_DATA"), os.Getenv("RETAIN_REPORT_MODEL"); d != "" && m != "" {
		cases = append(cases, struct{ data, model string }{d, m})
	}
	for _, c := range cases {
		sc, err := serve.NewBundleScorer(c.model, nil)
		if err != nil {
			t.Fatal(err)
		}
		hs, man, err := report.ReadDir(c.data)
		if err != nil {
			t.Fatal(err)
		}
		spec := sc.Bundle().Spec
		var n, scored int
		maxDiff := 0.0
		for _, asOf := range []time.Time{{}, man.End.AddDate(0, -3, 0), man.End.AddDate(0, -5, -3).Add(13 * time.Hour)} {
			for _, club := range append([]string{features.AllClubs}, spec.Clubs...) {
				o := report.Options{Club: club, AsOf: asOf, DataStart: man.Start, DataEnd: man.End, Spec: spec,
					Risk: report.RiskThresholds{Medium: 0.3, High: 0.6}}
				want, err := report.Build(ctxT(t), hs, serve.ReportScoreFunc(sc), o)
				if err != nil {
					t.Fatal(err)
				}
				src, _, err := report.OpenDir(c.data)
				if err != nil {
					t.Fatal(err)
				}
				got, err := report.BuildFrom(ctxT(t), src, serve.ReportBatchScoreFunc(sc), o)
				if err != nil {
					t.Fatal(err)
				}
				fromHist, err := report.BuildFrom(ctxT(t), report.HistorySource(hs, man), serve.ReportBatchScoreFunc(sc), o)
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range []*report.Input{got, fromHist} {
					name := fmt.Sprintf("%s as of %s, club %s", c.data, want.AsOf.Format(time.RFC3339), club)
					maxDiff = max(maxDiff, compareInputs(t, name, want, g))
				}
				n++
				scored += len(want.Members)
			}
		}
		t.Logf("%s: %d reports, %d member rows: largest probability or contribution difference %.2g", c.data, n, scored, maxDiff)
		if scored == 0 {
			t.Errorf("%s: no member scored in any report: the comparison proves nothing", c.data)
		}
	}
}

// compareInputs reports every difference between two report inputs beyond
// 1e-6 in the probabilities and contributions, and returns the largest
// such difference.
func compareInputs(t *testing.T, name string, want, got *report.Input) float64 {
	t.Helper()
	const tol = 1e-6
	worst := 0.0
	if !reflect.DeepEqual(want.Months, got.Months) {
		t.Errorf("%s: KPIs differ:\n got %+v\nwant %+v", name, got.Months, want.Months)
	}
	if want.Club != got.Club || want.Month != got.Month || !want.AsOf.Equal(got.AsOf) || !want.DataStart.Equal(got.DataStart) ||
		want.NotJoined != got.NotJoined || want.Departed != got.Departed || len(want.Members) != len(got.Members) {
		t.Errorf("%s: got club %s month %s as of %s start %s, %d members, %d not joined, %d departed; want %s %s %s %s, %d, %d, %d",
			name, got.Club, got.Month, got.AsOf, got.DataStart, len(got.Members), got.NotJoined, got.Departed,
			want.Club, want.Month, want.AsOf, want.DataStart, len(want.Members), want.NotJoined, want.Departed)
		return worst
	}
	for i := range want.Members {
		w, g := want.Members[i], got.Members[i]
		d := math.Abs(w.ChurnProbability - g.ChurnProbability)
		worst = max(worst, d)
		same := w.ID == g.ID && w.Club == g.Club && w.Tier == g.Tier && slices.Equal(w.Flags, g.Flags) &&
			w.DaysAbsent == g.DaysAbsent && w.DaysToContractEnd == g.DaysToContractEnd && w.OpenEnded == g.OpenEnded &&
			w.Action == g.Action && len(w.Reasons) == len(g.Reasons) && d <= tol
		for k := 0; same && k < len(w.Reasons); k++ {
			dc := math.Abs(w.Reasons[k].Contribution - g.Reasons[k].Contribution)
			worst = max(worst, dc)
			same = w.Reasons[k].Name == g.Reasons[k].Name && w.Reasons[k].Description == g.Reasons[k].Description && dc <= tol
		}
		if !same {
			t.Errorf("%s: member %d:\n got %+v\nwant %+v", name, i, g, w)
		}
	}
	return worst
}

// TestDashboardCache: a page is built once per (club, month, as_of) and
// then served from the cache (X-Dashboard-Cache: hit, the same bytes),
// until events are ingested (IngestEvents), the model is swapped
// (SetScorer), or dashboardCacheTTL (5 minutes) has passed on the
// server's clock.
func TestDashboardCache(t *testing.T) {
	checkNoLeak(t)
	dir := filepath.Join(t.TempDir(), "gym")
	man, err := synth.WriteDir(synthConfig(), dir, &synth.WriteOptions{Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	hs, _, err := report.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	model := testBundle(t, true, 1)
	sc, err := serve.NewBundleScorer(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(man.End.AddDate(0, 0, 1).UnixNano())
	ts := startServer(t, serve.Options{Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }}, nil, &serve.Batch{})
	if _, err := ts.store.Load(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.SetScorer(ctxT(t), sc); err != nil {
		t.Fatal(err)
	}
	hsrv := httptest.NewServer(ts.srv.HTTPHandler())
	defer hsrv.Close()
	get := func(method, query string) (string, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctxT(t), method, hsrv.URL+serve.DashboardPath+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("", tokAdmin)
		res, err := hsrv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %.200q", method, query, res.StatusCode, b)
		}
		return res.Header.Get("X-Dashboard-Cache"), string(b)
	}
	expect := func(step, query, want string) string {
		t.Helper()
		got, body := get("GET", query)
		if got != want {
			t.Errorf("%s: GET %q: X-Dashboard-Cache %q, want %q", step, query, got, want)
		}
		return body
	}
	first := expect("first load", "?month=2024-07", "miss")
	if again := expect("reload", "?month=2024-07", "hit"); again != first {
		t.Errorf("the cached page differs from the page built")
	}
	if c, body := get("HEAD", "?month=2024-07"); c != "hit" || body != "" {
		t.Errorf("HEAD: cache %q, body %d bytes; want a hit, no body", c, len(body))
	}
	expect("another month", "?month=2024-06", "miss")
	expect("another club", "?month=2024-07&club=all", "miss") // the query, not the resolved options, is the key
	expect("the first month still", "?month=2024-07", "hit")

	// Two requests at once for a new page: one builds it, the other
	// waits and is served the cached page (or comes after: a hit too).
	got := make(chan string, 2)
	for range 2 {
		go func() {
			req, err := http.NewRequestWithContext(ctxT(t), "GET", hsrv.URL+serve.DashboardPath+"?month=2024-05", nil)
			if err != nil {
				got <- err.Error()
				return
			}
			req.SetBasicAuth("", tokAdmin)
			res, err := hsrv.Client().Do(req)
			if err != nil {
				got <- err.Error()
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			got <- res.Header.Get("X-Dashboard-Cache")
		}()
	}
	if a, b := <-got, <-got; !(a == "miss" && b == "hit" || a == "hit" && b == "miss") {
		t.Errorf("two requests at once: %q and %q, want one miss and one hit", a, b)
	}

	// An ingested event invalidates every page.
	c := ts.dial(t, tokCRM)
	if _, err := c.IngestEvents(ctxT(t), &retainv1.IngestEventsRequest{Transactions: []*retainv1.Transaction{{
		EventId: "cache-test-1", MemberId: hs[0].Member.MemberID, Ts: pbts(man.End.AddDate(0, 0, -10)), Amount: 500,
		Kind: retainv1.TransactionKind_TRANSACTION_KIND_RETAIL,
	}}}); err != nil {
		t.Fatal(err)
	}
	expect("after an ingest", "?month=2024-07", "miss")
	expect("after an ingest", "?month=2024-06", "miss")
	expect("after an ingest, again", "?month=2024-07", "hit")

	// A model swap, even to the same bundle, invalidates every page.
	sc2, err := serve.NewBundleScorer(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.SetScorer(ctxT(t), sc2); err != nil {
		t.Fatal(err)
	}
	expect("after a model swap", "?month=2024-07", "miss")
	expect("after a model swap, again", "?month=2024-07", "hit")

	// The time to live.
	clock.Add(int64(4 * time.Minute))
	expect("4 minutes later", "?month=2024-07", "hit")
	clock.Add(int64(2 * time.Minute))
	expect("6 minutes after it was built", "?month=2024-07", "miss")
}
