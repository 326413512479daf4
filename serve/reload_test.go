package serve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"retain/datasets/synth"
	"retain/features"
	retainv1 "retain/proto/retain/v1"
	"retain/serve"
	"retain/serve/playbook"
)

// syncLog is a concurrency-safe log sink.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// gymServer is a server on 127.0.0.1:0 over a store loaded from the
// synthetic gym of synthConfig (60 members), with no model yet, logging
// JSON into log.
type gymServer struct {
	*testServer
	log *syncLog
}

func startGymServer(t *testing.T) *gymServer {
	t.Helper()
	return startGymServerAt(t, now)
}

// startGymServerAt is startGymServer with the server's clock stopped at
// at.
func startGymServerAt(t testing.TB, at time.Time) *gymServer {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gym")
	if _, err := synth.WriteDir(synthConfig(), dir, &synth.WriteOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	store, err := serve.OpenStore(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if rep, err := store.Load(dir, nil); err != nil || rep.Members != 60 {
		t.Fatalf("load: %+v, %v", rep, err)
	}
	lg := &syncLog{}
	reg := prometheus.NewRegistry()
	srv, err := serve.New(serve.Options{Tokens: testTokens(t), Now: func() time.Time { return at }}, nil, store,
		slog.New(slog.NewJSONHandler(lg, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, store: store, addr: lis.Addr().String(), reg: reg, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		if err := <-ts.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &gymServer{testServer: ts, log: lg}
}

// count returns the value of a counter series, 0 when there is none.
func (ts *testServer) count(t *testing.T, series string) int {
	t.Helper()
	v := ts.metric(series)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return n
}

// metric returns the value of one series of the server's metrics, or ""
// when it has none.
func (ts *testServer) metric(series string) string {
	rec := httptest.NewRecorder()
	ts.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

func versionOf(t *testing.T, path string) string {
	t.Helper()
	sc, err := serve.NewBundleScorer(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sc.Info().Version
}

// corruptCopy writes a copy of the bundle at path with one byte flipped.
func corruptCopy(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	bad := filepath.Join(t.TempDir(), "corrupt.rtmb")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return bad
}

// TestReloadRealBundlesUnderLoad: four clients call ScoreMember and
// RecommendClasses on members of a real store without pause while the
// server is reloaded in turn with a second good bundle, a corrupt one
// (refused) and the first. No call may fail, every response must carry
// one of the two good versions, and the live version changes only on
// good loads.
func TestReloadRealBundlesUnderLoad(t *testing.T) {
	checkNoLeak(t)
	ts := startGymServer(t)
	good1, good2 := testBundle(t, true, 1), testBundle(t, true, 3)
	bad := corruptCopy(t, good1)
	v1, v2 := versionOf(t, good1), versionOf(t, good2)
	if v1 == v2 {
		t.Fatal("the two bundles have the same version")
	}
	ctx := ctxT(t)
	if err := ts.srv.LoadBundle(ctx, good1, nil); err != nil {
		t.Fatal(err)
	}
	ids, err := ts.store.MemberIDs("", 8)
	if err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, tokAdmin)
	live := func() string {
		t.Helper()
		r, err := c.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetVersion()
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		calls    int
		seen     = map[string]int{}
	)
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[(g+i)%len(ids)]
				var version string
				var err error
				if i%2 == 0 {
					var r *retainv1.ScoreMemberResponse
					r, err = c.ScoreMember(ctx, byID(id))
					version = r.GetScore().GetModelVersion()
				} else {
					var r *retainv1.RecommendClassesResponse
					r, err = c.RecommendClasses(ctx, &retainv1.RecommendClassesRequest{Subject: &retainv1.RecommendClassesRequest_MemberId{MemberId: id}})
					version = r.GetModelVersion()
				}
				mu.Lock()
				calls++
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case version != v1 && version != v2:
					failures = append(failures, fmt.Sprintf("member %s: version %q", id, version))
				default:
					seen[version]++
				}
				mu.Unlock()
			}
		}()
	}

	want := v1
	loads := map[string]int{}
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		path, good := [...]string{good2, bad, good1, bad}[i%4], i%2 == 0
		err := ts.srv.LoadBundle(ctx, path, nil)
		switch {
		case good && err != nil:
			t.Fatalf("load %d of a good bundle: %v", i, err)
		case !good && err == nil:
			t.Fatalf("load %d of the corrupt bundle succeeded", i)
		case good:
			want = map[string]string{good1: v1, good2: v2}[path]
			loads["ok"]++
		default:
			loads["refused"]++
		}
		if got := live(); got != want {
			t.Fatalf("after load %d (%s): live version %q, want %q", i, filepath.Base(path), got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d calls failed; first: %s", len(failures), calls, failures[0])
	}
	if seen[v1] == 0 || seen[v2] == 0 || loads["ok"] < 2 || loads["refused"] < 2 {
		t.Errorf("responses by version %v, loads %v: want both versions served and at least 2 good and 2 refused loads", seen, loads)
	}
	// The first LoadBundle of good1 counts too.
	if got, want := ts.metric(`retain_model_reloads_total{result="ok"}`), fmt.Sprint(loads["ok"]+1); got != want {
		t.Errorf("reloads ok %s, want %s", got, want)
	}
	if got, want := ts.metric(`retain_model_reloads_total{result="refused"}`), fmt.Sprint(loads["refused"]); got != want {
		t.Errorf("reloads refused %s, want %s", got, want)
	}
	t.Logf("%d calls, by version %v; loads %v", calls, seen, loads)
}

// eventually polls cond every 20 ms until it holds or d passes (shared by
// the reload and alert tests).
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replace writes data to path atomically: a temporary file in the same
// directory renamed over it.
func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const catchAll = "version: 1\ncurrency: EUR\nrules:\n  - name: all\n    action: {kind: %s, offer_text: \"%s {{.Tier}}\"}\n"

// watchModel starts WatchModel on files and waits for its log line that
// says it looks at them; it stops at the end of the test.
func (ts *gymServer) watchModel(t *testing.T, files serve.ModelFiles, o *serve.WatchOptions, started string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.srv.WatchModel(ctx, files, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchModel: %v", err)
		}
	})
	eventually(t, 5*time.Second, "the watch starts", func() bool { return strings.Contains(ts.log.String(), started) })
}

// TestWatchModel: with WatchModel running, a bundle published by rename
// is served within the deadline; a playbook rewritten in place changes
// the actions; a garbage bundle is refused, logged and counted while the
// previous model keeps serving; a good bundle after it is served again.
func TestWatchModel(t *testing.T) {
	checkNoLeak(t)
	ts := startGymServer(t)
	dir := t.TempDir()
	files := serve.ModelFiles{Bundle: filepath.Join(dir, "model.rtmb"), Playbook: filepath.Join(dir, "playbook.yaml")}
	good1, good2 := testBundle(t, true, 1), testBundle(t, true, 3)
	v1, v2 := versionOf(t, good1), versionOf(t, good2)
	replace(t, files.Bundle, readFile(t, good1))
	replace(t, files.Playbook, fmt.Appendf(nil, catchAll, "kind_a", "A"))
	ctx := ctxT(t)
	if err := ts.srv.LoadModel(ctx, files); err != nil {
		t.Fatal(err)
	}
	ts.watchModel(t, files, &serve.WatchOptions{Debounce: 50 * time.Millisecond}, `"msg":"watching the model files"`)
	c := ts.dial(t, tokAdmin)
	ids, err := ts.store.MemberIDs("", 1)
	if err != nil {
		t.Fatal(err)
	}
	score := func() *retainv1.MemberScore {
		t.Helper()
		r, err := c.ScoreMember(ctx, byID(ids[0]))
		if err != nil {
			t.Fatal(err)
		}
		return r.GetScore()
	}
	if s := score(); s.GetModelVersion() != v1 || s.GetRecommendedAction().GetKind() != "kind_a" {
		t.Fatalf("start: version %s action %v", s.GetModelVersion(), s.GetRecommendedAction())
	}

	replace(t, files.Bundle, readFile(t, good2))
	eventually(t, 5*time.Second, "the renamed bundle is served", func() bool { return score().GetModelVersion() == v2 })

	if err := os.WriteFile(files.Playbook, fmt.Appendf(nil, catchAll, "kind_b", "B"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the rewritten playbook is used", func() bool { return score().GetRecommendedAction().GetKind() == "kind_b" })
	if s := score(); s.GetModelVersion() != v2 || !strings.HasPrefix(s.GetRecommendedAction().GetOfferText(), "B ") {
		t.Errorf("after the playbook: version %s action %v", s.GetModelVersion(), s.GetRecommendedAction())
	}

	const refusedSeries = `retain_model_reloads_total{result="refused"}`
	refused := ts.count(t, refusedSeries)
	replace(t, files.Bundle, []byte("this is not a model bundle"))
	eventually(t, 5*time.Second, "the garbage bundle is refused and counted", func() bool {
		return ts.count(t, refusedSeries) == refused+1
	})
	if log := ts.log.String(); !strings.Contains(log, `"msg":"model refused; keeping the current model"`) || !strings.Contains(log, "model.rtmb") {
		t.Errorf("the refusal is not logged with the file:\n%s", log)
	}
	if s := score(); s.GetModelVersion() != v2 || s.GetRecommendedAction().GetKind() != "kind_b" {
		t.Errorf("after the garbage: version %s action %v, want the previous model", s.GetModelVersion(), s.GetRecommendedAction())
	}

	replace(t, files.Bundle, readFile(t, good1))
	eventually(t, 5*time.Second, "the good bundle after the garbage is served", func() bool { return score().GetModelVersion() == v1 })
}

// TestWatchModelPoll: the polling watch sees a bundle rewritten in place
// (same size, new contents) and refuses a playbook with an unknown flag.
func TestWatchModelPoll(t *testing.T) {
	checkNoLeak(t)
	ts := startGymServer(t)
	dir := t.TempDir()
	files := serve.ModelFiles{Bundle: filepath.Join(dir, "model.rtmb"), Playbook: filepath.Join(dir, "playbook.yaml")}
	good1, good2 := testBundle(t, true, 1), testBundle(t, true, 3)
	replace(t, files.Bundle, readFile(t, good1))
	replace(t, files.Playbook, fmt.Appendf(nil, catchAll, "kind_a", "A"))
	ctx := ctxT(t)
	if err := ts.srv.LoadModel(ctx, files); err != nil {
		t.Fatal(err)
	}
	ts.watchModel(t, files, &serve.WatchOptions{Poll: 30 * time.Millisecond}, `"msg":"polling the model files"`)
	live := func() string {
		r, err := ts.dial(t, tokAdmin).GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetVersion()
	}
	v2 := versionOf(t, good2)
	if err := os.WriteFile(files.Bundle, readFile(t, good2), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the rewritten bundle is served", func() bool { return live() == v2 })

	// A refusal of a half-written file is possible on a loaded machine:
	// count from here.
	const refusedSeries = `retain_model_reloads_total{result="refused"}`
	refused := ts.count(t, refusedSeries)
	if err := os.WriteFile(files.Playbook, []byte("version: 1\ncurrency: EUR\nrules:\n  - name: x\n    when: {flags: [coach_callback_89d]}\n    action: {kind: k}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the bad playbook is refused", func() bool {
		return ts.count(t, refusedSeries) > refused && strings.Contains(ts.log.String(), "coach_callback_89d")
	})
	if log := ts.log.String(); !strings.Contains(log, `playbook.yaml:5: rules[0].when.flags[0]: unknown flag \"coach_callback_89d\"`) {
		t.Errorf("the refusal does not name the file, line and field:\n%s", log)
	}
	if v := live(); v != v2 {
		t.Errorf("after the bad playbook: version %s, want %s", v, v2)
	}
}

// TestStreamSkipsChurned: a whole-store pull as of the synthetic data's
// end leaves out exactly the members that features says had already
// churned (computed here from the store's histories, not by the server),
// and counts them in the trailer; include_churned streams all 60 with
// already_churned set on those; listed members are all scored.
func TestStreamSkipsChurned(t *testing.T) {
	checkNoLeak(t)
	ts := startGymServer(t)
	path := testBundle(t, true, 1)
	ctx := ctxT(t)
	if err := ts.srv.LoadBundle(ctx, path, nil); err != nil {
		t.Fatal(err)
	}
	sc, err := serve.NewBundleScorer(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := *sc.Bundle().Spec
	spec.Config.DataEnd = time.Time{}
	fz, err := features.NewFeaturizer(&spec)
	if err != nil {
		t.Fatal(err)
	}
	all, err := ts.store.MemberIDs("", 1000)
	if err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, tokAdmin)
	pull := func(req *retainv1.StreamScoresRequest) (ids []string, flagged []string, trailer metadata.MD) {
		t.Helper()
		st, err := c.StreamScores(ctx, req, grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		for {
			r, err := st.Recv()
			if err == io.EOF {
				return ids, flagged, trailer
			}
			if err != nil {
				t.Fatal(err)
			}
			if e := r.GetError(); e != nil {
				t.Errorf("%s: error entry %d %q", e.GetMemberId(), e.GetCode(), e.GetMessage())
				ids = append(ids, e.GetMemberId())
				continue
			}
			ids = append(ids, r.GetScore().GetMemberId())
			if r.GetScore().GetAlreadyChurned() {
				flagged = append(flagged, r.GetScore().GetMemberId())
			}
		}
	}
	trailer := func(tr metadata.MD, key string, want int) {
		t.Helper()
		if got := tr.Get(key); !slices.Equal(got, []string{fmt.Sprint(want)}) {
			t.Errorf("trailer %s %v, want %d", key, got, want)
		}
	}

	cfg := synthConfig()
	var skippedChurned, skippedNotJoined int // the metrics' expected totals
	// At the data's end, and at its middle, where some members have not
	// joined yet: they are left out of whole-store pulls (and counted),
	// never sent as errors.
	for _, asOf := range []time.Time{cfg.Start.AddDate(0, 0, 7*cfg.Weeks), cfg.Start.AddDate(0, 0, 7*cfg.Weeks/2)} {
		var active, churned, notJoined []string
		for _, id := range all {
			h, err := ts.store.HistoryBefore(id, asOf)
			if err != nil {
				t.Fatal(err)
			}
			ex, err := fz.Compute((*features.History)(h), asOf)
			switch {
			case errors.Is(err, features.ErrNotJoined):
				notJoined = append(notJoined, id)
			case err != nil:
				t.Fatal(err)
			case fz.AlreadyChurned(ex):
				churned = append(churned, id)
			default:
				active = append(active, id)
			}
		}
		if len(churned) == 0 || len(active) == 0 {
			t.Fatalf("%d churned, %d active members at %s: the test needs both", len(churned), len(active), asOf)
		}
		ids, flagged, tr := pull(&retainv1.StreamScoresRequest{AsOf: pbts(asOf)})
		if !slices.Equal(ids, active) || len(flagged) != 0 {
			t.Errorf("%s: default pull: %d members (%d flagged), want the %d active ones", asOf, len(ids), len(flagged), len(active))
		}
		trailer(tr, serve.SkippedChurnedTrailer, len(churned))
		trailer(tr, serve.SkippedNotJoinedTrailer, len(notJoined))
		skippedChurned += len(churned)
		skippedNotJoined += len(notJoined)

		joined := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return slices.Contains(notJoined, id) })
		ids, flagged, tr = pull(&retainv1.StreamScoresRequest{AsOf: pbts(asOf), IncludeChurned: true})
		if !slices.Equal(ids, joined) || !slices.Equal(flagged, churned) {
			t.Errorf("%s: include_churned: %d members, flagged %v; want the %d joined, flagged %v", asOf, len(ids), flagged, len(joined), churned)
		}
		trailer(tr, serve.SkippedChurnedTrailer, 0)
		trailer(tr, serve.SkippedNotJoinedTrailer, len(notJoined))
		skippedNotJoined += len(notJoined)

		ids, flagged, _ = pull(&retainv1.StreamScoresRequest{AsOf: pbts(asOf), MemberIds: churned[:1]})
		if !slices.Equal(ids, churned[:1]) || !slices.Equal(flagged, churned[:1]) {
			t.Errorf("%s: listed churned member: got %v flagged %v", asOf, ids, flagged)
		}
		t.Logf("as of %s: %d active, %d churned, %d not joined", asOf.Format(time.DateOnly), len(active), len(churned), len(notJoined))
		if asOf.Before(cfg.Start.AddDate(0, 0, 7*cfg.Weeks)) && len(notJoined) == 0 {
			t.Errorf("%s: every member had joined: the test needs some who had not", asOf)
		}
	}
	if got, want := ts.metric("retain_stream_skipped_churned_total"), fmt.Sprint(skippedChurned); got != want {
		t.Errorf("skipped churned metric %s, want %s", got, want)
	}
	if got, want := ts.metric("retain_stream_skipped_not_joined_total"), fmt.Sprint(skippedNotJoined); got != want {
		t.Errorf("skipped not joined metric %s, want %s", got, want)
	}
}

// TestBundlePlaybook: BundleOptions.Playbook gives the actions, with the
// bundle's minor units for money and the risk thresholds of the options.
func TestBundlePlaybook(t *testing.T) {
	pb, err := playbook.Parse([]byte(`version: 1
currency: USD
rules:
  - name: high
    when: {risk: [high]}
    action: {kind: call, offer_text: "{{.Risk}} {{.ChurnPercent}} {{.Spend}}"}
  - name: medium
    when: {risk: [medium]}
    action: {kind: email, offer_text: "{{.Risk}} {{.ChurnPercent}}"}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := testBundle(t, true, 1)
	asOf := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	plain, err := serve.NewBundleScorer(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := absentee(asOf, plain.Bundle().Spec.Courses[:1])
	base, err := plain.Score(ctxT(t), h, asOf)
	if err != nil {
		t.Fatal(err)
	}
	p := base.ChurnProbability
	// absentee paid 13 monthly fees of 49.00 on the 2nd, 2024-05-02 to
	// 2025-05-02; the 52 weeks before asOf start 2024-06-03 and hold the 11
	// from 2024-07-02.
	spend := "USD 539.00"
	pct := fmt.Sprintf("%.0f%%", 100*p)
	for _, c := range []struct {
		medium, high float64
		want         serve.Action
	}{
		{p / 2, p, serve.Action{Kind: "call", OfferText: "high " + pct + " " + spend}},
		{p, min(1, p+0.01), serve.Action{Kind: "email", OfferText: "medium " + pct}},
		{min(1, p+0.01), min(1, p+0.02), serve.Action{}},
	} {
		sc, err := serve.NewBundleScorer(path, &serve.BundleOptions{Playbook: pb, MediumRisk: c.medium, HighRisk: c.high})
		if err != nil {
			t.Fatal(err)
		}
		got, err := sc.Score(ctxT(t), h, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if got.Action != c.want {
			t.Errorf("thresholds %v/%v, p %v: action %+v, want %+v", c.medium, c.high, p, got.Action, c.want)
		}
		if sc.Playbook() != pb {
			t.Error("Playbook() is not the option's")
		}
	}
	if plain.Playbook() != playbook.Default() {
		t.Error("the default scorer's playbook is not playbook.Default()")
	}
	if _, err := serve.NewBundleScorer(path, &serve.BundleOptions{MediumRisk: 0.7, HighRisk: 0.6}); err == nil {
		t.Error("medium risk above high: no error")
	}
}
