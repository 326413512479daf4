package features

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"retain/datasets/synth"
)

// benchData is the synthetic data set of the benchmarks, written once per
// process as Parquet.
var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

// TestMain removes the benchmark data set after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(filepath.Dir(benchDir))
	}
	os.Exit(code)
}

// benchMembers is the size of the benchmark data set: 100,000 members
// unless RETAIN_BENCH_MEMBERS says otherwise.
func benchMembers() int {
	if s := os.Getenv("RETAIN_BENCH_MEMBERS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 100000
}

func benchDataset(b *testing.B) string {
	b.Helper()
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "retain-bench-")
		if err != nil {
			benchErr = err
			return
		}
		cfg := synth.DefaultConfig() // seed 1, 104 weeks from 2024-01-01
		cfg.Members = benchMembers()
		cfg.TruthSims = -1 // no ground truth: only the tables matter here
		benchDir = filepath.Join(dir, "synth")
		t0 := time.Now()
		_, benchErr = synth.WriteDir(cfg, benchDir, nil)
		b.Logf("generated %d members into %s in %v", cfg.Members, benchDir, time.Since(t0).Round(time.Millisecond))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir
}

// BenchmarkBuild measures the whole feature step on the synthetic data set
// (100,000 members, 104 weeks; see benchMembers): Parquet tables read once,
// streamed into member state, every example computed and the training file
// written, KPIs included. It reports events/s, events being the attendance
// and transaction rows read. Run it once:
//
//	go test -run '^$' -bench Build -benchtime 1x ./features
func BenchmarkBuild(b *testing.B) {
	dir := benchDataset(b)
	out := filepath.Join(b.TempDir(), "train.rtfs")
	var rep *BuildReport
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		var err error
		if rep, err = BuildDataset(dir, DefaultConfig(), out); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start).Seconds() / float64(b.N)
	cpu := (cpuTime() - cpu0).Seconds() / float64(b.N)
	b.StopTimer()
	events := float64(rep.Attendance + rep.Transactions)
	b.ReportMetric(events/el, "events/s")
	b.ReportMetric(events, "events")
	b.ReportMetric(float64(rep.Members), "members")
	var n int64
	for _, c := range rep.Examples {
		n += c.Examples
	}
	b.ReportMetric(float64(n), "examples")
	if cpu > 0 {
		// CPU seconds do not depend on what else runs on the machine.
		b.ReportMetric(cpu, "cpu-s")
		b.ReportMetric(events/cpu, "events/cpu-s")
	}
	b.Logf("GOMAXPROCS %d: %.0f events (%d members, %d examples) in %.2f s wall, %.2f s CPU: %.0f events/s; read %.2f s, emit %.2f s; file %d MB",
		runtime.GOMAXPROCS(0), events, rep.Members, n, el, cpu, events/el, rep.ReadSeconds, rep.EmitSeconds, rep.Bytes>>20)
}

// BenchmarkCompute measures the single-member path the scoring server uses:
// one member's features, indicators and labels from its history in memory,
// under the spec a build fits (the LTV indicator from BG/NBD and
// Gamma-Gamma).
func BenchmarkCompute(b *testing.B) {
	s := loadSmallSynth(b)
	cfg := s.config()
	f := s.fitted(b, cfg)
	// A member with a long history.
	var h *History
	for _, id := range s.ids {
		if x := s.hs[id]; h == nil || len(x.Attendance) > len(h.Attendance) {
			h = x
		}
	}
	t := s.cfg.End().AddDate(0, 0, -7*cfg.HorizonWeeks)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Compute(h, t); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(h.Attendance)+len(h.Transactions)), "events/member")
}

// BenchmarkLTV measures the LTV indicator alone (payment summary, BG/NBD
// expectation, Gamma-Gamma spend), cycling over the members of the small
// synthetic data set at one cutoff: ns/op is the cost per member and call.
func BenchmarkLTV(b *testing.B) {
	s := loadSmallSynth(b)
	cfg := s.config()
	f := s.fitted(b, cfg)
	t := s.cfg.End().AddDate(0, 0, -7*cfg.HorizonWeeks)
	clk := newClock(f.loc)
	td := clk.day(t)
	g := grid{phase: int32(floorMod(int64(td), 7))}
	var ms []member
	for _, id := range s.ids {
		h := s.hs[id]
		m := member{memberStatic: f.memberStatic(&h.Member, &clk)}
		if m.join >= td {
			continue
		}
		for i := range h.Transactions {
			f.addTransaction(&m.tx, g, &clk, &h.Transactions[i])
		}
		ms = append(ms, m)
	}
	tw := g.week(td)
	b.ReportAllocs()
	b.ResetTimer()
	sum := 0.0
	for i := 0; i < b.N; i++ {
		m := &ms[i%len(ms)]
		sum += f.ltvAt(m, tw, 0, 0)
	}
	b.StopTimer()
	if math.IsNaN(sum) {
		b.Fatal("NaN LTV")
	}
}
