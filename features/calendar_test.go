package features

import (
	"math/rand/v2"
	"testing"
	"time"

	"retain/datasets"
)

// TestCivilDays compares the day arithmetic with package time.
func TestCivilDays(t *testing.T) {
	epoch := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := time.Date(1899, 12, 25, 0, 0, 0, 0, time.UTC); d.Year() < 2201; d = d.AddDate(0, 0, 13) {
		z := daysFromCivil(d.Year(), int(d.Month()), d.Day())
		if want := int32(d.Sub(epoch).Hours() / 24); z != want {
			t.Fatalf("daysFromCivil(%s) = %d, want %d", d.Format(time.DateOnly), z, want)
		}
		y, m, dd := civilFromDays(z)
		if y != d.Year() || m != int(d.Month()) || dd != d.Day() {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %s", z, y, m, dd, d.Format(time.DateOnly))
		}
		if weekdayOf(z) != d.Weekday() {
			t.Fatalf("weekdayOf(%s) = %s", d.Format(time.DateOnly), weekdayOf(z))
		}
		if mi := monthIndex(z); mi != int32(d.Year()*12+int(d.Month())-1) {
			t.Fatalf("monthIndex(%s) = %d", d.Format(time.DateOnly), mi)
		}
		if dayOfYear(z) != d.YearDay() {
			t.Fatalf("dayOfYear(%s) = %d", d.Format(time.DateOnly), dayOfYear(z))
		}
	}
	// Days past the month's end roll over like time.Date.
	if got, want := daysFromCivil(2023, 2, 29), daysFromCivil(2023, 3, 1); got != want {
		t.Errorf("2023-02-29 is day %d, want %d (03-01)", got, want)
	}
}

// TestClockDay compares clock.day, with its cached zone offset, with the
// local date given by package time, across DST changes.
func TestClockDay(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, name := range []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		c := newClock(loc)
		base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
		var prev time.Time
		for i := 0; i < 20000; i++ {
			// Mostly increasing instants with some jumps back.
			ts := base.Add(time.Duration(r.Int64N(int64(3 * 365 * 24 * time.Hour))))
			if i%2 == 1 {
				ts = prev.Add(time.Duration(r.Int64N(int64(6 * time.Hour))))
			}
			prev = ts
			lt := ts.In(loc)
			want := daysFromCivil(lt.Year(), int(lt.Month()), lt.Day())
			if got := c.day(ts); got != want {
				t.Fatalf("%s: day(%s) = %d, want %d", name, lt, got, want)
			}
			if in := c.instant(want); !in.Equal(time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)) {
				t.Fatalf("%s: instant(%d) = %s", name, want, in)
			}
		}
	}
}

func TestGrid(t *testing.T) {
	for ws := time.Sunday; ws <= time.Saturday; ws++ {
		g := grid{phase: phaseOf(ws)}
		for d := int32(19700); d < 19720; d++ {
			w := g.week(d)
			if s := g.start(w); s > d || d >= s+7 || weekdayOf(s) != ws {
				t.Fatalf("week start %s: day %d in week %d starting %d (%s)", ws, d, w, s, weekdayOf(s))
			}
		}
	}
}

// TestContractDueDates checks the due dates derived from the members table.
func TestContractDueDates(t *testing.T) {
	d := func(y int, m time.Month, dd int) int32 { return dateDay(date(y, m, dd)) }
	cases := []struct {
		name string
		m    datasets.Member
		want []int32
	}{
		{"anniversaries (synth: no contract_end)",
			datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2024, 1, 15)},
			[]int32{d(2025, 1, 15), d(2026, 1, 15), d(2027, 1, 15)}},
		{"29 February rolls to 1 March as in time.AddDate",
			datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2024, 2, 29)},
			[]int32{d(2025, 3, 1), d(2026, 3, 1), d(2027, 3, 1), d(2028, 2, 29)}},
		{"inclusive end: 12 months ending the day before",
			datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2023, 3, 21), ContractEnd: date(2024, 3, 20)},
			[]int32{d(2024, 3, 20), d(2025, 3, 20), d(2026, 3, 20)}},
		{"exclusive end: 6 months to the same day",
			datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2024, 1, 10), ContractEnd: date(2024, 7, 10)},
			[]int32{d(2024, 7, 10), d(2025, 1, 10), d(2025, 7, 10)}},
		{"odd length: whole days",
			datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2024, 1, 1), ContractEnd: date(2024, 4, 10)},
			[]int32{d(2024, 4, 10), d(2024, 4, 10) + 100, d(2024, 4, 10) + 200}},
		{"end without start: 12-month terms",
			datasets.Member{ContractType: datasets.ContractAnnual, ContractEnd: date(2024, 6, 30)},
			[]int32{d(2024, 6, 30), d(2025, 6, 30), d(2026, 6, 30)}},
	}
	for _, c := range cases {
		ct := newContract(&c.m, true, d(2020, 1, 1))
		for k, want := range c.want {
			if got := ct.due(int32(k + 1)); got != want {
				y, m, dd := civilFromDays(got)
				t.Errorf("%s: due %d = %d-%02d-%02d, want day %d", c.name, k+1, y, m, dd, want)
			}
		}
	}
	// Against time.AddDate for every start day of two years.
	for s := date(2023, 1, 1); s.Year() < 2025; s = s.AddDate(0, 0, 1) {
		m := datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: s}
		ct := newContract(&m, true, 0)
		for k := 1; k <= 5; k++ {
			if got, want := ct.due(int32(k)), dateDay(s.AddDate(k, 0, 0)); got != want {
				t.Fatalf("start %s: due %d = %d, want %d", s.Format(time.DateOnly), k, got, want)
			}
		}
	}
	if ct := newContract(&datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2024, 1, 1)}, false, 0); !ct.open() {
		t.Error("a contract type that does not lapse must be open-ended")
	}
}

// TestContractRenewals checks endAt and walk with renewal transactions.
func TestContractRenewals(t *testing.T) {
	d := func(y int, m time.Month, dd int) int32 { return dateDay(date(y, m, dd)) }
	m := datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2023, 5, 1)}
	ct := newContract(&m, true, 0)
	rw := renewalWindow{before: 60, after: 30}
	renewals := []int32{
		d(2023, 1, 1),  // long before the first due date: ignored
		d(2024, 4, 20), // renews 2024-05-01
		d(2025, 5, 25), // renews 2025-05-01 late, inside the 30-day grace
	}
	cases := []struct {
		at   int32
		want int32
	}{
		{d(2024, 4, 1), d(2024, 5, 1)},  // before the renewal: due 2024-05-01
		{d(2024, 4, 21), d(2025, 5, 1)}, // renewed early: next term
		{d(2025, 5, 10), d(2025, 5, 1)}, // due passed, renewal not yet made: lapsed (end < at)
		{d(2025, 5, 26), d(2026, 5, 1)}, // late renewal made
		{d(2026, 7, 1), d(2026, 5, 1)},  // never renewed again: lapsed
		{d(2023, 5, 1), d(2024, 5, 1)},  // at the start
		{d(2030, 1, 1), d(2026, 5, 1)},  // far later: still the lapse
		{d(2025, 4, 30), d(2025, 5, 1)}, // day before the due date
		{d(2025, 5, 31), d(2026, 5, 1)}, // grace
		{d(2025, 5, 1), d(2025, 5, 1)},  // on the due date
		{d(2024, 4, 20), d(2024, 5, 1)}, // renewal on this day is not before it
		{d(2024, 4, 21) - 1, d(2024, 5, 1)},
	}
	for _, c := range cases {
		if got, ok := ct.endAt(rw, renewals, activity{}, c.at); !ok || got != c.want {
			t.Errorf("endAt(%d) = %d, want %d", c.at, got, c.want)
		}
	}
	var dues []int32
	ct.walk(rw, renewals, activity{}, farDay, func(due int32, renewed bool) bool {
		dues = append(dues, due)
		return true
	})
	if want := []int32{d(2024, 5, 1), d(2025, 5, 1), d(2026, 5, 1)}; len(dues) != 3 || dues[0] != want[0] || dues[1] != want[1] || dues[2] != want[2] {
		t.Errorf("due dates %v, want %v (two renewals, then the lapse)", dues, want)
	}
}

// TestContractBeforeData: due dates whose renewal window opens before the
// member's first activity in the data count as renewed when the member is
// active after the window closes; the first due date inside the data is
// judged by its renewal transactions as usual. (Without this a member who
// joined years before the data starts lapsed at the first anniversary:
// docs/labels.md, "Renewals before the data starts".)
func TestContractBeforeData(t *testing.T) {
	d := func(y int, m time.Month, dd int) int32 { return dateDay(date(y, m, dd)) }
	rw := renewalWindow{before: 60, after: 30}
	// Active every month from 2024-01-03 to 2025-06-28; one renewal, of
	// the 2024-11-14 anniversary.
	var loyal activity
	for day := d(2024, 1, 3); day <= d(2025, 6, 28); day += 7 {
		loyal.att = addMonthAct(loyal.att, day)
	}
	loyal.tx = addMonthAct(loyal.tx, d(2024, 11, 10))
	ct := newContract(&datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2019, 11, 14)}, true, 0)
	renewals := []int32{d(2024, 11, 10)}
	// Left in January 2024, at its anniversary of 2024-01-20, unrenewed.
	var gone activity
	for day := d(2024, 1, 2); day <= d(2024, 1, 15); day += 3 {
		gone.att = addMonthAct(gone.att, day)
	}
	ctGone := newContract(&datasets.Member{ContractType: datasets.ContractAnnual, ContractStart: date(2019, 1, 20)}, true, 0)
	cases := []struct {
		name     string
		ct       contract
		renewals []int32
		act      activity
		at, want int32
	}{
		{"anniversaries before the data, active since", ct, renewals, loyal, d(2024, 6, 1), d(2024, 11, 14)},
		{"renewal in the data after them", ct, renewals, loyal, d(2025, 1, 1), d(2025, 11, 14)},
		{"first unrenewed anniversary in the data lapses", ct, renewals, loyal, d(2026, 1, 1), d(2025, 11, 14)},
		{"no activity: every anniversary judged by transactions", ct, renewals, activity{}, d(2024, 6, 1), d(2020, 11, 14)},
		{"before any activity: the first anniversary, as known then", ct, renewals, loyal, d(2023, 12, 1), d(2020, 11, 14)},
		{"left at an anniversary near the data's start", ctGone, nil, gone, d(2024, 6, 1), d(2024, 1, 20)},
		{"before that anniversary, in force", ctGone, nil, gone, d(2024, 1, 16), d(2024, 1, 20)},
	}
	for _, c := range cases {
		if got, _ := c.ct.endAt(rw, c.renewals, c.act, c.at); got != c.want {
			t.Errorf("%s: endAt(%s) = %s, want %s", c.name, dayDate(c.at), dayDate(got), dayDate(c.want))
		}
	}
}

// TestActiveIn: activity in a range of days as the months' first and last
// days show it.
func TestActiveIn(t *testing.T) {
	d := func(y int, m time.Month, dd int) int32 { return dateDay(date(y, m, dd)) }
	var a activity
	for _, day := range []int32{d(2024, 1, 3), d(2024, 1, 20), d(2024, 3, 1), d(2024, 3, 31)} {
		a.att = addMonthAct(a.att, day)
	}
	a.tx = addMonthAct(a.tx, d(2024, 5, 15))
	cases := []struct {
		from, to int32
		want     bool
	}{
		{d(2024, 1, 21), d(2024, 2, 28), false},
		{d(2024, 1, 20), d(2024, 2, 28), true}, // the last day of January
		{d(2024, 2, 1), d(2024, 3, 2), true},   // March's first day
		{d(2024, 3, 2), d(2024, 3, 31), false}, // only March's first and last day are known
		{d(2024, 3, 2), d(2024, 4, 1), true},   // March's last day
		{d(2024, 4, 1), d(2024, 5, 15), false}, // the payment's day is not before to
		{d(2024, 4, 1), d(2024, 5, 16), true},  // a payment counts
		{d(2024, 6, 1), farDay, false},
		{d(2023, 1, 1), farDay, true},
		{d(2024, 3, 1), d(2024, 3, 1), false}, // empty range
	}
	for _, c := range cases {
		if got := a.activeIn(c.from, c.to); got != c.want {
			t.Errorf("activeIn(%s, %d) = %v, want %v", dayDate(c.from), c.to, got, c.want)
		}
	}
	if got := a.first(); got != d(2024, 1, 3) {
		t.Errorf("first() = %s, want 2024-01-03", dayDate(got))
	}
	if got := (activity{}).first(); got != farDay {
		t.Errorf("first() of no activity = %d, want farDay", got)
	}
}

// dayDate formats day number z (days since 1970-01-01) as a date.
func dayDate(z int32) string {
	if z == farDay {
		return "farDay"
	}
	return time.Unix(int64(z)*86400, 0).UTC().Format(time.DateOnly)
}
