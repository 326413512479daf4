package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Report output names in the directory of WriteDir.
const (
	ReportMarkdown = "report.md"
	ReportJSON     = "report.json"
)

// WriteDir writes the report into dir (created if needed): the plots
// (WritePlots), report.md and report.json.
func (r *Report) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if _, err := r.WritePlots(dir); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{ReportMarkdown, r.WriteMarkdown}, {ReportJSON, r.WriteJSON}} {
		if err := writeFileWith(filepath.Join(dir, f.name), f.write); err != nil {
			return err
		}
	}
	return nil
}

// writeFileWith writes path through write, atomically.
func writeFileWith(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	w := bufio.NewWriter(tmp)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("train: write %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes every number of the report as indented JSON; undefined
// values (NaN) are null.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("train: encode report: %w", err)
	}
	return nil
}

// fmtNum formats a metric with 4 decimals; NaN is "–".
func fmtNum(v Num) string {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return "–"
	}
	return fmt.Sprintf("%.4f", float64(v))
}

// fmtShare formats a share as a percentage with one decimal.
func fmtShare(v Num) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(v))
}

// table collects rows and writes them as a Markdown table or as aligned
// plain text.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) markdown(w io.Writer) {
	fmt.Fprintf(w, "| %s |\n|", strings.Join(t.head, " | "))
	for range t.head {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

func (t *table) text(w io.Writer) {
	width := make([]int, len(t.head))
	for i, h := range t.head {
		width[i] = len([]rune(h))
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	// Numbers are right-aligned, words left-aligned; the last column
	// gets no trailing blanks.
	right := make([]bool, len(t.head)) // headers follow their column
	if len(t.rows) > 0 {
		for i, c := range t.rows[0] {
			right[i] = isNumeric(c)
		}
	}
	line := func(cells []string, head bool) {
		var b strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i > 0 {
				b.WriteString("  ")
			}
			if head && right[i] || !head && isNumeric(c) {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(t.head, true)
	for _, r := range t.rows {
		line(r, false)
	}
}

// isNumeric reports whether a table cell is a number (or "–", an undefined
// one).
func isNumeric(c string) bool {
	if c == "–" {
		return true
	}
	_, err := strconv.ParseFloat(strings.TrimSuffix(c, " %"), 64)
	return err == nil
}

func churnTable(rows []ChurnResult, tier int) *table {
	t := &table{head: []string{"method", "N", "churners", "ROC-AUC", "PR-AUC", "Brier", "ECE", "precision top 10 %", "lift top 10 %"}}
	for _, c := range rows {
		m := c.All
		if tier >= 0 {
			m = c.Tiers[tier]
		}
		t.add(c.Method, fmt.Sprint(m.N), fmt.Sprint(m.Positives), fmtNum(m.ROCAUC), fmtNum(m.PRAUC), fmtNum(m.Brier),
			fmtNum(m.ECE), fmtNum(m.PrecisionTop10), fmtNum(m.LiftTop10))
	}
	return t
}

func nextTable(rows []NextResult, tier int) *table {
	t := &table{head: []string{"method", "N", "HR@1", "HR@3", "MRR", "NDCG@5"}}
	for _, n := range rows {
		m := n.All
		if tier >= 0 {
			m = n.Tiers[tier]
		}
		t.add(n.Method, fmt.Sprint(m.N), fmtNum(m.HR1), fmtNum(m.HR3), fmtNum(m.MRR), fmtNum(m.NDCG5))
	}
	return t
}

func (r *Report) barTable() *table {
	t := &table{head: []string{"bar", "rule", "value", "threshold", "status", "numbers"}}
	for _, b := range r.Bars {
		t.add(b.Name, b.Rule, fmtNum(b.Value), fmtNum(b.Threshold), b.Status, b.Detail)
	}
	return t
}

// barTable is the margins of the bars with their intervals.
func (u *Uncertainty) barTable() *table {
	t := &table{head: []string{"bar", "margin", "interval", "resamples passing"}}
	for _, b := range u.Bars {
		t.add(b.Name, fmtSigned(b.Margin), interval(fmtSigned, b.Lo, b.Hi), fmtShare(b.PassShare))
	}
	return t
}

// comparisonTable is the candidates' differences from the model.
func (u *Uncertainty) comparisonTable() *table {
	t := &table{head: []string{"model", "metric", "difference", "interval", "resamples better"}}
	for _, c := range u.Comparisons {
		t.add(c.Candidate, c.Metric, fmtSigned(c.Diff), interval(fmtSigned, c.Lo, c.Hi), fmtShare(c.BetterShare))
	}
	return t
}

// writeMarkdown writes the Uncertainty section of the Markdown report.
func (u *Uncertainty) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## Uncertainty\n\n"+
		"Member bootstrap (docs/evaluation.md): %d resamples of the %d test members, each drawn member with all of its test examples, seed %d; "+
		"every figure and bar recomputed on each resample, %s percentile intervals (basic bootstrap intervals for ECE, which resampling biases upward).\n\n",
		u.Resamples, u.Members, u.Seed, fmtShare(Num(u.Level)))
	if len(u.Bars) > 0 {
		fmt.Fprintf(w, "Margin past each bar (value − threshold; for calibration threshold − value): "+
			"an interval wholly below 0 is a miss larger than the test split's sampling noise.\n\n")
		u.barTable().markdown(w)
	}
	if len(u.Comparisons) > 0 {
		fmt.Fprintf(w, "The other models against the model, paired on the same resampled members: "+
			"difference (theirs − the model's), its interval, and the share of resamples in which the other model is better "+
			"(higher ROC-AUC or HR@3, lower ECE). An interval that excludes 0 is a difference larger than the test split's sampling noise.\n\n")
		u.comparisonTable().markdown(w)
	}
	t := &table{head: []string{"method", "metric", "value", "interval"}}
	for _, m := range u.Metrics {
		t.add(m.Method, m.Metric, fmtNum(m.Value), interval(fmtNum, m.Lo, m.Hi))
	}
	t.markdown(w)
}

// interval formats [lo, hi] with f.
func interval(f func(Num) string, lo, hi Num) string { return "[" + f(lo) + ", " + f(hi) + "]" }

// fmtSigned formats v with 4 decimals and its sign; – for NaN.
func fmtSigned(v Num) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmt.Sprintf("%+.4f", float64(v))
}

func dates(ts []time.Time) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.Format(time.DateOnly)
	}
	return strings.Join(s, ", ")
}

// WriteText writes the comparison tables (churn, next course, bars) as
// aligned plain text, for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "test split: cutoffs %s; %d churn examples (%d churners), %d next-course examples\n\n",
		dates(r.TestCutoffs), r.Counts.Churn, r.Counts.ChurnPositives, r.Counts.Next)
	fmt.Fprintln(bw, "churn")
	churnTable(r.Churn, -1).text(bw)
	fmt.Fprintf(bw, "\n%d-days-absent flag: precision %s, recall %s, flagged %s of members\n\n",
		r.RecencyFlagDays, fmtNum(r.RecencyFlag.Precision), fmtNum(r.RecencyFlag.Recall), fmtShare(r.RecencyFlag.FlaggedShare))
	fmt.Fprintln(bw, "next course")
	nextTable(r.Next, -1).text(bw)
	if r.Oracle != nil {
		fmt.Fprintf(bw, "\noracle: %d of %d churn and %d of %d next-course examples matched; model share of oracle: ROC-AUC %s, HR@3 %s\n",
			r.Oracle.ChurnMatched, r.Counts.Churn, r.Oracle.NextMatched, r.Counts.Next, fmtShare(r.Oracle.ChurnAUCShare), fmtShare(r.Oracle.HR3Share))
		if h := r.Oracle.Hidden; h != nil {
			n := 0
			for _, g := range h.Groups {
				n += g.Churners
			}
			fmt.Fprintf(bw, "hidden churn: %d of the %d matched churners were already ended at the cutoff; the model's ROC-AUC with every ended member scored 1 would be %s (report.md, Oracle)\n",
				r.Oracle.HiddenChurnedPositives, n, fmtNum(h.IfHiddenKnown))
		}
	}
	fmt.Fprintln(bw, "\nbars")
	t := &table{head: []string{"bar", "status", "value", "threshold", "numbers"}}
	for _, b := range r.Bars {
		t.add(b.Name, b.Status, fmtNum(b.Value), fmtNum(b.Threshold), b.Detail)
	}
	t.text(bw)
	if u := r.Uncertainty; u != nil && len(u.Bars) > 0 {
		fmt.Fprintf(bw, "\nmargins past the bars, with %s intervals from %d member-bootstrap resamples of %d members\n",
			fmtShare(Num(u.Level)), u.Resamples, u.Members)
		u.barTable().text(bw)
	}
	if u := r.Uncertainty; u != nil && len(u.Comparisons) > 0 {
		fmt.Fprintf(bw, "\nthe other models against the model (theirs − the model's), with %s intervals from the same resamples\n", fmtShare(Num(u.Level)))
		u.comparisonTable().text(bw)
	}
	return bw.Flush()
}

// WriteMarkdown writes the report as Markdown. Plots written by WritePlots
// before are linked.
func (r *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	p("# Evaluation report\n\n")
	p("- features: `%s` (%s)\n", r.Features, r.Source)
	if r.Truth != "" {
		p("- ground truth: `%s`\n", r.Truth)
	}
	if r.DataFingerprint != "" {
		same := "not known"
		switch {
		case r.ModelFingerprint == r.DataFingerprint:
			same = "yes"
		case r.ModelFingerprint != "":
			same = "**no**: the model was trained on `" + r.ModelFingerprint + "`"
		}
		p("- features fingerprint: `%s`; the model's training file: %s\n", r.DataFingerprint, same)
	}
	for _, c := range r.Candidates {
		same := "not known"
		switch {
		case r.DataFingerprint == "" || c.Fingerprint == "":
		case c.Fingerprint == r.DataFingerprint:
			same = "yes"
		default:
			same = "**no**: it was trained on `" + c.Fingerprint + "`"
		}
		p("- compared with the model: `%s`; the features file is its training file: %s\n", c.Name, same)
	}
	p("- churn label: %s, horizon %d weeks\n", r.Label, r.HorizonWeeks)
	p("- test cutoffs: %s; baselines fitted on the %d training cutoffs\n", dates(r.TestCutoffs), r.TrainCutoffs)
	p("- definitions: docs/evaluation.md\n\n")

	c := r.Counts
	p("## Examples\n\n")
	t := &table{head: []string{"", "examples"}}
	t.add("test split", fmt.Sprint(c.Test))
	t.add("excluded (already churned)", fmt.Sprint(c.Excluded))
	t.add("censored", fmt.Sprint(c.Censored))
	t.add("churn examples (not excluded, not censored)", fmt.Sprint(c.Churn))
	t.add("of them churners", fmt.Sprint(c.ChurnPositives))
	t.add("next-course examples (not excluded, a class in the horizon)", fmt.Sprint(c.Next))
	t.add("training examples for the churn baselines", fmt.Sprint(c.TrainChurn))
	t.add("training examples for the next-course baselines", fmt.Sprint(c.TrainNext))
	t.markdown(bw)

	p("## Bars\n\n")
	r.barTable().markdown(bw)
	if u := r.Uncertainty; u != nil {
		u.writeMarkdown(bw)
	}

	p("## Churn\n\n")
	p("All methods on the same %d test examples", c.Churn)
	if r.Oracle != nil {
		p(" (the oracle on the %d of them that have a truth row)", r.Oracle.ChurnMatched)
	}
	p(". Brier score and ECE only for probabilities; the recency rule scores by days since the last visit.\n\n")
	churnTable(r.Churn, -1).markdown(bw)
	f := r.RecencyFlag
	p("The binary %d-days-absent rule (flag a member whose last visit is %d days or more before the cutoff): "+
		"%d of %d flagged (%s), precision %s, recall %s.\n\n",
		r.RecencyFlagDays, r.RecencyFlagDays, f.Flagged, f.N, fmtShare(f.FlaggedShare), fmtNum(f.Precision), fmtNum(f.Recall))

	p("## Next course\n\n")
	p("All methods on the same %d test examples", c.Next)
	if r.Oracle != nil {
		p(" (the oracle on the %d of them with a truth distribution)", r.Oracle.NextMatched)
	}
	p("; the true category's rank among all %d categories, ties pessimistic.\n\n", len(r.Categories))
	nextTable(r.Next, -1).markdown(bw)

	p("## Per tier\n\n")
	for i, tier := range reportTiers {
		p("### Churn, tier %s\n\n", tier)
		churnTable(r.Churn, i).markdown(bw)
	}
	for i, tier := range reportTiers {
		p("### Next course, tier %s\n\n", tier)
		nextTable(r.Next, i).markdown(bw)
	}

	if o := r.Oracle; o != nil {
		p("## Oracle\n\n")
		p("The generator's ground truth: %d rows", o.TruthRows)
		if o.Sims > 0 {
			p(", each estimated from %d re-simulations", o.Sims)
		}
		p(". Test examples are matched by member id and cutoff instant.\n\n")
		if len(o.MissingCutoffs) > 0 {
			p("**Test cutoffs without any truth row: %s.**\n\n", dates(o.MissingCutoffs))
		}
		t := &table{head: []string{"", "matched", "no truth row", "truth row without a probability", "total"}}
		t.add("churn examples", fmt.Sprint(o.ChurnMatched), fmt.Sprint(o.ChurnNoRow), fmt.Sprint(o.ChurnNotAlive), fmt.Sprint(c.Churn))
		t.add("next-course examples", fmt.Sprint(o.NextMatched), fmt.Sprint(o.NextNoRow), fmt.Sprint(o.NextNoDist), fmt.Sprint(c.Next))
		t.markdown(bw)
		p("%d of the matched churn examples (%d of them labelled churn) are members the generator had already ended at the cutoff, "+
			"whose last visit still lies within the 8 weeks before it: the oracle knows and scores them 1, the data can only hint at it.\n\n",
			o.HiddenChurned, o.HiddenChurnedPositives)
		if h := o.Hidden; h != nil {
			p("What the data can show of the churners: each group of matched churners ranked against all %d matched non-churners "+
				"(docs/evaluation.md, \"Why the churn bar is still missed\").\n\n", h.NonChurners)
			t := &table{head: []string{"churners", "count", "model ROC-AUC", "oracle ROC-AUC"}}
			for _, g := range h.Groups {
				t.add(g.Name, fmt.Sprint(g.Churners), fmtNum(g.ModelAUC), fmtNum(g.OracleAUC))
			}
			t.markdown(bw)
			p("With every hidden example scored 1 and the model's scores for the others, the model's ROC-AUC on the matched examples would be %s.\n\n",
				fmtNum(h.IfHiddenKnown))
		}
		if b := o.NextByClasses; b != nil {
			p("Next-course HR@3 on the matched examples by the classes the member took in the sequence window " +
				"(the oracle's ties in its favour, as in the HR@3 bar):\n\n")
			t := &table{head: append([]string{"classes", "examples"}, b.Methods...)}
			for _, bin := range b.Bins {
				name := fmt.Sprintf("%d–%d", bin.Lo, bin.Hi)
				switch {
				case bin.Hi < 0:
					name = fmt.Sprintf("%d or more", bin.Lo)
				case bin.Lo == bin.Hi:
					name = fmt.Sprint(bin.Lo)
				}
				row := []string{name, fmt.Sprint(bin.N)}
				for _, v := range bin.HR3 {
					row = append(row, fmtNum(v))
				}
				t.add(row...)
			}
			t.markdown(bw)
		}
		p("Every method on the matched examples only:\n\n")
		churnTable(o.Churn, -1).markdown(bw)
		nextTable(o.Next, -1).markdown(bw)
		p("Model's share of the oracle on the matched examples: churn ROC-AUC %s, next-course HR@3 %s. "+
			"In %d next-course examples the true category's oracle probability ties with another's; "+
			"broken in the oracle's favour its HR@3 is %s (the table breaks them pessimistically, as for every method), "+
			"and the share and the HR@3 bar use that higher figure.\n\n",
			fmtShare(o.ChurnAUCShare), fmtShare(o.HR3Share), o.OracleTies, fmtNum(o.HR3Optimistic))
	}

	p("## Calibration\n\n")
	p("Reliability in %d equal-width bins of the predicted probability: examples, mean predicted, observed churn rate.\n\n", ECEBins)
	rt := &table{head: []string{"bin"}}
	var rel []ChurnResult
	for _, cr := range r.Churn {
		if cr.Reliability != nil && cr.Method != MethodBaseRate {
			rel = append(rel, cr)
			rt.head = append(rt.head, cr.Method+" N", "mean p", "observed")
		}
	}
	for b := 0; b < ECEBins && len(rel) > 0; b++ {
		bin := rel[0].Reliability[b]
		row := []string{fmt.Sprintf("[%.1f, %.1f%s", bin.Lo, bin.Hi, map[bool]string{true: "]", false: ")"}[b == ECEBins-1])}
		for _, cr := range rel {
			x := cr.Reliability[b]
			row = append(row, fmt.Sprint(x.Count), fmtNum(x.MeanProb), fmtNum(x.FracPos))
		}
		rt.add(row...)
	}
	rt.markdown(bw)

	bf := r.Baselines
	p("## Baselines\n\n")
	p("Fitted on the training split: churn base rate %.4f; logistic regression on %d rows, L2 %g, %d Newton steps (converged: %v). "+
		"Standardised coefficients (intercept %.4f):\n\n", bf.BaseRate, bf.LogisticRows, bf.LogisticL2, bf.LogisticIterations, bf.LogisticConverged, bf.LogisticIntercept)
	ct := &table{head: []string{"feature", "coefficient"}}
	for i, name := range bf.LogisticFeatures {
		ct.add(name, fmt.Sprintf("%+.4f", bf.LogisticCoef[i]))
	}
	ct.markdown(bw)
	pt := &table{head: []string{"category", "popularity"}}
	for i, cat := range r.Categories {
		pt.add(cat, fmt.Sprintf("%.4f", bf.Popularity[i]))
	}
	pt.markdown(bw)

	if len(r.History) > 0 {
		p("## Training history\n\n")
		p("As recorded by training (train.EpochStats); see its definitions of the two losses.\n\n")
		ht := &table{head: []string{"epoch", "train loss", "validation loss", "validation churn AUC", "seconds"}}
		for _, e := range r.History {
			ht.add(fmt.Sprint(e.Epoch), fmtNum(e.TrainLoss), fmtNum(e.ValLoss), fmtNum(e.ValChurnAUC), fmtNum(e.Seconds))
		}
		ht.markdown(bw)
	}
	if nb := r.NextBlend; nb != nil && !nb.Identity() {
		p("## Next-category pool\n\n")
		p("The model's next-category distribution is softmax(A·z + B·c) of the network's logits z and the features' choice columns c (docs/model-bundle.md): A = %s, B = %s, fitted on %d validation examples, whose next-class cross-entropy went from %s (the network alone) to %s.\n\n",
			fmtNum(Num(nb.A)), fmtNum(Num(nb.B)), nb.Examples, fmtNum(Num(nb.LogLossBefore)), fmtNum(Num(nb.LogLossAfter)))
	}

	if len(r.Plots) > 0 || len(r.PlotNotes) > 0 {
		p("## Plots\n\n")
		for _, name := range r.Plots {
			p("![%s](%s)\n\n", strings.TrimSuffix(name, filepath.Ext(name)), name)
		}
		for _, n := range r.PlotNotes {
			p("- %s\n", n)
		}
		if len(r.PlotNotes) > 0 {
			p("\n")
		}
	}

	p("## Notes\n\n")
	for _, n := range r.Notes {
		p("- %s\n", n)
	}
	return bw.Flush()
}
