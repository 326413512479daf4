package serve_test

// The fake Scorer and the fixtures shared by the tests of the server. The
// fake computes its score from the history it is given, by rules simple
// enough to check by hand, so the tests see what the server passed it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
	"retain/serve"
	"retain/serve/client"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelperServer())
	}
	os.Exit(m.Run())
}

// fakeScorer scores by these rules (n = the number of attendance events of
// the history, which the server cuts at asOf):
//
//	churn probability  1/(1+n), or prob when prob > 0
//	next courses       the courses attended, probability = share of the
//	                   class visits, most first (ties by course id)
//	flags              "new_member_90d" when asOf - joined_at < 90 days
//	tier               "core" when n >= 8, else "casual"
//	reasons            {"visits", "<n> visits", -n}
//	action             {"coach_callback", "", "Call <member_id>"} when the
//	                   probability >= 0.5, else none
type fakeScorer struct {
	version string
	prob    float64

	mu    sync.Mutex
	hooks hooks

	calls   atomic.Int64
	ctxDone atomic.Bool // Score returned because ctx was done
}

// hooks change what a fakeScorer does; set them with set, at any time.
type hooks struct {
	entered chan struct{} // when non-nil, receives once per call on entry
	gate    chan struct{} // when non-nil, Score waits for it (or ctx)
	err     error         // returned by Score
	panic   string        // Score panics with it
	check   error         // returned by Check
	bad     bool          // return probability 1.5
}

func (f *fakeScorer) set(fn func(h *hooks)) *fakeScorer {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.hooks)
	return f
}

func (f *fakeScorer) get() hooks {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hooks
}

func (f *fakeScorer) Info() serve.ModelInfo {
	return serve.ModelInfo{
		Version:      f.version,
		TrainedAt:    time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC),
		Metrics:      map[string]float64{"auc_pr": 0.5},
		FeatureNames: []string{"visits", "spend"},
	}
}

func (f *fakeScorer) Check(ctx context.Context) error { return f.get().check }

func (f *fakeScorer) Score(ctx context.Context, h *serve.History, asOf time.Time) (*serve.Score, error) {
	f.calls.Add(1)
	hk := f.get()
	if hk.entered != nil {
		hk.entered <- struct{}{}
	}
	if hk.gate != nil {
		select {
		case <-hk.gate:
		case <-ctx.Done():
			f.ctxDone.Store(true)
			return nil, ctx.Err()
		}
	}
	if hk.panic != "" {
		panic(hk.panic)
	}
	if hk.err != nil {
		return nil, hk.err
	}
	for _, a := range h.Attendance {
		if !a.TS.Before(asOf) || a.MemberID != h.Member.MemberID {
			return nil, fmt.Errorf("fake: event %s at %s of %s given for %s as of %s", a.EventID, a.TS, a.MemberID, h.Member.MemberID, asOf)
		}
	}
	n := len(h.Attendance)
	s := &serve.Score{ChurnProbability: 1 / (1 + float64(n)), Tier: "casual"}
	if f.prob > 0 {
		s.ChurnProbability = f.prob
	}
	if hk.bad {
		s.ChurnProbability = 1.5
	}
	counts := map[string]int{}
	classes := 0
	for _, a := range h.Attendance {
		if a.CourseID != "" {
			counts[a.CourseID]++
			classes++
		}
	}
	for id, c := range counts {
		s.NextCourses = append(s.NextCourses, serve.CourseProbability{CourseID: id, Probability: float64(c) / float64(classes)})
	}
	slices.SortFunc(s.NextCourses, func(a, b serve.CourseProbability) int {
		if a.Probability != b.Probability {
			if a.Probability > b.Probability {
				return -1
			}
			return 1
		}
		return strings.Compare(a.CourseID, b.CourseID)
	})
	if asOf.Sub(h.Member.JoinedAt) < 90*24*time.Hour {
		s.Flags = []string{"new_member_90d"}
	}
	if n >= 8 {
		s.Tier = "core"
	}
	s.Reasons = []serve.Reason{{Name: "visits", Description: fmt.Sprintf("%d visits", n), Contribution: -float64(n)}}
	if s.ChurnProbability >= 0.5 {
		s.Action = serve.Action{Kind: "coach_callback", OfferText: "Call " + h.Member.MemberID}
	}
	return s, nil
}

// now is the server's clock in the tests: Monday 2 June 2025, noon UTC.
var now = time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
}

// fixture is the member state of most tests:
//
//	m1  joined 2024-01-10; 5 visits: yoga x3, spin x1, open gym x1;
//	    2 transactions
//	m2  joined 2025-05-20 (a new member); 1 visit (spin)
//	m3  joined 2024-03-01; no events
//
// Courses: yoga (Wednesday 18:30, club north), spin (Monday 07:00), open
// (no weekly slot).
func fixture() *serve.Batch {
	return &serve.Batch{
		Members: []datasets.Member{
			member("m1", day(2024, 1, 10, 9, 0)),
			member("m2", day(2025, 5, 20, 9, 0)),
			member("m3", day(2024, 3, 1, 9, 0)),
		},
		Courses: []datasets.Course{
			{CourseID: "yoga", Name: "Yoga", Category: "mind_body", Coach: "ana", Club: "north", Weekday: 3, StartTime: "18:30", Capacity: 20},
			{CourseID: "spin", Name: "Spin", Category: "cardio", Weekday: 1, StartTime: "07:00"},
			{CourseID: "open", Name: "Open studio", Category: "other"},
		},
		Attendance: []datasets.Attendance{
			visit("a5", "m1", day(2025, 5, 28, 18, 30), "yoga"),
			visit("a1", "m1", day(2025, 1, 8, 18, 30), "yoga"),
			visit("a2", "m1", day(2025, 2, 3, 7, 0), "spin"),
			visit("a3", "m1", day(2025, 3, 12, 18, 30), "yoga"),
			visit("a4", "m1", day(2025, 4, 1, 10, 0), ""),
			visit("b1", "m2", day(2025, 5, 26, 7, 0), "spin"),
		},
		Transactions: []datasets.Transaction{
			{EventID: "t1", MemberID: "m1", TS: day(2025, 1, 1, 0, 0), Amount: 4900, Kind: datasets.TxMembershipFee},
			{EventID: "t2", MemberID: "m1", TS: day(2025, 2, 1, 0, 0), Amount: 4900, Kind: datasets.TxRenewal},
		},
	}
}

func member(id string, joined time.Time) datasets.Member {
	return datasets.Member{
		MemberID: id, JoinedAt: joined, HomeClub: "north", ContractType: datasets.ContractMonthly,
		ContractStart: datasets.Date(joined),
	}
}

func visit(id, memberID string, ts time.Time, course string) datasets.Attendance {
	return datasets.Attendance{EventID: id, MemberID: memberID, TS: ts, CourseID: course, DurationMin: 60, Source: datasets.SourcePOS}
}

// The tokens of the tests. The hashed client's token is
// "hashed-token-0123456789"; its sha256 is from `echo -n ... | sha256sum`.
const (
	tokAdmin  = "admin-token-0123456789"
	tokCRM    = "crm-token-0123456789"
	tokCoach  = "coach-token-0123456789"
	tokHashed = "hashed-token-0123456789"
)

const tokensYAML = `
clients:
  - name: admin
    token: admin-token-0123456789
    scopes: [admin]
  - name: crm
    token: crm-token-0123456789
    scopes: [score, ingest]
  - name: coach-app
    token: coach-token-0123456789
    scopes: [recommend]
  - name: hashed
    sha256: b22fd458dbe2426bebe59cfafe4c46e013df3efd439e4d91cda767ac3052ddd0
    scopes: [score]
`

func testTokens(t testing.TB) *serve.Tokens {
	t.Helper()
	tok, err := serve.ParseTokens([]byte(tokensYAML))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testServer is a server on 127.0.0.1:0 over a fresh store.
type testServer struct {
	srv   *serve.Server
	store *serve.Store
	addr  string
	reg   *prometheus.Registry
	done  chan error // Serve's result
}

// startServer starts a server with opts (Tokens and Now filled in when
// unset) over a store holding batch (the fixture when nil), scoring with
// sc (nil for none). It stops at the end of the test.
func startServer(t *testing.T, opts serve.Options, sc serve.Scorer, batch *serve.Batch) *testServer {
	t.Helper()
	store, err := serve.OpenStore(t.TempDir()+"/state.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if batch == nil {
		batch = fixture()
	}
	if _, err := store.AppendEvents(batch); err != nil {
		t.Fatal(err)
	}
	if opts.Tokens == nil && !opts.NoAuth {
		opts.Tokens = testTokens(t)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	reg := prometheus.NewRegistry()
	srv, err := serve.New(opts, sc, store, nil, reg)
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
		// A test that ends at once can shut down before the goroutine
		// above reaches Serve, which then reports the server stopped.
		if err := <-ts.done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// dial returns a plaintext client of ts with token tok.
func (ts *testServer) dial(t *testing.T, tok string) *client.Client {
	t.Helper()
	c, err := client.Dial(ts.addr, &client.Options{Token: tok, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkNoLeak fails the test when, once its cleanups ran, more goroutines
// run than when it started. Call it first, so that its cleanup runs last.
func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// fields returns the fields of the BadRequest detail of err.
func fields(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code %v (%v), want %v", got, err, want)
	}
}

func pbts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func byID(id string) *retainv1.ScoreMemberRequest {
	return &retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}}
}

var errBoom = errors.New("boom")
