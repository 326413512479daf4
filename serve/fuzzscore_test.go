package serve_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	retainv1 "retain/proto/retain/v1"
)

// FuzzScoreNeverInternal decodes arbitrary bytes as a ScoreMemberRequest
// and as a RecommendClassesRequest and calls the server's handlers with
// them, over the synthetic gym's store and a real model bundle. Whatever
// the request, the answer is a score or a client's error: never INTERNAL
// (which would mean a request the validation let through that the
// features or the model cannot take, as a member who joined on as_of's day
// was) and never a panic (the handlers are called directly, without the
// recovering interceptor).
func FuzzScoreNeverInternal(f *testing.F) {
	cfg := synthConfig()
	at := cfg.Start.AddDate(0, 0, 7*cfg.Weeks-30).Add(15 * time.Hour)
	ts := startGymServerAt(f, at)
	if err := ts.srv.LoadBundle(context.Background(), testBundle(f, true, 1), nil); err != nil {
		f.Fatal(err)
	}
	ats := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(at.Add(d)) }
	member := func(joined time.Duration) *retainv1.Member {
		return &retainv1.Member{MemberId: "x1", JoinedAt: ats(joined), HomeClub: "club-1",
			ContractType: retainv1.ContractType_CONTRACT_TYPE_MONTHLY, ContractStart: ats(joined)}
	}
	day := 24 * time.Hour
	visits := func(n int, course string) []*retainv1.Attendance {
		var out []*retainv1.Attendance
		for i := range n {
			out = append(out, &retainv1.Attendance{EventId: "v" + string(rune('a'+i)), MemberId: "x1",
				Ts: ats(-time.Duration(3*i+1) * day), CourseId: course, DurationMin: 60, Source: retainv1.Source_SOURCE_APP})
		}
		return out
	}
	for _, h := range []*retainv1.MemberHistory{
		{Member: member(-200 * day), Attendance: visits(12, "C019"), Transactions: []*retainv1.Transaction{{
			EventId: "f1", MemberId: "x1", Ts: ats(-20 * day), Amount: 4900, Kind: retainv1.TransactionKind_TRANSACTION_KIND_MEMBERSHIP_FEE}}},
		{Member: member(-time.Hour)},
		{Member: member(-400 * day), Attendance: visits(3, "")},
	} {
		b, _ := proto.Marshal(&retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_History{History: h}, AsOf: ats(0), TopK: 3})
		f.Add(b)
	}
	for _, id := range []string{"M000001", "M000060"} {
		b, _ := proto.Marshal(&retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}, AsOf: ats(-90 * day)})
		f.Add(b)
	}
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var sm retainv1.ScoreMemberRequest
		if proto.Unmarshal(data, &sm) == nil {
			if _, err := ts.srv.ScoreMember(ctx, &sm); status.Code(err) == codes.Internal {
				t.Fatalf("ScoreMember(%v): %v", &sm, err)
			}
		}
		var rc retainv1.RecommendClassesRequest
		if proto.Unmarshal(data, &rc) == nil {
			if _, err := ts.srv.RecommendClasses(ctx, &rc); status.Code(err) == codes.Internal {
				t.Fatalf("RecommendClasses(%v): %v", &rc, err)
			}
		}
	})
}
