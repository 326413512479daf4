package features

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSplitByTime(t *testing.T) {
	cfg := DefaultConfig() // 15 % validation, 15 % test, 8-week horizon
	var cutoffs []time.Time
	for i := 0; i < 20; i++ {
		cutoffs = append(cutoffs, date(2024, 7, 1).AddDate(0, 0, 28*i)) // every 4 weeks
	}
	got, err := SplitByTime(cutoffs, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 20 cutoffs: round(3) test (17-19), round(3) validation (14-16),
	// train 0-13. Cutoff 16's horizon reaches 8 weeks past it, beyond
	// cutoff 17 (4 weeks later): gap. Cutoff 15's ends exactly at 17:
	// kept. Likewise 13 is a gap and 12 kept.
	want := make([]Split, 20)
	for i := range want {
		switch {
		case i <= 12:
			want[i] = SplitTrain
		case i == 13 || i == 16:
			want[i] = SplitGap
		case i <= 15:
			want[i] = SplitValidation
		default:
			want[i] = SplitTest
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cutoff %d: %s, want %s", i, got[i], want[i])
		}
	}
	// The property itself: every horizon of a split ends by the first
	// cutoff of the next.
	firstOf := map[Split]time.Time{}
	for i := len(got) - 1; i >= 0; i-- {
		firstOf[got[i]] = cutoffs[i]
	}
	for i, s := range got {
		var next Split
		switch s {
		case SplitTrain:
			next = SplitValidation
		case SplitValidation:
			next = SplitTest
		default:
			continue
		}
		if end := cutoffs[i].AddDate(0, 0, 7*cfg.HorizonWeeks); end.After(firstOf[next]) {
			t.Errorf("%s cutoff %s: horizon ends %s after the first %s cutoff %s", s, cutoffs[i], end, next, firstOf[next])
		}
	}

	// Unordered cutoffs are refused.
	if _, err := SplitByTime([]time.Time{cutoffs[1], cutoffs[0]}, &cfg); err == nil {
		t.Error("descending cutoffs accepted")
	}
	// Few cutoffs: train keeps at least two.
	got, _ = SplitByTime(cutoffs[:3], &cfg)
	if got[0] != SplitTrain || got[2] != SplitTest {
		t.Errorf("3 cutoffs: %v", got)
	}
}

func TestCutoffs(t *testing.T) {
	cfg := DefaultConfig()
	start := date(2024, 1, 1) // Monday
	end := start.AddDate(0, 0, 7*104)
	cs, err := Cutoffs(&cfg, start, end)
	if err != nil {
		t.Fatal(err)
	}
	// First: start + 26 weeks = 2024-07-01. Last: the last 4-week step
	// at or before end - 8 weeks (week 96): week 26 + 4*17 = 94.
	if len(cs) != 18 || !cs[0].Equal(date(2024, 7, 1)) || !cs[17].Equal(start.AddDate(0, 0, 7*94)) {
		t.Errorf("cutoffs %v", cs)
	}
	// A Wednesday start: the first Monday on or after start + 26 weeks.
	cs, _ = Cutoffs(&cfg, date(2024, 1, 3), end)
	if !cs[0].Equal(date(2024, 7, 8)) {
		t.Errorf("first cutoff %s, want 2024-07-08", cs[0])
	}
	// Local midnights in another zone.
	cfg.TimeZone = "Europe/Berlin"
	cfg.WeekStart = time.Sunday
	cs, _ = Cutoffs(&cfg, start, end)
	loc, _ := time.LoadLocation("Europe/Berlin")
	for _, c := range cs {
		if lc := c.In(loc); lc.Weekday() != time.Sunday || lc.Hour() != 0 || lc.Minute() != 0 {
			t.Fatalf("cutoff %s is not Sunday midnight in Berlin", lc)
		}
	}
}

// TestMemberSplit checks the member hash: deterministic, seed-dependent,
// shares near the configured fractions, and the per-example rule (test and
// validation members only at the last cutoff).
func TestMemberSplit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Split = SplitConfig{Mode: SplitModeMember, TestFraction: 0.3, ValidationFraction: 0.1, Seed: 7}
	const n = 20000
	var counts [3]int
	moved := 0
	other := cfg.Split
	other.Seed = 8
	for i := range n {
		id := fmt.Sprintf("%05d", i)
		s := MemberSplit(id, &cfg.Split)
		if s != MemberSplit(id, &cfg.Split) {
			t.Fatalf("%s: split not deterministic", id)
		}
		counts[s]++
		if MemberSplit(id, &other) != s {
			moved++
		}
	}
	// Binomial(20000, 0.3) has sd 65: 5 sd is 325; for 0.1, sd 42 -> 212.
	if d := counts[SplitTest] - 6000; d < -325 || d > 325 {
		t.Errorf("test members %d, want 6000 ± 325", counts[SplitTest])
	}
	if d := counts[SplitValidation] - 2000; d < -212 || d > 212 {
		t.Errorf("validation members %d, want 2000 ± 212", counts[SplitValidation])
	}
	// Another seed gives another split: with independent hashes, a member
	// keeps its split with probability 0.3²+0.1²+0.6² = 0.46.
	if share := float64(moved) / n; share < 0.45 || share > 0.63 {
		t.Errorf("seed 8 moved %.3f of the members, want about 0.54", share)
	}

	cutoffs := []time.Time{date(2024, 7, 1), date(2024, 7, 29), date(2024, 8, 26)}
	splits, err := SplitByMember(cutoffs, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Split{SplitTrain, SplitTrain, SplitTest}; !slices.Equal(splits, want) {
		t.Fatalf("cutoff splits %v, want %v", splits, want)
	}
	for i := range 200 {
		id := fmt.Sprintf("%05d", i)
		ms := MemberSplit(id, &cfg.Split)
		for k := range cutoffs {
			got := exampleSplit(&cfg, memberSplitOf(&cfg, id), k, len(cutoffs), splits[k])
			want := ms
			if ms != SplitTrain && k < len(cutoffs)-1 {
				want = SplitGap
			}
			if got != want {
				t.Fatalf("%s (member split %s) at cutoff %d: %s, want %s", id, ms, k, got, want)
			}
		}
	}
}

// TestMemberFolds checks the K-fold member split: over K configs that
// differ only in Fold, every member is test in exactly one (its
// MemberFold), the folds have about n/K members, validation is about
// ValidationFraction of all members and never in the test fold, and a
// member's fold does not depend on which fold is the test.
func TestMemberFolds(t *testing.T) {
	const n, k = 20000, 5
	base := SplitConfig{Mode: SplitModeMember, ValidationFraction: 0.1, Seed: 3, Folds: k, TestFraction: 0.3}
	var testCount [k]int
	valCount := 0
	for i := range n {
		id := fmt.Sprintf("m%05d", i)
		fold := MemberFold(id, base.Seed, k)
		tests := 0
		for f := range k {
			c := base
			c.Fold = f
			s := MemberSplit(id, &c)
			switch {
			case s == SplitTest:
				tests++
				testCount[f]++
				if f != fold {
					t.Fatalf("%s: test in fold %d, MemberFold says %d", id, f, fold)
				}
			case s == SplitValidation && f == 0:
				valCount++
			}
		}
		if tests != 1 {
			t.Fatalf("%s is test in %d of the %d folds, want 1", id, tests, k)
		}
	}
	// Binomial(20000, 0.2) has sd 57: 5 sd is 283. TestFraction 0.3 is
	// ignored, or the folds would be 6000.
	for f, c := range testCount {
		if d := c - n/k; d < -283 || d > 283 {
			t.Errorf("fold %d has %d test members, want 4000 ± 283", f, c)
		}
	}
	// Validation: 0.1 of all members (Binomial sd 42 -> 5 sd 212).
	if d := valCount - 2000; d < -212 || d > 212 {
		t.Errorf("validation members with fold 0 as test: %d, want 2000 ± 212", valCount)
	}

	bad := []SplitConfig{
		{Mode: SplitModeMember, Folds: 1},
		{Mode: SplitModeMember, Folds: 5, Fold: 5},
		{Mode: SplitModeMember, Folds: 5, Fold: -1},
		{Mode: SplitModeTime, Folds: 5},
		{Mode: SplitModeMember, Folds: 2, ValidationFraction: 0.5},
	}
	for _, s := range bad {
		cfg := DefaultConfig()
		cfg.Split = s
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: Validate = %v, want ErrConfig", s, err)
		}
	}
}
