package serve_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"retain/datasets"
	"retain/datasets/synth"
	"retain/features"
	"retain/model"
	"retain/serve"
)

// synthConfig is a small synthetic gym: 60 members over 40 weeks from
// 2024-01-01, no ground truth.
func synthConfig() synth.Config {
	c := synth.DefaultConfig()
	c.Members, c.Weeks, c.Clubs, c.TruthSims, c.Workers = 60, 40, 1, -1, 1
	return c
}

// testBundle writes a bundle for the gym of synthConfig to a temporary
// file and returns its path. The network's weights are random (seed), not
// trained: the tests check the serving mechanics, not the model's quality.
// The normaliser is fitted on the members' examples at the data's end.
func testBundle(t testing.TB, indicators bool, seed uint64) string {
	t.Helper()
	var sink synth.MemorySink
	cfg := synthConfig()
	if _, err := synth.Generate(cfg, &sink); err != nil {
		t.Fatal(err)
	}
	var clubs []string
	for _, m := range sink.MemberRows {
		if !slices.Contains(clubs, m.HomeClub) {
			clubs = append(clubs, m.HomeClub)
		}
	}
	spec, err := features.NewSpec(features.DefaultConfig(), sink.CourseRows, clubs)
	if err != nil {
		t.Fatal(err)
	}
	fz, err := features.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	end := cfg.Start.AddDate(0, 0, 7*cfg.Weeks)
	hs := map[string]*features.History{}
	for _, m := range sink.MemberRows {
		hs[m.MemberID] = &features.History{Member: m}
	}
	for _, a := range sink.AttendanceRows {
		hs[a.MemberID].Attendance = append(hs[a.MemberID].Attendance, a)
	}
	for _, x := range sink.TransactionRows {
		hs[x.MemberID].Transactions = append(hs[x.MemberID].Transactions, x)
	}
	fit := features.NewNormalizerFitter(spec)
	for _, m := range sink.MemberRows {
		ex, err := fz.Compute(hs[m.MemberID], end)
		if err != nil {
			continue // joined at the end
		}
		fit.Add(ex)
	}
	b := &model.Bundle{
		Spec: spec, Normalizer: fit.Normalizer(), Indicators: indicators, Summary: true,
		Calibration:     model.Calibration{Method: "platt", A: 0.9, B: -0.2},
		Metrics:         map[string]float64{"val_churn_auc": 0.5},
		DataFingerprint: "sha256:test",
		Created:         time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	b.Config = model.Config{Steps: spec.Config.Weeks, Inputs: len(spec.Sequence), Static: b.Inputs().StaticWidth(),
		Hidden: 6, Classes: len(spec.Categories)}.WithDefaults()
	b.Params = model.NewParams(b.Config, rand.NewPCG(seed, 7))
	path := filepath.Join(t.TempDir(), "model.rtmb")
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// absentee is a member who joined 400 days before asOf, attended the
// given courses every 5 days until 100 days before asOf and paid a monthly
// fee; annual contract ending 200 days after asOf.
func absentee(asOf time.Time, courses []string) *serve.History {
	joined := asOf.AddDate(0, 0, -400)
	h := &serve.History{Member: datasets.Member{
		MemberID: "gone", JoinedAt: joined, HomeClub: "club-0", ContractType: datasets.ContractAnnual,
		ContractStart: datasets.Date(joined), ContractEnd: datasets.Date(asOf.AddDate(0, 0, 200)),
	}}
	for d, k := 390, 0; d >= 100; d, k = d-5, k+1 {
		h.Attendance = append(h.Attendance, datasets.Attendance{
			EventID: "a" + string(rune('A'+k%26)) + string(rune('a'+k/26)), MemberID: "gone",
			TS: asOf.AddDate(0, 0, -d).Add(18 * time.Hour), CourseID: courses[k%len(courses)], DurationMin: 60,
			Source: datasets.SourcePOS,
		})
	}
	for mo := 13; mo >= 1; mo-- {
		h.Transactions = append(h.Transactions, datasets.Transaction{
			EventID: "t" + string(rune('a'+mo)), MemberID: "gone", TS: asOf.AddDate(0, -mo, 0), Amount: 4900,
			Kind: datasets.TxMembershipFee,
		})
	}
	return h
}

func TestBundleScorerScore(t *testing.T) {
	sc, err := serve.NewBundleScorer(testBundle(t, true, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Check(ctxT(t)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	b := sc.Bundle()
	spec := b.Spec
	asOf := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	// Two courses of the first category: the member attends the first
	// twice as often, so it is that category's course.
	cat0 := spec.CourseCategory
	var c0 []string
	for i, c := range cat0 {
		if c == 0 {
			c0 = append(c0, spec.Courses[i])
		}
	}
	attended := []string{c0[0], c0[0]}
	if len(c0) > 1 {
		attended = append(attended, c0[1])
	}
	h := absentee(asOf, attended)
	got, err := sc.Score(ctxT(t), h, asOf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got.Flags, "coach_callback_90d") {
		t.Errorf("flags %v: want coach_callback_90d after a 100-day absence", got.Flags)
	}
	if got.Action.Kind != "coach_callback" {
		t.Errorf("action %+v, want coach_callback", got.Action)
	}
	if !(got.ChurnProbability >= 0 && got.ChurnProbability <= 1) {
		t.Errorf("churn probability %v", got.ChurnProbability)
	}
	if got.Tier == "" {
		t.Error("no tier")
	}

	// The same prediction by hand: features, then Predict.
	fz, err := features.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := fz.Compute((*features.History)(h), asOf)
	if err != nil {
		t.Fatal(err)
	}
	var p model.Prediction
	if err := b.Predict(ex, &p); err != nil {
		t.Fatal(err)
	}
	if got.ChurnProbability != p.Churn {
		t.Errorf("churn probability %v, Predict says %v", got.ChurnProbability, p.Churn)
	}
	if len(got.NextCourses) != len(spec.Categories) {
		t.Fatalf("%d next courses, want one per category (%d)", len(got.NextCourses), len(spec.Categories))
	}
	prev := 2.0
	for i, nc := range got.NextCourses {
		ci := slices.Index(spec.Courses, nc.CourseID)
		if ci < 0 {
			t.Fatalf("next course %d: %q is not a course of the bundle", i, nc.CourseID)
		}
		if want := p.NextCategory[spec.CourseCategory[ci]]; nc.Probability != want {
			t.Errorf("next course %s: probability %v, its category's is %v", nc.CourseID, nc.Probability, want)
		}
		if nc.Probability > prev {
			t.Errorf("next courses not most likely first: %v", got.NextCourses)
		}
		prev = nc.Probability
		if spec.CourseCategory[ci] == 0 && nc.CourseID != c0[0] {
			t.Errorf("category %s: course %s, want %s, the member's most attended", spec.Categories[0], nc.CourseID, c0[0])
		}
	}

	if len(got.Reasons) != 3 {
		t.Fatalf("%d reasons, want 3", len(got.Reasons))
	}
	for i, r := range got.Reasons {
		if math.IsNaN(r.Contribution) || math.IsInf(r.Contribution, 0) || r.Name == "" || r.Description == "" {
			t.Errorf("reason %d: %+v", i, r)
		}
		if i > 0 && math.Abs(r.Contribution) > math.Abs(got.Reasons[i-1].Contribution) {
			t.Errorf("reasons not largest first: %+v", got.Reasons)
		}
	}
}

// TestOcclusionByHand recomputes the contribution of each reason without
// the scorer: the example's group columns in the last 8 masked-in weeks
// set to the normaliser's means, and the group's static features set to
// their training means (Normalizer.StaticMean), then Predict. The bundle
// has no indicator inputs, so these are the whole occlusion.
func TestOcclusionByHand(t *testing.T) {
	sc, err := serve.NewBundleScorer(testBundle(t, false, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := sc.Bundle()
	spec := b.Spec
	asOf := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	h := absentee(asOf, spec.Courses[:2])
	// Visits up to 20 days ago, so that the last 8 weeks hold some.
	for i := range h.Attendance {
		h.Attendance[i].TS = h.Attendance[i].TS.AddDate(0, 0, 80)
	}
	got, err := sc.Score(ctxT(t), h, asOf)
	if err != nil {
		t.Fatal(err)
	}
	fz, err := features.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := fz.Compute((*features.History)(h), asOf)
	if err != nil {
		t.Fatal(err)
	}
	var p model.Prediction
	if err := b.Predict(ex, &p); err != nil {
		t.Fatal(err)
	}
	base := b.Calibration.Logit(p.ChurnLogit)
	cols := map[string]func(name string) bool{
		"visits_last_8w": func(n string) bool {
			return n == features.SeqVisits || n == features.SeqOpenGym || n == features.SeqMinutes || len(n) > 6 && n[:6] == "class_"
		},
		"spend_last_8w": func(n string) bool { return len(n) > 6 && n[:6] == "spend_" },
		"recency":       func(n string) bool { return n == features.SeqDaysSinceVisit },
		"contract":      func(n string) bool { return n == features.SeqDaysToContractEnd || n == features.SeqOpenEnded },
		"tenure":        func(n string) bool { return n == features.SeqTenure },
		"billing":       func(string) bool { return false },
	}
	stat := map[string]func(name string) bool{
		"recency": func(n string) bool { return n == features.StaticAbsenceSurprise || n == features.StaticAbsenceExpected },
		"billing": func(n string) bool { return n == features.StaticDebitOverdue || n == features.StaticDebitMissed },
	}
	if len(b.Normalizer.StaticMean) != len(spec.Static) {
		t.Fatalf("normalizer has %d static means for %d static features", len(b.Normalizer.StaticMean), len(spec.Static))
	}
	T, F := len(ex.Mask), len(spec.Sequence)
	// Every group, not only the top three reasons: the scorer's logits of
	// its attribution batch.
	names, logits, err := sc.GroupLogits(h, asOf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "billing") {
		t.Fatalf("groups %v lack billing", names)
	}
	var all []serve.Reason
	for i, name := range names {
		all = append(all, serve.Reason{Name: name, Contribution: logits[0] - logits[1+i]})
	}
	for _, r := range append(slices.Clone(got.Reasons), all...) {
		in, ok := cols[r.Name]
		if !ok {
			t.Fatalf("unknown reason %q", r.Name)
		}
		occ := *ex
		occ.Seq = slices.Clone(ex.Seq)
		occ.Static = slices.Clone(ex.Static)
		if in := stat[r.Name]; in != nil {
			for j, n := range spec.Static {
				if in(n) {
					occ.Static[j] = float32(b.Normalizer.StaticMean[j])
				}
			}
		}
		for w := T - 8; w < T; w++ {
			if ex.Mask[w] == 0 {
				continue
			}
			for j, n := range spec.Sequence {
				if in(n) {
					occ.Seq[w*F+j] = float32(b.Normalizer.Mean[j])
				}
			}
		}
		var q model.Prediction
		if err := b.Predict(&occ, &q); err != nil {
			t.Fatal(err)
		}
		want := base - b.Calibration.Logit(q.ChurnLogit)
		if math.Abs(r.Contribution-want) > 1e-4 {
			t.Errorf("reason %s: contribution %v, by hand %v", r.Name, r.Contribution, want)
		}
	}
	if got.Reasons[0].Contribution == 0 {
		t.Errorf("top reason %+v has no effect", got.Reasons[0])
	}
}

func TestBundleScorerCorrupt(t *testing.T) {
	path := testBundle(t, true, 1)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.rtmb")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := serve.NewBundleScorer(bad, nil); !errors.Is(err, model.ErrCorrupt) {
		t.Errorf("corrupt bundle: err %v, want model.ErrCorrupt", err)
	}
	if _, err := serve.NewBundleScorer(filepath.Join(t.TempDir(), "none.rtmb"), nil); err == nil {
		t.Error("missing bundle: no error")
	}
}

// TestServeBundle serves a store loaded from a synthetic dataset with the
// BundleScorer, then reloads a corrupt and a good bundle.
func TestServeBundle(t *testing.T) {
	checkNoLeak(t)
	dir := filepath.Join(t.TempDir(), "gym")
	if _, err := synth.WriteDir(synthConfig(), dir, &synth.WriteOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	path := testBundle(t, true, 1)
	sc, err := serve.NewBundleScorer(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, serve.Options{}, nil, &serve.Batch{})
	rep, err := ts.store.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Members != 60 {
		t.Fatalf("loaded %d members, want 60", rep.Members)
	}
	if err := ts.srv.SetScorer(ctxT(t), sc); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, tokAdmin)
	if ok, err := c.Serving(ctxT(t)); err != nil || !ok {
		t.Fatalf("Serving = %v, %v; want true", ok, err)
	}
	ids, err := ts.store.MemberIDs("", 1)
	if err != nil || len(ids) != 1 {
		t.Fatalf("MemberIDs: %v, %v", ids, err)
	}
	score := func() string {
		t.Helper()
		res, err := c.ScoreMember(ctxT(t), byID(ids[0]))
		if err != nil {
			t.Fatal(err)
		}
		s := res.GetScore()
		if p := s.GetChurnProbability(); !(p >= 0 && p <= 1) {
			t.Errorf("churn probability %v", p)
		}
		if len(s.GetNextCourses()) == 0 {
			t.Error("no next courses")
		}
		for _, nc := range s.GetNextCourses() {
			if nc.GetName() == "" {
				t.Errorf("next course %s is not in the store's timetable", nc.GetCourseId())
			}
		}
		return s.GetModelVersion()
	}
	v1 := score()
	if v1 != sc.Info().Version {
		t.Errorf("model version %q, want %q", v1, sc.Info().Version)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.rtmb")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.LoadBundle(ctxT(t), bad, nil); err == nil {
		t.Fatal("LoadBundle of a corrupt bundle: no error")
	}
	if v := score(); v != v1 {
		t.Errorf("after a refused reload: version %q, want the old %q", v, v1)
	}
	if ok, err := c.Serving(ctxT(t)); err != nil || !ok {
		t.Fatalf("after a refused reload: Serving = %v, %v", ok, err)
	}
	if err := ts.srv.LoadBundle(ctxT(t), testBundle(t, true, 3), nil); err != nil {
		t.Fatal(err)
	}
	if v := score(); v == v1 {
		t.Errorf("after a reload: version still %q", v)
	}
}

// TestNextCourseHomeClub: for a category the member never attended, the
// course at the member's home club is taken when the catalogue knows it,
// else the first of the category by course id.
func TestNextCourseHomeClub(t *testing.T) {
	path := testBundle(t, true, 1)
	plain, err := serve.NewBundleScorer(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := plain.Bundle().Spec
	cat := -1
	var courses []string
	for c := 1; c < len(spec.Categories) && cat < 0; c++ {
		courses = courses[:0]
		for i, cc := range spec.CourseCategory {
			if cc == c {
				courses = append(courses, spec.Courses[i])
			}
		}
		if len(courses) >= 2 {
			cat = c
		}
	}
	if cat < 0 {
		t.Skip("no category with two courses in the synthetic timetable")
	}
	home := courses[len(courses)-1]
	catalog := func(ids []string) (map[string]datasets.Course, error) {
		return map[string]datasets.Course{home: {CourseID: home, Club: "club-0"}}, nil
	}
	withClubs, err := serve.NewBundleScorer(path, &serve.BundleOptions{Catalog: catalog})
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	first := spec.Courses[slices.Index(spec.CourseCategory, 0)]
	h := absentee(asOf, []string{first}) // HomeClub "club-0"; attends category 0 only
	for _, c := range []struct {
		sc   *serve.BundleScorer
		want string
	}{{plain, courses[0]}, {withClubs, home}} {
		got, err := c.sc.Score(ctxT(t), h, asOf)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, nc := range got.NextCourses {
			if slices.Contains(courses, nc.CourseID) {
				found = true
				if nc.CourseID != c.want {
					t.Errorf("category %s: course %s, want %s", spec.Categories[cat], nc.CourseID, c.want)
				}
			}
		}
		if !found {
			t.Errorf("category %s missing from %v", spec.Categories[cat], got.NextCourses)
		}
	}
}
