package train

import (
	"bufio"
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

// holdoutConfig is the CDNOW protocol's feature config, the same as the
// flags of `make eval-cdnow`: weeks Wednesday to Tuesday from 1997-01-01,
// 39-week sequences and horizon, training cutoffs every 4 weeks from
// 1997-04-16 to 1997-10-01 (the test cutoff), data observed to 1998-07-01,
// 30 % of the customers test and 10 % validation.
func holdoutConfig(t *testing.T) features.Config {
	t.Helper()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	cfg := features.DefaultConfig()
	cfg.TimeZone = ny.String()
	cfg.WeekStart = time.Wednesday
	cfg.Weeks, cfg.HorizonWeeks, cfg.CutoffEveryWeeks = 39, 39, 4
	cfg.FirstCutoff = time.Date(1997, 4, 16, 0, 0, 0, 0, ny)
	cfg.LastCutoff = time.Date(1997, 10, 1, 0, 0, 0, 0, ny)
	cfg.DataEnd = time.Date(1998, 7, 1, 0, 0, 0, 0, ny)
	cfg.Split = features.SplitConfig{Mode: features.SplitModeMember, TestFraction: 0.3, ValidationFraction: 0.1, Seed: 1}
	return cfg
}

// TestHoldoutCDNOWSample runs the whole holdout protocol on the CDNOW 1/10
// sample (import, features, a small 2-epoch LSTM, EvaluateHoldout) and
// checks structural facts against an independent reading of the raw file:
// which customers are test (the member hash), how many of them bought
// nothing in the holdout, BG/NBD fitted on every customer, metrics in
// range. It checks no tuned figure: the numbers are in docs/evaluation.md.
func TestHoldoutCDNOWSample(t *testing.T) {
	src := filepath.Join("..", "..", "shared", "datasets", "cdnow", "CDNOW_sample.txt")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("CDNOW sample not available (%v); it lives in ../shared/datasets/cdnow next to the repository", err)
	}
	cfg := holdoutConfig(t)
	m, err := mapping.Builtin("cdnow_sample")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := mapping.Import(m, []string{src}, dir, nil); err != nil {
		t.Fatal(err)
	}
	fpath := filepath.Join(t.TempDir(), "f.rtfs")
	if _, err := features.BuildDataset(dir, cfg, fpath); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Epochs, o.Hidden, o.BatchSize = 2, 8, 128
	res, err := Train(context.Background(), fpath, &o)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := EvaluateHoldout(context.Background(), fpath, dir, BundlePredictor(res.Bundle), nil)
	if err != nil {
		t.Fatal(err)
	}

	// The raw file, read here without the mapping: columns master id,
	// sample id, yyyymmdd, CDs, dollars.
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bought := map[string]bool{} // customer -> bought in the holdout
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Fields(sc.Text())
		if len(cols) != 5 {
			continue
		}
		id, day := cols[0], cols[2]
		bought[id] = bought[id] || (day >= "19971001" && day <= "19980630")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(bought) != 2357 { // the sample's README
		t.Fatalf("raw file: %d customers, want 2357", len(bought))
	}
	wantTest, wantChurn := 0, 0
	for id, b := range bought {
		if features.MemberSplit(id, &cfg.Split) == features.SplitTest {
			wantTest++
			if !b {
				wantChurn++
			}
		}
	}
	if rep.Test != wantTest || rep.TestPositives != wantChurn {
		t.Errorf("test customers %d with %d churned; the raw file says %d with %d", rep.Test, rep.TestPositives, wantTest, wantChurn)
	}
	if rep.LabelMismatches != 0 {
		t.Errorf("%d labels disagree with the BG/NBD holdout counts", rep.LabelMismatches)
	}
	if rep.BGNBDCustomers != len(bought) {
		t.Errorf("BG/NBD fitted on %d customers, want all %d", rep.BGNBDCustomers, len(bought))
	}
	for _, p := range []float64{rep.BGNBD.R, rep.BGNBD.Alpha, rep.BGNBD.A, rep.BGNBD.B} {
		if !(p > 0) || math.IsInf(p, 0) {
			t.Errorf("BG/NBD parameters %+v", rep.BGNBD)
			break
		}
	}
	// 7 training cutoffs; no test or validation customer among the
	// training customers (their examples are checked by the split test).
	if len(rep.TrainCutoffs) != 7 || rep.TrainExamples == 0 || rep.TrainMembers+rep.ValExamples+rep.Test > len(bought) {
		t.Errorf("training: %d cutoffs, %d examples of %d customers; %d validation, %d test", len(rep.TrainCutoffs), rep.TrainExamples, rep.TrainMembers, rep.ValExamples, rep.Test)
	}
	if len(rep.Rows) != 7 {
		t.Fatalf("%d rows, want 7 (LSTM, 2 BG/NBD, 2 logistic, 2 recency)", len(rep.Rows))
	}
	in01 := func(v Num) bool { return v >= 0 && v <= 1 }
	for _, r := range rep.Rows {
		if r.N != rep.Test || !in01(r.ROCAUC) || !in01(r.PRAUC) {
			t.Errorf("%s: %+v", r.Method, r.ChurnMetrics)
		}
		if r.Probabilistic && (!in01(r.Brier) || !in01(r.ECE)) {
			t.Errorf("%s: Brier %v ECE %v", r.Method, r.Brier, r.ECE)
		}
		if c := float64(r.CountCorr); !math.IsNaN(c) && (c < -1 || c > 1) {
			t.Errorf("%s: correlation %v", r.Method, c)
		}
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + md.String())
}
