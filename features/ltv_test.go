package features

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"retain/datasets"
	"retain/features/btyd"
)

func closeRel(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want) || got == want
}

// handSummaries are the payment-week summaries of the hand-made members
// (fixture_test.go, and frank below) at the cutoff Monday 2024-03-04,
// worked out by hand on the Monday week grid: x payment weeks after the
// first, tx and T in weeks from the first payment week, mean net payment
// of the repeat weeks in major units.
var handSummaries = map[string]struct {
	x, tx, T, mean float64
	why            string
}{
	"alice": {2, 58, 60, 312.75, "weeks of 2023-01-09 (fee), 2024-01-08 (renewal 600.00; +52 w), 2024-02-19 (retail 25.50; +58 w); cutoff +60 w; the 03-05 payment is after the cutoff; (600 + 25.50)/2"},
	"bob":   {0, 0, 1, 0, "one fee in the week of 2024-02-26, 1 week before the cutoff"},
	"carol": {4, 39, 40, 49, "fees in the weeks of 2023-05-29, 11-27, 2024-01-01, 01-29, 02-26 (+39 w); cutoff +40 w (280 days)"},
	"dave":  {0, 0, 50, 0, "one fee in the week of 2023-03-20; cutoff +50 w (350 days)"},
	"erin":  {0, 0, 14, 0, "one fee in the week of 2023-11-27; cutoff +14 w (98 days)"},
	"frank": {2, 6, 9, 20, "week of 2024-01-01: 40.00 + 10.00 (one transaction); 01-15: 30.00 - 30.00 refund (net 0, none); 02-05: 20.00 (+5 w); 02-12: 25.00 - 5.00 (+6 w, net 20.00); cutoff +9 w"},
}

// frank pays twice in one week, has a week netted to zero by a refund and
// a week with a refund smaller than the payment.
func frank() History {
	return newHistory(datasets.Member{
		MemberID: "frank", JoinedAt: at(2023, 12, 30, 9), HomeClub: "north",
		ContractType: datasets.ContractMonthly, ContractStart: date(2024, 1, 1),
	}).
		pay(at(2024, 1, 1, 9), 4000, datasets.TxMembershipFee).
		pay(at(2024, 1, 3, 9), 1000, datasets.TxRetail).
		pay(at(2024, 1, 15, 9), 3000, datasets.TxClassPack).
		pay(at(2024, 1, 16, 9), -3000, datasets.TxRefund).
		pay(at(2024, 2, 5, 9), 2000, datasets.TxRetail).
		pay(at(2024, 2, 12, 9), 2500, datasets.TxPTPackage).
		pay(at(2024, 2, 13, 9), -500, datasets.TxRefund).
		h
}

// handLTVWant returns the LTV of hand-made member id under handLTV,
// computed directly with package btyd from handSummaries:
// ExpectedPurchases over the horizon times ConditionalExpectedSpend.
func handLTVWant(t *testing.T, cfg *Config, id string) float64 {
	t.Helper()
	s, ok := handSummaries[id]
	if !ok {
		t.Fatalf("no hand summary of %s", id)
	}
	l := handLTV(cfg)
	bg := btyd.BGNBD{R: l.R, Alpha: l.Alpha, A: l.A, B: l.B}
	gg := btyd.GammaGamma{P: l.P, Q: l.Q, V: l.V}
	e := bg.ExpectedPurchases(l.HorizonWeeks, s.x, s.tx, s.T)
	z := gg.ConditionalExpectedSpend(s.x, s.mean)
	if math.IsNaN(e) || math.IsNaN(z) {
		t.Fatalf("%s: btyd gives NaN for %+v", id, s)
	}
	return e * z
}

// TestLTVHandMade checks the payment-week summaries and the LTV of the
// hand-made members against handSummaries and btyd's formula computed
// directly.
func TestLTVHandMade(t *testing.T) {
	cfg := testConfig()
	f := testFeaturizer(cfg)
	hs := append(handMade(), frank())
	for i := range hs {
		h := &hs[i]
		id := h.Member.MemberID
		want := handSummaries[id]
		m, td, g := memberAt(t, f, h, cutoff)
		c, ok := paymentSummary(m.tx.txs, g.week(td), f.scale)
		if !ok || c.X != want.x || c.TX != want.tx || c.T != want.T || math.Abs(c.MeanValue-want.mean) > 1e-12 {
			t.Errorf("%s: summary %+v (ok %v), want %+v (%s)", id, c, ok, want, want.why)
		}
		ex, err := f.Compute(h, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if w := handLTVWant(t, &cfg, id); !closeRel(ex.Indicators.LTV, w, 1e-9) || !(w > 0) {
			t.Errorf("%s: LTV %v, want %v", id, ex.Indicators.LTV, w)
		}
	}
	// bob, dave and erin paid once (x = 0): the BG/NBD expectation falls
	// with the time since that payment, and they get the population mean
	// spend p v / (q-1).
	l := handLTV(&cfg)
	ltv := func(id string) float64 { return handLTVWant(t, &cfg, id) }
	if !(ltv("bob") > ltv("erin") && ltv("erin") > ltv("dave")) {
		t.Errorf("x = 0: LTV bob (T=1) %v, erin (T=14) %v, dave (T=50) %v: want falling with T", ltv("bob"), ltv("erin"), ltv("dave"))
	}
	if got, want := (&btyd.GammaGamma{P: l.P, Q: l.Q, V: l.V}).ConditionalExpectedSpend(0, 0), l.P*l.V/(l.Q-1); !closeRel(got, want, 1e-12) {
		t.Errorf("population mean spend %v, want %v", got, want)
	}

	// A member without any payment has LTV 0.
	nopay := newHistory(datasets.Member{MemberID: "nopay", JoinedAt: at(2024, 1, 2, 9), ContractType: datasets.ContractMonthly}).
		pay(at(2024, 1, 2, 9), 0, datasets.TxMembershipFee).
		visit(at(2024, 1, 3, 9), "", 30).h
	ex, err := f.Compute(&nopay, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Indicators.LTV != 0 {
		t.Errorf("member who never paid: LTV %v, want 0", ex.Indicators.LTV)
	}
}

// memberAt returns h's member state and the cutoff day and grid of t, as
// Compute builds them.
func memberAt(t testing.TB, f *Featurizer, h *History, ts time.Time) (*member, int32, grid) {
	t.Helper()
	clk := newClock(f.loc)
	td := clk.day(ts)
	g := grid{phase: int32(floorMod(int64(td), 7))}
	m := &member{memberStatic: f.memberStatic(&h.Member, &clk)}
	for i := range h.Transactions {
		f.addTransaction(&m.tx, g, &clk, &h.Transactions[i])
	}
	return m, td, g
}

// TestLTVNaive checks the naive formula of a spec whose model is not
// fitted (NewSpec): annualised 52-week spend times LifetimeYears, the
// numbers worked out by hand as before version 3.
func TestLTVNaive(t *testing.T) {
	cfg := testConfig()
	spec, err := NewSpec(cfg, testCourses, []string{"north", "south"})
	if err != nil {
		t.Fatal(err)
	}
	if spec.LTV.Model != LTVNaive || !strings.Contains(spec.LTV.Reason, "not fitted") {
		t.Fatalf("NewSpec LTV %+v, want naive, not fitted", spec.LTV)
	}
	f, err := NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"alice": 625.5 * 2,           // 625.50 in the 52 weeks x 2 years
		"bob":   49.0 * 52 / 1 * 2,   // 5 days since joining: 1 week observed
		"carol": 245.0 * 52 / 40 * 2, // 277 days = 40 weeks (rounded up)
		"dave":  720.0 * 52 / 50 * 2,
		"erin":  49.0 * 2,
	}
	hs := handMade()
	for i := range hs {
		ex, err := f.Compute(&hs[i], cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if w := want[ex.MemberID]; ex.Indicators.LTV != w {
			t.Errorf("%s: naive LTV %v, want %v", ex.MemberID, ex.Indicators.LTV, w)
		}
	}
}

// TestLTVFallback: a build on too few members keeps the naive formula and
// says why in the spec and the report; degenerate summaries make the fits
// fail with the reason recorded.
func TestLTVFallback(t *testing.T) {
	cfg := testConfig()
	hs := handMade()
	src := &MemorySource{Man: datasets.Manifest{Version: 1, MinorUnits: 2}, CourseRows: testCourses}
	for _, h := range hs {
		src.MemberRows = append(src.MemberRows, h.Member)
		src.AttendanceRows = append(src.AttendanceRows, h.Attendance...)
		src.TransactionRows = append(src.TransactionRows, h.Transactions...)
	}
	path := filepath.Join(t.TempDir(), "few.rtfs")
	rep, err := Build(src, cfg, path, &BuildOptions{Cutoffs: []time.Time{cutoff}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LTV.Model != LTVNaive || !strings.Contains(rep.LTV.Reason, "too few payers") || rep.LTV.Payers != 5 || rep.LTV.Customers != 5 {
		t.Fatalf("report LTV %+v, want naive for too few payers over 5 members", rep.LTV)
	}
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Header().Spec.LTV; got != rep.LTV {
		t.Errorf("file spec LTV %+v, report %+v", got, rep.LTV)
	}
	var ex Example
	for {
		if err := r.Next(&ex); err != nil {
			break
		}
		if ex.MemberID == "alice" && ex.Indicators.LTV != 625.5*2 {
			t.Errorf("alice in the file: LTV %v, want the naive 1251", ex.Indicators.LTV)
		}
	}

	// 60 identical regular payers: no heterogeneity, the BG/NBD
	// likelihood has no maximum inside the domain.
	same := make([]btyd.Customer, 60)
	for i := range same {
		same[i] = btyd.Customer{X: 10, TX: 40, T: 41, MeanValue: 49}
	}
	l := fitLTV(&cfg, same, 60, 3)
	if l.Model != LTVNaive || !strings.Contains(l.Reason, "fit failed") || l.Customers != 60 || l.NeverPaid != 3 {
		t.Errorf("identical payers: %+v, want naive with a failed fit", l)
	}
	if err := l.check(&cfg); err != nil {
		t.Errorf("the naive fallback does not pass check: %v", err)
	}
	// Enough payers but too few repeat payers.
	once := make([]btyd.Customer, 100)
	for i := range once {
		once[i] = btyd.Customer{T: float64(1 + i%30)}
	}
	once[0] = btyd.Customer{X: 1, TX: 2, T: 5, MeanValue: 10}
	if l := fitLTV(&cfg, once, 100, 0); l.Model != LTVNaive || !strings.Contains(l.Reason, "1 with a repeat payment week (need 20)") {
		t.Errorf("one repeater: %+v", l)
	}
}

// TestLTVSynthFit builds the small synthetic gym: the fit must be made,
// with finite, plausible parameters; every member's LTV must be btyd's
// formula on a summary computed here from the raw transactions; and a fit
// at a calibration cutoff must predict the payment weeks of the next 20
// weeks within 25 % in total.
func TestLTVSynthFit(t *testing.T) {
	s := loadSmallSynth(t)
	cfg := s.config()
	f := s.fitted(t, cfg)
	l := f.spec.LTV
	t.Log(l.String())
	// Members pay a monthly fee (0.23 payment weeks a week) plus packs:
	// the mean weekly rate of the alive, r/alpha, must be of that order;
	// the population mean spend p v/(q-1) between the smallest fee (29.00
	// in the generator) and a few hundred.
	if rate := l.R / l.Alpha; !(rate > 0.1 && rate < 0.6) {
		t.Errorf("r/alpha = %v payment weeks a week: implausible", rate)
	}
	if spend := l.P * l.V / (l.Q - 1); !(spend > 20 && spend < 500) {
		t.Errorf("population mean spend %v: implausible", spend)
	}
	if l.Customers < 200 || l.Customers != l.Payers || l.Repeaters < 150 || l.Customers+l.NeverPaid > 300 {
		t.Errorf("fitted on %d payers, %d repeaters, %d never paid (300 members)", l.Customers, l.Repeaters, l.NeverPaid)
	}

	// Every member's LTV at a cutoff, against an independent summary.
	ts := s.cfg.End().AddDate(0, 0, -7*10)
	for ts.Weekday() != time.Monday {
		ts = ts.AddDate(0, 0, -1)
	}
	bg := btyd.BGNBD{R: l.R, Alpha: l.Alpha, A: l.A, B: l.B}
	gg := btyd.GammaGamma{P: l.P, Q: l.Q, V: l.V}
	cs, _ := rawSummaries(s, ts, ts)
	n := 0
	for _, id := range s.ids {
		h := s.hs[id]
		ex, err := f.Compute(h, ts)
		if errors.Is(err, ErrNotJoined) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		if c, ok := cs[id]; ok {
			want = bg.ExpectedPurchases(l.HorizonWeeks, c.X, c.TX, c.T) * gg.ConditionalExpectedSpend(c.X, c.MeanValue)
			n++
		}
		if got := ex.Indicators.LTV; !closeRel(got, want, 1e-9) || math.IsNaN(got) {
			t.Fatalf("%s: LTV %v, btyd on the raw summary %+v: %v", id, got, cs[id], want)
		}
	}
	if n < 200 {
		t.Errorf("only %d members with payments compared", n)
	}

	// Calibration at C, holdout [C, C+20w).
	const hw = 20
	C := s.cfg.End().AddDate(0, 0, -7*hw)
	for C.Weekday() != time.Monday {
		C = C.AddDate(0, 0, -1)
	}
	cal, hold := rawSummaries(s, C, C.AddDate(0, 0, 7*hw))
	var list []btyd.Customer
	for _, c := range cal {
		list = append(list, c)
	}
	c2 := cfg
	c2.Values.LifetimeYears = hw * 7 / 365.25
	fl := fitLTV(&c2, list, len(list), 0)
	if fl.Model != LTVBTYD {
		t.Fatalf("calibration fit: %s", fl.Reason)
	}
	fbg := btyd.BGNBD{R: fl.R, Alpha: fl.Alpha, A: fl.A, B: fl.B}
	var pred, actual float64
	for id, c := range cal {
		pred += fbg.ExpectedPurchases(hw, c.X, c.TX, c.T)
		actual += hold[id]
	}
	t.Logf("holdout %d weeks: predicted %.1f payment weeks, actual %.0f (%d payers)", hw, pred, actual, len(cal))
	if !(math.Abs(pred-actual) <= 0.25*actual) {
		t.Errorf("holdout %d weeks: predicted %.1f payment weeks, actual %.0f", hw, pred, actual)
	}
}

// rawSummaries computes the payment-week summaries of the synthetic
// members at calibration end cal from their raw transactions, independently
// of paymentSummary (weeks counted from the Monday 2000-01-03 in UTC, the
// default grid), and the payment weeks in [cal, end).
func rawSummaries(s *smallSynth, cal, end time.Time) (map[string]btyd.Customer, map[string]float64) {
	week := func(ts time.Time) int64 {
		return int64(math.Floor(ts.Sub(time.Date(2000, 1, 3, 0, 0, 0, 0, time.UTC)).Hours() / (24 * 7)))
	}
	cw, ew := week(cal), week(end)
	cs, hold := map[string]btyd.Customer{}, map[string]float64{}
	for _, id := range s.ids {
		net := map[int64]int64{}
		for _, x := range s.hs[id].Transactions {
			net[week(x.TS)] += x.Amount
		}
		first, last, n := int64(math.MaxInt64), int64(math.MinInt64), 0
		for w, a := range net {
			switch {
			case a > 0 && w < cw:
				first, last = min(first, w), max(last, w)
				n++
			case a > 0 && w < ew:
				hold[id]++
			}
		}
		if n == 0 {
			continue
		}
		var sum float64
		for w, a := range net {
			if a > 0 && w < cw && w != first {
				sum += float64(a) / 100
			}
		}
		c := btyd.Customer{X: float64(n - 1), TX: float64(last - first), T: float64(cw - first)}
		if n > 1 {
			c.MeanValue = sum / c.X
		}
		cs[id] = c
	}
	return cs, hold
}

// TestLTVSpecRoundTrip: a fitted spec survives JSON and computes the same
// LTV after it; Check refuses specs of version 2 and broken LTV models.
func TestLTVSpecRoundTrip(t *testing.T) {
	cfg := testConfig()
	spec := testFeaturizer(cfg).Spec()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var back FeatureSpec
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.LTV, spec.LTV) || back.LTV.Model != LTVBTYD {
		t.Fatalf("round trip: %+v, want %+v", back.LTV, spec.LTV)
	}
	f, err := NewFeaturizer(&back)
	if err != nil {
		t.Fatal(err)
	}
	hs := handMade()
	ex, err := f.Compute(&hs[0], cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if w := handLTVWant(t, &cfg, "alice"); !closeRel(ex.Indicators.LTV, w, 1e-9) {
		t.Errorf("after the round trip: alice LTV %v, want %v", ex.Indicators.LTV, w)
	}

	bad := []struct {
		name string
		edit func(s *FeatureSpec)
		want string
	}{
		{"version 2", func(s *FeatureSpec) { s.Version = 2 }, "version 2"},
		{"naive without reason", func(s *FeatureSpec) {
			s.LTV = LTVModel{Model: LTVNaive, TimeUnit: LTVTimeUnit, HorizonWeeks: s.LTV.HorizonWeeks}
		}, "without a reason"},
		{"unknown model", func(s *FeatureSpec) { s.LTV.Model = "pareto/nbd" }, "pareto/nbd"},
		{"no model (a version-2 spec relabelled)", func(s *FeatureSpec) { s.LTV = LTVModel{} }, "time unit"},
		{"days", func(s *FeatureSpec) { s.LTV.TimeUnit = "day" }, "time unit"},
		{"horizon", func(s *FeatureSpec) { s.LTV.HorizonWeeks = 52 }, "horizon"},
		{"q <= 1", func(s *FeatureSpec) { s.LTV.Q = 1 }, "q > 1"},
		{"negative r", func(s *FeatureSpec) { s.LTV.R = -1 }, "parameter r"},
		{"NaN v", func(s *FeatureSpec) { s.LTV.V = math.NaN() }, "parameter v"},
		{"tiny alpha", func(s *FeatureSpec) { s.LTV.Alpha = 0.01 }, "too small"},
	}
	for _, b := range bad {
		s := *spec
		b.edit(&s)
		err := s.Check()
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: Check() = %v, want ErrSpec mentioning %q", b.name, err, b.want)
		}
		if _, err := NewFeaturizer(&s); err == nil {
			t.Errorf("%s: NewFeaturizer accepted the spec", b.name)
		}
	}
}

// TestLTVLastWeekOut: the leave-last-week-out build keeps the naive
// formula with its reason (ltvLastWeek) in the report and the file's
// spec, and the examples' LTV is that spec's.
func TestLTVLastWeekOut(t *testing.T) {
	s := loadSmallSynth(t)
	cfg := s.config()
	cfg.Split = SplitConfig{Mode: SplitModeLastWeek, ValidationFraction: 0.15}
	path := filepath.Join(t.TempDir(), "lw.rtfs")
	rep, err := BuildLastWeekOut(s.source(), cfg, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.LTV.Model != LTVNaive || rep.LTV.Reason != ltvLastWeek {
		t.Fatalf("LTV %s", rep.LTV.String())
	}
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec := r.Header().Spec
	if spec.LTV != rep.LTV {
		t.Fatalf("file spec LTV %+v, report %+v", spec.LTV, rep.LTV)
	}
	f, err := NewFeaturizer(&spec)
	if err != nil {
		t.Fatal(err)
	}
	var ex Example
	n := 0
	for r.Next(&ex) == nil {
		if ex.Split != SplitTest {
			continue
		}
		want, err := f.Compute(s.hs[ex.MemberID], ex.Cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Indicators.LTV != want.Indicators.LTV {
			t.Fatalf("%s: LTV %v in the file, %v from Compute", ex.MemberID, ex.Indicators.LTV, want.Indicators.LTV)
		}
		if ex.Indicators.LTV > 0 {
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d test examples with a positive LTV", n)
	}
}

// TestSampleLTV: above ltvFitMax payers a deterministic sample of about
// ltvFitMax is drawn by member hash (binomial: 25,000 x 0.4 has standard
// deviation 77, so +-300 is about 4 of them); below it all are kept.
func TestSampleLTV(t *testing.T) {
	cfg := DefaultConfig()
	n := 25000
	ids := make([]string, n)
	cs := make([]btyd.Customer, n)
	for i := range cs {
		ids[i] = fmt.Sprintf("M%06d", i)
		cs[i] = btyd.Customer{X: float64(i % 7), TX: float64(i % 7), T: float64(i%7 + 1)}
	}
	s1 := sampleLTV(&cfg, ids, cs)
	s2 := sampleLTV(&cfg, ids, cs)
	if len(s1) < ltvFitMax-300 || len(s1) > ltvFitMax+300 || !reflect.DeepEqual(s1, s2) {
		t.Errorf("sample of %d from %d (twice the same: %v), want about %d", len(s1), n, reflect.DeepEqual(s1, s2), ltvFitMax)
	}
	if got := sampleLTV(&cfg, ids[:ltvFitMax], cs[:ltvFitMax]); len(got) != ltvFitMax {
		t.Errorf("%d payers: kept %d", ltvFitMax, len(got))
	}
}
