package btyd

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/stat/distuv"
)

// simulateSpend draws n customers of the Gamma-Gamma model: nu ~ Gamma(q,
// v), x ~ 1 + Poisson(3) transactions of value Gamma(p, nu), plus one more
// transaction (returned) to test the conditional expectation.
func simulateSpend(rng *rand.Rand, g GammaGamma, n int) ([]Customer, []float64) {
	nuD := distuv.Gamma{Alpha: g.Q, Beta: g.V, Src: rng}
	xD := distuv.Poisson{Lambda: 3, Src: rng}
	cs := make([]Customer, n)
	next := make([]float64, n)
	for i := range cs {
		z := distuv.Gamma{Alpha: g.P, Beta: nuD.Rand(), Src: rng}
		x := 1 + xD.Rand()
		var sum float64
		for j := 0; j < int(x); j++ {
			sum += z.Rand()
		}
		cs[i] = Customer{X: x, TX: 1, T: 2, MeanValue: sum / x}
		next[i] = z.Rand()
	}
	return cs, next
}

// TestGammaGammaLikelihood checks the closed-form density of the mean
// spend against its definition: the density of the mean of x Gamma(p, nu)
// values, Gamma(p x, nu x), integrated over nu ~ Gamma(q, v) numerically.
func TestGammaGammaLikelihood(t *testing.T) {
	g := GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	for _, c := range []Customer{{X: 1, TX: 1, T: 2, MeanValue: 20}, {X: 4, TX: 1, T: 2, MeanValue: 35.5}, {X: 12, TX: 1, T: 2, MeanValue: 8}} {
		f := func(nu float64) float64 {
			return distuv.Gamma{Alpha: g.P * c.X, Beta: nu * c.X}.Prob(c.MeanValue) * distuv.Gamma{Alpha: g.Q, Beta: g.V}.Prob(nu)
		}
		want := math.Log(quad.Fixed(f, 0, 20, 4000, nil, 0))
		got, err := g.LogLikelihood([]Customer{c})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-8 {
			t.Errorf("x=%v mean=%v: log density %.12g, integral %.12g", c.X, c.MeanValue, got, want)
		}
	}
}

func TestGammaGammaGradient(t *testing.T) {
	cs, _ := simulateSpend(rand.New(rand.NewPCG(1, 1)), GammaGamma{P: 6, Q: 4, V: 15}, 200)
	th := []float64{3, 2.5, 20}
	grad := make([]float64, 3)
	ggLL(th[0], th[1], th[2], cs, grad)
	for i := range th {
		const h = 1e-6
		up, dn := append([]float64(nil), th...), append([]float64(nil), th...)
		up[i] *= math.Exp(h)
		dn[i] *= math.Exp(-h)
		fd := (ggLL(up[0], up[1], up[2], cs, nil) - ggLL(dn[0], dn[1], dn[2], cs, nil)) / (2 * h)
		if math.Abs(fd-grad[i]) > 1e-5*math.Max(1, math.Abs(fd)) {
			t.Errorf("d LL / d log theta[%d]: analytic %.9g, finite difference %.9g", i, grad[i], fd)
		}
	}
}

// TestGammaGammaRecovers fits simulated spends (seeded): each estimate
// within 4 standard errors of the truth, and the conditional expected
// spend equal, on average, to the value of each customer's next
// transaction (within 4 standard errors).
func TestGammaGammaRecovers(t *testing.T) {
	truth := GammaGamma{P: 6, Q: 4, V: 15}
	cs, next := simulateSpend(rand.New(rand.NewPCG(2, 3)), truth, 4000)
	g, err := FitGammaGamma(cs)
	if err != nil {
		t.Fatal(err)
	}
	est := []float64{g.P, g.Q, g.V}
	se := logSE(t, func(th, gr []float64) { ggLL(th[0], th[1], th[2], cs, gr) }, est)
	for i, name := range []string{"p", "q", "v"} {
		tru := []float64{truth.P, truth.Q, truth.V}[i]
		z := (math.Log(est[i]) - math.Log(tru)) / se[i]
		t.Logf("%s: true %v, fitted %.4f, se(log) %.4f, z %.2f", name, tru, est[i], se[i], z)
		if math.Abs(z) > 4 {
			t.Errorf("%s = %.4f, true %v: %.1f standard errors off", name, est[i], tru, z)
		}
	}
	var diff, diff2 float64
	for i, c := range cs {
		d := next[i] - truth.ConditionalExpectedSpend(c.X, c.MeanValue)
		diff += d
		diff2 += d * d
	}
	n := float64(len(cs))
	mean, sd := diff/n, math.Sqrt(diff2/n-(diff/n)*(diff/n))
	if math.Abs(mean) > 4*sd/math.Sqrt(n) {
		t.Errorf("next spend minus ConditionalExpectedSpend: mean %.4f (se %.4f)", mean, sd/math.Sqrt(n))
	}
}

func TestConditionalExpectedSpend(t *testing.T) {
	g := &GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	pop := g.P * g.V / (g.Q - 1)
	if got := g.ConditionalExpectedSpend(0, 0); relErr(got, pop) > 1e-15 {
		t.Errorf("x = 0: %v, want the population mean %v", got, pop)
	}
	// The weighted-mean form (Fader, Hardie & Lee 2005b, eq. 5).
	x, m := 3.0, 50.0
	w := (g.Q - 1) / (g.P*x + g.Q - 1)
	if got, want := g.ConditionalExpectedSpend(x, m), w*pop+(1-w)*m; relErr(got, want) > 1e-14 {
		t.Errorf("x=3 mean=50: %v, want %v", got, want)
	}
	for _, bad := range [][2]float64{{-1, 5}, {1, -5}, {0, 5}, {math.NaN(), 1}} {
		if v := g.ConditionalExpectedSpend(bad[0], bad[1]); !math.IsNaN(v) {
			t.Errorf("ConditionalExpectedSpend%v = %v, want NaN", bad, v)
		}
	}
	if v := (&GammaGamma{P: 1, Q: 0.9, V: 1}).ConditionalExpectedSpend(1, 1); !math.IsNaN(v) {
		t.Errorf("q <= 1: %v, want NaN (no finite population mean)", v)
	}
}

func TestCustomerLifetimeValue(t *testing.T) {
	m := &cdnowParams
	g := &GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	c := Customer{ID: "c", X: 2, TX: 30, T: 38, MeanValue: 22}
	spend := g.ConditionalExpectedSpend(c.X, c.MeanValue)
	// One period, no discount: spend times expected purchases.
	got, err := CustomerLifetimeValue(m, g, c, CLVOptions{Periods: 1, PeriodWeeks: 52})
	if err != nil {
		t.Fatal(err)
	}
	if want := spend * m.ExpectedPurchases(52, c.X, c.TX, c.T); relErr(got, want) > 1e-14 {
		t.Errorf("1 period: %v, want %v", got, want)
	}
	// Two periods at 10%: each period's increment discounted.
	got, err = CustomerLifetimeValue(m, g, c, CLVOptions{Periods: 2, PeriodWeeks: 26, DiscountRate: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	e1, e2 := m.ExpectedPurchases(26, c.X, c.TX, c.T), m.ExpectedPurchases(52, c.X, c.TX, c.T)
	if want := spend*e1/1.1 + spend*(e2-e1)/1.21; relErr(got, want) > 1e-14 {
		t.Errorf("2 periods at 10%%: %v, want %v", got, want)
	}
	for _, o := range []CLVOptions{{Periods: 0, PeriodWeeks: 4}, {Periods: 1}, {Periods: 1, PeriodWeeks: 4, DiscountRate: -0.1}} {
		if _, err := CustomerLifetimeValue(m, g, c, o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
	if _, err := CustomerLifetimeValue(m, &GammaGamma{P: 1, Q: 1, V: 1}, c, CLVOptions{Periods: 1, PeriodWeeks: 4}); err == nil {
		t.Error("q = 1: no error")
	}
	if _, err := CustomerLifetimeValue(m, g, Customer{ID: "bad", X: 1, TX: 5, T: 4}, CLVOptions{Periods: 1, PeriodWeeks: 4}); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("bad customer: %v", err)
	}
}

func TestFitGammaGammaErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cs   []Customer
		want []string
	}{
		{"empty", nil, []string{"no customers"}},
		{"no repeat buyers", []Customer{{ID: "a", T: 3}}, []string{"no customer with a repeat transaction"}},
		{"zero spend", []Customer{{ID: "a", X: 1, TX: 1, T: 3, MeanValue: 5}, {ID: "z", X: 2, TX: 1, T: 3}}, []string{"customer 1", `"z"`, "MeanValue = 0", "positive"}},
		{"one customer", []Customer{{ID: "a", X: 3, TX: 1, T: 3, MeanValue: 5}}, []string{"runs off", "do not identify"}},
		{"invalid customer", []Customer{{ID: "n", X: 1, TX: 1, T: 3, MeanValue: -2}}, []string{`"n"`, "MeanValue = -2"}},
	} {
		_, err := FitGammaGamma(tc.cs)
		checkInputErr(t, tc.name, err, tc.want)
	}
}
