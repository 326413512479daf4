package serve

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin, whatever the machine has

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
)

// TestEnumNumbers checks that the retain.v1 enums number their values as
// datasets does, which the conversions rely on.
func TestEnumNumbers(t *testing.T) {
	for _, c := range datasets.ContractTypes {
		if got, want := retainv1.ContractType(c).String(), "CONTRACT_TYPE_"+strings.ToUpper(c.String()); got != want {
			t.Errorf("contract type %d: %s, want %s", c, got, want)
		}
	}
	for _, s := range []datasets.Source{datasets.SourcePOS, datasets.SourceApp, datasets.SourceManual} {
		if got, want := retainv1.Source(s).String(), "SOURCE_"+strings.ToUpper(s.String()); got != want {
			t.Errorf("source %d: %s, want %s", s, got, want)
		}
	}
	for _, k := range datasets.TxKinds {
		if got, want := retainv1.TransactionKind(k).String(), "TRANSACTION_KIND_"+strings.ToUpper(k.String()); got != want {
			t.Errorf("kind %d: %s, want %s", k, got, want)
		}
	}
	if n := len(retainv1.ContractType_name); n != len(datasets.ContractTypes)+1 {
		t.Errorf("%d contract types in retain.v1, %d in datasets", n-1, len(datasets.ContractTypes))
	}
	if n := len(retainv1.TransactionKind_name); n != len(datasets.TxKinds)+1 {
		t.Errorf("%d transaction kinds in retain.v1, %d in datasets", n-1, len(datasets.TxKinds))
	}
}

func TestNextSessions(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, time.UTC) }
	// 2 June 2025 is a Monday.
	mon := utc(2025, 6, 2, 12, 0)
	for _, tc := range []struct {
		name    string
		weekday int
		start   string
		after   time.Time
		loc     *time.Location
		want    []time.Time
	}{
		{"later this week", 3, "18:30", mon, time.UTC, []time.Time{utc(2025, 6, 4, 18, 30), utc(2025, 6, 11, 18, 30)}},
		{"earlier today: next week", 1, "07:00", mon, time.UTC, []time.Time{utc(2025, 6, 9, 7, 0), utc(2025, 6, 16, 7, 0)}},
		{"later today", 1, "13:00", mon, time.UTC, []time.Time{utc(2025, 6, 2, 13, 0), utc(2025, 6, 9, 13, 0)}},
		{"exactly now: strictly after", 1, "12:00", mon, time.UTC, []time.Time{utc(2025, 6, 9, 12, 0), utc(2025, 6, 16, 12, 0)}},
		{"sunday is 7", 7, "09:00", mon, time.UTC, []time.Time{utc(2025, 6, 8, 9, 0), utc(2025, 6, 15, 9, 0)}},
		// Berlin moves to CEST (UTC+2) on Sunday 30 March 2025. After
		// Sunday 23 March 12:00 UTC (13:00 CET) the 10:00 class of that day
		// is past; the next two are 30 March and 6 April at 10:00 CEST,
		// 08:00 UTC.
		{"across DST", 7, "10:00", utc(2025, 3, 23, 12, 0), berlin, []time.Time{utc(2025, 3, 30, 8, 0), utc(2025, 4, 6, 8, 0)}},
		// Local date differs from the UTC date: Monday 2 June 23:30 UTC is
		// Tuesday 01:30 in Berlin, so Tuesday 07:00 CEST is the same day.
		{"local day", 2, "07:00", utc(2025, 6, 2, 23, 30), berlin, []time.Time{utc(2025, 6, 3, 5, 0), utc(2025, 6, 10, 5, 0)}},
		{"no weekday", 0, "07:00", mon, time.UTC, nil},
		{"no start time", 3, "", mon, time.UTC, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &datasets.Course{CourseID: "c", Weekday: tc.weekday, StartTime: tc.start}
			got := nextSessions(c, tc.after, tc.loc, 2)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Errorf("session %d: %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestViolationsCapped(t *testing.T) {
	o := DefaultOptions()
	lim := o.limits()
	req := &retainv1.IngestEventsRequest{}
	for range 100 {
		req.Attendance = append(req.Attendance, &retainv1.Attendance{})
	}
	err := validateIngest(req, lim)
	if err == nil || !strings.Contains(err.Error(), "and 17 more") {
		t.Errorf("100 empty events: %v, want 20 violations listed, 3 named and 17 more", err)
	}
}
