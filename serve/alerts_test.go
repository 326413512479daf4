package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
	"retain/serve"
	"retain/serve/alert"
)

var hookSecret = []byte("test-webhook-secret-0123456789")

// riskScorer scores by a table: a member's churn probability is probs[id]
// when set, else the amount of the member's latest transaction / 10,000
// (so m1 of the fixture, last paid 4900, is 0.49: MEDIUM with the default
// thresholds 0.3 and 0.6), else 0.05. Its reasons and action are fixed,
// to be found in the events.
type riskScorer struct {
	mu    sync.Mutex
	probs map[string]float64
	gate  chan struct{} // when non-nil, Score waits for it to close
}

func (r *riskScorer) set(id string, p float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.probs == nil {
		r.probs = map[string]float64{}
	}
	r.probs[id] = p
}

func (r *riskScorer) Info() serve.ModelInfo { return serve.ModelInfo{Version: "risk-v1"} }

func (r *riskScorer) Score(ctx context.Context, h *serve.History, asOf time.Time) (*serve.Score, error) {
	r.mu.Lock()
	p, ok := r.probs[h.Member.MemberID]
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !ok {
		p = 0.05
		if n := len(h.Transactions); n > 0 {
			p = min(1, float64(h.Transactions[n-1].Amount)/10000)
		}
	}
	return &serve.Score{
		ChurnProbability: p,
		Reasons: []serve.Reason{
			{Name: "visits_last_8w", Description: "few visits", Contribution: 0.8},
			{Name: "spend52", Description: "spend", Contribution: 0.3},
			{Name: "tenure", Description: "tenure", Contribution: -0.2},
			{Name: "age", Description: "age", Contribution: 0.01},
		},
		Action: serve.Action{Kind: "coach_callback", OfferText: "Call " + h.Member.MemberID},
		// A stand-in for features' "on the books": a contract that ended
		// before asOf.
		AlreadyChurned: !h.Member.ContractEnd.IsZero() && !h.Member.ContractEnd.After(asOf),
	}, nil
}

// hookReceiver is a webhook receiver that checks every signature and
// keeps the events it accepted; fail makes it answer 500.
type hookReceiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	fail   bool
	events []alert.Event
	bad    int // posts whose signature did not verify
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := alert.Verify(hookSecret, req.Header.Get(alert.SignatureHeader), body, time.Now(), 0); err != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var ev alert.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.events = append(r.events, ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) got() []alert.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]alert.Event(nil), r.events...)
}

func webhook(t *testing.T, url string, reg prometheus.Registerer) alert.Config {
	return alert.Config{
		URL: url, Secret: hookSecret, DeadLetterPath: filepath.Join(t.TempDir(), "dead.jsonl"),
		MinBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 50 * time.Millisecond,
		Registerer: reg, Now: time.Now,
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return v
}

func level(t *testing.T, st *serve.Store, id string) string {
	t.Helper()
	l, _, err := st.RiskLevel(id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestAlertsOnIngest goes through IngestEvents on a real server: the
// members of a batch are rescored after the call answered, without
// delaying it, and a rise, and only a rise, posts an event.
func TestAlertsOnIngest(t *testing.T) {
	checkNoLeak(t)
	sc := &riskScorer{}
	ts := startServer(t, serve.Options{}, sc, nil)
	rcv := newHookReceiver(t)
	reg := prometheus.NewRegistry()
	a, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, rcv.srv.URL, reg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ctx := ctxT(t)

	// Baseline: m1 medium (0.49), m2 and m3 low (0.05); no events.
	rep, err := a.RescoreAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (serve.RescoreReport{Scored: 3, Baseline: 3}) {
		t.Errorf("baseline rescoring %+v, want 3 scored, 3 baseline", rep)
	}
	if l := level(t, ts.store, "m1"); l != "medium" {
		t.Fatalf("m1 level %q, want medium", l)
	}

	c := ts.dial(t, tokCRM)
	pay := func(id, member string, ts time.Time, amount int64) *retainv1.IngestEventsRequest {
		return &retainv1.IngestEventsRequest{Transactions: []*retainv1.Transaction{{
			EventId: id, MemberId: member, Ts: pbts(ts), Amount: amount, Kind: retainv1.TransactionKind_TRANSACTION_KIND_RETAIL,
		}}}
	}
	ingested := func(n float64) func() bool {
		return func() bool { return gauge(t, reg, "retain_risk_rescored_members_total", "ingest") >= n }
	}

	// The ack does not wait for the rescoring: with the scorer blocked,
	// IngestEvents still answers.
	gate := make(chan struct{})
	sc.mu.Lock()
	sc.gate = gate
	sc.mu.Unlock()
	if _, err := c.IngestEvents(ctx, pay("p1", "m1", day(2025, 6, 1, 9, 0), 8000)); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.got()); n != 0 {
		t.Fatalf("%d events before the rescoring ran", n)
	}
	close(gate)

	// m1: medium -> high (0.8): one event.
	eventually(t, 10*time.Second, "the event of m1", func() bool { return len(rcv.got()) == 1 })
	ev := rcv.got()[0]
	want := alert.Event{
		ID: ev.ID, Type: "risk_level_raised", CreatedAt: ev.CreatedAt, MemberID: "m1",
		PreviousLevel: "medium", NewLevel: "high", ChurnProbability: 0.8,
		Thresholds: alert.Thresholds{Medium: 0.3, High: 0.6},
		Reasons: []alert.Reason{ // the first 3 of riskScorer's
			{Name: "visits_last_8w", Description: "few visits", Contribution: 0.8},
			{Name: "spend52", Description: "spend", Contribution: 0.3},
			{Name: "tenure", Description: "tenure", Contribution: -0.2},
		},
		RecommendedAction: &alert.Action{Kind: "coach_callback", OfferText: "Call m1"},
		ModelVersion:      "risk-v1", AsOf: now, Trigger: "ingest",
	}
	gj, _ := json.Marshal(ev)
	wj, _ := json.Marshal(want)
	if g, w := string(gj), string(wj); g != w {
		t.Errorf("event\n%s\nwant\n%s", g, w)
	}
	if len(ev.ID) != len("evt_")+26 || ev.CreatedAt.IsZero() {
		t.Errorf("event id %q, created_at %v", ev.ID, ev.CreatedAt)
	}

	// m2: low -> low (0.01): no event. m1: high -> low (0.1): a fall, no
	// event, but the level is recorded.
	if _, err := c.IngestEvents(ctx, pay("p2", "m2", day(2025, 6, 1, 9, 0), 100)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the rescoring of m2", ingested(2))
	if _, err := c.IngestEvents(ctx, pay("p3", "m1", day(2025, 6, 1, 10, 0), 1000)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "m1 low", func() bool { return level(t, ts.store, "m1") == "low" })

	// m1: low -> medium (0.4): the second event.
	if _, err := c.IngestEvents(ctx, pay("p4", "m1", day(2025, 6, 1, 11, 0), 4000)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the second event of m1", func() bool { return len(rcv.got()) == 2 })
	ev2 := rcv.got()[1]
	if ev2.MemberID != "m1" || ev2.PreviousLevel != "low" || ev2.NewLevel != "medium" || ev2.ChurnProbability != 0.4 || ev2.ID == ev.ID {
		t.Errorf("second event %+v, want m1 low -> medium at 0.4 with a new id", ev2)
	}
	// Let the dispatcher settle, then check that nothing else came.
	eventually(t, 10*time.Second, "an empty outbox", func() bool { return gauge(t, reg, "retain_webhook_outbox_events", "") == 0 })
	if got := rcv.got(); len(got) != 2 {
		t.Errorf("%d events, want 2", len(got))
	}
	if v := gauge(t, reg, "retain_risk_level_raised_total", ""); v != 2 {
		t.Errorf("retain_risk_level_raised_total %v, want 2", v)
	}
	// The counter moves just after the removal from the outbox.
	eventually(t, 10*time.Second, "retain_webhook_delivered_total 2", func() bool { return gauge(t, reg, "retain_webhook_delivered_total", "") == 2 })
}

// TestAlertsTransitions: every pair of levels, through RescoreAll with
// probabilities set per member; an event for exactly the rises.
func TestAlertsTransitions(t *testing.T) {
	checkNoLeak(t)
	// Probabilities of each level under the default thresholds 0.3, 0.6;
	// 0.3 and 0.6 themselves are on the upper side.
	probs := map[string]float64{"low": 0.29, "medium": 0.3, "high": 0.6}
	levels := []string{"low", "medium", "high"}
	var members []datasets.Member
	for _, from := range levels {
		for _, to := range levels {
			members = append(members, member(from+"-"+to, day(2024, 1, 1, 0, 0)))
		}
	}
	// One member whose contract ended is not rescored.
	ended := member("ended", day(2024, 1, 1, 0, 0))
	ended.ContractEnd = day(2025, 5, 1, 0, 0)
	members = append(members, ended)
	sc := &riskScorer{}
	ts := startServer(t, serve.Options{}, sc, &serve.Batch{Members: members})
	rcv := newHookReceiver(t)
	reg := prometheus.NewRegistry()
	a, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, rcv.srv.URL, reg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ctx := ctxT(t)
	for _, from := range levels {
		for _, to := range levels {
			sc.set(from+"-"+to, probs[from])
		}
	}
	if _, err := a.RescoreAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, from := range levels {
		for _, to := range levels {
			sc.set(from+"-"+to, probs[to])
		}
	}
	rep, err := a.RescoreAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 9 scored; 6 changed (all but the diagonal); 3 rises.
	if rep != (serve.RescoreReport{Scored: 9, Skipped: 1, Changed: 6, Raised: 3}) {
		t.Errorf("report %+v", rep)
	}
	eventually(t, 10*time.Second, "an empty outbox", func() bool { return gauge(t, reg, "retain_webhook_outbox_events", "") == 0 })
	got := map[string]string{}
	for _, ev := range rcv.got() {
		got[ev.MemberID] = ev.PreviousLevel + "->" + ev.NewLevel
		if ev.Trigger != "admin" {
			t.Errorf("event of %s: trigger %q, want admin", ev.MemberID, ev.Trigger)
		}
	}
	want := map[string]string{"low-medium": "low->medium", "low-high": "low->high", "medium-high": "medium->high"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if _, ok, _ := ts.store.RiskLevel("ended"); ok {
		t.Errorf("a member whose contract ended has a recorded level")
	}
}

// TestAlertsSurviveRestart: events raised while the receiver is
// unreachable stay in the store's outbox across a restart (store closed
// and reopened) and are delivered once after it, with their ids; the
// recorded levels survive too, so the restart raises nothing new.
func TestAlertsSurviveRestart(t *testing.T) {
	checkNoLeak(t)
	path := filepath.Join(t.TempDir(), "state.db")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + lis.Addr().String() + "/hook"
	lis.Close() // nothing listens: connection refused

	sc := &riskScorer{}
	run := func(url string, body func(a *serve.Alerts, st *serve.Store, reg *prometheus.Registry)) {
		st, err := serve.OpenStore(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.AppendEvents(fixture()); err != nil {
			t.Fatal(err)
		}
		srv, err := serve.New(serve.Options{NoAuth: true, Now: func() time.Time { return now }}, sc, st, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown(context.Background())
		reg := prometheus.NewRegistry()
		cfg := webhook(t, url, reg)
		cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour // no retry within the test but the restart's
		a, err := srv.StartAlerts(serve.AlertOptions{Webhook: cfg})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		body(a, st, reg)
	}

	var ids []string
	run(deadURL, func(a *serve.Alerts, st *serve.Store, reg *prometheus.Registry) {
		ctx := ctxT(t)
		if _, err := a.RescoreAll(ctx); err != nil { // baseline
			t.Fatal(err)
		}
		sc.set("m2", 0.7)
		sc.set("m3", 0.4)
		rep, err := a.RescoreAll(ctx)
		if err != nil || rep.Raised != 2 {
			t.Fatalf("rescoring: %+v, %v; want 2 raised", rep, err)
		}
		eventually(t, 10*time.Second, "failed attempts", func() bool { return gauge(t, reg, "retain_webhook_retries_total", "") == 2 })
		es, err := st.Outbox().List(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			ids = append(ids, e.ID)
			if e.Attempts != 1 || e.LastError == "" {
				t.Errorf("outbox entry %+v, want 1 failed attempt", e)
			}
		}
	})
	if len(ids) != 2 {
		t.Fatalf("outbox held %v before the restart, want 2 events", ids)
	}

	rcv := newHookReceiver(t)
	run(rcv.srv.URL, func(a *serve.Alerts, st *serve.Store, reg *prometheus.Registry) {
		eventually(t, 10*time.Second, "delivery after the restart", func() bool { return len(rcv.got()) == 2 })
		// The same levels after the restart: nothing new.
		rep, err := a.RescoreAll(ctxT(t))
		if err != nil || rep.Raised != 0 || rep.Baseline != 0 || rep.Changed != 0 {
			t.Errorf("rescoring after the restart: %+v, %v; want nothing changed", rep, err)
		}
		eventually(t, 10*time.Second, "an empty outbox", func() bool { n, _ := st.Outbox().Len(); return n == 0 })
	})
	got := rcv.got()
	if len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] {
		t.Errorf("delivered %+v, want the ids %v in order", got, ids)
	}
	if got[0].MemberID != "m2" || got[0].NewLevel != "high" || got[1].MemberID != "m3" || got[1].NewLevel != "medium" {
		t.Errorf("delivered %+v, want m2 -> high, m3 -> medium", got)
	}
}

func TestStartAlertsErrors(t *testing.T) {
	ts := startServer(t, serve.Options{}, &riskScorer{}, nil)
	good := func() serve.AlertOptions {
		return serve.AlertOptions{Webhook: webhook(t, "http://127.0.0.1:1/", nil)}
	}
	for _, c := range []struct {
		name string
		edit func(*serve.AlertOptions)
	}{
		{"bad time", func(o *serve.AlertOptions) { o.RescoreAt = "25:00" }},
		{"both schedules", func(o *serve.AlertOptions) { o.RescoreAt, o.RescoreEvery = "03:00", time.Hour }},
		{"negative interval", func(o *serve.AlertOptions) { o.RescoreEvery = -time.Hour }},
		{"short secret", func(o *serve.AlertOptions) { o.Webhook.Secret = []byte("x") }},
		{"no URL", func(o *serve.AlertOptions) { o.Webhook.URL = "" }},
	} {
		o := good()
		c.edit(&o)
		if a, err := ts.srv.StartAlerts(o); err == nil {
			a.Close()
			t.Errorf("%s: no error", c.name)
		}
	}
	a, err := ts.srv.StartAlerts(good())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if b, err := ts.srv.StartAlerts(good()); err == nil {
		b.Close()
		t.Error("a second StartAlerts: no error")
	}
}

// TestAlertsScheduled: with RescoreEvery, every member is rescored
// periodically, and a rise found that way posts an event with trigger
// "scheduled".
func TestAlertsScheduled(t *testing.T) {
	checkNoLeak(t)
	sc := &riskScorer{}
	ts := startServer(t, serve.Options{}, sc, nil)
	rcv := newHookReceiver(t)
	reg := prometheus.NewRegistry()
	a, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, rcv.srv.URL, reg), RescoreEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	eventually(t, 10*time.Second, "a baseline for m3", func() bool { return level(t, ts.store, "m3") == "low" })
	sc.set("m3", 0.9)
	eventually(t, 10*time.Second, "the event of m3", func() bool { return len(rcv.got()) == 1 })
	if ev := rcv.got()[0]; ev.MemberID != "m3" || ev.PreviousLevel != "low" || ev.NewLevel != "high" || ev.Trigger != "scheduled" {
		t.Errorf("event %+v, want m3 low -> high, scheduled", ev)
	}
}

// TestRescoreAllAfterClose: RescoreAll on closed Alerts fails at once
// instead of waiting for a loop that is gone.
func TestRescoreAllAfterClose(t *testing.T) {
	ts := startServer(t, serve.Options{}, &riskScorer{}, nil)
	a, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, "http://127.0.0.1:1/", nil)})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := a.RescoreAll(context.Background()); err == nil {
		t.Fatal("RescoreAll after Close: no error")
	}
	// A new Alerts may start once the old one is closed.
	b, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, "http://127.0.0.1:1/", nil)})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}
