package serve_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	retainv1 "retain/proto/retain/v1"
	"retain/serve"
)

// TestNotJoined: a member who joined on as_of's day (a sign-up of today)
// has no feature week yet. It must not keep a model from loading (the
// model check's trial score passes over it), and scoring it is a
// FAILED_PRECONDITION that names it, not INTERNAL; the alerts' rescoring
// counts it as skipped, not failed.
func TestNotJoined(t *testing.T) {
	checkNoLeak(t)
	cfg := synthConfig()
	at := cfg.Start.AddDate(0, 0, 7*cfg.Weeks-30).Add(15 * time.Hour) // within the data, mid-afternoon
	ts := startGymServerAt(t, at)
	ctx := ctxT(t)
	c := ts.dial(t, tokAdmin)
	const id = "0-signup" // sorts before the synthetic M000001: the trial score's first pick
	if _, err := c.IngestEvents(ctx, &retainv1.IngestEventsRequest{
		Members: []*retainv1.Member{memberPB(id, at.Add(-time.Hour))},
	}); err != nil {
		t.Fatal(err)
	}
	if ids, err := ts.store.MemberIDs("", 1); err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("first member %v, %v; want %s", ids, err, id)
	}
	if err := ts.srv.LoadBundle(ctx, testBundle(t, true, 1), nil); err != nil {
		t.Fatalf("a sign-up of today keeps the model from loading: %v", err)
	}

	notJoined := func(what string, err error) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), `"`+id+`"`) {
			t.Errorf("%s: %v, want FAILED_PRECONDITION naming %s", what, err, id)
			return
		}
		var found bool
		for _, d := range st.Details() {
			if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.GetViolations()) == 1 {
				v := pf.GetViolations()[0]
				found = v.GetType() == serve.NotJoinedViolation && v.GetSubject() == "member/"+id
			}
		}
		if !found {
			t.Errorf("%s: details %v, want one %s violation of member/%s", what, st.Details(), serve.NotJoinedViolation, id)
		}
	}
	_, err := c.ScoreMember(ctx, byID(id))
	notJoined("ScoreMember", err)
	_, err = c.RecommendClasses(ctx, &retainv1.RecommendClassesRequest{Subject: &retainv1.RecommendClassesRequest_MemberId{MemberId: id}})
	notJoined("RecommendClasses", err)
	// Inline, the same: the history's member joined an hour before as_of.
	_, err = c.ScoreMember(ctx, &retainv1.ScoreMemberRequest{
		Subject: &retainv1.ScoreMemberRequest_History{History: &retainv1.MemberHistory{Member: memberPB(id, at.Add(-time.Hour))}},
		AsOf:    pbts(at),
	})
	notJoined("inline ScoreMember", err)
	// A stored member as of a day before it joined.
	_, err = c.ScoreMember(ctx, &retainv1.ScoreMemberRequest{
		Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}, AsOf: pbts(at.AddDate(0, 0, -3)),
	})
	notJoined("ScoreMember as of three days before", err)
	// Listed in a ScoreMembers call: its own error entry; the others score.
	r, err := c.ScoreMembers(ctx, &retainv1.ScoreMembersRequest{MemberIds: []string{id, "M000001"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetErrors()) != 1 || r.GetErrors()[0].GetMemberId() != id || codes.Code(r.GetErrors()[0].GetCode()) != codes.FailedPrecondition ||
		len(r.GetScores()) != 1 {
		t.Errorf("ScoreMembers: %v", r)
	}
	const series = `retain_grpc_errors_total{code="%s",method="/retain.v1.RetainService/ScoreMember"}`
	if n := ts.count(t, fmt.Sprintf(series, "FailedPrecondition")); n != 3 {
		t.Errorf("%d ScoreMember calls counted as FAILED_PRECONDITION, want 3", n)
	}
	if n := ts.count(t, fmt.Sprintf(series, "Internal")); n != 0 {
		t.Errorf("%d ScoreMember calls counted as INTERNAL", n)
	}

	a, err := ts.srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, "http://127.0.0.1:1/", nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rep, err := a.RescoreAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 0 || rep.Skipped == 0 {
		t.Errorf("rescoring: %+v, want the sign-up skipped and no failure", rep)
	}
}
