package datasets

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var checkNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newTestChecker returns a Checker that has accepted member m1 (joined
// 2024-01-15 09:30 UTC) and course c1.
func newTestChecker(t *testing.T) *Checker {
	t.Helper()
	c := NewChecker(&CheckOptions{Now: checkNow, MaxAmount: 100_000, MaxDurationMin: 300})
	if err := c.Member("members.csv", 1, &sampleMembers()[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Course("courses.csv", 1, &sampleCourses()[0]); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChecker(t *testing.T) {
	goodM := func() Member { return sampleMembers()[0] }
	goodC := func() Course { return sampleCourses()[0] }
	goodA := func() Attendance {
		return Attendance{EventID: "e1", MemberID: "m1", TS: time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC), CourseID: "c1", DurationMin: 60, Source: SourcePOS}
	}
	goodT := func() Transaction {
		return Transaction{EventID: "t1", MemberID: "m1", TS: time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC), Amount: 4999, Kind: TxMembershipFee}
	}
	type tc struct {
		name   string
		check  func(c *Checker) error // checks one row as row 2 of its file
		column string
		want   error // nil: the row passes
	}
	member := func(name string, f func(*Member), column string, want error) tc {
		return tc{name, func(c *Checker) error { m := goodM(); m.MemberID = "m9"; f(&m); return c.Member("members.csv", 2, &m) }, column, want}
	}
	course := func(name string, f func(*Course), column string, want error) tc {
		return tc{name, func(c *Checker) error {
			co := goodC()
			co.CourseID = "c9"
			f(&co)
			return c.Course("courses.csv", 2, &co)
		}, column, want}
	}
	att := func(name string, f func(*Attendance), column string, want error) tc {
		return tc{name, func(c *Checker) error { a := goodA(); f(&a); return c.Attendance("attendance.csv", 2, &a) }, column, want}
	}
	tx := func(name string, f func(*Transaction), column string, want error) tc {
		return tc{name, func(c *Checker) error { x := goodT(); f(&x); return c.Transaction("transactions.csv", 2, &x) }, column, want}
	}
	cases := []tc{
		member("member ok", func(*Member) {}, "", nil),
		member("member id blank", func(m *Member) { m.MemberID = " \t" }, "member_id", ErrMissing),
		member("joined_at missing", func(m *Member) { m.JoinedAt = time.Time{} }, "joined_at", ErrMissing),
		member("joined_at before MinTime", func(m *Member) { m.JoinedAt = day(1989, 12, 31) }, "joined_at", ErrBadTimestamp),
		member("joined_at future", func(m *Member) { m.JoinedAt = checkNow.Add(time.Second) }, "joined_at", ErrFutureTime),
		member("birth year absurd", func(m *Member) { m.BirthYear = 1850 }, "birth_year", ErrBadNumber),
		member("gender unknown", func(m *Member) { m.Gender = "f" }, "gender", ErrUnknownValue),
		member("home club missing", func(m *Member) { m.HomeClub = "" }, "home_club", ErrMissing),
		member("contract type missing", func(m *Member) { m.ContractType = ContractUnknown }, "contract_type", ErrMissing),
		member("contract type invalid", func(m *Member) { m.ContractType = 77 }, "contract_type", ErrUnknownValue),
		member("contract start missing", func(m *Member) { m.ContractStart = time.Time{} }, "contract_start", ErrMissing),
		member("contract end before start", func(m *Member) { m.ContractEnd = day(2024, 1, 14) }, "contract_end", ErrBadTimestamp),
		member("contract end same day", func(m *Member) { m.ContractEnd = m.ContractStart }, "", nil),
		member("duplicate member", func(m *Member) { m.MemberID = "m1" }, "member_id", ErrDuplicateKey),
		member("member id at the id limit", func(m *Member) { m.MemberID = strings.Repeat("é", MaxIDBytes/2) }, "", nil),
		member("member id too long", func(m *Member) { m.MemberID = strings.Repeat("x", MaxIDBytes+1) }, "member_id", ErrBadID),
		member("member id not UTF-8", func(m *Member) { m.MemberID = "m\xff" }, "member_id", ErrBadID),

		course("course ok", func(*Course) {}, "", nil),
		course("course id missing", func(c *Course) { c.CourseID = "" }, "course_id", ErrMissing),
		course("course name missing", func(c *Course) { c.Name = " " }, "name", ErrMissing),
		course("category missing", func(c *Course) { c.Category = "" }, "category", ErrMissing),
		course("weekday 8", func(c *Course) { c.Weekday = 8 }, "weekday", ErrBadNumber),
		course("weekday 7", func(c *Course) { c.Weekday = 7 }, "", nil),
		course("start time 24:00", func(c *Course) { c.StartTime = "24:00" }, "start_time", ErrBadTimestamp),
		course("start time 7:00", func(c *Course) { c.StartTime = "7:00" }, "start_time", ErrBadTimestamp),
		course("capacity negative", func(c *Course) { c.Capacity = -1 }, "capacity", ErrBadNumber),
		course("duplicate course", func(c *Course) { c.CourseID = "c1" }, "course_id", ErrDuplicateKey),
		course("course id too long", func(c *Course) { c.CourseID = strings.Repeat("x", MaxIDBytes+1) }, "course_id", ErrBadID),
		course("course id not UTF-8", func(c *Course) { c.CourseID = "c\xc3" }, "course_id", ErrBadID),

		att("attendance ok", func(*Attendance) {}, "", nil),
		att("open gym", func(a *Attendance) { a.CourseID = "" }, "", nil),
		att("event id missing", func(a *Attendance) { a.EventID = "" }, "event_id", ErrMissing),
		att("member id missing", func(a *Attendance) { a.MemberID = "" }, "member_id", ErrMissing),
		att("ts missing", func(a *Attendance) { a.TS = time.Time{} }, "ts", ErrMissing),
		att("ts before MinTime", func(a *Attendance) { a.TS = day(1980, 1, 1) }, "ts", ErrBadTimestamp),
		att("ts future", func(a *Attendance) { a.TS = checkNow.Add(time.Microsecond) }, "ts", ErrFutureTime),
		att("ts now", func(a *Attendance) { a.TS = checkNow }, "", nil),
		att("unknown course", func(a *Attendance) { a.CourseID = "c404" }, "course_id", ErrUnknownValue),
		att("negative duration", func(a *Attendance) { a.DurationMin = -1 }, "duration_min", ErrBadNumber),
		att("duration too long", func(a *Attendance) { a.DurationMin = 301 }, "duration_min", ErrBadNumber),
		att("source missing", func(a *Attendance) { a.Source = SourceUnknown }, "source", ErrMissing),
		att("source invalid", func(a *Attendance) { a.Source = 9 }, "source", ErrUnknownValue),
		att("unknown member", func(a *Attendance) { a.MemberID = "m404" }, "member_id", ErrUnknownMember),
		att("event id too long", func(a *Attendance) { a.EventID = strings.Repeat("e", MaxIDBytes+1) }, "event_id", ErrBadID),
		att("event id not UTF-8", func(a *Attendance) { a.EventID = "e\xff" }, "event_id", ErrBadID),
		att("member id too long", func(a *Attendance) { a.MemberID = strings.Repeat("m", MaxIDBytes+1) }, "member_id", ErrBadID),
		att("course id too long", func(a *Attendance) { a.CourseID = strings.Repeat("c", MaxIDBytes+1) }, "course_id", ErrBadID),
		// m1 joined 2024-01-15 09:30: earlier that day is fine, the day
		// before is not.
		att("on join day before join time", func(a *Attendance) { a.TS = time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC) }, "", nil),
		att("day before join", func(a *Attendance) { a.TS = time.Date(2024, 1, 14, 23, 59, 59, 999999000, time.UTC) }, "ts", ErrBeforeJoin),

		tx("transaction ok", func(*Transaction) {}, "", nil),
		tx("tx event id missing", func(x *Transaction) { x.EventID = "" }, "event_id", ErrMissing),
		tx("tx ts future", func(x *Transaction) { x.TS = checkNow.AddDate(0, 0, 1) }, "ts", ErrFutureTime),
		tx("amount absurd", func(x *Transaction) { x.Amount = 100_001 }, "amount", ErrAbsurdAmount),
		tx("amount absurd negative", func(x *Transaction) { x.Amount = -100_001; x.Kind = TxRefund }, "amount", ErrAbsurdAmount),
		tx("amount at limit", func(x *Transaction) { x.Amount = 100_000 }, "", nil),
		tx("kind missing", func(x *Transaction) { x.Kind = TxUnknown }, "kind", ErrMissing),
		tx("positive refund", func(x *Transaction) { x.Kind = TxRefund; x.Amount = 1 }, "amount", ErrBadNumber),
		tx("negative refund", func(x *Transaction) { x.Kind = TxRefund; x.Amount = -1999 }, "", nil),
		tx("negative fee", func(x *Transaction) { x.Amount = -1 }, "amount", ErrBadNumber),
		tx("tx unknown member", func(x *Transaction) { x.MemberID = "nobody" }, "member_id", ErrUnknownMember),
		tx("tx event id too long", func(x *Transaction) { x.EventID = strings.Repeat("t", MaxIDBytes+1) }, "event_id", ErrBadID),
		tx("tx member id not UTF-8", func(x *Transaction) { x.MemberID = "\xffm1" }, "member_id", ErrBadID),
		tx("tx before join", func(x *Transaction) { x.TS = day(2024, 1, 1) }, "ts", ErrBeforeJoin),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestChecker(t)
			err := tc.check(c)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var re *RowError
			if !errors.As(err, &re) || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want a *RowError wrapping %v", err, tc.want)
			}
			if re.Row != 2 || re.Column != tc.column || re.File == "" || len(re.Raw) == 0 {
				t.Errorf("got %#v, want row 2, column %q, a file and Raw", re, tc.column)
			}
		})
	}
}

func TestCheckerDuplicates(t *testing.T) {
	c := newTestChecker(t)
	a := Attendance{EventID: "e1", MemberID: "m1", TS: time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC), DurationMin: 60, Source: SourceApp}
	if err := c.Attendance("year=2025/part-0.parquet", 7, &a); err != nil {
		t.Fatal(err)
	}
	// Same id, same file: names the first row.
	err := c.Attendance("year=2025/part-0.parquet", 9, &a)
	if !errors.Is(err, ErrDuplicateEvent) || !strings.Contains(err.Error(), "first seen at row 7") {
		t.Errorf("got %v, want ErrDuplicateEvent first seen at row 7", err)
	}
	// Same id in another file of the table: names the file too.
	err = c.Attendance("year=2025/part-1.parquet", 1, &a)
	if !errors.Is(err, ErrDuplicateEvent) || !strings.Contains(err.Error(), "first seen at year=2025/part-0.parquet row 7") {
		t.Errorf("got %v, want ErrDuplicateEvent naming part-0 row 7", err)
	}
	// Event ids are per table: a transaction may reuse it.
	x := Transaction{EventID: "e1", MemberID: "m1", TS: a.TS, Amount: 100, Kind: TxRetail}
	if err := c.Transaction("t.csv", 1, &x); err != nil {
		t.Errorf("transaction with an attendance event id: %v", err)
	}
	// A rejected row does not claim its id.
	bad := a
	bad.EventID, bad.Source = "e2", SourceUnknown
	if err := c.Attendance("a.csv", 1, &bad); !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	bad.Source = SourceApp
	if err := c.Attendance("a.csv", 2, &bad); err != nil {
		t.Errorf("id of a rejected row reused: %v", err)
	}
	// Duplicate member ids name the first row.
	m := sampleMembers()[0]
	if err := c.Member("members.csv", 5, &m); !errors.Is(err, ErrDuplicateKey) || !strings.Contains(err.Error(), "first seen at row 1") {
		t.Errorf("got %v, want ErrDuplicateKey first seen at row 1", err)
	}
}

func TestCheckerNoCourses(t *testing.T) {
	// Without a courses table, course ids are not checked.
	c := NewChecker(&CheckOptions{Now: checkNow})
	if err := c.Member("m.csv", 1, &sampleMembers()[0]); err != nil {
		t.Fatal(err)
	}
	a := Attendance{EventID: "e1", MemberID: "m1", TS: day(2025, 1, 1), CourseID: "anything", DurationMin: 60, Source: SourceApp}
	if err := c.Attendance("a.csv", 1, &a); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestFNV64a(t *testing.T) {
	// Reference values of 64-bit FNV-1a from the FNV specification's test
	// suite (draft-eastlake-fnv): "" and "a".
	for s, want := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if got := fnv64a(s); got != want {
			t.Errorf("fnv64a(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// ValidClock is the start_time rule of Course and of serve's request
// validation; the cases are the edges of HH:MM from 00:00 to 23:59.
func TestValidClock(t *testing.T) {
	cases := []struct {
		s    string
		want bool
	}{
		{"00:00", true}, {"23:59", true}, {"07:30", true}, {"19:05", true},
		{"24:00", false}, {"23:60", false}, {"99:99", false},
		{"7:30", false}, {"07:3", false}, {"07-30", false}, {"07:30:00", false},
		{"", false}, {"ab:cd", false}, {" 7:30", false}, {"07:3a", false},
	}
	for _, c := range cases {
		if got := ValidClock(c.s); got != c.want {
			t.Errorf("ValidClock(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}
