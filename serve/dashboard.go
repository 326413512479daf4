package serve

// The live dashboard: GET /dashboard on the JSON/HTTP port renders the
// report of package serve/report from the store and the current Scorer.
// A browser cannot put a bearer token on a navigation, so the token is
// also accepted as the password of HTTP Basic auth (any user name).

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"retain/datasets"
	"retain/features"
	"retain/model"
	"retain/serve/report"
)

// DashboardPath is where the JSON/HTTP face serves the dashboard.
const DashboardPath = "/dashboard"

// ReportScoreFunc adapts a Scorer to the report builder: the churn
// probability, reasons and action of sc.Score.
func ReportScoreFunc(sc Scorer) report.ScoreFunc {
	return func(ctx context.Context, h *features.History, asOf time.Time) (report.Scored, error) {
		s, err := sc.Score(ctx, (*History)(h), asOf)
		if err != nil {
			return report.Scored{}, err
		}
		return reportScored(s), nil
	}
}

// ReportBatchScoreFunc adapts BundleScorer.ScoreBatch to the report
// builder (report.BuildFrom): the churn probability, reasons and action of
// each member, as ReportScoreFunc gives them.
func ReportBatchScoreFunc(sc *BundleScorer) report.BatchScoreFunc {
	type scratch struct {
		ws     BatchWorkspace
		ms     []BatchMember
		scores []Score
	}
	var pool sync.Pool
	return func(ctx context.Context, exs []*features.Example, out []report.Scored) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, _ := pool.Get().(*scratch)
		if st == nil {
			st = new(scratch)
		}
		defer pool.Put(st)
		st.ms = st.ms[:0]
		for _, ex := range exs {
			st.ms = append(st.ms, BatchMember{Ex: ex})
		}
		if cap(st.scores) < len(exs) {
			st.scores = make([]Score, len(exs))
		}
		scores := st.scores[:len(exs)]
		if err := sc.ScoreBatch(st.ms, &st.ws, scores); err != nil {
			return err
		}
		for k := range scores {
			out[k] = reportScored(&scores[k])
		}
		return nil
	}
}

// reportScored is the report's part of s.
func reportScored(s *Score) report.Scored {
	out := report.Scored{
		ChurnProbability: s.ChurnProbability,
		Action:           report.Action{Kind: s.Action.Kind, Stage: s.Action.Stage, OfferText: s.Action.OfferText},
	}
	for _, r := range s.Reasons {
		out.Reasons = append(out.Reasons, report.Reason{Name: r.Name, Description: r.Description, Contribution: r.Contribution})
	}
	return out
}

// ReportModel returns the report's description of a model.
func ReportModel(info ModelInfo) report.Model {
	return report.Model{Version: info.Version, TrainedAt: info.TrainedAt, Metrics: info.Metrics}
}

// bundled is a Scorer built on a model bundle, whose feature spec the
// report needs for tiers, flags and KPI thresholds (BundleScorer is one).
type bundled interface {
	Bundle() *model.Bundle
}

// dashboard serves DashboardPath. One page is built at a time: building
// reads every member's history and scores the club's members. Built pages
// are cached (see pageCache).
type dashboard struct {
	s     *Server
	sem   chan struct{}
	cache pageCache
}

func (s *Server) newDashboard() *dashboard {
	return &dashboard{s: s, sem: make(chan struct{}, 1)}
}

// Dashboard page cache limits: a page is served from the cache for at
// most dashboardCacheTTL after it was built (the page's default as-of
// instant can depend on the clock), and at most dashboardCacheSize pages
// are kept.
const (
	dashboardCacheTTL  = 5 * time.Minute
	dashboardCacheSize = 32
)

// pageCache holds built pages by query (club, month, as_of) for one
// generation: the live model (the *liveScorer SetScorer stored: a model
// swap or reload is a new one) and the store's last committed write
// transaction (Store.version: IngestEvents, a load, any write). A request
// that finds another generation empties the cache.
type pageCache struct {
	mu    sync.Mutex
	gen   cacheGen
	pages map[pageKey]*cachedPage
}

type cacheGen struct {
	ls    *liveScorer
	store int
}

type pageKey struct{ club, month, asOf string }

type cachedPage struct {
	body  []byte
	built time.Time
}

// get returns the page of k for generation g built after notBefore, or nil.
func (c *pageCache) get(g cacheGen, k pageKey, notBefore time.Time) *cachedPage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != g {
		c.gen, c.pages = g, nil
		return nil
	}
	p := c.pages[k]
	if p == nil || p.built.Before(notBefore) {
		return nil
	}
	return p
}

// put keeps the page of k, built from generation g; a page of an older
// generation is dropped.
func (c *pageCache) put(g cacheGen, k pageKey, p *cachedPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != g {
		if c.gen.store > g.store {
			return // the store moved on while the page was built
		}
		c.gen, c.pages = g, nil
	}
	if c.pages == nil {
		c.pages = map[pageKey]*cachedPage{}
	}
	if _, ok := c.pages[k]; !ok && len(c.pages) >= dashboardCacheSize {
		var oldest pageKey
		var t time.Time
		for k2, p2 := range c.pages {
			if t.IsZero() || p2.built.Before(t) {
				oldest, t = k2, p2.built
			}
		}
		delete(c.pages, oldest)
	}
	c.pages[k] = p
}

// version returns the id of the store's last committed write transaction:
// it changes with every write (bbolt's transaction id).
func (s *Store) version() (int, error) {
	var id int
	err := s.db.View(func(tx *bolt.Tx) error {
		id = tx.ID()
		return nil
	})
	return id, err
}

// httpAuth checks the Authorization header of r, Bearer or Basic (the
// token is the password), for scope. It returns the client's name, or the
// HTTP status and message of the refusal.
func (s *Server) httpAuth(r *http.Request, scope Scope) (string, int, string) {
	if s.opts.NoAuth {
		return "(no auth)", 0, ""
	}
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", http.StatusUnauthorized, "missing token: use HTTP Basic auth with the token as password, or Authorization: Bearer <token>"
	}
	if len(vals) > 1 {
		return "", http.StatusUnauthorized, "more than one Authorization header"
	}
	var tok string
	scheme, rest, _ := strings.Cut(vals[0], " ")
	switch {
	case strings.EqualFold(scheme, "bearer"):
		tok = strings.TrimSpace(rest)
	case strings.EqualFold(scheme, "basic"):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return "", http.StatusUnauthorized, "malformed Basic credentials"
		}
		_, tok, _ = strings.Cut(string(raw), ":")
	default:
		return "", http.StatusUnauthorized, "unsupported Authorization scheme (want Basic or Bearer)"
	}
	if tok == "" {
		return "", http.StatusUnauthorized, "empty token"
	}
	c, ok := s.opts.Tokens.lookup(tok)
	if !ok {
		return "", http.StatusUnauthorized, "unknown token"
	}
	if !c.allows(scope) {
		return c.name, http.StatusForbidden, fmt.Sprintf("client %s lacks scope %s", c.name, scope)
	}
	return c.name, 0, ""
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, client, msg := d.serve(w, r)
	lvl := d.s.log.Info
	if code >= 500 {
		lvl = d.s.log.Error
	}
	lvl("dashboard", "client", client, "status", code, "query", r.URL.RawQuery, "reason", msg, "duration", time.Since(start))
}

// serve answers r and returns the status, the client and the error message.
func (d *dashboard) serve(w http.ResponseWriter, r *http.Request) (int, string, string) {
	fail := func(code int, client, msg string) (int, string, string) {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="retain dashboard", charset="UTF-8"`)
		}
		http.Error(w, msg, code)
		return code, client, msg
	}
	if r.URL.Path != DashboardPath {
		return fail(http.StatusNotFound, "", "not found")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return fail(http.StatusMethodNotAllowed, "", "use GET")
	}
	client, code, msg := d.s.httpAuth(r, ScopeReport)
	if code != 0 {
		return fail(code, client, msg)
	}
	q := r.URL.Query()
	for k := range q {
		if k != "club" && k != "month" && k != "as_of" {
			return fail(http.StatusBadRequest, client, fmt.Sprintf("unknown query parameter %q (want club, month, as_of)", k))
		}
	}
	var asOf time.Time
	if v := q.Get("as_of"); v != "" {
		t, err := ParseAsOf(v)
		if err != nil {
			return fail(http.StatusBadRequest, client, "as_of: "+err.Error())
		}
		// The API's rule for as_of (validate.go): not in the future, not
		// before 1990.
		switch lim := d.s.opts.limits(); {
		case t.After(lim.latest):
			return fail(http.StatusBadRequest, client, fmt.Sprintf("as_of: %s is in the future", datasets.FormatTime(t)))
		case t.Before(lim.minTime):
			return fail(http.StatusBadRequest, client, fmt.Sprintf("as_of: %s is before %s", datasets.FormatTime(t), datasets.FormatTime(lim.minTime)))
		}
		asOf = t
	}
	ls := d.s.scorer.Load()
	if ls == nil {
		return fail(http.StatusServiceUnavailable, client, "no model loaded")
	}
	b, ok := ls.s.(bundled)
	if !ok {
		return fail(http.StatusServiceUnavailable, client, "the dashboard needs a model bundle scorer (its feature spec); the current scorer has none")
	}
	key := pageKey{q.Get("club"), q.Get("month"), q.Get("as_of")}
	storeVersion, err := d.s.store.version()
	if err != nil {
		d.s.log.Error("dashboard: read store", "err", err)
		return fail(http.StatusInternalServerError, client, "reading the store failed")
	}
	gen := cacheGen{ls: ls, store: storeVersion}
	fresh := d.s.opts.Now().Add(-dashboardCacheTTL)
	if p := d.cache.get(gen, key, fresh); p != nil {
		return d.write(w, r, client, p, "hit")
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.s.opts.RequestTimeout)
	defer cancel()
	select {
	case d.sem <- struct{}{}:
		defer func() { <-d.sem }()
	case <-ctx.Done():
		return fail(http.StatusServiceUnavailable, client, "busy: another dashboard is being built")
	}
	// The page may have been built while this request waited.
	if p := d.cache.get(gen, key, fresh); p != nil {
		return d.write(w, r, client, p, "hit")
	}
	built := d.s.opts.Now()
	hs, man, err := d.histories(ctx)
	if err != nil {
		d.s.log.Error("dashboard: read store", "err", err)
		return fail(http.StatusInternalServerError, client, "reading the store failed")
	}
	if man.End.IsZero() || man.End.After(built) {
		man.End = built
	}
	if !asOf.IsZero() && asOf.After(man.End) {
		man.End = asOf
	}
	o := report.Options{
		Club: key.club, Month: key.month, AsOf: asOf,
		DataStart: man.Start, DataEnd: man.End,
		Spec: b.Bundle().Spec, Model: ReportModel(ls.info),
		Risk: d.s.opts.Risk,
	}
	var in *report.Input
	if bs, ok := ls.s.(*BundleScorer); ok {
		in, err = report.BuildFrom(ctx, report.HistorySource(hs, man), ReportBatchScoreFunc(bs), o)
	} else {
		in, err = report.Build(ctx, hs, ReportScoreFunc(ls.s), o)
	}
	var bad *report.OptionError
	switch {
	case errors.As(err, &bad):
		return fail(http.StatusBadRequest, client, err.Error())
	case ctx.Err() != nil:
		return fail(http.StatusServiceUnavailable, client, "building the dashboard took too long")
	case err != nil:
		d.s.log.Error("dashboard: build", "err", err)
		return fail(http.StatusInternalServerError, client, "building the dashboard failed")
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, in); err != nil {
		d.s.log.Error("dashboard: render", "err", err)
		return fail(http.StatusInternalServerError, client, "rendering the dashboard failed")
	}
	p := &cachedPage{body: buf.Bytes(), built: built}
	d.cache.put(gen, key, p)
	return d.write(w, r, client, p, "miss")
}

// write sends page p; cache ("hit" or "miss") goes to the
// X-Dashboard-Cache header.
func (d *dashboard) write(w http.ResponseWriter, r *http.Request, client string, p *cachedPage, cache string) (int, string, string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", report.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Dashboard-Cache", cache)
	h.Set("Last-Modified", p.built.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(p.body)
	}
	return http.StatusOK, client, ""
}

// ParseAsOf parses an as-of time as the dashboard's as_of parameter and
// the command line's --as-of flags take it: an RFC 3339 instant, or a date
// YYYY-MM-DD (midnight UTC).
func ParseAsOf(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", v)
	}
	return t, nil
}

// histories reads every member's history from the store, and the
// manifest of the data loaded, with the data's range: the manifest's start
// (zero without one: the report takes the earliest event) and the later of
// the manifest's end and the instant after the latest event.
func (d *dashboard) histories(ctx context.Context) ([]features.History, datasets.Manifest, error) {
	man, _, err := d.s.store.Manifest()
	if err != nil {
		return nil, man, err
	}
	end := man.End
	var hs []features.History
	after := ""
	for {
		ids, err := d.s.store.MemberIDs(after, 1000)
		if err != nil {
			return nil, man, err
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return nil, man, err
			}
			h, err := d.s.store.History(id)
			if err != nil {
				return nil, man, err
			}
			for _, a := range h.Attendance {
				if t := a.TS.Add(time.Second); t.After(end) {
					end = t
				}
			}
			for _, x := range h.Transactions {
				if t := x.TS.Add(time.Second); t.After(end) {
					end = t
				}
			}
			hs = append(hs, features.History(*h))
		}
		after = ids[len(ids)-1]
	}
	man.End = end
	return hs, man, nil
}
