package features

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"retain/datasets"
)

// The KPI tests use data observed from Monday 2023-07-03 to 2024-07-01 and
// the default 8-week (56-day) horizon.
var kpiStart, kpiEnd = date(2023, 7, 3), date(2024, 7, 1)

func kpis(t *testing.T, hs []History) *KPIReport {
	t.Helper()
	rep, err := ComputeKPIs(DefaultConfig(), hs, kpiStart, kpiEnd)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func monthRow(t *testing.T, rep *KPIReport, month, club string) MonthKPI {
	t.Helper()
	for _, m := range rep.Months {
		if m.Month == month && m.Club == club {
			return m
		}
	}
	t.Fatalf("no KPI row for %s %s", month, club)
	return MonthKPI{}
}

// monthly returns the 5th of every month from `from` to `to` at 18:00.
func monthly(from, to time.Time, day int) []time.Time {
	var out []time.Time
	for m := time.Date(from.Year(), from.Month(), day, 18, 0, 0, 0, time.UTC); !m.After(to); m = m.AddDate(0, 1, 0) {
		if !m.Before(from) {
			out = append(out, m)
		}
	}
	return out
}

func annualMember(id string, joined time.Time) datasets.Member {
	return datasets.Member{MemberID: id, JoinedAt: joined.Add(9 * time.Hour), HomeClub: "north",
		ContractType: datasets.ContractAnnual, ContractStart: joined}
}

func TestKPIRenewal(t *testing.T) {
	var hs []History
	add := func(m datasets.Member, renewal time.Time, lastVisit time.Time) {
		h := newHistory(m)
		for _, v := range monthly(datasets.Date(m.JoinedAt), lastVisit, 5) {
			h.visit(v, "", 60)
		}
		if !renewal.IsZero() {
			h.pay(renewal, 60000, datasets.TxRenewal)
		}
		hs = append(hs, h.h)
	}
	end := date(2024, 6, 30)
	add(annualMember("r1", date(2023, 3, 10)), at(2024, 3, 8, 9), end)  // due 2024-03-10, renewed 2 days early
	add(annualMember("r2", date(2023, 3, 20)), time.Time{}, end)        // due 2024-03-20, not renewed by 04-19
	add(annualMember("r3", date(2023, 3, 25)), at(2024, 4, 10, 9), end) // due 2024-03-25, renewed 16 days late
	add(annualMember("r4", date(2023, 6, 15)), time.Time{}, end)        // due 2024-06-15: window open at the end of the data
	add(annualMember("r5", date(2023, 6, 1)), time.Time{}, date(2023, 10, 1))
	rep := kpis(t, hs)

	// March: due r1, r2, r3; renewed r1, r3: 2/3 < 0.85.
	mar := monthRow(t, rep, "2024-03", AllClubs)
	if mar.Due != 3 || mar.Renewed != 2 || mar.RenewalRate != 2.0/3 || !slices.Contains(mar.Flags, KPIRenewalRateLow) {
		t.Errorf("March renewal: %+v", mar)
	}
	if north := monthRow(t, rep, "2024-03", "north"); north.Due != 3 || north.Renewed != 2 {
		t.Errorf("March north: %+v", north)
	}
	// June: r5 due 06-01 (window closed 07-01, the end) not renewed; r4
	// pending.
	jun := monthRow(t, rep, "2024-06", AllClubs)
	if jun.Due != 1 || jun.Renewed != 0 || jun.RenewalPending != 1 || !slices.Contains(jun.Flags, KPIRenewalRateLow) {
		t.Errorf("June renewal: %+v", jun)
	}
	// April: nothing due, no flag.
	if apr := monthRow(t, rep, "2024-04", AllClubs); apr.Due != 0 || slices.Contains(apr.Flags, KPIRenewalRateLow) {
		t.Errorf("April renewal: %+v", apr)
	}
	// Yearly 2024: on the books on 1 January (activity since 2023-11-06):
	// r1-r4 (r5's last visit was 2023-10-01); renewed in 2024: r1, r3.
	var y2024 *YearKPI
	for i := range rep.Years {
		if rep.Years[i].Year == 2024 && rep.Years[i].Club == AllClubs {
			y2024 = &rep.Years[i]
		}
	}
	if y2024 == nil || y2024.StartMembers != 4 || y2024.Renewed != 2 || y2024.RenewalRate != 0.5 || !y2024.Partial {
		t.Errorf("2024: %+v", y2024)
	}
}

func TestKPIActiveShare(t *testing.T) {
	var hs []History
	for i := 0; i < 10; i++ {
		h := newHistory(monthlyMember(fmt.Sprintf("m%d", i), at(2023, 7, 10, 9))).
			visit(at(2024, 1, 15, 18), "", 60).visit(at(2024, 2, 15, 18), "", 60)
		if i < 7 {
			h.visit(at(2024, 3, 12, 18), "", 60)
		}
		if i < 6 {
			h.visit(at(2024, 4, 9, 18), "", 60)
		} else {
			for _, d := range monthly(date(2024, 1, 1), date(2024, 6, 30), 1) {
				h.pay(d, 4900, datasets.TxMembershipFee)
			}
		}
		hs = append(hs, h.h)
	}
	// Gone since October: not on the books in March.
	hs = append(hs, newHistory(monthlyMember("gone", at(2023, 7, 10, 9))).visit(at(2023, 10, 15, 18), "", 60).h)
	rep := kpis(t, hs)
	// March: 10 on the books (all active in February), 7 visited: 0.70 is
	// healthy.
	mar := monthRow(t, rep, "2024-03", AllClubs)
	if mar.Enrolled != 10 || mar.Active != 7 || mar.ActiveShare != 0.7 || slices.Contains(mar.Flags, KPIActiveShareLow) {
		t.Errorf("March: %+v", mar)
	}
	// April: 10 on the books (m6-m9 paid), 6 visited: 0.60 is flagged.
	apr := monthRow(t, rep, "2024-04", AllClubs)
	if apr.Enrolled != 10 || apr.Active != 6 || apr.ActiveShare != 0.6 || !slices.Contains(apr.Flags, KPIActiveShareLow) {
		t.Errorf("April: %+v", apr)
	}
}

func TestKPIRepurchase(t *testing.T) {
	buy := func(id string, buys ...time.Time) History {
		h := newHistory(monthlyMember(id, at(2022, 1, 3, 9)))
		for _, b := range buys {
			h.pay(b, 12000, datasets.TxClassPack)
		}
		return h.h
	}
	p4 := newHistory(monthlyMember("p4", at(2022, 1, 3, 9))).
		pay(at(2024, 2, 1, 9), 30000, datasets.TxPTPackage).pay(at(2024, 3, 25, 9), 12000, datasets.TxClassPack).h
	p5 := newHistory(monthlyMember("p5", at(2022, 1, 3, 9))).pay(at(2024, 3, 15, 9), 0, datasets.TxClassPack).h
	rep := kpis(t, []History{
		buy("p1", at(2024, 1, 15, 9), at(2024, 3, 10, 9)), // repeat in March
		buy("p2", at(2024, 3, 5, 9)),                      // first purchase
		buy("p3", at(2023, 3, 1, 9), at(2024, 3, 20, 9)),  // 385 days apart: not a repurchase
		p4, // PT package, then a class pack: repeat
		p5, // a free class pack is no purchase
	})
	// January: p1 buys for the first time: 0/1, flagged.
	jan := monthRow(t, rep, "2024-01", AllClubs)
	if jan.Buyers != 1 || jan.RepeatBuyers != 0 || !slices.Contains(jan.Flags, KPIRepurchaseRateLow) {
		t.Errorf("January: %+v", jan)
	}
	// March: buyers p1-p4, repeat p1 and p4: 0.5 meets the threshold.
	mar := monthRow(t, rep, "2024-03", AllClubs)
	if mar.Buyers != 4 || mar.RepeatBuyers != 2 || mar.RepurchaseRate != 0.5 || slices.Contains(mar.Flags, KPIRepurchaseRateLow) {
		t.Errorf("March: %+v", mar)
	}
}

func TestKPIChurnByMonth(t *testing.T) {
	weekly := func(id string, spans ...[2]time.Time) History {
		h := newHistory(monthlyMember(id, at(2023, 7, 3, 9)))
		for _, s := range spans {
			for d := s[0]; !d.After(s[1]); d = d.AddDate(0, 0, 7) {
				h.visit(d.Add(18*time.Hour), "", 60)
			}
		}
		return h.h
	}
	rep := kpis(t, []History{
		// d1: last visit 2024-02-06, nothing after: departs in February.
		weekly("d1", [2]time.Time{date(2023, 7, 4), date(2024, 2, 6)}),
		// d2: a 20-day gap, then active until 2024-06-25: pending at the end.
		weekly("d2", [2]time.Time{date(2023, 7, 4), date(2024, 2, 20)}, [2]time.Time{date(2024, 3, 11), date(2024, 6, 25)}),
		// d3: last visit 2024-01-02, back on 2024-04-01 (90 days later) once:
		// departs in January and again in April.
		weekly("d3", [2]time.Time{date(2023, 7, 4), date(2024, 1, 2)}, [2]time.Time{date(2024, 4, 1), date(2024, 4, 1)}),
	})
	want := map[string][3]int{ // enrolled, departures, pending
		"2024-01": {3, 1, 0},
		"2024-02": {3, 1, 0},
		"2024-03": {2, 0, 0}, // d3: last activity 01-02 is before 03-01 - 56 days = 01-05
		"2024-04": {3, 1, 0}, // d1 still within 56 days of 02-06; d3 back
		"2024-06": {1, 0, 1}, // d2 pending; d1 and d3 gone (last activity before 06-01 - 56 days = 04-06)
	}
	for month, w := range want {
		m := monthRow(t, rep, month, AllClubs)
		if m.Enrolled != w[0] || m.Departures != w[1] || m.DeparturesPending != w[2] {
			t.Errorf("%s: enrolled %d departures %d pending %d, want %v", month, m.Enrolled, m.Departures, m.DeparturesPending, w)
		}
		if w[0] > 0 && m.ChurnRate != float64(w[1])/float64(w[0]) {
			t.Errorf("%s: churn rate %v", month, m.ChurnRate)
		}
	}
	if m := monthRow(t, rep, "2023-07", AllClubs); !m.Partial {
		t.Errorf("the first month has no history before it and must be Partial: %+v", m)
	}
}

func TestKPIThresholdsConfigurable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.KPI.ActiveShareMin = 0.5
	hs := []History{
		newHistory(monthlyMember("a", at(2023, 7, 10, 9))).visit(at(2024, 2, 15, 18), "", 60).visit(at(2024, 3, 15, 18), "", 60).h,
		newHistory(monthlyMember("b", at(2023, 7, 10, 9))).visit(at(2024, 2, 15, 18), "", 60).h,
	}
	rep, err := ComputeKPIs(cfg, hs, kpiStart, kpiEnd)
	if err != nil {
		t.Fatal(err)
	}
	// March: 1 of 2 active: 0.5 is healthy at a 0.5 threshold.
	if m := monthRow(t, rep, "2024-03", AllClubs); m.ActiveShare != 0.5 || len(m.Flags) != 0 {
		t.Errorf("March: %+v", m)
	}
}
