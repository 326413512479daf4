package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCalibrateHandChecked fits cases whose optimum is known in closed
// form. With logits at only two values z1, z2, Platt scaling can match both
// observed rates exactly, so the maximum-likelihood fit solves
//
//	A·z1 + B = logit(rate1),  A·z2 + B = logit(rate2).
//
// Case 1: z = -1 with 1 churner of 4 (rate 1/4), z = +1 with 3 of 4 (3/4):
// A·(±1) + B = ±ln 3, so A = ln 3 = 1.098612, B = 0.
// Case 2: z = -1 with 1 of 5 (1/5), z = +1 with 1 of 2 (1/2):
// -A + B = ln(1/4), A + B = 0, so A = ln 2 = 0.693147, B = -ln 2.
// Temperature scaling on case 1 has B = 0 already, so it finds A = ln 3 too;
// on case 2 it solves dL/dA = Σ (σ(A·z_i) - y_i)·z_i = 0, which for
// the 5 examples at -1 and 2 at +1 reads
// -5·σ(-A) + 1 + 2·σ(A) - 1 = 0, i.e. 5·σ(-A) = 2·σ(A), e^A = 5/2:
// A = ln 2.5 = 0.916291.
func TestCalibrateHandChecked(t *testing.T) {
	type pt struct {
		z    float64
		n, k int // examples, churners
	}
	expand := func(pts []pt) (z, y []float64) {
		for _, p := range pts {
			for i := 0; i < p.n; i++ {
				z = append(z, p.z)
				y = append(y, trB2F(i < p.k))
			}
		}
		return z, y
	}
	for _, tc := range []struct {
		name   string
		pts    []pt
		method string
		a, b   float64
	}{
		{"platt 1/4 3/4", []pt{{-1, 4, 1}, {1, 4, 3}}, CalibratePlatt, math.Log(3), 0},
		{"platt 1/5 1/2", []pt{{-1, 5, 1}, {1, 2, 1}}, CalibratePlatt, math.Log(2), -math.Log(2)},
		{"temperature 1/4 3/4", []pt{{-1, 4, 1}, {1, 4, 3}}, CalibrateTemperature, math.Log(3), 0},
		{"temperature 1/5 1/2", []pt{{-1, 5, 1}, {1, 2, 1}}, CalibrateTemperature, math.Log(2.5), 0},
		{"none", []pt{{-1, 5, 1}, {1, 2, 1}}, CalibrateNone, 1, 0},
	} {
		z, y := expand(tc.pts)
		c, err := Calibrate(tc.method, z, y)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if math.Abs(c.A-tc.a) > 1e-8 || math.Abs(c.B-tc.b) > 1e-8 {
			t.Errorf("%s: A, B = %.9f, %.9f; want %.9f, %.9f", tc.name, c.A, c.B, tc.a, tc.b)
		}
		if c.Method != tc.method || c.Examples != len(z) {
			t.Errorf("%s: method %q examples %d", tc.name, c.Method, c.Examples)
		}
		if c.LogLossAfter > c.LogLossBefore+1e-12 {
			t.Errorf("%s: log-loss rose from %v to %v", tc.name, c.LogLossBefore, c.LogLossAfter)
		}
	}
}

func trB2F(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestCalibrateMiscalibrated draws labels from σ(0.5·z - 1) while the raw
// model says σ(z): overconfident and biased upwards. Platt scaling must
// recover A ≈ 0.5 and B ≈ -1 (20000 examples: the standard errors are
// about 0.01 and 0.02) and bring the expected calibration error from well
// above 0.05 to below 0.015; temperature scaling, without an intercept,
// must improve it too.
func TestCalibrateMiscalibrated(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 20000
	z, y := make([]float64, n), make([]float64, n)
	for i := range z {
		z[i] = 3 * rng.NormFloat64()
		y[i] = trB2F(rng.Float64() < 1/(1+math.Exp(-(0.5*z[i]-1))))
	}
	probs := func(a, b float64) []float64 {
		p := make([]float64, n)
		for i := range p {
			p[i] = 1 / (1 + math.Exp(-(a*z[i] + b)))
		}
		return p
	}
	before := ece10(probs(1, 0), y)
	c, err := Calibrate(CalibratePlatt, z, y)
	if err != nil {
		t.Fatal(err)
	}
	after := ece10(probs(c.A, c.B), y)
	t.Logf("Platt A %.4f B %.4f; ECE %.4f -> %.4f", c.A, c.B, before, after)
	if math.Abs(c.A-0.5) > 0.05 || math.Abs(c.B+1) > 0.1 {
		t.Errorf("Platt A, B = %.4f, %.4f; want about 0.5, -1", c.A, c.B)
	}
	if !(before > 0.05) || !(after < 0.015) {
		t.Errorf("ECE %.4f -> %.4f; want > 0.05 before and < 0.015 after", before, after)
	}
	if !(c.LogLossAfter < c.LogLossBefore) {
		t.Errorf("log-loss %v -> %v did not drop", c.LogLossBefore, c.LogLossAfter)
	}
	ct, err := Calibrate(CalibrateTemperature, z, y)
	if err != nil {
		t.Fatal(err)
	}
	if e := ece10(probs(ct.A, 0), y); !(e < before) || ct.B != 0 {
		t.Errorf("temperature: A %.4f B %v, ECE %.4f, not below %.4f", ct.A, ct.B, e, before)
	}
}

// TestCalibrateEdgeCases: bad input is refused, and separable data (whose
// optimum lies at infinity) ends with finite parameters and a tiny loss.
func TestCalibrateEdgeCases(t *testing.T) {
	if _, err := Calibrate(CalibratePlatt, nil, nil); err == nil {
		t.Error("no examples: no error")
	}
	if _, err := Calibrate(CalibratePlatt, []float64{1}, []float64{1, 0}); err == nil {
		t.Error("length mismatch: no error")
	}
	if _, err := Calibrate("isotonic", []float64{1}, []float64{1}); err == nil {
		t.Error("unknown method: no error")
	}
	c, err := Calibrate(CalibratePlatt, []float64{-2, -1, 1, 2}, []float64{0, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(c.A) || math.IsInf(c.A, 0) || math.IsNaN(c.B) || !(c.LogLossAfter < 1e-3) {
		t.Errorf("separable: %+v", c)
	}
	// All logits equal: only the intercept is identified, and the fit must
	// match the rate, 1 of 4: σ(0.5 + B) = 1/4, B = ln(1/3) - 0.5.
	c, err = Calibrate(CalibratePlatt, []float64{0.5, 0.5, 0.5, 0.5}, []float64{1, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Log(1.0/3) - 0.5; c.A != 1 || math.Abs(c.B-want) > 1e-9 {
		t.Errorf("constant logits: A %v B %v, want 1 and %v", c.A, c.B, want)
	}
}

// TestAUCSorted checks the rank statistic against hand counts. Scores
// 0.1, 0.4, 0.35, 0.8 with labels 0, 0, 1, 1: of the 4 positive-negative
// pairs, 3 are ordered right (0.35 > 0.1, 0.8 > 0.1, 0.8 > 0.4) and one
// wrong, so AUC = 3/4 (also scikit-learn's roc_auc_score example). A tie
// between a positive and a negative counts one half: scores 0.5, 0.5, 0.9
// with labels 0, 1, 1 give (0.5 + 1)/2 = 0.75.
func TestAUCSorted(t *testing.T) {
	for _, tc := range []struct {
		s    []float32
		y    []float32
		want float64
	}{
		{[]float32{0.1, 0.4, 0.35, 0.8}, []float32{0, 0, 1, 1}, 0.75},
		{[]float32{0.5, 0.5, 0.9}, []float32{0, 1, 1}, 0.75},
		{[]float32{1, 2, 3}, []float32{0, 1, 1}, 1},
		{[]float32{3, 2, 1}, []float32{0, 1, 1}, 0},
	} {
		e := &evaluator{logits: tc.s, order: make([]int32, len(tc.s)), s: &exampleSet{churn: tc.y}}
		if got := e.auc(); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("AUC(%v, %v) = %v, want %v", tc.s, tc.y, got, tc.want)
		}
	}
	e := &evaluator{logits: []float32{1, 2}, order: make([]int32, 2), s: &exampleSet{churn: []float32{1, 1}}}
	if got := e.auc(); !math.IsNaN(got) {
		t.Errorf("one class: AUC %v, want NaN", got)
	}
}

// TestECE10 checks the binned calibration error by hand: probabilities
// 0.05, 0.05 (bin 0, mean 0.05) with labels 0, 1 (rate 0.5) and 0.95 (bin
// 9) with label 1: (2/3)·|0.05 - 0.5| + (1/3)·|0.95 - 1| = 0.3 + 0.016667.
func TestECE10(t *testing.T) {
	got := ece10([]float64{0.05, 0.05, 0.95}, []float64{0, 1, 1})
	if want := 2.0/3*0.45 + 1.0/3*0.05; math.Abs(got-want) > 1e-12 {
		t.Errorf("ece10 = %v, want %v", got, want)
	}
	if got := ece10([]float64{1, 0}, []float64{1, 0}); got != 0 {
		t.Errorf("perfect: %v", got)
	}
}
