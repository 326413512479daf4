package synth

import (
	"path/filepath"
	"testing"
	"time"
)

func benchGenerate(b *testing.B, members, sims int) {
	cfg := DefaultConfig()
	cfg.Members = members
	cfg.TruthSims = sims
	cfg.TruthCutoffs = nil
	b.ReportAllocs()
	start := time.Now()
	var events int64
	for range b.N {
		s, err := Generate(cfg, Discard)
		if err != nil {
			b.Fatal(err)
		}
		events = s.Attendance + s.Transactions
	}
	sec := time.Since(start).Seconds() / float64(b.N)
	b.ReportMetric(float64(members)/sec, "members/s")
	b.ReportMetric(float64(events)/sec, "events/s")
}

// BenchmarkGenerate: 10,000 members × 104 weeks, no truth, discarded.
func BenchmarkGenerate(b *testing.B) { benchGenerate(b, 10_000, -1) }

// BenchmarkGenerateTruth: the same with the default truth (18 cutoffs,
// 200 re-simulations).
func BenchmarkGenerateTruth(b *testing.B) { benchGenerate(b, 10_000, 0) }

// BenchmarkWriteDir100k writes the 100,000-member, 104-week data set as
// Parquet with the default truth. Run it alone:
//
//	go test -run '^$' -bench WriteDir100k -benchtime 1x ./datasets/synth
func BenchmarkWriteDir100k(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Members = 100_000
	cfg.TruthCutoffs = nil
	for range b.N {
		start := time.Now()
		s, err := WriteDir(cfg, filepath.Join(b.TempDir(), "data"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/dataset")
		b.ReportMetric(float64(s.Attendance+s.Transactions), "events")
	}
}

// BenchmarkWriteDir100kNoTruth is BenchmarkWriteDir100k without the truth:
// simulation and Parquet writing only.
func BenchmarkWriteDir100kNoTruth(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Members = 100_000
	cfg.TruthSims = -1
	for range b.N {
		start := time.Now()
		s, err := WriteDir(cfg, filepath.Join(b.TempDir(), "data"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/dataset")
		b.ReportMetric(float64(s.Attendance+s.Transactions), "events")
	}
}
