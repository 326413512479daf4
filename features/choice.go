package features

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"time"
)

// This file holds the static choice_log_pred_<category> features: the
// member's next class category as a choice among the categories the
// timetable offers when and where the member trains (docs/features.md,
// "Choice features").
//
// A member can only take a class that is on the timetable that day at that
// club. Class counts therefore mix what the member likes with what was
// offered: a yoga lover who trains on the days the club has no yoga takes
// other classes, and the next class will again be among what those days
// offer. The features model each class j of a member as a choice from the
// categories O_j offered on its day (its club and weekday, from the courses
// table), given the category p of the class before:
//
//	b_p(k) ∝ π_k·F[p][k]
//	P(k | p, O, f) = ((1−h)·b_p(k) + h·[k=f]) / ((1−h)·Σ_{l∈O} b_p(l) + h·[f∈O])
//
// a Luce choice model with a habit: π is the member's preferences, F a
// "what follows what" matrix shared by all members, f the member's own
// favourite follow-up of category p (unknown, summed out under the prior
// b_p) and h its weight. F, the preferences' prior mean, h and the weekday
// mix of first classes are fitted on the training split by Build
// (FeatureSpec.Choice); π is fitted per member and cutoff, by the
// minorise-maximise iteration of Hunter ("MM algorithms for generalized
// Bradley-Terry models", Annals of Statistics 32, 2004). The next class is
// predicted over the offered sets of the days on which the member took the
// first class of a week (the label is the first class after a cutoff), of
// the days of the first visit of a week, and of the home club's weekdays
// (memberChoices).

// StaticChoicePrefix names the choice features, one per category.
const StaticChoicePrefix = "choice_log_pred_"

// Choice model constants.
const (
	// choicePrior is the total pseudo-count of the preference prior: that
	// many pseudo-choices spread over the categories the member could take
	// (the home club's and those of every offered set the member chose
	// from) in proportion to ChoiceModel.Prior (evenly when not fitted),
	// each made from all of them with no class before. It shrinks a short
	// history towards the population.
	choicePrior = 2.0
	// choiceDayPrior is the total weight of the home club's seven weekdays
	// (in proportion to ChoiceModel.Weekdays) beside the member's own days
	// of a week's first class (weight 1 each) in the model of where and
	// when the next class is taken.
	choiceDayPrior = 12.0
	// choiceVisitWeight is the weight of the day of each week's first
	// visit (open gym included) beside the days of first classes.
	choiceVisitWeight = 0.25
	// choiceIters is the most MM iterations of a member's preferences;
	// they stop once no preference moves by choiceTol or more.
	choiceIters = 20
	choiceTol   = 1e-4
	// choiceFitRounds alternates the members' preferences and the follow
	// matrix that many times when Build fits the matrix.
	choiceFitRounds = 6
	// choiceFloor keeps a category that no offered set holds finite:
	// ln(C·(P + ε)/(1 + C·ε)).
	choiceFloor = 1e-3
	// choiceHabitGrid is the number of habit weights tried by
	// fitChoiceModel: i/(choiceHabitGrid+1) for i = 1..choiceHabitGrid.
	choiceHabitGrid = 19
	// maxChoiceCats is the most categories the choice features model (one
	// bit each); with more, the columns are 0.
	maxChoiceCats = 64
)

// ChoiceModel is the part of the choice features fitted on the training
// split (FeatureSpec.Choice).
type ChoiceModel struct {
	// Follow[p+1][k] is F[p][k], the weight of category k for a class
	// that follows one of category p (row 0: no class before), each row
	// scaled to mean 1. Nil: not fitted, every weight 1.
	Follow [][]float64 `json:",omitempty"`
	// Prior is the mean of the training members' preferences (fitted with
	// an even prior), the shape of the preference prior; nil: even.
	Prior []float64 `json:",omitempty"`
	// Weekdays[d] is the share of weekday d (time.Weekday) among the days
	// of the training members' first class of a week; nil: 1/7 each.
	Weekdays []float64 `json:",omitempty"`
	// Habit is the weight h of the member's favourite follow-up of the
	// last class's category (followPosterior); 0: none.
	Habit float64
	// Choices is the number of training classes it was fitted on, Members
	// the number of members they came from.
	Choices, Members int
}

// check reports whether cm fits nCat categories.
func (cm *ChoiceModel) check(nCat int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: choice model: %s", ErrSpec, fmt.Sprintf(format, args...))
	}
	nonNeg := func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) } // false for NaN too
	if cm.Follow != nil {
		if len(cm.Follow) != nCat+1 {
			return bad("follow matrix has %d rows, want %d", len(cm.Follow), nCat+1)
		}
		for i, r := range cm.Follow {
			if len(r) != nCat {
				return bad("follow matrix row %d has %d columns, want %d", i, len(r), nCat)
			}
			for _, v := range r {
				if !nonNeg(v) {
					return bad("follow matrix row %d holds %v", i, v)
				}
			}
		}
	}
	if cm.Prior != nil && len(cm.Prior) != nCat {
		return bad("prior of %d categories, want %d", len(cm.Prior), nCat)
	}
	if cm.Weekdays != nil && len(cm.Weekdays) != 7 {
		return bad("%d weekday shares, want 7", len(cm.Weekdays))
	}
	for _, v := range append(slices.Clone(cm.Prior), cm.Weekdays...) {
		if !nonNeg(v) {
			return bad("prior or weekday share %v", v)
		}
	}
	if !(cm.Habit >= 0 && cm.Habit < 1) {
		return bad("habit weight %v, want [0, 1)", cm.Habit)
	}
	return nil
}

// ChoiceColumn returns the index in s.Static of the first choice column
// (StaticChoicePrefix and the first category; the others follow in the
// categories' order), or -1 when s has none.
func (s *FeatureSpec) ChoiceColumn() int {
	if len(s.Categories) == 0 {
		return -1
	}
	return slices.Index(s.Static, StaticChoicePrefix+s.Categories[0])
}

// onesFollow returns the follow matrix of an unfitted choice model: C+1
// rows of C ones.
func onesFollow(C int) [][]float64 {
	out := make([][]float64, C+1)
	for i := range out {
		out[i] = make([]float64, C)
		for k := range out[i] {
			out[i][k] = 1
		}
	}
	return out
}

// firstOfWeek reports whether class i of the time-ordered classes is the
// first of its week of grid g.
func firstOfWeek(classes []classEv, i int, g grid) bool {
	return i == 0 || g.week(classes[i-1].day) != g.week(classes[i].day)
}

// choiceNames returns the names of the columns choiceAt writes.
func choiceNames(categories []string) []string {
	out := make([]string, 0, len(categories))
	for _, c := range categories {
		out = append(out, StaticChoicePrefix+c)
	}
	return out
}

// classEv is one class a member attended.
type classEv struct {
	ts     int64 // unix seconds
	day    int32
	course int16
}

func cmpClass(a, b classEv) int {
	if c := cmp.Compare(a.ts, b.ts); c != 0 {
		return c
	}
	return cmp.Compare(a.course, b.course)
}

// timetable holds the categories offered by club and weekday, as bit sets
// over the categories, and the fitted follow matrix.
type timetable struct {
	// offered[club][weekday] (time.Weekday, Sunday = 0) for club indices
	// of FeatureSpec.Clubs, the last one for a club not in it; it includes
	// the courses of every club ("" in the courses table) and those not
	// scheduled weekly.
	offered [][7]uint64
	// club is the club index of each course, -1 for every club.
	club   []int32
	follow [][]float64 // FeatureSpec.Choice.Follow, all ones when not fitted
	ok     bool        // at most maxChoiceCats categories
}

// newTimetable builds the timetable of spec.
func newTimetable(spec *FeatureSpec, clubIdx map[string]int32) timetable {
	nClub := len(spec.Clubs) + 1
	nCat := len(spec.Categories)
	tt := timetable{offered: make([][7]uint64, nClub), club: make([]int32, len(spec.Courses)), ok: nCat <= maxChoiceCats}
	if !tt.ok {
		return tt
	}
	tt.follow = spec.Choice.Follow
	if tt.follow == nil {
		tt.follow = onesFollow(nCat)
	}
	for i := range spec.Courses {
		bit := uint64(1) << spec.CourseCategory[i]
		ci := int32(-1)
		if c := spec.CourseClub[i]; c != "" {
			ci = int32(nClub - 1)
			if j, ok := clubIdx[c]; ok {
				ci = j
			}
		}
		tt.club[i] = ci
		for club := range nClub {
			if ci >= 0 && int32(club) != ci {
				continue
			}
			for wd := range 7 {
				if d := spec.CourseWeekday[i]; d == 0 || d%7 == wd {
					tt.offered[club][wd] |= bit
				}
			}
		}
	}
	return tt
}

// choiceObs is n observed choices of category k from offered set mask
// after a class of category prev (-1 none).
type choiceObs struct {
	k, prev int8
	mask    uint64
	n       float64
}

// compactObs merges the choices of obs that agree in category, category
// before and offered set, summing their counts, in place; the order of
// first appearance is kept. The fits read sums over choices only, so they
// give the same result on the merged list, with a member's hundreds of
// classes down to a few dozen entries.
func compactObs(obs []choiceObs) []choiceObs {
	out := obs[:0]
next:
	for _, o := range obs {
		for i := range out {
			if out[i].k == o.k && out[i].prev == o.prev && out[i].mask == o.mask {
				out[i].n += o.n
				continue next
			}
		}
		out = append(out, o)
	}
	return out
}

// maskN is an offered set with a weight.
type maskN struct {
	mask uint64
	n    float64
}

func addMaskN(ms []maskN, m uint64, w float64) []maskN {
	for i := range ms {
		if ms[i].mask == m {
			ms[i].n += w
			return ms
		}
	}
	return append(ms, maskN{m, w})
}

// memberChoices returns the member's classes before day td as choices in
// time order, the support (every category the member could take: the home
// club's and those of every offered set) and the offered sets, with their
// weights, of the days of the member's first class of a week (weeks ending
// at td), of the days of the first visit of a week (grid g's weeks before
// td's) at the home club, and of the home club's weekdays. buf holds the
// classes before td in time order; buf, obs and days are reused.
func (f *Featurizer) memberChoices(g grid, m *member, td int32, buf []classEv, obs []choiceObs, days []maskN) ([]classEv, []choiceObs, []maskN, uint64) {
	tt := &f.tt
	home := int32(len(tt.offered) - 1)
	if m.club >= 0 {
		home = m.club
	}
	buf = buf[:0]
	for _, c := range m.att.classes {
		if c.day < td && int(c.course) < len(tt.club) {
			buf = append(buf, c)
		}
	}
	if !slices.IsSortedFunc(buf, cmpClass) {
		slices.SortFunc(buf, cmpClass)
	}
	var support uint64
	obs, days = obs[:0], days[:0]
	prev := int8(-1)
	// Weeks that end at td: the label is the first class after td, as a
	// week's first class is the first after its start.
	g0 := grid{phase: int32(floorMod(int64(td), 7))}
	for i, c := range buf {
		k := int8(f.courseCat[c.course])
		club := tt.club[c.course]
		if club < 0 {
			club = home
		}
		mask := tt.offered[club][weekdayOf(c.day)] | 1<<k
		obs = append(obs, choiceObs{k: k, prev: prev, mask: mask, n: 1})
		if firstOfWeek(buf, i, g0) {
			days = addMaskN(days, mask, 1)
		}
		support |= mask
		prev = k
	}
	// The day of each week's first visit, open gym included, at the home
	// club: when the member comes, which a member with few classes shows
	// only this way.
	tw := g.week(td)
	for _, b := range m.att.weeks {
		if b.week >= tw {
			break
		}
		if b.days == 0 {
			continue
		}
		d0 := int32(bits.TrailingZeros8(b.days))
		if o := tt.offered[home][weekdayOf(g.start(b.week)+d0)]; o != 0 {
			days = addMaskN(days, o, choiceVisitWeight)
		}
	}
	for wd := range 7 {
		if o := tt.offered[home][wd]; o != 0 {
			w := 1.0 / 7
			if wds := f.spec.Choice.Weekdays; len(wds) == 7 {
				w = wds[wd]
			}
			days = addMaskN(days, o, choiceDayPrior*w)
			support |= o
		}
	}
	return buf, obs, days, support
}

// fitPrefs fits the member's preferences pi (len C) to the choices obs
// under follow matrix follow with the prior over support, by MM. n and den
// are scratch of len C.
func fitPrefs(obs []choiceObs, support uint64, follow [][]float64, prior, pi, n, den []float64) {
	C := len(pi)
	clear(n)
	clear(pi)
	var nSup float64
	for k := range C {
		if support&(1<<k) != 0 {
			if prior != nil {
				nSup += prior[k]
			} else {
				nSup++
			}
		}
	}
	if nSup <= 0 { // a fitted prior that is 0 on the whole support
		prior, nSup = nil, float64(bits.OnesCount64(support))
	}
	for k := range C {
		if support&(1<<k) != 0 {
			n[k] = choicePrior / nSup
			if prior != nil {
				n[k] *= prior[k]
			}
		}
	}
	for _, o := range obs {
		n[o.k] += o.n
	}
	for k := range C {
		pi[k] = n[k]
	}
	normalize(pi)
	for range choiceIters {
		clear(den)
		// The prior's pseudo-choices: from the whole support, no class
		// before, weights 1.
		z := maskSum(pi, nil, support)
		for k := range C {
			if support&(1<<k) != 0 {
				den[k] += choicePrior / z
			}
		}
		for _, o := range obs {
			row := follow[o.prev+1]
			z := maskSum(pi, row, o.mask)
			if z <= 0 {
				continue
			}
			w := o.n / z
			for m := o.mask; m != 0; m &= m - 1 {
				k := bits.TrailingZeros64(m)
				den[k] += w * row[k]
			}
		}
		var s float64
		for k := range C {
			den[k] = n[k] / max(den[k], math.SmallestNonzeroFloat64) // the new π, unnormalised
			s += den[k]
		}
		var moved float64
		for k := range C {
			v := den[k] / s
			moved = max(moved, math.Abs(v-pi[k]))
			pi[k] = v
		}
		if moved < choiceTol {
			break
		}
	}
}

// normalize scales v to sum 1 (leaves it when its sum is not positive).
func normalize(v []float64) {
	var s float64
	for _, x := range v {
		s += x
	}
	if s > 0 {
		for i := range v {
			v[i] /= s
		}
	}
}

// maskSum returns Σ_{k∈mask} pi_k·w_k (w_k = 1 when w is nil). mask has
// no bit at or past len(pi).
func maskSum(pi, w []float64, mask uint64) float64 {
	var z float64
	if w == nil {
		for m := mask; m != 0; m &= m - 1 {
			z += pi[bits.TrailingZeros64(m)]
		}
		return z
	}
	for m := mask; m != 0; m &= m - 1 {
		k := bits.TrailingZeros64(m)
		z += pi[k] * w[k]
	}
	return z
}

// choiceAt writes the choice features of member m at cutoff day td into dst
// (f.nCat values): ln(C·(P_k + ε)/(1 + C·ε)) of the predicted distribution
// of the category of the member's next class,
//
//	P_k = Σ_O q_O Σ_f w_f·P(k | p, O, f) / Σ_O q_O
//
// p the category of the member's last class before td (the row of no class
// before when there was none), q_O the weights of the offered sets of the
// days of the member's first class of a week before td (1 each), of its
// first visit of a week (choiceVisitWeight each) and of the home club's
// weekdays (choiceDayPrior in all; memberChoices), π fitted to the member's
// classes before td, and w the posterior of the favourite follow-up f given
// the classes that followed one of category p (followPosterior). 0 for
// every category when nothing is offered.
func (f *Featurizer) choiceAt(g grid, m *member, td int32, dst []float32) {
	C := f.nCat
	clear(dst[:C])
	if !f.tt.ok || C == 0 {
		return
	}
	sc := choicePool.Get().(*choiceScratch)
	defer choicePool.Put(sc)
	sc.init(C)
	var support uint64
	sc.buf, sc.obs, sc.days, support = f.memberChoices(g, m, td, sc.buf, sc.obs, sc.days)
	if support == 0 {
		return
	}
	prev := int8(-1)
	if len(sc.obs) > 0 {
		prev = sc.obs[len(sc.obs)-1].k
	}
	sc.obs = compactObs(sc.obs)
	fitPrefs(sc.obs, support, f.tt.follow, f.spec.Choice.Prior, sc.pi, sc.n, sc.den)
	row := f.tt.follow[prev+1]
	h := f.spec.Choice.Habit
	if prev < 0 || h <= 0 {
		h = 0
		clear(sc.post)
		sc.post[0] = 1 // one term, f unused
	} else if math.IsInf(followPosterior(sc.obs, prev, sc.pi, row, h, support, sc.post), -1) {
		return
	}
	s := maskSum(sc.pi, row, support)
	if s <= 0 {
		return
	}
	clear(sc.p)
	var tot float64
	for _, o := range sc.days {
		zb := maskSum(sc.pi, row, o.mask) / s
		if zb <= 0 {
			continue
		}
		tot += o.n
		for fk, w := range sc.post {
			if w == 0 {
				continue
			}
			den := (1 - h) * zb
			if h > 0 && o.mask&(1<<fk) != 0 {
				den += h
			}
			for k := range C {
				if o.mask&(1<<k) == 0 {
					continue
				}
				num := (1 - h) * sc.pi[k] * row[k] / s
				if h > 0 && k == fk {
					num += h
				}
				sc.p[k] += o.n * w * num / den
			}
		}
	}
	if tot <= 0 {
		return
	}
	nc := float64(C)
	for k := range C {
		dst[k] = float32(math.Log(nc * (sc.p[k]/tot + choiceFloor) / (1 + nc*choiceFloor)))
	}
}

// followPosterior writes to post (len C) the posterior of the member's
// favourite follow-up f of category p given the choices of obs made right
// after a class of p, and returns the log of their marginal likelihood. The
// prior of f is the base row b_k = π_k·F[p][k] / Σ_{l∈support} π_l·F[p][l]
// (row = F[p]), and a choice of k from O has probability
// ((1−h)·b_k + h·[k=f]) / ((1−h)·Σ_{l∈O} b_l + h·[f∈O]).
func followPosterior(obs []choiceObs, p int8, pi, row []float64, h float64, support uint64, post []float64) float64 {
	s := maskSum(pi, row, support)
	for f := range post {
		post[f] = math.Inf(-1)
		if support&(1<<f) != 0 && pi[f]*row[f] > 0 {
			post[f] = math.Log(pi[f] * row[f] / s)
		}
	}
	for _, o := range obs {
		if o.prev != p {
			continue
		}
		zb := maskSum(pi, row, o.mask) / s
		bk := pi[o.k] * row[o.k] / s
		// log of ((1−h)·b_k + h·[f=k]) / ((1−h)·zb + h·[f∈O]): four values.
		num0, num1 := math.Log((1-h)*bk), math.Log((1-h)*bk+h)
		den0, den1 := math.Log((1-h)*zb), math.Log((1-h)*zb+h)
		for f := range post {
			if math.IsInf(post[f], -1) {
				continue
			}
			l := num0
			if int8(f) == o.k {
				l = num1
			}
			if o.mask&(1<<f) != 0 {
				l -= den1
			} else {
				l -= den0
			}
			post[f] += o.n * l
		}
	}
	mx := math.Inf(-1)
	for _, v := range post {
		mx = math.Max(mx, v)
	}
	if math.IsInf(mx, -1) {
		clear(post)
		return math.Inf(-1)
	}
	var z float64
	for f, v := range post {
		post[f] = math.Exp(v - mx)
		z += post[f]
	}
	for f := range post {
		post[f] /= z
	}
	return mx + math.Log(z)
}

// choiceScratch is the memory of one choiceAt call.
type choiceScratch struct {
	buf                    []classEv
	obs                    []choiceObs
	days                   []maskN
	n, pi, den, p, post, v []float64
}

var choicePool = sync.Pool{New: func() any { return new(choiceScratch) }}

func (sc *choiceScratch) init(C int) {
	if cap(sc.v) < 5*C {
		sc.v = make([]float64, 5*C)
	}
	v := sc.v[:5*C]
	sc.n, sc.pi, sc.den, sc.p, sc.post = v[:C], v[C:2*C], v[2*C:3*C], v[3*C:4*C], v[4*C:]
}

// choiceMember is one training member's classes as choices, for
// fitChoiceModel.
type choiceMember struct {
	obs     []choiceObs
	support uint64
}

// fitChoice fits FeatureSpec.Choice on the training split: every member's
// classes before the latest cutoff at which it has a training example
// (joined by then), as for the LTV model. Without classes it leaves the
// model unfitted.
func (b *Builder) fitChoice(cutoffs []time.Time, splits []Split) error {
	f := b.f
	C := f.nCat
	if !f.tt.ok || C == 0 || len(f.spec.Courses) == 0 {
		return nil
	}
	days, err := b.cutoffDays(cutoffs)
	if err != nil {
		return err
	}
	var mems []choiceMember
	var buf []classEv
	var dayBuf []maskN
	weekdays := make([]float64, 7)
	for i := 0; i < b.members.len(); i++ {
		m := b.members.at(i)
		td, ok := b.lastTrainCutoff(m, days, splits)
		if !ok {
			continue
		}
		var obs []choiceObs
		var support uint64
		buf, obs, dayBuf, support = f.memberChoices(b.g, m, td, buf, nil, dayBuf)
		if len(obs) > 0 && support != 0 {
			mems = append(mems, choiceMember{compactObs(obs), support})
		}
		g0 := grid{phase: int32(floorMod(int64(td), 7))} // weeks ending at td, as memberChoices's
		for j, c := range buf {
			if firstOfWeek(buf, j, g0) {
				weekdays[weekdayOf(c.day)]++
			}
		}
	}
	if len(mems) == 0 {
		return nil
	}
	cm := fitChoiceModel(mems, C)
	normalize(weekdays)
	cm.Weekdays = weekdays
	b.spec.Choice = cm
	return b.refit()
}

// fitChoiceModel fits the follow matrix, the preference prior and the habit
// weight to the members' choices. It alternates the members' preferences
// (fitPrefs, even prior) and the matrix choiceFitRounds times; the matrix's
// MM step is F[p][k] = (n_pk + 1) / (Σ_{j: p_j = p, k∈O_j} π_k/Z_j + 1),
// n_pk the choices of k after p, Z_j = Σ_{l∈O_j} π_l·F[p][l] with the
// member's π, the +1 a pseudo-choice that keeps a pair never seen near 1;
// each row is then scaled to mean 1. The prior is the members' mean π of
// the last round. The habit weight is the grid value (choiceHabitGrid)
// with the largest likelihood of the choices that follow a class, the
// members' π refitted with the prior and their favourite follow-ups summed
// out (followPosterior).
func fitChoiceModel(mems []choiceMember, C int) ChoiceModel {
	follow := onesFollow(C)
	cnt := make([][]float64, C+1)
	den := make([][]float64, C+1)
	for i := range follow {
		cnt[i] = make([]float64, C)
		den[i] = make([]float64, C)
	}
	var total float64
	for _, mm := range mems {
		for _, o := range mm.obs {
			cnt[o.prev+1][o.k] += o.n
			total += o.n
		}
	}
	var sc choiceScratch
	sc.init(C)
	prior := make([]float64, C)
	for round := range choiceFitRounds {
		for i := range den {
			clear(den[i])
		}
		for _, mm := range mems {
			fitPrefs(mm.obs, mm.support, follow, nil, sc.pi, sc.n, sc.den)
			if round == choiceFitRounds-1 {
				for k, v := range sc.pi {
					prior[k] += v / float64(len(mems))
				}
			}
			for _, o := range mm.obs {
				row := follow[o.prev+1]
				z := maskSum(sc.pi, row, o.mask)
				if z <= 0 {
					continue
				}
				d, w := den[o.prev+1], o.n/z
				for m := o.mask; m != 0; m &= m - 1 {
					k := bits.TrailingZeros64(m)
					d[k] += w * sc.pi[k]
				}
			}
		}
		for p := range follow {
			var s float64
			for k := range C {
				follow[p][k] = (cnt[p][k] + 1) / (den[p][k] + 1)
				s += follow[p][k]
			}
			for k := range C {
				follow[p][k] *= float64(C) / s
			}
		}
	}
	pis := make([][]float64, len(mems))
	for i, mm := range mems {
		fitPrefs(mm.obs, mm.support, follow, prior, sc.pi, sc.n, sc.den)
		pis[i] = slices.Clone(sc.pi)
	}
	bestH, bestLL := 0.0, math.Inf(-1)
	for i := 1; i <= choiceHabitGrid; i++ {
		h := float64(i) / (choiceHabitGrid + 1)
		var ll float64
		for j, mm := range mems {
			var seen uint64
			for _, o := range mm.obs {
				if o.prev < 0 || seen&(1<<o.prev) != 0 {
					continue
				}
				seen |= 1 << o.prev
				ll += followPosterior(mm.obs, o.prev, pis[j], follow[o.prev+1], h, mm.support, sc.post)
			}
		}
		if ll > bestLL {
			bestH, bestLL = h, ll
		}
	}
	return ChoiceModel{Follow: follow, Prior: prior, Habit: bestH, Choices: int(total), Members: len(mems)}
}
