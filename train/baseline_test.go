package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"retain/features"
)

// TestFitLogisticRecovers draws a logistic model with known coefficients on
// features of different scales and offsets and checks that the fit
// recovers them. With 40,000 rows the standard error of each coefficient
// is about 0.02–0.03 on the standardised scale (1/sqrt(n·p(1−p))), so a
// tolerance of 0.1 on the original scale's coefficients (times the
// feature's scale) is about four standard errors.
func TestFitLogisticRecovers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	coef := []float64{1.5, -0.2, 0.05}
	scale := []float64{1, 10, 40}
	offset := []float64{0, 5, -100}
	const b = -1.0
	n := 40000
	x := make([][]float64, n)
	y := make([]bool, n)
	for i := range x {
		x[i] = make([]float64, len(coef))
		a := b
		for j := range coef {
			x[i][j] = offset[j] + scale[j]*r.NormFloat64()
			a += coef[j] * x[i][j]
		}
		y[i] = r.Float64() < 1/(1+math.Exp(-a))
	}
	m, err := FitLogistic(x, y, &LogisticOptions{L2: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Converged || m.Iterations > 20 {
		t.Errorf("converged %v after %d iterations", m.Converged, m.Iterations)
	}
	got, gotB := m.Unstandardised()
	for j := range coef {
		if math.Abs(got[j]-coef[j])*scale[j] > 0.1 {
			t.Errorf("coefficient %d = %.4f, want %.4f", j, got[j], coef[j])
		}
	}
	// The intercept absorbs the offsets: its error is that of the
	// standardised intercept plus the coefficient errors times the
	// offsets; 0.1 + 0.1·(5/10 + 100/40) = 0.4 covers it.
	if math.Abs(gotB-b) > 0.4 {
		t.Errorf("intercept = %.4f, want %.4f", gotB, b)
	}
	// Prob agrees with the unstandardised form.
	a := gotB
	for j := range got {
		a += got[j] * x[0][j]
	}
	if p := m.Prob(x[0]); math.Abs(p-1/(1+math.Exp(-a))) > 1e-9 {
		t.Errorf("Prob = %v, unstandardised gives %v", p, 1/(1+math.Exp(-a)))
	}
}

// TestFitLogisticSeparable checks that the L2 penalty keeps a perfectly
// separable fit finite: for one standardised feature ±1 with labels equal
// to its sign, the penalised optimum has finite w.
func TestFitLogisticSeparable(t *testing.T) {
	x := [][]float64{{-1}, {-1}, {1}, {1}}
	y := []bool{false, false, true, true}
	m, err := FitLogistic(x, y, &LogisticOptions{L2: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	// The standardised feature is z = ±1 and by symmetry b = 0. The
	// derivative of the mean log-loss + 0.1/2·w² in w is the mean of
	// (σ(wz) − y)·z, which is σ(w) − 1 for both kinds of row, plus 0.1·w:
	// the optimum solves 0.1·w = 1 − σ(w) (w ≈ 3.08).
	w := m.Coef[0]
	if math.Abs(m.Intercept) > 1e-6 || math.Abs(0.1*w-(1-1/(1+math.Exp(-w)))) > 1e-6 {
		t.Errorf("w = %v, b = %v: not the penalised optimum", w, m.Intercept)
	}
	if _, err := FitLogistic(x, []bool{true, true, true, true}, nil); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: err = %v, want ErrOneClass", err)
	}
}

// evalSpec returns a spec with three categories a, b, c for the baseline
// tests.
func evalSpec(t *testing.T) *features.FeatureSpec {
	t.Helper()
	spec, err := features.NewSpec(features.DefaultConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec.Categories = []string{"a", "b", "c"}
	spec.Sequence = []string{"visits", "class_a", "class_b", "class_c", "minutes"}
	return spec
}

func TestSeqLayout(t *testing.T) {
	l, err := newSeqLayout(evalSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	// Three weeks, oldest first: week 0 one a, week 1 two b and one c,
	// week 2 no class (only visits and minutes).
	seq := []float32{
		1, 1, 0, 0, 60,
		3, 0, 2, 1, 180,
		2, 0, 0, 0, 90,
	}
	counts := l.classCounts(seq, make([]float64, 3))
	if counts[0] != 1 || counts[1] != 2 || counts[2] != 1 {
		t.Errorf("classCounts = %v, want [1 2 1]", counts)
	}
	last := make([]float64, 3)
	if !l.lastClassWeek(seq, last) || last[0] != 0 || last[1] != 2 || last[2] != 1 {
		t.Errorf("lastClassWeek = %v, want week 1: [0 2 1]", last)
	}
	if l.lastClassWeek(seq[10:], last) || last[0]+last[1]+last[2] != 0 {
		t.Errorf("no class week: lastClassWeek = %v, want none", last)
	}
	spec := evalSpec(t)
	spec.Sequence = []string{"visits", "class_a"}
	if _, err := newSeqLayout(spec); err == nil {
		t.Error("a spec without class_b: no error")
	}
}

func TestMarkovScores(t *testing.T) {
	// Transitions from a: 3 to b, 1 to c; from b: none. Pop = (0.5, 0.3,
	// 0.2), Alpha = 1.
	m := Markov{Counts: [][]float64{{0, 3, 1}, {0, 0, 0}, {0, 0, 0}}, Pop: []float64{0.5, 0.3, 0.2}, Alpha: 1}
	dst := make([]float64, 3)
	// Last week all a: ((0+0.5)/5, (3+0.3)/5, (1+0.2)/5) = (0.1, 0.66, 0.24).
	m.Scores([]float64{2, 0, 0}, dst)
	for k, want := range []float64{0.1, 0.66, 0.24} {
		if math.Abs(dst[k]-want) > 1e-12 {
			t.Errorf("from a: score[%d] = %v, want %v", k, dst[k], want)
		}
	}
	// Last week one a and one b: half the row above plus half of b's row,
	// which is popularity (no transitions: (0+Pop)/(0+1)):
	// (0.05+0.25, 0.33+0.15, 0.12+0.1) = (0.3, 0.48, 0.22).
	m.Scores([]float64{1, 1, 0}, dst)
	for k, want := range []float64{0.3, 0.48, 0.22} {
		if math.Abs(dst[k]-want) > 1e-12 {
			t.Errorf("from a and b: score[%d] = %v, want %v", k, dst[k], want)
		}
	}
	// No class: popularity.
	m.Scores([]float64{0, 0, 0}, dst)
	if dst[0] != 0.5 || dst[1] != 0.3 || dst[2] != 0.2 {
		t.Errorf("no class: %v, want popularity", dst)
	}
}

func TestMostFrequentScores(t *testing.T) {
	m := MostFrequent{Pop: []float64{0.2, 0.5, 0.3}}
	dst := make([]float64, 3)
	// Counts (2, 0, 2): a and c tie on count, popularity puts c first;
	// b, never attended, is last despite the highest popularity.
	m.Scores([]float64{2, 0, 2}, dst)
	if r := Rank(dst, 2); r != 1 {
		t.Errorf("c ranked %d, want 1 (scores %v)", r, dst)
	}
	if r := Rank(dst, 0); r != 2 {
		t.Errorf("a ranked %d, want 2", r)
	}
	if r := Rank(dst, 1); r != 3 {
		t.Errorf("b ranked %d, want 3", r)
	}
	// No classes: popularity order b, c, a.
	m.Scores([]float64{0, 0, 0}, dst)
	if Rank(dst, 1) != 1 || Rank(dst, 2) != 2 || Rank(dst, 0) != 3 {
		t.Errorf("no classes: scores %v, want popularity order", dst)
	}
}
