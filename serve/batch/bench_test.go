package batch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"retain/datasets/synth"
	"retain/model"
	"retain/serve/batch"
)

// BenchmarkScoreSmall runs the whole batch (read, features, model,
// reasons, Parquet write) on the test fixture (150 members, 40 weeks): a
// benchmark that runs in seconds.
func BenchmarkScoreSmall(b *testing.B) {
	benchRun(b, fix.dir, fix.bundle)
}

// BenchmarkScore100k runs the whole batch on the 100,000-member, 104-week
// synthetic set (seed 1, 4 clubs, no truth): the headline figure of
// docs/benchmarks.md (make bench-batch). The set is written once into
// RETAIN_BENCH_CACHE (default $TMPDIR/retain-bench-100k; ~270 MB, a minute
// or more to generate) and reused. The bundle has the default serving
// shape (26 weeks, hidden 64, 1 layer, indicators and summary inputs) with
// random weights; a trained bundle of that shape does the same arithmetic.
func BenchmarkScore100k(b *testing.B) {
	dir := os.Getenv("RETAIN_BENCH_CACHE")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "retain-bench-100k")
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "dataset.json")); err != nil {
		cfg := synth.DefaultConfig()
		cfg.Members, cfg.Weeks, cfg.Seed, cfg.TruthSims = 100_000, 104, 1, -1
		b.Logf("writing the 100k data set to %s (once)", data)
		if _, err := synth.WriteDir(cfg, data, &synth.WriteOptions{Overwrite: true}); err != nil {
			b.Fatal(err)
		}
	}
	// The bundle is cached too, and rewritten when this build refuses it
	// (a features or format version change since it was written).
	bundle := filepath.Join(dir, "model-h64.rtmb")
	if _, err := model.Load(bundle); err != nil {
		b.Logf("writing the bundle %s (%v)", bundle, err)
		if err := writeBenchBundle(data, bundle); err != nil {
			b.Fatal(err)
		}
	}
	benchRun(b, data, bundle)
}

func benchRun(b *testing.B, data, bundle string) {
	out := filepath.Join(b.TempDir(), "scores.parquet")
	var rep *batch.Report
	var err error
	var ru0, ru1 float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ru0 = cpuSeconds()
		rep, err = batch.Run(context.Background(), batch.Options{Model: bundle, Data: data, Out: out})
		ru1 = cpuSeconds()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st, _ := os.Stat(out)
	b.ReportMetric(rep.MembersPerSecond, "members/s")
	b.ReportMetric(rep.Seconds, "s/run")
	b.ReportMetric(ru1-ru0, "CPU-s/run")
	b.Logf("GOMAXPROCS %d, load average before/after %s", runtime.GOMAXPROCS(0), loadAvg())
	b.Logf("%d members, %d scored, skipped %v; %d bytes written", rep.Members, rep.Scored, rep.Skipped, st.Size())
	b.Logf("stages: read %.2fs wall | features %.2f worker-s | score %.2f worker-s (forward %.2f, inputs+reasons+courses+rows %.2f) | write %.2fs | total %.2fs wall, %.2f CPU-s (process): %.0f members/s",
		rep.ReadSeconds, rep.FeatureSeconds, rep.ScoreSeconds, rep.ForwardSeconds, rep.ScoreSeconds-rep.ForwardSeconds, rep.WriteSeconds, rep.Seconds, ru1-ru0, rep.MembersPerSecond)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return fmt.Sprintf("%s %s %s (1, 5, 15 min) at %s", f[0], f[1], f[2], time.Now().UTC().Format("15:04:05"))
}
