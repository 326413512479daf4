package features

import (
	"fmt"
	"math"
	"time"
)

// Split is the time split an example belongs to.
type Split uint8

// Splits. SplitGap marks cutoffs dropped so that no label horizon of one
// split reaches into the next; SplitNone marks an example outside a split
// (single-member scoring).
const (
	SplitTrain Split = iota
	SplitValidation
	SplitTest
	SplitGap
	SplitNone
)

var splitNames = []string{"train", "validation", "test", "gap", "none"}

func (s Split) String() string {
	if int(s) < len(splitNames) {
		return splitNames[s]
	}
	return fmt.Sprintf("Split(%d)", s)
}

// MarshalText encodes the split by name.
func (s Split) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a split name.
func (s *Split) UnmarshalText(b []byte) error {
	for i, n := range splitNames {
		if n == string(b) {
			*s = Split(i)
			return nil
		}
	}
	return fmt.Errorf("features: unknown split %q", b)
}

// Cutoffs returns the rolling cutoffs of cfg for data observed in
// [start, end): week starts of the batch grid (Config.WeekStart at midnight
// in Config.TimeZone), CutoffEveryWeeks apart. Unless set in cfg, the first
// is the first week start at least Weeks weeks after start, and the last is
// the last one whose horizon ends by end, so that no default cutoff is
// censored by the end of the data.
func Cutoffs(cfg *Config, start, end time.Time) ([]time.Time, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loc, _ := time.LoadLocation(cfg.TimeZone)
	clk := newClock(loc)
	days, err := cutoffDays(cfg, &clk, start, end)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, len(days))
	for i, d := range days {
		out[i] = clk.instant(d)
	}
	return out, nil
}

// maxCutoffs bounds the number of cutoffs of one grid: 10,000 weekly
// cutoffs are some 190 years. More means a data range or a first or last
// cutoff that is not a real one (an empty dataset's sentinel days, a typo
// in a year); refusing it keeps a build from looping for hours and running
// out of memory.
const maxCutoffs = 10_000

// cutoffDays returns the days of the cutoffs of Cutoffs. The week
// arithmetic is done in int64 on the int32 days, so no range, however far
// apart its ends, overflows; a grid of more than maxCutoffs cutoffs, or
// one whose days do not fit the int32 day numbers, is an error.
func cutoffDays(cfg *Config, clk *clock, start, end time.Time) ([]int32, error) {
	phase := int64(phaseOf(cfg.WeekStart))
	week := func(day int64) int64 { return floorDiv(day-phase, 7) }
	ceilWeek := func(day int64) int64 { return week(day + 6) }
	var first, last int64 // week numbers
	if cfg.FirstCutoff.IsZero() {
		first = ceilWeek(int64(clk.day(start)) + 7*int64(cfg.Weeks))
	} else {
		first = ceilWeek(int64(clk.day(cfg.FirstCutoff)))
	}
	if cfg.LastCutoff.IsZero() {
		last = week(int64(clk.day(end)) - 7*int64(cfg.HorizonWeeks))
	} else {
		last = week(int64(clk.day(cfg.LastCutoff)))
	}
	if last < first {
		return nil, nil
	}
	every := int64(max(cfg.CutoffEveryWeeks, 1))
	n := (last-first)/every + 1
	firstDay, lastDay := 7*first+phase, 7*last+phase
	if n > maxCutoffs || firstDay < math.MinInt32 || lastDay > math.MaxInt32 {
		date := func(day int64) string { return time.Unix(day*86400, 0).UTC().Format(time.DateOnly) }
		return nil, fmt.Errorf("features: %d cutoffs from %s to %s, more than %d: the data range %s .. %s or the first or last cutoff is not a real one",
			n, date(firstDay), date(lastDay), maxCutoffs, start.Format(time.DateOnly), end.Format(time.DateOnly))
	}
	out := make([]int32, 0, n)
	for w := first; w <= last; w += every {
		out = append(out, int32(7*w+phase))
	}
	return out, nil
}

// SplitByTime assigns each of the ascending cutoffs a split: the latest
// round(n*TestFraction) cutoffs go to test, the round(n*ValidationFraction)
// before them to validation, the rest to train (each non-empty fraction
// gets at least one cutoff while two or more remain for train). Then every
// cutoff whose label horizon [c, c+HorizonWeeks) reaches past the first
// cutoff of the next split becomes SplitGap, so train < validation < test
// with the horizon gap respected.
func SplitByTime(cutoffs []time.Time, cfg *Config) ([]Split, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for i := 1; i < len(cutoffs); i++ {
		if !cutoffs[i-1].Before(cutoffs[i]) {
			return nil, fmt.Errorf("features: cutoffs not strictly ascending at %d (%s, %s)", i, cutoffs[i-1], cutoffs[i])
		}
	}
	n := len(cutoffs)
	count := func(frac float64, avail int) int {
		if frac <= 0 {
			return 0
		}
		k := int(math.Round(float64(n) * frac))
		if k < 1 {
			k = 1
		}
		if avail-k < 2 {
			k = max(avail-2, 0)
		}
		return k
	}
	nTest := count(cfg.Split.TestFraction, n)
	nVal := count(cfg.Split.ValidationFraction, n-nTest)
	out := make([]Split, n)
	for i := range out {
		switch {
		case i >= n-nTest:
			out[i] = SplitTest
		case i >= n-nTest-nVal:
			out[i] = SplitValidation
		default:
			out[i] = SplitTrain
		}
	}
	// From the latest cutoff back, so that the splits after i are final.
	for i := n - 1; i >= 0; i-- {
		// The first cutoff of a later split.
		next := -1
		for j := i + 1; j < n; j++ {
			if out[j] != out[i] && out[j] != SplitGap {
				next = j
				break
			}
		}
		if next < 0 || out[i] == SplitGap {
			continue
		}
		if cutoffs[i].AddDate(0, 0, 7*cfg.HorizonWeeks).After(cutoffs[next]) {
			out[i] = SplitGap
		}
	}
	return out, nil
}

// MemberSplit is the split of a member under SplitModeMember: a 64-bit
// FNV-1a hash of the seed (8 bytes, little endian) and the member id, mapped
// to u in [0, 1); u < TestFraction is test, u < TestFraction +
// ValidationFraction validation, the rest train. It depends on nothing but
// the id, the seed and the fractions, so a member keeps its split across
// runs, files and cutoffs.
//
// With Folds = K > 0 the member's fold is floor(u*K) (MemberFold): fold
// Fold is test, and of the other members those whose position inside their
// fold, v = u*K − floor(u*K), is below ValidationFraction*K/(K−1) are
// validation — ValidationFraction of all members, spread evenly over the
// other folds — the rest train. The K files of one seed then have
// disjoint test splits that together cover every member.
func MemberSplit(memberID string, cfg *SplitConfig) Split {
	u := memberHash(memberID, cfg.Seed)
	if cfg.Folds > 0 {
		k := float64(cfg.Folds)
		f := math.Floor(u * k)
		if int(f) == cfg.Fold {
			return SplitTest
		}
		if u*k-f < cfg.ValidationFraction*k/(k-1) {
			return SplitValidation
		}
		return SplitTrain
	}
	switch {
	case u < cfg.TestFraction:
		return SplitTest
	case u < cfg.TestFraction+cfg.ValidationFraction:
		return SplitValidation
	}
	return SplitTrain
}

// MemberFold is the fold, 0 .. folds−1, of the member under a K-fold member
// split with this seed (see MemberSplit).
func MemberFold(memberID string, seed uint64, folds int) int {
	f := int(memberHash(memberID, seed) * float64(folds))
	return min(f, folds-1)
}

// memberHash maps the seed and the member id to [0, 1).
func memberHash(memberID string, seed uint64) float64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := range 8 {
		h ^= uint64(byte(seed >> (8 * i)))
		h *= prime
	}
	for i := 0; i < len(memberID); i++ {
		h ^= uint64(memberID[i])
		h *= prime
	}
	// FNV's low bits mix poorly for short keys: finish with splitmix64.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) / (1 << 53)
}

// SplitByMember returns the per-cutoff splits of SplitModeMember, as stored
// in the file header: every cutoff is SplitTrain but the last, which is
// SplitTest (the evaluation cutoff). The split of an example is then
// exampleSplit: training members have examples at every cutoff; validation
// and test members only at the last one, so that no example of a test
// member is ever trained on and validation matches the test cutoff.
func SplitByMember(cutoffs []time.Time, cfg *Config) ([]Split, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for i := 1; i < len(cutoffs); i++ {
		if !cutoffs[i-1].Before(cutoffs[i]) {
			return nil, fmt.Errorf("features: cutoffs not strictly ascending at %d (%s, %s)", i, cutoffs[i-1], cutoffs[i])
		}
	}
	out := make([]Split, len(cutoffs))
	if len(out) > 0 {
		out[len(out)-1] = SplitTest
	}
	return out, nil
}

// splitCutoffs returns the per-cutoff splits of cfg's split mode.
func splitCutoffs(cutoffs []time.Time, cfg *Config) ([]Split, error) {
	if cfg.Split.Mode == SplitModeLastWeek {
		return nil, fmt.Errorf("%w: split %q has per-member cutoffs: build it with BuildLastWeekOut (retain features --split %s), not Build", ErrConfig, SplitModeLastWeek, SplitModeLastWeek)
	}
	if cfg.Split.Mode == SplitModeMember {
		return SplitByMember(cutoffs, cfg)
	}
	return SplitByTime(cutoffs, cfg)
}

// memberSplitOf is MemberSplit of member id under the member split, and
// SplitNone otherwise: computed once per member for exampleSplit.
func memberSplitOf(cfg *Config, id string) Split {
	if cfg.Split.Mode != SplitModeMember {
		return SplitNone
	}
	return MemberSplit(id, &cfg.Split)
}

// exampleSplit is the split of the example at cutoff k of n, whose cutoff
// split is s, of a member whose memberSplitOf is ms.
func exampleSplit(cfg *Config, ms Split, k, n int, s Split) Split {
	if cfg.Split.Mode != SplitModeMember || s == SplitGap {
		return s
	}
	switch {
	case ms == SplitTrain:
		return SplitTrain
	case k == n-1:
		return ms
	}
	return SplitGap
}
