package btyd

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The CDNOW estimates (Fader, Hardie & Lee 2005, Table 2), used as a
// realistic parameter point.
var cdnowParams = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}

// TestLogLikelihoodByHand evaluates eq. (6) of the paper literally, with
// Beta and Gamma functions and no logs, for a few customers.
func TestLogLikelihoodByHand(t *testing.T) {
	m := &BGNBD{R: 0.7, Alpha: 3.1, A: 1.4, B: 2.2}
	beta := func(x, y float64) float64 { return math.Gamma(x) * math.Gamma(y) / math.Gamma(x+y) }
	cs := []Customer{{X: 0, T: 10}, {X: 1, TX: 2.5, T: 12}, {X: 4, TX: 9.75, T: 30}, {X: 0, T: 0}}
	var want float64
	for _, c := range cs {
		r, al, a, b, x := m.R, m.Alpha, m.A, m.B, c.X
		common := math.Gamma(r+x) * math.Pow(al, r) / math.Gamma(r)
		l := beta(a, b+x) / beta(a, b) * common / math.Pow(al+c.T, r+x)
		if x > 0 {
			l += beta(a+1, b+x-1) / beta(a, b) * common / math.Pow(al+c.TX, r+x)
		}
		want += math.Log(l)
	}
	got, err := m.LogLikelihood(cs)
	if err != nil {
		t.Fatal(err)
	}
	if relErr(got, want) > 1e-12 {
		t.Errorf("LL = %.15g, by hand %.15g", got, want)
	}
}

// TestLogLikelihoodLargeX: for a heavy buyer both terms of eq. (6)
// underflow as plain exponentials; the log-sum-exp must stay finite and
// agree with the smaller-x trend.
func TestLogLikelihoodLargeX(t *testing.T) {
	m := &cdnowParams
	ll, err := m.LogLikelihood([]Customer{{X: 400, TX: 38, T: 39}})
	if err != nil || math.IsInf(ll, 0) || math.IsNaN(ll) {
		t.Fatalf("LL for x = 400: %v, %v", ll, err)
	}
}

// TestGradient compares the analytic gradient in log-parameter space with
// central finite differences.
func TestGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cs := customersOf(simulateBGNBD(rng, cdnowParams, nil, 300, func(r *rand.Rand) float64 { return 20 + 20*r.Float64() }, 0))
	th := []float64{0.6, 3.0, 0.9, 1.7}
	grad := make([]float64, 4)
	bgnbdLL(th[0], th[1], th[2], th[3], cs, grad)
	for i := range th {
		const h = 1e-6
		up, dn := append([]float64(nil), th...), append([]float64(nil), th...)
		up[i] *= math.Exp(h)
		dn[i] *= math.Exp(-h)
		fd := (bgnbdLL(up[0], up[1], up[2], up[3], cs, nil) - bgnbdLL(dn[0], dn[1], dn[2], dn[3], cs, nil)) / (2 * h)
		if math.Abs(fd-grad[i]) > 1e-5*math.Max(1, math.Abs(fd)) {
			t.Errorf("d LL / d log theta[%d]: analytic %.9g, finite difference %.9g", i, grad[i], fd)
		}
	}
}

func TestPAlive(t *testing.T) {
	m := &cdnowParams
	if p := m.PAlive(0, 0, 30); p != 1 {
		t.Errorf("PAlive(x=0) = %v, want 1 (no dropout before a repeat purchase)", p)
	}
	// Bought at T: P(alive) = 1/(1 + a/(b+x-1)), the chance of not
	// dropping out right after the last purchase given x.
	if p, want := m.PAlive(3, 30, 30), 1/(1+m.A/(m.B+2)); relErr(p, want) > 1e-14 {
		t.Errorf("PAlive(3, 30, 30) = %v, want %v", p, want)
	}
	// Longer silence since the last purchase means less likely alive.
	prev := 1.0
	for _, tx := range []float64{30, 25, 15, 5, 1} {
		p := m.PAlive(3, tx, 30)
		if !(p < prev) || p <= 0 {
			t.Errorf("PAlive(3, %v, 30) = %v, not below %v", tx, p, prev)
		}
		prev = p
	}
	// A heavy buyer long silent: tiny but finite and positive.
	if p := m.PAlive(300, 5, 39); !(p >= 0 && p < 1e-10) {
		t.Errorf("PAlive(300, 5, 39) = %v", p)
	}
	for _, h := range [][3]float64{{-1, 0, 3}, {1, 4, 3}, {1.5, 1, 3}, {1, 0, 3}, {math.NaN(), 0, 1}} {
		if p := m.PAlive(h[0], h[1], h[2]); !math.IsNaN(p) {
			t.Errorf("PAlive%v = %v, want NaN for an invalid history", h, p)
		}
	}
	bad := &BGNBD{R: 1, Alpha: -1, A: 1, B: 1}
	if p := bad.PAlive(1, 1, 2); !math.IsNaN(p) {
		t.Errorf("PAlive with alpha < 0 = %v, want NaN", p)
	}
}

// TestExpectations checks eq. (10), ProbNoPurchase, PAlive and eq. (9)
// against a simulation of the model itself: within each group of
// customers with the same calibration count x, the mean of what they did
// in the holdout must equal the mean of what the formulas predict from
// their histories (the conditional expectation averaged over histories),
// up to Monte-Carlo error (4 standard errors).
func TestExpectations(t *testing.T) {
	const n, horizon = 30000, 26.0
	for _, m := range []BGNBD{cdnowParams, {R: 1.5, Alpha: 6, A: 2.5, B: 4}} {
		rng := rand.New(rand.NewPCG(7, 8))
		sims := simulateBGNBD(rng, m, nil, n, func(r *rand.Rand) float64 { return 10 + 30*r.Float64() }, horizon)
		type acc struct{ n, y, y2, e, none, pNone, alive, pAlive float64 }
		groups := map[string]*acc{}
		for _, s := range sims {
			key := "x>=3"
			if s.c.X < 3 {
				key = "x=" + string(rune('0'+int(s.c.X)))
			}
			for _, k := range []string{key, "all"} {
				g := groups[k]
				if g == nil {
					g = &acc{}
					groups[k] = g
				}
				y := s.c.HoldoutX
				g.n++
				g.y += y
				g.y2 += y * y
				g.e += m.ExpectedPurchases(horizon, s.c.X, s.c.TX, s.c.T)
				if y == 0 {
					g.none++
				}
				g.pNone += m.ProbNoPurchase(horizon, s.c.X, s.c.TX, s.c.T)
				if s.aliveAt {
					g.alive++
				}
				g.pAlive += m.PAlive(s.c.X, s.c.TX, s.c.T)
			}
		}
		for k, g := range groups {
			mean := g.y / g.n
			se := math.Sqrt((g.y2/g.n - mean*mean) / g.n)
			if math.IsNaN(g.e) || math.Abs(mean-g.e/g.n) > 4*se {
				t.Errorf("%v %s (%v customers): mean holdout transactions %.4f, mean ExpectedPurchases %.4f (se %.4f)", m, k, g.n, mean, g.e/g.n, se)
			}
			for _, pr := range []struct {
				name      string
				got, want float64
			}{{"ProbNoPurchase", g.none / g.n, g.pNone / g.n}, {"PAlive", g.alive / g.n, g.pAlive / g.n}} {
				se := math.Sqrt(pr.want * (1 - pr.want) / g.n)
				if math.Abs(pr.got-pr.want) > 4*se+1e-12 {
					t.Errorf("%v %s: simulated %.4f, %s %.4f (se %.4f)", m, k, pr.got, pr.name, pr.want, se)
				}
			}
		}
	}
}

// TestExpectedPurchasesNew checks eq. (9) by simulation (T = 0, the
// holdout being the customer's first t weeks), its limit of eq. (10) at
// T = 0, and the removable singularity at a = 1.
func TestExpectedPurchasesNew(t *testing.T) {
	m := cdnowParams
	const n, t0 = 60000, 52.0
	rng := rand.New(rand.NewPCG(3, 4))
	sims := simulateBGNBD(rng, m, nil, n, func(*rand.Rand) float64 { return 0 }, t0)
	var y, y2 float64
	for _, s := range sims {
		y += s.c.HoldoutX
		y2 += s.c.HoldoutX * s.c.HoldoutX
	}
	mean := y / n
	se := math.Sqrt((y2/n - mean*mean) / n)
	got := m.ExpectedPurchasesNew(t0)
	if math.Abs(got-mean) > 4*se {
		t.Errorf("ExpectedPurchasesNew(%v) = %.4f, simulated %.4f (se %.4f)", t0, got, mean, se)
	}
	if c := m.ExpectedPurchases(t0, 0, 0, 0); relErr(c, got) > 1e-12 {
		t.Errorf("ExpectedPurchases(t, 0, 0, 0) = %v, ExpectedPurchasesNew = %v", c, got)
	}
	if m.ExpectedPurchases(0, 2, 3, 4) != 0 || m.ExpectedPurchasesNew(0) != 0 {
		t.Error("expected purchases over 0 weeks not 0")
	}
	// Continuity through a = 1, where (a+b+x-1)/(a-1) and the bracket both
	// change sign.
	for _, h := range [][3]float64{{0, 0, 20}, {3, 15, 20}} {
		var vals []float64
		for _, a := range []float64{1 - 1e-3, 1 - 1e-7, 1, 1 + 1e-7, 1 + 1e-3} {
			mm := BGNBD{R: 0.5, Alpha: 4, A: a, B: 2}
			vals = append(vals, mm.ExpectedPurchases(10, h[0], h[1], h[2]))
		}
		for i := 1; i < len(vals); i++ {
			if math.IsNaN(vals[i]) || relErr(vals[i], vals[0]) > 2e-3 {
				t.Errorf("history %v: ExpectedPurchases around a = 1: %v", h, vals)
				break
			}
		}
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if v := m.ExpectedPurchases(bad, 1, 1, 2); !math.IsNaN(v) {
			t.Errorf("ExpectedPurchases(t=%v) = %v, want NaN", bad, v)
		}
		if v := m.ProbNoPurchase(bad, 1, 1, 2); !math.IsNaN(v) {
			t.Errorf("ProbNoPurchase(t=%v) = %v, want NaN", bad, v)
		}
		if v := m.ExpectedPurchasesNew(bad); !math.IsNaN(v) {
			t.Errorf("ExpectedPurchasesNew(t=%v) = %v, want NaN", bad, v)
		}
	}
}

// TestFitRecovers fits data simulated from known parameters (seeded) and
// checks that each estimate is within 4 standard errors of the truth
// (standard errors from the observed information, the finite-difference
// Hessian of the log-likelihood in log-parameter space), and that the
// fitted likelihood is at least the likelihood at the truth.
func TestFitRecovers(t *testing.T) {
	truth := BGNBD{R: 0.8, Alpha: 5, A: 1.2, B: 3}
	rng := rand.New(rand.NewPCG(11, 12))
	cs := customersOf(simulateBGNBD(rng, truth, nil, 3000, func(r *rand.Rand) float64 { return 20 + 32*r.Float64() }, 0))
	m, err := FitBGNBD(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	llTrue, _ := truth.LogLikelihood(cs)
	if m.LogLik < llTrue {
		t.Errorf("fitted LL %.4f below the LL at the true parameters %.4f", m.LogLik, llTrue)
	}
	est := []float64{m.R, m.Alpha, m.A, m.B}
	tru := []float64{truth.R, truth.Alpha, truth.A, truth.B}
	se := logSE(t, func(th, g []float64) { bgnbdLL(th[0], th[1], th[2], th[3], cs, g) }, est)
	for i, name := range []string{"r", "alpha", "a", "b"} {
		z := (math.Log(est[i]) - math.Log(tru[i])) / se[i]
		t.Logf("%s: true %v, fitted %.4f, se(log) %.4f, z %.2f", name, tru[i], est[i], se[i], z)
		if math.Abs(z) > 4 {
			t.Errorf("%s = %.4f, true %v: %.1f standard errors off", name, est[i], tru[i], z)
		}
	}
	// A different start reaches the same maximum.
	m2, err := FitBGNBD(cs, &FitOptions{Init: []float64{2, 0.5, 3, 0.3}})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m2.LogLik-m.LogLik) > 1e-6 || relErr(m2.R, m.R) > 1e-4 || relErr(m2.B, m.B) > 1e-4 {
		t.Errorf("from another start: %v; from the default: %v", m2, m)
	}
}

// logSE returns the standard errors of the log-parameters from the inverse
// of the observed information, the finite-difference Hessian (in
// log-parameter space) of the log-likelihood whose gradient grad computes.
func logSE(t *testing.T, grad func(theta, g []float64), th []float64) []float64 {
	t.Helper()
	const h = 1e-5
	n := len(th)
	H := mat.NewDense(n, n, nil)
	g1, g2 := make([]float64, n), make([]float64, n)
	for j := 0; j < n; j++ {
		up, dn := append([]float64(nil), th...), append([]float64(nil), th...)
		up[j] *= math.Exp(h)
		dn[j] *= math.Exp(-h)
		grad(up, g1)
		grad(dn, g2)
		for i := 0; i < n; i++ {
			H.Set(i, j, -(g1[i]-g2[i])/(2*h))
		}
	}
	var cov mat.Dense
	if err := cov.Inverse(H); err != nil {
		t.Fatalf("information matrix not invertible: %v", err)
	}
	se := make([]float64, n)
	for i := range se {
		se[i] = math.Sqrt(cov.At(i, i))
	}
	return se
}

func TestFitErrors(t *testing.T) {
	good := Customer{ID: "c1", X: 2, TX: 3, T: 10}
	for _, tc := range []struct {
		name string
		cs   []Customer
		opts *FitOptions
		want []string // substrings of the error
	}{
		{"empty", nil, nil, []string{"no customers"}},
		{"negative X", []Customer{good, {ID: "c2", X: -1, T: 3}}, nil, []string{"customer 1", `"c2"`, "X = -1", "negative"}},
		{"fractional X", []Customer{{ID: "c3", X: 1.5, TX: 1, T: 3}}, nil, []string{`"c3"`, "X = 1.5", "whole"}},
		{"TX after T", []Customer{{ID: "c4", X: 1, TX: 5, T: 3}}, nil, []string{`"c4"`, "TX = 5", "after T"}},
		{"TX without X", []Customer{{ID: "c5", X: 0, TX: 1, T: 3}}, nil, []string{`"c5"`, "TX = 1", "X = 0"}},
		{"X without TX", []Customer{{ID: "c6", X: 2, T: 3}}, nil, []string{`"c6"`, "TX = 0"}},
		{"NaN T", []Customer{{ID: "c7", T: math.NaN()}}, nil, []string{`"c7"`, "T = NaN", "finite"}},
		{"Inf MeanValue", []Customer{{ID: "c8", T: 1, MeanValue: math.Inf(1)}}, nil, []string{`"c8"`, "MeanValue"}},
		{"bad init length", []Customer{good}, &FitOptions{Init: []float64{1, 2}}, []string{"Init has 2 values, want 4"}},
		{"bad init value", []Customer{good}, &FitOptions{Init: []float64{1, 0, 1, 1}}, []string{"Init[1] = 0"}},
		{"bad penalizer", []Customer{good}, &FitOptions{Penalizer: -1}, []string{"Penalizer = -1"}},
		{"no repeat buyer", []Customer{{ID: "z1", T: 10}, {ID: "z2", T: 20}}, nil, []string{"none of the 2 customers has a repeat transaction"}},
		{"not identified", []Customer{good}, nil, []string{"runs off", "do not identify"}},
	} {
		_, err := FitBGNBD(tc.cs, tc.opts)
		checkInputErr(t, tc.name, err, tc.want)
	}
}

// TestFitPenalizer: on a small, short sample the penalized fit must trade
// likelihood for smaller parameters: a lower LL than the plain fit and a
// smaller sum of squared parameters (what the penalty charges for), and
// it must still converge.
func TestFitPenalizer(t *testing.T) {
	truth := BGNBD{R: 1, Alpha: 2, A: 0.5, B: 40}
	rng := rand.New(rand.NewPCG(5, 6))
	cs := customersOf(simulateBGNBD(rng, truth, nil, 200, func(*rand.Rand) float64 { return 8 }, 0))
	plain, err := FitBGNBD(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	pen, err := FitBGNBD(cs, &FitOptions{Penalizer: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plain %v; penalized %v", plain, pen)
	sq := func(m *BGNBD) float64 { return m.R*m.R + m.Alpha*m.Alpha + m.A*m.A + m.B*m.B }
	if !(pen.LogLik < plain.LogLik) || !(sq(pen) < sq(plain)) {
		t.Errorf("penalized fit %v (sum sq %.4f) vs plain %v (sum sq %.4f)", pen, sq(pen), plain, sq(plain))
	}
}

// TestExpectedPurchasesAlive checks the factorisation eq. (10) =
// ExpectedPurchasesAlive * PAlive on a grid of histories, for the CDNOW
// parameters, others, and a = 1 (the removable singularity, where the two
// sides average differently and agree to 1e-9), and that it refuses what
// ExpectedPurchases refuses.
func TestExpectedPurchasesAlive(t *testing.T) {
	for _, m := range []BGNBD{cdnowParams, {R: 1.5, Alpha: 6, A: 2.5, B: 4}, {R: 1.4, Alpha: 7, A: 0.22, B: 4.3}, {R: 0.5, Alpha: 3, A: 1, B: 2}} {
		for _, h := range []float64{1, 26, 104.36} {
			for T := 1.0; T <= 120; T += 7 {
				for x := 0.0; x < T; x += 3 {
					for _, tx := range []float64{x, (x + T) / 2, T - 0.5} {
						if x == 0 {
							tx = 0
						}
						want := m.ExpectedPurchases(h, x, tx, T)
						got := m.ExpectedPurchasesAlive(h, x, T) * m.PAlive(x, tx, T)
						if math.IsNaN(want) || !(math.Abs(got-want) <= 1e-9*math.Abs(want)+1e-15) {
							t.Fatalf("%v h=%v x=%v tx=%v T=%v: alive*PAlive %v, ExpectedPurchases %v", m, h, x, tx, T, got, want)
						}
					}
				}
			}
		}
	}
	m := cdnowParams
	for _, c := range [][3]float64{{-1, 0, 10}, {26, 1.5, 10}, {26, -1, 10}, {26, 0, -1}, {math.Inf(1), 0, 10}, {26, 0, math.NaN()}} {
		if v := m.ExpectedPurchasesAlive(c[0], c[1], c[2]); !math.IsNaN(v) {
			t.Errorf("ExpectedPurchasesAlive(%v) = %v, want NaN", c, v)
		}
	}
	if v := (&BGNBD{R: 1, Alpha: -1, A: 1, B: 1}).ExpectedPurchasesAlive(26, 0, 10); !math.IsNaN(v) {
		t.Errorf("invalid model: %v, want NaN", v)
	}
}
