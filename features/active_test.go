package features

import (
	"testing"

	"retain/datasets"
)

// TestStatus is the table of docs/labels.md, "On the books": which
// excluded members are still scored. RenewAfterDays is the default 30.
func TestStatus(t *testing.T) {
	cases := []struct {
		name     string
		kind     string
		excluded bool
		open     bool
		toEnd    int
		want     string
	}{
		{"not excluded", LabelInactivity, false, true, 0, ""},
		{"inactive, open-ended", LabelInactivity, true, true, 0, StatusChurned},
		{"inactive, annual in force", LabelInactivity, true, false, 200, ""},
		{"inactive, annual due today", LabelInactivity, true, false, 0, ""},
		{"annual, 29 days past due: grace window", LabelInactivity, true, false, -29, ""},
		{"annual, 30 days past due: lapsed", LabelInactivity, true, false, -30, StatusChurned},
		{"cancellation, open-ended", LabelCancellation, true, true, 0, StatusOpenEnded},
		{"cancellation, lapsed", LabelCancellation, true, false, -45, StatusChurned},
		{"absence 90 days, annual in force", LabelAbsence, true, false, 100, ""},
		{"absence 90 days, open-ended", LabelAbsence, true, true, 0, StatusChurned},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		cfg.Label.Kind = c.kind
		f := &Featurizer{cfg: &cfg}
		ex := &Example{Label: Label{Excluded: c.excluded}, Indicators: Indicators{ContractOpenEnded: c.open, DaysToContractEnd: c.toEnd}}
		if got := f.Status(ex); got != c.want {
			t.Errorf("%s: Status %q, want %q", c.name, got, c.want)
		}
		if got := f.AlreadyChurned(ex); got != (c.want == StatusChurned) {
			t.Errorf("%s: AlreadyChurned %v", c.name, got)
		}
	}
}

// TestSpecNamesUnique checks that no two columns of a spec share a name,
// also for data without courses, whose placeholder category "none" once
// gave two static columns the name last_class_none.
func TestSpecNamesUnique(t *testing.T) {
	for _, courses := range [][]datasets.Course{nil, testCourses} {
		spec, err := NewSpec(DefaultConfig(), courses, []string{"north"})
		if err != nil {
			t.Fatal(err)
		}
		for _, names := range [][]string{spec.Sequence, spec.Static, spec.Indicators} {
			seen := map[string]bool{}
			for _, n := range names {
				if seen[n] {
					t.Errorf("categories %v: column name %q twice", spec.Categories, n)
				}
				seen[n] = true
			}
		}
	}
}
