package features

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"retain/datasets"
)

// Version is the version of the feature definitions (2: static features
// last_class_<category> added; 3: the ltv indicator is the BG/NBD and
// Gamma-Gamma expected spend of FeatureSpec.LTV instead of the annualised
// 52-week spend times Values.LifetimeYears, and the static habit and
// billing columns of habits.go are added; 4: the spec holds the courses'
// timetable and the static choice_log_pred_<category> columns of choice.go
// are added). It changes whenever a
// feature's meaning or order changes, so that a model bundle trained on one
// version is never served features of another.
const Version = 4

// FeatureSpec names every column the features produce, in order, with the
// vocabularies and the Config they were computed with. A model bundle stores
// its FeatureSpec; the server builds its Featurizer from it.
type FeatureSpec struct {
	Version int
	Config  Config
	// Sequence names the per-week features, the columns of Example.Seq.
	Sequence []string
	// Static names the static features, the columns of Example.Static.
	Static []string
	// Indicators names the indicator vector of Indicators.Vector.
	Indicators []string
	// Categories are the class categories, sorted; NextCategory labels index
	// them.
	Categories []string
	// Courses are the course ids, sorted; NextCourse labels index them.
	// CourseCategory[i] is the index in Categories of Courses[i].
	Courses        []string
	CourseCategory []int
	// CourseClub and CourseWeekday are the timetable: the club of
	// Courses[i] ("" for every club) and its ISO weekday (1 = Monday .. 7
	// = Sunday; 0 for a course not scheduled weekly, offered every day).
	// The choice_log_pred_<category> features read which categories a
	// club offers on a weekday from them (choice.go).
	CourseClub    []string
	CourseWeekday []int
	// Clubs are the home clubs, sorted; a club not in the list is "other".
	Clubs []string
	// LTV is the model of the ltv indicator, fitted by Build on the
	// training split (NewSpec: naive, "not fitted").
	LTV LTVModel
	// Choice is the fitted part of the choice features (choice.go), fitted
	// by Build on the training split (NewSpec: not fitted).
	Choice ChoiceModel
}

// NoLastClass names the static feature set when the member attended no
// class before the cutoff (the last_class_<category> group's "none"). It
// cannot collide with "last_class_" + a category name.
const NoLastClass = "no_class_yet"

// Names of the sequence features that do not depend on the vocabularies.
const (
	SeqVisits            = "visits"
	SeqOpenGym           = "open_gym_visits"
	SeqMinutes           = "minutes"
	SeqDaysSinceVisit    = "days_since_last_visit"
	SeqDaysToContractEnd = "days_to_contract_end"
	SeqOpenEnded         = "contract_open_ended"
	SeqTenure            = "tenure_weeks_log1p"
	SeqWeekSin           = "week_of_year_sin"
	SeqWeekCos           = "week_of_year_cos"
	seqClassPrefix       = "class_"
	seqSpendPrefix       = "spend_"
)

// Age bands of the static features, by age in whole years at the cutoff
// (the cutoff's year minus the birth year).
var ageBands = []string{"under_25", "25_34", "35_44", "45_54", "55_64", "65_plus", "unknown"}

func ageBand(birthYear, year int) int {
	if birthYear <= 0 {
		return len(ageBands) - 1
	}
	a := year - birthYear
	switch {
	case a < 0:
		return len(ageBands) - 1
	case a < 25:
		return 0
	case a >= 65:
		return 5
	default:
		return (a-25)/10 + 1
	}
}

var genderNames = []string{"unknown", "female", "male", "other"}

// NoCategory is the single category of a spec whose data has no courses.
const NoCategory = "none"

// NewSpec returns the spec for cfg with the categories and course ids of
// courses and the given home clubs. Duplicate courses keep their first
// category.
func NewSpec(cfg Config, courses []datasets.Course, clubs []string) (*FeatureSpec, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &FeatureSpec{Version: Version, Config: cfg}
	s.LTV = naiveLTV(&cfg, ltvNotFitted)
	catSet := map[string]bool{}
	courseCat := map[string]string{}
	first := map[string]*datasets.Course{}
	for i := range courses {
		c := &courses[i]
		if _, dup := courseCat[c.CourseID]; dup {
			continue
		}
		courseCat[c.CourseID] = c.Category
		first[c.CourseID] = c
		catSet[c.Category] = true
	}
	for c := range catSet {
		s.Categories = append(s.Categories, c)
	}
	sort.Strings(s.Categories)
	if len(s.Categories) == 0 {
		// Data without classes (CDNOW, a shop): one placeholder category
		// so that the network's next-class head has a class. No visit
		// counts towards it and no example has it as its next class.
		s.Categories = []string{NoCategory}
	}
	for id := range courseCat {
		s.Courses = append(s.Courses, id)
	}
	sort.Strings(s.Courses)
	s.CourseCategory = make([]int, len(s.Courses))
	s.CourseClub = make([]string, len(s.Courses))
	s.CourseWeekday = make([]int, len(s.Courses))
	for i, id := range s.Courses {
		s.CourseCategory[i], _ = slices.BinarySearch(s.Categories, courseCat[id])
		c := first[id]
		s.CourseClub[i] = c.Club
		if c.Weekday >= 1 && c.Weekday <= 7 {
			s.CourseWeekday[i] = c.Weekday
		}
	}
	s.Clubs = append([]string(nil), clubs...)
	sort.Strings(s.Clubs)
	s.Clubs = slices.Compact(s.Clubs)
	s.names()
	return s, nil
}

// names fills Sequence, Static and Indicators from the vocabularies.
func (s *FeatureSpec) names() {
	s.Sequence = []string{SeqVisits, SeqOpenGym}
	for _, c := range s.Categories {
		s.Sequence = append(s.Sequence, seqClassPrefix+c)
	}
	s.Sequence = append(s.Sequence, SeqMinutes)
	for _, k := range datasets.TxKinds {
		s.Sequence = append(s.Sequence, seqSpendPrefix+k.String())
	}
	s.Sequence = append(s.Sequence, SeqDaysSinceVisit, SeqDaysToContractEnd, SeqOpenEnded, SeqTenure, SeqWeekSin, SeqWeekCos)

	s.Static = nil
	for _, t := range tierNames {
		s.Static = append(s.Static, "tier_"+t)
	}
	for _, c := range datasets.ContractTypes {
		s.Static = append(s.Static, "contract_"+c.String())
	}
	for _, a := range ageBands {
		s.Static = append(s.Static, "age_"+a)
	}
	for _, g := range genderNames {
		s.Static = append(s.Static, "gender_"+g)
	}
	for _, c := range s.Clubs {
		s.Static = append(s.Static, "club_"+c)
	}
	s.Static = append(s.Static, "club_other")
	for _, c := range s.Categories {
		s.Static = append(s.Static, "last_class_"+c)
	}
	s.Static = append(s.Static, NoLastClass)
	s.Static = append(s.Static, habitNames(s.Categories)...)
	s.Static = append(s.Static, choiceNames(s.Categories)...)
	s.Indicators = append([]string(nil), indicatorNames...)
}

// ErrSpec reports a FeatureSpec that does not match this package's
// definitions; checked with errors.Is.
var ErrSpec = errors.New("features: feature spec mismatch")

// Check reports whether s was made by this version of the package from its
// own vocabularies: same Version, and names that NewSpec would give.
func (s *FeatureSpec) Check() error {
	if s.Version != Version {
		return fmt.Errorf("%w: version %d, this package computes version %d", ErrSpec, s.Version, Version)
	}
	if len(s.CourseCategory) != len(s.Courses) {
		return fmt.Errorf("%w: %d courses but %d course categories", ErrSpec, len(s.Courses), len(s.CourseCategory))
	}
	for i, c := range s.CourseCategory {
		if c < 0 || c >= len(s.Categories) {
			return fmt.Errorf("%w: course %q has category index %d of %d", ErrSpec, s.Courses[i], c, len(s.Categories))
		}
	}
	if len(s.CourseClub) != len(s.Courses) || len(s.CourseWeekday) != len(s.Courses) {
		return fmt.Errorf("%w: %d courses but a timetable of %d clubs and %d weekdays", ErrSpec, len(s.Courses), len(s.CourseClub), len(s.CourseWeekday))
	}
	for i, d := range s.CourseWeekday {
		if d < 0 || d > 7 {
			return fmt.Errorf("%w: course %q has weekday %d, want 0 (not weekly) or 1..7", ErrSpec, s.Courses[i], d)
		}
	}
	if !slices.IsSorted(s.Courses) || !slices.IsSorted(s.Clubs) || !slices.IsSorted(s.Categories) {
		return fmt.Errorf("%w: vocabularies not sorted", ErrSpec)
	}
	want := *s
	want.names()
	for _, p := range []struct {
		what      string
		got, want []string
	}{{"sequence", s.Sequence, want.Sequence}, {"static", s.Static, want.Static}, {"indicator", s.Indicators, want.Indicators}} {
		if !slices.Equal(p.got, p.want) {
			return fmt.Errorf("%w: %s features %v, want %v", ErrSpec, p.what, p.got, p.want)
		}
	}
	if err := s.Config.Validate(); err != nil {
		return err
	}
	if err := s.Choice.check(len(s.Categories)); err != nil {
		return err
	}
	return s.LTV.check(&s.Config)
}
