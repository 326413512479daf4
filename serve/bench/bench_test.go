package bench

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"retain/datasets/synth"
	"retain/features"
	"retain/model"
	retainv1 "retain/proto/retain/v1"
	"retain/serve"
	"retain/serve/client"
)

var (
	flagMembers  = flag.Int("serve.members", 2000, "members of the generated data set")
	flagRate     = flag.Float64("serve.rate", 1000, "arrival rate of the fixed-rate run, requests/s")
	flagDuration = flag.Duration("serve.duration", 10*time.Second, "length of the fixed-rate run")
	flagStep     = flag.Duration("serve.step", 3*time.Second, "length of each run of the rate ramp")
	flagLimit    = flag.Duration("serve.p99", 5*time.Millisecond, "p99 latency the ramp must stay under")
	flagMaxRate  = flag.Float64("serve.maxrate", 64000, "highest rate of the ramp")
)

// benchToken is the bearer token of the benchmark's one client.
const benchToken = "bench-token-0123456789abcdef"

// rig is a server on 127.0.0.1:0 over a generated data set, scoring with a
// bundle of the default network shape, and a client of it.
type rig struct {
	dir    string
	store  *serve.Store
	sc     *serve.BundleScorer
	srv    *serve.Server
	cl     *client.Client
	ids    []string
	asOf   time.Time
	setup  time.Duration
	events int
}

var (
	rigOnce sync.Once
	theRig  *rig
	rigErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if theRig != nil {
		theRig.close()
	}
	os.Exit(code)
}

// getRig builds the rig once per process.
func getRig(b *testing.B) *rig {
	b.Helper()
	rigOnce.Do(func() { theRig, rigErr = newRig(*flagMembers) })
	if rigErr != nil {
		b.Fatal(rigErr)
	}
	return theRig
}

func newRig(members int) (_ *rig, err error) {
	t0 := time.Now()
	dir, err := os.MkdirTemp("", "retain-bench-serve-")
	if err != nil {
		return nil, err
	}
	r := &rig{dir: dir}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	cfg := synth.DefaultConfig()
	cfg.Members, cfg.Clubs, cfg.TruthSims = members, max(1, members/1000), -1
	data := filepath.Join(dir, "data")
	if _, err := synth.WriteDir(cfg, data, nil); err != nil {
		return nil, err
	}
	// The same Config gives the same rows (synth.Config.Seed): the bundle
	// is built from them in memory.
	var sink synth.MemorySink
	if _, err := synth.Generate(cfg, &sink); err != nil {
		return nil, err
	}
	r.asOf = cfg.Start.AddDate(0, 0, 7*cfg.Weeks)
	r.events = len(sink.AttendanceRows) + len(sink.TransactionRows)
	bundle := filepath.Join(dir, "model.rtmb")
	if err := writeBundle(&sink, r.asOf, bundle); err != nil {
		return nil, err
	}

	if r.store, err = serve.OpenStore(filepath.Join(dir, "state.db"), nil); err != nil {
		return nil, err
	}
	if _, err := r.store.Load(data, nil); err != nil {
		return nil, err
	}
	if r.sc, err = serve.NewBundleScorer(bundle, &serve.BundleOptions{Catalog: r.store.Courses}); err != nil {
		return nil, err
	}
	tokens, err := serve.ParseTokens([]byte("clients:\n  - name: bench\n    token: " + benchToken + "\n    scopes: [score, recommend]\n"))
	if err != nil {
		return nil, err
	}
	opts := serve.DefaultOptions()
	opts.Tokens = tokens
	if r.srv, err = serve.New(opts, r.sc, r.store, nil, nil); err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go r.srv.Serve(lis)
	if r.cl, err = client.Dial(lis.Addr().String(), &client.Options{Insecure: true, Token: benchToken}); err != nil {
		return nil, err
	}
	for _, m := range sink.MemberRows {
		r.ids = append(r.ids, m.MemberID)
	}
	// A fixed random order of the members, so that consecutive requests
	// do not read neighbouring keys of the store.
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(r.ids), func(i, j int) { r.ids[i], r.ids[j] = r.ids[j], r.ids[i] })
	r.setup = time.Since(t0)
	return r, nil
}

func (r *rig) close() {
	if r.cl != nil {
		r.cl.Close()
	}
	if r.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r.srv.Shutdown(ctx)
		cancel()
	}
	if r.store != nil {
		r.store.Close()
	}
	os.RemoveAll(r.dir)
}

// writeBundle writes a bundle of the default network shape (model.Config
// defaults: 26 weeks, hidden 64, 1 layer) for the gym in sink to path. Its
// weights are random, not trained: a trained network of the same shape
// does the same arithmetic, so it costs the same to run. The normaliser is
// fitted on the members' examples at end.
func writeBundle(sink *synth.MemorySink, end time.Time, path string) error {
	var clubs []string
	for _, m := range sink.MemberRows {
		if !slices.Contains(clubs, m.HomeClub) {
			clubs = append(clubs, m.HomeClub)
		}
	}
	spec, err := features.NewSpec(features.DefaultConfig(), sink.CourseRows, clubs)
	if err != nil {
		return err
	}
	fz, err := features.NewFeaturizer(spec)
	if err != nil {
		return err
	}
	hs := map[string]*features.History{}
	for _, m := range sink.MemberRows {
		hs[m.MemberID] = &features.History{Member: m}
	}
	for _, a := range sink.AttendanceRows {
		hs[a.MemberID].Attendance = append(hs[a.MemberID].Attendance, a)
	}
	for _, x := range sink.TransactionRows {
		hs[x.MemberID].Transactions = append(hs[x.MemberID].Transactions, x)
	}
	fit := features.NewNormalizerFitter(spec)
	for _, m := range sink.MemberRows {
		if ex, err := fz.Compute(hs[m.MemberID], end); err == nil {
			fit.Add(ex)
		}
	}
	b := &model.Bundle{
		Spec: spec, Normalizer: fit.Normalizer(), Indicators: true, Summary: true,
		Calibration:     model.Calibration{Method: "platt", A: 1, B: 0},
		Metrics:         map[string]float64{},
		DataFingerprint: "sha256:bench",
		Created:         end,
	}
	b.Config = model.Config{Steps: spec.Config.Weeks, Inputs: len(spec.Sequence), Static: b.Inputs().StaticWidth(),
		Classes: len(spec.Categories)}.WithDefaults()
	b.Params = model.NewParams(b.Config, rand.NewPCG(3, 4))
	return b.Save(path)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchCall measures call at the fixed rate (-serve.rate for
// -serve.duration) and then ramps the rate up from there, doubling it,
// until p99 reaches -serve.p99 or a call fails.
func benchCall(b *testing.B, call func(r *rig) func(ctx context.Context, i int) error) {
	r := getRig(b)
	b.Logf("setup %.1f s: %d members, %d events, GOMAXPROCS %d, NumCPU %d; client and server share the process",
		r.setup.Seconds(), len(r.ids), r.events, runtime.GOMAXPROCS(0), runtime.NumCPU())
	f := call(r)
	ctx := context.Background()
	// Warm up: connection, store pages, pools.
	if res, err := Run(ctx, Config{Rate: 500, Requests: 500}, f); err != nil {
		b.Fatal(err)
	} else if res.Errors > 0 {
		b.Fatalf("warm-up: %d errors, first: %v", res.Errors, res.FirstErr)
	}
	b.ResetTimer()
	for range b.N {
		cpu0 := cpuTime()
		res, err := Run(ctx, Config{Rate: *flagRate, Duration: *flagDuration}, f)
		if err != nil {
			b.Fatal(err)
		}
		cpu := cpuTime() - cpu0
		b.Logf("fixed %s; CPU %.3f ms/request (client+server)", res, ms(cpu)/float64(max(res.Sent, 1)))
		if res.Errors > 0 {
			b.Errorf("%d errors at %.0f/s, first: %v", res.Errors, *flagRate, res.FirstErr)
		}
		b.ReportMetric(ms(res.Quantile(0.5)), "p50-ms")
		b.ReportMetric(ms(res.Quantile(0.9)), "p90-ms")
		b.ReportMetric(ms(res.Quantile(0.99)), "p99-ms")
		b.ReportMetric(ms(res.Max()), "max-ms")
		b.ReportMetric(ms(cpu)/float64(max(res.Sent, 1)), "cpu-ms/req")

		steps, held, err := Ramp(ctx, Config{Duration: *flagStep}, *flagRate, *flagMaxRate, *flagLimit, f)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range steps {
			b.Logf("ramp %s", s.Result)
		}
		b.Logf("highest rate with p99 < %v and no error: %.0f/s", *flagLimit, held)
		b.ReportMetric(held, "held-req/s")
	}
	b.StopTimer()
}

// BenchmarkServeScoreMember measures ScoreMember of stored members over
// gRPC: store read, features, forward pass, occlusion attribution,
// next-course suggestions.
func BenchmarkServeScoreMember(b *testing.B) {
	benchCall(b, func(r *rig) func(ctx context.Context, i int) error {
		asOf := timestamppb.New(r.asOf)
		return func(ctx context.Context, i int) error {
			id := r.ids[i%len(r.ids)]
			resp, err := r.cl.ScoreMember(ctx, &retainv1.ScoreMemberRequest{
				Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}, AsOf: asOf})
			if err == nil && resp.GetScore().GetMemberId() != id {
				err = fmt.Errorf("score of %q for %q", resp.GetScore().GetMemberId(), id)
			}
			return err
		}
	})
}

// BenchmarkServeRecommendClasses measures RecommendClasses of stored
// members over gRPC.
func BenchmarkServeRecommendClasses(b *testing.B) {
	benchCall(b, func(r *rig) func(ctx context.Context, i int) error {
		asOf := timestamppb.New(r.asOf)
		return func(ctx context.Context, i int) error {
			id := r.ids[i%len(r.ids)]
			resp, err := r.cl.RecommendClasses(ctx, &retainv1.RecommendClassesRequest{
				Subject: &retainv1.RecommendClassesRequest_MemberId{MemberId: id}, AsOf: asOf})
			if err == nil && resp.GetMemberId() != id {
				err = fmt.Errorf("recommendation for %q, want %q", resp.GetMemberId(), id)
			}
			return err
		}
	})
}

// BenchmarkServeGetModelInfo measures GetModelInfo, a call that scores
// nothing (the model's metadata, with its feature names): the cost of
// gRPC, authentication and the interceptors, as a baseline for the two
// scoring calls.
func BenchmarkServeGetModelInfo(b *testing.B) {
	benchCall(b, func(r *rig) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error {
			resp, err := r.cl.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
			if err == nil && resp.GetVersion() == "" {
				err = fmt.Errorf("no model version")
			}
			return err
		}
	})
}

// BenchmarkServeScorerInProcess measures what ScoreMember costs without
// gRPC: the store read and BundleScorer.Score, one member after another on
// one goroutine, over every member once.
func BenchmarkServeScorerInProcess(b *testing.B) {
	r := getRig(b)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		var read, score time.Duration
		for _, id := range r.ids {
			t0 := time.Now()
			h, err := r.store.HistoryBefore(id, r.asOf)
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := r.sc.Score(ctx, h, r.asOf); err != nil {
				b.Fatalf("score %s: %v", id, err)
			}
			read += t1.Sub(t0)
			score += time.Since(t1)
		}
		n := float64(len(r.ids))
		b.Logf("%d members: store read %.3f ms/member, Score %.3f ms/member", len(r.ids), ms(read)/n, ms(score)/n)
		b.ReportMetric(ms(read)/n, "read-ms/member")
		b.ReportMetric(ms(score)/n, "score-ms/member")
	}
}
