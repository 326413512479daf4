package features

import (
	"testing"
	"time"

	"retain/datasets"
)

// monthlyMember returns a member joined at the given instant with an open-ended
// monthly contract, club north.
func monthlyMember(id string, joined time.Time) datasets.Member {
	return datasets.Member{MemberID: id, JoinedAt: joined, HomeClub: "north",
		ContractType: datasets.ContractMonthly, ContractStart: datasets.Date(joined)}
}

// annualEnding returns an annual member whose recorded contract ends on
// end, having started the day after end minus one year.
func annualEnding(id string, end time.Time) datasets.Member {
	start := end.AddDate(-1, 0, 1)
	return datasets.Member{MemberID: id, JoinedAt: start.Add(9 * time.Hour), HomeClub: "north",
		ContractType: datasets.ContractAnnual, ContractStart: start, ContractEnd: end}
}

func TestFlags(t *testing.T) {
	f := testFeaturizer(testConfig())
	day := func(n int) time.Time { return cutoff.AddDate(0, 0, n) } // n days from the cutoff
	longAgo := at(2022, 1, 3, 9)

	type tc struct {
		name string
		h    *historyBuilder
		flag Flags // the flag under test
		want bool
	}
	cases := []tc{
		// coach_callback_90d: RecencyDays = cutoff day - last visit day.
		{"callback at 90 days", newHistory(monthlyMember("c90", longAgo)).visit(day(-90).Add(18*time.Hour), "", 60), FlagCoachCallback, true},
		{"no callback at 89 days", newHistory(monthlyMember("c89", longAgo)).visit(day(-89).Add(18*time.Hour), "", 60), FlagCoachCallback, false},
		{"callback without any visit, joined 90 days ago", newHistory(monthlyMember("c0", day(-90).Add(time.Hour))), FlagCoachCallback, true},

		// new_member_90d: tenure = cutoff day - join day < 90.
		{"new member at 89 days", newHistory(monthlyMember("n89", day(-89).Add(23*time.Hour))), FlagNewMember, true},
		{"not new at 90 days", newHistory(monthlyMember("n90", day(-90))), FlagNewMember, false},

		// frequency_drop_50: last 8 weeks [01-08, 03-04) vs the 8 before.
		{"drop 8 -> 4", weekly("d84", 8, 4), FlagFrequencyDrop, true},
		{"no drop 8 -> 5", weekly("d85", 8, 5), FlagFrequencyDrop, false},
		{"too few visits before: 3 -> 0", weekly("d30", 3, 0), FlagFrequencyDrop, false},

		// seasonal_churn_prone: 2023 is the last complete season before
		// 2024-03-04; 2 visits a week in Mar-May, 1 in Jun-Aug: 1 <= 0.6*2.
		{"summer drop", seasonal("s1", longAgo, 1), FlagSeasonal, true},
		{"no summer drop", seasonal("s2", longAgo, 2), FlagSeasonal, false},
		{"joined after the base months began", seasonal("s3", at(2023, 4, 3, 9), 0), FlagSeasonal, false},
	}
	// Renewal reminders: the contract ends `d` days after the cutoff.
	stages := []struct {
		d    int
		want Flags
	}{
		{61, 0}, {60, FlagRenewal60}, {31, FlagRenewal60}, {30, FlagRenewal30}, {16, FlagRenewal30},
		{15, FlagRenewal15}, {8, FlagRenewal15}, {7, FlagRenewal7}, {0, FlagRenewal7},
		{-1, 0}, // lapsed yesterday: no reminder
	}
	for _, s := range stages {
		h := newHistory(annualEnding("r", day(s.d)))
		h.visit(day(-3), "", 60)
		ex, err := f.Compute(&h.h, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		reminders := ex.Indicators.Flags & (FlagRenewal60 | FlagRenewal30 | FlagRenewal15 | FlagRenewal7)
		if reminders != s.want || ex.Indicators.DaysToContractEnd != s.d {
			t.Errorf("contract ending in %d days: days %d, reminders %q, want %q", s.d, ex.Indicators.DaysToContractEnd, reminders, s.want)
		}
	}
	// A renewal before the cutoff moves the end a term on: no reminder.
	h := newHistory(annualEnding("rr", day(10))).pay(day(-3), 60000, datasets.TxRenewal)
	if ex, err := f.Compute(&h.h, cutoff); err != nil {
		t.Fatal(err)
	} else if r := ex.Indicators.Flags & (FlagRenewal60 | FlagRenewal30 | FlagRenewal15 | FlagRenewal7); r != 0 || ex.Indicators.DaysToContractEnd != 10+365 {
		// 2024-03-14 + 12 months = 2025-03-14: 375 days after 2024-03-04.
		t.Errorf("renewed contract: days %d flags %q, want 375 and none", ex.Indicators.DaysToContractEnd, ex.Indicators.Flags)
	}

	for _, c := range cases {
		ex, err := f.Compute(&c.h.h, cutoff)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := ex.Indicators.Flags&c.flag != 0; got != c.want {
			t.Errorf("%s: %s = %v, want %v (indicators %+v)", c.name, c.flag, got, c.want, ex.Indicators)
		}
	}
}

// weekly returns a member with `before` visits spread over the 8 weeks
// before 2024-01-08 and `last` visits over the 8 weeks from 2024-01-08.
func weekly(id string, before, last int) *historyBuilder {
	h := newHistory(monthlyMember(id, at(2022, 1, 3, 9)))
	for i := 0; i < before; i++ {
		h.visit(date(2023, 11, 13).AddDate(0, 0, 7*i%56+1).Add(18*time.Hour), "", 60)
	}
	for i := 0; i < last; i++ {
		h.visit(date(2024, 1, 8).AddDate(0, 0, 7*i%56+1).Add(18*time.Hour), "", 60)
	}
	return h
}

// seasonal returns a member visiting every week of 2023 on Tuesday and
// Wednesday, except in the weeks whose Thursday falls in June-August, when
// it visits `summer` times.
func seasonal(id string, joined time.Time, summer int) *historyBuilder {
	h := newHistory(monthlyMember(id, joined))
	for mon := date(2023, 1, 2); mon.Year() == 2023; mon = mon.AddDate(0, 0, 7) {
		n := 2
		if m := mon.AddDate(0, 0, 3).Month(); m >= 6 && m <= 8 {
			n = summer
		}
		for i := 0; i < n; i++ {
			if ts := mon.AddDate(0, 0, 1+i).Add(18 * time.Hour); ts.After(joined) {
				h.visit(ts, "", 60)
			}
		}
	}
	return h
}

func TestFlagNames(t *testing.T) {
	want := []string{"coach_callback_90d", "renewal_reminder_60d", "renewal_reminder_30d", "renewal_reminder_15d",
		"renewal_reminder_7d", "frequency_drop_50", "seasonal_churn_prone", "new_member_90d"}
	got := FlagNames()
	if len(got) != len(want) {
		t.Fatalf("FlagNames() = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("flag %d is %q, want %q (machine names are an API)", i, got[i], want[i])
		}
	}
	all := Flags(1<<numFlags - 1)
	b, _ := all.MarshalText()
	var back Flags
	if err := back.UnmarshalText(b); err != nil || back != all {
		t.Errorf("round trip of %q gave %q, %v", b, back, err)
	}
	if err := back.UnmarshalText([]byte("no_such_flag")); err == nil {
		t.Error("unknown flag name accepted")
	}
}
