package features

import (
	"fmt"
	"math"
	"sync/atomic"

	"retain/features/btyd"
)

// This file holds the lifetime-value indicator: a BG/NBD model of how many
// payment weeks a member will still have and a Gamma-Gamma model of how
// much each will bring (package btyd), fitted when the training file is
// built and stored in the FeatureSpec. See docs/features.md, "LTV".

// Values of LTVModel.Model.
const (
	// LTVBTYD: Indicators.LTV is the BG/NBD expected number of payment
	// weeks over the horizon times the Gamma-Gamma expected net payment of
	// such a week.
	LTVBTYD = "bgnbd+gammagamma"
	// LTVNaive: Indicators.LTV is the annualised net spend of the last 52
	// weeks times Values.LifetimeYears. Used only when the models are not
	// fitted; LTVModel.Reason says why.
	LTVNaive = "naive"
)

// LTVTimeUnit is the time unit of the BG/NBD parameters: weeks of the
// week grid.
const LTVTimeUnit = "week"

// Fitting needs at least ltvMinPayers calibration summaries (members with
// a payment before their cutoff) and ltvMinRepeaters of them with a repeat
// payment week; with fewer, the seven parameters of the two models are
// not estimated well enough to be worth more than the naive formula, and
// the build falls back to it, saying so.
const (
	ltvMinPayers    = 50
	ltvMinRepeaters = 20
)

// ltvFitMax caps the calibration summaries the models are fitted on: with
// more payers a sample of about ltvFitMax, drawn by a hash of the member
// id, is fitted (LTVModel.Payers says how many there were). Ten thousand
// customers pin the seven parameters far more tightly than the LTV needs
// (the published CDNOW fit uses 2,357), and keep the fit near 0.3 s of one
// core on the 100,000-member synthetic set instead of about 5 s.
const ltvFitMax = 10000

// ltvSampleSalt is mixed into Split.Seed for the sample's member hash so
// that the sample does not line up with the member split.
const ltvSampleSalt = 0x4c5456_5341_4d50

// ltvMaxZ bounds z = horizon/(alpha+T+horizon), the argument of the
// hypergeometric function of the BG/NBD expectation: Check refuses a
// fitted alpha below horizon*(1-ltvMaxZ)/ltvMaxZ, for which the series
// would need millions of terms for a new payer.
const ltvMaxZ = 0.999

// LTVModel is the model behind Indicators.LTV, stored in the FeatureSpec.
// Build fits it on the training split (see fitLTV); NewSpec leaves it
// naive with the reason "not fitted".
//
// Time is in weeks of the week grid. A transaction is a week with a
// positive net payment: the amounts of all of the member's transactions
// in that week summed (fees, renewals, class and personal-training packs,
// retail, refunds subtracted); several payments in one week are one
// transaction, like several CDNOW purchases on one day.
type LTVModel struct {
	// Model is LTVBTYD or LTVNaive.
	Model string
	// Reason says why Model is LTVNaive (empty for LTVBTYD).
	Reason string `json:",omitempty"`
	// TimeUnit is LTVTimeUnit.
	TimeUnit string
	// HorizonWeeks is the horizon of the estimate: Values.LifetimeYears
	// years of 365.25/7 weeks.
	HorizonWeeks float64
	// R, Alpha, A and B are the BG/NBD parameters (Alpha per week).
	R, Alpha, A, B float64
	// P, Q and V are the Gamma-Gamma parameters, V in major currency
	// units.
	P, Q, V float64
	// Payers is the number of training members with a payment before
	// their calibration cutoff, NeverPaid those left out for want of any.
	// Customers is the number of calibration summaries the BG/NBD model
	// was fitted on (all payers, or a sample of about ltvFitMax of them),
	// Repeaters those with a repeat payment week (the Gamma-Gamma model's
	// data).
	Payers, NeverPaid    int
	Customers, Repeaters int
	// LogLikBGNBD and LogLikGammaGamma are the maximised log-likelihoods.
	LogLikBGNBD, LogLikGammaGamma float64
}

// String formats the model in one line.
func (l *LTVModel) String() string {
	if l.Model != LTVBTYD {
		return fmt.Sprintf("LTV %s (%s)", l.Model, l.Reason)
	}
	return fmt.Sprintf("LTV %s over %.1f weeks: BG/NBD r=%.4g alpha=%.4g a=%.4g b=%.4g (LL %.1f), Gamma-Gamma p=%.4g q=%.4g v=%.4g (LL %.1f); fitted on %d of %d payers (%d repeaters), %d never paid",
		l.Model, l.HorizonWeeks, l.R, l.Alpha, l.A, l.B, l.LogLikBGNBD, l.P, l.Q, l.V, l.LogLikGammaGamma, l.Customers, l.Payers, l.Repeaters, l.NeverPaid)
}

// ltvNotFitted is the Reason of the naive model of a spec made by NewSpec.
const ltvNotFitted = "not fitted: the spec was made by NewSpec, not by a build on training data"

// ltvHorizonWeeks returns the horizon of cfg in weeks.
func ltvHorizonWeeks(cfg *Config) float64 { return cfg.Values.LifetimeYears * 365.25 / 7 }

// naiveLTV returns the naive model with reason.
func naiveLTV(cfg *Config, reason string) LTVModel {
	return LTVModel{Model: LTVNaive, Reason: reason, TimeUnit: LTVTimeUnit, HorizonWeeks: ltvHorizonWeeks(cfg)}
}

// check reports whether l is a valid model for cfg.
func (l *LTVModel) check(cfg *Config) error {
	if l.TimeUnit != LTVTimeUnit {
		return fmt.Errorf("%w: LTV time unit %q, want %q", ErrSpec, l.TimeUnit, LTVTimeUnit)
	}
	if h := ltvHorizonWeeks(cfg); l.HorizonWeeks != h {
		return fmt.Errorf("%w: LTV horizon %v weeks, but Values.LifetimeYears = %v gives %v", ErrSpec, l.HorizonWeeks, cfg.Values.LifetimeYears, h)
	}
	switch l.Model {
	case LTVNaive:
		if l.Reason == "" {
			return fmt.Errorf("%w: naive LTV model without a reason", ErrSpec)
		}
		return nil
	case LTVBTYD:
	default:
		return fmt.Errorf("%w: LTV model %q, want %q or %q", ErrSpec, l.Model, LTVBTYD, LTVNaive)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"r", l.R}, {"alpha", l.Alpha}, {"a", l.A}, {"b", l.B}, {"p", l.P}, {"q", l.Q}, {"v", l.V}} {
		if !(p.v > 0) || math.IsInf(p.v, 0) {
			return fmt.Errorf("%w: LTV parameter %s = %v must be positive and finite", ErrSpec, p.name, p.v)
		}
	}
	if !(l.Q > 1) {
		return fmt.Errorf("%w: LTV Gamma-Gamma q = %v: the expected spend needs q > 1", ErrSpec, l.Q)
	}
	if z := l.HorizonWeeks / (l.Alpha + l.HorizonWeeks); z > ltvMaxZ {
		return fmt.Errorf("%w: LTV BG/NBD alpha = %v is too small for a %v-week horizon (z = %v > %v)", ErrSpec, l.Alpha, l.HorizonWeeks, z, ltvMaxZ)
	}
	return nil
}

// ltvCacheWeeks bounds the T (whole weeks from the first payment week to
// the cutoff) for which ltvCalc tabulates E[Y(h) | alive, x, T]; longer
// histories (over 20 years) compute it at every call.
const ltvCacheWeeks = 1044

// ltvCalc is the LTV model prepared for computing: the btyd models and a
// table of the BG/NBD expectation given alive, which is the costly part
// (a hypergeometric series of tens to hundreds of terms) and depends only
// on the whole numbers x and T once the parameters are fixed. Rows (one
// per T, x = 0..T-1) are filled on first use, concurrently safe: a value
// computed twice is the same value.
type ltvCalc struct {
	on      bool // LTVBTYD
	horizon float64
	bg      btyd.BGNBD
	gg      btyd.GammaGamma
	rows    *[ltvCacheWeeks]atomic.Pointer[[]atomic.Uint64] // float64 bits, 0 = not yet computed
}

func newLTVCalc(l *LTVModel) ltvCalc {
	if l.Model != LTVBTYD {
		return ltvCalc{horizon: l.HorizonWeeks}
	}
	return ltvCalc{
		on:      true,
		horizon: l.HorizonWeeks,
		bg:      btyd.BGNBD{R: l.R, Alpha: l.Alpha, A: l.A, B: l.B},
		gg:      btyd.GammaGamma{P: l.P, Q: l.Q, V: l.V},
		rows:    new([ltvCacheWeeks]atomic.Pointer[[]atomic.Uint64]),
	}
}

// alive returns E[Y(h) | alive, x, T] (btyd.BGNBD.ExpectedPurchasesAlive)
// from the table when x and T are whole numbers within it.
func (l *ltvCalc) alive(x, T float64) float64 {
	xi, ti := int(x), int(T)
	if float64(xi) != x || float64(ti) != T || ti >= ltvCacheWeeks || xi >= ti {
		return l.bg.ExpectedPurchasesAlive(l.horizon, x, T)
	}
	p := &l.rows[ti]
	row := p.Load()
	if row == nil {
		r := make([]atomic.Uint64, ti)
		p.CompareAndSwap(nil, &r)
		row = p.Load()
	}
	c := &(*row)[xi]
	if b := c.Load(); b != 0 {
		return math.Float64frombits(b)
	}
	v := l.bg.ExpectedPurchasesAlive(l.horizon, x, T)
	c.Store(math.Float64bits(v))
	return v
}

// paymentSummary returns the BG/NBD summary of the payments in txs (one
// member's, sorted by week) before week tw: X the payment weeks after the
// first, TX the weeks from the first payment week to the last, T the weeks
// from the first payment week to tw, MeanValue the mean net payment of the
// repeat payment weeks in major units (scale minor units each). A payment
// week is a week whose transactions sum to a positive amount. ok is false
// when there is none.
func paymentSummary(txs []txAgg, tw int32, scale float64) (c btyd.Customer, ok bool) {
	first, last := int32(0), int32(0)
	var n int
	var repeat int64
	for i := 0; i < len(txs) && txs[i].week < tw; {
		w := txs[i].week
		var net int64
		for ; i < len(txs) && txs[i].week == w; i++ {
			net += txs[i].amount
		}
		if net <= 0 {
			continue
		}
		if n == 0 {
			first = w
		} else {
			repeat += net
		}
		last = w
		n++
	}
	if n == 0 {
		return c, false
	}
	c.X = float64(n - 1)
	c.TX = float64(last - first)
	c.T = float64(tw - first)
	if n > 1 {
		c.MeanValue = float64(repeat) / scale / c.X
	}
	return c, true
}

// ltvAt returns the LTV of m at cutoff week tw; spend52 and obsWeeks feed
// the naive formula.
func (f *Featurizer) ltvAt(m *member, tw int32, spend52 int64, obsWeeks int32) float64 {
	if !f.ltv.on {
		if obsWeeks >= 1 && spend52 > 0 {
			annual := float64(spend52) / f.scale * 52 / float64(obsWeeks)
			return annual * f.cfg.Values.LifetimeYears
		}
		return 0
	}
	c, ok := paymentSummary(m.tx.txs, tw, f.scale)
	if !ok {
		return 0 // never paid: not a customer of the BG/NBD model yet
	}
	return f.ltv.value(&c)
}

// value returns the expected spend of a member with summary c over the
// horizon: E[Y(h) | x, tx, T] E[Z | x, m], undiscounted, never negative.
// E[Y(h) | x, tx, T] is computed as E[Y(h) | alive, x, T] P(alive | x, tx,
// T), the first factor tabulated (equal to btyd's ExpectedPurchases to
// rounding).
func (l *ltvCalc) value(c *btyd.Customer) float64 {
	e := l.alive(c.X, c.T) * l.bg.PAlive(c.X, c.TX, c.T)
	s := l.gg.ConditionalExpectedSpend(c.X, c.MeanValue)
	v := e * s
	if !(v > 0) || math.IsInf(v, 0) {
		// NaN cannot come from a model that passed check and a summary of
		// paymentSummary; 0 rather than a NaN in the indicators.
		return 0
	}
	return v
}

// sampleLTV returns the summaries cs of members ids, or a sample of about
// ltvFitMax of them by member hash when there are more.
func sampleLTV(cfg *Config, ids []string, cs []btyd.Customer) []btyd.Customer {
	if len(cs) <= ltvFitMax {
		return cs
	}
	share := float64(ltvFitMax) / float64(len(cs))
	var out []btyd.Customer
	for i := range cs {
		if memberHash(ids[i], cfg.Split.Seed^ltvSampleSalt) < share {
			out = append(out, cs[i])
		}
	}
	return out
}

// fitLTV fits the LTV model of cfg on calibration summaries cs (one per
// training member with a payment, or a sample of them) of payers members
// with a payment, neverPaid training members being left out. A fit that
// cannot be made returns the naive model with the reason.
func fitLTV(cfg *Config, cs []btyd.Customer, payers, neverPaid int) LTVModel {
	repeaters := 0
	for i := range cs {
		if cs[i].X > 0 {
			repeaters++
		}
	}
	fail := func(format string, args ...any) LTVModel {
		l := naiveLTV(cfg, fmt.Sprintf(format, args...))
		l.Payers, l.NeverPaid, l.Customers, l.Repeaters = payers, neverPaid, len(cs), repeaters
		return l
	}
	if len(cs) < ltvMinPayers || repeaters < ltvMinRepeaters {
		return fail("too few payers to fit BG/NBD and Gamma-Gamma: %d training members with a payment (need %d), %d with a repeat payment week (need %d)",
			payers, ltvMinPayers, repeaters, ltvMinRepeaters)
	}
	bg, err := btyd.FitBGNBD(cs, nil)
	if err != nil {
		return fail("BG/NBD fit failed: %v", err)
	}
	gg, err := btyd.FitGammaGamma(cs)
	if err != nil {
		return fail("Gamma-Gamma fit failed: %v", err)
	}
	l := LTVModel{
		Model: LTVBTYD, TimeUnit: LTVTimeUnit, HorizonWeeks: ltvHorizonWeeks(cfg),
		R: bg.R, Alpha: bg.Alpha, A: bg.A, B: bg.B,
		P: gg.P, Q: gg.Q, V: gg.V,
		Payers: payers, NeverPaid: neverPaid, Customers: len(cs), Repeaters: repeaters,
		LogLikBGNBD: bg.LogLik, LogLikGammaGamma: gg.LogLik,
	}
	if err := l.check(cfg); err != nil {
		return fail("fitted parameters unusable (%v): %s", err, l.String())
	}
	return l
}
