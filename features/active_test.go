package features

import (
	"testing"
	"time"

	"retain/datasets"
)

// TestAlreadyChurned: the already-churned test of each label kind on
// hand-made members, at the cutoff of fixture_test.go (2024-03-04) with a
// 2-week horizon. The expectations are the table of docs/labels.md; the
// cases mirror those of TestLabels.
func TestAlreadyChurned(t *testing.T) {
	day := func(n int) time.Time { return cutoff.AddDate(0, 0, n).Add(12 * time.Hour) }
	longAgo := at(2022, 1, 3, 9)
	cancellation := func(c *Config) { c.Label.Kind = LabelCancellation }
	absence := func(c *Config) { c.Label.Kind = LabelAbsence }
	cases := []struct {
		name string
		mod  func(*Config)
		h    *historyBuilder
		want bool
	}{
		{"inactivity: visit 3 days before", nil, newHistory(monthlyMember("a", longAgo)).visit(day(-3), "", 60), false},
		{"inactivity: last visit 15 days before (H = 14 days)", nil, newHistory(monthlyMember("b", longAgo)).visit(day(-15), "", 60), true},
		{"inactivity: a payment 10 days before keeps the member", nil,
			newHistory(monthlyMember("c", longAgo)).visit(day(-40), "", 60).pay(day(-10), 4900, datasets.TxMembershipFee), false},
		{"inactivity: joined 10 days ago, nothing since", nil, newHistory(monthlyMember("d", day(-10))), false},
		{"inactivity: contract lapsed 40 days before, still visiting", nil,
			newHistory(annualEnding("e", cutoff.AddDate(0, 0, -40))).visit(day(-1), "", 60), true},
		{"cancellation: open-ended contract is excluded but not churned", cancellation,
			newHistory(monthlyMember("f", longAgo)).visit(day(-3), "", 60), false},
		{"cancellation: lapsed 40 days before", cancellation, newHistory(annualEnding("g", cutoff.AddDate(0, 0, -40))), true},
		{"cancellation: due 10 days before, in the grace period", cancellation, newHistory(annualEnding("h", cutoff.AddDate(0, 0, -10))), false},
		{"absence: last visit 90 days before", absence, newHistory(monthlyMember("i", longAgo)).visit(day(-90), "", 60), true},
		{"absence: last visit 75 days before", absence, newHistory(monthlyMember("j", longAgo)).visit(day(-75), "", 60), false},
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
		if got := f.AlreadyChurned(ex); got != c.want {
			t.Errorf("%s: AlreadyChurned %v, want %v (label %+v)", c.name, got, c.want, ex.Label)
		}
	}
}
