package features

import (
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"retain/datasets"
)

// TestConfigErrors: an invalid field is a *ConfigError that names the
// field and says what is valid, not a dump of the struct.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		set   func(*Config)
		field string
		want  string
	}{
		{func(c *Config) { c.Split.TestFraction = 1.5 }, "Split.TestFraction", "0 <= fraction < 1"},
		{func(c *Config) { c.Split.TestFraction = math.NaN() }, "Split.TestFraction", "0 <= fraction < 1"},
		{func(c *Config) { c.Split.ValidationFraction = -0.1 }, "Split.ValidationFraction", "0 <= fraction < 1"},
		{func(c *Config) { c.Split.ValidationFraction, c.Split.TestFraction = 0.6, 0.5 }, "Split.TestFraction", "a sum with Split.ValidationFraction (0.6) below 1"},
		{func(c *Config) { c.Split.Mode = "bogus" }, "Split.Mode", "time, member or last-week"},
		{func(c *Config) { c.Split.Folds = 3 }, "Split.Folds", `0 unless Split.Mode is "member" (it is "time")`},
		{func(c *Config) { c.Split.Mode, c.Split.Folds, c.Split.Fold = SplitModeMember, 3, 3 }, "Split.Fold", "0 to 2"},
		{func(c *Config) { c.Weeks = 0 }, "Weeks", "1 to 520"},
		{func(c *Config) { c.HorizonWeeks = 300 }, "HorizonWeeks", "1 to 260"},
		{func(c *Config) { c.TimeZone = "Mars/Base" }, "TimeZone", "an IANA time zone name"},
		{func(c *Config) { c.Label.Kind = "churny" }, "Label.Kind", "inactivity, cancellation or absence"},
		{func(c *Config) { c.Tier.Mode = "median" }, "Tier.Mode", "fixed or quantile"},
	} {
		cfg := DefaultConfig()
		tc.set(&cfg)
		err := cfg.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || ce.Field != tc.field || !strings.Contains(ce.Want, tc.want) {
			t.Errorf("%s: Validate = %v, want a ConfigError for %s wanting %q", tc.field, err, tc.field, tc.want)
		} else if strings.Contains(err.Error(), "{") {
			t.Errorf("%s: %v dumps a struct", tc.field, err)
		}
	}
}

// TestDuplicateMemberWhere: a repeated member id read without the row
// checks (DirSource) fails the build naming the file and row; with them
// (CheckedDirSource) it is a rejected row naming the first sighting.
func TestDuplicateMemberWhere(t *testing.T) {
	s := loadSmallSynth(t)
	dir := t.TempDir()
	members := append(append([]datasets.Member(nil), s.sink.MemberRows...), s.sink.MemberRows[0])
	writeTable(t, dir, "members.csv", members)
	writeTable(t, dir, "courses.csv", s.sink.CourseRows)
	writeTable(t, dir, "attendance.csv", s.sink.AttendanceRows)
	writeTable(t, dir, "transactions.csv", s.sink.TransactionRows)
	d, err := datasets.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.rtfs")
	row := len(members)
	_, err = Build(DirSource(d, nil), s.config(), out, nil)
	if want := filepath.Join(dir, "members.csv") + ": row " + strconv.Itoa(row) + ": "; !errors.Is(err, datasets.ErrDuplicateKey) || !strings.Contains(err.Error(), want) {
		t.Errorf("unchecked: %v, want ErrDuplicateKey after %q", err, want)
	}
	rep, err := Build(CheckedDirSource(d, nil, nil), s.config(), out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 1 || !strings.Contains(rep.RejectedSamples[0], "row "+strconv.Itoa(row)+", column member_id") || !strings.Contains(rep.RejectedSamples[0], "first seen at row 1") {
		t.Errorf("checked: rejected %d %q", rep.Rejected, rep.RejectedSamples)
	}
}
