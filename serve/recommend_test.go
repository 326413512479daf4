package serve_test

import (
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"retain/datasets/synth"
	retainv1 "retain/proto/retain/v1"
	"retain/serve"
)

// TestRecommendMatchesScore checks the cheap Recommender path of the bundle
// scorer against the full one: for every member of a small gym the next
// courses are the same, in process and through RecommendClasses on a real
// server.
func TestRecommendMatchesScore(t *testing.T) {
	checkNoLeak(t)
	dir := filepath.Join(t.TempDir(), "gym")
	if _, err := synth.WriteDir(synthConfig(), dir, &synth.WriteOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	sc, err := serve.NewBundleScorer(testBundle(t, true, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, serve.Options{}, nil, &serve.Batch{})
	if _, err := ts.store.Load(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.SetScorer(ctxT(t), sc); err != nil {
		t.Fatal(err)
	}
	ids, err := ts.store.MemberIDs("", 1000)
	if err != nil {
		t.Fatal(err)
	}
	asOf := synthConfig().End()
	c := ts.dial(t, tokAdmin)
	compared := 0
	for _, id := range ids {
		h, err := ts.store.HistoryBefore(id, asOf)
		if err != nil {
			t.Fatal(err)
		}
		full, err := sc.Score(ctxT(t), h, asOf)
		if err != nil {
			continue // e.g. not joined by asOf; the server answers that itself
		}
		cheap, err := sc.Recommend(ctxT(t), h, asOf)
		if err != nil {
			t.Fatalf("%s: Score works but Recommend fails: %v", id, err)
		}
		if len(cheap) != len(full.NextCourses) {
			t.Fatalf("%s: Recommend gives %d courses, Score %d", id, len(cheap), len(full.NextCourses))
		}
		for i := range cheap {
			if cheap[i] != full.NextCourses[i] {
				t.Errorf("%s: course %d: Recommend %+v, Score %+v", id, i, cheap[i], full.NextCourses[i])
			}
		}
		ts := timestamppb.New(asOf)
		rec, err := c.RecommendClasses(ctxT(t), &retainv1.RecommendClassesRequest{
			Subject: &retainv1.RecommendClassesRequest_MemberId{MemberId: id}, AsOf: ts, TopK: 3})
		if err != nil {
			t.Fatalf("%s: RecommendClasses: %v", id, err)
		}
		sm, err := c.ScoreMember(ctxT(t), &retainv1.ScoreMemberRequest{
			Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}, AsOf: ts, TopK: 3})
		if err != nil {
			t.Fatalf("%s: ScoreMember: %v", id, err)
		}
		got, want := rec.GetCourses(), sm.GetScore().GetNextCourses()
		if len(got) != len(want) {
			t.Fatalf("%s: RecommendClasses gives %d courses, ScoreMember %d", id, len(got), len(want))
		}
		for i := range got {
			if got[i].GetCourseId() != want[i].GetCourseId() || got[i].GetProbability() != want[i].GetProbability() ||
				len(got[i].GetNextSessions()) != len(want[i].GetNextSessions()) {
				t.Errorf("%s: suggestion %d: RecommendClasses %v, ScoreMember %v", id, i, got[i], want[i])
			}
		}
		compared++
	}
	if compared < 10 {
		t.Fatalf("compared only %d members", compared)
	}
}
