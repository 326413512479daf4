package synth

import (
	"fmt"
	"math/rand/v2"

	"retain/datasets"
)

// The course categories, in the fixed order used by Truth.NextCategory and
// the truth file's next_* columns.
const (
	catYoga = iota
	catPilates
	catSpinning
	catHIIT
	catStrength
	catBoxing
	catSwimming
	catDance
	catStretching
	catPostnatal
	catRunning
	catPT
	catAqua
	catZumba
	numCats
)

// catInfo describes one course category.
type catInfo struct {
	name     string
	pop      float64    // population-level popularity (relative weight)
	dur      int        // typical class length in minutes
	capacity int        // places per session
	slots    int        // weekly slots per club (before a random ±1)
	pool     bool       // needs a pool: offered only at clubs with one
	tod      [4]float64 // relative weight of the four time-of-day buckets for slots
	names    []string   // course display names
}

var cats = [numCats]catInfo{
	catYoga:       {"yoga", 1.4, 60, 24, 3, false, [4]float64{1, 2, 1, 2}, []string{"Vinyasa Yoga", "Hatha Yoga", "Yin Yoga", "Power Yoga"}},
	catPilates:    {"pilates", 1.1, 50, 18, 2, false, [4]float64{1, 2, 1, 2}, []string{"Mat Pilates", "Pilates Core", "Reformer Pilates"}},
	catSpinning:   {"spinning", 1.3, 45, 28, 3, false, [4]float64{3, 1, 1, 3}, []string{"Spin 45", "Rhythm Ride", "Spin Endurance"}},
	catHIIT:       {"hiit", 1.2, 40, 25, 3, false, [4]float64{3, 1, 2, 3}, []string{"HIIT Express", "Tabata", "Metcon"}},
	catStrength:   {"strength", 1.2, 55, 20, 2, false, [4]float64{2, 1, 1, 3}, []string{"Body Pump", "Kettlebell Strength", "Barbell Club"}},
	catBoxing:     {"boxing", 0.8, 50, 20, 2, false, [4]float64{1, 0, 1, 4}, []string{"Boxfit", "Kickboxing", "Boxing Technique"}},
	catSwimming:   {"swimming", 0.8, 45, 16, 2, true, [4]float64{3, 2, 1, 2}, []string{"Swim Technique", "Lane Swim Coaching", "Masters Swim"}},
	catDance:      {"dance", 0.6, 55, 30, 2, false, [4]float64{0, 1, 1, 3}, []string{"Dance Cardio", "Latin Dance", "Barre Dance"}},
	catStretching: {"stretching", 0.7, 30, 25, 2, false, [4]float64{1, 2, 2, 2}, []string{"Stretch & Mobility", "Foam Roll & Stretch"}},
	catPostnatal:  {"postnatal_recovery", 0.25, 45, 12, 1, false, [4]float64{0, 4, 1, 0}, []string{"Postnatal Recovery", "Mum & Baby Fit"}},
	catRunning:    {"running_club", 0.4, 60, 30, 1, false, [4]float64{3, 0, 0, 2}, []string{"Running Club", "Run Crew Intervals"}},
	catPT:         {"personal_training", 0.6, 60, 1, 0, false, [4]float64{2, 2, 1, 3}, []string{"Personal Training"}},
	catAqua:       {"aqua", 0.5, 45, 20, 1, true, [4]float64{1, 3, 1, 1}, []string{"Aqua Fit", "Aqua Jogging"}},
	catZumba:      {"zumba", 0.7, 55, 30, 2, false, [4]float64{0, 2, 1, 3}, []string{"Zumba", "Zumba Gold"}},
}

// Categories returns the course categories in their fixed order: the order
// of Truth.NextCategory and of the next_* columns of the truth file.
func Categories() []string {
	out := make([]string, numCats)
	for i := range cats {
		out[i] = cats[i].name
	}
	return out
}

// Time-of-day buckets: [start, end) in minutes after local midnight.
var todBuckets = [4][2]int{
	{6*60 + 0, 9 * 60},    // early morning
	{9 * 60, 12 * 60},     // late morning
	{12 * 60, 17 * 60},    // midday and afternoon
	{17 * 60, 21*60 + 30}, // evening
}

// slotTimes are the class start times offered per bucket on weekdays.
var slotTimes = [4][]int{
	{6*60 + 30, 7 * 60, 7*60 + 15},
	{9 * 60, 9*60 + 30, 10 * 60, 10*60 + 30},
	{12*60 + 15, 12*60 + 30, 13 * 60, 16 * 60},
	{17*60 + 30, 18 * 60, 18*60 + 30, 19 * 60, 19*60 + 30, 20 * 60},
}

// affinities is the global "which class follows which" structure: after a
// class of the first category, the second is strongly favoured. It is mixed
// with each member's own habits (member.trans).
var affinities = [][2]int{
	{catSpinning, catStrength}, {catStrength, catHIIT}, {catHIIT, catBoxing},
	{catBoxing, catHIIT}, {catYoga, catPilates}, {catPilates, catStretching},
	{catStretching, catYoga}, {catRunning, catStrength}, {catSwimming, catAqua},
	{catAqua, catSwimming}, {catDance, catZumba}, {catZumba, catDance},
	{catPostnatal, catPilates}, {catPT, catStrength}, {catStrength, catSpinning},
	{catHIIT, catSpinning}, {catYoga, catStretching},
}

// globalTrans returns the global category transition matrix G: G[c][k] is
// the relative tendency to take k after c (rows sum to 1). Weight 1 for
// every pair, +2 for a repeat of the same category, +4 for an affinity pair.
func globalTrans() [numCats][numCats]float64 {
	var g [numCats][numCats]float64
	for c := range numCats {
		for k := range numCats {
			g[c][k] = 1
		}
		g[c][c] += 2
	}
	for _, a := range affinities {
		g[a[0]][a[1]] += 4
	}
	for c := range numCats {
		var s float64
		for k := range numCats {
			s += g[c][k]
		}
		for k := range numCats {
			g[c][k] /= s
		}
	}
	return g
}

var clubNames = []string{"central", "riverside", "north", "harbour", "westpark", "old_town", "south", "airport"}

func clubName(i int) string {
	if i < len(clubNames) {
		return clubNames[i]
	}
	return fmt.Sprintf("club_%d", i+1)
}

// hasPool reports whether club i has a swimming pool (every other club).
func hasPool(i int) bool { return i%2 == 0 }

var coachFirst = []string{"Anna", "Ben", "Carla", "David", "Elif", "Felix", "Greta", "Hugo", "Ines", "Jonas",
	"Katja", "Luca", "Mara", "Nils", "Olga", "Paul", "Rosa", "Sami", "Tara", "Uwe", "Vera", "Yusuf", "Zoe", "Marek"}

// timetable is the weekly class schedule of every club.
type timetable struct {
	courses  []datasets.Course
	cat      []int8  // category of each course
	start    []int16 // start minute of each course (PT rows: 0)
	bucket   []uint8 // time-of-day bucket of each course
	slots    [][7][]int16
	mask     [][7]uint16 // categories with a slot on (club, weekday), PT excluded
	pt       []int16     // the personal-training course of each club
	offered  []uint16    // categories offered at each club (PT included)
	clubs    []string
	numClubs int
}

// newTimetable draws the weekly timetable of nclubs clubs from r.
//
// Every category gets cats[c].slots weekly slots per club (±1 at random,
// at least 1; pool categories only at clubs with a pool), on distinct
// (weekday, start time) pairs drawn by weekday weight and the category's
// time-of-day profile. Personal training is one unscheduled row per club
// (weekday 0, start time empty, capacity 1): sessions are booked at the
// member's preferred time.
func newTimetable(nclubs int, r *rand.Rand) *timetable {
	tt := &timetable{numClubs: nclubs, slots: make([][7][]int16, nclubs), mask: make([][7]uint16, nclubs),
		pt: make([]int16, nclubs), offered: make([]uint16, nclubs)}
	wdWeight := [7]float64{1.1, 1.2, 1.2, 1.1, 0.8, 0.7, 0.5}
	for club := range nclubs {
		cname := clubName(club)
		tt.clubs = append(tt.clubs, cname)
		coaches := make([]string, 0, 8)
		for len(coaches) < 7 {
			n := coachFirst[r.IntN(len(coachFirst))] + " " + string(rune('A'+r.IntN(26))) + "."
			if !contains(coaches, n) {
				coaches = append(coaches, n)
			}
		}
		type slot struct{ wd, min int }
		used := map[slot]bool{}
		for c := range numCats {
			ci := &cats[c]
			if ci.pool && !hasPool(club) {
				continue
			}
			coach := coaches[r.IntN(len(coaches))]
			if c == catPT {
				idx := len(tt.courses)
				tt.addCourse(datasets.Course{
					CourseID: courseID(idx), Name: ci.names[0], Category: ci.name, Coach: "", Club: cname,
					Weekday: 0, StartTime: "", Capacity: ci.capacity,
				}, c, 0, 0)
				tt.pt[club] = int16(idx)
				tt.offered[club] |= 1 << c
				continue
			}
			n := ci.slots + r.IntN(3) - 1
			if n < 1 {
				n = 1
			}
			for range n {
				var s slot
				var b int
				for try := 0; ; try++ {
					wd := pickWeights(r, wdWeight[:])
					b = pickWeights(r, ci.tod[:])
					var m int
					if wd >= 5 { // weekends: mornings only
						b = 1
						m = []int{9 * 60, 9*60 + 30, 10 * 60, 10*60 + 30, 11 * 60}[r.IntN(5)]
					} else {
						ts := slotTimes[b]
						m = ts[r.IntN(len(ts))]
					}
					s = slot{wd, m}
					if !used[s] || try > 50 {
						break
					}
				}
				used[s] = true
				if r.IntN(3) == 0 {
					coach = coaches[r.IntN(len(coaches))]
				}
				idx := len(tt.courses)
				tt.addCourse(datasets.Course{
					CourseID: courseID(idx), Name: ci.names[r.IntN(len(ci.names))], Category: ci.name, Coach: coach,
					Club: cname, Weekday: s.wd + 1, StartTime: fmt.Sprintf("%02d:%02d", s.min/60, s.min%60),
					Capacity: ci.capacity,
				}, c, s.min, b)
				tt.slots[club][s.wd] = append(tt.slots[club][s.wd], int16(idx))
				tt.mask[club][s.wd] |= 1 << c
				tt.offered[club] |= 1 << c
			}
		}
	}
	return tt
}

func (tt *timetable) addCourse(c datasets.Course, cat, start, bucket int) {
	tt.courses = append(tt.courses, c)
	tt.cat = append(tt.cat, int8(cat))
	tt.start = append(tt.start, int16(start))
	tt.bucket = append(tt.bucket, uint8(bucket))
}

func courseID(i int) string { return fmt.Sprintf("C%03d", i+1) }

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
