package btyd

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma is a fitted Gamma-Gamma model of spend per transaction
// (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves for
// Customer Base Analysis", Journal of Marketing Research 42(4); Fader &
// Hardie 2013, "The Gamma-Gamma Model of Monetary Value"): a customer's
// transaction values are Gamma(P, nu) with his own rate nu ~ Gamma(Q, V),
// independent of how often he buys. Parameter names follow lifetimes'
// GammaGammaFitter. LogLik is the log-likelihood of the fitted data.
type GammaGamma struct {
	P, Q, V float64
	LogLik  float64
}

// String formats the parameters.
func (g *GammaGamma) String() string {
	return fmt.Sprintf("Gamma-Gamma p=%.4f q=%.4f v=%.4f LL=%.2f", g.P, g.Q, g.V, g.LogLik)
}

func (g *GammaGamma) valid() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"p", g.P}, {"q", g.Q}, {"v", g.V}} {
		if !(p.v > 0) || math.IsInf(p.v, 0) {
			return fmt.Errorf("%w: Gamma-Gamma parameter %s = %v must be positive and finite", ErrInput, p.name, p.v)
		}
	}
	return nil
}

// spenders returns the customers with X > 0, the ones the Gamma-Gamma
// model is fitted on, and checks that each has MeanValue > 0.
func spenders(cs []Customer) ([]Customer, error) {
	if err := checkCustomers(cs); err != nil {
		return nil, err
	}
	var out []Customer
	for i, c := range cs {
		if c.X == 0 {
			continue
		}
		if c.MeanValue <= 0 {
			return nil, fmt.Errorf("%w: customer %d (id %q): MeanValue = %v with X = %v: the Gamma-Gamma model needs a positive mean spend", ErrInput, i, c.ID, c.MeanValue, c.X)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no customer with a repeat transaction (X > 0) to fit the Gamma-Gamma model on", ErrInput)
	}
	return out, nil
}

// ggLL returns the log-likelihood of the mean spends m of customers with x
// transactions and, when grad is not nil, its gradient with respect to
// (log p, log q, log v). The mean of x Gamma(p, nu) values is
// Gamma(p x, nu x); integrating nu over Gamma(q, v) gives (Fader & Hardie
// 2013, eq. 4; lifetimes' GammaGammaFitter)
//
//	ll = lgamma(p x + q) - lgamma(p x) - lgamma(q) + q log v
//	     + (p x - 1) log m + p x log x - (p x + q) log(x m + v)
func ggLL(p, q, v float64, cs []Customer, grad []float64) float64 {
	lgq, _ := math.Lgamma(q)
	var psiQ float64
	if grad != nil {
		psiQ = mathext.Digamma(q)
	}
	var ll, gp, gq, gv float64
	for i := range cs {
		x, m := cs[i].X, cs[i].MeanValue
		px := p * x
		l1, _ := math.Lgamma(px + q)
		l2, _ := math.Lgamma(px)
		lxm := math.Log(x*m + v)
		ll += l1 - l2 - lgq + q*math.Log(v) + (px-1)*math.Log(m) + px*math.Log(x) - (px+q)*lxm
		if grad == nil {
			continue
		}
		psiPXQ := mathext.Digamma(px + q)
		gp += x * (psiPXQ - mathext.Digamma(px) + math.Log(m) + math.Log(x) - lxm)
		gq += psiPXQ - psiQ + math.Log(v) - lxm
		gv += q/v - (px+q)/(x*m+v)
	}
	if grad != nil {
		grad[0], grad[1], grad[2] = p*gp, q*gq, v*gv
	}
	return ll
}

// FitGammaGamma fits the Gamma-Gamma model by maximum likelihood to the
// customers with X > 0, using their MeanValue (the mean spend of their
// repeat transactions, as lifetimes computes it) and X. Customers with
// X = 0 carry no spend information and are left out, as in lifetimes; a
// customer with X > 0 and MeanValue 0 is an error (the model has no zero
// spends). The parameters are in the units of MeanValue (V scales with
// them; P and Q do not). Default options.
func FitGammaGamma(cs []Customer) (*GammaGamma, error) {
	return FitGammaGammaOptions(cs, nil)
}

// FitGammaGammaOptions is FitGammaGamma with options (starting point
// p, q, v; penalizer; iterations).
func FitGammaGammaOptions(cs []Customer, opts *FitOptions) (*GammaGamma, error) {
	sp, err := spenders(cs)
	if err != nil {
		return nil, err
	}
	x0, err := opts.init(3)
	if err != nil {
		return nil, err
	}
	if opts == nil || opts.Init == nil {
		// Start v at the mean spend (the scale of the data), p = q = 1:
		// starting at v = 1 with spends in cents leaves BFGS far off.
		var mean float64
		for _, c := range sp {
			mean += c.MeanValue
		}
		x0[2] = math.Log(mean / float64(len(sp)))
	}
	th, err := maximize(func(theta, grad []float64) float64 {
		return ggLL(theta[0], theta[1], theta[2], sp, grad)
	}, len(sp), x0, []string{"p", "q", "v"}, opts)
	if err != nil {
		return nil, fmt.Errorf("btyd: Gamma-Gamma fit on %d customers: %w", len(sp), err)
	}
	g := &GammaGamma{P: th[0], Q: th[1], V: th[2]}
	g.LogLik = ggLL(g.P, g.Q, g.V, sp, nil)
	return g, nil
}

// LogLikelihood returns the log-likelihood of the customers with X > 0.
func (g *GammaGamma) LogLikelihood(cs []Customer) (float64, error) {
	if err := g.valid(); err != nil {
		return math.NaN(), err
	}
	sp, err := spenders(cs)
	if err != nil {
		return math.NaN(), err
	}
	return ggLL(g.P, g.Q, g.V, sp, nil), nil
}

// ConditionalExpectedSpend returns the expected spend per transaction of a
// customer with x repeat transactions of mean value mean (Fader, Hardie &
// Lee 2005b, eq. 5; lifetimes' conditional_expected_average_profit):
//
//	E[Z | x, mean] = p (v + x mean) / (p x + q - 1)
//	              = w p v/(q-1) + (1-w) mean,  w = (q-1)/(p x + q - 1)
//
// a weighted mean of the population mean spend p v/(q-1) and the
// customer's own mean. It needs q > 1 (a finite population mean); x = 0
// gives the population mean. Invalid arguments give NaN.
func (g *GammaGamma) ConditionalExpectedSpend(x, mean float64) float64 {
	if g.valid() != nil || !(g.Q > 1) || !(x >= 0) || !(mean >= 0) || math.IsInf(x, 0) || math.IsInf(mean, 0) || (x == 0 && mean != 0) {
		return math.NaN()
	}
	return g.P * (g.V + x*mean) / (g.P*x + g.Q - 1)
}

// CLVOptions sets the horizon and discounting of CustomerLifetimeValue.
type CLVOptions struct {
	// Periods is the number of periods summed (lifetimes' time, in months
	// by default). Must be >= 1.
	Periods int
	// PeriodWeeks is the length of a period in the models' time unit,
	// weeks: 52/12 = 4.333 for months (lifetimes uses 4.345 for freq "W").
	PeriodWeeks float64
	// DiscountRate is the discount rate per period (lifetimes' default
	// 0.01 a month), >= 0.
	DiscountRate float64
}

// CustomerLifetimeValue returns the discounted expected value of a
// customer's transactions over the next Periods periods, as lifetimes'
// GammaGammaFitter.customer_lifetime_value computes it:
//
//	CLV = sum_{k=1..K} E[Z] (E[Y(k w)] - E[Y((k-1) w)]) / (1+d)^k
//
// where E[Y(t)] is the BG/NBD conditional expectation
// m.ExpectedPurchases(t, X, TX, T), w = PeriodWeeks, d = DiscountRate and
// E[Z] = g.ConditionalExpectedSpend(X, MeanValue): expected purchases in
// each period times the expected spend per purchase, discounted at the
// end of the period. The value is in the units of MeanValue.
func CustomerLifetimeValue(m *BGNBD, g *GammaGamma, c Customer, o CLVOptions) (float64, error) {
	if err := m.valid(); err != nil {
		return math.NaN(), err
	}
	if err := g.valid(); err != nil {
		return math.NaN(), err
	}
	if g.Q <= 1 {
		return math.NaN(), fmt.Errorf("%w: Gamma-Gamma q = %v: the expected spend needs q > 1", ErrInput, g.Q)
	}
	if err := checkCustomer(0, &c); err != nil {
		return math.NaN(), err
	}
	if o.Periods < 1 || !(o.PeriodWeeks > 0) || math.IsInf(o.PeriodWeeks, 0) || !(o.DiscountRate >= 0) || math.IsInf(o.DiscountRate, 0) {
		return math.NaN(), fmt.Errorf("%w: CLVOptions %+v: need Periods >= 1, PeriodWeeks > 0, DiscountRate >= 0", ErrInput, o)
	}
	spend := g.ConditionalExpectedSpend(c.X, c.MeanValue)
	var clv, prev float64
	for k := 1; k <= o.Periods; k++ {
		e := m.ExpectedPurchases(float64(k)*o.PeriodWeeks, c.X, c.TX, c.T)
		if math.IsNaN(e) {
			return math.NaN(), fmt.Errorf("btyd: customer %q: expected purchases over %v weeks did not converge", c.ID, float64(k)*o.PeriodWeeks)
		}
		clv += spend * (e - prev) / math.Pow(1+o.DiscountRate, float64(k))
		prev = e
	}
	return clv, nil
}
