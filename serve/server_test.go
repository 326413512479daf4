package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
	"retain/serve"
)

func TestScoreMember(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{}, &fakeScorer{version: "v1"}, nil)
	c := ts.dial(t, tokCRM)
	ctx := ctxT(t)

	// m1 as of now: 5 visits (yoga x3, spin, open gym), so p = 1/(1+5)
	// and the class shares are yoga 3/4, spin 1/4. The next yoga
	// (Wednesday 18:30) after Monday 2 June 12:00 is 4 June, then 11 June;
	// spin (Monday 07:00) is past today, so 9 June, then 16 June.
	resp, err := c.ScoreMember(ctx, byID("m1"))
	if err != nil {
		t.Fatal(err)
	}
	want := &retainv1.MemberScore{
		MemberId:         "m1",
		ChurnProbability: 1.0 / 6,
		RiskLevel:        retainv1.RiskLevel_RISK_LEVEL_LOW,
		Tier:             "casual",
		NextCourses: []*retainv1.CourseSuggestion{
			{CourseId: "yoga", Name: "Yoga", Category: "mind_body", Probability: 0.75, NextSessions: []*retainv1.Session{
				{CourseId: "yoga", StartsAt: pbts(day(2025, 6, 4, 18, 30)), Club: "north", Coach: "ana"},
				{CourseId: "yoga", StartsAt: pbts(day(2025, 6, 11, 18, 30)), Club: "north", Coach: "ana"},
			}},
			{CourseId: "spin", Name: "Spin", Category: "cardio", Probability: 0.25, NextSessions: []*retainv1.Session{
				{CourseId: "spin", StartsAt: pbts(day(2025, 6, 9, 7, 0))},
				{CourseId: "spin", StartsAt: pbts(day(2025, 6, 16, 7, 0))},
			}},
		},
		Reasons:      []*retainv1.Reason{{Name: "visits", Description: "5 visits", Contribution: -5}},
		ModelVersion: "v1",
		ScoredAt:     pbts(now),
		AsOf:         pbts(now),
	}
	if !proto.Equal(resp.GetScore(), want) {
		t.Errorf("m1 now:\ngot  %v\nwant %v", resp.GetScore(), want)
	}

	for _, tc := range []struct {
		name     string
		req      *retainv1.ScoreMemberRequest
		prob     float64
		risk     retainv1.RiskLevel
		courses  []string
		flags    []string
		action   string
		sessions int
	}{
		// As of 1 March only a1 (yoga) and a2 (spin) came before: p = 1/3,
		// MEDIUM (0.3 <= p < 0.6); shares tie at 1/2, so by id: spin, yoga;
		// top_k 1 keeps spin.
		{"as_of", &retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: "m1"},
			AsOf: pbts(day(2025, 3, 1, 0, 0)), TopK: 1}, 1.0 / 3, retainv1.RiskLevel_RISK_LEVEL_MEDIUM, []string{"spin"}, nil, "", 2},
		// m2: one visit, p = 1/2, joined 13 days before now.
		{"new member", byID("m2"), 0.5, retainv1.RiskLevel_RISK_LEVEL_MEDIUM, []string{"spin"}, []string{"new_member_90d"}, "coach_callback", 2},
		// m3: no visit, p = 1, HIGH.
		{"no events", byID("m3"), 1, retainv1.RiskLevel_RISK_LEVEL_HIGH, nil, nil, "coach_callback", 0},
		// Inline history as of 1 May: the 15 May visit is dropped, two yoga
		// visits remain: p = 1/3.
		{"inline", &retainv1.ScoreMemberRequest{
			Subject: &retainv1.ScoreMemberRequest_History{History: &retainv1.MemberHistory{
				Member: memberPB("x1", day(2025, 1, 1, 0, 0)),
				Attendance: []*retainv1.Attendance{
					visitPB("x-3", "x1", day(2025, 5, 15, 10, 0), "spin"),
					visitPB("x-2", "x1", day(2025, 4, 2, 18, 30), "yoga"),
					visitPB("x-1", "x1", day(2025, 3, 5, 18, 30), "yoga"),
				},
			}},
			AsOf: pbts(day(2025, 5, 1, 0, 0)),
		}, 1.0 / 3, retainv1.RiskLevel_RISK_LEVEL_MEDIUM, []string{"yoga"}, nil, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.ScoreMember(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			s := resp.GetScore()
			if math.Abs(s.GetChurnProbability()-tc.prob) > 1e-12 || s.GetRiskLevel() != tc.risk {
				t.Errorf("probability %v risk %v, want %v %v", s.GetChurnProbability(), s.GetRiskLevel(), tc.prob, tc.risk)
			}
			var courses []string
			for _, cs := range s.GetNextCourses() {
				courses = append(courses, cs.GetCourseId())
				if len(cs.GetNextSessions()) != tc.sessions {
					t.Errorf("course %s: %d sessions, want %d", cs.GetCourseId(), len(cs.GetNextSessions()), tc.sessions)
				}
			}
			if fmt.Sprint(courses) != fmt.Sprint(tc.courses) || fmt.Sprint(s.GetFlags()) != fmt.Sprint(tc.flags) {
				t.Errorf("courses %v flags %v, want %v %v", courses, s.GetFlags(), tc.courses, tc.flags)
			}
			if got := s.GetRecommendedAction().GetKind(); got != tc.action {
				t.Errorf("action %q, want %q", got, tc.action)
			}
		})
	}

	_, err = c.ScoreMember(ctx, byID("nobody"))
	wantCode(t, err, codes.NotFound)
}

func memberPB(id string, joined time.Time) *retainv1.Member {
	return &retainv1.Member{
		MemberId: id, JoinedAt: pbts(joined), HomeClub: "north",
		ContractType: retainv1.ContractType_CONTRACT_TYPE_MONTHLY, ContractStart: pbts(datasets.Date(joined)),
	}
}

func visitPB(id, memberID string, ts time.Time, course string) *retainv1.Attendance {
	return &retainv1.Attendance{EventId: id, MemberId: memberID, Ts: pbts(ts), CourseId: course, DurationMin: 60,
		Source: retainv1.Source_SOURCE_APP}
}

func TestScoreMembersAndStream(t *testing.T) {
	checkNoLeak(t)
	batch := fixture()
	// 300 more members, so that a full stream spans pages of the store.
	for i := range 300 {
		batch.Members = append(batch.Members, member(fmt.Sprintf("z%03d", i), day(2024, 6, 1, 0, 0)))
	}
	ts := startServer(t, serve.Options{}, &fakeScorer{version: "v1"}, batch)
	c := ts.dial(t, tokCRM)
	ctx := ctxT(t)

	resp, err := c.ScoreMembers(ctx, &retainv1.ScoreMembersRequest{MemberIds: []string{"m1", "nobody", "m3"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetScores()) != 2 || resp.GetScores()[0].GetMemberId() != "m1" || resp.GetScores()[1].GetMemberId() != "m3" {
		t.Errorf("scores %v, want m1 and m3", resp.GetScores())
	}
	if len(resp.GetErrors()) != 1 || resp.GetErrors()[0].GetMemberId() != "nobody" || codes.Code(resp.GetErrors()[0].GetCode()) != codes.NotFound {
		t.Errorf("errors %v, want nobody NOT_FOUND", resp.GetErrors())
	}

	stream := func(req *retainv1.StreamScoresRequest) (scored, failed []string) {
		t.Helper()
		st, err := c.StreamScores(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for {
			r, err := st.Recv()
			if err == io.EOF {
				return scored, failed
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.GetScore() != nil {
				scored = append(scored, r.GetScore().GetMemberId())
			} else {
				failed = append(failed, r.GetError().GetMemberId())
			}
		}
	}
	all, failed := stream(&retainv1.StreamScoresRequest{})
	if len(all) != 303 || len(failed) != 0 || all[0] != "m1" || all[2] != "m3" || all[3] != "z000" || all[302] != "z299" {
		t.Errorf("stream of all: %d scores (%v...), %d errors; want 303 in member_id order", len(all), all[:min(5, len(all))], len(failed))
	}
	rest, _ := stream(&retainv1.StreamScoresRequest{StartAfter: "z297"})
	if fmt.Sprint(rest) != "[z298 z299]" {
		t.Errorf("stream after z297: %v", rest)
	}
	some, failed := stream(&retainv1.StreamScoresRequest{MemberIds: []string{"m3", "nobody"}})
	if fmt.Sprint(some) != "[m3]" || fmt.Sprint(failed) != "[nobody]" {
		t.Errorf("stream of [m3 nobody]: scored %v failed %v", some, failed)
	}
}

func TestRecommendClassesAndModelInfo(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{Risk: serve.RiskThresholds{Medium: 0.2, High: 0.8}}, &fakeScorer{version: "v7"}, nil)
	c := ts.dial(t, tokCoach)
	ctx := ctxT(t)
	resp, err := c.RecommendClasses(ctx, &retainv1.RecommendClassesRequest{
		Subject: &retainv1.RecommendClassesRequest_MemberId{MemberId: "m1"}, TopK: 5})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMemberId() != "m1" || resp.GetModelVersion() != "v7" || len(resp.GetCourses()) != 2 ||
		resp.GetCourses()[0].GetCourseId() != "yoga" || !resp.GetScoredAt().AsTime().Equal(now) {
		t.Errorf("got %v", resp)
	}
	info, err := c.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetVersion() != "v7" || info.GetMetrics()["auc_pr"] != 0.5 || fmt.Sprint(info.GetFeatureNames()) != "[visits spend]" ||
		info.GetRiskThresholds().GetMedium() != 0.2 || info.GetRiskThresholds().GetHigh() != 0.8 ||
		!info.GetTrainedAt().AsTime().Equal(time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("got %v", info)
	}
}

func TestIngestEvents(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{}, &fakeScorer{version: "v1"}, nil)
	c := ts.dial(t, tokCRM)
	ctx := ctxT(t)

	req := &retainv1.IngestEventsRequest{
		Members: []*retainv1.Member{memberPB("m9", day(2025, 5, 1, 8, 0))},
		Courses: []*retainv1.Course{{CourseId: "box", Name: "Boxing", Category: "combat", Weekday: 5, StartTime: "19:00"}},
		Attendance: []*retainv1.Attendance{
			visitPB("n1", "m9", day(2025, 5, 2, 19, 0), "box"),
			visitPB("n2", "m1", day(2025, 6, 1, 8, 0), ""),
			visitPB("n1", "m9", day(2025, 5, 2, 19, 0), "box"), // repeats n1 in the same call
		},
		Transactions: []*retainv1.Transaction{{EventId: "n1", MemberId: "m9", Ts: pbts(day(2025, 5, 1, 8, 0)), Amount: 4900,
			Kind: retainv1.TransactionKind_TRANSACTION_KIND_MEMBERSHIP_FEE}}, // same id, other table: not a duplicate
	}
	resp, err := c.IngestEvents(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != 3 || resp.GetDuplicates() != 1 || resp.GetMembersUpserted() != 1 || resp.GetCoursesUpserted() != 1 {
		t.Errorf("first call: %v, want accepted 3, duplicates 1, 1 member, 1 course", resp)
	}
	resp, err = c.IngestEvents(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != 0 || resp.GetDuplicates() != 4 {
		t.Errorf("second call: %v, want accepted 0, duplicates 4", resp)
	}
	h, err := ts.store.History("m9")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Attendance) != 1 || h.Attendance[0].EventID != "n1" || len(h.Transactions) != 1 {
		t.Errorf("m9 history: %+v, want n1 once in each table", h)
	}
	// The new member scores, and the new course has sessions: Friday
	// 19:00 after Monday 2 June noon is 6 June.
	sr, err := c.ScoreMember(ctx, byID("m9"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sr.GetScore().GetNextCourses()[0].GetNextSessions()[0].GetStartsAt().AsTime(); !got.Equal(day(2025, 6, 6, 19, 0)) {
		t.Errorf("next boxing session %v, want 2025-06-06 19:00", got)
	}

	// A batch with a bad reference stores nothing.
	for _, tc := range []struct {
		name  string
		req   *retainv1.IngestEventsRequest
		code  codes.Code
		field string
	}{
		{"unknown member", &retainv1.IngestEventsRequest{Attendance: []*retainv1.Attendance{
			visitPB("ok-1", "m1", day(2025, 5, 3, 9, 0), ""),
			visitPB("bad-1", "ghost", day(2025, 5, 3, 9, 0), ""),
		}}, codes.NotFound, "attendance[1].member_id"},
		{"unknown course", &retainv1.IngestEventsRequest{Attendance: []*retainv1.Attendance{
			visitPB("ok-1", "m1", day(2025, 5, 3, 9, 0), ""),
			visitPB("bad-2", "m1", day(2025, 5, 3, 9, 0), "salsa"),
		}}, codes.InvalidArgument, "attendance[1].course_id"},
		{"before join", &retainv1.IngestEventsRequest{Transactions: []*retainv1.Transaction{
			{EventId: "bad-3", MemberId: "m2", Ts: pbts(day(2025, 5, 19, 23, 0)), Amount: 1, Kind: retainv1.TransactionKind_TRANSACTION_KIND_RETAIL},
		}}, codes.InvalidArgument, "transactions[0].ts"},
		// An event_id is an idempotency key: the same id with other
		// content (here n1 of m9 above, an hour later) is a conflict, not
		// a duplicate, whether stored already or earlier in the request.
		{"stored id, other content", &retainv1.IngestEventsRequest{Attendance: []*retainv1.Attendance{
			visitPB("ok-1", "m1", day(2025, 5, 3, 9, 0), ""),
			visitPB("n1", "m9", day(2025, 5, 2, 20, 0), "box"),
		}}, codes.AlreadyExists, "attendance[1].event_id"},
		{"stored id, other member", &retainv1.IngestEventsRequest{Attendance: []*retainv1.Attendance{
			visitPB("ok-1", "m1", day(2025, 5, 3, 9, 0), ""),
			visitPB("n1", "m1", day(2025, 5, 2, 19, 0), "box"),
		}}, codes.AlreadyExists, "attendance[1].event_id"},
		{"repeated id, other content", &retainv1.IngestEventsRequest{Attendance: []*retainv1.Attendance{
			visitPB("ok-1", "m1", day(2025, 5, 3, 9, 0), ""),
			{EventId: "ok-1", MemberId: "m1", Ts: pbts(day(2025, 5, 3, 9, 0)), DurationMin: 45, Source: retainv1.Source_SOURCE_APP},
		}}, codes.AlreadyExists, "attendance[1].event_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.IngestEvents(ctx, tc.req)
			wantCode(t, err, tc.code)
			if f := fields(err); len(f) != 1 || f[0] != tc.field {
				t.Errorf("fields %v, want [%s]", f, tc.field)
			}
			for _, d := range status.Convert(err).Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && strings.Contains(br.GetFieldViolations()[0].GetDescription(), tc.field) {
					t.Errorf("description %q repeats the field", br.GetFieldViolations()[0].GetDescription())
				}
			}
			h, err := ts.store.History("m1")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range h.Attendance {
				if a.EventID == "ok-1" {
					t.Errorf("ok-1 stored from a rejected batch")
				}
			}
		})
	}
}

// callAll makes one valid call of each method with token tok and returns
// the status codes by method name.
func callAll(t *testing.T, ts *testServer, tok string) map[string]codes.Code {
	c := ts.dial(t, tok)
	ctx := ctxT(t)
	got := map[string]codes.Code{}
	var err error
	_, err = c.ScoreMember(ctx, byID("m1"))
	got["ScoreMember"] = status.Code(err)
	_, err = c.ScoreMembers(ctx, &retainv1.ScoreMembersRequest{MemberIds: []string{"m1"}})
	got["ScoreMembers"] = status.Code(err)
	st, err := c.StreamScores(ctx, &retainv1.StreamScoresRequest{MemberIds: []string{"m1"}})
	if err == nil {
		for err == nil {
			_, err = st.Recv()
		}
		if err == io.EOF {
			err = nil
		}
	}
	got["StreamScores"] = status.Code(err)
	_, err = c.RecommendClasses(ctx, &retainv1.RecommendClassesRequest{Subject: &retainv1.RecommendClassesRequest_MemberId{MemberId: "m1"}})
	got["RecommendClasses"] = status.Code(err)
	_, err = c.IngestEvents(ctx, &retainv1.IngestEventsRequest{Attendance: []*retainv1.Attendance{visitPB("auth-1", "m1", day(2025, 5, 5, 9, 0), "")}})
	got["IngestEvents"] = status.Code(err)
	_, err = c.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
	got["GetModelInfo"] = status.Code(err)
	_, err = c.Health.Check(ctx, &healthpb.HealthCheckRequest{})
	got["Health"] = status.Code(err)
	return got
}

func TestAuthMatrix(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{}, &fakeScorer{version: "v1"}, nil)
	const (
		ok   = codes.OK
		unau = codes.Unauthenticated
		deny = codes.PermissionDenied
	)
	// Columns: ScoreMember, ScoreMembers, StreamScores, RecommendClasses,
	// IngestEvents, GetModelInfo, Health.
	methods := []string{"ScoreMember", "ScoreMembers", "StreamScores", "RecommendClasses", "IngestEvents", "GetModelInfo", "Health"}
	for _, tc := range []struct {
		name  string
		token string
		want  []codes.Code
	}{
		{"no token", "", []codes.Code{unau, unau, unau, unau, unau, unau, ok}},
		{"unknown token", "not-a-token-0123456789", []codes.Code{unau, unau, unau, unau, unau, unau, ok}},
		{"admin", tokAdmin, []codes.Code{ok, ok, ok, ok, ok, ok, ok}},
		{"crm: score+ingest", tokCRM, []codes.Code{ok, ok, ok, deny, ok, ok, ok}},
		{"coach: recommend", tokCoach, []codes.Code{deny, deny, deny, ok, deny, ok, ok}},
		{"hashed: score", tokHashed, []codes.Code{ok, ok, ok, deny, deny, ok, ok}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := callAll(t, ts, tc.token)
			for i, m := range methods {
				if got[m] != tc.want[i] {
					t.Errorf("%s: %v, want %v", m, got[m], tc.want[i])
				}
			}
		})
	}

	// A malformed authorization header is no token.
	c := ts.dial(t, "")
	ctx := metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Basic "+tokAdmin)
	_, err := c.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

func TestHealth(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{}, nil, nil)
	c := ts.dial(t, tokAdmin)
	ctx := ctxT(t)
	health := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for _, svc := range []string{"", serve.ServiceName} {
			r, err := c.Health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatal(err)
			}
			if r.GetStatus() != want {
				t.Errorf("health of %q: %v, want %v", svc, r.GetStatus(), want)
			}
		}
	}
	version := func() string {
		t.Helper()
		info, err := c.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return info.GetVersion()
	}

	health(healthpb.HealthCheckResponse_NOT_SERVING)
	_, err := c.ScoreMember(ctx, byID("m1"))
	wantCode(t, err, codes.Unavailable)
	_, err = c.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
	wantCode(t, err, codes.Unavailable)

	// A model that fails its check never goes live.
	if err := ts.srv.SetScorer(ctx, (&fakeScorer{version: "bad"}).set(func(h *hooks) { h.check = errBoom })); !errors.Is(err, errBoom) {
		t.Errorf("SetScorer of a failing Checker: %v", err)
	}
	health(healthpb.HealthCheckResponse_NOT_SERVING)

	if err := ts.srv.SetScorer(ctx, &fakeScorer{version: "v1"}); err != nil {
		t.Fatal(err)
	}
	health(healthpb.HealthCheckResponse_SERVING)
	if v := version(); v != "v1" {
		t.Errorf("version %q, want v1", v)
	}

	// Bad replacements keep v1: a failing self-check, an invalid trial
	// score, a failing trial score, a trial score that panics, no version.
	for _, bad := range []*fakeScorer{
		(&fakeScorer{version: "v2"}).set(func(h *hooks) { h.check = errBoom }),
		(&fakeScorer{version: "v2"}).set(func(h *hooks) { h.bad = true }),
		(&fakeScorer{version: "v2"}).set(func(h *hooks) { h.err = errBoom }),
		(&fakeScorer{version: "v2"}).set(func(h *hooks) { h.panic = "model bug" }),
		{version: ""},
	} {
		if err := ts.srv.SetScorer(ctx, bad); err == nil {
			t.Errorf("SetScorer(%+v) = nil, want an error", bad.get())
		}
		health(healthpb.HealthCheckResponse_SERVING)
		if v := version(); v != "v1" {
			t.Errorf("after a bad model: version %q, want v1", v)
		}
	}

	if err := ts.srv.SetScorer(ctx, nil); err != nil {
		t.Fatal(err)
	}
	health(healthpb.HealthCheckResponse_NOT_SERVING)
}

func TestValidationNamesTheField(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{MaxIngestRecords: 5, MaxBatchMembers: 3}, &fakeScorer{version: "v1"}, nil)
	c := ts.dial(t, tokAdmin)
	ctx := ctxT(t)
	future := now.Add(time.Hour)
	att := func(mod func(a *retainv1.Attendance)) *retainv1.IngestEventsRequest {
		a := visitPB("v-1", "m1", day(2025, 5, 1, 9, 0), "")
		mod(a)
		return &retainv1.IngestEventsRequest{Attendance: []*retainv1.Attendance{a}}
	}
	inline := func(mod func(h *retainv1.MemberHistory)) *retainv1.ScoreMemberRequest {
		h := &retainv1.MemberHistory{Member: memberPB("x1", day(2025, 1, 1, 0, 0)),
			Attendance: []*retainv1.Attendance{visitPB("x-1", "x1", day(2025, 3, 5, 18, 30), "yoga")}}
		mod(h)
		return &retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_History{History: h}}
	}
	for _, tc := range []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"no subject", func() error { _, err := c.ScoreMember(ctx, &retainv1.ScoreMemberRequest{}); return err },
			codes.InvalidArgument, "member_id"},
		{"as_of in the future", func() error {
			_, err := c.ScoreMember(ctx, &retainv1.ScoreMemberRequest{Subject: byID("m1").Subject, AsOf: pbts(future)})
			return err
		}, codes.InvalidArgument, "as_of"},
		{"top_k too big", func() error {
			_, err := c.ScoreMember(ctx, &retainv1.ScoreMemberRequest{Subject: byID("m1").Subject, TopK: 51})
			return err
		}, codes.InvalidArgument, "top_k"},
		{"history event of another member", func() error {
			_, err := c.ScoreMember(ctx, inline(func(h *retainv1.MemberHistory) { h.Attendance[0].MemberId = "m1" }))
			return err
		}, codes.InvalidArgument, "history.attendance[0].member_id"},
		{"history bad timestamp", func() error {
			_, err := c.ScoreMember(ctx, inline(func(h *retainv1.MemberHistory) { h.Attendance[0].Ts.Nanos = -1 }))
			return err
		}, codes.InvalidArgument, "history.attendance[0].ts"},
		{"history unknown course", func() error {
			_, err := c.ScoreMember(ctx, inline(func(h *retainv1.MemberHistory) { h.Attendance[0].CourseId = "salsa" }))
			return err
		}, codes.InvalidArgument, "history.attendance[0].course_id"},
		{"history bad enum", func() error {
			_, err := c.ScoreMember(ctx, inline(func(h *retainv1.MemberHistory) { h.Member.ContractType = 42 }))
			return err
		}, codes.InvalidArgument, "history.member.contract_type"},
		{"ingest future ts", func() error {
			_, err := c.IngestEvents(ctx, att(func(a *retainv1.Attendance) { a.Ts = pbts(future) }))
			return err
		}, codes.InvalidArgument, "attendance[0].ts"},
		{"ingest unknown source", func() error {
			_, err := c.IngestEvents(ctx, att(func(a *retainv1.Attendance) { a.Source = 99 }))
			return err
		}, codes.InvalidArgument, "attendance[0].source"},
		{"ingest long event id", func() error {
			_, err := c.IngestEvents(ctx, att(func(a *retainv1.Attendance) { a.EventId = strings.Repeat("e", 300) }))
			return err
		}, codes.InvalidArgument, "attendance[0].event_id"},
		{"ingest negative fee", func() error {
			_, err := c.IngestEvents(ctx, &retainv1.IngestEventsRequest{Transactions: []*retainv1.Transaction{{
				EventId: "t-9", MemberId: "m1", Ts: pbts(day(2025, 5, 1, 0, 0)), Amount: -100,
				Kind: retainv1.TransactionKind_TRANSACTION_KIND_MEMBERSHIP_FEE}}})
			return err
		}, codes.InvalidArgument, "transactions[0].amount"},
		{"ingest bad start time", func() error {
			_, err := c.IngestEvents(ctx, &retainv1.IngestEventsRequest{Courses: []*retainv1.Course{{
				CourseId: "late", Name: "Late", Category: "x", Weekday: 2, StartTime: "25:00"}}})
			return err
		}, codes.InvalidArgument, "courses[0].start_time"},
		{"ingest too many records", func() error {
			req := &retainv1.IngestEventsRequest{}
			for i := range 6 {
				req.Attendance = append(req.Attendance, visitPB(fmt.Sprint("many-", i), "m1", day(2025, 5, 1, 9, 0), ""))
			}
			_, err := c.IngestEvents(ctx, req)
			return err
		}, codes.InvalidArgument, "attendance"},
		{"ingest nothing", func() error { _, err := c.IngestEvents(ctx, &retainv1.IngestEventsRequest{}); return err },
			codes.InvalidArgument, "attendance"},
		{"batch too big", func() error {
			_, err := c.ScoreMembers(ctx, &retainv1.ScoreMembersRequest{MemberIds: []string{"m1", "m2", "m3", "m4"}})
			return err
		}, codes.InvalidArgument, "member_ids"},
		{"batch repeats", func() error {
			_, err := c.ScoreMembers(ctx, &retainv1.ScoreMembersRequest{MemberIds: []string{"m1", "m1"}})
			return err
		}, codes.InvalidArgument, "member_ids[1]"},
		{"stream start_after with ids", func() error {
			st, err := c.StreamScores(ctx, &retainv1.StreamScoresRequest{MemberIds: []string{"m1"}, StartAfter: "m0"})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, codes.InvalidArgument, "start_after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, tc.code)
			if f := fields(err); len(f) == 0 || f[0] != tc.field {
				t.Errorf("fields %v, want %s first (%v)", f, tc.field, err)
			}
			if !strings.Contains(status.Convert(err).Message(), tc.field) {
				t.Errorf("message %q does not name %s", status.Convert(err).Message(), tc.field)
			}
		})
	}
}

func TestOversizedRequest(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{MaxRecvMsgBytes: 64 << 10}, &fakeScorer{version: "v1"}, nil)
	c := ts.dial(t, tokAdmin)
	h := &retainv1.MemberHistory{Member: memberPB("x1", day(2025, 1, 1, 0, 0))}
	for i := range 2000 { // about 80 bytes each: 160 KB
		h.Attendance = append(h.Attendance, visitPB(fmt.Sprintf("x-%05d", i), "x1", day(2025, 3, 5, 18, 30), "yoga"))
	}
	_, err := c.ScoreMember(ctxT(t), &retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_History{History: h}})
	wantCode(t, err, codes.ResourceExhausted)
	// The server still serves.
	if _, err := c.ScoreMember(ctxT(t), byID("m1")); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlinesAndPanics(t *testing.T) {
	checkNoLeak(t)
	sc := &fakeScorer{version: "v1"}
	ts := startServer(t, serve.Options{RequestTimeout: 300 * time.Millisecond}, sc, nil)
	c := ts.dial(t, tokAdmin)
	// Set after start: the trial score of SetScorer would block on it.
	sc.set(func(h *hooks) { h.gate = make(chan struct{}) })

	// The client's deadline reaches the Scorer.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := c.ScoreMember(ctx, byID("m1"))
	cancel()
	wantCode(t, err, codes.DeadlineExceeded)
	// The server's cap applies without a client deadline.
	_, err = c.ScoreMember(context.Background(), byID("m1"))
	wantCode(t, err, codes.DeadlineExceeded)
	for deadline := time.Now().Add(2 * time.Second); !sc.ctxDone.Load() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !sc.ctxDone.Load() {
		t.Error("the Scorer never saw its context done")
	}

	// A panicking Scorer costs one call, not the server.
	p := &fakeScorer{version: "v2"}
	if err := ts.srv.SetScorer(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	p.set(func(h *hooks) { h.panic = "boom" })
	_, err = c.ScoreMember(ctxT(t), byID("m1"))
	wantCode(t, err, codes.Internal)
	p.set(func(h *hooks) { h.panic = "" })
	if _, err := c.ScoreMember(ctxT(t), byID("m1")); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
	// A Scorer error is INTERNAL; an invalid score too.
	p.set(func(h *hooks) { h.err = errBoom })
	_, err = c.ScoreMember(ctxT(t), byID("m1"))
	wantCode(t, err, codes.Internal)
	p.set(func(h *hooks) { h.err, h.bad = nil, true })
	_, err = c.ScoreMember(ctxT(t), byID("m1"))
	wantCode(t, err, codes.Internal)
}

func TestGracefulShutdownDrains(t *testing.T) {
	checkNoLeak(t)
	sc := &fakeScorer{version: "v1"}
	ts := startServer(t, serve.Options{ShutdownTimeout: 10 * time.Second}, sc, nil)
	c := ts.dial(t, tokAdmin)
	entered, gate := make(chan struct{}, 1), make(chan struct{})
	sc.set(func(h *hooks) { h.entered, h.gate = entered, gate })

	callErr := make(chan error, 1)
	go func() {
		_, err := c.ScoreMember(context.Background(), byID("m1"))
		callErr <- err
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- ts.srv.Shutdown(context.Background()) }()

	// While the call is in flight, Shutdown waits and new connections are
	// refused.
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	c2 := ts.dial(t, tokAdmin)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := c2.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
	cancel()
	if err == nil {
		t.Error("a new connection was served during shutdown")
	}

	close(gate)
	if err := <-callErr; err != nil {
		t.Errorf("the call in flight failed: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownCancelsAfterTimeout(t *testing.T) {
	checkNoLeak(t)
	sc := &fakeScorer{version: "v1"}
	ts := startServer(t, serve.Options{ShutdownTimeout: 200 * time.Millisecond}, sc, nil)
	c := ts.dial(t, tokAdmin)
	entered, gate := make(chan struct{}, 1), make(chan struct{})
	sc.set(func(h *hooks) { h.entered, h.gate = entered, gate })
	callErr := make(chan error, 1)
	go func() {
		_, err := c.ScoreMember(context.Background(), byID("m1"))
		callErr <- err
	}()
	<-entered
	start := time.Now()
	if err := ts.srv.Shutdown(context.Background()); err == nil {
		t.Error("Shutdown = nil, want an error saying calls were cancelled")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v with a 200ms timeout", d)
	}
	if err := <-callErr; err == nil {
		t.Error("the cancelled call succeeded")
	}
}

// TestSetScorerUnderLoad swaps two models while clients score without
// pause: no call may fail, and each score must come whole from one model
// (A scores 0.2, B scores 0.7).
func TestSetScorerUnderLoad(t *testing.T) {
	checkNoLeak(t)
	a, b := &fakeScorer{version: "A", prob: 0.2}, &fakeScorer{version: "B", prob: 0.7}
	ts := startServer(t, serve.Options{}, a, nil)
	c := ts.dial(t, tokAdmin)
	ctx := ctxT(t)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var failures []string
	var calls int
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.ScoreMember(ctx, byID("m1"))
				mu.Lock()
				calls++
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case r.GetScore().GetModelVersion() == "A" && r.GetScore().GetChurnProbability() != 0.2,
					r.GetScore().GetModelVersion() == "B" && r.GetScore().GetChurnProbability() != 0.7:
					failures = append(failures, fmt.Sprintf("torn score %v", r.GetScore()))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 50 {
		next := serve.Scorer(a)
		if i%2 == 0 {
			next = b
		}
		if err := ts.srv.SetScorer(ctx, next); err != nil {
			t.Error(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d calls failed; first: %s", len(failures), calls, failures[0])
	}
	if a.calls.Load() == 0 || b.calls.Load() == 0 {
		t.Errorf("calls: A %d, B %d; want both used", a.calls.Load(), b.calls.Load())
	}
}

func TestMetrics(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{}, &fakeScorer{version: "v3"}, nil)
	c := ts.dial(t, tokAdmin)
	ctx := ctxT(t)
	for range 3 {
		if _, err := c.ScoreMember(ctx, byID("m1")); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.ScoreMember(ctx, byID("nobody"))
	wantCode(t, err, codes.NotFound)
	if _, err := c.IngestEvents(ctx, &retainv1.IngestEventsRequest{Attendance: []*retainv1.Attendance{
		visitPB("met-1", "m1", day(2025, 5, 5, 9, 0), ""),
		{EventId: "a1", MemberId: "m1", Ts: pbts(day(2025, 1, 8, 18, 30)), CourseId: "yoga", DurationMin: 60, Source: retainv1.Source_SOURCE_POS}, // the fixture's a1 again
	}}); err != nil {
		t.Fatal(err)
	}

	rec := httptest.NewRecorder()
	ts.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`retain_grpc_requests_total{code="OK",method="/retain.v1.RetainService/ScoreMember"} 3`,
		`retain_grpc_requests_total{code="NotFound",method="/retain.v1.RetainService/ScoreMember"} 1`,
		`retain_grpc_errors_total{code="NotFound",method="/retain.v1.RetainService/ScoreMember"} 1`,
		`retain_grpc_request_duration_seconds_count{method="/retain.v1.RetainService/ScoreMember"} 4`,
		`retain_model_version_info{version="v3"} 1`,
		// 3 scores of m1 (p = 1/6) plus the trial score of SetScorer,
		// which is not served and not counted.
		`retain_churn_probability_count 3`,
		`retain_churn_probability_bucket{le="0.2"} 3`,
		`retain_churn_probability_bucket{le="0.15000000000000002"} 0`,
		`retain_ingested_events_total{result="accepted"} 1`,
		`retain_ingested_events_total{result="duplicate"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
