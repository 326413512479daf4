package serve_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"retain/datasets/synth"
	"retain/serve"
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
