package features

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"retain/datasets"
)

// within runs f and fails the test if it has not returned after d: a
// regression to an endless loop fails fast instead of hanging the run
// (the goroutine is left behind; the test binary ends with the run).
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not return within %s", d)
	}
}

// TestBuildNoEvents: data without a usable event is ErrNoEvents with the
// counts, fast, whatever the manifest states; with neither events nor a
// manifest range the day range once stayed at its sentinels, the cutoff
// arithmetic overflowed and Build looped until memory ran out.
func TestBuildNoEvents(t *testing.T) {
	members := []datasets.Member{
		{MemberID: "M1", JoinedAt: date(2024, 1, 3), HomeClub: "north", ContractType: datasets.ContractMonthly, ContractStart: date(2024, 1, 3)},
		{MemberID: "M2", JoinedAt: date(2024, 2, 3), HomeClub: "north", ContractType: datasets.ContractMonthly, ContractStart: date(2024, 2, 3)},
	}
	for _, tc := range []struct {
		name string
		src  MemorySource
		want string
	}{
		{"no events, no range", MemorySource{MemberRows: members}, "(2 members; 0 event rows read"},
		{"no members, no events", MemorySource{}, "(0 members; 0 event rows read"},
		{"no events, manifest range", MemorySource{
			Man:        datasets.Manifest{Version: 1, MinorUnits: 2, Start: date(2024, 1, 1), End: date(2025, 1, 1)},
			MemberRows: members,
		}, "(2 members; 0 event rows read"},
		{"events of unknown members only", MemorySource{
			MemberRows:     members,
			AttendanceRows: []datasets.Attendance{{EventID: "A1", MemberID: "nobody", TS: date(2024, 3, 1), Source: datasets.SourceApp}},
		}, "1 events of members not in the members table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			within(t, 20*time.Second, func() {
				_, err := Build(&tc.src, DefaultConfig(), filepath.Join(t.TempDir(), "x.rtfs"), nil)
				if !errors.Is(err, ErrNoEvents) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Build: %v, want ErrNoEvents with %q", err, tc.want)
				}
			})
		})
	}
}

// TestCutoffsNoOverflow: ranges whose ends are far apart, or at the ends
// of the int32 day numbers, give an error or no cutoffs, fast: the week
// arithmetic cannot overflow into an endless loop.
func TestCutoffsNoOverflow(t *testing.T) {
	far := time.Unix(int64(math.MaxInt32-10)*86400, 0).UTC()
	early := time.Unix(int64(math.MinInt32+10)*86400, 0).UTC()
	for _, tc := range []struct {
		name       string
		start, end time.Time
		first      time.Time
		wantErr    bool
	}{
		{"zero range", time.Time{}, time.Time{}, time.Time{}, false},
		{"year 1 to 2025", time.Time{}, date(2025, 1, 1), time.Time{}, true},
		{"end at the last day", date(2024, 1, 1), far, time.Time{}, true},
		{"start at the first day", early, date(2024, 1, 1), time.Time{}, true},
		{"start at the last day", far, date(2024, 1, 1), time.Time{}, false},
		{"first cutoff in year 1000", date(2024, 1, 1), date(2026, 1, 1), date(1000, 1, 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			within(t, 10*time.Second, func() {
				cfg := DefaultConfig()
				cfg.FirstCutoff = tc.first
				cs, err := Cutoffs(&cfg, tc.start, tc.end)
				if (err != nil) != tc.wantErr || len(cs) > maxCutoffs {
					t.Errorf("Cutoffs: %d cutoffs, error %v; want error %v", len(cs), err, tc.wantErr)
				}
			})
		})
	}
}
