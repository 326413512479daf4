package btyd

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"retain/datasets"
)

func day(s string, hour int) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d.Add(time.Duration(hour) * time.Hour)
}

func tx(member, date string, hour int, amount int64, kind datasets.TxKind) datasets.Transaction {
	return datasets.Transaction{EventID: member + date, MemberID: member, TS: day(date, hour), Amount: amount, Kind: kind}
}

// TestSummarize works a small history by hand (calibration ends
// 2024-02-01, holdout ends 2024-03-01).
func TestSummarize(t *testing.T) {
	r := datasets.TxRetail
	txs := []datasets.Transaction{
		// a: first purchase 01-01 (two lines the same day), repeats on
		// 01-08 (two lines: one transaction of 300+0) and 01-29; one
		// holdout purchase; a refund in calibration; a purchase after the
		// holdout (not read).
		tx("a", "2024-01-01", 9, 1000, r),
		tx("a", "2024-01-01", 23, 500, r),
		tx("a", "2024-01-08", 10, 300, r),
		tx("a", "2024-01-08", 11, 0, r),
		tx("a", "2024-01-29", 10, 900, datasets.TxClassPack),
		tx("a", "2024-01-30", 10, -900, datasets.TxRefund),
		tx("a", "2024-02-10", 10, 100, r),
		tx("a", "2024-03-01", 0, 100, r),
		// b: one purchase on the last calibration day: T = 0.
		tx("b", "2024-01-31", 23, 700, r),
		// c: first purchase in the holdout: not in the calibration cohort.
		tx("c", "2024-02-02", 10, 100, r),
		// d: refunds only.
		tx("d", "2024-01-05", 10, -100, datasets.TxRefund),
		// e: first purchase, then two holdout days.
		tx("e", "2024-01-15", 10, 50, r),
		tx("e", "2024-02-01", 0, 50, r),
		tx("e", "2024-02-29", 23, 50, r),
	}
	got, err := Summarize(txs, day("2024-02-01", 0), day("2024-03-01", 0))
	if err != nil {
		t.Fatal(err)
	}
	want := []Customer{
		// T = (01-31 - 01-01)/7 = 30/7; TX = (01-29 - 01-01)/7 = 28/7;
		// mean of the repeat days 300 and 900.
		{ID: "a", X: 2, TX: 4, T: 30.0 / 7, MeanValue: 600, HoldoutX: 1, Refunds: 1},
		{ID: "b", T: 0},
		{ID: "e", T: 16.0 / 7, HoldoutX: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.X != w.X || math.Abs(g.TX-w.TX) > 1e-12 || math.Abs(g.T-w.T) > 1e-12 || g.MeanValue != w.MeanValue || g.HoldoutX != w.HoldoutX || g.Refunds != w.Refunds {
			t.Errorf("customer %d: got %+v, want %+v", i, g, w)
		}
	}
	// Without a holdout nothing is counted after calEnd.
	got, err = Summarize(txs, day("2024-02-01", 0), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.HoldoutX != 0 {
			t.Errorf("no holdout: %+v", c)
		}
	}
	// Bounds are UTC dates: calEnd at 13:00 UTC on 02-01 is the same
	// boundary as midnight.
	got, err = Summarize(txs, day("2024-02-01", 13), day("2024-03-01", 5))
	if err != nil || len(got) != 3 || got[0].HoldoutX != 1 || got[2].HoldoutX != 2 {
		t.Errorf("time-of-day bounds: %+v, %v", got, err)
	}
}

func TestSummarizeErrors(t *testing.T) {
	ok := tx("m1", "2024-01-01", 0, 100, datasets.TxRetail)
	for _, tc := range []struct {
		name string
		tx   datasets.Transaction
		want []string
	}{
		{"no member", datasets.Transaction{EventID: "e9", TS: day("2024-01-02", 0), Amount: 1, Kind: datasets.TxRetail}, []string{"transaction 1", `event "e9"`, "member_id", "empty"}},
		{"zero time", datasets.Transaction{EventID: "e8", MemberID: "m2", Amount: 1, Kind: datasets.TxRetail}, []string{"transaction 1", `member "m2"`, "ts", "zero"}},
		{"bad kind", datasets.Transaction{EventID: "e7", MemberID: "m3", TS: day("2024-01-02", 0), Amount: 1, Kind: 99}, []string{`member "m3"`, "kind"}},
		{"positive refund", tx("m4", "2024-01-02", 0, 5, datasets.TxRefund), []string{`member "m4"`, "amount", "refund must be <= 0"}},
		{"negative sale", tx("m5", "2024-01-02", 0, -5, datasets.TxRetail), []string{`member "m5"`, "amount", "retail must be >= 0"}},
	} {
		_, err := Summarize([]datasets.Transaction{ok, tc.tx}, day("2024-02-01", 0), day("2024-03-01", 0))
		checkInputErr(t, tc.name, err, tc.want)
	}
	if _, err := Summarize([]datasets.Transaction{ok}, time.Time{}, time.Time{}); err == nil {
		t.Error("zero calEnd: no error")
	}
	if _, err := Summarize([]datasets.Transaction{ok}, day("2024-02-01", 0), day("2024-01-01", 0)); err == nil || !strings.Contains(err.Error(), "before calEnd") {
		t.Errorf("holdoutEnd before calEnd: %v", err)
	}
}

// checkInputErr checks that err, of the case name, wraps ErrInput and says
// every string of want.
func checkInputErr(t *testing.T, name string, err error, want []string) {
	t.Helper()
	if err == nil || !errors.Is(err, ErrInput) {
		t.Errorf("%s: error %v, want ErrInput", name, err)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not say %q", name, err, w)
		}
	}
}
