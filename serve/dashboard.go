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
// reads every member's history and scores the club's members.
type dashboard struct {
	s   *Server
	sem chan struct{}
}

func (s *Server) newDashboard() *dashboard {
	return &dashboard{s: s, sem: make(chan struct{}, 1)}
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
	if s.opts.Tokens == nil {
		return "", http.StatusUnauthorized, "unknown token"
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
		t, err := parseAsOf(v)
		if err != nil {
			return fail(http.StatusBadRequest, client, "as_of: "+err.Error())
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
	ctx, cancel := context.WithTimeout(r.Context(), d.s.opts.RequestTimeout)
	defer cancel()
	select {
	case d.sem <- struct{}{}:
		defer func() { <-d.sem }()
	case <-ctx.Done():
		return fail(http.StatusServiceUnavailable, client, "busy: another dashboard is being built")
	}
	hs, start, end, err := d.histories(ctx)
	if err != nil {
		d.s.log.Error("dashboard: read store", "err", err)
		return fail(http.StatusInternalServerError, client, "reading the store failed")
	}
	now := d.s.opts.Now()
	if end.IsZero() || end.After(now) {
		end = now
	}
	if !asOf.IsZero() && asOf.After(end) {
		end = asOf
	}
	in, err := report.Build(ctx, hs, ReportScoreFunc(ls.s), report.Options{
		Club: q.Get("club"), Month: q.Get("month"), AsOf: asOf,
		DataStart: start, DataEnd: end,
		Spec: b.Bundle().Spec, Model: ReportModel(ls.info),
		Risk: report.RiskThresholds{Medium: d.s.opts.Risk.Medium, High: d.s.opts.Risk.High},
	})
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
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", report.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(buf.Bytes())
	}
	return http.StatusOK, client, ""
}

// parseAsOf accepts an RFC 3339 instant or a date (midnight UTC).
func parseAsOf(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", v)
	}
	return t, nil
}

// histories reads every member's history from the store, and the data's
// range: the manifest's start (zero without one: the report takes the
// earliest event) and the later of the manifest's end and the instant
// after the latest event.
func (d *dashboard) histories(ctx context.Context) ([]features.History, time.Time, time.Time, error) {
	man, _, err := d.s.store.Manifest()
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	start, end := man.Start, man.End
	var hs []features.History
	after := ""
	for {
		ids, err := d.s.store.MemberIDs(after, 1000)
		if err != nil {
			return nil, time.Time{}, time.Time{}, err
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return nil, time.Time{}, time.Time{}, err
			}
			h, err := d.s.store.History(id)
			if err != nil {
				return nil, time.Time{}, time.Time{}, err
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
	return hs, start, end, nil
}
