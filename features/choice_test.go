package features

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"retain/datasets"
)

// choiceCols returns the choice features of ex.
func choiceCols(spec *FeatureSpec, ex *Example) []float32 {
	o := spec.ChoiceColumn()
	return ex.Static[o : o+len(spec.Categories)]
}

// choiceProbs inverts the columns' ln(C·(P + ε)/(1 + C·ε)).
func choiceProbs(v []float32) []float64 {
	C := float64(len(v))
	p := make([]float64, len(v))
	for k, x := range v {
		p[k] = math.Exp(float64(x))*(1+C*choiceFloor)/C - choiceFloor
	}
	return p
}

func TestTimetableOffered(t *testing.T) {
	courses := []datasets.Course{
		{CourseID: "Y1", Category: "yoga", Club: "north", Weekday: 1},    // Monday at north
		{CourseID: "S1", Category: "cycling", Club: "south", Weekday: 2}, // Tuesday at south
		{CourseID: "B1", Category: "boxing", Weekday: 1},                 // Monday at every club
		{CourseID: "P1", Category: "pt", Club: "north"},                  // every day at north
		{CourseID: "Y2", Category: "yoga", Club: "east", Weekday: 7},     // Sunday at a club that is no home club
	}
	spec, err := NewSpec(testConfig(), courses, []string{"north", "south"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	// Categories: boxing 0, cycling 1, pt 2, yoga 3; clubs north 0, south 1, other 2.
	const boxing, cycling, pt, yoga = 1 << 0, 1 << 1, 1 << 2, 1 << 3
	for _, c := range []struct {
		club int
		wd   time.Weekday
		want uint64
	}{
		{0, time.Monday, yoga | boxing | pt},
		{0, time.Tuesday, pt},
		{0, time.Sunday, pt},
		{1, time.Monday, boxing},
		{1, time.Tuesday, cycling},
		{1, time.Sunday, 0},
		{2, time.Monday, boxing},
		{2, time.Sunday, yoga},
	} {
		if got := f.tt.offered[c.club][c.wd]; got != c.want {
			t.Errorf("club %d %s: offered %04b, want %04b", c.club, c.wd, got, c.want)
		}
	}
}

// TestFitPrefsFullSets: when every choice is made from the whole support
// with no follow weights, the MM fixed point is the posterior mean of the
// counts, π_k = (n_k + a_k)/(N + A), reached in one step.
func TestFitPrefsFullSets(t *testing.T) {
	const C = 4
	support := uint64(0b1011) // category 2 is not offered
	var obs []choiceObs
	for k, n := range []int{5, 2, 0, 1} {
		for range n {
			obs = append(obs, choiceObs{k: int8(k), prev: -1, mask: support, n: 1})
		}
	}
	follow := onesFollow(C)
	pi, n, den := make([]float64, C), make([]float64, C), make([]float64, C)
	for _, prior := range [][]float64{nil, {0.5, 0.25, 0.2, 0.05}} {
		fitPrefs(obs, support, follow, prior, pi, n, den)
		a := []float64{choicePrior / 3, choicePrior / 3, 0, choicePrior / 3}
		if prior != nil {
			s := prior[0] + prior[1] + prior[3]
			a = []float64{choicePrior * prior[0] / s, choicePrior * prior[1] / s, 0, choicePrior * prior[3] / s}
		}
		for k, c := range []float64{5, 2, 0, 1} {
			want := (c + a[k]) / (8 + choicePrior)
			if math.Abs(pi[k]-want) > 1e-12 {
				t.Errorf("prior %v: π_%d = %v, want %v", prior, k, pi[k], want)
			}
		}
	}
}

// TestFitPrefsStationary checks the MM fixed point of restricted choice
// sets against the likelihood's stationarity condition: for every category
// k of the support, (n_k + a_k)/π_k = Σ_j F[p_j][k]·[k∈O_j]/Z_j + A/Z_S
// (Z_j = Σ_{l∈O_j} π_l·F[p_j][l], Z_S the support's total, π normalised).
func TestFitPrefsStationary(t *testing.T) {
	const C = 5
	r := rand.New(rand.NewPCG(7, 8))
	follow := make([][]float64, C+1)
	for i := range follow {
		follow[i] = make([]float64, C)
		for k := range follow[i] {
			follow[i][k] = 0.3 + 2*r.Float64()
		}
	}
	support := uint64(1<<C - 1)
	obs := randomChoices(r, 40, C, func() uint64 { return uint64(r.IntN(1<<C-1) + 1) })
	pi, n, den := make([]float64, C), make([]float64, C), make([]float64, C)
	fitPrefs(obs, support, follow, nil, pi, n, den)
	var lhs, rhs [C]float64
	for k := range C {
		lhs[k] = choicePrior / C
	}
	zs := maskSum(pi, nil, support)
	for k := range C {
		rhs[k] = choicePrior / zs
	}
	for _, o := range obs {
		lhs[o.k]++
		row := follow[o.prev+1]
		z := maskSum(pi, row, o.mask)
		for k := range C {
			if o.mask&(1<<k) != 0 {
				rhs[k] += row[k] / z
			}
		}
	}
	for k := range C {
		if got := lhs[k] / pi[k]; math.Abs(got/rhs[k]-1) > 1e-3 {
			t.Errorf("category %d: (n+a)/π = %v, gradient term %v (off by %.2g)", k, got, rhs[k], got/rhs[k]-1)
		}
	}
}

// TestFollowPosterior works one case by hand: two categories, π = (½, ½),
// no follow weights, h = ½, two choices of category 0 after category 0 from
// both. A choice of 0 has probability (½·½ + ½)/(½ + ½) = ¾ when f = 0 and
// ¼ when f = 1; the prior of f is the base row (½, ½); so the posterior is
// (9/16, 1/16)/(10/16) = (0.9, 0.1) and the marginal likelihood
// ½·9/16 + ½·1/16 = 5/16.
func TestFollowPosterior(t *testing.T) {
	obs := []choiceObs{{k: 0, prev: -1, mask: 3, n: 1}, {k: 0, prev: 0, mask: 3, n: 2}, {k: 1, prev: 1, mask: 3, n: 1}}
	post := make([]float64, 2)
	ll := followPosterior(obs, 0, []float64{0.5, 0.5}, []float64{1, 1}, 0.5, 3, post)
	if math.Abs(post[0]-0.9) > 1e-12 || math.Abs(post[1]-0.1) > 1e-12 {
		t.Errorf("posterior %v, want [0.9 0.1]", post)
	}
	if want := math.Log(5.0 / 16); math.Abs(ll-want) > 1e-12 {
		t.Errorf("log marginal %v, want %v", ll, want)
	}
}

// TestChoiceAtHand: the test courses have no club or weekday, so every
// category is offered every day and every offered set is the whole
// support; with the spec unfitted (no follow weights, no habit, even prior)
// the prediction is the preferences' posterior mean. alice's classes before
// 2024-03-04 are yoga, cycling, yoga, boxing: P = ((1 + ⅔), (1 + ⅔), (2 +
// ⅔))/(4 + 2) over boxing, cycling, yoga. bob has no class before his
// cutoff: P is even.
func TestChoiceAtHand(t *testing.T) {
	f := testFeaturizer(testConfig())
	hs := handMade()
	cut := date(2024, 3, 4)
	for _, c := range []struct {
		h    History
		want []float64
	}{
		{hs[0], []float64{(1 + 2.0/3) / 6, (1 + 2.0/3) / 6, (2 + 2.0/3) / 6}},
		{hs[1], []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
	} {
		h := c.h
		if h.Member.MemberID == "bob" {
			cut = date(2024, 2, 26) // before bob's class
			h.Member.JoinedAt = at(2024, 2, 20, 12)
		}
		ex, err := f.Compute(&h, cut)
		if err != nil {
			t.Fatal(err)
		}
		got := choiceProbs(choiceCols(&f.spec, ex))
		for k := range got {
			if math.Abs(got[k]-c.want[k]) > 1e-6 {
				t.Errorf("%s: P = %v, want %v", h.Member.MemberID, got, c.want)
				break
			}
		}
	}
}

// TestChoiceAtPointInTime: classes on or after the cutoff do not change the
// choice features, and neither does the order the events arrive in.
func TestChoiceAtPointInTime(t *testing.T) {
	spec, f := fittedChoiceFeaturizer(t)
	_ = spec
	b := newHistory(datasets.Member{MemberID: "m", JoinedAt: at(2024, 1, 2, 8), HomeClub: "north", ContractType: datasets.ContractMonthly, ContractStart: date(2024, 1, 2)})
	r := rand.New(rand.NewPCG(1, 1))
	courses := []string{"Y1", "S1", "B1", "Y2"}
	for d := date(2024, 1, 2); d.Before(date(2024, 4, 1)); d = d.AddDate(0, 0, 1+r.IntN(3)) {
		b.visit(d.Add(time.Duration(7+r.IntN(12))*time.Hour), courses[r.IntN(len(courses))], 45)
	}
	cut := date(2024, 3, 4)
	base, err := f.Compute(&b.h, cut)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(choiceCols(f.Spec(), base))
	if slices.Equal(want, make([]float32, len(want))) {
		t.Fatal("choice features all 0")
	}
	var before History
	before.Member = b.h.Member
	for _, a := range b.h.Attendance {
		if a.TS.Before(cut) {
			before.Attendance = append(before.Attendance, a)
		}
	}
	shuffled := b.h
	shuffled.Attendance = slices.Clone(b.h.Attendance)
	r.Shuffle(len(shuffled.Attendance), func(i, j int) {
		shuffled.Attendance[i], shuffled.Attendance[j] = shuffled.Attendance[j], shuffled.Attendance[i]
	})
	for name, h := range map[string]*History{"without the classes after the cutoff": &before, "events shuffled": &shuffled} {
		ex, err := f.Compute(h, cut)
		if err != nil {
			t.Fatal(err)
		}
		if got := choiceCols(f.Spec(), ex); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	var sum float64
	for _, p := range choiceProbs(want) {
		sum += p
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Errorf("predicted distribution sums to %v", sum)
	}
}

// fittedChoiceFeaturizer returns a featurizer with a timetable by club and
// weekday and a hand-set choice model with a habit.
func fittedChoiceFeaturizer(t *testing.T) (*FeatureSpec, *Featurizer) {
	t.Helper()
	courses := []datasets.Course{
		{CourseID: "Y1", Category: "yoga", Club: "north", Weekday: 1},
		{CourseID: "Y2", Category: "yoga", Club: "north", Weekday: 3},
		{CourseID: "S1", Category: "cycling", Club: "north", Weekday: 2},
		{CourseID: "B1", Category: "boxing", Weekday: 4},
	}
	spec, err := NewSpec(testConfig(), courses, []string{"north", "south"})
	if err != nil {
		t.Fatal(err)
	}
	spec.Choice = ChoiceModel{
		Follow:   [][]float64{{1, 1, 1}, {0.5, 2, 0.5}, {1.5, 0.5, 1}, {1, 1, 1}},
		Prior:    []float64{0.2, 0.3, 0.5},
		Weekdays: []float64{0, 0.3, 0.3, 0.2, 0.1, 0.1, 0},
		Habit:    0.3,
	}
	f, err := NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	return spec, f
}

// TestChoiceModelCheck: a spec with a malformed choice model is refused.
func TestChoiceModelCheck(t *testing.T) {
	spec, _ := fittedChoiceFeaturizer(t)
	for name, mod := range map[string]func(*ChoiceModel){
		"rows":     func(c *ChoiceModel) { c.Follow = c.Follow[:2] },
		"columns":  func(c *ChoiceModel) { c.Follow[1] = c.Follow[1][:2] },
		"NaN":      func(c *ChoiceModel) { c.Follow[0][0] = math.NaN() },
		"negative": func(c *ChoiceModel) { c.Prior[0] = -1 },
		"weekdays": func(c *ChoiceModel) { c.Weekdays = c.Weekdays[:6] },
		"habit":    func(c *ChoiceModel) { c.Habit = 1 },
	} {
		s := *spec
		cm := s.Choice
		cm.Follow = [][]float64{slices.Clone(cm.Follow[0]), slices.Clone(cm.Follow[1]), slices.Clone(cm.Follow[2]), slices.Clone(cm.Follow[3])}
		cm.Prior = slices.Clone(cm.Prior)
		mod(&cm)
		s.Choice = cm
		if err := s.Check(); err == nil {
			t.Errorf("%s: Check accepted %+v", name, cm)
		}
	}
	if err := spec.Check(); err != nil {
		t.Errorf("the good spec: %v", err)
	}
}

// TestFitChoiceModelRecovers simulates members who choose by the model
// (known follow matrix, habit 0.4, Dirichlet preferences, random offered
// sets) and checks that fitChoiceModel finds the habit and the follow
// matrix's strongest entries, and that its predictions of held-out choices
// beat those of the unfitted model.
func TestFitChoiceModelRecovers(t *testing.T) {
	const C, members, perMember, h = 4, 400, 40, 0.4
	r := rand.New(rand.NewPCG(3, 4))
	F := [][]float64{{1, 1, 1, 1}, {0.2, 3, 0.4, 0.4}, {2.5, 0.2, 1, 0.3}, {0.3, 0.3, 0.4, 3}, {1, 1, 1.8, 0.2}}
	full := uint64(1<<C - 1)
	type sim struct {
		train, test []choiceObs
	}
	var sims []sim
	for range members {
		pi := make([]float64, C)
		for k := range pi {
			pi[k] = -math.Log(r.Float64()) // Dirichlet(1, ..., 1)
		}
		normalize(pi)
		var fav [C + 1]int
		for p := range fav {
			fav[p] = r.IntN(C)
		}
		var obs []choiceObs
		prev := int8(-1)
		for range perMember {
			mask := full
			if r.Float64() < 0.7 {
				mask = uint64(r.IntN(int(full))) + 1
			}
			w := make([]float64, C)
			for k := range C {
				if mask&(1<<k) != 0 {
					w[k] = (1 - h) * pi[k] * F[prev+1][k] / maskSum(pi, F[prev+1], full)
					if prev >= 0 && k == fav[prev+1] {
						w[k] += h
					}
				}
			}
			normalize(w)
			u, k := r.Float64(), 0
			for ; k < C-1 && u > w[k]; k++ {
				u -= w[k]
			}
			obs = append(obs, choiceObs{k: int8(k), prev: prev, mask: mask, n: 1})
			prev = int8(k)
		}
		sims = append(sims, sim{obs[:perMember-10], obs[perMember-10:]})
	}
	var mems []choiceMember
	for _, s := range sims {
		mems = append(mems, choiceMember{compactObs(slices.Clone(s.train)), full})
	}
	cm := fitChoiceModel(mems, C)
	if cm.Habit < 0.25 || cm.Habit > 0.55 {
		t.Errorf("habit %v, simulated %v", cm.Habit, h)
	}
	for p := 1; p <= C; p++ {
		want := slices.Index(F[p], slices.Max(F[p]))
		if got := slices.Index(cm.Follow[p], slices.Max(cm.Follow[p])); got != want {
			t.Errorf("follow row %d: largest entry at %d, simulated %d (%v)", p-1, got, want, cm.Follow[p])
		}
	}
	// Held-out log likelihood, each member's π fitted to its training
	// choices and every test choice predicted from the choices before it.
	ll := func(m ChoiceModel, habit float64) float64 {
		follow := m.Follow
		if follow == nil {
			follow = onesFollow(C)
		}
		var sum float64
		pi, n, den, post := make([]float64, C), make([]float64, C), make([]float64, C), make([]float64, C)
		for _, s := range sims {
			fitPrefs(s.train, full, follow, m.Prior, pi, n, den)
			seen := slices.Clone(s.train)
			for _, o := range s.test {
				row := follow[o.prev+1]
				b := func(k int) float64 { return pi[k] * row[k] / maskSum(pi, row, full) }
				var p float64
				if habit > 0 {
					followPosterior(seen, o.prev, pi, row, habit, full, post)
				} else {
					clear(post)
					post[0] = 1
				}
				for f, w := range post {
					num := (1 - habit) * b(int(o.k))
					den := (1 - habit) * maskSum(pi, row, o.mask) / maskSum(pi, row, full)
					if habit > 0 && int(o.k) == f {
						num += habit
					}
					if habit > 0 && o.mask&(1<<f) != 0 {
						den += habit
					}
					p += w * num / den
				}
				sum += math.Log(p)
				seen = append(seen, o)
			}
		}
		return sum / float64(members*10)
	}
	fitted, unfitted := ll(cm, cm.Habit), ll(ChoiceModel{}, 0)
	if fitted <= unfitted+0.05 {
		t.Errorf("held-out log likelihood per choice: fitted %.4f, unfitted %.4f", fitted, unfitted)
	}
	t.Logf("habit %.2f; held-out log likelihood per choice: fitted %.4f, unfitted %.4f", cm.Habit, fitted, unfitted)
}

// TestChoiceCompaction: merging equal choices (compactObs) changes neither
// the fitted choice model nor a member's preferences and follow-up
// posterior: every fit weighs an entry by its count.
func TestChoiceCompaction(t *testing.T) {
	const C = 4
	r := rand.New(rand.NewPCG(9, 10))
	masks := []uint64{0b1111, 0b0111, 0b1010}
	var mems, raw []choiceMember
	for range 50 {
		obs := randomChoices(r, 30, C, func() uint64 { return masks[r.IntN(len(masks))] })
		raw = append(raw, choiceMember{obs, 0b1111})
		c := compactObs(slices.Clone(obs))
		if len(c) >= len(obs) {
			t.Fatalf("nothing merged in %d choices", len(obs))
		}
		mems = append(mems, choiceMember{c, 0b1111})
	}
	a, b := fitChoiceModel(raw, C), fitChoiceModel(mems, C)
	close := func(x, y []float64) bool {
		for i := range x {
			if math.Abs(x[i]-y[i]) > 1e-9*(1+math.Abs(x[i])) {
				return false
			}
		}
		return len(x) == len(y)
	}
	for p := range a.Follow {
		if !close(a.Follow[p], b.Follow[p]) {
			t.Errorf("follow row %d: %v merged, %v not", p, b.Follow[p], a.Follow[p])
		}
	}
	if !close(a.Prior, b.Prior) || a.Habit != b.Habit || a.Choices != b.Choices || a.Choices != 50*30 {
		t.Errorf("merged %+v, not merged %+v", b, a)
	}
	pa, pb := make([]float64, C), make([]float64, C)
	fa, fb := make([]float64, C), make([]float64, C)
	n, den := make([]float64, C), make([]float64, C)
	fitPrefs(raw[0].obs, 0b1111, a.Follow, a.Prior, pa, n, den)
	fitPrefs(mems[0].obs, 0b1111, a.Follow, a.Prior, pb, n, den)
	la := followPosterior(raw[0].obs, 1, pa, a.Follow[2], 0.3, 0b1111, fa)
	lb := followPosterior(mems[0].obs, 1, pb, a.Follow[2], 0.3, 0b1111, fb)
	if !close(pa, pb) || !close(fa, fb) || math.Abs(la-lb) > 1e-9*math.Abs(la) {
		t.Errorf("member: π %v / %v, follow-up posterior %v / %v, log marginal %v / %v", pb, pa, fb, fa, lb, la)
	}
}

// TestChoiceVisitDays: the days a member comes, open gym included, weigh
// the offered sets of the next class. Hand case with the timetable of
// fittedChoiceFeaturizer (north: yoga Monday and Wednesday, cycling
// Tuesday, boxing Thursday; no class Friday to Sunday) and a member with
// no class: the prediction is the weights' shares, each day offering one
// category. Eight weeks of Monday visits weigh 8 × 0.25 = 2 for yoga; the
// home club's weekdays 12 × (0.3 + 0.2) = 6 for yoga, 12 × 0.3 = 3.6 for
// cycling and 12 × 0.1 = 1.2 for boxing: P = (1.2, 3.6, 8)/12.8 over
// boxing, cycling, yoga. With the visits on Tuesdays cycling gets the 2.
func TestChoiceVisitDays(t *testing.T) {
	_, f := fittedChoiceFeaturizer(t)
	for _, c := range []struct {
		first time.Time
		want  []float64
	}{
		{date(2024, 1, 8), []float64{1.2 / 12.8, 3.6 / 12.8, 8 / 12.8}},
		{date(2024, 1, 9), []float64{1.2 / 12.8, 5.6 / 12.8, 6 / 12.8}},
	} {
		b := newHistory(datasets.Member{MemberID: "m", JoinedAt: at(2024, 1, 2, 8), HomeClub: "north", ContractType: datasets.ContractMonthly, ContractStart: date(2024, 1, 2)})
		for w := range 8 {
			b.visit(c.first.AddDate(0, 0, 7*w).Add(8*time.Hour), "", 60)
		}
		ex, err := f.Compute(&b.h, date(2024, 3, 4))
		if err != nil {
			t.Fatal(err)
		}
		got := choiceProbs(choiceCols(f.Spec(), ex))
		for k := range got {
			if math.Abs(got[k]-c.want[k]) > 1e-6 {
				t.Errorf("visits from %s: P = %v, want %v", c.first.Format(time.DateOnly), got, c.want)
				break
			}
		}
	}
}

// randomChoices returns n choices in sequence, each of a category drawn
// evenly from an offered set drawn by mask, after the one before.
func randomChoices(r *rand.Rand, n, C int, mask func() uint64) []choiceObs {
	var obs []choiceObs
	prev := int8(-1)
	for range n {
		m := mask()
		var ks []int8
		for k := range C {
			if m&(1<<k) != 0 {
				ks = append(ks, int8(k))
			}
		}
		k := ks[r.IntN(len(ks))]
		obs = append(obs, choiceObs{k: k, prev: prev, mask: m, n: 1})
		prev = k
	}
	return obs
}
