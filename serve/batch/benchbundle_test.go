package batch_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"retain/datasets"
	"retain/features"
	"retain/model"
	"retain/serve/batch"
)

// writeBenchBundle writes a bundle of the default serving shape (26
// weeks, hidden 64, 1 layer, indicators and summary inputs) for the data
// set in dir, with random weights and the normaliser fitted on the
// examples of one member in 50 (by Shard) at the data's end.
func writeBenchBundle(dir, path string) error {
	d, err := datasets.OpenDir(dir)
	if err != nil {
		return err
	}
	members, err := datasets.ReadAll[datasets.Member](filepath.Join(dir, "members.parquet"))
	if err != nil {
		return err
	}
	courses, err := datasets.ReadAll[datasets.Course](filepath.Join(dir, "courses.parquet"))
	if err != nil {
		return err
	}
	var clubs []string
	for _, m := range members {
		if !slices.Contains(clubs, m.HomeClub) {
			clubs = append(clubs, m.HomeClub)
		}
	}
	spec, err := features.NewSpec(features.DefaultConfig(), courses, clubs)
	if err != nil {
		return err
	}
	// A fitted LTV model, as a trained bundle has (NewSpec's is the naive
	// formula): the parameters of the demo data's fit (docs/features.md),
	// so that the benchmark pays for the BG/NBD x Gamma-Gamma indicator.
	spec.LTV = features.LTVModel{Model: features.LTVBTYD, TimeUnit: features.LTVTimeUnit, HorizonWeeks: spec.LTV.HorizonWeeks,
		R: 1.462, Alpha: 7.222, A: 0.2184, B: 4.29, P: 0.9407, Q: 3.435, V: 209.6}
	if err := spec.Check(); err != nil {
		return fmt.Errorf("bench bundle: LTV model: %w", err)
	}
	end := d.Manifest().End
	a, err := features.ReadAsOf(features.DirSource(d, nil), spec, end, end,
		&features.AsOfOptions{Keep: func(m *datasets.Member) bool { return batch.Shard(m.MemberID, 50) == 0 }})
	if err != nil {
		return err
	}
	fit := features.NewNormalizerFitter(spec)
	for i := 0; i < a.Len(); i++ {
		var ex features.Example
		if a.Example(i, &ex) == nil {
			fit.Add(&ex)
		}
	}
	b := &model.Bundle{
		Spec: spec, Normalizer: fit.Normalizer(), Indicators: true, Summary: true,
		Calibration:     model.Calibration{Method: "platt", A: 1, B: 0},
		Metrics:         map[string]float64{},
		DataFingerprint: "sha256:bench",
		Created:         time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	b.Config = model.Config{Steps: spec.Config.Weeks, Inputs: len(spec.Sequence), Static: b.Inputs().StaticWidth(),
		Hidden: 64, Layers: 1, Classes: len(spec.Categories)}.WithDefaults()
	b.Params = model.NewParams(b.Config, rand.NewPCG(1, 2))
	if err := b.Save(path); err != nil {
		return fmt.Errorf("bench bundle: %w", err)
	}
	return nil
}
