package batch_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"retain/datasets/synth"
	"retain/features"
	"retain/model"
)

// fixture is a small synthetic gym written to a dataset directory, its
// events in memory, and a model bundle for it. The bundle's weights are
// random, not trained (serve and its sub-packages may not import train):
// the tests check that the batch rows are retain serve's scores, not the
// model's quality.
type fixture struct {
	cfg    synth.Config
	sink   synth.MemorySink
	dir    string // dataset directory
	bundle string // model bundle file
	end    time.Time
}

var fix *fixture

func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "retain-batch-test-")
	if err != nil {
		panic(err)
	}
	fix, err = newFixture(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// newFixture: 150 members over 40 weeks in 2 clubs, seed 5, no truth.
func newFixture(tmp string) (*fixture, error) {
	f := &fixture{dir: filepath.Join(tmp, "data"), bundle: filepath.Join(tmp, "model.rtmb")}
	f.cfg = synth.DefaultConfig()
	f.cfg.Members, f.cfg.Weeks, f.cfg.Clubs, f.cfg.TruthSims, f.cfg.Seed = 150, 40, 2, -1, 5
	f.end = f.cfg.End()
	if _, err := synth.WriteDir(f.cfg, f.dir, nil); err != nil {
		return nil, err
	}
	if _, err := synth.Generate(f.cfg, &f.sink); err != nil {
		return nil, err
	}
	var clubs []string
	for _, m := range f.sink.MemberRows {
		if !slices.Contains(clubs, m.HomeClub) {
			clubs = append(clubs, m.HomeClub)
		}
	}
	spec, err := features.NewSpec(features.DefaultConfig(), f.sink.CourseRows, clubs)
	if err != nil {
		return nil, err
	}
	fz, err := features.NewFeaturizer(spec)
	if err != nil {
		return nil, err
	}
	fit := features.NewNormalizerFitter(spec)
	for _, h := range f.histories(f.end) {
		if ex, err := fz.Compute(h, f.end); err == nil {
			fit.Add(ex)
		}
	}
	b := &model.Bundle{
		Spec: spec, Normalizer: fit.Normalizer(), Indicators: true, Summary: true,
		Calibration:     model.Calibration{Method: "platt", A: 1.3, B: 0.2},
		Metrics:         map[string]float64{"val_churn_auc": 0.5},
		DataFingerprint: "sha256:test",
		Created:         time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	b.Config = model.Config{Steps: spec.Config.Weeks, Inputs: len(spec.Sequence), Static: b.Inputs().StaticWidth(),
		Hidden: 8, Classes: len(spec.Categories)}.WithDefaults()
	b.Params = model.NewParams(b.Config, rand.NewPCG(11, 7))
	// Larger output weights than the initialisation's, so that the
	// probabilities spread over all three risk levels.
	for i := range b.Params.WOut {
		b.Params.WOut[i] *= 4
	}
	if err := b.Save(f.bundle); err != nil {
		return nil, err
	}
	return f, nil
}

// histories returns every member's history of the events before asOf, as
// retain serve's store gives it (Store.HistoryBefore), in member order.
func (f *fixture) histories(asOf time.Time) []*features.History {
	hs := make([]*features.History, len(f.sink.MemberRows))
	idx := map[string]int{}
	for i, m := range f.sink.MemberRows {
		hs[i] = &features.History{Member: m}
		idx[m.MemberID] = i
	}
	for _, a := range f.sink.AttendanceRows {
		if a.TS.Before(asOf) {
			h := hs[idx[a.MemberID]]
			h.Attendance = append(h.Attendance, a)
		}
	}
	for _, x := range f.sink.TransactionRows {
		if x.TS.Before(asOf) {
			h := hs[idx[x.MemberID]]
			h.Transactions = append(h.Transactions, x)
		}
	}
	return hs
}
