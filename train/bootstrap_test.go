package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"retain/features"
)

// dup repeats every element x[i] w[i] times: the sample that weights stand
// for.
func dup[T any](x []T, w []float64) []T {
	var out []T
	for i, v := range x {
		for range int(w[i]) {
			out = append(out, v)
		}
	}
	return out
}

// weightedCase is a sample with ties, zero weights and weights above one.
func weightedCase(seed uint64, n int) (scores []float64, labels []bool, w []float64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for range n {
		y := r.Float64() < 0.2
		s := math.Round(r.NormFloat64()*4) / 8 // coarse: many ties
		if y {
			s += 0.5
		}
		scores = append(scores, min(max(0.5+s/4, 0), 1)) // also probabilities, for ECE
		labels = append(labels, y)
		w = append(w, float64(r.IntN(4))) // 0 .. 3
	}
	return scores, labels, w
}

// The weighted metrics equal the plain ones on the sample the weights
// stand for (each example repeated weight times).
func TestWeightedMetricsMatchDuplicated(t *testing.T) {
	for seed := range uint64(5) {
		scores, labels, w := weightedCase(seed, 300)
		ds, dl := dup(scores, w), dup(labels, w)
		if got, want := weightedAUC(sortScores(scores), labels, w), ROCAUC(ds, dl); math.Abs(got-want) > 1e-12 {
			t.Errorf("seed %d: weighted AUC %v, ROCAUC of the repeated sample %v", seed, got, want)
		}
		if got, want := weightedECE(eceBins(scores), scores, labels, w), ECE(ds, dl); math.Abs(got-want) > 1e-12 {
			t.Errorf("seed %d: weighted ECE %v, ECE of the repeated sample %v", seed, got, want)
		}
		ones := slices.Repeat([]float64{1}, len(w))
		if got, want := weightedAUC(sortScores(scores), labels, ones), ROCAUC(scores, labels); math.Abs(got-want) > 1e-12 {
			t.Errorf("seed %d: unit weights AUC %v, ROCAUC %v", seed, got, want)
		}
	}
	// NaN scores (unmatched oracle rows) count for nothing at weight 0.
	scores, labels, w := weightedCase(9, 200)
	withNaN := slices.Clone(scores)
	for i := range withNaN {
		if i%7 == 0 {
			withNaN[i], w[i] = math.NaN(), 0
		}
	}
	if got, want := weightedAUC(sortScores(withNaN), labels, w), ROCAUC(dup(scores, w), dup(labels, w)); math.Abs(got-want) > 1e-12 {
		t.Errorf("with NaN at weight 0: weighted AUC %v, want %v", got, want)
	}
	if got := weightedAUC(sortScores([]float64{0.1, 0.2}), []bool{yes, yes}, []float64{1, 1}); !math.IsNaN(got) {
		t.Errorf("no negatives: AUC %v, want NaN", got)
	}
}

// bootScoring builds the scoring Evaluate would have collected for a model
// and one baseline on churn and next-course examples, member[i] being the
// member of example i, and returns the report with its bootstrap.
func bootScoring(t *testing.T, model, base []float64, labels []bool, modelRank, baseRank []int, member []string, B int, seed uint64) *Report {
	t.Helper()
	return bootCompare(t, model, nil, base, labels, modelRank, nil, baseRank, member, B, seed)
}

// bootCompare is bootScoring with a candidate "other" scoring cand and
// ranking candRank (none when cand is nil).
func bootCompare(t *testing.T, model, cand, base []float64, labels []bool, modelRank, candRank, baseRank []int, member []string, B int, seed uint64) *Report {
	t.Helper()
	s := &scoring{model: true, memberIdx: map[string]int32{},
		churnMethods:  []string{MethodModel, MethodLogistic},
		probabilistic: []bool{true, true},
		nextMethods:   []string{MethodModel, MethodMostFrequent},
		labels:        labels,
		scores:        [][]float64{model, base},
		ranks:         [][]int{modelRank, baseRank},
		recency:       make([]bool, len(labels)),
	}
	rep := &Report{}
	if cand != nil {
		s.cands = []Candidate{{Name: "other"}}
		rep.Candidates = []CandidateInfo{{Name: "other"}}
		s.churnMethods = slices.Insert(s.churnMethods, 1, "other")
		s.probabilistic = slices.Insert(s.probabilistic, 1, true)
		s.nextMethods = slices.Insert(s.nextMethods, 1, "other")
		s.scores = slices.Insert(s.scores, 1, cand)
		s.ranks = slices.Insert(s.ranks, 1, candRank)
	}
	for range labels {
		s.churnTier = append(s.churnTier, features.TierActive)
	}
	for range modelRank {
		s.nextTier = append(s.nextTier, features.TierActive)
	}
	for _, m := range member {
		k, ok := s.memberIdx[m]
		if !ok {
			k = int32(len(s.memberIDs))
			s.memberIdx[m] = k
			s.memberIDs = append(s.memberIDs, m)
		}
		s.churnMem = append(s.churnMem, k)
		s.nextMem = append(s.nextMem, k)
	}
	s.summarise(rep, nil)
	rep.bars()
	s.bootstrap(rep, B, seed)
	return rep
}

func metricInterval(t *testing.T, u *Uncertainty, method, metric string) MetricInterval {
	t.Helper()
	for _, m := range u.Metrics {
		if m.Method == method && m.Metric == metric {
			return m
		}
	}
	t.Fatalf("no interval for %s %s in %+v", method, metric, u.Metrics)
	return MetricInterval{}
}

// binormalCase draws n examples, one per member M<i>, churning with
// probability prev: the model scores N(shift, 1) for a churner and N(0, 1)
// otherwise, the baseline the same with half the shift; the next-course
// ranks are uniform on 1..4 (model) and 1..6 (baseline).
func binormalCase(r *rand.Rand, n int, prev, shift float64) (model, base []float64, labels []bool, member []string, mr, br []int) {
	for i := range n {
		y := r.Float64() < prev
		s := 0.0
		if y {
			s = shift
		}
		model = append(model, r.NormFloat64()+s)
		base = append(base, r.NormFloat64()+s/2)
		labels = append(labels, y)
		member = append(member, fmt.Sprint("M", i))
		mr = append(mr, 1+r.IntN(4))
		br = append(br, 1+r.IntN(6))
	}
	return
}

// delongSE is the standard error of the ROC-AUC of independent examples by
// DeLong, DeLong & Clarke-Pearson (Biometrics 44, 1988): the variance of
// the structural components over the positives and over the negatives,
// Var = S₁₀/n₁ + S₀₁/n₀.
func delongSE(scores []float64, labels []bool) float64 {
	var pos, neg []float64
	for i, s := range scores {
		if labels[i] {
			pos = append(pos, s)
		} else {
			neg = append(neg, s)
		}
	}
	psi := func(x, y float64) float64 {
		switch {
		case x > y:
			return 1
		case x == y:
			return 0.5
		}
		return 0
	}
	v10 := make([]float64, len(pos))
	v01 := make([]float64, len(neg))
	for i, x := range pos {
		for j, y := range neg {
			p := psi(x, y)
			v10[i] += p / float64(len(neg))
			v01[j] += p / float64(len(pos))
		}
	}
	variance := func(v []float64) float64 {
		var m, s float64
		for _, x := range v {
			m += x
		}
		m /= float64(len(v))
		for _, x := range v {
			s += (x - m) * (x - m)
		}
		return s / float64(len(v)-1)
	}
	return math.Sqrt(variance(v10)/float64(len(pos)) + variance(v01)/float64(len(neg)))
}

// With one example per member the bootstrap's spread of the ROC-AUC is
// the AUC's sampling error, which DeLong's estimator gives in closed form.
func TestBootstrapAUCMatchesDeLong(t *testing.T) {
	const n = 2000
	// Binormal, AUC ≈ Φ(1.5/√2) ≈ 0.86.
	model, base, labels, member, mr, br := binormalCase(rand.New(rand.NewPCG(11, 2)), n, 0.1, 1.5)
	rep := bootScoring(t, model, base, labels, mr, br, member, 2000, 1)
	m := metricInterval(t, rep.Uncertainty, MethodModel, "ROC-AUC")
	// A 95 % interval of a near-normal statistic spans ±1.96 SE.
	got := float64(m.Hi-m.Lo) / (2 * 1.96)
	want := delongSE(model, labels)
	if math.Abs(got/want-1) > 0.10 {
		t.Errorf("bootstrap SE of ROC-AUC %.5f (interval [%.4f, %.4f]), DeLong %.5f: off by more than 10 %%", got, m.Lo, m.Hi, want)
	}
	if m.Value != rep.Churn[0].All.ROCAUC || !(m.Lo < m.Value && m.Value < m.Hi) {
		t.Errorf("model ROC-AUC %v with interval [%v, %v]: want the split's figure %v inside it", m.Value, m.Lo, m.Hi, rep.Churn[0].All.ROCAUC)
	}
	if rep.Uncertainty.Members != n || rep.Uncertainty.Resamples != 2000 {
		t.Errorf("%d members, %d resamples; want %d, 2000", rep.Uncertainty.Members, rep.Uncertainty.Resamples, n)
	}
}

// The resampled unit is the member: giving every member three copies of
// its example changes no interval, where resampling examples would shrink
// them by √3. And the same seed gives the same intervals.
func TestBootstrapResamplesMembers(t *testing.T) {
	const n = 400
	model, base, labels, member, mr, br := binormalCase(rand.New(rand.NewPCG(5, 3)), n, 0.2, 1)
	three := slices.Repeat([]float64{3}, n)
	once := bootScoring(t, model, base, labels, mr, br, member, 300, 7)
	thrice := bootScoring(t, dup(model, three), dup(base, three), dup(labels, three), dup(mr, three), dup(br, three), dup(member, three), 300, 7)
	again := bootScoring(t, model, base, labels, mr, br, member, 300, 7)
	u1, u3 := once.Uncertainty, thrice.Uncertainty
	if u1.Members != n || u3.Members != n {
		t.Fatalf("members %d and %d, want %d", u1.Members, u3.Members, n)
	}
	for i, m := range u1.Metrics {
		m3 := u3.Metrics[i]
		if m.Method != m3.Method || m.Metric != m3.Metric || math.Abs(float64(m.Lo-m3.Lo)) > 1e-12 || math.Abs(float64(m.Hi-m3.Hi)) > 1e-12 {
			t.Errorf("%s %s: interval [%v, %v] once, [%v, %v] with each example thrice", m.Method, m.Metric, m.Lo, m.Hi, m3.Lo, m3.Hi)
		}
	}
	for i, b := range u1.Bars {
		b3 := u3.Bars[i]
		if b.Name != b3.Name || math.Abs(float64(b.Lo-b3.Lo)) > 1e-12 || math.Abs(float64(b.Hi-b3.Hi)) > 1e-12 || b.PassShare != b3.PassShare {
			t.Errorf("bar %s: %+v once, %+v thrice", b.Name, b, b3)
		}
	}
	if !slices.Equal(u1.Metrics, again.Uncertainty.Metrics) || !slices.Equal(u1.Bars, again.Uncertainty.Bars) {
		t.Error("the same seed gave different intervals")
	}
}

// Each bar's margin is the bar's value minus its threshold (calibration:
// the other way round), and a bar far past its threshold passes in every
// resample, one far short in none.
func TestBootstrapBars(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 4))
	const n = 1500
	var model, base []float64
	var labels []bool
	var member []string
	var mr, br []int
	for i := range n {
		y := r.Float64() < 0.15
		p := 0.05
		if y {
			p = 0.9
		}
		model = append(model, p) // separates perfectly, badly calibrated (ECE ≈ 0.1)
		base = append(base, r.Float64())
		labels = append(labels, y)
		member = append(member, fmt.Sprint("M", i%500)) // three examples a member
		mr = append(mr, 1)                              // HR@3 1 against 1/3 or so
		br = append(br, 1+r.IntN(9))
	}
	rep := bootScoring(t, model, base, labels, mr, br, member, 200, 3)
	want := map[string]float64{barChurnBaselines: 1, barCalibration: 0, barHR3Baselines: 1}
	if len(rep.Uncertainty.Bars) != len(want) {
		t.Fatalf("bars %+v, want %d (no oracle bars without truth)", rep.Uncertainty.Bars, len(want))
	}
	for _, b := range rep.Uncertainty.Bars {
		var bar Bar
		for _, x := range rep.Bars {
			if x.Name == b.Name {
				bar = x
			}
		}
		margin := bar.Value - bar.Threshold
		if b.Name == barCalibration {
			margin = -margin
		}
		if b.Margin != margin {
			t.Errorf("bar %s: margin %v, want %v from %+v", b.Name, b.Margin, margin, bar)
		}
		if float64(b.PassShare) != want[b.Name] {
			t.Errorf("bar %s: passes in %v of the resamples, want %v (margin %v, interval [%v, %v])", b.Name, b.PassShare, want[b.Name], b.Margin, b.Lo, b.Hi)
		}
		if !(b.Lo <= b.Margin && b.Margin <= b.Hi) {
			t.Errorf("bar %s: margin %v outside its interval [%v, %v]", b.Name, b.Margin, b.Lo, b.Hi)
		}
	}
	if u := rep.Uncertainty; u.Members != 500 {
		t.Errorf("%d members, want 500", u.Members)
	}
}

// A candidate's differences from the model are paired: a candidate that
// is the model plus a little noise differs from it by much less than
// either metric's own interval, and the differences are those of the
// split's figures. A candidate better than every baseline does not become
// the baseline of the model's bars.
func TestBootstrapComparisons(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 5))
	const n = 2000
	var model, cand, base []float64
	var labels []bool
	var member []string
	var mr, cr, br []int
	for i := range n {
		y := r.Float64() < 0.15
		shift := 0.0
		if y {
			shift = 1.2
		}
		x := r.NormFloat64() + shift
		model = append(model, 1/(1+math.Exp(-x+2)))
		cand = append(cand, 1/(1+math.Exp(-x-0.05*r.NormFloat64()+2)))
		base = append(base, r.Float64())
		labels = append(labels, y)
		member = append(member, fmt.Sprint("M", i/2))
		k := 1 + r.IntN(6)
		mr = append(mr, k)
		if r.Float64() < 0.05 {
			k = 1 // the candidate ranks a few more right
		}
		cr = append(cr, k)
		br = append(br, 1+r.IntN(10))
	}
	rep := bootCompare(t, model, cand, base, labels, mr, cr, br, member, 1000, 4)
	u := rep.Uncertainty
	if len(u.Comparisons) != 3 {
		t.Fatalf("comparisons %+v, want ROC-AUC, ECE and HR@3", u.Comparisons)
	}
	own := metricInterval(t, u, MethodModel, "ROC-AUC")
	for i, c := range u.Comparisons {
		var want float64
		switch c.Metric {
		case "ROC-AUC":
			want = float64(rep.Churn[1].All.ROCAUC - rep.Churn[0].All.ROCAUC)
			if w, ow := float64(c.Hi-c.Lo), float64(own.Hi-own.Lo); w > ow/4 {
				t.Errorf("ROC-AUC difference interval [%v, %v] (width %.4f) not much narrower than the model's own [%v, %v] (width %.4f): not paired?", c.Lo, c.Hi, w, own.Lo, own.Hi, ow)
			}
		case "ECE":
			want = float64(rep.Churn[1].All.ECE - rep.Churn[0].All.ECE)
		case "HR@3":
			want = float64(rep.Next[1].All.HR3 - rep.Next[0].All.HR3)
			if c.Lo <= 0 || c.BetterShare != 1 {
				t.Errorf("HR@3: the candidate ranks about 3 %% more right, got %+v", c)
			}
		}
		if c.Candidate != "other" || math.Abs(float64(c.Diff)-want) > 1e-15 {
			t.Errorf("comparison %d: %+v, want difference %v", i, c, want)
		}
	}

	// A candidate as good but with its own noise: the difference varies
	// from resample to resample by about √2 times either AUC's own
	// spread (coupling the two series in any other order than the
	// resamples', e.g. sorted, would shrink it).
	indep := make([]float64, n)
	for i, y := range labels {
		shift := 0.0
		if y {
			shift = 1.2
		}
		indep[i] = r.NormFloat64() + shift
	}
	ind := bootCompare(t, model, indep, base, labels, mr, cr, br, member, 1000, 4)
	own = metricInterval(t, ind.Uncertainty, MethodModel, "ROC-AUC")
	if c := ind.Uncertainty.Comparisons[0]; float64(c.Hi-c.Lo) < 1.1*float64(own.Hi-own.Lo) {
		t.Errorf("independent candidate: difference interval [%v, %v] narrower than 1.1 × the model's own [%v, %v]", c.Lo, c.Hi, own.Lo, own.Hi)
	}

	// The same examples without the candidate: the same bars and margins.
	alone := bootScoring(t, model, base, labels, mr, br, member, 1000, 4)
	// (Compared as text: the oracle bars' NaN values are unequal to
	// themselves.)
	if a, b := fmt.Sprint(alone.Bars), fmt.Sprint(rep.Bars); a != b || !slices.Equal(alone.Uncertainty.Bars, rep.Uncertainty.Bars) {
		t.Errorf("bars with a candidate %s, without %s", b, a)
	}
	// A candidate far better than the baselines leaves the model's bars
	// alone too.
	perfect := make([]float64, n)
	ones := make([]int, n)
	for i, y := range labels {
		perfect[i] = oneIf(y)
		ones[i] = 1
	}
	best := bootCompare(t, model, perfect, base, labels, mr, ones, br, member, 1000, 4)
	if a, b := fmt.Sprint(alone.Bars), fmt.Sprint(best.Bars); a != b || !slices.Equal(alone.Uncertainty.Bars, best.Uncertainty.Bars) {
		t.Errorf("bars with a perfect candidate %s, without %s", b, a)
	}
}

// The oracle bars' figures are on the matched examples only: examples
// without a truth row, added for members that are already there (so that
// every resample draws the same members), change none of the "(matched)"
// intervals and do change the all-examples ones.
func TestBootstrapMatchedOnly(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 6))
	type ex struct {
		model, base, oracle float64 // oracle NaN: unmatched
		y                   bool
		mr, br, or, opt     int // or 0: unmatched
		member              string
	}
	draw := func(i int, matched bool) ex {
		y := r.Float64() < 0.2
		shift := 0.0
		if y {
			shift = 1
		}
		e := ex{model: r.NormFloat64() + shift, base: r.NormFloat64() + shift/2, oracle: math.NaN(), y: y,
			mr: 1 + r.IntN(5), br: 1 + r.IntN(7), member: fmt.Sprint("M", i)}
		if matched {
			e.oracle = r.NormFloat64() + 2*shift
			e.or = 1 + r.IntN(4)
			e.opt = max(1, e.or-r.IntN(2))
		}
		return e
	}
	run := func(exs []ex) *Uncertainty {
		s := &scoring{model: true, memberIdx: map[string]int32{}, truth: &truthIndex{},
			churnMethods:  []string{MethodModel, MethodLogistic},
			probabilistic: []bool{true, true},
			nextMethods:   []string{MethodModel, MethodMostFrequent},
			scores:        make([][]float64, 2),
			ranks:         make([][]int, 2),
		}
		for _, e := range exs {
			k, ok := s.memberIdx[e.member]
			if !ok {
				k = int32(len(s.memberIDs))
				s.memberIdx[e.member] = k
				s.memberIDs = append(s.memberIDs, e.member)
			}
			s.labels = append(s.labels, e.y)
			s.recency = append(s.recency, false)
			s.churnTier = append(s.churnTier, features.TierCore)
			s.nextTier = append(s.nextTier, features.TierCore)
			s.churnMem = append(s.churnMem, k)
			s.nextMem = append(s.nextMem, k)
			s.scores[0] = append(s.scores[0], e.model)
			s.scores[1] = append(s.scores[1], e.base)
			s.ranks[0] = append(s.ranks[0], e.mr)
			s.ranks[1] = append(s.ranks[1], e.br)
			s.oracle = append(s.oracle, e.oracle)
			s.nextClasses = append(s.nextClasses, 0)
			s.groupC = append(s.groupC, GroupVisible)
			s.oracleRank = append(s.oracleRank, e.or)
			s.oracleOpt = append(s.oracleOpt, e.opt) // 0 when unmatched
		}
		rep := &Report{}
		s.summarise(rep, s.truth)
		rep.bars()
		s.bootstrap(rep, 500, 9)
		return rep.Uncertainty
	}
	var matched []ex
	for i := range 600 {
		matched = append(matched, draw(i, true))
	}
	more := slices.Clone(matched)
	for i := range 300 {
		more = append(more, draw(i*2, false)) // members M0, M2, ... again
	}
	a, b := run(matched), run(more)
	if a.Members != b.Members {
		t.Fatalf("members %d and %d: the extra examples must belong to the same members", a.Members, b.Members)
	}
	for _, m := range []struct {
		method, metric string
		same           bool
	}{
		{MethodModel, "ROC-AUC (matched)", true},
		{MethodModel, "HR@3 (matched)", true},
		{MethodOracle, "ROC-AUC (matched)", true},
		{MethodOracle, "HR@3 (matched, ties in its favour)", true},
		{MethodModel, "ROC-AUC", false},
		{MethodModel, "HR@3", false},
	} {
		x, y := metricInterval(t, a, m.method, m.metric), metricInterval(t, b, m.method, m.metric)
		if same := x == y; same != m.same {
			t.Errorf("%s %s: %+v with matched examples only, %+v with unmatched ones added; want equal %v", m.method, m.metric, x, y, m.same)
		}
	}
	for i, bar := range a.Bars {
		if oracleBar := bar.Name == barChurnOracle || bar.Name == barHR3Oracle; oracleBar && bar != b.Bars[i] {
			t.Errorf("bar %s: %+v, with unmatched examples added %+v", bar.Name, bar, b.Bars[i])
		}
	}
}
