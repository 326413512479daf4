package serve

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
)

// fuzzNow is the clock of the fuzz tests, mid-year so that the current year
// is the same for the validator and datasets.Checker.
var fuzzNow = time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)

func fuzzLimits() *limits {
	o := DefaultOptions()
	o.Now = func() time.Time { return fuzzNow }
	o.MaxIngestRecords, o.MaxHistoryEvents = 50, 50
	return o.limits()
}

func seedIngest() *retainv1.IngestEventsRequest {
	t := timestamppb.New(time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC))
	return &retainv1.IngestEventsRequest{
		Members: []*retainv1.Member{{MemberId: "m1", JoinedAt: t, HomeClub: "north", BirthYear: 1990, Gender: "female",
			ContractType: retainv1.ContractType_CONTRACT_TYPE_ANNUAL, ContractStart: timestamppb.New(time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC))}},
		Courses: []*retainv1.Course{{CourseId: "yoga", Name: "Yoga", Category: "mind_body", Weekday: 3, StartTime: "18:30"}},
		Attendance: []*retainv1.Attendance{{EventId: "a1", MemberId: "m1", Ts: t, CourseId: "yoga", DurationMin: 60,
			Source: retainv1.Source_SOURCE_POS}},
		Transactions: []*retainv1.Transaction{{EventId: "t1", MemberId: "m1", Ts: t, Amount: -500,
			Kind: retainv1.TransactionKind_TRANSACTION_KIND_REFUND}},
	}
}

// FuzzValidateIngest decodes arbitrary bytes as an IngestEventsRequest and
// validates it: validation must not panic, and a request it accepts must
// pass datasets.Checker too, field by field (the same rules in two places),
// with only the references to the store left to check.
func FuzzValidateIngest(f *testing.F) {
	valid := seedIngest()
	b, _ := proto.Marshal(valid)
	f.Add(b)
	bad := proto.Clone(valid).(*retainv1.IngestEventsRequest)
	bad.Attendance[0].Ts = &timestamppb.Timestamp{Seconds: 1 << 40, Nanos: -5}
	bad.Transactions[0].Amount = 1 << 62
	bad.Courses[0].StartTime = "9:5"
	bad.Members[0].Gender = "x"
	b, _ = proto.Marshal(bad)
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x1a, 0x00, 0x1a, 0x00})

	f.Fuzz(func(t *testing.T, data []byte) {
		var req retainv1.IngestEventsRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		lim := fuzzLimits()
		if err := validateIngest(&req, lim); err != nil {
			return
		}
		batch := batchFromPB(&req)
		chk := datasets.NewChecker(&datasets.CheckOptions{Now: lim.latest})
		for i := range batch.Members {
			if err := chk.Member("members", int64(i+1), &batch.Members[i]); err != nil {
				t.Fatalf("accepted member rejected by datasets.Checker: %v", err)
			}
		}
		for i := range batch.Courses {
			if err := chk.Course("courses", int64(i+1), &batch.Courses[i]); err != nil {
				t.Fatalf("accepted course rejected by datasets.Checker: %v", err)
			}
		}
		storeOnly := func(err error) bool {
			return err == nil || errors.Is(err, datasets.ErrUnknownMember) || errors.Is(err, datasets.ErrBeforeJoin) ||
				errors.Is(err, datasets.ErrDuplicateEvent) || errors.Is(err, datasets.ErrUnknownValue)
		}
		for i := range batch.Attendance {
			if err := chk.Attendance("attendance", int64(i+1), &batch.Attendance[i]); !storeOnly(err) {
				t.Fatalf("accepted attendance rejected by datasets.Checker: %v", err)
			}
		}
		for i := range batch.Transactions {
			if err := chk.Transaction("transactions", int64(i+1), &batch.Transactions[i]); !storeOnly(err) {
				t.Fatalf("accepted transaction rejected by datasets.Checker: %v", err)
			}
		}
	})
}

// FuzzValidateScore decodes arbitrary bytes as the scoring requests and
// validates them: no panic, and an accepted inline history converts to a
// History whose events all belong to its member.
func FuzzValidateScore(f *testing.F) {
	in := seedIngest()
	hist := &retainv1.ScoreMemberRequest{
		Subject: &retainv1.ScoreMemberRequest_History{History: &retainv1.MemberHistory{
			Member: in.Members[0], Attendance: in.Attendance, Transactions: in.Transactions}},
		AsOf: timestamppb.New(fuzzNow), TopK: 3,
	}
	for _, m := range []proto.Message{
		hist,
		&retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: "m1"}},
		&retainv1.ScoreMembersRequest{MemberIds: []string{"m1", "m2", "m1"}, TopK: -1},
		&retainv1.StreamScoresRequest{MemberIds: []string{"m1"}, StartAfter: "m0"},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := fuzzLimits()
		var sm retainv1.ScoreMemberRequest
		if proto.Unmarshal(data, &sm) == nil && validateScore(&sm, lim) == nil && sm.GetHistory() != nil {
			h := historyFromPB(sm.GetHistory())
			for _, a := range h.Attendance {
				if a.MemberID != h.Member.MemberID || a.TS.Before(datasets.Date(h.Member.JoinedAt)) {
					t.Fatalf("accepted history holds event %+v of member %+v", a, h.Member)
				}
			}
			for _, x := range h.Transactions {
				if x.MemberID != h.Member.MemberID || x.TS.Before(datasets.Date(h.Member.JoinedAt)) {
					t.Fatalf("accepted history holds transaction %+v of member %+v", x, h.Member)
				}
			}
		}
		var rc retainv1.RecommendClassesRequest
		if proto.Unmarshal(data, &rc) == nil {
			validateRecommend(&rc, lim)
		}
		var sms retainv1.ScoreMembersRequest
		if proto.Unmarshal(data, &sms) == nil {
			validateScoreMembers(&sms, lim)
		}
		var ss retainv1.StreamScoresRequest
		if proto.Unmarshal(data, &ss) == nil {
			validateStream(&ss, lim)
		}
	})
}
