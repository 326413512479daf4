package features

import (
	"testing"
	"time"

	"retain/datasets"
)

// TestDebitOverdue checks debit_overdue_months of monthly members at the
// reference cutoff (Monday 2024-03-04) against due dates worked out by hand
// (habits.go: due on the contract start's day of the month, or the month's
// last day; a fee or freeze payment in the week of due−3 days or later pays
// it).
func TestDebitOverdue(t *testing.T) {
	f := testFeaturizer(testConfig())
	spec := f.Spec()
	j := col(spec.Static, StaticDebitOverdue)
	jm := col(spec.Static, StaticDebitMissed)
	fee := func(y int, m time.Month, d int) datasets.Transaction {
		return datasets.Transaction{TS: at(y, m, d, 6), Amount: 4900, Kind: datasets.TxMembershipFee}
	}
	cases := []struct {
		name  string
		ctype datasets.ContractType
		start time.Time // contract start; the member joins on it at 08:00
		txs   []datasets.Transaction
		want  float64 // days overdue / 31
	}{
		// Due 02-10 paid, 03-10 not due yet.
		{"paid up", datasets.ContractMonthly, date(2023, 9, 10),
			[]datasets.Transaction{fee(2024, 1, 10), fee(2024, 2, 10)}, 0},
		// Due 02-10 unpaid: 2024-03-04 - 02-10 = 23 days.
		{"one missed", datasets.ContractMonthly, date(2023, 9, 10),
			[]datasets.Transaction{fee(2023, 12, 10), fee(2024, 1, 10)}, 23.0 / 31},
		// First unpaid 2024-01-10: 54 days.
		{"two missed", datasets.ContractMonthly, date(2023, 9, 10),
			[]datasets.Transaction{fee(2023, 12, 10)}, 54.0 / 31},
		// A freeze charge instead of the fee pays the due date.
		{"frozen", datasets.ContractMonthly, date(2023, 9, 10),
			[]datasets.Transaction{fee(2024, 1, 10), {TS: at(2024, 2, 10, 6), Amount: 1000, Kind: datasets.TxFreeze}}, 0},
		// A refund is no payment: 02-10 unpaid.
		{"refund", datasets.ContractMonthly, date(2023, 9, 10),
			[]datasets.Transaction{fee(2024, 1, 10), {TS: at(2024, 2, 10, 6), Amount: -4900, Kind: datasets.TxMembershipFee}}, 23.0 / 31},
		// Start on the 31st: February's due date is the 29th (2024 is a
		// leap year); paid on 02-28 (within the grace): nothing overdue.
		{"short month", datasets.ContractMonthly, date(2023, 10, 31),
			[]datasets.Transaction{fee(2024, 1, 31), fee(2024, 2, 28)}, 0},
		// The same member unpaid since January: due 02-29 is 4 days back.
		{"short month missed", datasets.ContractMonthly, date(2023, 10, 31),
			[]datasets.Transaction{fee(2024, 1, 31)}, 4.0 / 31},
		// Joined 2024-02-01, joining payment only: due 03-01 unpaid, 3 days.
		{"new member", datasets.ContractMonthly, date(2024, 2, 1),
			[]datasets.Transaction{fee(2024, 2, 1)}, 3.0 / 31},
		// Unpaid since 2023-10-10: capped at 62 days.
		{"capped", datasets.ContractMonthly, date(2023, 9, 10),
			[]datasets.Transaction{fee(2023, 10, 10)}, 2},
		// Other contract types have no monthly debits.
		{"annual", datasets.ContractAnnual, date(2023, 9, 10), nil, 0},
		{"class pack", datasets.ContractClassPack, date(2023, 9, 10), nil, 0},
	}
	for _, c := range cases {
		h := History{Member: datasets.Member{MemberID: "m", JoinedAt: c.start.Add(8 * time.Hour),
			ContractType: c.ctype, ContractStart: c.start}}
		for i, x := range c.txs {
			x.MemberID, x.EventID = "m", string(rune('a'+i))
			h.Transactions = append(h.Transactions, x)
		}
		ex, err := f.Compute(&h, cutoff)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := float64(ex.Static[j]); got != float32Round(c.want) {
			t.Errorf("%s: %s = %v, want %v", c.name, StaticDebitOverdue, got, c.want)
		}
		if got := ex.Static[jm]; (c.want > 0) != (got == 1) || (got != 0 && got != 1) {
			t.Errorf("%s: %s = %v, want 1 exactly when overdue (%v)", c.name, StaticDebitMissed, got, c.want > 0)
		}
	}
}

func float32Round(x float64) float64 { return float64(float32(x)) }
