package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"retain/datasets/mapping"
	"retain/features"
)

// foldReports are three hand-made fold reports of one 3-fold split of six
// customers a..f, with one method.
func foldReports() []*HoldoutReport {
	cal := time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC)
	mk := func(fold int, ids []string, auc, ece float64) *HoldoutReport {
		return &HoldoutReport{
			Features: "fold" + string(rune('0'+fold)), CalEnd: cal, HorizonWeeks: 39,
			SplitSeed: 1, Folds: 3, Fold: fold, BGNBDCustomers: 6,
			Test: len(ids), TestPositives: 1, TestIDs: ids,
			Rows: []HoldoutRow{{Method: "m", Probabilistic: true, ChurnMetrics: ChurnMetrics{ROCAUC: Num(auc), PRAUC: 0.5, Brier: 0.2, ECE: Num(ece)}, CountCorr: Num(math.NaN())}},
		}
	}
	return []*HoldoutReport{
		mk(2, []string{"e", "f"}, 0.8, 0.03),
		mk(0, []string{"a", "b"}, 0.7, 0.01),
		mk(1, []string{"c", "d"}, 0.6, 0.02),
	}
}

// TestSummarizeFolds checks the mean and sample sd against hand
// computation and that SummarizeFolds refuses reports that are not the K
// disjoint, covering folds of one split.
func TestSummarizeFolds(t *testing.T) {
	s, err := SummarizeFolds(foldReports())
	if err != nil {
		t.Fatal(err)
	}
	// ROC-AUC 0.7, 0.6, 0.8: mean 0.7, sd sqrt((0.01+0.01)/2) = 0.1.
	// ECE 0.01, 0.02, 0.03: mean 0.02, sd 0.01. PR-AUC constant: sd 0.
	// r(count) NaN in every fold: NaN.
	r := s.Rows[0]
	near := func(got Num, want float64) bool { return math.Abs(float64(got)-want) < 1e-12 }
	if !near(r.ROCAUC.Mean, 0.7) || !near(r.ROCAUC.SD, 0.1) || !near(r.ECE.Mean, 0.02) || !near(r.ECE.SD, 0.01) ||
		!near(r.PRAUC.SD, 0) || !math.IsNaN(float64(r.CountCorr.Mean)) {
		t.Errorf("row %+v", r)
	}
	if s.Test != 6 || s.TestCovered != 6 || s.TestPositives != 3 || len(s.PerFold) != 3 || s.PerFold[0].Fold != 0 || s.PerFold[2].Fold != 2 {
		t.Errorf("summary %+v", s)
	}
	// Paired needs a second probabilistic method: none here.
	if len(s.Paired) != 0 {
		t.Errorf("paired %+v with one method", s.Paired)
	}
	var md strings.Builder
	if err := s.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| m | 0.700 ± 0.100 | 0.500 ± 0.000 | 0.200 ± 0.000 | 0.020 ± 0.010 | — |") {
		t.Errorf("markdown:\n%s", md.String())
	}

	for name, spoil := range map[string]func([]*HoldoutReport) []*HoldoutReport{
		"overlap": func(r []*HoldoutReport) []*HoldoutReport { r[0].TestIDs = []string{"a", "f"}; return r },
		"not covering": func(r []*HoldoutReport) []*HoldoutReport {
			r[0].BGNBDCustomers = 7
			r[1].BGNBDCustomers = 7
			r[2].BGNBDCustomers = 7
			return r
		},
		"fold twice":   func(r []*HoldoutReport) []*HoldoutReport { r[0].Fold = 0; return r },
		"missing fold": func(r []*HoldoutReport) []*HoldoutReport { return r[:2] },
		"other seed":   func(r []*HoldoutReport) []*HoldoutReport { r[1].SplitSeed = 2; return r },
		"other data":   func(r []*HoldoutReport) []*HoldoutReport { r[1].BGNBDCustomers = 5; return r },
		"no folds":     func(r []*HoldoutReport) []*HoldoutReport { r[0].Folds = 0; return r[:1] },
		"ids vs count": func(r []*HoldoutReport) []*HoldoutReport { r[2].Test = 3; return r },
		"methods":      func(r []*HoldoutReport) []*HoldoutReport { r[2].Rows[0].Method = "x"; return r },
	} {
		if _, err := SummarizeFolds(spoil(foldReports())); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestHoldoutFoldsCDNOWSample builds the three folds of a 3-fold member
// split of the CDNOW 1/10 sample, evaluates the baselines on each and
// checks with SummarizeFolds that the test customers are disjoint and
// cover all 2,357 customers (the sample's README), and that each fold's
// test is the members MemberFold puts there.
func TestHoldoutFoldsCDNOWSample(t *testing.T) {
	src := filepath.Join("..", "..", "shared", "datasets", "cdnow", "CDNOW_sample.txt")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("CDNOW sample not available (%v); it lives in ../shared/datasets/cdnow next to the repository", err)
	}
	cfg := holdoutConfig(t)
	cfg.Split.Folds = 3
	m, err := mapping.Builtin("cdnow_sample")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := mapping.Import(m, []string{src}, dir, nil); err != nil {
		t.Fatal(err)
	}
	var reps []*HoldoutReport
	for f := range 3 {
		cfg.Split.Fold = f
		fpath := filepath.Join(t.TempDir(), "f.rtfs")
		if _, err := features.BuildDataset(dir, cfg, fpath); err != nil {
			t.Fatal(err)
		}
		rep, err := EvaluateHoldout(context.Background(), fpath, dir, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range rep.TestIDs {
			if got := features.MemberFold(id, cfg.Split.Seed, 3); got != f {
				t.Fatalf("fold %d: test customer %s is in fold %d", f, id, got)
			}
		}
		reps = append(reps, rep)
	}
	s, err := SummarizeFolds(reps)
	if err != nil {
		t.Fatal(err)
	}
	if s.TestCovered != 2357 || s.Test != 2357 || s.LabelMismatches != 0 {
		t.Errorf("folds cover %d customers (%d test examples), mismatches %d; want 2357", s.TestCovered, s.Test, s.LabelMismatches)
	}
}

// TestSummarizeFoldsPaired checks the paired differences on two methods:
// model AUC 0.7, 0.6, 0.8 against 0.65, 0.62, 0.70 gives differences
// +0.05, −0.02, +0.10: mean 0.0433…, sd sqrt(((0.0067)²+(0.0633)²+
// (0.0567)²)/2) = 0.0603; the model wins 2 folds of 3.
func TestSummarizeFoldsPaired(t *testing.T) {
	reps := foldReports()
	other := map[int]float64{0: 0.65, 1: 0.62, 2: 0.70}
	for _, r := range reps {
		r.Rows = append(r.Rows, HoldoutRow{Method: "b", Probabilistic: true, ChurnMetrics: ChurnMetrics{ROCAUC: Num(other[r.Fold]), Brier: 0.25, ECE: 0.05}})
	}
	s, err := SummarizeFolds(reps)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Paired) != 1 {
		t.Fatalf("paired %+v", s.Paired)
	}
	p := s.Paired[0]
	d := []float64{0.05, -0.02, 0.10}
	mean := (d[0] + d[1] + d[2]) / 3
	sd := math.Sqrt(((d[0]-mean)*(d[0]-mean) + (d[1]-mean)*(d[1]-mean) + (d[2]-mean)*(d[2]-mean)) / 2)
	if p.Method != "m" || p.Against != "b" || math.Abs(float64(p.ROCAUC.Mean)-mean) > 1e-12 || math.Abs(float64(p.ROCAUC.SD)-sd) > 1e-12 ||
		p.AUCWins != 2 || math.Abs(float64(p.Brier.Mean)+0.05) > 1e-12 {
		t.Errorf("paired %+v; want AUC %.4f ± %.4f, 2 wins, Brier −0.05", p, mean, sd)
	}
}
