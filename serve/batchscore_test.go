package serve_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"retain/datasets/synth"
	"retain/features"
	"retain/serve"
)

// TestScoreBatchMatchesScore scores every member of the synthConfig gym
// with ScoreBatch, in batches of 7 (so that the last one is short), and
// with Score on the member's history before the as-of time, as the
// server passes it: the same probability within 1e-6, and the same flags,
// tier, next courses, reasons (order and, within 1e-6, contributions) and
// action.
func TestScoreBatchMatchesScore(t *testing.T) {
	for _, indicators := range []bool{false, true} {
		sc, err := serve.NewBundleScorer(testBundle(t, indicators, 3), &serve.BundleOptions{HighRisk: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		sink, asOf, hs := synthHistories(t)
		src := &features.MemorySource{MemberRows: sink.MemberRows, CourseRows: sink.CourseRows,
			AttendanceRows: sink.AttendanceRows, TransactionRows: sink.TransactionRows}
		spec := *sc.Bundle().Spec
		spec.Config.DataEnd = time.Time{}
		a, err := features.ReadAsOf(src, &spec, asOf, asOf, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ms []serve.BatchMember
		for i := 0; i < a.Len(); i++ {
			ex := new(features.Example)
			if err := a.Example(i, ex); err != nil {
				continue
			}
			ms = append(ms, serve.BatchMember{Ex: ex, HomeClub: a.Club(i), Attended: a.Attended(i)})
		}
		if len(ms) < 30 {
			t.Fatalf("only %d members joined", len(ms))
		}
		var ws serve.BatchWorkspace
		got := make([]serve.Score, len(ms))
		for lo := 0; lo < len(ms); lo += 7 {
			hi := min(lo+7, len(ms))
			if err := sc.ScoreBatch(ms[lo:hi], &ws, got[lo:hi]); err != nil {
				t.Fatal(err)
			}
		}
		actions := map[string]int{}
		for k, m := range ms {
			id := m.Ex.MemberID
			want, err := sc.Score(ctxT(t), hs[id], asOf)
			if err != nil {
				t.Fatal(err)
			}
			compareScores(t, id, &got[k], want)
			actions[want.Action.Kind]++
		}
		t.Logf("indicators %v: %d members, actions %v", indicators, len(ms), actions)
	}
}

// compareScores fails t when got differs from want beyond float rounding.
func compareScores(t *testing.T, id string, got, want *serve.Score) {
	t.Helper()
	const tol = 1e-6
	if math.Abs(got.ChurnProbability-want.ChurnProbability) > tol {
		t.Fatalf("%s: probability %v, Score %v", id, got.ChurnProbability, want.ChurnProbability)
	}
	if !slices.Equal(got.Flags, want.Flags) || got.Tier != want.Tier || got.Action != want.Action {
		t.Fatalf("%s: flags %v tier %s action %+v; Score %v %s %+v", id, got.Flags, got.Tier, got.Action, want.Flags, want.Tier, want.Action)
	}
	if len(got.NextCourses) != len(want.NextCourses) || len(got.Reasons) != len(want.Reasons) {
		t.Fatalf("%s: %d courses %d reasons; Score %d %d", id, len(got.NextCourses), len(got.Reasons), len(want.NextCourses), len(want.Reasons))
	}
	for i, c := range want.NextCourses {
		if g := got.NextCourses[i]; g.CourseID != c.CourseID || math.Abs(g.Probability-c.Probability) > tol {
			t.Fatalf("%s: course %d %+v, Score %+v", id, i, g, c)
		}
	}
	for i, r := range want.Reasons {
		if g := got.Reasons[i]; g.Name != r.Name || g.Description != r.Description || math.Abs(g.Contribution-r.Contribution) > tol {
			t.Fatalf("%s: reason %d %+v, Score %+v", id, i, g, r)
		}
	}
}

// TestScoreMatchesPlain holds Score, which takes the prediction from the
// first row of the attribution batch and runs that batch with a shared
// prefix, equal to the way it was computed before (ScorePlain: Predict,
// then every attribution row through the plain forward pass) for every
// member of the synthConfig gym, with and without indicator inputs,
// within 1e-6 (compareScores); and scoreMany with skipChurned
// (StreamScores' skip of churned members) equal to Score, or skipping
// exactly the members whose Score says AlreadyChurned.
func TestScoreMatchesPlain(t *testing.T) {
	for _, indicators := range []bool{false, true} {
		sc, err := serve.NewBundleScorer(testBundle(t, indicators, 4), &serve.BundleOptions{HighRisk: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		_, asOf, hs := synthHistories(t)
		for id, h := range hs {
			if !h.Member.JoinedAt.Before(asOf) {
				delete(hs, id)
			}
		}
		if len(hs) < 30 {
			t.Fatalf("only %d members joined", len(hs))
		}
		nChurned := 0
		for id, h := range hs {
			want, err := sc.ScorePlain(h, asOf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sc.Score(ctxT(t), h, asOf)
			if err != nil {
				t.Fatal(err)
			}
			compareScores(t, id, got, want)
			if got.AlreadyChurned != want.AlreadyChurned {
				t.Fatalf("%s: already churned %v, before %v", id, got.AlreadyChurned, want.AlreadyChurned)
			}
			// StreamScores' path: no score for a churned member, else
			// Score's.
			sk, churned, err := sc.ScoreUnlessChurned(ctxT(t), h, asOf)
			switch {
			case err != nil:
				t.Fatal(err)
			case churned != want.AlreadyChurned || churned != (sk == nil):
				t.Fatalf("%s: scoreMany churned %v score %v; Score's AlreadyChurned %v", id, churned, sk, want.AlreadyChurned)
			case !churned:
				compareScores(t, id, sk, want)
			}
			nChurned += map[bool]int{true: 1}[churned]
		}
		if nChurned == 0 || nChurned == len(hs) {
			t.Errorf("%d of %d members churned: the test wants both kinds", nChurned, len(hs))
		}
	}
}

// synthHistories generates the synthConfig gym and returns it, the as-of
// time of the batch tests (3 days before the data's end: not a week
// start) and every member's history before it.
func synthHistories(t *testing.T) (*synth.MemorySink, time.Time, map[string]*serve.History) {
	t.Helper()
	var sink synth.MemorySink
	cfg := synthConfig()
	if _, err := synth.Generate(cfg, &sink); err != nil {
		t.Fatal(err)
	}
	asOf := cfg.Start.AddDate(0, 0, 7*cfg.Weeks-3)
	hs := map[string]*serve.History{}
	for _, m := range sink.MemberRows {
		hs[m.MemberID] = &serve.History{Member: m}
	}
	for _, v := range sink.AttendanceRows {
		if v.TS.Before(asOf) {
			hs[v.MemberID].Attendance = append(hs[v.MemberID].Attendance, v)
		}
	}
	for _, v := range sink.TransactionRows {
		if v.TS.Before(asOf) {
			hs[v.MemberID].Transactions = append(hs[v.MemberID].Transactions, v)
		}
	}
	return &sink, asOf, hs
}
