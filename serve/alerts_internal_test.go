package serve

import (
	"testing"
	"time"
)

// TestNextDaily: the next HH:MM in the server's zone, strictly after now.
// The expected instants are worked out by hand from the zone's offsets:
// Berlin is UTC+1 in winter, UTC+2 in summer; in 2025 summer time began
// on 30 March at 02:00 (clocks jumped to 03:00) and ended on 26 October
// at 03:00 (clocks went back to 02:00).
func TestNextDaily(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, time.UTC) }
	cases := []struct {
		name   string
		now    time.Time
		loc    *time.Location
		hh, mm int
		want   time.Time
	}{
		{"later today", utc(2025, 6, 2, 1, 0), time.UTC, 3, 0, utc(2025, 6, 2, 3, 0)},
		{"exactly now: tomorrow", utc(2025, 6, 2, 3, 0), time.UTC, 3, 0, utc(2025, 6, 3, 3, 0)},
		{"passed: tomorrow", utc(2025, 6, 2, 3, 1), time.UTC, 3, 0, utc(2025, 6, 3, 3, 0)},
		{"year end", utc(2025, 12, 31, 23, 0), time.UTC, 0, 30, utc(2026, 1, 1, 0, 30)},
		{"Berlin summer", utc(2025, 6, 2, 0, 0), berlin, 3, 0, utc(2025, 6, 2, 1, 0)},
		{"Berlin winter", utc(2025, 1, 2, 0, 0), berlin, 3, 0, utc(2025, 1, 2, 2, 0)},
		// 02:30 does not exist on 30 March: normalized to 03:30 CEST.
		{"Berlin spring gap", utc(2025, 3, 29, 23, 0), berlin, 2, 30, utc(2025, 3, 30, 1, 30)},
		{"Berlin after the autumn change", utc(2025, 10, 26, 1, 0), berlin, 3, 0, utc(2025, 10, 26, 2, 0)},
	}
	for _, c := range cases {
		if got := nextDaily(c.now, c.loc, c.hh, c.mm); !got.Equal(c.want) {
			t.Errorf("%s: nextDaily(%v, %s, %02d:%02d) = %v, want %v", c.name, c.now, c.loc, c.hh, c.mm, got.UTC(), c.want)
		}
	}
}
