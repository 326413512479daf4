package serve

// Validation of every request, before the request touches the store or the
// Scorer. The rules for records are those of datasets.Checker; the
// references to the store (known members and courses, duplicate event ids)
// are checked by the store in the write transaction (Store.AppendEvents)
// or by the handler. The functions here are pure: they read only the
// request and the limits, so they are fuzzed (fuzz_test.go).
//
// A violation names the field by its path in the request, as in
// "attendance[3].ts", and leaves the server as INVALID_ARGUMENT with a
// google.rpc.BadRequest detail listing the violations.

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
)

const (
	// maxTextBytes bounds free-text fields (names, clubs, channels).
	maxTextBytes = 1024
	// maxViolations bounds the violations reported for one request.
	maxViolations = 20
)

// limits are the Options that validation needs, and the instant after
// which a timestamp is in the future.
type limits struct {
	latest         time.Time
	maxTopK        int
	maxBatch       int
	maxStream      int
	maxIngest      int
	maxHistory     int
	maxAmount      int64
	currentYear    int
	minTime        time.Time
	maxViolations  int
	maxTextBytes   int
	maxIDBytes     int
	allowedGenders []string
}

func (o *Options) limits() *limits {
	now := o.Now()
	return &limits{
		latest:         now.Add(o.MaxClockSkew),
		maxTopK:        o.MaxTopK,
		maxBatch:       o.MaxBatchMembers,
		maxStream:      o.MaxStreamMembers,
		maxIngest:      o.MaxIngestRecords,
		maxHistory:     o.MaxHistoryEvents,
		maxAmount:      o.MaxAmount,
		currentYear:    now.UTC().Year(),
		minTime:        datasets.DefaultMinTime(),
		maxViolations:  maxViolations,
		maxTextBytes:   maxTextBytes,
		maxIDBytes:     MaxIDBytes,
		allowedGenders: datasets.Genders,
	}
}

// violations collects the faults of one request.
type violations struct {
	lim  *limits
	list []*errdetails.BadRequest_FieldViolation
	more int // violations beyond lim.maxViolations, not listed
}

func (v *violations) add(field, format string, args ...any) {
	if len(v.list) >= v.lim.maxViolations {
		v.more++
		return
	}
	v.list = append(v.list, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// full reports whether no more violations will be listed: validation of a
// long list stops early.
func (v *violations) full() bool { return len(v.list) >= v.lim.maxViolations }

// err returns nil, or an INVALID_ARGUMENT status whose message names the
// first violations and whose BadRequest detail lists them.
func (v *violations) err() error {
	if len(v.list) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("invalid request: ")
	for i, fv := range v.list {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(v.list)-3+v.more)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", fv.Field, fv.Description)
	}
	if len(v.list) <= 3 && v.more > 0 {
		fmt.Fprintf(&b, "; and %d more", v.more)
	}
	st := status.New(codes.InvalidArgument, b.String())
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v.list}); err == nil {
		st = d
	}
	return st.Err()
}

func (v *violations) id(field, id string, required bool) {
	switch {
	case id == "":
		if required {
			v.add(field, "required")
		}
	case len(id) > v.lim.maxIDBytes:
		v.add(field, "%d bytes, at most %d", len(id), v.lim.maxIDBytes)
	case !utf8.ValidString(id):
		v.add(field, "not valid UTF-8")
	case strings.TrimSpace(id) == "":
		v.add(field, "blank")
	}
}

func (v *violations) text(field, s string, required bool) {
	switch {
	case strings.TrimSpace(s) == "":
		if required {
			v.add(field, "required")
		}
	case len(s) > v.lim.maxTextBytes:
		v.add(field, "%d bytes, at most %d", len(s), v.lim.maxTextBytes)
	case !utf8.ValidString(s):
		v.add(field, "not valid UTF-8")
	}
}

// instant checks a timestamp: present when required, valid, not before
// minTime and, with notFuture, not after lim.latest. It returns the time,
// or the zero time when absent or bad.
func (v *violations) instant(field string, t *timestamppb.Timestamp, required, notFuture bool) time.Time {
	if t == nil {
		if required {
			v.add(field, "required")
		}
		return time.Time{}
	}
	if err := t.CheckValid(); err != nil {
		v.add(field, "invalid timestamp (seconds %d, nanos %d)", t.GetSeconds(), t.GetNanos())
		return time.Time{}
	}
	at := t.AsTime()
	switch {
	case at.Before(v.lim.minTime):
		v.add(field, "%s is before %s", datasets.FormatTime(at), datasets.FormatTime(v.lim.minTime))
		return time.Time{}
	case notFuture && at.After(v.lim.latest):
		v.add(field, "%s is in the future", datasets.FormatTime(at))
		return time.Time{}
	}
	return at
}

// enum checks a required enum: not 0 (UNSPECIFIED), and one of names.
func (v *violations) enum(field string, x int32, names map[int32]string) {
	switch _, ok := names[x]; {
	case x == 0:
		v.add(field, "required")
	case !ok:
		v.add(field, "unknown value %d", x)
	}
}

func (v *violations) topK(field string, k int32) {
	if k < 0 || int(k) > v.lim.maxTopK {
		v.add(field, "%d outside 0 to %d", k, v.lim.maxTopK)
	}
}

func (v *violations) member(field string, m *retainv1.Member) {
	if m == nil {
		v.add(field, "required")
		return
	}
	v.id(field+".member_id", m.GetMemberId(), true)
	v.instant(field+".joined_at", m.GetJoinedAt(), true, true)
	if y := int(m.GetBirthYear()); y != 0 && (y < datasets.MinBirthYear || y > v.lim.currentYear) {
		v.add(field+".birth_year", "%d outside %d to %d (0 = not recorded)", y, datasets.MinBirthYear, v.lim.currentYear)
	}
	if g := m.GetGender(); g != "" && !slices.Contains(v.lim.allowedGenders, g) {
		v.add(field+".gender", "%q is not one of %q (or empty)", shorten(g), v.lim.allowedGenders)
	}
	v.text(field+".home_club", m.GetHomeClub(), true)
	v.enum(field+".contract_type", int32(m.GetContractType()), retainv1.ContractType_name)
	start := v.instant(field+".contract_start", m.GetContractStart(), true, false)
	end := v.instant(field+".contract_end", m.GetContractEnd(), false, false)
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		v.add(field+".contract_end", "%s is before contract_start %s", datasets.FormatTime(end), datasets.FormatTime(start))
	}
	v.text(field+".channel", m.GetChannel(), false)
}

func (v *violations) course(field string, c *retainv1.Course) {
	if c == nil {
		v.add(field, "required")
		return
	}
	v.id(field+".course_id", c.GetCourseId(), true)
	v.text(field+".name", c.GetName(), true)
	v.text(field+".category", c.GetCategory(), true)
	v.text(field+".coach", c.GetCoach(), false)
	v.text(field+".club", c.GetClub(), false)
	if d := c.GetWeekday(); d < 0 || d > datasets.MaxWeekday {
		v.add(field+".weekday", "%d outside 0 to %d", d, datasets.MaxWeekday)
	}
	if s := c.GetStartTime(); s != "" && !datasets.ValidClock(s) {
		v.add(field+".start_time", "%q is not HH:MM from 00:00 to 23:59", shorten(s))
	}
	if c.GetCapacity() < 0 {
		v.add(field+".capacity", "%d is negative", c.GetCapacity())
	}
}

func (v *violations) attendance(field string, a *retainv1.Attendance) {
	if a == nil {
		v.add(field, "required")
		return
	}
	v.id(field+".event_id", a.GetEventId(), true)
	v.id(field+".member_id", a.GetMemberId(), true)
	v.instant(field+".ts", a.GetTs(), true, true)
	v.id(field+".course_id", a.GetCourseId(), false)
	if d := a.GetDurationMin(); d < 0 || d > datasets.DefaultMaxDurationMin {
		v.add(field+".duration_min", "%d outside 0 to %d", d, datasets.DefaultMaxDurationMin)
	}
	v.enum(field+".source", int32(a.GetSource()), retainv1.Source_name)
}

func (v *violations) transaction(field string, t *retainv1.Transaction) {
	if t == nil {
		v.add(field, "required")
		return
	}
	v.id(field+".event_id", t.GetEventId(), true)
	v.id(field+".member_id", t.GetMemberId(), true)
	v.instant(field+".ts", t.GetTs(), true, true)
	amt, kind := t.GetAmount(), t.GetKind()
	v.enum(field+".kind", int32(kind), retainv1.TransactionKind_name)
	switch {
	case amt > v.lim.maxAmount || amt < -v.lim.maxAmount:
		v.add(field+".amount", "|%d| above %d minor units", amt, v.lim.maxAmount)
	case kind == retainv1.TransactionKind_TRANSACTION_KIND_REFUND && amt > 0:
		v.add(field+".amount", "%d: a refund must be <= 0", amt)
	case kind != retainv1.TransactionKind_TRANSACTION_KIND_REFUND && amt < 0:
		v.add(field+".amount", "%d: only a refund may be negative", amt)
	}
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// count checks that a list holds at most max items; false means too many
// (and the items are not checked one by one).
func (v *violations) count(field string, n, max int) bool {
	if n > max {
		v.add(field, "%d items, at most %d per call", n, max)
		return false
	}
	return true
}

// unique reports repeated ids in a list.
func (v *violations) unique(list string, ids []string, sub string) {
	seen := make(map[string]int, len(ids))
	for i, id := range ids {
		if j, ok := seen[id]; ok && id != "" {
			v.add(fmt.Sprintf("%s[%d]%s", list, i, sub), "%q repeats %s[%d]", shorten(id), list, j)
			continue
		}
		seen[id] = i
	}
}

// validateIngest checks an IngestEventsRequest.
func validateIngest(req *retainv1.IngestEventsRequest, lim *limits) error {
	v := &violations{lim: lim}
	nm, nc, na, nt := len(req.GetMembers()), len(req.GetCourses()), len(req.GetAttendance()), len(req.GetTransactions())
	if total := nm + nc + na + nt; total > lim.maxIngest {
		field, most := "members", nm
		for _, f := range []struct {
			name string
			n    int
		}{{"courses", nc}, {"attendance", na}, {"transactions", nt}} {
			if f.n > most {
				field, most = f.name, f.n
			}
		}
		v.add(field, "%d records in the request (members %d, courses %d, attendance %d, transactions %d), at most %d per call",
			total, nm, nc, na, nt, lim.maxIngest)
		return v.err()
	}
	if total := nm + nc + na + nt; total == 0 {
		v.add("attendance", "the request holds no records")
		return v.err()
	}
	ids := make([]string, 0, max(nm, nc))
	for i, m := range req.GetMembers() {
		if v.full() {
			break
		}
		v.member(fmt.Sprintf("members[%d]", i), m)
		ids = append(ids, m.GetMemberId())
	}
	v.unique("members", ids, ".member_id")
	ids = ids[:0]
	for i, c := range req.GetCourses() {
		if v.full() {
			break
		}
		v.course(fmt.Sprintf("courses[%d]", i), c)
		ids = append(ids, c.GetCourseId())
	}
	v.unique("courses", ids, ".course_id")
	for i, a := range req.GetAttendance() {
		if v.full() {
			break
		}
		v.attendance(fmt.Sprintf("attendance[%d]", i), a)
	}
	for i, t := range req.GetTransactions() {
		if v.full() {
			break
		}
		v.transaction(fmt.Sprintf("transactions[%d]", i), t)
	}
	return v.err()
}

// history checks an inline history: its member, its events, that every
// event is the member's and not before the member's join day, and that no
// event_id repeats. The course ids are checked against the store by the
// caller.
func (v *violations) history(field string, h *retainv1.MemberHistory) {
	if h == nil {
		v.add(field, "required")
		return
	}
	m := h.GetMember()
	v.member(field+".member", m)
	na, nt := len(h.GetAttendance()), len(h.GetTransactions())
	if na+nt > v.lim.maxHistory {
		f := field + ".attendance"
		if nt > na {
			f = field + ".transactions"
		}
		v.add(f, "%d events in the history (attendance %d, transactions %d), at most %d", na+nt, na, nt, v.lim.maxHistory)
		return
	}
	id := m.GetMemberId()
	var joinDay time.Time
	if j := m.GetJoinedAt(); j != nil && j.CheckValid() == nil {
		joinDay = datasets.Date(j.AsTime())
	}
	event := func(f, memberID string, t *timestamppb.Timestamp) {
		if memberID != "" && memberID != id {
			v.add(f+".member_id", "%q is not the history's member %q", shorten(memberID), shorten(id))
		}
		if t != nil && t.CheckValid() == nil && !joinDay.IsZero() && t.AsTime().Before(joinDay) {
			v.add(f+".ts", "%s is before the member joined (%s)", datasets.FormatTime(t.AsTime()), joinDay.Format(time.DateOnly))
		}
	}
	ids := make([]string, 0, max(na, nt))
	for i, a := range h.GetAttendance() {
		if v.full() {
			return
		}
		f := fmt.Sprintf("%s.attendance[%d]", field, i)
		v.attendance(f, a)
		event(f, a.GetMemberId(), a.GetTs())
		ids = append(ids, a.GetEventId())
	}
	v.unique(field+".attendance", ids, ".event_id")
	ids = ids[:0]
	for i, t := range h.GetTransactions() {
		if v.full() {
			return
		}
		f := fmt.Sprintf("%s.transactions[%d]", field, i)
		v.transaction(f, t)
		event(f, t.GetMemberId(), t.GetTs())
		ids = append(ids, t.GetEventId())
	}
	v.unique(field+".transactions", ids, ".event_id")
}

// subject checks the member_id-or-history choice of a scoring request.
func (v *violations) subject(memberID *string, h *retainv1.MemberHistory) {
	switch {
	case memberID != nil:
		v.id("member_id", *memberID, true)
	case h != nil:
		v.history("history", h)
	default:
		v.add("member_id", "set member_id or history")
	}
}

// validateScore checks a ScoreMemberRequest.
func validateScore(req *retainv1.ScoreMemberRequest, lim *limits) error {
	v := &violations{lim: lim}
	var id *string
	if x, ok := req.GetSubject().(*retainv1.ScoreMemberRequest_MemberId); ok {
		id = &x.MemberId
	}
	v.subject(id, req.GetHistory())
	v.instant("as_of", req.GetAsOf(), false, true)
	v.topK("top_k", req.GetTopK())
	return v.err()
}

// validateRecommend checks a RecommendClassesRequest.
func validateRecommend(req *retainv1.RecommendClassesRequest, lim *limits) error {
	v := &violations{lim: lim}
	var id *string
	if x, ok := req.GetSubject().(*retainv1.RecommendClassesRequest_MemberId); ok {
		id = &x.MemberId
	}
	v.subject(id, req.GetHistory())
	v.instant("as_of", req.GetAsOf(), false, true)
	v.topK("top_k", req.GetTopK())
	return v.err()
}

// validateScoreMembers checks a ScoreMembersRequest.
func validateScoreMembers(req *retainv1.ScoreMembersRequest, lim *limits) error {
	v := &violations{lim: lim}
	ids := req.GetMemberIds()
	switch {
	case len(ids) == 0:
		v.add("member_ids", "required")
	case v.count("member_ids", len(ids), lim.maxBatch):
		for i, id := range ids {
			if v.full() {
				break
			}
			v.id(fmt.Sprintf("member_ids[%d]", i), id, true)
		}
		v.unique("member_ids", ids, "")
	}
	v.instant("as_of", req.GetAsOf(), false, true)
	v.topK("top_k", req.GetTopK())
	return v.err()
}

// validateStream checks a StreamScoresRequest.
func validateStream(req *retainv1.StreamScoresRequest, lim *limits) error {
	v := &violations{lim: lim}
	ids := req.GetMemberIds()
	if v.count("member_ids", len(ids), lim.maxStream) {
		for i, id := range ids {
			if v.full() {
				break
			}
			v.id(fmt.Sprintf("member_ids[%d]", i), id, true)
		}
		v.unique("member_ids", ids, "")
	}
	if s := req.GetStartAfter(); s != "" {
		if len(ids) > 0 {
			v.add("start_after", "only with an empty member_ids")
		}
		v.id("start_after", s, false)
	}
	v.instant("as_of", req.GetAsOf(), false, true)
	v.topK("top_k", req.GetTopK())
	return v.err()
}
