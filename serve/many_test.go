package serve_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	retainv1 "retain/proto/retain/v1"
	"retain/serve"
)

// TestScoreManyMatchesOne: ScoreMembers and StreamScores, which run the
// network once per chunk of members, give every member of the synthetic
// gym what ScoreMember gives it alone (one network run per member): the
// same probability within 1e-6, reasons within 1e-5, suggestions within
// 1e-6 and everything else equal; a member who fails alone (not joined
// at the as-of time) fails the same way among the others.
func TestScoreManyMatchesOne(t *testing.T) { forChunks(t, testScoreManyMatchesOne) }

// forChunks runs test with the batched paths taking 64 members at a time
// (the 60 members of the test gym in one chunk) and 7 (many chunks and a
// last short one).
func forChunks(t *testing.T, test func(*testing.T)) {
	for _, chunk := range []int{64, 7} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			serve.SetManyChunk(t, chunk)
			test(t)
		})
	}
}

func testScoreManyMatchesOne(t *testing.T) {
	ts := startGymServer(t)
	ctx := ctxT(t)
	if err := ts.srv.LoadBundle(ctx, testBundle(t, true, 1), nil); err != nil {
		t.Fatal(err)
	}
	cfg := synthConfig()
	asOf := pbts(cfg.Start.AddDate(0, 0, 7*cfg.Weeks-30))
	ids, err := ts.store.MemberIDs("", 1000)
	if err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, tokAdmin)
	one := map[string]*retainv1.MemberScore{}
	oneErr := map[string]uint32{}
	for _, id := range ids {
		r, err := c.ScoreMember(ctx, &retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}, AsOf: asOf})
		if err != nil {
			oneErr[id] = uint32(status.Code(err))
			continue
		}
		one[id] = r.GetScore()
	}
	t.Logf("%d members scored alone, %d failed alone", len(one), len(oneErr))
	if len(one) < 40 || len(oneErr) == 0 {
		t.Fatalf("%d scored and %d failed alone: the test wants both", len(one), len(oneErr))
	}
	check := func(call string, got *retainv1.MemberScore) {
		t.Helper()
		want := one[got.GetMemberId()]
		if want == nil {
			t.Errorf("%s: %s scored, but failed alone (code %d)", call, got.GetMemberId(), oneErr[got.GetMemberId()])
			return
		}
		g, w := proto.Clone(got).(*retainv1.MemberScore), proto.Clone(want).(*retainv1.MemberScore)
		if math.Abs(g.ChurnProbability-w.ChurnProbability) > 1e-6 {
			t.Errorf("%s: %s churn %v, alone %v", call, g.MemberId, g.ChurnProbability, w.ChurnProbability)
		}
		if len(g.Reasons) != len(w.Reasons) || len(g.NextCourses) != len(w.NextCourses) {
			t.Fatalf("%s: %s has %d reasons and %d courses, alone %d and %d", call, g.MemberId, len(g.Reasons), len(g.NextCourses), len(w.Reasons), len(w.NextCourses))
		}
		for k := range g.Reasons {
			if math.Abs(g.Reasons[k].Contribution-w.Reasons[k].Contribution) > 1e-5 {
				t.Errorf("%s: %s reason %s %v, alone %v", call, g.MemberId, g.Reasons[k].Name, g.Reasons[k].Contribution, w.Reasons[k].Contribution)
			}
			g.Reasons[k].Contribution = w.Reasons[k].Contribution
		}
		for k := range g.NextCourses {
			if math.Abs(g.NextCourses[k].Probability-w.NextCourses[k].Probability) > 1e-6 {
				t.Errorf("%s: %s course %s %v, alone %v", call, g.MemberId, g.NextCourses[k].CourseId, g.NextCourses[k].Probability, w.NextCourses[k].Probability)
			}
			g.NextCourses[k].Probability = w.NextCourses[k].Probability
		}
		g.ChurnProbability, g.ScoredAt = w.ChurnProbability, w.ScoredAt
		if !proto.Equal(g, w) {
			t.Errorf("%s: %s\n got %v\nalone %v", call, g.MemberId, g, w)
		}
	}
	checkErr := func(call string, e *retainv1.ScoreError) {
		t.Helper()
		if code, ok := oneErr[e.GetMemberId()]; !ok || uint32(e.GetCode()) != code {
			t.Errorf("%s: %s failed with code %d (%s); alone: code %d, failed %v", call, e.GetMemberId(), e.GetCode(), e.GetMessage(), code, ok)
		}
	}

	resp, err := c.ScoreMembers(ctx, &retainv1.ScoreMembersRequest{MemberIds: ids, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Scores) != len(one) || len(resp.Errors) != len(oneErr) {
		t.Errorf("ScoreMembers: %d scores, %d errors; alone %d and %d", len(resp.Scores), len(resp.Errors), len(one), len(oneErr))
	}
	for _, s := range resp.Scores {
		check("ScoreMembers", s)
	}
	for _, e := range resp.Errors {
		checkErr("ScoreMembers", e)
	}

	st, err := c.StreamScores(ctx, &retainv1.StreamScoresRequest{MemberIds: ids, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		r, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e := r.GetError(); e != nil {
			checkErr("StreamScores", e)
		} else {
			check("StreamScores", r.GetScore())
		}
		if got := memberOf(r); got != ids[n] {
			t.Fatalf("StreamScores result %d is %s, want %s (the listed order)", n, got, ids[n])
		}
	}
	if n != len(ids) {
		t.Errorf("StreamScores: %d results for %d members", n, len(ids))
	}
}

func memberOf(r *retainv1.StreamScoresResponse) string {
	if e := r.GetError(); e != nil {
		return e.GetMemberId()
	}
	return r.GetScore().GetMemberId()
}

// TestAlertsRescoreWithBundle: the alerts' rescoring, which scores a page
// of members per network run, records for every member of the synthetic
// gym the risk level ScoreMember gives it alone, skips those who had
// already churned and counts as failed those who fail alone.
func TestAlertsRescoreWithBundle(t *testing.T) { forChunks(t, testAlertsRescoreWithBundle) }

func testAlertsRescoreWithBundle(t *testing.T) {
	checkNoLeak(t)
	cfg := synthConfig()
	at := cfg.Start.AddDate(0, 0, 7*cfg.Weeks-30) // within the data
	ts := startGymServerAt(t, at)
	ctx := ctxT(t)
	if err := ts.srv.LoadBundle(ctx, testBundle(t, true, 1), nil); err != nil {
		t.Fatal(err)
	}
	a, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, "http://127.0.0.1:1/", nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ids, err := ts.store.MemberIDs("", 1000)
	if err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, tokAdmin)
	want := map[string]string{} // member -> level, "" for skipped
	var scored, skipped, failed int
	for _, id := range ids {
		r, err := c.ScoreMember(ctx, &retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}, AsOf: pbts(at)})
		switch {
		case status.Code(err) == codes.FailedPrecondition: // not joined yet: not on the books
			skipped++
			want[id] = ""
		case err != nil:
			failed++
		case r.GetScore().GetAlreadyChurned():
			skipped++
			want[id] = ""
		default:
			scored++
			want[id] = strings.ToLower(strings.TrimPrefix(r.GetScore().GetRiskLevel().String(), "RISK_LEVEL_"))
		}
	}
	t.Logf("alone: %d scored, %d churned, %d failed", scored, skipped, failed)
	if scored == 0 || skipped == 0 {
		t.Fatalf("%d scored, %d churned, %d failed alone: the test wants scored and churned members", scored, skipped, failed)
	}
	rep, err := a.RescoreAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scored != scored || rep.Skipped != skipped || rep.Failed != failed {
		t.Errorf("rescoring: %d scored, %d skipped, %d failed; alone %d, %d and %d", rep.Scored, rep.Skipped, rep.Failed, scored, skipped, failed)
	}
	for id, w := range want {
		if got := level(t, ts.store, id); got != w {
			t.Errorf("%s: recorded level %q, alone %q", id, got, w)
		}
	}
}

// nilScorer is riskScorer but for one member, for whom Score returns no
// score and no error (a broken Scorer).
type nilScorer struct {
	*riskScorer
	id string
}

func (n nilScorer) Score(ctx context.Context, h *serve.History, asOf time.Time) (*serve.Score, error) {
	if h.Member.MemberID == n.id {
		return nil, nil
	}
	return n.riskScorer.Score(ctx, h, asOf)
}

// TestAlertsNilScore: a Scorer that gives one member no score (and no
// error) fails that member's rescoring; the others are scored and the
// server goes on.
func TestAlertsNilScore(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{}, nilScorer{&riskScorer{}, "m2"}, nil)
	a, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, "http://127.0.0.1:1/", nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rep, err := a.RescoreAll(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scored != 2 || rep.Failed != 1 {
		t.Errorf("rescoring %+v, want 2 scored and 1 failed (m2)", rep)
	}
}

// panicScorer is riskScorer but panics scoring one member.
type panicScorer struct {
	*riskScorer
	id string
}

func (p panicScorer) Score(ctx context.Context, h *serve.History, asOf time.Time) (*serve.Score, error) {
	if h.Member.MemberID == p.id {
		panic("model bug for " + p.id)
	}
	return p.riskScorer.Score(ctx, h, asOf)
}

// TestAlertsPanic: a panic in the alerts' rescoring (here the Scorer's)
// costs that rescoring, logged and counted as a recovered panic, not the
// server: the loop answers the next rescoring and calls still score.
func TestAlertsPanic(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{}, panicScorer{&riskScorer{}, "m2"}, nil)
	a, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, "http://127.0.0.1:1/", nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := ctxT(t)
	for i := range 2 {
		if _, err := a.RescoreAll(ctx); err == nil {
			t.Errorf("rescoring %d: no error from a panicking model", i)
		}
	}
	if n := ts.count(t, "retain_panics_recovered_total"); n != 2 {
		t.Errorf("%d panics recovered, want 2", n)
	}
	if _, err := ts.dial(t, tokAdmin).ScoreMember(ctx, byID("m1")); err != nil {
		t.Errorf("after the panics: %v", err)
	}
}
