package features

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// woy returns the week-of-year angle of a week starting on 1-based day of
// the year doy.
func woy(doy int) float64 { return 2 * math.Pi * float64(doy-1) / 365.25 }

func f32(x float64) float32 { return float32(x) }

// TestHandMadeMembers checks the features, indicators and labels of the
// hand-made members of fixture_test.go against values worked out by hand,
// and the full examples against testdata/handmade.golden.json.
func TestHandMadeMembers(t *testing.T) {
	cfg := testConfig()
	f := testFeaturizer(cfg)
	spec := f.Spec()
	if got := len(spec.Sequence); got != 20 {
		t.Fatalf("%d sequence features, want 20: %v", got, spec.Sequence)
	}
	hs := handMade()
	exs := make(map[string]*Example)
	var all []*Example
	for i := range hs {
		ex, err := f.Compute(&hs[i], cutoff)
		if err != nil {
			t.Fatal(err)
		}
		exs[ex.MemberID] = ex
		all = append(all, ex)
	}

	type cell struct {
		member string
		week   int // 0..3 = w-4..w-1
		col    string
		want   float32
		why    string
	}
	cells := []cell{
		// alice, week w-4 (02-05..02-11): yoga 02-06 60 min, open gym 02-08 45 min.
		{"alice", 0, "visits", 2, "two visits"},
		{"alice", 0, "open_gym_visits", 1, ""},
		{"alice", 0, "class_yoga", 1, ""},
		{"alice", 0, "class_cycling", 0, ""},
		{"alice", 0, "minutes", 105, "60 + 45"},
		{"alice", 0, "days_since_last_visit", 4, "02-12 - 02-08"},
		// Due dates are the anniversaries 2024-01-10 (renewed on the day)
		// and 2025-01-10: 2025-01-10 - 2024-02-12 = 366 - 33 = 333 days.
		{"alice", 0, "days_to_contract_end", 333, "2025-01-10 - 2024-02-12"},
		{"alice", 0, "contract_open_ended", 0, ""},
		{"alice", 0, "tenure_weeks_log1p", f32(math.Log1p(398.0 / 7)), "2023-01-10..2024-02-12 = 365+33 days"},
		{"alice", 0, "week_of_year_sin", f32(math.Sin(woy(36))), "02-05 is day 36"},
		{"alice", 0, "week_of_year_cos", f32(math.Cos(woy(36))), ""},
		// w-3: no visit.
		{"alice", 1, "visits", 0, ""},
		{"alice", 1, "days_since_last_visit", 11, "02-19 - 02-08"},
		{"alice", 1, "days_to_contract_end", 326, "333 - 7"},
		{"alice", 1, "tenure_weeks_log1p", f32(math.Log1p(405.0 / 7)), ""},
		// w-2: spin 02-19, yoga 02-21, open gym 02-24; retail 25.50 on 02-20.
		{"alice", 2, "visits", 3, ""},
		{"alice", 2, "open_gym_visits", 1, ""},
		{"alice", 2, "class_cycling", 1, ""},
		{"alice", 2, "class_yoga", 1, ""},
		{"alice", 2, "minutes", 135, "45 + 60 + 30"},
		{"alice", 2, "spend_retail", f32(math.Log1p(25.5)), "2550 minor units"},
		{"alice", 2, "spend_renewal", 0, ""},
		{"alice", 2, "days_since_last_visit", 2, "02-26 - 02-24"},
		{"alice", 2, "days_to_contract_end", 319, ""},
		// w-1: boxing 03-02.
		{"alice", 3, "visits", 1, ""},
		{"alice", 3, "class_boxing", 1, ""},
		{"alice", 3, "minutes", 50, ""},
		{"alice", 3, "days_since_last_visit", 2, "03-04 - 03-02"},
		{"alice", 3, "days_to_contract_end", 312, ""},
		{"alice", 3, "week_of_year_cos", f32(math.Cos(woy(57))), "02-26 is day 57"},

		// bob joined 02-28: only w-1 is masked in.
		{"bob", 0, "visits", 0, "masked"},
		{"bob", 0, "week_of_year_sin", 0, "masked rows are all zero"},
		{"bob", 2, "tenure_weeks_log1p", 0, "masked"},
		{"bob", 3, "visits", 1, ""},
		{"bob", 3, "class_cycling", 1, ""},
		{"bob", 3, "minutes", 45, ""},
		{"bob", 3, "spend_membership_fee", f32(math.Log1p(49)), "4900 minor units"},
		{"bob", 3, "days_since_last_visit", 3, "03-04 - 03-01"},
		{"bob", 3, "days_to_contract_end", 0, "open-ended"},
		{"bob", 3, "contract_open_ended", 1, ""},
		{"bob", 3, "tenure_weeks_log1p", f32(math.Log1p(5.0 / 7)), "5 days"},

		// carol: last visit 2023-11-20; fee paid 03-01.
		{"carol", 0, "days_since_last_visit", 84, "2023-11-20..2024-02-12 = 10+31+31+12"},
		{"carol", 0, "spend_membership_fee", 0, "02-01 is in the week before the window"},
		{"carol", 3, "days_since_last_visit", 105, "84 + 21"},
		{"carol", 3, "spend_membership_fee", f32(math.Log1p(49)), ""},
		{"carol", 3, "contract_open_ended", 1, "monthly contracts do not lapse by default"},
		{"carol", 3, "tenure_weeks_log1p", f32(math.Log1p(277.0 / 7)), "2023-06-01..2024-03-04 = 277 days"},

		// dave: contract ends 2024-03-20.
		{"dave", 0, "visits", 1, "02-06"},
		{"dave", 0, "open_gym_visits", 1, ""},
		{"dave", 0, "minutes", 60, ""},
		{"dave", 0, "days_since_last_visit", 6, "02-12 - 02-06"},
		{"dave", 0, "days_to_contract_end", 37, "03-20 - 02-12 = 17 + 20"},
		{"dave", 1, "days_since_last_visit", 13, ""},
		{"dave", 3, "days_to_contract_end", 16, "03-20 - 03-04"},
		{"dave", 3, "days_since_last_visit", 6, "03-04 - 02-27"},
		{"dave", 3, "tenure_weeks_log1p", f32(math.Log1p(349.0 / 7)), "2023-03-21..2024-03-04 = 366 - 17"},

		// erin: last visit 2023-12-01.
		{"erin", 3, "days_since_last_visit", 94, "30 + 31 + 29 + 4 ... 12-01..03-04"},
		{"erin", 3, "visits", 0, ""},
	}
	for _, c := range cells {
		ex := exs[c.member]
		j := col(spec.Sequence, c.col)
		got := ex.Seq[c.week*len(spec.Sequence)+j]
		if got != c.want {
			t.Errorf("%s week %d %s = %v, want %v (%s)", c.member, c.week, c.col, got, c.want, c.why)
		}
	}

	masks := map[string][]float32{
		"alice": {1, 1, 1, 1},
		"bob":   {0, 0, 0, 1}, // joined Wednesday of the last week
		"carol": {1, 1, 1, 1},
		"dave":  {1, 1, 1, 1},
		"erin":  {1, 1, 1, 1},
	}
	for id, want := range masks {
		if got := exs[id].Mask; !equalF32(got, want) {
			t.Errorf("%s mask %v, want %v", id, got, want)
		}
	}

	statics := map[string][]string{
		// Monetary 62550 >= 45000: active. Age 2024-1990 = 34. Last class
		// before the cutoff: B1 on 2024-03-02 (boxing).
		"alice": {"tier_active", "contract_annual", "age_25_34", "gender_female", "club_north", "last_class_boxing"},
		// Last class: S1 on 2024-03-01 (cycling).
		"bob": {"tier_potential", "contract_monthly", "age_unknown", "gender_unknown", "club_south", "last_class_cycling"},
		// 2024-1960 = 64; club east is not in the spec. Last class Y1.
		"carol": {"tier_potential", "contract_monthly", "age_55_64", "gender_male", "club_other", "last_class_yoga"},
		// 72000 >= 45000; 2024-2000 = 24. Open gym only: no class.
		"dave": {"tier_active", "contract_annual", "age_under_25", "gender_other", "club_north", "no_class_yet"},
		// Last class Y1 on 2023-12-01.
		"erin": {"tier_potential", "contract_monthly", "age_35_44", "gender_female", "club_south", "last_class_yoga"},
	}
	oneHot := col(spec.Static, NoLastClass) + 1 // the one-hot groups; the habit columns follow
	for id, ones := range statics {
		want := make([]float32, oneHot)
		for _, n := range ones {
			want[col(spec.Static, n)] = 1
		}
		if got := exs[id].Static[:oneHot]; !equalF32(got, want) {
			t.Errorf("%s static %v, want ones at %v", id, got, ones)
		}
	}

	// Habit and billing columns (habits.go), by hand. Categories are
	// boxing, cycling, yoga; a first-class share is (n+0.1)/(N+0.3), the
	// column ln(3·share). The surprise's rate window is the test config's
	// 4 weeks.
	ls := func(share float64) float64 { return math.Log(3 * share) }
	third := ls(1.1 / 3.3)
	one1, one0 := ls(1.1/1.3), ls(0.1/1.3)
	habits := []struct {
		member, col string
		want        float64
		why         string
	}{
		// Weeks' first classes: Y1 (02-06), S1 (02-19, before Y1 02-21), B1 (03-02).
		{"alice", "first_class_log_share_boxing", third, "1 of 3 weeks"},
		{"alice", "first_class_log_share_yoga", third, "1 of 3 weeks"},
		// All classes: Y1 twice, S1, B1: (2+0.1)/(4+0.3) and (1+0.1)/(4+0.3).
		{"alice", "class_log_share_yoga", ls(2.1 / 4.3), "2 of 4 classes"},
		{"alice", "class_log_share_cycling", ls(1.1 / 4.3), "1 of 4 classes"},
		{"alice", StaticDebitOverdue, 0, "annual: no monthly debits"},
		{"alice", StaticDebitMissed, 0, ""},
		// Gap 03-02..03-04 = 2 days; 6 visits in 02-05..03-02 (27 days).
		{"alice", StaticAbsenceSurprise, math.Log1p(2 * 6.0 / 27), ""},
		{"alice", StaticAbsenceExpected, 2 * 6.0 / 27 / 4, "the same x, min(x, 8)/4"},
		{"bob", "first_class_log_share_cycling", one1, "S1 on 03-01"},
		{"bob", "first_class_log_share_yoga", one0, ""},
		{"bob", StaticDebitOverdue, 0, "first due date 2024-03-28, after the cutoff"},
		// Gap 3 days; 1 visit since joining 02-28, span 3 days raised to 7.
		{"bob", StaticAbsenceSurprise, math.Log1p(3 * 1.0 / 7), ""},
		{"carol", "first_class_log_share_yoga", ls(2.1 / 2.3), "two weeks, yoga first"},
		{"carol", "first_class_log_share_boxing", ls(0.1 / 2.3), ""},
		{"carol", "class_log_share_yoga", ls(2.1 / 2.3), "two yoga classes"},
		{"carol", StaticDebitOverdue, 0, "paid 2024-03-01; next due 04-01"},
		// Gap 11-20..03-04 = 105 days; 2 visits in 10-30..11-20 (22 days).
		{"carol", StaticAbsenceSurprise, math.Log1p(105 * 2.0 / 22), ""},
		{"carol", StaticAbsenceExpected, 8.0 / 4, "9.5 capped at 8"},
		{"dave", "first_class_log_share_cycling", third, "open gym only: uniform"},
		{"dave", "class_log_share_boxing", 0, "open gym only: ln(3·1/3)"},
		// Gap 02-27..03-04 = 6 days; 2 visits in 02-05..02-27 (23 days).
		{"dave", StaticAbsenceSurprise, math.Log1p(6 * 2.0 / 23), ""},
		// Due on the 2nd; the 2023-12-01 debit pays 12-02 (3 days' grace);
		// 2024-01-02 unpaid: 62 days overdue, capped at 62, over 31.
		{"erin", StaticDebitOverdue, 2, "2024-01-02 unpaid, 62 days"},
		{"erin", StaticDebitMissed, 1, ""},
		// Gap 12-01..03-04 = 94 days; 1 visit in 11-06..12-01 (26 days).
		{"erin", StaticAbsenceSurprise, math.Log1p(94 * 1.0 / 26), ""},
	}
	for _, c := range habits {
		got := float64(exs[c.member].Static[col(spec.Static, c.col)])
		if math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s %s = %v, want %v (%s)", c.member, c.col, got, c.want, c.why)
		}
	}

	// The LTV is that of handLTV, the published CDNOW parameters, on the
	// payment weeks worked out in handLTVWant (TestLTVHandMade checks it);
	// the other indicators are by hand.
	inds := map[string]Indicators{
		// Spend in [2023-03-06, 2024-03-04): renewal 60000 + retail 2550.
		"alice": {Tier: TierActive, RecencyDays: 2, Frequency: 6, Monetary: 62550, VisitsLast: 6, VisitsPrev: 0,
			CourseBreadth: 3, TenureDays: 419, DaysToContractEnd: 312},
		"bob": {Tier: TierPotential, RecencyDays: 3, Frequency: 1, Monetary: 4900, VisitsLast: 1,
			CourseBreadth: 1, TenureDays: 5, ContractOpenEnded: true, Flags: FlagNewMember},
		// 5 fees of 49.00 in the window.
		// Visits 11-13 and 11-20 fall in [2023-11-13, 2024-01-08).
		"carol": {Tier: TierPotential, RecencyDays: 105, Frequency: 2, Monetary: 24500, VisitsLast: 0, VisitsPrev: 2,
			VisitTrend: -1, CourseBreadth: 1, TenureDays: 277, ContractOpenEnded: true,
			Flags: FlagCoachCallback},
		// 3 visits vs 10: 3 <= 0.5 x 10; the contract ends in 16 days:
		// the tightest stage with 16 <= days is 30.
		"dave": {Tier: TierActive, RecencyDays: 6, Frequency: 13, Monetary: 72000, VisitsLast: 3, VisitsPrev: 10,
			VisitTrend: float64(3-10) / 10, TenureDays: 349, DaysToContractEnd: 16,
			Flags: FlagRenewal30 | FlagFrequencyDrop},
		// 2022-05-02..2024-03-04 = 365 + 307 days.
		"erin": {Tier: TierPotential, RecencyDays: 94, Frequency: 1, Monetary: 4900, VisitsPrev: 1, VisitTrend: -1,
			CourseBreadth: 1, TenureDays: 672, ContractOpenEnded: true, Flags: FlagCoachCallback},
	}
	for id, want := range inds {
		got := exs[id].Indicators
		wantLTV := handLTVWant(t, &cfg, id)
		if !closeRel(got.LTV, wantLTV, 1e-9) {
			t.Errorf("%s LTV %v, want %v", id, got.LTV, wantLTV)
		}
		got.LTV = 0
		if got != want {
			t.Errorf("%s indicators\n got %+v\nwant %+v", id, got, want)
		}
	}

	labels := map[string]Label{
		// Visits in the horizon; first class 03-06 spin: S1 is course 1
		// (B1, S1, Y1), cycling category 1 (boxing, cycling, yoga).
		"alice": {Churn: 0, NextCategory: 1, NextCourse: 1},
		// No visit, no payment in [03-04, 03-18); joined 5 days ago, so
		// not excluded.
		"bob": {Churn: 1, NextCategory: -1, NextCourse: -1},
		// Paid 03-01 (not excluded); nothing in the horizon.
		"carol": {Churn: 1, NextCategory: -1, NextCourse: -1},
		// Visit 03-05; the contract's due date 03-20 is after the horizon.
		"dave": {Churn: 0, NextCategory: -1, NextCourse: -1},
		// Nothing in [02-19, 03-04): already churned.
		"erin": {Churn: 1, Excluded: true, NextCategory: -1, NextCourse: -1},
	}
	for id, want := range labels {
		if got := exs[id].Label; got != want {
			t.Errorf("%s label %+v, want %+v", id, got, want)
		}
	}

	var golden []goldenExample
	for _, ex := range all {
		golden = append(golden, toGolden(spec, ex))
	}
	checkGolden(t, "handmade.golden.json", golden)
}

// goldenExample is an Example in a form that reads well in a diff: each
// week's non-zero features by name, the names of the static ones.
type goldenExample struct {
	MemberID   string
	Cutoff     string
	Mask       []float32
	Weeks      []map[string]float32
	Static     []string
	Indicators Indicators
	Label      Label
}

func toGolden(spec *FeatureSpec, ex *Example) goldenExample {
	g := goldenExample{MemberID: ex.MemberID, Cutoff: ex.Cutoff.Format("2006-01-02T15:04Z07:00"), Mask: ex.Mask,
		Indicators: ex.Indicators, Label: ex.Label}
	F := len(spec.Sequence)
	for w := range ex.Mask {
		row := map[string]float32{}
		for j, v := range ex.Seq[w*F : (w+1)*F] {
			if v != 0 {
				row[spec.Sequence[j]] = v
			}
		}
		g.Weeks = append(g.Weeks, row)
	}
	for j, v := range ex.Static {
		if v != 0 {
			g.Static = append(g.Static, spec.Static[j])
		}
	}
	return g
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// checkGolden compares v, as indented JSON, with testdata/name, or rewrites
// the file with -update.
func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the computed value; run go test -run %s -update and review the diff", path, t.Name())
	}
}
