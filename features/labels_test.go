package features

import (
	"errors"
	"testing"
	"time"

	"retain/datasets"
)

// TestLabels checks each label kind, censoring and the already-churned
// exclusion on hand-made members. The cutoff is 2024-03-04 and the horizon
// 2 weeks, [03-04, 03-18), as in fixture_test.go.
func TestLabels(t *testing.T) {
	day := func(n int) time.Time { return cutoff.AddDate(0, 0, n).Add(12 * time.Hour) }
	longAgo := at(2022, 1, 3, 9)
	active := func(id string) *historyBuilder { // visits 3 days before the cutoff
		return newHistory(monthlyMember(id, longAgo)).visit(day(-3), "", 60)
	}
	type tc struct {
		name   string
		mod    func(*Config)
		h      *historyBuilder
		want   Label
		reason string
	}
	next := func(l Label) Label { l.NextCategory, l.NextCourse = -1, -1; return l }
	cases := []tc{
		{"inactivity: visit in the horizon", nil, active("a").visit(day(13), "", 30),
			next(Label{Churn: 0}), "day 13 is the horizon's last day"},
		{"inactivity: visit just after the horizon", nil, active("b").visit(day(14), "", 30),
			next(Label{Churn: 1}), "day 14 is outside [t, t+14d)"},
		{"inactivity: payment only", nil, active("c").pay(day(5), 4900, datasets.TxMembershipFee),
			next(Label{Churn: 0}), "a payment is activity"},
		{"inactivity: refund only", nil, active("d").pay(day(5), -4900, datasets.TxRefund),
			next(Label{Churn: 1}), "a refund is not a payment"},
		{"inactivity: horizon past the end of the data", func(c *Config) { c.DataEnd = cutoff.AddDate(0, 0, 13) },
			active("e").visit(day(1), "", 30), next(Label{Churn: -1, Censored: true}), "censored, not retained"},
		{"inactivity: horizon ends exactly at the end of the data", func(c *Config) { c.DataEnd = cutoff.AddDate(0, 0, 14) },
			active("f"), next(Label{Churn: 1}), ""},
		{"no data end: censored (serving)", func(c *Config) { c.DataEnd = time.Time{} },
			active("g"), next(Label{Churn: -1, Censored: true}), ""},

		// Already churned: no visit and no payment in [t-2w, t) after
		// joining at least 2 weeks before t.
		{"already churned", nil, newHistory(monthlyMember("h", longAgo)).visit(day(-15), "", 60),
			next(Label{Churn: 1, Excluded: true}), "last visit 15 days before t"},
		{"active 14 days before", nil, newHistory(monthlyMember("i", longAgo)).visit(day(-14), "", 60),
			next(Label{Churn: 1}), "day -14 is inside [t-14d, t)"},
		{"new member doing nothing yet", nil, newHistory(monthlyMember("j", day(-10))),
			next(Label{Churn: 1}), "joined 10 days ago: never excluded"},
		{"joined 3 weeks ago, nothing since", nil, newHistory(monthlyMember("k", day(-21))).pay(day(-21), 4900, datasets.TxMembershipFee),
			next(Label{Churn: 1, Excluded: true}), "the join fee is older than 2 weeks"},

		// Fixed-term contracts under the default inactivity label.
		{"lapse in the horizon while visiting", nil,
			newHistory(annualEnding("l", cutoff.AddDate(0, 0, 5))).visit(day(-1), "", 60).visit(day(2), "", 60),
			next(Label{Churn: 1}), "due 03-09, no renewal in [01-09, 04-08)"},
		{"renewed in the horizon", nil,
			newHistory(annualEnding("m", cutoff.AddDate(0, 0, 5))).visit(day(-1), "", 60).visit(day(2), "", 60).pay(day(4), 60000, datasets.TxRenewal),
			next(Label{Churn: 0}), ""},
		{"renewal window not observed", func(c *Config) { c.DataEnd = cutoff.AddDate(0, 0, 20) },
			newHistory(annualEnding("n", cutoff.AddDate(0, 0, 5))).visit(day(-1), "", 60).visit(day(2), "", 60),
			next(Label{Churn: -1, Censored: true}), "due 03-09 + 30 days runs past 03-24"},
		{"lapsed unrenewed long before", nil,
			newHistory(annualEnding("o", cutoff.AddDate(0, 0, -40))).pay(day(-404), 59900, datasets.TxMembershipFee).visit(day(-1), "", 60).visit(day(2), "", 60),
			next(Label{Churn: 0, Excluded: true}), "paid at sign-up, so the data covers the renewal window; grace ended 10 days before t: already churned"},
		{"anniversary before the member's history in the data", nil,
			newHistory(annualEnding("o2", cutoff.AddDate(0, 0, -40))).visit(day(-1), "", 60).visit(day(2), "", 60),
			next(Label{Churn: 0}), "the first activity (t-1) comes after the due date's window opened: renewed, since the member is active after the grace (docs/labels.md)"},

		// Cancellation: only the contract counts.
		{"cancellation: open-ended contract", func(c *Config) { c.Label.Kind = LabelCancellation },
			active("p"), next(Label{Churn: 0, Excluded: true}), "cannot be cancelled"},
		{"cancellation: lapse in the horizon", func(c *Config) { c.Label.Kind = LabelCancellation },
			newHistory(annualEnding("q", cutoff.AddDate(0, 0, 5))).visit(day(-1), "", 60),
			next(Label{Churn: 1}), ""},
		{"cancellation: due in the grace period before t", func(c *Config) { c.Label.Kind = LabelCancellation },
			newHistory(annualEnding("r", cutoff.AddDate(0, 0, -10))),
			next(Label{Churn: 1}), "due 02-23, no renewal by 03-24"},
		{"cancellation: inactive but under contract", func(c *Config) { c.Label.Kind = LabelCancellation },
			newHistory(annualEnding("s", cutoff.AddDate(0, 0, 100))),
			next(Label{Churn: 0}), ""},

		// Absence: days since the last visit at t+H >= 90.
		{"absence: 80 days before t", func(c *Config) { c.Label.Kind = LabelAbsence },
			newHistory(monthlyMember("t", longAgo)).visit(day(-80), "", 60), next(Label{Churn: 1}), "80 + 14 >= 90"},
		{"absence: 75 days before t", func(c *Config) { c.Label.Kind = LabelAbsence },
			newHistory(monthlyMember("u", longAgo)).visit(day(-75), "", 60), next(Label{Churn: 0}), "75 + 14 < 90"},
		{"absence: already absent 90 days", func(c *Config) { c.Label.Kind = LabelAbsence },
			newHistory(monthlyMember("v", longAgo)).visit(day(-90), "", 60), next(Label{Churn: 1, Excluded: true}), ""},
		{"absence: custom 30 days", func(c *Config) { c.Label.Kind = LabelAbsence; c.Label.AbsenceDays = 30 },
			newHistory(monthlyMember("w", longAgo)).visit(day(-20), "", 60), next(Label{Churn: 1}), "20 + 14 >= 30"},

		// Next class: the first class in the horizon, open gym skipped.
		{"next course", nil, active("x").visit(day(1), "", 30).visit(day(9), "B1", 50).visit(day(8), "Y1", 60).visit(day(20), "S1", 45),
			Label{Churn: 0, NextCategory: 2, NextCourse: 2}, "Y1 on day 8 is the first class; yoga is category 2"},
		{"next course after the end of the data", func(c *Config) { c.DataEnd = cutoff.AddDate(0, 0, 10) },
			active("y").visit(day(12), "Y1", 60), next(Label{Churn: -1, Censored: true}),
			"Y1 on day 12 is after the data's end (day 10): unknown at the end of the data"},
		{"next course before the end of the data", func(c *Config) { c.DataEnd = cutoff.AddDate(0, 0, 10) },
			active("z").visit(day(8), "Y1", 60).visit(day(12), "S1", 45), Label{Churn: -1, Censored: true, NextCategory: 2, NextCourse: 2},
			"Y1 on day 8 is before the data's end; the churn label is censored"},
	}
	for _, c := range cases {
		cfg := testConfig()
		if c.mod != nil {
			c.mod(&cfg)
		}
		f := testFeaturizer(cfg)
		ex, err := f.Compute(&c.h.h, cutoff)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ex.Label != c.want {
			t.Errorf("%s: label %+v, want %+v (%s)", c.name, ex.Label, c.want, c.reason)
		}
	}
}

// TestShortHistory: a member who joined a week before the cutoff gets a
// sequence whose earlier weeks are masked, and one who joins at or after
// the cutoff gets none.
func TestShortHistory(t *testing.T) {
	f := testFeaturizer(testConfig())
	h := newHistory(monthlyMember("new", cutoff.AddDate(0, 0, -7).Add(10*time.Hour))).
		pay(cutoff.AddDate(0, 0, -7).Add(10*time.Hour), 4900, datasets.TxMembershipFee)
	ex, err := f.Compute(&h.h, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 0, 0, 1}; !equalF32(ex.Mask, want) {
		t.Errorf("mask %v, want %v", ex.Mask, want)
	}
	F := len(f.Spec().Sequence)
	for i, v := range ex.Seq[:3*F] {
		if v != 0 {
			t.Fatalf("masked value Seq[%d] = %v", i, v)
		}
	}
	if !(ex.Indicators.Flags&FlagNewMember != 0) || ex.Label.Excluded {
		t.Errorf("indicators %+v label %+v", ex.Indicators, ex.Label)
	}
	late := newHistory(monthlyMember("late", cutoff))
	if _, err := f.Compute(&late.h, cutoff.Add(23*time.Hour)); !errors.Is(err, ErrNotJoined) {
		t.Errorf("member joining at the cutoff: err %v, want ErrNotJoined", err)
	}
	wrong := newHistory(monthlyMember("a", cutoff.AddDate(0, 0, -30)))
	wrong.h.Attendance = append(wrong.h.Attendance, datasets.Attendance{EventID: "x", MemberID: "b", TS: cutoff.AddDate(0, 0, -1)})
	if _, err := f.Compute(&wrong.h, cutoff); !errors.Is(err, ErrWrongMember) {
		t.Errorf("foreign event: err %v, want ErrWrongMember", err)
	}
}
