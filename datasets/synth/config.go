package synth

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// TierThresholds are the boundaries of the spend tiers, in minor units of
// trailing-12-month spend (net of refunds): a member with spend >= Core is
// "core", else with spend >= Active is "active", else "potential".
type TierThresholds struct {
	Core   int64
	Active int64
}

// Tier names, in the order of Summary.TierShares.
const (
	TierCore      = "core"
	TierActive    = "active"
	TierPotential = "potential"
)

// Tier returns the tier of a trailing-12-month spend.
func (t TierThresholds) Tier(spend int64) string {
	switch {
	case spend >= t.Core:
		return TierCore
	case spend >= t.Active:
		return TierActive
	}
	return TierPotential
}

func (t TierThresholds) index(spend int64) int {
	switch {
	case spend >= t.Core:
		return 0
	case spend >= t.Active:
		return 1
	}
	return 2
}

// DefaultTiers are the default tier boundaries (EUR cents). They were chosen
// by measuring the generator (seeds 1-3, 20,000 members, 104 weeks): about 15 %
// of the members alive at the end of the data spend at least Core over the
// trailing 12 months, 35 % at least Active but less than Core.
var DefaultTiers = TierThresholds{Core: 98_500, Active: 67_500}

// Config describes a synthetic data set. The zero value of a field means its
// default, except Seed (0 is a valid seed) and TruthCutoffs (see there).
// DefaultConfig returns a Config with every default filled in.
type Config struct {
	// Members is the number of members in the data. Default 5000.
	Members int
	// Weeks is the length of the data in weeks. Default 104.
	Weeks int
	// Seed selects the data set: equal Configs give identical output.
	// DefaultConfig sets 1.
	Seed uint64
	// Start is the first instant of the data: midnight UTC of a Monday.
	// Weeks run Monday to Sunday. Default 2024-01-01 (a Monday). The
	// clubs' local time is UTC: a class at "18:00" is an instant at 18:00Z.
	Start time.Time
	// Clubs is the number of clubs. Default 4. Class capacity is not
	// enforced, so large member counts want more clubs to stay believable
	// (about 1000-1500 members per club).
	Clubs int
	// TierThresholds are the spend tier boundaries. Default DefaultTiers.
	// They only classify members in the Summary; they do not change the
	// simulation.
	TierThresholds TierThresholds
	// Currency is the ISO 4217 code written to the manifest. Default "EUR".
	// Amounts are generated as EUR cents whatever the code.
	Currency string

	// TruthCutoffs are the instants at which ground truth is computed; each
	// must be a week boundary (Start + k weeks) with 8 <= k and
	// k + HorizonWeeks <= Weeks, so that the 8-week activity window before it
	// and the horizon after it lie inside the data. Nil means the default
	// schedule: every TruthEvery weeks from week 26 (or from week 8 when the
	// data is too short) to the last week that leaves room for the horizon.
	// An empty non-nil slice means no truth.
	TruthCutoffs []time.Time
	// TruthEvery is the spacing of the default cutoff schedule in weeks.
	// Default 4.
	TruthEvery int
	// HorizonWeeks is the churn label horizon H in weeks. Default 8.
	HorizonWeeks int
	// TruthSims is the number of Monte Carlo re-simulations per alive member
	// and cutoff. Default 200; negative means no truth at all.
	TruthSims int
	// Workers is the number of goroutines simulating members. The output
	// does not depend on it. Default runtime.GOMAXPROCS(0).
	Workers int
	// Progress, when not nil, is called after each delivered chunk of
	// members with the number of members done so far and the total.
	// Default nil.
	Progress func(done, total int)
}

// DefaultStart is the default Config.Start: Monday 2024-01-01 00:00 UTC.
var DefaultStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultConfig returns the configuration of the embedded default data set.
// Its TruthCutoffs is nil: the default schedule, which follows Weeks,
// HorizonWeeks and TruthEvery when those are changed.
func DefaultConfig() Config {
	c := Config{Seed: 1}
	c.fill()
	return c
}

// Cutoffs returns the truth cutoffs c describes: TruthCutoffs, or the
// default schedule when it is nil, or none when TruthSims is negative.
// Zero fields count as their defaults.
func (c Config) Cutoffs() []time.Time {
	c.fill()
	switch {
	case c.TruthSims < 0:
		return nil
	case c.TruthCutoffs != nil:
		return c.TruthCutoffs
	}
	return c.defaultCutoffs()
}

// fill replaces zero fields by their defaults.
func (c *Config) fill() {
	if c.Members == 0 {
		c.Members = 5000
	}
	if c.Weeks == 0 {
		c.Weeks = 104
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Clubs == 0 {
		c.Clubs = 4
	}
	if c.TierThresholds == (TierThresholds{}) {
		c.TierThresholds = DefaultTiers
	}
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	if c.TruthEvery == 0 {
		c.TruthEvery = 4
	}
	if c.HorizonWeeks == 0 {
		c.HorizonWeeks = 8
	}
	if c.TruthSims == 0 {
		c.TruthSims = 200
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
}

// activityWeeks is the look-back window of the Alive rule.
const activityWeeks = 8

func (c *Config) defaultCutoffs() []time.Time {
	first := 26
	last := c.Weeks - c.HorizonWeeks
	if first > last {
		first = activityWeeks
	}
	var out []time.Time
	for k := first; k <= last; k += c.TruthEvery {
		out = append(out, c.Start.AddDate(0, 0, 7*k))
	}
	return out
}

// End returns the end of the data (exclusive): Start + Weeks weeks.
func (c Config) End() time.Time { return c.Start.AddDate(0, 0, 7*c.Weeks) }

// ErrConfig is returned (wrapped) for an invalid Config; checked with
// errors.Is.
var ErrConfig = errors.New("synth: invalid config")

// normalize fills defaults, checks the config and returns the truth cutoffs
// as week indices.
func (c *Config) normalize() ([]int, error) {
	c.fill()
	bad := func(format string, a ...any) ([]int, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	switch {
	case c.Members < 0:
		return bad("Members = %d", c.Members)
	case c.Weeks < 0 || c.Weeks > 520:
		return bad("Weeks = %d (want 1..520)", c.Weeks)
	case c.Clubs < 0 || c.Clubs > 64:
		return bad("Clubs = %d (want 1..64)", c.Clubs)
	case c.HorizonWeeks < 0:
		return bad("HorizonWeeks = %d", c.HorizonWeeks)
	case c.TruthEvery < 0:
		return bad("TruthEvery = %d", c.TruthEvery)
	case c.TierThresholds.Core < c.TierThresholds.Active:
		return bad("tier Core %d below Active %d", c.TierThresholds.Core, c.TierThresholds.Active)
	}
	if c.Start.Location() != time.UTC || c.Start.Weekday() != time.Monday || c.Start != c.Start.Truncate(24*time.Hour) {
		return bad("Start %v is not midnight UTC of a Monday", c.Start)
	}
	if c.TruthSims < 0 {
		return nil, nil
	}
	cut := c.Cutoffs()
	weeks := make([]int, 0, len(cut))
	for _, t := range cut {
		d := t.Sub(c.Start)
		k := int(d / (7 * 24 * time.Hour))
		if d%(7*24*time.Hour) != 0 || !t.Equal(c.Start.AddDate(0, 0, 7*k)) {
			return bad("truth cutoff %v is not a week boundary after Start %v", t, c.Start)
		}
		if k < activityWeeks || k+c.HorizonWeeks > c.Weeks {
			return bad("truth cutoff %v (week %d) leaves no room for the %d-week activity window or the %d-week horizon in %d weeks",
				t, k, activityWeeks, c.HorizonWeeks, c.Weeks)
		}
		if len(weeks) > 0 && k <= weeks[len(weeks)-1] {
			return bad("truth cutoffs not strictly increasing at %v", t)
		}
		weeks = append(weeks, k)
	}
	return weeks, nil
}
