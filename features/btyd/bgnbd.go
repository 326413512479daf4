package btyd

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BGNBD is a fitted beta-geometric/negative-binomial distribution model
// (Fader, Hardie & Lee 2005): while active, a customer buys at Poisson rate
// lambda ~ Gamma(R, Alpha) (shape R, rate Alpha, per week); after each
// purchase he drops out with probability p ~ Beta(A, B). LogLik is the
// log-likelihood of the data it was fitted on (0 when built by hand).
type BGNBD struct {
	R, Alpha, A, B float64
	LogLik         float64
}

// String formats the parameters.
func (m *BGNBD) String() string {
	return fmt.Sprintf("BG/NBD r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.2f", m.R, m.Alpha, m.A, m.B, m.LogLik)
}

func (m *BGNBD) valid() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"r", m.R}, {"alpha", m.Alpha}, {"a", m.A}, {"b", m.B}} {
		if !(p.v > 0) || math.IsInf(p.v, 0) {
			return fmt.Errorf("%w: BG/NBD parameter %s = %v must be positive and finite", ErrInput, p.name, p.v)
		}
	}
	return nil
}

// LogLikelihood returns the log-likelihood of the customers under the
// model, Fader, Hardie & Lee (2005) eq. (6) summed over customers.
func (m *BGNBD) LogLikelihood(cs []Customer) (float64, error) {
	if err := m.valid(); err != nil {
		return math.NaN(), err
	}
	if err := checkCustomers(cs); err != nil {
		return math.NaN(), err
	}
	return bgnbdLL(m.R, m.Alpha, m.A, m.B, cs, nil), nil
}

// bgnbdLL returns the log-likelihood and, when grad is not nil, stores its
// gradient with respect to (log r, log alpha, log a, log b) in grad.
//
// Per customer (eq. 6, with B(a+1, b+x-1)/B(a, b+x) = a/(b+x-1)):
//
//	ll = A1 + A2 + log(exp(A3) + [x>0] exp(A4))
//	A1 = lgamma(r+x) - lgamma(r) + r log(alpha)
//	A2 = lgamma(a+b) + lgamma(b+x) - lgamma(b) - lgamma(a+b+x)
//	A3 = -(r+x) log(alpha+T)
//	A4 = log(a) - log(b+x-1) - (r+x) log(alpha+tx)
//
// the last term computed as a log-sum-exp so that neither exponential
// underflows for large x.
func bgnbdLL(r, alpha, a, b float64, cs []Customer, grad []float64) float64 {
	lgr, _ := math.Lgamma(r)
	lgb, _ := math.Lgamma(b)
	lgab, _ := math.Lgamma(a + b)
	var psiR, psiB, psiAB float64
	if grad != nil {
		psiR, psiB, psiAB = mathext.Digamma(r), mathext.Digamma(b), mathext.Digamma(a+b)
		for i := range grad {
			grad[i] = 0
		}
	}
	var gr, galpha, ga, gb float64
	logAlpha, logA := math.Log(alpha), math.Log(a)
	ll := 0.0
	for i := range cs {
		x, tx, T := cs[i].X, cs[i].TX, cs[i].T
		lgrx, _ := math.Lgamma(r + x)
		lgbx, _ := math.Lgamma(b + x)
		lgabx, _ := math.Lgamma(a + b + x)
		a1 := lgrx - lgr + r*logAlpha
		a2 := lgab + lgbx - lgb - lgabx
		a3 := -(r + x) * math.Log(alpha+T)
		w3, w4 := 1.0, 0.0
		var a4 float64
		l := a3
		if x > 0 {
			a4 = logA - math.Log(b+x-1) - (r+x)*math.Log(alpha+tx)
			mx := math.Max(a3, a4)
			e3, e4 := math.Exp(a3-mx), math.Exp(a4-mx)
			l = mx + math.Log(e3+e4)
			w3, w4 = e3/(e3+e4), e4/(e3+e4)
		}
		ll += a1 + a2 + l
		if grad == nil {
			continue
		}
		// d/dr, d/dalpha, d/da, d/db of A1+A2 and the weighted A3, A4.
		psiABX := mathext.Digamma(a + b + x)
		gr += mathext.Digamma(r+x) - psiR + logAlpha - w3*math.Log(alpha+T)
		galpha += r/alpha - w3*(r+x)/(alpha+T)
		ga += psiAB - psiABX
		gb += psiAB + mathext.Digamma(b+x) - psiB - psiABX
		if x > 0 {
			gr -= w4 * math.Log(alpha+tx)
			galpha -= w4 * (r + x) / (alpha + tx)
			ga += w4 / a
			gb -= w4 / (b + x - 1)
		}
	}
	if grad != nil {
		grad[0], grad[1], grad[2], grad[3] = r*gr, alpha*galpha, a*ga, b*gb
	}
	return ll
}

// PAlive returns the probability that a customer with history (x, tx, T) is
// still active at T (Fader, Hardie & Lee 2005, "Computing P(alive) using
// the BG/NBD model"):
//
//	P(alive | x, tx, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+tx))^(r+x))
//
// It is 1 for x = 0: in the BG/NBD a customer can drop out only right after
// a purchase. Invalid arguments give NaN.
func (m *BGNBD) PAlive(x, tx, T float64) float64 {
	if !m.histOK(x, tx, T) {
		return math.NaN()
	}
	if x == 0 {
		return 1
	}
	// Odds of dead vs alive, in logs so that a large x does not overflow.
	lo := math.Log(m.A) - math.Log(m.B+x-1) + (m.R+x)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+tx))
	return 1 / (1 + math.Exp(lo))
}

func (m *BGNBD) histOK(x, tx, T float64) bool {
	if m.valid() != nil {
		return false
	}
	c := Customer{X: x, TX: tx, T: T}
	if x == 0 {
		c.TX = 0 // allow any tx with x = 0 (lifetimes passes recency 0)
	}
	return checkCustomer(0, &c) == nil
}

// ExpectedPurchases returns the expected number of transactions in
// (T, T+t] of a customer with history (x, tx, T), Fader, Hardie & Lee
// (2005) eq. (10):
//
//	E[Y(t) | x, tx, T] = (a+b+x-1)/(a-1)
//	    * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
//	    / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+tx))^(r+x))
//
// The formula has a removable singularity at a = 1 (both factors change
// sign); within 1e-5 of it the mean of the values at a = 1 +- 1e-5 is
// returned (error O(1e-10) relative, like the cancellation there). Invalid arguments (or a
// series that does not converge, for horizons beyond ~1e4 (alpha+T)) give
// NaN.
func (m *BGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	if !m.histOK(x, tx, T) || !(t >= 0) || math.IsInf(t, 0) {
		return math.NaN()
	}
	if t == 0 {
		return 0
	}
	if math.Abs(m.A-1) < nearOne {
		return (m.expected(1-nearOne, t, x, tx, T) + m.expected(1+nearOne, t, x, tx, T)) / 2
	}
	return m.expected(m.A, t, x, tx, T)
}

// nearOne is how close to 1 a may be before the expectations average
// around the removable singularity.
const nearOne = 1e-5

// expected is eq. (10) with a given a.
func (m *BGNBD) expected(a, t, x, tx, T float64) float64 {
	pa := 1.0
	if x > 0 {
		pa = 1 / (1 + math.Exp(math.Log(a)-math.Log(m.B+x-1)+(m.R+x)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+tx))))
	}
	return m.expectedAlive(a, t, x, T) * pa
}

// expectedAlive is eq. (10) without its P(alive) factor, with a given a.
func (m *BGNBD) expectedAlive(a, t, x, T float64) float64 {
	r, alpha, b := m.R, m.Alpha, m.B
	z := t / (alpha + T + t)
	f, err := Hyp2F1(r+x, b+x, a+b+x-1, z)
	if err != nil {
		return math.NaN()
	}
	// ((alpha+T)/(alpha+T+t))^(r+x) = (1-z)^(r+x)
	num := 1 - math.Exp((r+x)*math.Log1p(-z))*f
	return (a + b + x - 1) / (a - 1) * num
}

// ExpectedPurchasesAlive returns the expected number of transactions in
// (T, T+t] of a customer with x repeat transactions by T who is still
// alive at T: eq. (10) without its P(alive) factor,
//
//	E[Y(t) | alive, x, T] = (a+b+x-1)/(a-1)
//	    * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
//
// so that ExpectedPurchases(t, x, tx, T) = ExpectedPurchasesAlive(t, x, T)
// * PAlive(x, tx, T) (to rounding; near a = 1 each factor is averaged
// apart). It does not depend on tx, so a caller with whole-week summaries
// can tabulate it by (x, T). Invalid arguments give NaN.
func (m *BGNBD) ExpectedPurchasesAlive(t, x, T float64) float64 {
	if m.valid() != nil || !(x >= 0) || x != math.Trunc(x) || math.IsInf(x, 0) || !(T >= 0) || math.IsInf(T, 0) || !(t >= 0) || math.IsInf(t, 0) {
		return math.NaN()
	}
	if t == 0 {
		return 0
	}
	if math.Abs(m.A-1) < nearOne {
		return (m.expectedAlive(1-nearOne, t, x, T) + m.expectedAlive(1+nearOne, t, x, T)) / 2
	}
	return m.expectedAlive(m.A, t, x, T)
}

// ExpectedPurchasesNew returns the expected number of transactions in
// (0, t] of a customer who has just made a first purchase at time 0 (and
// whose first purchase is not counted), Fader, Hardie & Lee (2005) eq. (9):
//
//	E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]
//
// It is ExpectedPurchases(t, 0, 0, 0) in the limit T -> 0. Invalid
// arguments give NaN.
func (m *BGNBD) ExpectedPurchasesNew(t float64) float64 {
	if m.valid() != nil || !(t >= 0) || math.IsInf(t, 0) {
		return math.NaN()
	}
	if t == 0 {
		return 0
	}
	if math.Abs(m.A-1) < nearOne {
		return (m.expectedNew(1-nearOne, t) + m.expectedNew(1+nearOne, t)) / 2
	}
	return m.expectedNew(m.A, t)
}

// expectedNew is eq. (9) with a given a.
func (m *BGNBD) expectedNew(a, t float64) float64 {
	r, alpha, b := m.R, m.Alpha, m.B
	z := t / (alpha + t)
	f, err := Hyp2F1(r, b, a+b-1, z)
	if err != nil {
		return math.NaN()
	}
	return (a + b - 1) / (a - 1) * (1 - math.Exp(r*math.Log1p(-z))*f)
}

// ProbNoPurchase returns the probability that a customer with history
// (x, tx, T) makes no transaction in (T, T+t]:
//
//	P(Y(t) = 0 | x, tx, T) = (1 - P(alive)) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x)
//
// Derivation: a customer who has dropped out buys nothing. A customer
// alive at T stays alive until his next purchase (dropout happens only
// right after a purchase), so he buys nothing in (T, T+t] with probability
// exp(-lambda t). Given alive and the history, the likelihood of lambda is
// lambda^x exp(-lambda T) (x purchases over (0, T]), independent of p, so
// lambda | alive, history ~ Gamma(r+x, alpha+T), and
// E[exp(-lambda t)] = ((alpha+T)/(alpha+T+t))^(r+x). This is the churn
// probability the CDNOW evaluation uses. Invalid arguments give NaN.
func (m *BGNBD) ProbNoPurchase(t, x, tx, T float64) float64 {
	if !m.histOK(x, tx, T) || !(t >= 0) || math.IsInf(t, 0) {
		return math.NaN()
	}
	pa := m.PAlive(x, tx, T)
	return 1 - pa + pa*math.Exp((m.R+x)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+T+t)))
}
