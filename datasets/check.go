package datasets

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A Checker checks rows one at a time, field by field and against the rows
// it has seen before: the members (for member_id and join dates), the
// courses (for course_id), and the event ids of each event table (for
// duplicates). Check the tables in the order of Tables: members, courses,
// then attendance and transactions. A Checker is not safe for concurrent
// use.
//
// Each method returns nil or a *RowError that names the file, the row, the
// column and the value, wraps one sentinel error, and carries the row's
// fields in Raw. Only the first fault of a row is reported: field checks in
// column order (course_id against the courses among them), then the member
// checks, then duplicates. A rejected row is forgotten: a member whose row
// is rejected is unknown to later events, and the event id of a rejected
// row may appear again.
//
// Memory: a Checker keeps every accepted member id and course id, and for
// each accepted event a 64-bit FNV-1a hash of its event_id with the place
// it was first seen: 30 to 40 bytes an event in a Go map (30 measured for
// ten million events, so about 300 MB). Two distinct ids share a hash with
// probability 2^-64; in a table of n events the chance that any pair
// collides, which would report a false duplicate, is about n²/2^65: 3e-6
// for ten million events.
type Checker struct {
	now, min  time.Time
	maxAmount int64
	maxDur    int

	members     map[string]memberSeen
	courses     map[string]rowRef
	coursesSeen bool
	events      [2]map[uint64]uint64 // attendance, transactions: hash -> packed rowRef

	files    []string
	fileIdx  map[string]uint32
	lastFile string
	lastIdx  uint32
}

// rowRef is where a row was seen: an index into Checker.files and a row.
type rowRef struct {
	file uint32
	row  int64
}

type memberSeen struct {
	joinDay int64 // Unix seconds of midnight UTC of the join day
	at      rowRef
}

// NewChecker returns a Checker with the limits in opts (nil for defaults).
func NewChecker(opts *CheckOptions) *Checker {
	var o CheckOptions
	if opts != nil {
		o = *opts
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.MaxAmount <= 0 {
		o.MaxAmount = DefaultMaxAmount
	}
	if o.MaxDurationMin <= 0 {
		o.MaxDurationMin = DefaultMaxDurationMin
	}
	if o.MinTime.IsZero() {
		o.MinTime = DefaultMinTime()
	}
	return &Checker{
		now:       o.Now,
		min:       o.MinTime,
		maxAmount: o.MaxAmount,
		maxDur:    o.MaxDurationMin,
		members:   make(map[string]memberSeen),
		courses:   make(map[string]rowRef),
		events:    [2]map[uint64]uint64{make(map[uint64]uint64), make(map[uint64]uint64)},
		fileIdx:   make(map[string]uint32),
	}
}

// Members returns the number of members accepted so far.
func (c *Checker) Members() int { return len(c.members) }

// ref returns the rowRef of row in file.
func (c *Checker) ref(file string, row int64) rowRef {
	if file != c.lastFile || len(c.files) == 0 {
		i, ok := c.fileIdx[file]
		if !ok {
			i = uint32(len(c.files))
			c.files = append(c.files, file)
			c.fileIdx[file] = i
		}
		c.lastFile, c.lastIdx = file, i
	}
	return rowRef{file: c.lastIdx, row: row}
}

// where describes a first sighting for an error about a later row of file.
func (c *Checker) where(first rowRef, file string) string {
	if f := c.files[first.file]; f != file {
		return fmt.Sprintf("%s row %d", f, first.row)
	}
	return fmt.Sprintf("row %d", first.row)
}

// rowFault is the first fault found in a row, before it becomes a RowError.
type rowFault struct {
	col, value string
	err        error
}

func fault(col, value string, err error) *rowFault { return &rowFault{col, value, err} }

func rowError[T Record](file string, row int64, r *T, f *rowFault) *RowError {
	return &RowError{File: file, Row: row, Column: f.col, Value: f.value, Err: f.err, Raw: recordFields(r)}
}

func required(col, s string) *rowFault {
	if strings.TrimSpace(s) == "" {
		return fault(col, s, ErrMissing)
	}
	return nil
}

// id checks an id column (member_id, course_id, event_id): not blank when
// required, at most MaxIDBytes bytes, valid UTF-8, as the serving store
// requires of its keys.
func id(col, s string, req bool) *rowFault {
	switch {
	case strings.TrimSpace(s) == "":
		if req {
			return fault(col, s, ErrMissing)
		}
	case len(s) > MaxIDBytes:
		return fault(col, s, fmt.Errorf("%w: %d bytes, at most %d", ErrBadID, len(s), MaxIDBytes))
	case !utf8.ValidString(s):
		return fault(col, strings.ToValidUTF8(s, "\ufffd"), fmt.Errorf("%w: not valid UTF-8", ErrBadID))
	}
	return nil
}

// FormatTime prints an instant as errors show it: RFC 3339 in UTC, with
// the fraction of a second when there is one.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// instant checks an event or join timestamp: present, not before MinTime,
// not after Now.
func (c *Checker) instant(col string, t time.Time) *rowFault {
	switch {
	case t.IsZero():
		return fault(col, "", ErrMissing)
	case t.Before(c.min):
		return fault(col, FormatTime(t), fmt.Errorf("%w: before %s", ErrBadTimestamp, FormatTime(c.min)))
	case t.After(c.now):
		return fault(col, FormatTime(t), fmt.Errorf("%w: after %s", ErrFutureTime, FormatTime(c.now)))
	}
	return nil
}

func enumFault(col string, v int, n int) *rowFault {
	switch {
	case v == 0:
		return fault(col, "", ErrMissing)
	case v < 0 || v >= n:
		return fault(col, fmt.Sprint(v), fmt.Errorf("%w for %s", ErrUnknownValue, col))
	}
	return nil
}

func first(faults ...func() *rowFault) *rowFault {
	for _, f := range faults {
		if e := f(); e != nil {
			return e
		}
	}
	return nil
}

// Member checks a members row and, when it passes, remembers the member's
// id and join day. Checks: member_id and home_club not blank, member_id
// an id (at most MaxIDBytes bytes of UTF-8, else ErrBadID); joined_at
// present, from MinTime to Now; birth_year 0 or 1900 to the year of Now;
// gender empty or one of Genders; contract_type valid; contract_start
// present and not before MinTime; contract_end zero or not before
// contract_start; member_id not seen before (ErrDuplicateKey).
func (c *Checker) Member(file string, row int64, m *Member) error {
	f := first(
		func() *rowFault { return id("member_id", m.MemberID, true) },
		func() *rowFault { return c.instant("joined_at", m.JoinedAt) },
		func() *rowFault {
			if y := m.BirthYear; y != 0 && (y < MinBirthYear || y > c.now.Year()) {
				return fault("birth_year", fmt.Sprint(y), fmt.Errorf("%w: birth year outside %d to %d", ErrBadNumber, MinBirthYear, c.now.Year()))
			}
			return nil
		},
		func() *rowFault {
			if m.Gender != "" && !slices.Contains(Genders, m.Gender) {
				return fault("gender", m.Gender, fmt.Errorf("%w for gender (want empty or one of %s)", ErrUnknownValue, strings.Join(Genders, ", ")))
			}
			return nil
		},
		func() *rowFault { return required("home_club", m.HomeClub) },
		func() *rowFault { return enumFault("contract_type", int(m.ContractType), len(contractNames)) },
		func() *rowFault {
			switch {
			case m.ContractStart.IsZero():
				return fault("contract_start", "", ErrMissing)
			case m.ContractStart.Before(c.min):
				return fault("contract_start", FormatTime(m.ContractStart), fmt.Errorf("%w: before %s", ErrBadTimestamp, FormatTime(c.min)))
			}
			return nil
		},
		func() *rowFault {
			if !m.ContractEnd.IsZero() && m.ContractEnd.Before(m.ContractStart) {
				return fault("contract_end", FormatTime(m.ContractEnd), fmt.Errorf("%w: contract_end before contract_start %s", ErrBadTimestamp, FormatTime(m.ContractStart)))
			}
			return nil
		},
	)
	if f == nil {
		if seen, ok := c.members[m.MemberID]; ok {
			f = fault("member_id", m.MemberID, fmt.Errorf("%w: member_id first seen at %s", ErrDuplicateKey, c.where(seen.at, file)))
		}
	}
	if f != nil {
		return rowError(file, row, m, f)
	}
	c.members[strings.Clone(m.MemberID)] = memberSeen{joinDay: Date(m.JoinedAt).Unix(), at: c.ref(file, row)}
	return nil
}

// Course checks a courses row and, when it passes, remembers its id. From
// the first call on, attendance course ids are checked against the courses
// seen. Checks: course_id, name and category not blank, course_id an id
// (at most MaxIDBytes bytes of UTF-8, else ErrBadID); weekday 0 to 7;
// start_time empty or HH:MM (00:00 to 23:59); capacity >= 0; course_id not
// seen before (ErrDuplicateKey).
func (c *Checker) Course(file string, row int64, co *Course) error {
	c.coursesSeen = true
	f := first(
		func() *rowFault { return id("course_id", co.CourseID, true) },
		func() *rowFault { return required("name", co.Name) },
		func() *rowFault { return required("category", co.Category) },
		func() *rowFault {
			if co.Weekday < 0 || co.Weekday > MaxWeekday {
				return fault("weekday", fmt.Sprint(co.Weekday), fmt.Errorf("%w: weekday outside 0 to %d", ErrBadNumber, MaxWeekday))
			}
			return nil
		},
		func() *rowFault {
			if co.StartTime != "" && !ValidClock(co.StartTime) {
				return fault("start_time", co.StartTime, fmt.Errorf("%w: want HH:MM from 00:00 to 23:59", ErrBadTimestamp))
			}
			return nil
		},
		func() *rowFault {
			if co.Capacity < 0 {
				return fault("capacity", fmt.Sprint(co.Capacity), fmt.Errorf("%w: negative capacity", ErrBadNumber))
			}
			return nil
		},
	)
	if f == nil {
		if at, ok := c.courses[co.CourseID]; ok {
			f = fault("course_id", co.CourseID, fmt.Errorf("%w: course_id first seen at %s", ErrDuplicateKey, c.where(at, file)))
		}
	}
	if f != nil {
		return rowError(file, row, co, f)
	}
	c.courses[strings.Clone(co.CourseID)] = c.ref(file, row)
	return nil
}

// ValidClock reports whether s is a course start_time: HH:MM from 00:00
// to 23:59.
func ValidClock(s string) bool {
	if len(s) != 5 || s[2] != ':' {
		return false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	return h < 24 && m < 60
}

// Attendance checks an attendance row and, when it passes, remembers its
// event id. Checks: event_id and member_id not blank, and with course_id
// ids (at most MaxIDBytes bytes of UTF-8, else ErrBadID); ts present, from
// MinTime to Now; course_id empty or, once courses were checked, a known
// course (ErrUnknownValue); duration_min from 0 to MaxDurationMin; source
// valid; member_id a known member (ErrUnknownMember); ts not before the
// member's join day, midnight UTC (ErrBeforeJoin); event_id not seen before
// in attendance (ErrDuplicateEvent).
func (c *Checker) Attendance(file string, row int64, a *Attendance) error {
	f := first(
		func() *rowFault { return id("event_id", a.EventID, true) },
		func() *rowFault { return id("member_id", a.MemberID, true) },
		func() *rowFault { return c.instant("ts", a.TS) },
		func() *rowFault { return id("course_id", a.CourseID, false) },
		func() *rowFault {
			if a.CourseID != "" && c.coursesSeen {
				if _, ok := c.courses[a.CourseID]; !ok {
					return fault("course_id", a.CourseID, fmt.Errorf("%w: course_id not in courses", ErrUnknownValue))
				}
			}
			return nil
		},
		func() *rowFault {
			if a.DurationMin < 0 || a.DurationMin > c.maxDur {
				return fault("duration_min", fmt.Sprint(a.DurationMin), fmt.Errorf("%w: duration outside 0 to %d minutes", ErrBadNumber, c.maxDur))
			}
			return nil
		},
		func() *rowFault { return enumFault("source", int(a.Source), len(sourceNames)) },
		func() *rowFault { return c.member(a.MemberID, a.TS) },
	)
	if f == nil {
		f = c.event(0, a.EventID, file, row)
	}
	if f != nil {
		return rowError(file, row, a, f)
	}
	return nil
}

// Transaction checks a transactions row and, when it passes, remembers its
// event id. Checks: event_id and member_id not blank, and ids (at most
// MaxIDBytes bytes of UTF-8, else ErrBadID); ts present, from MinTime to
// Now; |amount| <= MaxAmount (ErrAbsurdAmount); kind valid;
// amount <= 0 for a refund and >= 0 for every other kind (ErrBadNumber);
// member_id a known member; ts not before the join day; event_id not seen
// before in transactions.
func (c *Checker) Transaction(file string, row int64, t *Transaction) error {
	f := first(
		func() *rowFault { return id("event_id", t.EventID, true) },
		func() *rowFault { return id("member_id", t.MemberID, true) },
		func() *rowFault { return c.instant("ts", t.TS) },
		func() *rowFault {
			if t.Amount > c.maxAmount || t.Amount < -c.maxAmount || t.Amount == math.MinInt64 {
				return fault("amount", fmt.Sprint(t.Amount), fmt.Errorf("%w: |amount| above %d minor units", ErrAbsurdAmount, c.maxAmount))
			}
			return nil
		},
		func() *rowFault { return enumFault("kind", int(t.Kind), len(txNames)) },
		func() *rowFault {
			switch {
			case t.Kind == TxRefund && t.Amount > 0:
				return fault("amount", fmt.Sprint(t.Amount), fmt.Errorf("%w: a refund must be <= 0", ErrBadNumber))
			case t.Kind != TxRefund && t.Amount < 0:
				return fault("amount", fmt.Sprint(t.Amount), fmt.Errorf("%w: a %s must be >= 0", ErrBadNumber, t.Kind))
			}
			return nil
		},
		func() *rowFault { return c.member(t.MemberID, t.TS) },
	)
	if f == nil {
		f = c.event(1, t.EventID, file, row)
	}
	if f != nil {
		return rowError(file, row, t, f)
	}
	return nil
}

// member checks that id is a known member who had joined by the day of ts.
func (c *Checker) member(id string, ts time.Time) *rowFault {
	m, ok := c.members[id]
	if !ok {
		return fault("member_id", id, ErrUnknownMember)
	}
	if ts.Unix() < m.joinDay {
		return fault("ts", FormatTime(ts), fmt.Errorf("%w: joined %s", ErrBeforeJoin, time.Unix(m.joinDay, 0).UTC().Format(time.DateOnly)))
	}
	return nil
}

// event checks that id is new in event table t (0 attendance, 1
// transactions) and remembers it.
func (c *Checker) event(t int, id, file string, row int64) *rowFault {
	h := fnv64a(id)
	at := c.ref(file, row)
	if packed, ok := c.events[t][h]; ok {
		firstAt := rowRef{file: uint32(packed >> 40), row: int64(packed & (1<<40 - 1))}
		return fault("event_id", id, fmt.Errorf("%w: first seen at %s", ErrDuplicateEvent, c.where(firstAt, file)))
	}
	// 24 bits of file index, 40 bits of row: 16M files of 10^12 rows.
	c.events[t][h] = uint64(at.file)<<40 | uint64(at.row)&(1<<40-1)
	return nil
}

// fnv64a is the 64-bit FNV-1a hash of s.
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
