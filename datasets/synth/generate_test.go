package synth

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"testing"
	"time"

	"retain/datasets"
)

// hashSink hashes every record it receives, in order.
type hashSink struct{ h hash.Hash }

func newHashSink() *hashSink { return &hashSink{h: sha256.New()} }

func (s *hashSink) Members(r []datasets.Member) error {
	for i := range r {
		fmt.Fprintf(s.h, "M%+v\n", r[i])
	}
	return nil
}
func (s *hashSink) Courses(r []datasets.Course) error {
	for i := range r {
		fmt.Fprintf(s.h, "C%+v\n", r[i])
	}
	return nil
}
func (s *hashSink) Attendance(r []datasets.Attendance) error {
	for i := range r {
		a := &r[i]
		fmt.Fprintf(s.h, "A%s|%s|%d|%s|%d|%d\n", a.EventID, a.MemberID, a.TS.UnixNano(), a.CourseID, a.DurationMin, a.Source)
	}
	return nil
}
func (s *hashSink) Transactions(r []datasets.Transaction) error {
	for i := range r {
		t := &r[i]
		fmt.Fprintf(s.h, "T%s|%s|%d|%d|%d\n", t.EventID, t.MemberID, t.TS.UnixNano(), t.Amount, t.Kind)
	}
	return nil
}
func (s *hashSink) Truth(r []Truth) error {
	for i := range r {
		t := &r[i]
		fmt.Fprintf(s.h, "R%s|%d|%v|%v|%d|", t.MemberID, t.Cutoff.Unix(), t.Alive, t.Churned, t.Sims)
		for _, v := range append([]float64{t.ChurnProb, t.ChurnSE, t.PNoClass}, t.NextCategory...) {
			binary.Write(s.h, binary.LittleEndian, v)
		}
	}
	return nil
}
func (s *hashSink) sum() string { return fmt.Sprintf("%x", s.h.Sum(nil)) }

func TestGenerateDeterministic(t *testing.T) {
	run := func(seed uint64, workers int) string {
		cfg := DefaultConfig()
		cfg.Members = 700 // three chunks, the last one partial
		cfg.Weeks = 40
		cfg.TruthCutoffs = nil
		cfg.TruthSims = 20
		cfg.Seed = seed
		cfg.Workers = workers
		s := newHashSink()
		if _, err := Generate(cfg, s); err != nil {
			t.Fatal(err)
		}
		return s.sum()
	}
	a1 := run(1, 1)
	a4 := run(1, 4)
	b := run(2, 4)
	if a1 != a4 {
		t.Errorf("seed 1: Workers=1 gives %s, Workers=4 gives %s", a1, a4)
	}
	if a1 == b {
		t.Errorf("seeds 1 and 2 give the same records (%s)", a1)
	}
}

// TestRecordsValid runs every record of the shared data set through the
// datasets Checker (unknown members and courses, events before the join,
// duplicate ids, bad enums and amounts) and checks what the Checker does
// not: timestamps inside [Start, End) in UTC, events sorted per member,
// plausible local hours, and that the members come in order.
func TestRecordsValid(t *testing.T) {
	cfg, s, _ := shared(t)
	c := datasets.NewChecker(&datasets.CheckOptions{Now: cfg.End()})
	for i := range s.CourseRows {
		if err := c.Course("courses", int64(i+1), &s.CourseRows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.CourseRows); n < 60 || n > 120 {
		t.Errorf("%d courses, want 60..120 for 4 clubs", n)
	}
	for i := range s.MemberRows {
		m := &s.MemberRows[i]
		if err := c.Member("members", int64(i+1), m); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("M%06d", i+1); m.MemberID != want {
			t.Fatalf("member %d has id %s, want %s", i, m.MemberID, want)
		}
		if m.JoinedAt.After(cfg.End()) || m.JoinedAt.Before(cfg.Start.AddDate(-5, 0, -14)) {
			t.Errorf("member %s joined %v", m.MemberID, m.JoinedAt)
		}
	}
	start, end := cfg.Start, cfg.End()
	check := func(kind, member, id string, ts time.Time, last map[string]time.Time) {
		t.Helper()
		if ts.Location() != time.UTC || ts.Before(start) || !ts.Before(end) {
			t.Fatalf("%s %s at %v outside [%v, %v) or not UTC", kind, id, ts, start, end)
		}
		if ts.Before(last[member]) {
			t.Fatalf("%s %s at %v before the member's previous event at %v", kind, id, ts, last[member])
		}
		last[member] = ts
		if h := ts.Hour(); h < 5 || h > 23 {
			t.Fatalf("%s %s at implausible hour %v", kind, id, ts)
		}
	}
	last := map[string]time.Time{}
	for i := range s.AttendanceRows {
		a := &s.AttendanceRows[i]
		if err := c.Attendance("attendance", int64(i+1), a); err != nil {
			t.Fatal(err)
		}
		check("visit", a.MemberID, a.EventID, a.TS, last)
		if a.DurationMin < 20 || a.DurationMin > 240 {
			t.Fatalf("visit %s lasts %d minutes", a.EventID, a.DurationMin)
		}
	}
	last = map[string]time.Time{}
	for i := range s.TransactionRows {
		x := &s.TransactionRows[i]
		if err := c.Transaction("transactions", int64(i+1), x); err != nil {
			t.Fatal(err)
		}
		check("transaction", x.MemberID, x.EventID, x.TS, last)
	}
}

// TestJoinedAtBound checks "no event before joined_at" at the instant, not
// the day as the Checker does.
func TestJoinedAtBound(t *testing.T) {
	_, s, _ := shared(t)
	joined := map[string]time.Time{}
	for _, m := range s.MemberRows {
		joined[m.MemberID] = m.JoinedAt
	}
	for _, a := range s.AttendanceRows {
		if a.TS.Before(joined[a.MemberID]) {
			t.Fatalf("visit %s at %v before %s joined at %v", a.EventID, a.TS, a.MemberID, joined[a.MemberID])
		}
	}
	for _, x := range s.TransactionRows {
		if x.TS.Before(joined[x.MemberID]) {
			t.Fatalf("transaction %s at %v before %s joined at %v", x.EventID, x.TS, x.MemberID, joined[x.MemberID])
		}
	}
}

// TestNothingAfterChurn simulates members directly and checks that no
// event of a churned member falls on or after its (hidden) churn day, and
// that members who joined during the data pay on their join day.
func TestNothingAfterChurn(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Members = 2 * chunkSize
	cutoffs, err := cfg.normalize()
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(cfg, cutoffs)
	churned := 0
	for ci := range 2 {
		res := g.chunk(ci, newTruthScratch())
		lastDay := map[string]int32{}
		day := func(ts time.Time) int32 { return g.dayOf(ts) }
		for _, a := range res.att {
			lastDay[a.MemberID] = max(lastDay[a.MemberID], day(a.TS))
		}
		for _, x := range res.tx {
			lastDay[x.MemberID] = max(lastDay[x.MemberID], day(x.TS))
		}
		for i, ms := range res.stats {
			id := res.members[i].MemberID
			if ms.churnDay == 1<<31-1 {
				continue
			}
			churned++
			if d, ok := lastDay[id]; ok && d >= ms.churnDay {
				t.Errorf("member %s churned on day %d but has an event on day %d", id, ms.churnDay, d)
			}
		}
	}
	if churned < 50 {
		t.Errorf("only %d of %d members churned; the check is too weak", churned, cfg.Members)
	}
}

func TestSummaryStatistics(t *testing.T) {
	_, _, sum := shared(t)
	// Tier shares within 5 points of 15/35/50 %.
	for i, want := range []float64{0.15, 0.35, 0.50} {
		if got := sum.TierShares[i]; got < want-0.05 || got > want+0.05 {
			t.Errorf("tier %d share %.3f, want %.2f ± 0.05", i, got, want)
		}
	}
	// Churn peaks in March-June: the mean monthly churn rate over those
	// months is at least 1.3 times the mean over the other months.
	var peak, rest, np, nr float64
	// Visits dip in July-August: at most 0.85 times the other months.
	var summer, other, ns, no float64
	for _, m := range sum.Months {
		switch m.Month.Month() {
		case time.March, time.April, time.May, time.June:
			peak += m.ChurnRate
			np++
		default:
			rest += m.ChurnRate
			nr++
		}
		switch m.Month.Month() {
		case time.July, time.August:
			summer += m.VisitsPerMember
			ns++
		default:
			other += m.VisitsPerMember
			no++
		}
	}
	peak, rest, summer, other = peak/np, rest/nr, summer/ns, other/no
	t.Logf("monthly churn: %.4f in Mar-Jun, %.4f otherwise; visits/member-week %.3f in Jul-Aug, %.3f otherwise", peak, rest, summer, other)
	if peak < 1.3*rest {
		t.Errorf("mean churn rate Mar-Jun %.4f is not 1.3 times the rest %.4f", peak, rest)
	}
	if summer > 0.85*other {
		t.Errorf("visits in Jul-Aug %.3f are not below 0.85 times the rest %.3f", summer, other)
	}
	// New members churn more.
	t.Logf("weekly churn hazard: %.4f new, %.4f tenured", sum.WeeklyChurnNew, sum.WeeklyChurnTenured)
	if sum.WeeklyChurnNew < 1.3*sum.WeeklyChurnTenured {
		t.Errorf("weekly churn of new members %.4f is not 1.3 times that of tenured members %.4f", sum.WeeklyChurnNew, sum.WeeklyChurnTenured)
	}
	// Plausible magnitudes: 0.8 to 2.5 visits per member-week; 1 % to 8 %
	// monthly churn; new members throughout the data.
	if sum.Visits.Mean < 0.8 || sum.Visits.Mean > 2.5 {
		t.Errorf("mean visits per member-week %.2f", sum.Visits.Mean)
	}
	for _, m := range sum.Months {
		if m.ChurnRate < 0.01 || m.ChurnRate > 0.08 {
			t.Errorf("%s: churn rate %.4f", m.Month.Format("2006-01"), m.ChurnRate)
		}
	}
	if new := sum.Members - sum.Stock; new < sum.Members/4 {
		t.Errorf("only %d of %d members joined during the data", new, sum.Members)
	}
}

// errSink fails after n member batches.
type errSink struct {
	Sink
	n int
}

var errBoom = errors.New("boom")

func (s *errSink) Members(r []datasets.Member) error {
	if s.n == 0 {
		return errBoom
	}
	s.n--
	return s.Sink.Members(r)
}

func TestGenerateSinkError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Members = 5 * chunkSize
	cfg.Weeks = 30
	cfg.TruthSims = -1
	_, err := Generate(cfg, &errSink{Sink: Discard, n: 2})
	if !errors.Is(err, errBoom) {
		t.Fatalf("got %v, want an error wrapping %v", err, errBoom)
	}
}

func TestConfigErrors(t *testing.T) {
	base := DefaultConfig()
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"start not Monday", func(c *Config) { c.Start = c.Start.AddDate(0, 0, 1) }},
		{"start not midnight", func(c *Config) { c.Start = c.Start.Add(time.Hour) }},
		{"start not UTC", func(c *Config) { c.Start = c.Start.In(time.FixedZone("X", 3600)) }},
		{"cutoff not on a week boundary", func(c *Config) { c.TruthCutoffs = []time.Time{c.Start.AddDate(0, 0, 7*30+1)} }},
		{"cutoff too early", func(c *Config) { c.TruthCutoffs = []time.Time{c.Start.AddDate(0, 0, 7*7)} }},
		{"horizon past the end", func(c *Config) { c.TruthCutoffs = []time.Time{c.Start.AddDate(0, 0, 7*100)} }},
		{"cutoffs out of order", func(c *Config) {
			c.TruthCutoffs = []time.Time{c.Start.AddDate(0, 0, 7*40), c.Start.AddDate(0, 0, 7*30)}
		}},
		{"negative members", func(c *Config) { c.Members = -1 }},
		{"tiers inverted", func(c *Config) { c.TierThresholds = TierThresholds{Core: 1, Active: 2} }},
	} {
		cfg := base
		cfg.TruthCutoffs = nil
		tc.edit(&cfg)
		if _, err := Generate(cfg, Discard); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", tc.name, err)
		}
	}
}

func TestDefaultConfigFollowsWeeks(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Weeks = 52
	cut := cfg.Cutoffs()
	// Weeks 26, 30, 34, 38, 42 (the next, 46, would end after week 52).
	if len(cut) != 5 || !cut[0].Equal(cfg.Start.AddDate(0, 0, 7*26)) || !cut[4].Equal(cfg.Start.AddDate(0, 0, 7*42)) {
		t.Errorf("cutoffs %v", cut)
	}
	cfg.TruthSims = -1
	if cut := cfg.Cutoffs(); cut != nil {
		t.Errorf("cutoffs %v without truth", cut)
	}
}

func TestDefaultCutoffs(t *testing.T) {
	for _, tc := range []struct {
		weeks, every, h int
		want            []int // in weeks after Start
	}{
		{104, 4, 8, []int{26, 30, 34, 38, 42, 46, 50, 54, 58, 62, 66, 70, 74, 78, 82, 86, 90, 94}},
		{52, 13, 8, []int{26, 39}},
		{20, 4, 8, []int{8, 12}}, // too short for week 26: from week 8
		{15, 4, 8, nil},          // no room at all
	} {
		cfg := Config{Weeks: tc.weeks, TruthEvery: tc.every, HorizonWeeks: tc.h}
		cfg.fill()
		got, err := cfg.normalize()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("weeks %d every %d: cutoffs %v, want %v", tc.weeks, tc.every, got, tc.want)
		}
	}
}
