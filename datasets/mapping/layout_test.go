package mapping

import (
	"errors"
	"testing"
	"time"

	"retain/datasets"
)

func TestResolveLayout(t *testing.T) {
	for in, want := range map[string]string{
		"YYYYMMDD":            "20060102",
		"YYYY-MM-DD":          "2006-01-02",
		"DD.MM.YYYY HH:MM":    "02.01.2006 15:04",
		"MM/DD/YYYY HH:MM:SS": "01/02/2006 15:04:05",
		"YYYY-MM-DDTHH:MM:SS": "2006-01-02T15:04:05",
		"DD.MM.YY":            "02.01.06",
		"RFC3339":             time.RFC3339Nano,
		"02.01.2006 15:04":    "02.01.2006 15:04", // a Go layout as is
		"Jan 2, 2006":         "Jan 2, 2006",
		"unix":                "unix",
	} {
		got, err := resolveLayout(in)
		if err != nil || got != want {
			t.Errorf("resolveLayout(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "HH:MM", "15:04", "YYYY-MM", "DD.MM.YYYY hh", "banana"} {
		if got, err := resolveLayout(in); err == nil {
			t.Errorf("resolveLayout(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	layouts, err := resolveLayouts([]string{"DD.MM.YYYY HH:MM", "YYYYMMDD", "RFC3339", "unix"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		loc  *time.Location
		want string // RFC 3339 in UTC
	}{
		{"01.03.2024 09:12", berlin, "2024-03-01T08:12:00Z"},      // CET = UTC+1
		{"01.07.2024 09:12", berlin, "2024-07-01T07:12:00Z"},      // CEST = UTC+2
		{"19970101", ny, "1997-01-01T05:00:00Z"},                  // date only: local midnight, EST = UTC-5
		{"19970701", ny, "1997-07-01T04:00:00Z"},                  // EDT = UTC-4
		{"2024-03-01T09:12:00+01:00", ny, "2024-03-01T08:12:00Z"}, // an explicit offset wins over the zone
		{"2024-03-01T09:12:00.5Z", ny, "2024-03-01T09:12:00.5Z"},  // fractional seconds
		{"1700000000", berlin, "2023-11-14T22:13:20Z"},            // unix seconds
		{" 19970101 ", time.UTC, "1997-01-01T00:00:00Z"},          // spaces trimmed
	} {
		got, err := parseTime(tc.in, layouts, "", tc.loc)
		if err != nil {
			t.Errorf("parseTime(%q): %v", tc.in, err)
			continue
		}
		if s := got.Format(time.RFC3339Nano); s != tc.want {
			t.Errorf("parseTime(%q) = %s, want %s", tc.in, s, tc.want)
		}
	}
	noUnix := layouts[:3]
	for _, in := range []string{"31.02.2024 10:00", "2024-03-01", "01.03.2024", "yesterday", "19971301", "1700000000"} {
		if got, err := parseTime(in, noUnix, "", berlin); !errors.Is(err, datasets.ErrBadTimestamp) {
			t.Errorf("parseTime(%q) = %v, %v; want ErrBadTimestamp", in, got, err)
		}
	}
}
