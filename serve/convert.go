package serve

// Conversions between the retain.v1 messages and the datasets records. The
// enum numbers of retain.v1 match those of datasets, so enums convert by
// number; validation (validate.go) checks the range first.

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
)

// ts converts a Timestamp; nil is the zero time. The caller has validated
// it.
func ts(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// pbTime converts a time; the zero time is nil.
func pbTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func memberFromPB(m *retainv1.Member) datasets.Member {
	return datasets.Member{
		MemberID:      m.GetMemberId(),
		JoinedAt:      ts(m.GetJoinedAt()),
		BirthYear:     int(m.GetBirthYear()),
		Gender:        m.GetGender(),
		HomeClub:      m.GetHomeClub(),
		ContractType:  datasets.ContractType(m.GetContractType()),
		ContractStart: ts(m.GetContractStart()),
		ContractEnd:   ts(m.GetContractEnd()),
		Channel:       m.GetChannel(),
	}
}

func memberToPB(m *datasets.Member) *retainv1.Member {
	return &retainv1.Member{
		MemberId:      m.MemberID,
		JoinedAt:      pbTime(m.JoinedAt),
		BirthYear:     int32(m.BirthYear),
		Gender:        m.Gender,
		HomeClub:      m.HomeClub,
		ContractType:  retainv1.ContractType(m.ContractType),
		ContractStart: pbTime(m.ContractStart),
		ContractEnd:   pbTime(m.ContractEnd),
		Channel:       m.Channel,
	}
}

func courseFromPB(c *retainv1.Course) datasets.Course {
	return datasets.Course{
		CourseID:  c.GetCourseId(),
		Name:      c.GetName(),
		Category:  c.GetCategory(),
		Coach:     c.GetCoach(),
		Club:      c.GetClub(),
		Weekday:   int(c.GetWeekday()),
		StartTime: c.GetStartTime(),
		Capacity:  int(c.GetCapacity()),
	}
}

func courseToPB(c *datasets.Course) *retainv1.Course {
	return &retainv1.Course{
		CourseId:  c.CourseID,
		Name:      c.Name,
		Category:  c.Category,
		Coach:     c.Coach,
		Club:      c.Club,
		Weekday:   int32(c.Weekday),
		StartTime: c.StartTime,
		Capacity:  int32(c.Capacity),
	}
}

func attendanceFromPB(a *retainv1.Attendance) datasets.Attendance {
	return datasets.Attendance{
		EventID:     a.GetEventId(),
		MemberID:    a.GetMemberId(),
		TS:          ts(a.GetTs()),
		CourseID:    a.GetCourseId(),
		DurationMin: int(a.GetDurationMin()),
		Source:      datasets.Source(a.GetSource()),
	}
}

func attendanceToPB(a *datasets.Attendance) *retainv1.Attendance {
	return &retainv1.Attendance{
		EventId:     a.EventID,
		MemberId:    a.MemberID,
		Ts:          pbTime(a.TS),
		CourseId:    a.CourseID,
		DurationMin: int32(a.DurationMin),
		Source:      retainv1.Source(a.Source),
	}
}

func transactionFromPB(t *retainv1.Transaction) datasets.Transaction {
	return datasets.Transaction{
		EventID:  t.GetEventId(),
		MemberID: t.GetMemberId(),
		TS:       ts(t.GetTs()),
		Amount:   t.GetAmount(),
		Kind:     datasets.TxKind(t.GetKind()),
	}
}

func transactionToPB(t *datasets.Transaction) *retainv1.Transaction {
	return &retainv1.Transaction{
		EventId:  t.EventID,
		MemberId: t.MemberID,
		Ts:       pbTime(t.TS),
		Amount:   t.Amount,
		Kind:     retainv1.TransactionKind(t.Kind),
	}
}

// batchFromPB converts a validated IngestEventsRequest.
func batchFromPB(req *retainv1.IngestEventsRequest) *Batch {
	b := &Batch{
		Members:      make([]datasets.Member, len(req.GetMembers())),
		Courses:      make([]datasets.Course, len(req.GetCourses())),
		Attendance:   make([]datasets.Attendance, len(req.GetAttendance())),
		Transactions: make([]datasets.Transaction, len(req.GetTransactions())),
	}
	for i, m := range req.GetMembers() {
		b.Members[i] = memberFromPB(m)
	}
	for i, c := range req.GetCourses() {
		b.Courses[i] = courseFromPB(c)
	}
	for i, a := range req.GetAttendance() {
		b.Attendance[i] = attendanceFromPB(a)
	}
	for i, t := range req.GetTransactions() {
		b.Transactions[i] = transactionFromPB(t)
	}
	return b
}

// historyFromPB converts a validated inline history.
func historyFromPB(h *retainv1.MemberHistory) *History {
	out := &History{
		Member:       memberFromPB(h.GetMember()),
		Attendance:   make([]datasets.Attendance, len(h.GetAttendance())),
		Transactions: make([]datasets.Transaction, len(h.GetTransactions())),
	}
	for i, a := range h.GetAttendance() {
		out.Attendance[i] = attendanceFromPB(a)
	}
	for i, t := range h.GetTransactions() {
		out.Transactions[i] = transactionFromPB(t)
	}
	return out
}
