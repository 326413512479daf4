package train

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"retain/model"
)

var updateEval = flag.Bool("update-eval", false, "rewrite the evaluation report golden files in testdata/")

// evalHandReport returns a report with hand-set numbers: model churn AUC
// 0.93 and ECE 0.0299, HR@3 0.74; best churn baseline 0.88, best next
// baseline HR@3 0.71; oracle AUC 0.96 and HR@3 0.80 (0.82 with ties in its
// favour). The bars are then, by hand:
//
//	churn AUC vs oracle:    0.93 ≥ 0.97·0.96 = 0.9312?  no  -> FAIL
//	churn AUC vs baselines: 0.93 ≥ 0.88 + 0.02 = 0.90?  yes -> PASS
//	calibration:            0.0299 < 0.03?             yes -> PASS
//	HR@3 vs oracle:         0.74 ≥ 0.90·0.82 = 0.738?  yes -> PASS
//	HR@3 vs baselines:      0.74 ≥ 0.71 + 0.05 = 0.76? no  -> FAIL
func evalHandReport() *Report {
	nan := Num(math.NaN())
	tiers := func(m ChurnMetrics) []ChurnMetrics {
		out := make([]ChurnMetrics, 3)
		for i, t := range reportTiers {
			out[i] = m
			out[i].Tier = t.String()
		}
		return out
	}
	ntiers := func(m RankMetrics) []RankMetrics {
		out := make([]RankMetrics, 3)
		for i, t := range reportTiers {
			out[i] = m
			out[i].Tier = t.String()
		}
		return out
	}
	cm := func(auc, ece Num) ChurnMetrics {
		return ChurnMetrics{N: 1000, Positives: 70, BaseRate: 0.07, ROCAUC: auc, PRAUC: 0.4, Brier: 0.05, ECE: ece, PrecisionTop10: 0.35, LiftTop10: 5}
	}
	rm := func(hr3 Num) RankMetrics { return RankMetrics{N: 800, HR1: 0.4, HR3: hr3, MRR: 0.6, NDCG5: 0.65} }
	churn := []ChurnResult{
		{Method: MethodModel, Probabilistic: true, All: cm(0.93, 0.0299), Tiers: tiers(cm(0.93, 0.0299))},
		{Method: MethodLogistic, Probabilistic: true, All: cm(0.88, 0.015), Tiers: tiers(cm(0.88, 0.015))},
		{Method: MethodRecency, All: cm(0.85, nan), Tiers: tiers(cm(0.85, nan))},
		{Method: MethodOracle, Probabilistic: true, All: cm(0.96, 0.004), Tiers: tiers(cm(0.96, 0.004))},
	}
	next := []NextResult{
		{Method: MethodModel, All: rm(0.74), Tiers: ntiers(rm(0.74))},
		{Method: MethodMostFrequent, All: rm(0.71), Tiers: ntiers(rm(0.71))},
		{Method: MethodPopularity, All: rm(0.47), Tiers: ntiers(rm(0.47))},
		{Method: MethodOracle, All: rm(0.80), Tiers: ntiers(rm(0.80))},
	}
	r := &Report{
		Features: "features.rtfs", Truth: "truth.csv", Source: "hand-made", Label: "inactivity", HorizonWeeks: 8,
		Categories:   []string{"a", "b"},
		TestCutoffs:  []time.Time{time.Date(2025, 9, 22, 0, 0, 0, 0, time.UTC)},
		TrainCutoffs: 11,
		Counts:       EvalCounts{Test: 1001, Censored: 1, Churn: 1000, ChurnPositives: 70, Next: 800, TrainChurn: 4000, TrainNext: 3000},
		Churn:        churn, Next: next,
		RecencyFlag:     BinaryRule{N: 1000, Flagged: 10, TruePositives: 2, Positives: 70, Precision: 0.2, Recall: Num(2.0 / 70), FlaggedShare: 0.01},
		RecencyFlagDays: 90,
		Baselines:       BaselineFit{BaseRate: 0.072, Popularity: []float64{0.6, 0.4}, MarkovAlpha: 1, LogisticFeatures: []string{"x"}, LogisticCoef: []float64{0.5}, LogisticIntercept: -2.5, LogisticL2: 1e-4, LogisticRows: 4000, LogisticIterations: 7, LogisticConverged: true},
		Oracle: &OracleReport{TruthRows: 5000, Sims: 200, ChurnMatched: 1000, NextMatched: 800, Churn: churn, Next: next,
			OracleTies: 12, HR3Optimistic: 0.82, ChurnAUCShare: 0.93 / 0.96, HR3Share: 0.74 / 0.82,
			HiddenChurned: 45, HiddenChurnedPositives: 40,
			Hidden: &HiddenBreakdown{NonChurners: 930, IfHiddenKnown: 0.955, Groups: []ChurnGroup{
				{Name: GroupHiddenDebit, Churners: 20, ModelAUC: 0.997, OracleAUC: 1},
				{Name: GroupHiddenMonthly, Churners: 0, ModelAUC: nan, OracleAUC: nan},
				{Name: GroupHiddenOther, Churners: 20, ModelAUC: 0.93, OracleAUC: 1},
				{Name: GroupVisible, Churners: 30, ModelAUC: 0.85, OracleAUC: 0.88},
			}},
			NextByClasses: &ClassesBreakdown{Methods: []string{MethodModel, MethodMostFrequent, MethodOracle}, Bins: []ClassesBin{
				{Lo: 0, Hi: 0, N: 0, HR3: []Num{nan, nan, nan}},
				{Lo: 1, Hi: 5, N: 300, HR3: []Num{0.69, 0.61, 0.82}},
				{Lo: 6, Hi: -1, N: 500, HR3: []Num{0.77, 0.78, 0.82}},
			}}},
		History:   epochPoints([]EpochStats{{Epoch: 1, TrainLoss: 2, ValLoss: 2.1, ValChurnAUC: math.NaN(), Seconds: 3}}),
		NextBlend: &model.NextBlend{A: 0.25, B: 0.75, Column: 3, Examples: 400, LogLossBefore: 1.7, LogLossAfter: 1.65},
		Notes:     []string{"a note"},
	}
	r.bars()
	// Intervals as the bootstrap would give them (hand-made; the margins
	// are the bars' above).
	r.Uncertainty = &Uncertainty{Resamples: 1000, Members: 600, Seed: 0, Level: BootstrapLevel,
		Metrics: []MetricInterval{
			{Method: MethodModel, Metric: "ROC-AUC", Value: 0.93, Lo: 0.91, Hi: 0.95},
			{Method: MethodModel, Metric: "ECE", Value: 0.0299, Lo: 0.0211, Hi: 0.0352},
		},
		Bars: []BarInterval{
			{Name: barChurnOracle, Margin: Num(0.93 - 0.97*0.96), Lo: -0.0212, Hi: 0.0188, PassShare: 0.43},
			{Name: barCalibration, Margin: Num(0.03 - 0.0299), Lo: -0.004, Hi: 0.0031, PassShare: 0.51},
		},
		Comparisons: []Comparison{
			{Candidate: "other.rtmb", Metric: "ROC-AUC", Diff: 0.0031, Lo: -0.0012, Hi: 0.0074, BetterShare: 0.912},
			{Candidate: "other.rtmb", Metric: "HR@3", Diff: -0.0105, Lo: -0.0181, Hi: -0.0032, BetterShare: 0.003},
			{Candidate: "other.rtmb", Metric: "ECE", Diff: nan, Lo: nan, Hi: nan, BetterShare: nan}, // no defined resample
		}}
	r.Candidates = []CandidateInfo{{Name: "other.rtmb", Fingerprint: "sha256:elsewhere"}}
	return r
}

func TestBars(t *testing.T) {
	r := evalHandReport()
	want := []struct {
		status    string
		threshold float64
	}{{BarFail, 0.97 * 0.96}, {BarPass, 0.88 + 0.02}, {BarPass, 0.03}, {BarPass, 0.90 * 0.82}, {BarFail, 0.71 + 0.05}}
	if len(r.Bars) != len(want) {
		t.Fatalf("%d bars, want %d", len(r.Bars), len(want))
	}
	for i, w := range want {
		b := r.Bars[i]
		if b.Status != w.status || math.Abs(float64(b.Threshold)-w.threshold) > 1e-12 {
			t.Errorf("bar %q: %s at threshold %v, want %s at %v (%s)", b.Name, b.Status, b.Threshold, w.status, w.threshold, b.Detail)
		}
	}
}

// TestReportGolden checks the Markdown and text forms of a hand-made
// report against testdata/eval_report.md and eval_report.txt; run with
// -update-eval to rewrite them.
func TestReportGolden(t *testing.T) {
	r := evalHandReport()
	r.Plots = []string{PlotROC}
	// NaN metrics (the recency rule's ECE, a NaN in the history) are null
	// in JSON, not an encoding error.
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js.Bytes(), []byte(`"ValChurnAUC": null`)) {
		t.Errorf("NaN not written as null:\n%s", js.String())
	}
	for _, g := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"eval_report.md", func(b *bytes.Buffer) error { return r.WriteMarkdown(b) }},
		{"eval_report.txt", func(b *bytes.Buffer) error { return r.WriteText(b) }},
	} {
		var got bytes.Buffer
		if err := g.write(&got); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", g.file)
		if *updateEval {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update-eval to create it)", err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s differs from the golden file; run with -update-eval and review the diff:\n%s", g.file, got.String())
		}
	}
}
