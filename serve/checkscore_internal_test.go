package serve

import (
	"math"
	"strings"
	"testing"
)

// TestCheckScore runs checkScore on a well-formed score and on copies
// with one fault each, and checks that a well-formed score costs no
// allocation (it is checked on every scoring call).
func TestCheckScore(t *testing.T) {
	good := func() *Score {
		return &Score{
			ChurnProbability: 0.4, Flags: []string{"coach_callback_90d"}, Tier: "core",
			NextCourses: []CourseProbability{{CourseID: "C1", Probability: 0.7}, {CourseID: "C2", Probability: 0.3}},
			Reasons:     []Reason{{Name: "recency", Description: "Days since the last visit", Contribution: 0.2}},
			Action:      Action{Kind: "retention_offer", OfferText: "20 % off"},
		}
	}
	if err := checkScore(good()); err != nil {
		t.Fatalf("well-formed score: %v", err)
	}
	sc := good()
	if n := testing.AllocsPerRun(100, func() { _ = checkScore(sc) }); n != 0 {
		t.Errorf("%v allocations checking a well-formed score, want 0", n)
	}
	for _, c := range []struct {
		name, want string
		spoil      func(*Score)
	}{
		{"churn above 1", "churn probability 1.5 outside [0, 1]", func(s *Score) { s.ChurnProbability = 1.5 }},
		{"churn NaN", "churn probability NaN", func(s *Score) { s.ChurnProbability = math.NaN() }},
		{"course NaN", "probability of course C2 NaN outside", func(s *Score) { s.NextCourses[1].Probability = math.NaN() }},
		{"course negative", "probability of course C1 -0.1 outside", func(s *Score) { s.NextCourses[0].Probability = -0.1 }},
		{"no course id", "next course 1 has no course id", func(s *Score) { s.NextCourses[1].CourseID = "" }},
		{"contribution Inf", "reason recency: contribution +Inf", func(s *Score) { s.Reasons[0].Contribution = math.Inf(1) }},
		{"flag not UTF-8", "not valid UTF-8", func(s *Score) { s.Flags[0] = "\xff" }},
		{"offer not UTF-8", "not valid UTF-8", func(s *Score) { s.Action.OfferText = "a\xc3" }},
		{"description not UTF-8", "not valid UTF-8", func(s *Score) { s.Reasons[0].Description = "\xfe" }},
		{"course id not UTF-8", "not valid UTF-8", func(s *Score) { s.NextCourses[0].CourseID = "\xff" }},
	} {
		s := good()
		c.spoil(s)
		if err := checkScore(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if err := checkScore(nil); err == nil {
		t.Error("nil score: no error")
	}
}
