package datasets

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// EventRules checks attendance and transaction rows by the rules of a
// Checker's Attendance and Transaction methods, for readers that skip
// columns (ReadOptions.SkipColumns) and for passes that cannot afford a
// Checker's memory per event:
//
//   - a skipped column is not checked (its field reads as the zero value);
//   - the event_id, when read, must not be blank, but it is never checked
//     for duplicates: nothing is remembered per event.
//
// Every other check is the Checker's, in the same order, against the
// members and courses the Checker accepted: ts from MinTime to Now;
// course_id empty or a known course once courses were checked;
// duration_min from 0 to MaxDurationMin; source valid; |amount| at most
// MaxAmount; kind valid; the sign of amount by kind; member_id a known
// member (ErrUnknownMember); ts not before the member's join day
// (ErrBeforeJoin). A row that fails is a *RowError as the Checker returns
// it.
//
// EventRules only reads the Checker: take it after the last Member and
// Course call. Its methods may then run concurrently with each other and
// themselves, as long as nothing calls the Checker's methods.
type EventRules struct {
	c *Checker
	// Which columns are checked.
	eventID, memberID, ts, courseID, duration, source, amount, kind bool
}

// EventRules returns the event checks of c for readers that skip the
// columns in skipped (canonical names; names of other columns are
// ignored).
func (c *Checker) EventRules(skipped []string) *EventRules {
	on := func(col string) bool { return !slices.Contains(skipped, col) }
	return &EventRules{
		c:        c,
		eventID:  on("event_id"),
		memberID: on("member_id"),
		ts:       on("ts"),
		courseID: on("course_id"),
		duration: on("duration_min"),
		source:   on("source"),
		amount:   on("amount"),
		kind:     on("kind"),
	}
}

// Attendance checks an attendance row (see EventRules).
func (r *EventRules) Attendance(file string, row int64, a *Attendance) error {
	if f := r.attendance(a); f != nil {
		return rowError(file, row, a, f)
	}
	return nil
}

// Transaction checks a transactions row (see EventRules).
func (r *EventRules) Transaction(file string, row int64, t *Transaction) error {
	if f := r.transaction(t); f != nil {
		return rowError(file, row, t, f)
	}
	return nil
}

// attendance is the first fault of a, in Checker.Attendance's order.
func (r *EventRules) attendance(a *Attendance) *rowFault {
	c := r.c
	if f := r.ids(a.EventID, a.MemberID); f != nil {
		return f
	}
	if r.ts {
		if f := c.instant("ts", a.TS); f != nil {
			return f
		}
	}
	if r.courseID && a.CourseID != "" && c.coursesSeen {
		if _, ok := c.courses[a.CourseID]; !ok {
			return fault("course_id", a.CourseID, fmt.Errorf("%w: course_id not in courses", ErrUnknownValue))
		}
	}
	if r.duration && (a.DurationMin < 0 || a.DurationMin > c.maxDur) {
		return fault("duration_min", fmt.Sprint(a.DurationMin), fmt.Errorf("%w: duration outside 0 to %d minutes", ErrBadNumber, c.maxDur))
	}
	if r.source {
		if f := enumFault("source", int(a.Source), len(sourceNames)); f != nil {
			return f
		}
	}
	return r.member(a.MemberID, a.TS)
}

// transaction is the first fault of t, in Checker.Transaction's order.
func (r *EventRules) transaction(t *Transaction) *rowFault {
	c := r.c
	if f := r.ids(t.EventID, t.MemberID); f != nil {
		return f
	}
	if r.ts {
		if f := c.instant("ts", t.TS); f != nil {
			return f
		}
	}
	if r.amount && (t.Amount > c.maxAmount || t.Amount < -c.maxAmount || t.Amount == math.MinInt64) {
		return fault("amount", fmt.Sprint(t.Amount), fmt.Errorf("%w: |amount| above %d minor units", ErrAbsurdAmount, c.maxAmount))
	}
	if r.kind {
		if f := enumFault("kind", int(t.Kind), len(txNames)); f != nil {
			return f
		}
	}
	if r.amount && r.kind {
		switch {
		case t.Kind == TxRefund && t.Amount > 0:
			return fault("amount", fmt.Sprint(t.Amount), fmt.Errorf("%w: a refund must be <= 0", ErrBadNumber))
		case t.Kind != TxRefund && t.Amount < 0:
			return fault("amount", fmt.Sprint(t.Amount), fmt.Errorf("%w: a %s must be >= 0", ErrBadNumber, t.Kind))
		}
	}
	return r.member(t.MemberID, t.TS)
}

// ids checks that the event and member ids that were read are not blank.
func (r *EventRules) ids(eventID, memberID string) *rowFault {
	if r.eventID {
		if f := required("event_id", eventID); f != nil {
			return f
		}
	}
	if r.memberID {
		return required("member_id", memberID)
	}
	return nil
}

// member is Checker.member for the columns read: a known member, who had
// joined by the day of ts.
func (r *EventRules) member(id string, ts time.Time) *rowFault {
	switch {
	case !r.memberID:
		return nil
	case !r.ts:
		if _, ok := r.c.members[id]; !ok {
			return fault("member_id", id, ErrUnknownMember)
		}
		return nil
	}
	return r.c.member(id, ts)
}
