package features

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"time"

	"retain/datasets"
)

// Label kinds: which definition of churn the churn label uses. See
// docs/labels.md for the exact rules.
const (
	// LabelInactivity: no visit and no payment in [t, t+H), or a
	// fixed-term contract ends in the horizon without a renewal.
	LabelInactivity = "inactivity"
	// LabelCancellation: a fixed-term contract ends in the horizon (or in its
	// grace period just before t) without a renewal.
	LabelCancellation = "cancellation"
	// LabelAbsence: at t+H the member has not visited for AbsenceDays days.
	LabelAbsence = "absence"
)

// Tier modes: how the trailing-spend thresholds of the tiers are set.
const (
	// TierFixed uses TierConfig.Core and TierConfig.Active as given.
	TierFixed = "fixed"
	// TierQuantile derives the thresholds from the spend distribution of
	// the training split (BuildDataset) so that CoreShare of the training
	// examples are core and ActiveShare active.
	TierQuantile = "quantile"
)

// Config sets every choice that the features, labels, indicators and KPIs
// depend on. Start from DefaultConfig and change fields; the zero Config is
// not valid. A Config is stored in the FeatureSpec so that a model is always
// served with the settings it was trained with. It encodes to JSON as is.
type Config struct {
	// Weeks is the number of weekly steps T in a sequence, ending at the
	// cutoff. Default 26.
	Weeks int
	// HorizonWeeks is the label horizon H in weeks: labels look at
	// [t, t+H). Default 8.
	HorizonWeeks int
	// CutoffEveryWeeks is the step between rolling training cutoffs.
	// Default 4.
	CutoffEveryWeeks int
	// FirstCutoff and LastCutoff bound the rolling cutoffs (inclusive);
	// they are rounded to week starts. Zero means automatic: the first
	// cutoff is the first week start at least Weeks weeks after the start
	// of the data (so that every window lies inside the data); the last is
	// the last week start before the end of the data.
	FirstCutoff, LastCutoff time.Time
	// WeekStart is the first day of a week for the batch week grid.
	// Default time.Monday.
	WeekStart time.Weekday
	// TimeZone is the IANA name of the zone in which days and weeks begin
	// (the clubs' local time). Default "UTC".
	TimeZone string
	// DataEnd is the instant at which observation ends; a label whose
	// horizon reaches past it is censored. Zero means: the manifest's End,
	// or the start of the day after the last event when that is zero too.
	DataEnd time.Time
	// MaxDays caps day counts in the sequence (days since last visit,
	// days to contract end). Default 365.
	MaxDays int

	Label  LabelConfig
	Tier   TierConfig
	Flags  FlagConfig
	KPI    KPIConfig
	Split  SplitConfig
	Values ValueConfig
}

// LabelConfig defines churn. The default is LabelInactivity with H weeks.
type LabelConfig struct {
	// Kind is LabelInactivity (default), LabelCancellation or LabelAbsence.
	Kind string
	// AbsenceDays is the absence that counts as churn for LabelAbsence, and
	// the absence that marks a member as already churned under it.
	// Default 90.
	AbsenceDays int
	// RenewalKinds are the transaction kinds that renew a contract.
	// Default ["renewal"].
	RenewalKinds []string
	// RenewBeforeDays and RenewAfterDays bound the window around a
	// contract's end date in which a renewal transaction renews it:
	// [end-RenewBeforeDays, end+RenewAfterDays). Defaults 60 and 30.
	RenewBeforeDays, RenewAfterDays int
	// LapseContractTypes are the contract types (datasets.ContractType
	// names) whose end date can lapse. Members of other types, and members
	// with no contract end, have open-ended contracts. Default ["annual"].
	LapseContractTypes []string
	// KeepAlreadyChurned keeps examples of members already churned at the
	// cutoff (marked Excluded) instead of dropping them. Default false.
	KeepAlreadyChurned bool
}

// TierConfig sets the customer tiers by trailing 52-week spend in minor
// units: core >= Core > active >= Active > potential.
type TierConfig struct {
	// Mode is TierFixed (default) or TierQuantile.
	Mode string
	// Core and Active are the fixed thresholds in minor units.
	// Defaults 90000 and 57500 (900.00 and 575.00), which put about 15 %,
	// 35 % and 50 % of the synthetic data's examples in core, active and
	// potential.
	Core, Active int64
	// CoreShare and ActiveShare are the target shares of the quantile mode.
	// Defaults 0.15 and 0.35.
	CoreShare, ActiveShare float64
}

// FlagConfig sets the thresholds of the rule flags. The flags' machine names
// do not change with the thresholds.
type FlagConfig struct {
	// CallbackDays: no visit for this many days or more raises
	// coach_callback_90d. Default 90.
	CallbackDays int
	// ReminderDays are the renewal reminder stages, loosest first: a
	// contract that ends within ReminderDays[i] days raises the stage
	// renewal_reminder_{60,30,15,7}d of the tightest matching i.
	// Default [60, 30, 15, 7]. Must have 4 decreasing entries.
	ReminderDays []int
	// TrendWeeks is the length of each of the two windows compared by the
	// visit trend and the frequency drop. Default 8.
	TrendWeeks int
	// FrequencyDrop: visits in the last TrendWeeks weeks at most
	// (1-FrequencyDrop) times those of the TrendWeeks before raises
	// frequency_drop_50. Default 0.5.
	FrequencyDrop float64
	// FrequencyMinVisits is the least number of visits in the earlier
	// window for frequency_drop_50 to apply. Default 4.
	FrequencyMinVisits int
	// NewMemberDays: tenure under this many days raises new_member_90d.
	// Default 90.
	NewMemberDays int
	// HotMonths and BaseMonths are the calendar months (1-12) compared by
	// seasonal_churn_prone. Defaults [6, 7, 8] and [3, 4, 5].
	HotMonths, BaseMonths []int
	// SeasonalDrop: average weekly visits in the hot months of the last
	// complete season at most (1-SeasonalDrop) times those of the base
	// months raises seasonal_churn_prone. Default 0.4.
	SeasonalDrop float64
	// SeasonalMinVisits is the least number of visits in the base months
	// for seasonal_churn_prone to apply. Default 4.
	SeasonalMinVisits int
}

// KPIConfig sets the KPI thresholds below which a month is flagged.
type KPIConfig struct {
	// RenewalRateMin flags renewal_rate_low. Default 0.85.
	RenewalRateMin float64
	// ActiveShareMin flags active_share_low. Default 0.70.
	ActiveShareMin float64
	// RepurchaseRateMin flags repurchase_rate_low. Default 0.50.
	RepurchaseRateMin float64
	// RepurchaseLookbackDays: a course purchase is a repurchase when the
	// member bought a course in this many days before it. Default 365.
	RepurchaseLookbackDays int
}

// Split modes: how examples are assigned to train, validation and test.
const (
	// SplitModeTime splits the cutoffs by time (SplitByTime): the latest
	// cutoffs are test, the ones before validation, with horizon gaps.
	SplitModeTime = "time"
	// SplitModeMember splits the members (SplitByMember): a seeded hash of
	// the member id puts TestFraction of the members in test and
	// ValidationFraction in validation. Test and validation members get an
	// example at the last cutoff only; training members at every cutoff.
	SplitModeMember = "member"
	// SplitModeLastWeek is leave-last-week-out (BuildLastWeekOut): every
	// member's test example is at the start of the week of their last
	// visit, training examples at the grid cutoffs before it.
	// ValidationFraction of the members (hashed) train nothing and
	// validate instead; TestFraction is ignored.
	SplitModeLastWeek = "last-week"
)

// SplitConfig sets the split of the examples.
type SplitConfig struct {
	// Mode is SplitModeTime (default; "" means it too), SplitModeMember or
	// SplitModeLastWeek.
	Mode string
	// ValidationFraction and TestFraction are, by time, the shares of the
	// cutoffs (counted before the gaps are removed) that go to validation
	// and test, latest cutoffs to test; by member, the shares of the
	// members. Defaults 0.15 and 0.15.
	ValidationFraction, TestFraction float64
	// Seed seeds the member hash of SplitModeMember. Default 0.
	Seed uint64
	// Folds > 0 turns the member split into K-fold cross-validation
	// (SplitModeMember only; 0, the default, means a single TestFraction
	// share): the member hash puts every member into one of Folds disjoint
	// folds of about equal size, fold Fold (0-based) is the test split and
	// TestFraction is ignored; ValidationFraction is still the share of all
	// members, drawn from the other folds. Folds is 0 or at least 2.
	Folds int `json:",omitempty"`
	Fold  int `json:",omitempty"`
}

// ValueConfig sets how values are scaled.
type ValueConfig struct {
	// MinorUnits is the number of decimals of the currency, used to turn
	// minor units into major units. Default 2; BuildDataset takes it from
	// the manifest when the manifest has one.
	MinorUnits int
	// LifetimeYears is the horizon of the LTV estimate in years: the
	// indicator is the expected spend over the next LifetimeYears x
	// 365.25/7 weeks (the naive fallback multiplies the annualised spend
	// by it). Default 2.
	LifetimeYears float64
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		Weeks:            26,
		HorizonWeeks:     8,
		CutoffEveryWeeks: 4,
		WeekStart:        time.Monday,
		TimeZone:         "UTC",
		MaxDays:          365,
		Label: LabelConfig{
			Kind:               LabelInactivity,
			AbsenceDays:        90,
			RenewalKinds:       []string{datasets.TxRenewal.String()},
			RenewBeforeDays:    60,
			RenewAfterDays:     30,
			LapseContractTypes: []string{datasets.ContractAnnual.String()},
		},
		Tier: TierConfig{
			Mode:        TierFixed,
			Core:        90000,
			Active:      57500,
			CoreShare:   0.15,
			ActiveShare: 0.35,
		},
		Flags: FlagConfig{
			CallbackDays:       90,
			ReminderDays:       []int{60, 30, 15, 7},
			TrendWeeks:         8,
			FrequencyDrop:      0.5,
			FrequencyMinVisits: 4,
			NewMemberDays:      90,
			HotMonths:          []int{6, 7, 8},
			BaseMonths:         []int{3, 4, 5},
			SeasonalDrop:       0.4,
			SeasonalMinVisits:  4,
		},
		KPI: KPIConfig{
			RenewalRateMin:         0.85,
			ActiveShareMin:         0.70,
			RepurchaseRateMin:      0.50,
			RepurchaseLookbackDays: 365,
		},
		Split: SplitConfig{ValidationFraction: 0.15, TestFraction: 0.15},
		Values: ValueConfig{
			MinorUnits:    2,
			LifetimeYears: 2,
		},
	}
}

// ErrConfig reports an invalid Config; checked with errors.Is.
var ErrConfig = errors.New("features: invalid config")

// A ConfigError is an invalid field of a Config: its name (as in the Go
// struct, e.g. "Split.TestFraction"), its value and what is valid. It
// wraps ErrConfig. Commands map Field to their flags.
type ConfigError struct {
	Field string
	Value any
	Want  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%v: %s = %v: want %s", ErrConfig, e.Field, e.Value, e.Want)
}

func (e *ConfigError) Unwrap() error { return ErrConfig }

// Validate reports the first invalid field of c as a *ConfigError.
func (c *Config) Validate() error {
	bad := func(field string, v any, want string, args ...any) error {
		return &ConfigError{Field: field, Value: v, Want: fmt.Sprintf(want, args...)}
	}
	switch {
	case c.Weeks < 1 || c.Weeks > 520:
		return bad("Weeks", c.Weeks, "1 to 520")
	case c.HorizonWeeks < 1 || c.HorizonWeeks > 260:
		return bad("HorizonWeeks", c.HorizonWeeks, "1 to 260")
	case c.CutoffEveryWeeks < 1:
		return bad("CutoffEveryWeeks", c.CutoffEveryWeeks, "at least 1")
	case c.WeekStart < time.Sunday || c.WeekStart > time.Saturday:
		return bad("WeekStart", c.WeekStart, "Sunday to Saturday")
	case c.MaxDays < 1:
		return bad("MaxDays", c.MaxDays, "at least 1")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return bad("TimeZone", fmt.Sprintf("%q", c.TimeZone), "an IANA time zone name such as UTC or Europe/Berlin (%v)", err)
	}
	l := &c.Label
	switch l.Kind {
	case LabelInactivity, LabelCancellation, LabelAbsence:
	default:
		return bad("Label.Kind", fmt.Sprintf("%q", l.Kind), "%s, %s or %s", LabelInactivity, LabelCancellation, LabelAbsence)
	}
	if l.AbsenceDays < 1 {
		return bad("Label.AbsenceDays", l.AbsenceDays, "at least 1")
	}
	if l.RenewBeforeDays < 0 {
		return bad("Label.RenewBeforeDays", l.RenewBeforeDays, "0 or more")
	}
	if l.RenewAfterDays < 0 {
		return bad("Label.RenewAfterDays", l.RenewAfterDays, "0 or more")
	}
	for _, k := range l.RenewalKinds {
		if _, err := datasets.ParseTxKind(k); err != nil {
			return bad("Label.RenewalKinds", fmt.Sprintf("%q", k), "transaction kinds (%v)", err)
		}
	}
	for _, k := range l.LapseContractTypes {
		if _, err := datasets.ParseContractType(k); err != nil {
			return bad("Label.LapseContractTypes", fmt.Sprintf("%q", k), "contract types (%v)", err)
		}
	}
	t := &c.Tier
	switch t.Mode {
	case TierFixed:
		if t.Active < 0 || t.Core < t.Active {
			return bad("Tier.Core/Active", [2]int64{t.Core, t.Active}, "0 <= Active <= Core")
		}
	case TierQuantile:
		if t.CoreShare <= 0 || t.ActiveShare <= 0 || t.CoreShare+t.ActiveShare >= 1 {
			return bad("Tier.CoreShare/ActiveShare", [2]float64{t.CoreShare, t.ActiveShare}, "two shares above 0 whose sum is below 1")
		}
	default:
		return bad("Tier.Mode", fmt.Sprintf("%q", t.Mode), "%s or %s", TierFixed, TierQuantile)
	}
	f := &c.Flags
	if len(f.ReminderDays) != 4 {
		return bad("Flags.ReminderDays", f.ReminderDays, "4 days")
	}
	for i, d := range f.ReminderDays {
		if d < 0 || (i > 0 && d >= f.ReminderDays[i-1]) {
			return bad("Flags.ReminderDays", f.ReminderDays, "4 days, 0 or more, in decreasing order")
		}
	}
	switch {
	case f.CallbackDays < 1:
		return bad("Flags.CallbackDays", f.CallbackDays, "at least 1")
	case f.TrendWeeks < 1:
		return bad("Flags.TrendWeeks", f.TrendWeeks, "at least 1")
	case f.FrequencyDrop <= 0 || f.FrequencyDrop > 1:
		return bad("Flags.FrequencyDrop", f.FrequencyDrop, "above 0 and at most 1")
	case f.NewMemberDays < 1:
		return bad("Flags.NewMemberDays", f.NewMemberDays, "at least 1")
	case f.SeasonalDrop <= 0 || f.SeasonalDrop > 1:
		return bad("Flags.SeasonalDrop", f.SeasonalDrop, "above 0 and at most 1")
	case len(f.HotMonths) == 0 || len(f.BaseMonths) == 0:
		return bad("Flags.HotMonths/BaseMonths", [2][]int{f.HotMonths, f.BaseMonths}, "at least one month each")
	}
	for _, m := range append(append([]int(nil), f.HotMonths...), f.BaseMonths...) {
		if m < 1 || m > 12 {
			return bad("Flags.HotMonths/BaseMonths", m, "months 1 to 12")
		}
	}
	k := &c.KPI
	if k.RepurchaseLookbackDays < 1 {
		return bad("KPI.RepurchaseLookbackDays", k.RepurchaseLookbackDays, "at least 1")
	}
	s := &c.Split
	switch {
	case s.ValidationFraction < 0 || s.ValidationFraction >= 1 || math.IsNaN(s.ValidationFraction):
		return bad("Split.ValidationFraction", s.ValidationFraction, "0 <= fraction < 1")
	case s.TestFraction < 0 || s.TestFraction >= 1 || math.IsNaN(s.TestFraction):
		return bad("Split.TestFraction", s.TestFraction, "0 <= fraction < 1")
	case s.ValidationFraction+s.TestFraction >= 1:
		return bad("Split.TestFraction", s.TestFraction, "a sum with Split.ValidationFraction (%v) below 1, so that some data is left to train on", s.ValidationFraction)
	}
	switch s.Mode {
	case "", SplitModeTime, SplitModeMember, SplitModeLastWeek:
	default:
		return bad("Split.Mode", fmt.Sprintf("%q", s.Mode), "%s, %s or %s", SplitModeTime, SplitModeMember, SplitModeLastWeek)
	}
	if s.Folds != 0 || s.Fold != 0 {
		switch {
		case s.Mode != SplitModeMember:
			return bad("Split.Folds", s.Folds, "0 unless Split.Mode is %q (it is %q)", SplitModeMember, cmp.Or(s.Mode, SplitModeTime))
		case s.Folds < 2:
			return bad("Split.Folds", s.Folds, "0 (no folds) or at least 2")
		case s.Fold < 0 || s.Fold >= s.Folds:
			return bad("Split.Fold", s.Fold, "0 to %d (Split.Folds - 1)", s.Folds-1)
		case s.ValidationFraction >= 1-1/float64(s.Folds):
			return bad("Split.ValidationFraction", s.ValidationFraction, "below %.3f with %d folds: beside the test fold some members must be left to train on", 1-1/float64(s.Folds), s.Folds)
		}
	}
	if c.Values.MinorUnits < 0 || c.Values.MinorUnits > 6 {
		return bad("Values.MinorUnits", c.Values.MinorUnits, "0 to 6")
	}
	if c.Values.LifetimeYears < 0 {
		return bad("Values.LifetimeYears", c.Values.LifetimeYears, "0 or more")
	}
	return nil
}
