package features

import (
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
