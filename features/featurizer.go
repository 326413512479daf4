package features

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"retain/datasets"
)

// A Featurizer computes features, indicators and labels from member state
// under one FeatureSpec. It is safe for concurrent use.
type Featurizer struct {
	spec FeatureSpec
	cfg  *Config // &spec.Config
	loc  *time.Location

	courseIdx map[string]int32
	courseCat []int32
	clubIdx   map[string]int32
	tt        timetable
	nCat      int
	nSeq      int
	nStatic   int

	renewKind  [16]bool // by datasets.TxKind
	lapseType  [16]bool // by datasets.ContractType
	rw         renewalWindow
	hot, base  [13]bool // by month 1..12
	scale      float64  // minor units per major unit
	core, actv int64
	ltv        ltvCalc
	seasons    sync.Map // [2]int32{phase, year} -> *seasonWeeks

	// Column offsets in a sequence row.
	colCat, colMinutes, colSpend, colRecency, colToEnd, colOpen, colTenure, colSin, colCos int
}

// NewFeaturizer returns a Featurizer for spec, which it copies. The spec
// must pass Check.
func NewFeaturizer(spec *FeatureSpec) (*Featurizer, error) {
	if err := spec.Check(); err != nil {
		return nil, err
	}
	f := &Featurizer{spec: *spec}
	f.cfg = &f.spec.Config
	cfg := f.cfg
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("features: time zone: %w", err)
	}
	f.loc = loc
	f.courseIdx = make(map[string]int32, len(spec.Courses))
	f.courseCat = make([]int32, len(spec.Courses))
	for i, id := range spec.Courses {
		f.courseIdx[id] = int32(i)
		f.courseCat[i] = int32(spec.CourseCategory[i])
	}
	f.clubIdx = make(map[string]int32, len(spec.Clubs))
	for i, c := range spec.Clubs {
		f.clubIdx[c] = int32(i)
	}
	f.nCat = len(spec.Categories)
	f.tt = newTimetable(spec, f.clubIdx)
	f.nSeq = len(spec.Sequence)
	f.nStatic = len(spec.Static)
	for _, k := range cfg.Label.RenewalKinds {
		kind, _ := datasets.ParseTxKind(k) // checked by Validate
		f.renewKind[kind] = true
	}
	for _, t := range cfg.Label.LapseContractTypes {
		ct, _ := datasets.ParseContractType(t)
		f.lapseType[ct] = true
	}
	f.rw = renewalWindow{before: int32(cfg.Label.RenewBeforeDays), after: int32(cfg.Label.RenewAfterDays)}
	for _, m := range cfg.Flags.HotMonths {
		f.hot[m] = true
	}
	for _, m := range cfg.Flags.BaseMonths {
		f.base[m] = true
	}
	f.scale = 1
	for i := 0; i < cfg.Values.MinorUnits; i++ {
		f.scale *= 10
	}
	f.core, f.actv = cfg.Tier.Core, cfg.Tier.Active
	f.ltv = newLTVCalc(&f.spec.LTV)
	f.colCat = 2
	f.colMinutes = f.colCat + f.nCat
	f.colSpend = f.colMinutes + 1
	f.colRecency = f.colSpend + len(datasets.TxKinds)
	f.colToEnd = f.colRecency + 1
	f.colOpen = f.colToEnd + 1
	f.colTenure = f.colOpen + 1
	f.colSin = f.colTenure + 1
	f.colCos = f.colSin + 1
	return f, nil
}

// Spec returns a copy of the Featurizer's spec.
func (f *Featurizer) Spec() *FeatureSpec {
	s := f.spec
	return &s
}

// History is one member's record and events, as the scoring server holds
// them. Events may be in any order; events of other members are an error.
type History struct {
	Member       datasets.Member
	Attendance   []datasets.Attendance
	Transactions []datasets.Transaction
}

// Example is one member at one cutoff: the model's input, the indicators
// and the labels.
type Example struct {
	MemberID string
	// Cutoff is the instant t: the start of a day in Config.TimeZone.
	Cutoff time.Time
	// Seq holds Weeks rows of len(Spec.Sequence) values, oldest week first;
	// the last row is the week that ends at Cutoff.
	Seq []float32
	// Mask[i] is 1 when the member had joined by the end of week i, else 0
	// (and the week's row is all zeros).
	Mask []float32
	// Static holds len(Spec.Static) values.
	Static     []float32
	Indicators Indicators
	Label      Label
	// Split is the time split of the cutoff (SplitNone outside a training
	// file).
	Split Split
}

// Label holds the labels of an example. See docs/labels.md.
type Label struct {
	// Churn is 1 (churned in the horizon), 0 (retained) or -1 (unknown:
	// Censored).
	Churn int8
	// Censored is set when the horizon, or a contract's renewal window that
	// decides the label, runs past the end of the data.
	Censored bool
	// Excluded is set when the member was already churned at the cutoff, or
	// cannot churn under the label kind (an open-ended contract under
	// LabelCancellation). Training skips such examples.
	Excluded bool
	// NextCategory and NextCourse index Spec.Categories and Spec.Courses by
	// the first class attended in the horizon; -1 when there is none.
	NextCategory, NextCourse int32
}

// ErrNotJoined is returned for a cutoff at or before the member's join
// day; checked with errors.Is.
var ErrNotJoined = errors.New("features: member had not joined by the cutoff")

// ErrWrongMember is returned for a History holding another member's event.
var ErrWrongMember = errors.New("features: event of another member")

// Compute returns member h's example at cutoff t. t is rounded down to the
// start of its day in Config.TimeZone, and the weeks end at that instant.
// Only events before it enter Seq, Static and Indicators. Labels are
// computed from the events after it, up to Config.DataEnd; with a zero
// DataEnd the history is taken to end at the cutoff and the label is
// censored.
//
// This is the same code that the batch Builder runs; for a cutoff on the
// batch week grid the results are bit-identical.
func (f *Featurizer) Compute(h *History, t time.Time) (*Example, error) {
	clk := newClock(f.loc)
	td := clk.day(t)
	endDay := td
	if !f.cfg.DataEnd.IsZero() {
		endDay = clk.day(f.cfg.DataEnd)
	}
	return f.computeUntil(h, td, endDay)
}

// computeUntil is Compute at cutoff day td with the observation ending at
// the start of day endDay (Compute takes it from Config.DataEnd).
func (f *Featurizer) computeUntil(h *History, td, endDay int32) (*Example, error) {
	clk := newClock(f.loc)
	g := grid{phase: int32(floorMod(int64(td), 7))}
	m := member{memberStatic: f.memberStatic(&h.Member, &clk)}
	if m.join >= td {
		return nil, fmt.Errorf("%w: member %s joined %s, cutoff %s", ErrNotJoined, h.Member.MemberID,
			h.Member.JoinedAt.Format(time.RFC3339), clk.instant(td).Format(time.RFC3339))
	}
	m.att.classes = make([]classEv, 0, len(h.Attendance)) // at most one a visit: no regrowth
	for i := range h.Attendance {
		a := &h.Attendance[i]
		if a.MemberID != h.Member.MemberID {
			return nil, fmt.Errorf("%w: attendance %s is of member %s, history of %s", ErrWrongMember, a.EventID, a.MemberID, h.Member.MemberID)
		}
		f.addAttendance(&m.att, g, &clk, a)
	}
	for i := range h.Transactions {
		x := &h.Transactions[i]
		if x.MemberID != h.Member.MemberID {
			return nil, fmt.Errorf("%w: transaction %s is of member %s, history of %s", ErrWrongMember, x.EventID, x.MemberID, h.Member.MemberID)
		}
		f.addTransaction(&m.tx, g, &clk, x)
	}
	ex := &Example{}
	f.exampleAt(g, &m, &clk, td, endDay, ex)
	return ex, nil
}

// exampleAt computes the example of member m at cutoff day td, with the
// observation ending at the start of day endDay, into ex, reusing its
// slices: the one tail that Compute, AsOf.Example and the leave-last-week
// split share.
func (f *Featurizer) exampleAt(g grid, m *member, clk *clock, td, endDay int32, ex *Example) {
	T := int32(f.cfg.Weeks)
	tw := g.week(td)
	ex.MemberID = m.id
	ex.Cutoff = clk.instant(td)
	ex.Seq = growF32(ex.Seq, int(T)*f.nSeq)
	ex.Mask = growF32(ex.Mask, int(T))
	ex.Static = growF32(ex.Static, f.nStatic)
	clear(ex.Seq)
	clear(ex.Mask)
	clear(ex.Static)
	ex.Split = SplitNone
	f.rows(g, m, tw-T, tw, ex.Seq, ex.Mask)
	ex.Indicators = f.indicatorsAt(g, m, td)
	f.staticAt(g, m, td, &ex.Indicators, ex.Static)
	ex.Label = f.labelAt(g, m, td, endDay)
}

// memberStatic converts a members-table row.
func (f *Featurizer) memberStatic(m *datasets.Member, clk *clock) memberStatic {
	s := memberStatic{
		id:        m.MemberID,
		join:      clk.day(m.JoinedAt),
		start:     dateDay(m.ContractStart),
		birthYear: m.BirthYear,
		ctype:     m.ContractType,
		club:      -1,
	}
	switch m.Gender {
	case "female":
		s.gender = genderFemale
	case "male":
		s.gender = genderMale
	case "other":
		s.gender = genderOther
	}
	if i, ok := f.clubIdx[m.HomeClub]; ok {
		s.club = i
	}
	lapses := int(m.ContractType) < len(f.lapseType) && f.lapseType[m.ContractType]
	s.contract = newContract(m, lapses, s.join)
	return s
}

// addAttendance adds one visit to st and returns its day and whether its
// course is missing from the vocabulary. The batch Builder and Compute both
// add events through it and addTransaction.
func (f *Featurizer) addAttendance(st *attState, g grid, clk *clock, a *datasets.Attendance) (day int32, unknownCourse bool) {
	course, cat := courseOpenGym, int32(-1)
	if a.CourseID != "" {
		if i, ok := f.courseIdx[a.CourseID]; ok {
			course, cat = i, f.courseCat[i]
		} else {
			course, unknownCourse = courseUnknown, true
		}
	}
	day = clk.day(a.TS)
	st.addVisit(g, f.nCat, day, a.TS.Unix(), course, cat, a.DurationMin)
	return day, unknownCourse
}

// addTransaction adds one transaction to st and returns its day.
func (f *Featurizer) addTransaction(st *txState, g grid, clk *clock, x *datasets.Transaction) int32 {
	renewal := int(x.Kind) < len(f.renewKind) && f.renewKind[x.Kind]
	day := clk.day(x.TS)
	st.addTx(g, day, x.Kind, x.Amount, renewal)
	return day
}
