package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat"

	"retain/datasets"
	"retain/features"
	"retain/features/btyd"
)

// The CDNOW protocol (docs/evaluation.md, "Real data: CDNOW"): the standard
// calibration/holdout split of Fader, Hardie & Lee (2005) — weeks 1-39
// (1997-01-01 .. 1997-09-30) calibration, weeks 40-78 (1997-10-01 ..
// 1998-06-30) holdout — with churn = no purchase in the holdout, and a
// split of the customers: the test customers are a seeded hash share of all
// customers (features.SplitModeMember), or one of K hashed folds
// (SplitConfig.Folds; SummarizeFolds combines the K reports), scored at the
// one cutoff that starts the holdout. Every method is measured on the same
// test customers.

// HoldoutReport is the result of EvaluateHoldout.
type HoldoutReport struct {
	// Features is the training file, Data the dataset directory whose
	// transactions BG/NBD reads.
	Features, Data string
	// CalEnd is the test cutoff (the end of calibration, exclusive) and
	// HoldoutEnd the end of the label horizon (exclusive); HorizonWeeks
	// the horizon.
	CalEnd, HoldoutEnd time.Time
	HorizonWeeks       int
	// SplitSeed, TestFraction and ValidationFraction are the member
	// split's settings (features.SplitConfig).
	SplitSeed                        uint64
	TestFraction, ValidationFraction float64
	// Folds and Fold are the K-fold settings (features.SplitConfig; Folds
	// 0: one TestFraction share, no folds).
	Folds, Fold int
	// TrainCutoffs are the cutoffs at which the training customers have
	// examples (the last one is CalEnd).
	TrainCutoffs []time.Time
	// TrainExamples, TrainMembers: churn-labelled training examples (the
	// logistic regressions are fitted on them) and their distinct
	// customers; ValExamples the validation customers' examples (at
	// CalEnd).
	TrainExamples, TrainMembers, ValExamples int
	// Test is the number of test customers scored, TestPositives those
	// who made no purchase in the holdout; TestIDs their ids, sorted (the
	// fold summary checks with them that folds are disjoint and cover
	// every customer).
	Test, TestPositives int
	TestIDs             []string
	// LabelMismatches counts test customers whose features label (no visit
	// and no payment in the horizon) disagrees with btyd.Summarize's
	// independent holdout count (churn ⇔ HoldoutX = 0). It must be 0.
	LabelMismatches int
	// BGNBD are the fitted parameters, BGNBDCustomers the customers they
	// were fitted on (all customers' calibration periods).
	BGNBD          BGNBDParams
	BGNBDCustomers int
	// Rows has one row per method, Notes the conventions.
	Rows  []HoldoutRow
	Notes []string
	// Seconds is the evaluation's run time.
	Seconds float64
}

// BGNBDParams are the four BG/NBD parameters.
type BGNBDParams struct {
	R, Alpha, A, B float64
	LogLik         float64
}

// HoldoutRow is one method's churn metrics on the test customers, and the
// Pearson correlation of its holdout-count prediction (or activity score)
// with the actual holdout transaction counts (NaN when it has none).
type HoldoutRow struct {
	Method string
	// Probabilistic is false for a score that is not a probability of
	// churn (no Brier, no ECE).
	Probabilistic bool
	ChurnMetrics
	CountCorr Num
	// CountNote says what CountCorr correlates.
	CountNote string `json:",omitempty"`
}

// HoldoutOptions tunes EvaluateHoldout. A nil *HoldoutOptions means
// defaults.
type HoldoutOptions struct {
	// Logistic tunes both logistic regressions.
	Logistic *LogisticOptions
	// BGNBD tunes the BG/NBD fit.
	BGNBD *btyd.FitOptions
}

// EvaluateHoldout runs the CDNOW protocol on the training file
// featuresPath, which must use the member split (features.SplitModeMember),
// and the dataset directory dataDir it was built from. m is the model (nil:
// baselines only). The test customers are the test-split examples, all at
// the file's last cutoff, which is the end of calibration; the holdout is
// the label horizon after it.
//
// Methods: the model; logistic regression on the indicators and RFM, and
// on RFM alone, both fitted on the training customers' examples; the
// 90-days-absent rule (Flags.CallbackDays) and recency in days as a score;
// BG/NBD fitted on the calibration period of all customers (it reads no
// label and no holdout purchase), as P(no purchase in the horizon) and as
// 1 − P(alive).
func EvaluateHoldout(ctx context.Context, featuresPath, dataDir string, m Predictor, opts *HoldoutOptions) (*HoldoutReport, error) {
	began := time.Now()
	var o HoldoutOptions
	if opts != nil {
		o = *opts
	}
	fr, err := features.OpenFile(featuresPath)
	if err != nil {
		return nil, err
	}
	defer fr.Close()
	hdr := fr.Header()
	spec := &hdr.Spec
	cfg := spec.Config
	if cfg.Split.Mode != features.SplitModeMember {
		return nil, fmt.Errorf("train: %s is split by %q; the holdout protocol needs the member split (retain features --split member)", featuresPath, splitMode(cfg.Split.Mode))
	}
	if len(hdr.Cutoffs) == 0 {
		return nil, fmt.Errorf("train: %s has no cutoffs", featuresPath)
	}
	rep := &HoldoutReport{
		Features: featuresPath, Data: dataDir,
		CalEnd:       hdr.Cutoffs[len(hdr.Cutoffs)-1],
		HorizonWeeks: cfg.HorizonWeeks,
		SplitSeed:    cfg.Split.Seed, TestFraction: cfg.Split.TestFraction, ValidationFraction: cfg.Split.ValidationFraction,
		Folds: cfg.Split.Folds, Fold: cfg.Split.Fold,
		TrainCutoffs: hdr.Cutoffs,
	}
	rep.HoldoutEnd = rep.CalEnd.AddDate(0, 0, 7*cfg.HorizonWeeks)
	if hdr.DataEnd.Before(rep.HoldoutEnd) {
		return nil, fmt.Errorf("train: %s: data end %s is before the end of the holdout %s", featuresPath, hdr.DataEnd.Format(time.DateOnly), rep.HoldoutEnd.Format(time.DateOnly))
	}
	minor := spec.Config.Values.MinorUnits

	// One pass: training rows for the logistic regressions, test rows.
	var xFull, xRFM [][]float64
	var yTrain []bool
	trainMembers := map[string]bool{}
	type testRow struct {
		id       string
		churn    bool
		model    float64
		full     []float64
		rfm      []float64
		recency  float64
		flag     bool
		excluded bool
	}
	var test []testRow
	var ex, clone features.Example // clone: Predict may standardise its input in place
	for i := 0; ; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		err := fr.Next(&ex)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("train: read %s: %w", featuresPath, err)
		}
		usable := !ex.Label.Excluded && !ex.Label.Censored && ex.Label.Churn >= 0
		switch ex.Split {
		case features.SplitTrain:
			if usable {
				xFull = append(xFull, churnFeatures(&ex.Indicators, minor, nil))
				xRFM = append(xRFM, rfmFeatures(&ex.Indicators, minor))
				yTrain = append(yTrain, ex.Label.Churn == 1)
				trainMembers[ex.MemberID] = true
			}
		case features.SplitValidation:
			rep.ValExamples++
		case features.SplitTest:
			if !ex.Cutoff.Equal(rep.CalEnd) {
				return nil, fmt.Errorf("train: %s: test example of %s at %s, not at the last cutoff %s", featuresPath, ex.MemberID, ex.Cutoff.Format(time.DateOnly), rep.CalEnd.Format(time.DateOnly))
			}
			if !usable {
				return nil, fmt.Errorf("train: %s: test customer %s has no churn label (excluded %v, censored %v)", featuresPath, ex.MemberID, ex.Label.Excluded, ex.Label.Censored)
			}
			r := testRow{
				id: ex.MemberID, churn: ex.Label.Churn == 1,
				full:    churnFeatures(&ex.Indicators, minor, nil),
				rfm:     rfmFeatures(&ex.Indicators, minor),
				recency: float64(ex.Indicators.RecencyDays),
				flag:    ex.Indicators.RecencyDays >= cfg.Flags.CallbackDays,
			}
			if m != nil {
				cloneExample(&clone, &ex)
				r.model, _ = m.Predict(&clone)
			}
			test = append(test, r)
		}
	}
	rep.TrainExamples, rep.TrainMembers, rep.Test = len(yTrain), len(trainMembers), len(test)
	rep.TestIDs = make([]string, len(test))
	for i := range test {
		rep.TestIDs[i] = test[i].id
	}
	slices.Sort(rep.TestIDs)
	if len(test) == 0 {
		return nil, fmt.Errorf("train: %s has no test customers", featuresPath)
	}
	lrFull, err := FitLogistic(xFull, yTrain, o.Logistic)
	if err != nil {
		return nil, fmt.Errorf("train: logistic regression (indicators + RFM): %w", err)
	}
	lrRFM, err := FitLogistic(xRFM, yTrain, o.Logistic)
	if err != nil {
		return nil, fmt.Errorf("train: logistic regression (RFM): %w", err)
	}

	// BG/NBD on every customer's calibration period.
	txs, err := readTransactions(dataDir)
	if err != nil {
		return nil, err
	}
	cs, err := btyd.Summarize(txs, rep.CalEnd, rep.HoldoutEnd)
	if err != nil {
		return nil, fmt.Errorf("train: BG/NBD summary of %s: %w", dataDir, err)
	}
	bg, err := btyd.FitBGNBD(cs, o.BGNBD)
	if err != nil {
		return nil, fmt.Errorf("train: BG/NBD fit: %w", err)
	}
	rep.BGNBDCustomers = len(cs)
	rep.BGNBD = BGNBDParams{R: bg.R, Alpha: bg.Alpha, A: bg.A, B: bg.B, LogLik: bg.LogLik}
	byID := make(map[string]*btyd.Customer, len(cs))
	for i := range cs {
		byID[cs[i].ID] = &cs[i]
	}

	n := len(test)
	labels := make([]bool, n)
	count := make([]float64, n)
	sModel, sFull, sRFM, sRec, sFlag := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	sNoBuy, sDead, eCount := make([]float64, n), make([]float64, n), make([]float64, n)
	t := float64(cfg.HorizonWeeks)
	for i, r := range test {
		c := byID[r.id]
		if c == nil {
			return nil, fmt.Errorf("train: test customer %s has no purchase before %s in %s", r.id, rep.CalEnd.Format(time.DateOnly), dataDir)
		}
		labels[i] = r.churn
		if r.churn {
			rep.TestPositives++
		}
		if r.churn != (c.HoldoutX == 0) {
			rep.LabelMismatches++
		}
		count[i] = c.HoldoutX
		sModel[i] = r.model
		sFull[i] = lrFull.Prob(r.full)
		sRFM[i] = lrRFM.Prob(r.rfm)
		sRec[i] = r.recency
		sFlag[i] = oneIf(r.flag)
		sNoBuy[i] = bg.ProbNoPurchase(t, c.X, c.TX, c.T)
		sDead[i] = 1 - bg.PAlive(c.X, c.TX, c.T)
		eCount[i] = bg.ExpectedPurchases(t, c.X, c.TX, c.T)
	}
	neg := func(s []float64) []float64 {
		out := make([]float64, len(s))
		for i, v := range s {
			out[i] = 1 - v
		}
		return out
	}
	row := func(method string, s []float64, prob bool, corr float64, note string) HoldoutRow {
		return HoldoutRow{Method: method, Probabilistic: prob, ChurnMetrics: ChurnSummary(s, labels, prob), CountCorr: Num(corr), CountNote: note}
	}
	nan := math.NaN()
	activity := "1 − P(churn) (no count head; a linear count fit on it has the same Pearson r)"
	if m != nil {
		rep.Rows = append(rep.Rows, row("LSTM (calibrated)", sModel, true, pearson(neg(sModel), count), activity))
	}
	rep.Rows = append(rep.Rows,
		row("BG/NBD P(no purchase in horizon)", sNoBuy, true, pearson(eCount, count), "E[holdout purchases]"),
		row("BG/NBD 1 − P(alive)", sDead, true, pearson(eCount, count), "E[holdout purchases]"),
		row("logistic regression (indicators + RFM)", sFull, true, pearson(neg(sFull), count), activity),
		row("logistic regression (RFM)", sRFM, true, pearson(neg(sRFM), count), activity),
		row(fmt.Sprintf("rule: %d days absent", cfg.Flags.CallbackDays), sFlag, false, nan, ""),
		row("recency in days (score)", sRec, false, nan, ""),
	)
	// The paper's figure is over the whole cohort: add it as a note.
	allPred, allCount := make([]float64, len(cs)), make([]float64, len(cs))
	for i := range cs {
		c := &cs[i]
		allPred[i], allCount[i] = bg.ExpectedPurchases(t, c.X, c.TX, c.T), c.HoldoutX
	}
	rep.Notes = append(rep.Notes,
		fmt.Sprintf("BG/NBD is fitted on the calibration period (purchases before %s) of all %d customers, as in Fader, Hardie & Lee (2005); it reads no label and no holdout purchase. Its parameters: r %.4f, alpha %.4f, a %.4f, b %.4f.",
			rep.CalEnd.Format(time.DateOnly), len(cs), bg.R, bg.Alpha, bg.A, bg.B),
		fmt.Sprintf("Correlation of BG/NBD's expected and the actual holdout purchases over all %d customers: %.3f (on the test customers: see the table).", len(cs), pearson(allPred, allCount)),
		"The LSTM and the logistic regressions are trained on the training customers' examples at every training cutoff; their labels look at those customers' purchases up to the end of the horizon, which overlaps the test customers' holdout in time. No purchase, label or feature of a test customer after the cutoff is read by any method; what the supervised methods share with the test period is the time (a common shock, e.g. the season, is learnt from other customers), which BG/NBD cannot use.",
		"A transaction for the count correlation is a purchase day (btyd.Summarize); the churn label is no purchase in the horizon, which is HoldoutX = 0 (LabelMismatches counts disagreements).",
	)
	if rep.LabelMismatches > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("WARNING: %d test labels disagree with the holdout counts.", rep.LabelMismatches))
	}
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

func splitMode(s string) string {
	if s == "" {
		return features.SplitModeTime
	}
	return s
}

// rfmFeatures are the logistic regression's RFM inputs: log1p of recency
// (days), frequency (visits in 52 weeks) and monetary (net spend in 52
// weeks, major units, clamped at 0).
func rfmFeatures(in *features.Indicators, minorUnits int) []float64 {
	money := math.Max(float64(in.Monetary), 0) / math.Pow10(minorUnits)
	return []float64{
		math.Log1p(float64(max(in.RecencyDays, 0))),
		math.Log1p(float64(max(in.Frequency, 0))),
		math.Log1p(money),
	}
}

// readTransactions reads the transactions table of the dataset directory.
func readTransactions(dir string) ([]datasets.Transaction, error) {
	d, err := datasets.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	p, err := d.Path(datasets.TableTransactions)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	txs, err := datasets.ReadAll[datasets.Transaction](p)
	if err != nil {
		return nil, fmt.Errorf("train: read %s: %w", p, err)
	}
	return txs, nil
}

// pearson is the Pearson correlation of a and b; NaN when either is
// constant or both are empty.
func pearson(a, b []float64) float64 {
	mustSameLen(len(a), len(b))
	if len(a) == 0 {
		return math.NaN()
	}
	return stat.Correlation(a, b, nil)
}

// HoldoutReportFile and HoldoutJSONFile are the files WriteDir writes.
const (
	HoldoutReportFile = "holdout.md"
	HoldoutJSONFile   = "holdout.json"
)

// WriteDir writes the report as Markdown and JSON into dir.
func (r *HoldoutReport) WriteDir(dir string) error {
	return writeMarkdownJSON(dir, HoldoutReportFile, HoldoutJSONFile, r, r.WriteMarkdown)
}

// writeMarkdownJSON writes the Markdown that md gives into dir/mdName and
// v as indented JSON into dir/jsonName, creating dir.
func writeMarkdownJSON(dir, mdName, jsonName string, v any, md func(io.Writer) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	var b strings.Builder
	if err := md(&b); err != nil {
		return err
	}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, mdName), []byte(b.String()), 0o644),
		os.WriteFile(filepath.Join(dir, jsonName), append(js, '\n'), 0o644))
}

// WriteMarkdown writes the report's table and notes.
func (r *HoldoutReport) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Holdout protocol: calibration before %s, holdout %s .. %s (%d weeks), churn = no purchase in the holdout.\n\n",
		r.CalEnd.Format(time.DateOnly), r.CalEnd.Format(time.DateOnly), r.HoldoutEnd.AddDate(0, 0, -1).Format(time.DateOnly), r.HorizonWeeks)
	if r.Folds > 0 {
		fmt.Fprintf(&b, "Customers split by a hash of the id (seed %d) into %d folds: fold %d is the test, validation %.0f %% of all customers from the other folds. Test:",
			r.SplitSeed, r.Folds, r.Fold, 100*r.ValidationFraction)
	} else {
		fmt.Fprintf(&b, "Customers split by a hash of the id (seed %d): test %.0f %%, validation %.0f %%. Test:", r.SplitSeed, 100*r.TestFraction, 100*r.ValidationFraction)
	}
	fmt.Fprintf(&b, " %d customers at %s, %d churned (%.3f); label mismatches against the holdout counts: %d. Training: %d examples of %d customers at %d cutoffs (%s .. %s); validation %d examples.\n\n",
		r.Test, r.CalEnd.Format(time.DateOnly), r.TestPositives,
		safeRatio(r.TestPositives, r.Test), r.LabelMismatches, r.TrainExamples, r.TrainMembers, len(r.TrainCutoffs),
		r.TrainCutoffs[0].Format(time.DateOnly), r.TrainCutoffs[len(r.TrainCutoffs)-1].Format(time.DateOnly), r.ValExamples)
	b.WriteString("| method | ROC-AUC | PR-AUC | Brier | ECE | r(count) |\n|---|---|---|---|---|---|\n")
	f := func(v Num) string {
		if math.IsNaN(float64(v)) {
			return "—"
		}
		return fmt.Sprintf("%.3f", float64(v))
	}
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", row.Method, f(row.ROCAUC), f(row.PRAUC), f(row.Brier), f(row.ECE), f(row.CountCorr))
	}
	b.WriteString("\nr(count): Pearson correlation with the actual holdout purchase days; ")
	b.WriteString("for BG/NBD of its expected purchases, for the LSTM and the regressions of 1 − P(churn) (they have no count head). PR-AUC is the average precision for churn = 1.\n\n")
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	fmt.Fprintf(&b, "\nevaluated in %.1fs\n", r.Seconds)
	_, err := io.WriteString(w, b.String())
	return err
}
