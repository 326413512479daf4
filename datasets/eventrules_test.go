package datasets

import (
	"fmt"
	"testing"
	"time"
)

// TestEventRulesMatchChecker: on rows with a fresh event id, EventRules
// gives the Checker's verdict (the same column and error) for every fault
// of an event row, so that passes that use it (features, batch scoring)
// reject what retain validate rejects; with columns skipped their faults
// pass, and event ids are never checked for duplicates.
func TestEventRulesMatchChecker(t *testing.T) {
	ts := time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC)
	goodA := func() Attendance {
		return Attendance{MemberID: "m1", TS: ts, CourseID: "c1", DurationMin: 60, Source: SourcePOS}
	}
	goodT := func() Transaction {
		return Transaction{MemberID: "m1", TS: ts, Amount: 4999, Kind: TxMembershipFee}
	}
	atts := map[string]func(*Attendance){
		"ok":               func(*Attendance) {},
		"member blank":     func(a *Attendance) { a.MemberID = " " },
		"ts missing":       func(a *Attendance) { a.TS = time.Time{} },
		"ts before min":    func(a *Attendance) { a.TS = day(1989, 1, 1) },
		"ts future":        func(a *Attendance) { a.TS = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) },
		"course unknown":   func(a *Attendance) { a.CourseID = "nope" },
		"open gym":         func(a *Attendance) { a.CourseID = "" },
		"duration -5":      func(a *Attendance) { a.DurationMin = -5 },
		"duration 99999":   func(a *Attendance) { a.DurationMin = 99999 },
		"source missing":   func(a *Attendance) { a.Source = 0 },
		"source invalid":   func(a *Attendance) { a.Source = 99 },
		"member unknown":   func(a *Attendance) { a.MemberID = "m9" },
		"before join":      func(a *Attendance) { a.TS = day(2024, 1, 14) },
		"join day morning": func(a *Attendance) { a.TS = day(2024, 1, 15) },
		"two faults":       func(a *Attendance) { a.DurationMin = -1; a.MemberID = "m9" },
	}
	txs := map[string]func(*Transaction){
		"ok":              func(*Transaction) {},
		"member blank":    func(x *Transaction) { x.MemberID = "" },
		"ts future":       func(x *Transaction) { x.TS = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) },
		"amount absurd":   func(x *Transaction) { x.Amount = 999999999999 },
		"amount min int":  func(x *Transaction) { x.Amount = -1 << 63 },
		"negative retail": func(x *Transaction) { x.Kind = TxRetail; x.Amount = -500 },
		"positive refund": func(x *Transaction) { x.Kind = TxRefund; x.Amount = 500 },
		"kind missing":    func(x *Transaction) { x.Kind = 0 },
		"kind invalid":    func(x *Transaction) { x.Kind = 99 },
		"member unknown":  func(x *Transaction) { x.MemberID = "m9" },
		"before join":     func(x *Transaction) { x.TS = day(2023, 12, 1) },
	}
	c := newTestChecker(t)
	rules := c.EventRules([]string{"event_id"})
	same := func(name string, want, got error) {
		t.Helper()
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("%s: EventRules says %v, the Checker %v", name, got, want)
		}
	}
	n := 0
	for name, f := range atts {
		a := goodA()
		f(&a)
		got := rules.Attendance("attendance.csv", 2, &a) // the event id is blank: skipped
		n++
		a.EventID = fmt.Sprint("a", n)
		same("attendance "+name, c.Attendance("attendance.csv", 2, &a), got)
	}
	for name, f := range txs {
		x := goodT()
		f(&x)
		got := rules.Transaction("transactions.csv", 2, &x)
		n++
		x.EventID = fmt.Sprint("t", n)
		same("transaction "+name, c.Transaction("transactions.csv", 2, &x), got)
	}

	// Skipped columns are not checked; event ids never for duplicates.
	a := goodA()
	a.EventID, a.Source = "a1", 0
	for range 2 {
		if err := c.EventRules([]string{"source"}).Attendance("attendance.csv", 3, &a); err != nil {
			t.Errorf("source skipped, event id repeated: %v", err)
		}
	}
	a.EventID = ""
	if err := c.EventRules([]string{"source"}).Attendance("attendance.csv", 3, &a); err == nil {
		t.Error("a blank event id that was read passed")
	}
	x := goodT()
	x.Kind, x.Amount = TxRetail, -1
	if err := c.EventRules([]string{"event_id", "kind"}).Transaction("transactions.csv", 3, &x); err != nil {
		t.Errorf("kind skipped: the sign of the amount by kind was checked: %v", err)
	}
}
