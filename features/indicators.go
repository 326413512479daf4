package features

import (
	"fmt"
	"math/bits"
	"strings"
)

// Tier is a member's customer tier by trailing 52-week spend.
type Tier uint8

// Tiers, lowest first.
const (
	TierPotential Tier = iota
	TierActive
	TierCore
)

var tierNames = []string{"potential", "active", "core"}

func (t Tier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return fmt.Sprintf("Tier(%d)", t)
}

// MarshalText encodes the tier by name.
func (t Tier) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText decodes a tier name.
func (t *Tier) UnmarshalText(b []byte) error {
	for i, n := range tierNames {
		if n == string(b) {
			*t = Tier(i)
			return nil
		}
	}
	return fmt.Errorf("features: unknown tier %q", b)
}

// Flags is a set of rule flags.
type Flags uint16

// The rule flags. Their machine names (Flag.String) are stable: they are
// part of the serving API and do not change with the thresholds in
// FlagConfig. At most one renewal reminder stage is set, the tightest.
const (
	FlagCoachCallback Flags = 1 << iota // coach_callback_90d: no visit for CallbackDays (90) days or more
	FlagRenewal60                       // renewal_reminder_60d: contract ends within 60 days (but more than 30)
	FlagRenewal30                       // renewal_reminder_30d: within 30 days (but more than 15)
	FlagRenewal15                       // renewal_reminder_15d: within 15 days (but more than 7)
	FlagRenewal7                        // renewal_reminder_7d: within 7 days
	FlagFrequencyDrop                   // frequency_drop_50: visits in the last 8 weeks down by half or more
	FlagSeasonal                        // seasonal_churn_prone: visits dropped in last year's hot months
	FlagNewMember                       // new_member_90d: joined less than 90 days ago
	numFlags          = iota
)

var flagNames = [numFlags]string{
	"coach_callback_90d",
	"renewal_reminder_60d",
	"renewal_reminder_30d",
	"renewal_reminder_15d",
	"renewal_reminder_7d",
	"frequency_drop_50",
	"seasonal_churn_prone",
	"new_member_90d",
}

// FlagNames returns the machine names of all flags in bit order.
func FlagNames() []string { return append([]string(nil), flagNames[:]...) }

// Names returns the machine names of the flags in f, in bit order.
func (f Flags) Names() []string {
	var out []string
	for i := 0; i < numFlags; i++ {
		if f&(1<<i) != 0 {
			out = append(out, flagNames[i])
		}
	}
	return out
}

func (f Flags) String() string { return strings.Join(f.Names(), ",") }

// Count returns the number of flags set.
func (f Flags) Count() int { return bits.OnesCount16(uint16(f)) }

// MarshalText encodes the set as comma-separated names.
func (f Flags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText decodes comma-separated flag names.
func (f *Flags) UnmarshalText(b []byte) error {
	*f = 0
	if len(b) == 0 {
		return nil
	}
next:
	for _, n := range strings.Split(string(b), ",") {
		for i, fn := range flagNames {
			if fn == n {
				*f |= 1 << i
				continue next
			}
		}
		return fmt.Errorf("features: unknown flag %q", n)
	}
	return nil
}

// Indicators are the business indicators of one member at a cutoff t, all
// computed from events before t. Windows of "weeks" are whole weeks ending
// at t; 52 weeks stand for the trailing 12 months. Money is in minor units
// except LTV.
type Indicators struct {
	Tier Tier
	// RecencyDays is the number of days from the last visit's day to t
	// (1 for a visit the day before t); for a member who never visited, the
	// days since joining.
	RecencyDays int
	// Frequency is the number of visits in the 52 weeks before t.
	Frequency int
	// Monetary is the net spend (refunds subtracted) in the 52 weeks
	// before t, minor units. The tier is set by it.
	Monetary int64
	// VisitsLast and VisitsPrev are the visits in the last TrendWeeks (8)
	// weeks before t and in the TrendWeeks before those.
	VisitsLast, VisitsPrev int
	// VisitTrend is (VisitsLast-VisitsPrev)/VisitsPrev, 0 when VisitsPrev
	// is 0.
	VisitTrend float64
	// CourseBreadth is the number of distinct class categories attended in
	// the 52 weeks before t.
	CourseBreadth int
	// CoursePurchases is the number of course purchases (class packs and
	// personal-training packages with a positive amount) before t, and
	// CourseRepurchaseRate the share of them that were repeat purchases:
	// (CoursePurchases-1)/CoursePurchases, 0 with no purchase.
	CoursePurchases      int
	CourseRepurchaseRate float64
	// LTV is the lifetime value estimate in major units, never negative:
	// the expected net spend over the next Values.LifetimeYears years, the
	// BG/NBD expected payment weeks times the Gamma-Gamma expected payment
	// of a week, with the models of FeatureSpec.LTV (0 for a member who
	// never paid). When that model is naive (not fitted, with its
	// reason): the annualised net spend of the last 52 weeks (of the
	// weeks since joining, when fewer) times Values.LifetimeYears. See
	// docs/features.md, "LTV".
	LTV float64
	// TenureDays is the number of days from the join day to t.
	TenureDays int
	// DaysToContractEnd is the contract's due date as known at t minus t's
	// day: 0 when it ends on t's day, negative once lapsed. 0 when
	// ContractOpenEnded.
	DaysToContractEnd int
	ContractOpenEnded bool
	Flags             Flags
}

// indicatorNames names the columns of Indicators.Vector.
var indicatorNames = append([]string{
	"tier", "recency_days", "frequency_52w", "monetary_52w",
	"visits_last", "visits_prev", "visit_trend", "course_breadth",
	"course_purchases", "course_repurchase_rate", "ltv", "tenure_days",
	"days_to_contract_end", "contract_open_ended",
}, flagNames[:]...)

// Vector returns the indicators as numbers in the order of
// FeatureSpec.Indicators; flags are 0 or 1.
func (in *Indicators) Vector(dst []float64) []float64 {
	dst = append(dst,
		float64(in.Tier), float64(in.RecencyDays), float64(in.Frequency), float64(in.Monetary),
		float64(in.VisitsLast), float64(in.VisitsPrev), in.VisitTrend, float64(in.CourseBreadth),
		float64(in.CoursePurchases), in.CourseRepurchaseRate, in.LTV, float64(in.TenureDays),
		float64(in.DaysToContractEnd), b2f(in.ContractOpenEnded))
	for i := 0; i < numFlags; i++ {
		dst = append(dst, b2f(in.Flags&(1<<i) != 0))
	}
	return dst
}

// SetVector is the inverse of Vector. It panics if len(v) differs from the
// number of indicator names.
func (in *Indicators) SetVector(v []float64) {
	if len(v) != len(indicatorNames) {
		panic(fmt.Sprintf("features: indicator vector of length %d, want %d", len(v), len(indicatorNames)))
	}
	*in = Indicators{
		Tier: Tier(v[0]), RecencyDays: int(v[1]), Frequency: int(v[2]), Monetary: int64(v[3]),
		VisitsLast: int(v[4]), VisitsPrev: int(v[5]), VisitTrend: v[6], CourseBreadth: int(v[7]),
		CoursePurchases: int(v[8]), CourseRepurchaseRate: v[9], LTV: v[10], TenureDays: int(v[11]),
		DaysToContractEnd: int(v[12]), ContractOpenEnded: v[13] != 0,
	}
	for i := 0; i < numFlags; i++ {
		if v[14+i] != 0 {
			in.Flags |= 1 << i
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
