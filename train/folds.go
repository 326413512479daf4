package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat"
)

// FoldSummary combines the holdout reports of the K folds of one K-fold
// member split (features.SplitConfig.Folds): per method and metric the mean
// and the sample standard deviation across folds, and every fold's
// numbers. SummarizeFolds checks that the reports are the K folds of one
// split of one data set, that their test customers are disjoint and that
// together they cover every customer.
type FoldSummary struct {
	// Folds is K, SplitSeed the member hash's seed.
	Folds     int
	SplitSeed uint64
	// CalEnd, HoldoutEnd and HorizonWeeks are the common protocol.
	CalEnd, HoldoutEnd time.Time
	HorizonWeeks       int
	// Customers are the customers with a purchase before CalEnd (the
	// BG/NBD cohort), TestCovered the distinct test customers of all folds
	// (equal to Customers: SummarizeFolds fails otherwise), Test and
	// TestPositives their sum over the folds.
	Customers, TestCovered, Test, TestPositives int
	// LabelMismatches is the sum over the folds (0).
	LabelMismatches int
	// BGNBD are the parameters (the same fit in every fold: it reads all
	// customers' calibration periods and no split).
	BGNBD BGNBDParams
	// Rows has one row per method, in the reports' order.
	Rows []FoldRow
	// Paired compares the first method (the model, when the folds were
	// evaluated with one) with each other probabilistic method fold by
	// fold.
	Paired []FoldPair
	// PerFold are the folds' summaries, by fold.
	PerFold []FoldResult
}

// FoldStat is the mean and sample standard deviation (n − 1) of one metric
// across folds; NaN where a fold has none.
type FoldStat struct{ Mean, SD Num }

// FoldRow is one method's metrics across folds.
type FoldRow struct {
	Method                               string
	Probabilistic                        bool
	ROCAUC, PRAUC, Brier, ECE, CountCorr FoldStat
}

// FoldPair is the per-fold difference Method − Against of ROC-AUC, Brier
// and ECE (mean and sd across folds), and in how many folds Method has the
// higher ROC-AUC.
type FoldPair struct {
	Method, Against    string
	ROCAUC, Brier, ECE FoldStat
	AUCWins            int
}

// FoldResult is one fold's report, without its test ids and notes.
type FoldResult struct {
	Fold, Test, TestPositives, TrainExamples, TrainMembers, ValExamples, LabelMismatches int
	Seconds                                                                              float64
	Rows                                                                                 []HoldoutRow
}

// SummarizeFolds combines the reports of the folds 0 .. K−1 of one K-fold
// split, in any order.
func SummarizeFolds(reps []*HoldoutReport) (*FoldSummary, error) {
	if len(reps) == 0 {
		return nil, errors.New("train: no fold reports")
	}
	first := reps[0]
	k := first.Folds
	if k < 2 {
		return nil, fmt.Errorf("train: %s is not a K-fold report (built without --folds)", first.Features)
	}
	if len(reps) != k {
		return nil, fmt.Errorf("train: %d fold reports for a %d-fold split", len(reps), k)
	}
	byFold := make([]*HoldoutReport, k)
	for _, r := range reps {
		switch {
		case r.Folds != k || r.SplitSeed != first.SplitSeed:
			return nil, fmt.Errorf("train: %s is fold %d of %d with seed %d; %s is of %d with seed %d", r.Features, r.Fold, r.Folds, r.SplitSeed, first.Features, k, first.SplitSeed)
		case r.Fold < 0 || r.Fold >= k:
			return nil, fmt.Errorf("train: %s: fold %d out of 0 .. %d", r.Features, r.Fold, k-1)
		case byFold[r.Fold] != nil:
			return nil, fmt.Errorf("train: fold %d twice (%s, %s)", r.Fold, byFold[r.Fold].Features, r.Features)
		case !r.CalEnd.Equal(first.CalEnd) || r.HorizonWeeks != first.HorizonWeeks || r.BGNBDCustomers != first.BGNBDCustomers:
			return nil, fmt.Errorf("train: %s (cutoff %s, horizon %d, %d customers) and %s (%s, %d, %d) are not the same protocol on the same data",
				r.Features, r.CalEnd.Format(time.DateOnly), r.HorizonWeeks, r.BGNBDCustomers, first.Features, first.CalEnd.Format(time.DateOnly), first.HorizonWeeks, first.BGNBDCustomers)
		case len(r.TestIDs) != r.Test:
			return nil, fmt.Errorf("train: %s lists %d test ids for %d test customers", r.Features, len(r.TestIDs), r.Test)
		case len(r.Rows) != len(first.Rows):
			return nil, fmt.Errorf("train: %s has %d methods, %s %d (evaluate every fold with or every fold without --model)", r.Features, len(r.Rows), first.Features, len(first.Rows))
		}
		for i := range r.Rows {
			if r.Rows[i].Method != first.Rows[i].Method {
				return nil, fmt.Errorf("train: method %d is %q in %s, %q in %s", i, r.Rows[i].Method, r.Features, first.Rows[i].Method, first.Features)
			}
		}
		byFold[r.Fold] = r
	}
	s := &FoldSummary{
		Folds: k, SplitSeed: first.SplitSeed,
		CalEnd: first.CalEnd, HoldoutEnd: first.HoldoutEnd, HorizonWeeks: first.HorizonWeeks,
		Customers: first.BGNBDCustomers, BGNBD: first.BGNBD,
	}
	seen := make(map[string]int, first.BGNBDCustomers)
	for _, r := range byFold {
		for _, id := range r.TestIDs {
			if f, ok := seen[id]; ok {
				return nil, fmt.Errorf("train: customer %s is a test customer of folds %d and %d", id, f, r.Fold)
			}
			seen[id] = r.Fold
		}
		s.Test += r.Test
		s.TestPositives += r.TestPositives
		s.LabelMismatches += r.LabelMismatches
		s.PerFold = append(s.PerFold, FoldResult{
			Fold: r.Fold, Test: r.Test, TestPositives: r.TestPositives, TrainExamples: r.TrainExamples,
			TrainMembers: r.TrainMembers, ValExamples: r.ValExamples, LabelMismatches: r.LabelMismatches,
			Seconds: r.Seconds, Rows: r.Rows,
		})
	}
	s.TestCovered = len(seen)
	// Every test id is a customer of the cohort (EvaluateHoldout fails
	// otherwise), so equal counts mean the folds cover the cohort.
	if s.TestCovered != s.Customers {
		return nil, fmt.Errorf("train: the %d folds' test customers are %d of the %d customers: the folds do not cover every customer (were some dropped from the training file?)", k, s.TestCovered, s.Customers)
	}
	for i, row := range first.Rows {
		var auc, pr, brier, ece, corr []float64
		for _, r := range byFold {
			m := r.Rows[i]
			auc = append(auc, float64(m.ROCAUC))
			pr = append(pr, float64(m.PRAUC))
			brier = append(brier, float64(m.Brier))
			ece = append(ece, float64(m.ECE))
			corr = append(corr, float64(m.CountCorr))
		}
		s.Rows = append(s.Rows, FoldRow{
			Method: row.Method, Probabilistic: row.Probabilistic,
			ROCAUC: foldStat(auc), PRAUC: foldStat(pr), Brier: foldStat(brier), ECE: foldStat(ece), CountCorr: foldStat(corr),
		})
	}
	for j := 1; j < len(first.Rows); j++ {
		if !first.Rows[0].Probabilistic || !first.Rows[j].Probabilistic {
			continue
		}
		p := FoldPair{Method: first.Rows[0].Method, Against: first.Rows[j].Method}
		var auc, brier, ece []float64
		for _, r := range byFold {
			a, b := r.Rows[0], r.Rows[j]
			auc = append(auc, float64(a.ROCAUC-b.ROCAUC))
			brier = append(brier, float64(a.Brier-b.Brier))
			ece = append(ece, float64(a.ECE-b.ECE))
			if a.ROCAUC > b.ROCAUC {
				p.AUCWins++
			}
		}
		p.ROCAUC, p.Brier, p.ECE = foldStat(auc), foldStat(brier), foldStat(ece)
		s.Paired = append(s.Paired, p)
	}
	return s, nil
}

// foldStat is the mean and sample standard deviation of v; NaN if any
// value is NaN.
func foldStat(v []float64) FoldStat {
	m, sd := stat.MeanStdDev(v, nil)
	if len(v) < 2 {
		sd = math.NaN()
	}
	return FoldStat{Mean: Num(m), SD: Num(sd)}
}

// ReadHoldoutReport reads a holdout.json written by HoldoutReport.WriteDir.
func ReadHoldoutReport(path string) (*HoldoutReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var r HoldoutReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return &r, nil
}

// FoldsReportFile and FoldsJSONFile are the files FoldSummary.WriteDir
// writes.
const (
	FoldsReportFile = "folds.md"
	FoldsJSONFile   = "folds.json"
)

// WriteDir writes the summary as Markdown and JSON into dir.
func (s *FoldSummary) WriteDir(dir string) error {
	return writeMarkdownJSON(dir, FoldsReportFile, FoldsJSONFile, s, s.WriteMarkdown)
}

// WriteMarkdown writes the mean ± sd table, the per-fold ROC-AUC and the
// checks.
func (s *FoldSummary) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d-fold holdout protocol (seed %d): calibration before %s, holdout %s .. %s (%d weeks), churn = no purchase in the holdout.\n\n",
		s.Folds, s.SplitSeed, s.CalEnd.Format(time.DateOnly), s.CalEnd.Format(time.DateOnly), s.HoldoutEnd.AddDate(0, 0, -1).Format(time.DateOnly), s.HorizonWeeks)
	fmt.Fprintf(&b, "Folds disjoint and covering: %d test customers in all, %d distinct, of %d customers; %d churned (%.3f); label mismatches %d.\n\n",
		s.Test, s.TestCovered, s.Customers, s.TestPositives, safeRatio(s.TestPositives, s.Test), s.LabelMismatches)
	pm := func(st FoldStat) string {
		if math.IsNaN(float64(st.Mean)) {
			return "—"
		}
		return fmt.Sprintf("%.3f ± %.3f", float64(st.Mean), float64(st.SD))
	}
	b.WriteString("Mean ± sd across folds:\n\n| method | ROC-AUC | PR-AUC | Brier | ECE | r(count) |\n|---|---|---|---|---|---|\n")
	for _, r := range s.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Method, pm(r.ROCAUC), pm(r.PRAUC), pm(r.Brier), pm(r.ECE), pm(r.CountCorr))
	}
	if len(s.Paired) > 0 {
		b.WriteString("\nPaired differences, fold by fold (mean ± sd of the difference; AUC wins: folds with the higher ROC-AUC):\n\n| difference | ROC-AUC | Brier | ECE | AUC wins |\n|---|---|---|---|---|\n")
		sg := func(st FoldStat) string { return fmt.Sprintf("%+.3f ± %.3f", float64(st.Mean), float64(st.SD)) }
		for _, p := range s.Paired {
			fmt.Fprintf(&b, "| %s − %s | %s | %s | %s | %d of %d |\n", p.Method, p.Against, sg(p.ROCAUC), sg(p.Brier), sg(p.ECE), p.AUCWins, s.Folds)
		}
	}
	b.WriteString("\nROC-AUC by fold:\n\n| method |")
	for _, f := range s.PerFold {
		fmt.Fprintf(&b, " fold %d |", f.Fold)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(s.PerFold)) + "\n")
	for i, r := range s.Rows {
		fmt.Fprintf(&b, "| %s |", r.Method)
		for _, f := range s.PerFold {
			fmt.Fprintf(&b, " %.3f |", float64(f.Rows[i].ROCAUC))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n| fold | test | churned | training examples (customers) | validation |\n|---|---|---|---|---|\n")
	for _, f := range s.PerFold {
		fmt.Fprintf(&b, "| %d | %d | %d | %d (%d) | %d |\n", f.Fold, f.Test, f.TestPositives, f.TrainExamples, f.TrainMembers, f.ValExamples)
	}
	fmt.Fprintf(&b, "\nBG/NBD (fitted on all customers' calibration periods, the same in every fold): r %.4f, alpha %.4f, a %.4f, b %.4f.\n",
		s.BGNBD.R, s.BGNBD.Alpha, s.BGNBD.A, s.BGNBD.B)
	_, err := io.WriteString(w, b.String())
	return err
}
