package btyd

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"retain/datasets"
	"retain/datasets/mapping"
)

// The CDNOW protocol of Fader, Hardie & Lee (2005): week 1 starts on
// 1997-01-01; weeks 1-39 calibrate, weeks 40-78 are the holdout.
var (
	cdnowCalEnd     = time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC)
	cdnowHoldoutEnd = time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
)

const cdnowHoldoutWeeks = 39 // 1997-10-01 .. 1998-06-30 is 273 days

// cdnowSampleFile returns the shared CDNOW_sample.txt, looked for as
// shared/datasets/cdnow beside the repository (walking up from the package
// directory) or under $RETAIN_SHARED_DATASETS/cdnow, or skips the test.
func cdnowSampleFile(t testing.TB) string {
	t.Helper()
	const name = "CDNOW_sample.txt"
	if d := os.Getenv("RETAIN_SHARED_DATASETS"); d != "" {
		p := filepath.Join(d, "cdnow", name)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("shared CDNOW data not found at %s (RETAIN_SHARED_DATASETS)", p)
		}
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "datasets", "cdnow", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Skipf("shared CDNOW data not found: no shared/datasets/cdnow/%s above %s", name, wd)
	return ""
}

var cdnowOnce struct {
	sync.Once
	txs []datasets.Transaction
	err error
}

// cdnowSample imports the sample with the built-in cdnow_sample mapping,
// the product's path, and reads its transactions back (once per run).
func cdnowSample(t testing.TB) []datasets.Transaction {
	t.Helper()
	path := cdnowSampleFile(t)
	cdnowOnce.Do(func() {
		m, err := mapping.Builtin("cdnow_sample")
		if err != nil {
			cdnowOnce.err = err
			return
		}
		dir, err := os.MkdirTemp("", "btyd-cdnow-")
		if err != nil {
			cdnowOnce.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "out")
		if _, err := mapping.Import(m, []string{path}, out, nil); err != nil {
			cdnowOnce.err = err
			return
		}
		cdnowOnce.txs, cdnowOnce.err = datasets.ReadAll[datasets.Transaction](filepath.Join(out, "transactions.parquet"))
	})
	if cdnowOnce.err != nil {
		t.Fatal(cdnowOnce.err)
	}
	return cdnowOnce.txs
}

func cdnowCustomers(t testing.TB) []Customer {
	t.Helper()
	cs, err := Summarize(cdnowSample(t), cdnowCalEnd, cdnowHoldoutEnd)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

var cdnowFit struct {
	sync.Once
	m   *BGNBD
	err error
}

func cdnowBGNBD(t testing.TB, cs []Customer) *BGNBD {
	t.Helper()
	cdnowFit.Do(func() { cdnowFit.m, cdnowFit.err = FitBGNBD(cs, nil) })
	if cdnowFit.err != nil {
		t.Fatal(cdnowFit.err)
	}
	return cdnowFit.m
}

func TestCDNOWSummary(t *testing.T) {
	cs := cdnowCustomers(t)
	// 2,357 customers, all with a first purchase in weeks 1-12
	// (shared/datasets/README.md; Fader, Hardie & Lee 2005, section 3).
	if len(cs) != 2357 {
		t.Fatalf("%d customers, want 2357", len(cs))
	}
	var zero, holdZero float64
	for _, c := range cs {
		if c.T < 39-12 || c.T >= 39 { // T = (1997-09-30 - first purchase)/7
			t.Errorf("customer %s: T = %v weeks, want a first purchase in weeks 1-12", c.ID, c.T)
		}
		if c.X == 0 {
			zero++
			holdZero += c.HoldoutX
		}
	}
	// 1,411 customers without a repeat purchase in calibration made 334
	// transactions in the holdout (Fader, Hardie & Lee 2005, section 4;
	// shared/datasets/README.md).
	if zero != 1411 || holdZero != 334 {
		t.Errorf("%v customers with x = 0 made %v holdout transactions; published 1411 and 334", zero, holdZero)
	}
}

// TestCDNOWPublished checks the fit against Table 2 of Fader, Hardie & Lee
// (2005) (copied in shared/datasets/README.md): r = 0.243, alpha = 4.414,
// a = 0.793, b = 2.426, LL = -9582.4, and the holdout figures of section 4.
func TestCDNOWPublished(t *testing.T) {
	cs := cdnowCustomers(t)
	m := cdnowBGNBD(t, cs)
	t.Logf("%v", m)
	for _, p := range []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"r", m.R, 0.243, 0.0005},
		{"alpha", m.Alpha, 4.414, 0.0005},
		{"a", m.A, 0.793, 0.0005},
		{"b", m.B, 2.426, 0.0005},
		{"LL", m.LogLik, -9582.4, 0.05},
	} {
		if math.Abs(p.got-p.want) > p.tol {
			t.Errorf("%s = %.5f, published %v (tolerance %v)", p.name, p.got, p.want, p.tol)
		}
	}

	// Customers with no repeat purchase in calibration: actual holdout
	// mean 334/1411 = 0.237, BG/NBD conditional expectation 0.23
	// (section 4 of the paper).
	var n, act, pred float64
	for _, c := range cs {
		if c.X == 0 {
			n++
			act += c.HoldoutX
			pred += m.ExpectedPurchases(cdnowHoldoutWeeks, c.X, c.TX, c.T)
		}
	}
	t.Logf("x=0: %v customers, actual mean %.4f, predicted %.4f", n, act/n, pred/n)
	// 0.23 is rounded to 2 decimals: the unrounded value is in [0.225, 0.235).
	if pred/n < 0.225 || pred/n >= 0.235 {
		t.Errorf("x=0 customers: mean conditional expectation %.4f, published 0.23 (2 decimals)", pred/n)
	}

	// Correlation of actual and predicted holdout transactions: 0.626
	// (section 4). We get 0.6256. The tolerance is 0.005, not the
	// rounding interval [0.6255, 0.6265): the correlation is dominated by a
	// few heavy buyers, and optimiser differences in the fourth decimal of
	// the parameters (the paper used Excel's Solver) move it by about 1e-4,
	// so its third decimal is a property of one run, not of the method.
	var xs, ys []float64
	for _, c := range cs {
		xs = append(xs, c.HoldoutX)
		ys = append(ys, m.ExpectedPurchases(cdnowHoldoutWeeks, c.X, c.TX, c.T))
	}
	corr := pearson(xs, ys)
	// Not a published figure (logged for the churn comparison in
	// docs/evaluation.md): share of customers with no holdout transaction
	// vs the mean of ProbNoPurchase over the 39 holdout weeks.
	var none, pNone float64
	for _, c := range cs {
		if c.HoldoutX == 0 {
			none++
		}
		pNone += m.ProbNoPurchase(cdnowHoldoutWeeks, c.X, c.TX, c.T)
	}
	t.Logf("no holdout transaction: actual %.4f, mean ProbNoPurchase %.4f", none/float64(len(cs)), pNone/float64(len(cs)))
	t.Logf("correlation actual vs predicted holdout transactions: %.4f", corr)
	if math.Abs(corr-0.626) > 0.005 {
		t.Errorf("correlation %.4f, published 0.626", corr)
	}
}

func pearson(x, y []float64) float64 {
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(len(x))
	my /= float64(len(y))
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// TestCDNOWGammaGamma checks the Gamma-Gamma fit against lifetimes'
// documentation ("Estimating customer lifetime value using the Gamma-Gamma
// model"): on the 946 CDNOW-sample customers with a repeat purchase in
// weeks 1-39, monetary value = mean of the repeat transactions in dollars,
// it prints p: 6.25, q: 3.74, v: 15.44. In lifetimes' data customer 1
// (master id 00004) has monetary_value 22.35 = (29.73 + 14.96)/2, the mean
// of the two repeat purchases without the first one, so that is the
// convention here too.
func TestCDNOWGammaGamma(t *testing.T) {
	cs := cdnowCustomers(t)
	dollars := make([]Customer, len(cs))
	n := 0
	for i, c := range cs {
		c.MeanValue /= 100 // cents -> dollars (the mapping's minor_units: 2)
		dollars[i] = c
		if c.X > 0 {
			n++
		}
		if c.ID == "00004" && (c.X != 2 || math.Abs(c.MeanValue-22.345) > 1e-9) {
			t.Errorf("customer 00004: X = %v, mean %v; want 2 and 22.345", c.X, c.MeanValue)
		}
	}
	if n != 946 {
		t.Fatalf("%d customers with X > 0, lifetimes fits 946", n)
	}
	g, err := FitGammaGamma(dollars)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", g)
	for _, p := range []struct {
		name      string
		got, want float64
	}{{"p", g.P, 6.25}, {"q", g.Q, 3.74}, {"v", g.V, 15.44}} {
		// lifetimes prints 2 decimals.
		if math.Abs(p.got-p.want) > 0.005 {
			t.Errorf("%s = %.4f, lifetimes %v", p.name, p.got, p.want)
		}
	}
	// Fitting in cents gives the same p, q and v in cents: the model is
	// scale-equivariant.
	gc, err := FitGammaGamma(cs)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(gc.P-g.P) > 1e-3*g.P || math.Abs(gc.Q-g.Q) > 1e-3*g.Q || math.Abs(gc.V/100-g.V) > 1e-3*g.V {
		t.Errorf("fit in cents %v, in dollars %v", gc, g)
	}
}

// sampleIDs maps the sample's own ids (1..2357, lifetimes' customer_id) to
// master ids (the cdnow_sample mapping's member ids), read from the file.
func sampleIDs(t *testing.T) map[int]string {
	t.Helper()
	data, err := os.ReadFile(cdnowSampleFile(t))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int]string{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("sample id %q: %v", f[1], err)
		}
		ids[n] = f[0]
	}
	return ids
}

// TestCDNOWCLV reproduces the Gamma-Gamma and CLV examples of lifetimes'
// README (and of its successor btyd's README, the same numbers): expected
// spend per transaction and 12-period CLV at 1% per period of customers
// 1, 2, 3, 6 and 9 of the sample. lifetimes' customer_lifetime_value
// steps 30 time units per "month" (its freq "D" default) while the
// summary is in weeks, so its 12 months are 12 periods of 30 weeks; that
// is what is reproduced here (PeriodWeeks 30), not a calendar year. Its
// models were fitted with lifetimes' own optimiser (printed BG/NBD
// r=0.24, alpha=4.41, a=0.79, b=2.43; p=6.25, q=3.74, v=15.44), so the
// tolerance is 0.1% relative.
func TestCDNOWCLV(t *testing.T) {
	cs := cdnowCustomers(t)
	m := cdnowBGNBD(t, cs)
	ids := sampleIDs(t)
	byID := map[string]Customer{}
	var sumMean, nRet float64
	for _, c := range cs {
		c.MeanValue /= 100
		byID[c.ID] = c
		if c.X > 0 {
			sumMean += c.MeanValue
			nRet++
		}
	}
	// "Average profit: 35.078551797": the mean monetary value of the 946
	// returning customers, a property of the summaries alone. lifetimes'
	// summary file rounds each monetary value to cents (22.35 for
	// customer 1's 22.345), so the means agree to within half a cent.
	if avg := sumMean / nRet; math.Abs(avg-35.078551797) > 0.005 {
		t.Errorf("mean monetary value of returning customers %.9f, lifetimes 35.078551797", avg)
	}
	dollars := make([]Customer, 0, len(cs))
	for _, c := range cs {
		dollars = append(dollars, byID[c.ID])
	}
	g, err := FitGammaGamma(dollars)
	if err != nil {
		t.Fatal(err)
	}
	var sumSpend float64
	for _, c := range dollars {
		sumSpend += g.ConditionalExpectedSpend(c.X, c.MeanValue)
	}
	// "Expected conditional average profit: 35.2529588256" (all 2,357).
	if v := sumSpend / float64(len(dollars)); math.Abs(v-35.2529588256) > 1e-3*35.25 {
		t.Errorf("mean conditional expected spend %.6f, lifetimes 35.2529588256", v)
	}
	for _, tc := range []struct {
		sample     int
		spend, clv float64 // lifetimes README
	}{
		{1, 24.658619, 140.096211},
		{2, 18.911489, 18.943467},
		{3, 35.170981, 38.180574},
		{6, 71.462843, 1003.868107},
		{9, 27.282408, 167.418216},
	} {
		c, ok := byID[ids[tc.sample]]
		if !ok {
			t.Fatalf("sample customer %d (master %q) not summarised", tc.sample, ids[tc.sample])
		}
		spend := g.ConditionalExpectedSpend(c.X, c.MeanValue)
		clv, err := CustomerLifetimeValue(m, g, c, CLVOptions{Periods: 12, PeriodWeeks: 30, DiscountRate: 0.01})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sample %d (%s): x=%v tx=%.2f T=%.2f mean %.2f: spend %.6f (lifetimes %v), CLV %.6f (lifetimes %v)", tc.sample, c.ID, c.X, c.TX, c.T, c.MeanValue, spend, tc.spend, clv, tc.clv)
		if math.Abs(spend-tc.spend) > 1e-3*tc.spend {
			t.Errorf("sample %d: expected spend %.6f, lifetimes %v", tc.sample, spend, tc.spend)
		}
		if math.Abs(clv-tc.clv) > 1e-3*tc.clv {
			t.Errorf("sample %d: CLV %.6f, lifetimes %v", tc.sample, clv, tc.clv)
		}
	}
}

// BenchmarkFitBGNBDCDNOW times the BG/NBD fit on the 2,357 CDNOW-sample
// summaries (go test -bench FitBGNBD ./features/btyd/).
func BenchmarkFitBGNBDCDNOW(b *testing.B) {
	cs := cdnowCustomers(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := FitBGNBD(cs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpectedPurchasesCDNOW times eq. (10) over the 2,357 customers
// (one op = all customers).
func BenchmarkExpectedPurchasesCDNOW(b *testing.B) {
	cs := cdnowCustomers(b)
	m := &BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	b.ResetTimer()
	for b.Loop() {
		for _, c := range cs {
			m.ExpectedPurchases(cdnowHoldoutWeeks, c.X, c.TX, c.T)
		}
	}
}
