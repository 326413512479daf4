package features

import (
	"path/filepath"
	"sync"
	"testing"

	"retain/datasets"
	"retain/datasets/synth"
)

// smallSynth is a small synthetic data set shared by the tests: 300
// members over 80 weeks from Monday 2024-01-01, seed 7.
type smallSynth struct {
	cfg  synth.Config
	sink synth.MemorySink
	hs   map[string]*History
	ids  []string // member order
}

var (
	synthOnce sync.Once
	synthData *smallSynth
	synthErr  error
)

func loadSmallSynth(t testing.TB) *smallSynth {
	t.Helper()
	synthOnce.Do(func() {
		s := &smallSynth{}
		s.cfg = synth.DefaultConfig()
		s.cfg.Members = 300
		s.cfg.Weeks = 80
		s.cfg.Seed = 7
		s.cfg.TruthSims = -1
		s.cfg.TruthCutoffs = nil
		if _, err := synth.Generate(s.cfg, &s.sink); err != nil {
			synthErr = err
			return
		}
		s.hs = map[string]*History{}
		for _, m := range s.sink.MemberRows {
			s.hs[m.MemberID] = &History{Member: m}
			s.ids = append(s.ids, m.MemberID)
		}
		for _, a := range s.sink.AttendanceRows {
			h := s.hs[a.MemberID]
			h.Attendance = append(h.Attendance, a)
		}
		for _, x := range s.sink.TransactionRows {
			h := s.hs[x.MemberID]
			h.Transactions = append(h.Transactions, x)
		}
		synthData = s
	})
	if synthErr != nil {
		t.Fatalf("synth: %v", synthErr)
	}
	return synthData
}

// source returns the data set as a MemorySource with its manifest.
func (s *smallSynth) source() *MemorySource {
	return &MemorySource{
		Man:             datasets.Manifest{Version: 1, MinorUnits: 2, Start: s.cfg.Start, End: s.cfg.End(), Source: "synth test"},
		MemberRows:      s.sink.MemberRows,
		CourseRows:      s.sink.CourseRows,
		AttendanceRows:  s.sink.AttendanceRows,
		TransactionRows: s.sink.TransactionRows,
	}
}

// config returns DefaultConfig with DataEnd set to the end of the data, so
// that single-member labels see the same end as the batch.
func (s *smallSynth) config() Config {
	c := DefaultConfig()
	c.DataEnd = s.cfg.End()
	return c
}

// featurizer returns the Featurizer whose spec a Builder would fix for the
// data set.
func (s *smallSynth) featurizer(t testing.TB, cfg Config) *Featurizer {
	t.Helper()
	clubs := make([]string, 0, 8)
	for _, m := range s.sink.MemberRows {
		clubs = append(clubs, m.HomeClub)
	}
	spec, err := NewSpec(cfg, s.sink.CourseRows, clubs)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fitted returns the Featurizer of featurizer with the LTV model that Build
// fits on the data set under cfg (the spec a trained bundle carries).
func (s *smallSynth) fitted(t testing.TB, cfg Config) *Featurizer {
	t.Helper()
	rep, err := Build(s.source(), cfg, filepath.Join(t.TempDir(), "fit.rtfs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.LTV.Model != LTVBTYD {
		t.Fatalf("LTV not fitted on the small synthetic data: %s", rep.LTV.Reason)
	}
	spec := s.featurizer(t, cfg).Spec()
	spec.LTV = rep.LTV
	f, err := NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
