package train

import (
	"bufio"
	"bytes"
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
	"testing"
	"time"

	"retain/datasets/synth"
	"retain/features"
)

// evalFixture generates a small synthetic gym (members members, 104 weeks,
// seed 3, with ground truth) and its training file, and returns the
// training file's and the truth's paths.
func evalFixture(t *testing.T, members int) (featPath, truthPath string) {
	t.Helper()
	dir := t.TempDir()
	cfg := synth.DefaultConfig()
	cfg.Members = members
	cfg.Seed = 3
	data := filepath.Join(dir, "data")
	if _, err := synth.WriteDir(cfg, data, nil); err != nil {
		t.Fatal(err)
	}
	featPath = filepath.Join(dir, "features.rtfs")
	if _, err := features.BuildDataset(data, features.DefaultConfig(), featPath); err != nil {
		t.Fatal(err)
	}
	truthPath, err := TruthPath(data)
	if err != nil {
		t.Fatal(err)
	}
	return featPath, truthPath
}

// evalExample is what the tests need of one example of the file.
type evalExample struct {
	member  string
	cutoff  time.Time
	split   features.Split
	label   features.Label
	recency int
	// the static columns debit_missed and contract_monthly
	debitMissed, monthly bool
	// classes is the sum of the class_<category> columns over the window
	classes int
}

// evalReadAll reads every example of a training file.
func evalReadAll(t *testing.T, path string) ([]evalExample, *features.FeatureSpec) {
	t.Helper()
	fr, err := features.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	var out []evalExample
	var ex features.Example
	static := fr.Header().Spec.Static
	debit, monthly := slices.Index(static, features.StaticDebitMissed), slices.Index(static, "contract_monthly")
	if debit < 0 || monthly < 0 {
		t.Fatalf("no %s or contract_monthly among the static columns %q", features.StaticDebitMissed, static)
	}
	var classCols []int
	for i, name := range fr.Header().Spec.Sequence {
		if strings.HasPrefix(name, "class_") {
			classCols = append(classCols, i)
		}
	}
	nf := len(fr.Header().Spec.Sequence)
	for {
		err := fr.Next(&ex)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var classes float32
		for r := 0; r+nf <= len(ex.Seq); r += nf {
			for _, c := range classCols {
				classes += ex.Seq[r+c]
			}
		}
		out = append(out, evalExample{ex.MemberID, ex.Cutoff, ex.Split, ex.Label, ex.Indicators.RecencyDays, ex.Static[debit] > 0, ex.Static[monthly] > 0, int(classes)})
	}
	spec := fr.Header().Spec
	return out, &spec
}

func evalKey(member string, cutoff time.Time) truthKey { return truthKey{member, cutoff.Unix()} }

// oraclePredictor predicts with the generator's ground truth.
type oraclePredictor struct {
	ti  *truthIndex
	buf []float64
}

func (p *oraclePredictor) Predict(ex *features.Example) (float64, []float64) {
	tr := p.ti.rows[evalKey(ex.MemberID, ex.Cutoff)]
	for k := range p.buf {
		p.buf[k] = 0
		if tr != nil && tr.NextCategory != nil {
			p.buf[k] = tr.NextCategory[p.ti.perm[k]]
		}
	}
	if tr == nil || !tr.Alive {
		return 0.5, p.buf
	}
	return tr.ChurnProb, p.buf
}

// funcPredictor adapts a function; it zeroes the example's sequence after
// use, as an in-place normalisation would change it.
type funcPredictor func(ex *features.Example) (float64, []float64)

func (f funcPredictor) Predict(ex *features.Example) (float64, []float64) {
	p, n := f(ex)
	clear(ex.Seq)
	ex.Indicators = features.Indicators{}
	return p, n
}

func TestEvaluate(t *testing.T) {
	featPath, truthPath := evalFixture(t, 300)
	exs, spec := evalReadAll(t, featPath)
	ctx := context.Background()
	k := len(spec.Categories)

	// The eligible test examples, by an independent reading of the file.
	var churnY []bool
	var recency []float64
	var nextTrue []int
	members := map[string]bool{}
	for _, e := range exs {
		if e.split != features.SplitTest || e.label.Excluded {
			continue
		}
		if (!e.label.Censored && e.label.Churn >= 0) || e.label.NextCategory >= 0 {
			members[e.member] = true
		}
		if !e.label.Censored && e.label.Churn >= 0 {
			churnY = append(churnY, e.label.Churn == 1)
			recency = append(recency, float64(e.recency))
		}
		if e.label.NextCategory >= 0 {
			nextTrue = append(nextTrue, int(e.label.NextCategory))
		}
	}
	testMembers := len(members)
	if len(churnY) < 100 || len(nextTrue) < 100 {
		t.Fatalf("fixture too small: %d churn and %d next-course test examples", len(churnY), len(nextTrue))
	}

	base, err := Evaluate(ctx, featPath, nil, truthPath, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("counts and baselines", func(t *testing.T) {
		if base.Counts.Churn != len(churnY) || base.Counts.Next != len(nextTrue) {
			t.Errorf("counts %+v, independent reading %d churn %d next", base.Counts, len(churnY), len(nextTrue))
		}
		if got := churnRow(base.Churn, MethodModel); got != nil {
			t.Errorf("a model row without a model: %+v", got)
		}
		// The recency rule is the AUC of RecencyDays on the same examples.
		if got, want := float64(churnRow(base.Churn, MethodRecency).All.ROCAUC), ROCAUC(recency, churnY); got != want {
			t.Errorf("recency rule AUC %v, direct %v", got, want)
		}
		// The base rate and popularity are those of the training split.
		var pos, n int
		pop := make([]float64, k)
		var nn float64
		for _, e := range exs {
			if e.split != features.SplitTrain || e.label.Excluded {
				continue
			}
			if !e.label.Censored && e.label.Churn >= 0 {
				n++
				if e.label.Churn == 1 {
					pos++
				}
			}
			if e.label.NextCategory >= 0 {
				pop[e.label.NextCategory]++
				nn++
			}
		}
		if want := float64(pos) / float64(n); base.Baselines.BaseRate != want {
			t.Errorf("base rate %v, training split %v", base.Baselines.BaseRate, want)
		}
		for i := range pop {
			if want := pop[i] / nn; math.Abs(base.Baselines.Popularity[i]-want) > 1e-15 {
				t.Errorf("popularity[%d] = %v, training split %v", i, base.Baselines.Popularity[i], want)
			}
		}
		if !base.Baselines.LogisticConverged {
			t.Error("logistic regression did not converge")
		}
		// A constant score: AUC exactly 1/2 by midranks.
		if got := churnRow(base.Churn, MethodBaseRate).All.ROCAUC; got != 0.5 {
			t.Errorf("base rate AUC %v, want 0.5", got)
		}
		for _, b := range base.Bars {
			if b.Status != BarNA {
				t.Errorf("bar %q without a model: %s", b.Name, b.Status)
			}
		}
		if u := base.Uncertainty; u == nil || len(u.Bars) != 0 || len(u.Metrics) == 0 {
			t.Errorf("uncertainty without a model %+v: want intervals of the baselines and none of bars", u)
		}
	})

	t.Run("oracle as model", func(t *testing.T) {
		ti, err := loadTruth(truthPath, spec.Categories)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Evaluate(ctx, featPath, &oraclePredictor{ti: ti, buf: make([]float64, k)}, truthPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		o := rep.Oracle
		if o.ChurnMatched != rep.Counts.Churn || o.NextMatched != rep.Counts.Next || len(o.MissingCutoffs) > 0 {
			t.Fatalf("synthetic data with UTC cutoffs should match every example: %+v", o)
		}
		m, or := churnRow(rep.Churn, MethodModel), churnRow(rep.Churn, MethodOracle)
		if !evalSame(m.All, or.All) || !evalSame(m.Tiers, or.Tiers) {
			t.Errorf("oracle as the model: model row %+v, oracle row %+v", m.All, or.All)
		}
		mn, on := nextRow(rep.Next, MethodModel), nextRow(rep.Next, MethodOracle)
		if !evalSame(mn.All, on.All) {
			t.Errorf("oracle as the model: model row %+v, oracle row %+v", mn.All, on.All)
		}
		if o.ChurnAUCShare != 1 {
			t.Errorf("AUC share %v, want 1", o.ChurnAUCShare)
		}
		// The HR@3 share is over the oracle with ties in its favour, so at
		// most 1.
		if o.HR3Share > 1 || o.HR3Optimistic < on.All.HR3 {
			t.Errorf("HR@3 share %v, optimistic oracle %v below pessimistic %v", o.HR3Share, o.HR3Optimistic, on.All.HR3)
		}
		if b := rep.Bars[0]; b.Status != BarPass {
			t.Errorf("the oracle fails its own bar: %+v", b)
		}
		// The hidden-churn breakdown: the groups, counted independently
		// from the file and the truth; with the oracle as the model its
		// figures are the oracle's, and scoring the hidden examples 1
		// changes nothing (the oracle scores them 1 already).
		want := map[string]int{}
		for _, e := range exs {
			if e.split != features.SplitTest || e.label.Excluded || e.label.Censored || e.label.Churn != 1 {
				continue
			}
			tr := ti.rows[evalKey(e.member, e.cutoff)]
			switch {
			case tr == nil || !tr.Alive:
			case !tr.Churned:
				want[GroupVisible]++
			case e.debitMissed:
				want[GroupHiddenDebit]++
			case e.monthly:
				want[GroupHiddenMonthly]++
			default:
				want[GroupHiddenOther]++
			}
		}
		h := o.Hidden
		if h == nil || len(h.Groups) != 4 || h.IfHiddenKnown != m.All.ROCAUC || h.NonChurners != rep.Counts.Churn-rep.Counts.ChurnPositives {
			t.Fatalf("hidden breakdown %+v (model AUC %v)", h, m.All.ROCAUC)
		}
		for _, g := range h.Groups {
			if g.Churners != want[g.Name] || (g.Churners > 0 && g.ModelAUC != g.OracleAUC) {
				t.Errorf("group %q: %+v, want %d churners and the oracle's AUC", g.Name, g, want[g.Name])
			}
		}
		if want[GroupHiddenDebit]+want[GroupHiddenMonthly]+want[GroupHiddenOther] != o.HiddenChurnedPositives || o.HiddenChurnedPositives == 0 {
			t.Errorf("groups %v against %d hidden churners: want some, all in the groups", want, o.HiddenChurnedPositives)
		}

		// HR@3 by classes in the window: the bins' examples counted
		// independently, and their HR@3 averaging back to the matched
		// figures (the model's, the oracle's with ties in its favour).
		bins := o.NextByClasses
		if bins == nil || bins.Methods[0] != MethodModel || bins.Methods[len(bins.Methods)-1] != MethodOracle {
			t.Fatalf("next by classes %+v", bins)
		}
		var total int
		var model, oracle float64
		for _, b := range bins.Bins {
			n := 0
			for _, e := range exs {
				if e.split == features.SplitTest && !e.label.Excluded && e.label.NextCategory >= 0 &&
					e.classes >= b.Lo && (b.Hi < 0 || e.classes <= b.Hi) {
					n++
				}
			}
			if b.N != n {
				t.Errorf("bin %d–%d: %d examples, independent count %d", b.Lo, b.Hi, b.N, n)
			}
			total += b.N
			if b.N > 0 {
				model += float64(b.HR3[0]) * float64(b.N)
				oracle += float64(b.HR3[len(b.HR3)-1]) * float64(b.N)
			}
		}
		if total != o.NextMatched || math.Abs(model/float64(total)-float64(nextRow(o.Next, MethodModel).All.HR3)) > 1e-12 ||
			math.Abs(oracle/float64(total)-float64(o.HR3Optimistic)) > 1e-12 {
			t.Errorf("bins: %d examples, HR@3 model %v oracle %v; want %d, %v, %v", total, model/float64(total), oracle/float64(total),
				o.NextMatched, nextRow(o.Next, MethodModel).All.HR3, o.HR3Optimistic)
		}

		// The bootstrap resamples the test members; with the oracle as the
		// model, the model's matched figures are the oracle's in every
		// resample, so their intervals are equal and the share bar passes
		// in all of them.
		u := rep.Uncertainty
		if u == nil || u.Members != testMembers || u.Resamples != DefaultBootstrap {
			t.Fatalf("uncertainty %+v: want %d resamples of %d test members", u, DefaultBootstrap, testMembers)
		}
		var mi, oi MetricInterval
		for _, x := range u.Metrics {
			switch {
			case x.Method == MethodModel && x.Metric == "ROC-AUC (matched)":
				mi = x
			case x.Method == MethodOracle && x.Metric == "ROC-AUC (matched)":
				oi = x
			}
		}
		if mi.Lo != oi.Lo || mi.Hi != oi.Hi || !(mi.Lo < mi.Value && mi.Value < mi.Hi) {
			t.Errorf("matched ROC-AUC intervals: model %+v, oracle %+v", mi, oi)
		}
		if len(u.Bars) != len(rep.Bars) || u.Bars[0].Name != barChurnOracle || u.Bars[0].PassShare != 1 {
			t.Errorf("bar intervals %+v for bars %+v", u.Bars, rep.Bars)
		}
		// The baselines do not depend on the model.
		for i, c := range base.Churn {
			if got := churnRow(rep.Churn, c.Method); !evalSame(got.All, c.All) {
				t.Errorf("baseline %d %s changed with a model: %+v, was %+v", i, c.Method, got.All, c.All)
			}
		}
	})

	// A fake model: churn = σ((recency − 30)/10); next-category scores
	// increase with the index, so the last category ranks first, the one
	// before it second, and so on. The predictor also wipes the example it
	// gets.
	next := make([]float64, k)
	for i := range next {
		next[i] = float64(i) / 100
	}
	fake := funcPredictor(func(ex *features.Example) (float64, []float64) {
		return 1 / (1 + math.Exp(-(float64(ex.Indicators.RecencyDays)-30)/10)), next
	})

	t.Run("fake model", func(t *testing.T) {
		rep, err := Evaluate(ctx, featPath, fake, truthPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		probs := make([]float64, len(recency))
		for i, r := range recency {
			probs[i] = 1 / (1 + math.Exp(-(r-30)/10))
		}
		want := ChurnSummary(probs, churnY, true)
		if got := churnRow(rep.Churn, MethodModel).All; !evalSame(got, want) {
			t.Errorf("model row %+v, direct %+v", got, want)
		}
		// Every hidden example (Truth.Churned, whatever its label) scored
		// 1, the others as the model.
		ti, err := loadTruth(truthPath, spec.Categories)
		if err != nil {
			t.Fatal(err)
		}
		known := slices.Clone(probs)
		j := 0
		for _, e := range exs {
			if e.split != features.SplitTest || e.label.Excluded || e.label.Censored || e.label.Churn < 0 {
				continue
			}
			if ti.rows[evalKey(e.member, e.cutoff)].Churned {
				known[j] = 1
			}
			j++
		}
		if got, want := float64(rep.Oracle.Hidden.IfHiddenKnown), ROCAUC(known, churnY); got != want || got <= float64(churnRow(rep.Churn, MethodModel).All.ROCAUC) {
			t.Errorf("AUC with the hidden examples scored 1: %v, direct %v (the model alone %v)", got, want, churnRow(rep.Churn, MethodModel).All.ROCAUC)
		}
		// Each group's churners against all non-churners, directly.
		groups := map[string][]float64{}
		var neg []float64
		j = 0
		for _, e := range exs {
			if e.split != features.SplitTest || e.label.Excluded || e.label.Censored || e.label.Churn < 0 {
				continue
			}
			p := probs[j]
			j++
			tr := ti.rows[evalKey(e.member, e.cutoff)]
			switch {
			case tr == nil || !tr.Alive:
			case e.label.Churn == 0:
				neg = append(neg, p)
			case !tr.Churned:
				groups[GroupVisible] = append(groups[GroupVisible], p)
			case e.debitMissed:
				groups[GroupHiddenDebit] = append(groups[GroupHiddenDebit], p)
			case e.monthly:
				groups[GroupHiddenMonthly] = append(groups[GroupHiddenMonthly], p)
			default:
				groups[GroupHiddenOther] = append(groups[GroupHiddenOther], p)
			}
		}
		for _, g := range rep.Oracle.Hidden.Groups {
			pos := groups[g.Name]
			y := append(slices.Repeat([]bool{true}, len(pos)), slices.Repeat([]bool{false}, len(neg))...)
			want := ROCAUC(append(slices.Clone(pos), neg...), y)
			if g.Churners != len(pos) || !near(float64(g.ModelAUC), want, 0) {
				t.Errorf("group %q: %d churners, model AUC %v; direct %d, %v", g.Name, g.Churners, g.ModelAUC, len(pos), want)
			}
		}
		// HR@3 by classes in the window, directly: the fake ranks the
		// true category c at k − c, the oracle by its truth row with ties
		// in its favour.
		for _, b := range rep.Oracle.NextByClasses.Bins {
			var n, model, oracle int
			for _, e := range exs {
				c := int(e.label.NextCategory)
				if e.split != features.SplitTest || e.label.Excluded || c < 0 || e.classes < b.Lo || (b.Hi >= 0 && e.classes > b.Hi) {
					continue
				}
				n++
				if k-c <= 3 {
					model++
				}
				tr := ti.rows[evalKey(e.member, e.cutoff)]
				scores := make([]float64, k)
				for q := range scores {
					scores[q] = tr.NextCategory[ti.perm[q]]
				}
				if rankOptimistic(scores, c) <= 3 {
					oracle++
				}
			}
			if b.N != n || !near(float64(b.HR3[0]), float64(share(model, n)), 0) || !near(float64(b.HR3[len(b.HR3)-1]), float64(share(oracle, n)), 0) {
				t.Errorf("bin %d–%d: %d examples, HR@3 model %v oracle %v; direct %d, %v, %v", b.Lo, b.Hi, b.N, b.HR3[0], b.HR3[len(b.HR3)-1], n, share(model, n), share(oracle, n))
			}
		}
		ranks := make([]int, len(nextTrue))
		var hits float64
		for i, c := range nextTrue {
			ranks[i] = k - c
			if c == k-1 {
				hits++
			}
		}
		got := nextRow(rep.Next, MethodModel).All
		if !evalSame(got, RankSummary(ranks)) || float64(got.HR1) != hits/float64(len(nextTrue)) {
			t.Errorf("model next row %+v, direct %+v", got, RankSummary(ranks))
		}
		for i, c := range base.Churn {
			if got := churnRow(rep.Churn, c.Method); !evalSame(got.All, c.All) {
				t.Errorf("baseline %d %s changed when the model wiped its example: %+v, was %+v", i, c.Method, got.All, c.All)
			}
		}
		for _, n := range base.Next {
			if got := nextRow(rep.Next, n.Method); !evalSame(got.All, n.All) {
				t.Errorf("baseline %s changed when the model wiped its example: %+v, was %+v", n.Method, got.All, n.All)
			}
		}
	})

	t.Run("compare", func(t *testing.T) {
		// The fake model, with the oracle's predictions as a candidate:
		// the candidate's rows are the oracle's, the model's rows and bars
		// are those without it.
		ti, err := loadTruth(truthPath, spec.Categories)
		if err != nil {
			t.Fatal(err)
		}
		alone, err := Evaluate(ctx, featPath, fake, truthPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		cand := Candidate{Name: "truth", Predictor: &oraclePredictor{ti: ti, buf: make([]float64, k)}, Fingerprint: "sha256:other"}
		rep, err := Evaluate(ctx, featPath, fake, truthPath, &EvalOptions{Compare: []Candidate{cand}})
		if err != nil {
			t.Fatal(err)
		}
		if c, o := churnRow(rep.Churn, "truth"), churnRow(rep.Churn, MethodOracle); c == nil || !evalSame(c.All, o.All) {
			t.Errorf("candidate churn row %+v, oracle's %+v", c, o.All)
		}
		if c, o := nextRow(rep.Next, "truth"), nextRow(rep.Next, MethodOracle); c == nil || !evalSame(c.All, o.All) {
			t.Errorf("candidate next row %+v, oracle's %+v", c, o.All)
		}
		if !evalSame(churnRow(rep.Churn, MethodModel).All, churnRow(alone.Churn, MethodModel).All) || fmt.Sprint(rep.Bars) != fmt.Sprint(alone.Bars) {
			t.Errorf("the model's figures or bars changed with a candidate: %+v, alone %+v", rep.Bars, alone.Bars)
		}
		u := rep.Uncertainty
		if len(u.Comparisons) != 3 || u.Comparisons[0].Candidate != "truth" || u.Comparisons[0].Lo <= 0 {
			t.Errorf("comparisons %+v: want the oracle's ROC-AUC clearly above the fake's", u.Comparisons)
		}
		if len(rep.Candidates) != 1 || !strings.Contains(strings.Join(rep.Notes, " "), "not the file truth was trained on") {
			t.Errorf("candidates %+v, notes %q: want a warning about its training file", rep.Candidates, rep.Notes)
		}
		var md bytes.Buffer
		if err := rep.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(md.String(), "compared with the model: `truth`; the features file is its training file: **no**") || !strings.Contains(md.String(), "| truth | ROC-AUC |") {
			t.Errorf("Markdown report without the candidate:\n%s", md.String())
		}

		for _, bad := range []struct {
			m    Predictor
			opts EvalOptions
			want string
		}{
			{nil, EvalOptions{Compare: []Candidate{cand}}, "no model to compare them with"},
			{fake, EvalOptions{Compare: []Candidate{{Name: MethodModel, Predictor: fake}}}, `"model" is taken`},
			{fake, EvalOptions{Compare: []Candidate{{Name: MethodMostFrequent, Predictor: fake}}}, "is taken"},
			{fake, EvalOptions{Compare: []Candidate{cand, cand}}, `"truth" is taken`},
			{fake, EvalOptions{Compare: []Candidate{{Name: "x"}}}, "want a predictor"},
		} {
			if _, err := Evaluate(ctx, featPath, bad.m, truthPath, &bad.opts); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("Evaluate with %+v: error %v, want %q", bad.opts.Compare, err, bad.want)
			}
		}
	})

	// labels maps each example to its labels, for a predictor that cheats.
	labels := map[truthKey]features.Label{}
	for _, e := range exs {
		labels[evalKey(e.member, e.cutoff)] = e.label
	}
	t.Run("bars", func(t *testing.T) {
		perfectNext := make([]float64, k)
		perfect := funcPredictor(func(ex *features.Example) (float64, []float64) {
			l := labels[evalKey(ex.MemberID, ex.Cutoff)]
			clear(perfectNext)
			if l.NextCategory >= 0 {
				perfectNext[l.NextCategory] = 1
			}
			return float64(max(l.Churn, 0)), perfectNext
		})
		rep, err := Evaluate(ctx, featPath, perfect, truthPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range rep.Bars {
			if b.Status != BarPass {
				t.Errorf("perfect predictor: bar %q %s (%s)", b.Name, b.Status, b.Detail)
			}
		}
		uniform := make([]float64, k)
		constant := funcPredictor(func(*features.Example) (float64, []float64) { return 0.5, uniform })
		rep, err = Evaluate(ctx, featPath, constant, truthPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range rep.Bars {
			if b.Status != BarFail {
				t.Errorf("constant predictor: bar %q %s (%s)", b.Name, b.Status, b.Detail)
			}
		}
		// Without truth the oracle bars are not applicable.
		rep, err = Evaluate(ctx, featPath, perfect, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Oracle != nil || rep.Bars[0].Status != BarNA || rep.Bars[3].Status != BarNA || rep.Bars[1].Status != BarPass {
			t.Errorf("no truth: oracle %v, bars %+v", rep.Oracle, rep.Bars)
		}
	})

	t.Run("unmatched truth", func(t *testing.T) {
		// Drop the truth rows of two members, and every row of the last
		// test cutoff; those examples must be reported, not dropped.
		dropMembers := map[string]bool{}
		for _, e := range exs {
			if e.split == features.SplitTest && len(dropMembers) < 2 {
				dropMembers[e.member] = true
			}
		}
		last := base.TestCutoffs[len(base.TestCutoffs)-1]
		path := evalFilterTruth(t, truthPath, func(member string, cutoff time.Time) bool {
			return !dropMembers[member] && !cutoff.Equal(last)
		})
		var wantChurn, wantNext int
		for _, e := range exs {
			if e.split != features.SplitTest || e.label.Excluded || !(dropMembers[e.member] || e.cutoff.Equal(last)) {
				continue
			}
			if !e.label.Censored && e.label.Churn >= 0 {
				wantChurn++
			}
			if e.label.NextCategory >= 0 {
				wantNext++
			}
		}
		rep, err := Evaluate(ctx, featPath, nil, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		o := rep.Oracle
		if o.ChurnNoRow != wantChurn || o.NextNoRow != wantNext {
			t.Errorf("unmatched %d churn, %d next; want %d, %d", o.ChurnNoRow, o.NextNoRow, wantChurn, wantNext)
		}
		if o.ChurnMatched+o.ChurnNoRow+o.ChurnNotAlive != rep.Counts.Churn || o.NextMatched+o.NextNoRow+o.NextNoDist != rep.Counts.Next {
			t.Errorf("matched and unmatched do not add up: %+v, counts %+v", o, rep.Counts)
		}
		if len(o.MissingCutoffs) != 1 || !o.MissingCutoffs[0].Equal(last) {
			t.Errorf("missing cutoffs %v, want [%v]", o.MissingCutoffs, last)
		}
		if got := churnRow(rep.Churn, MethodOracle).All.N; got != o.ChurnMatched {
			t.Errorf("oracle row on %d examples, matched %d", got, o.ChurnMatched)
		}
		if got := churnRow(rep.Churn, MethodLogistic).All.N; got != rep.Counts.Churn {
			t.Errorf("baseline row on %d examples, want all %d", got, rep.Counts.Churn)
		}
		if got := churnRow(o.Churn, MethodLogistic).All.N; got != o.ChurnMatched {
			t.Errorf("matched-subset baseline row on %d examples, want %d", got, o.ChurnMatched)
		}
		var md bytes.Buffer
		if err := rep.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(md.String(), "Test cutoffs without any truth row: "+last.Format(time.DateOnly)) {
			t.Error("the Markdown report does not name the cutoff without truth")
		}
	})

	t.Run("bad model", func(t *testing.T) {
		short := funcPredictor(func(*features.Example) (float64, []float64) { return 0.1, make([]float64, k-1) })
		if _, err := Evaluate(ctx, featPath, short, "", nil); err == nil || !strings.Contains(err.Error(), "next-category scores") {
			t.Errorf("short distribution: err = %v", err)
		}
		nan := funcPredictor(func(*features.Example) (float64, []float64) { return math.NaN(), make([]float64, k) })
		if _, err := Evaluate(ctx, featPath, nan, "", nil); err == nil || !strings.Contains(err.Error(), "churn probability") {
			t.Errorf("NaN churn: err = %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Evaluate(cctx, featPath, nil, "", nil); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: err = %v", err)
		}
	})

	t.Run("output", func(t *testing.T) {
		ti, err := loadTruth(truthPath, spec.Categories)
		if err != nil {
			t.Fatal(err)
		}
		hist := []EpochStats{{Epoch: 1, TrainLoss: 2.5, ValLoss: 2.6}, {Epoch: 2, TrainLoss: 2.1, ValLoss: 2.3}, {Epoch: 3, TrainLoss: 1.9, ValLoss: 2.25}}
		rep, err := Evaluate(ctx, featPath, &oraclePredictor{ti: ti, buf: make([]float64, k)}, truthPath, &EvalOptions{History: hist})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := rep.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{ReportMarkdown, ReportJSON, PlotROC, PlotCalibration, PlotGain, PlotLift, PlotLoss} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(name, ".png") && !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("%s is not a PNG", name)
			}
		}
		var back Report
		b, _ := os.ReadFile(filepath.Join(dir, ReportJSON))
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !evalSame(back.Churn[0].All, rep.Churn[0].All) || !evalSame(back.Bars, rep.Bars) || back.Counts != rep.Counts {
			t.Error("report.json does not round-trip the numbers")
		}
		md, _ := os.ReadFile(filepath.Join(dir, ReportMarkdown))
		for _, want := range []string{"## Bars", "| churn AUC vs oracle |", "![loss](loss.png)", "### Next course, tier potential"} {
			if !bytes.Contains(md, []byte(want)) {
				t.Errorf("report.md lacks %q", want)
			}
		}
		// Without history: no loss plot, and a note saying so.
		rep.History = nil
		if _, err := rep.WritePlots(t.TempDir()); err != nil {
			t.Fatal(err)
		}
		if len(rep.Plots) != 4 || len(rep.PlotNotes) != 1 || !strings.Contains(rep.PlotNotes[0], "loss") {
			t.Errorf("without history: plots %v, notes %v", rep.Plots, rep.PlotNotes)
		}
		var text bytes.Buffer
		if err := rep.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), "oracle") || !strings.Contains(text.String(), "PASS") {
			t.Errorf("text table:\n%s", text.String())
		}
	})
}

// evalSame compares two values by their JSON encoding, in which NaN
// metrics are null and so equal to each other.
func evalSame(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// evalFilterTruth writes the truth rows of path that keep accepts to a new
// truth.csv and returns its path.
func evalFilterTruth(t *testing.T, path string, keep func(member string, cutoff time.Time) bool) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "truth.csv")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	w := bufio.NewWriter(f)
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		if !first {
			fields := strings.SplitN(line, ",", 3)
			c, err := time.Parse(time.RFC3339, fields[1])
			if err != nil {
				t.Fatal(err)
			}
			if !keep(fields[0], c) {
				continue
			}
		}
		w.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}
