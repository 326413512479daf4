package btyd

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"retain/datasets"
)

// Customer is one customer's purchase history in the form the BG/NBD and
// Gamma-Gamma models read (Fader, Hardie & Lee 2005 call it (X = x, t_x, T)).
// Times are in weeks.
type Customer struct {
	ID string
	// X is the number of repeat transactions in the calibration period:
	// purchase days after the first one.
	X float64
	// TX is the time of the last repeat transaction, in weeks since the
	// first purchase (0 when X is 0).
	TX float64
	// T is the time from the first purchase day to the last day of the
	// calibration period, in weeks (see Summarize).
	T float64
	// MeanValue is the mean spend per repeat transaction in calibration
	// (a transaction being one purchase day, its amounts summed), in the
	// minor units of datasets.Transaction.Amount (cents for CDNOW); 0 when
	// X is 0.
	MeanValue float64
	// HoldoutX is the number of transactions (purchase days) in the holdout
	// period, when there is one.
	HoldoutX float64
	// Refunds counts the customer's refund transactions (Kind refund) dated
	// in the calibration period. They are not purchases: they count in
	// neither X nor MeanValue (see Summarize).
	Refunds int
}

// ErrInput marks invalid input: a bad transaction, customer or argument.
var ErrInput = errors.New("btyd: invalid input")

// Summarize turns transactions into per-customer summaries with the
// protocol of Fader, Hardie & Lee (2005) for the CDNOW data:
//
//   - A transaction is a purchase day: all purchases of a customer on the
//     same calendar day (the UTC date of TS) count as one transaction, their
//     amounts summed.
//   - The first purchase day starts the customer's clock and is not counted
//     in X; TX and T are measured from it, in weeks (days/7).
//   - The calibration period ends at calEnd (exclusive), the holdout period
//     is [calEnd, holdoutEnd). Both bounds are taken as UTC calendar dates
//     (their time of day is ignored), so a day is in calibration when its
//     date is before calEnd's date. A zero holdoutEnd means no holdout
//     (HoldoutX is 0).
//   - T is the number of days from the first purchase day to the last
//     calibration day (the day before calEnd), over 7. This is the
//     convention of the data behind the published figures: a customer
//     whose first purchase is on 1997-01-01 has T = 272/7 = 38.86 with
//     calibration weeks 1-39 (lifetimes' cdnow_customers.csv), and only
//     this convention reproduces Table 2 of Fader, Hardie & Lee (2005)
//     (measuring T to calEnd itself, 273/7 = 39 weeks for that customer,
//     gives LL -9589.9 instead of -9582.4). A customer whose first
//     purchase is on the last calibration day has T = 0.
//   - Only customers whose first purchase is before calEnd are returned,
//     sorted by ID; a customer first seen later has no calibration history.
//     Transactions on or after holdoutEnd are checked but not counted.
//   - Zero-amount purchases are purchases (CDNOW has such lines; the
//     published figures are reproduced counting them).
//   - Days are UTC dates, not local ones: for CDNOW (midnight New York
//     time, 04:00 or 05:00 UTC) they are the same; for data stamped late
//     in the evening west of UTC a purchase can fall on the next UTC day.
//   - Refunds (Kind refund, amount <= 0) are not purchases: they neither
//     start a customer's clock nor count in X, TX, HoldoutX or MeanValue;
//     they are counted in Customer.Refunds so that none disappears
//     unnoticed. The models describe buying, and netting a refund against
//     a later day's spend would make spends negative.
//
// Transactions are checked as datasets.Checker checks them: a member ID, a
// non-zero TS, a valid kind, amount <= 0 for a refund and >= 0 otherwise.
// The first bad one is returned as an error naming its index, event ID,
// member and field.
func Summarize(txs []datasets.Transaction, calEnd, holdoutEnd time.Time) ([]Customer, error) {
	if calEnd.IsZero() {
		return nil, fmt.Errorf("%w: calEnd is zero", ErrInput)
	}
	calDay := dayOf(calEnd)
	holdDay := calDay
	if !holdoutEnd.IsZero() {
		holdDay = dayOf(holdoutEnd)
		if holdDay < calDay {
			return nil, fmt.Errorf("%w: holdoutEnd %s is before calEnd %s", ErrInput, holdoutEnd.UTC().Format(time.DateOnly), calEnd.UTC().Format(time.DateOnly))
		}
	}
	type acc struct {
		days    map[int64]int64 // purchase day -> summed amount
		refunds []int64         // refund days
	}
	by := map[string]*acc{}
	for i, tx := range txs {
		if err := checkTx(i, tx); err != nil {
			return nil, err
		}
		d := dayOf(tx.TS)
		if d >= holdDay {
			continue
		}
		a := by[tx.MemberID]
		if a == nil {
			a = &acc{days: map[int64]int64{}}
			by[tx.MemberID] = a
		}
		if tx.Kind == datasets.TxRefund {
			a.refunds = append(a.refunds, d)
			continue
		}
		a.days[d] += tx.Amount
	}
	out := make([]Customer, 0, len(by))
	for id, a := range by {
		if len(a.days) == 0 {
			continue // refunds only: no purchase
		}
		days := make([]int64, 0, len(a.days))
		for d := range a.days {
			days = append(days, d)
		}
		sort.Slice(days, func(i, j int) bool { return days[i] < days[j] })
		first := days[0]
		if first >= calDay {
			continue // first purchase in the holdout: not in the calibration cohort
		}
		c := Customer{ID: id, T: float64(calDay-1-first) / 7}
		var spend int64
		for _, d := range days[1:] {
			if d < calDay {
				c.X++
				c.TX = float64(d-first) / 7
				spend += a.days[d]
			} else {
				c.HoldoutX++
			}
		}
		if c.X > 0 {
			c.MeanValue = float64(spend) / c.X
		}
		for _, d := range a.refunds {
			if d < calDay {
				c.Refunds++
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// dayOf returns the UTC calendar date of t as days since 1970-01-01.
func dayOf(t time.Time) int64 {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func checkTx(i int, tx datasets.Transaction) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: transaction %d (event %q, member %q): %s: %s", ErrInput, i, tx.EventID, tx.MemberID, field, fmt.Sprintf(format, args...))
	}
	switch {
	case tx.MemberID == "":
		return bad("member_id", "empty")
	case tx.TS.IsZero():
		return bad("ts", "zero time")
	case tx.Kind == datasets.TxUnknown || int(tx.Kind) > len(datasets.TxKinds):
		return bad("kind", "invalid kind %s", tx.Kind)
	case tx.Kind == datasets.TxRefund && tx.Amount > 0:
		return bad("amount", "%d: a refund must be <= 0", tx.Amount)
	case tx.Kind != datasets.TxRefund && tx.Amount < 0:
		return bad("amount", "%d: a %s must be >= 0 (refunds have kind refund)", tx.Amount, tx.Kind)
	}
	return nil
}

// checkCustomers validates summaries for the models: finite fields,
// X and HoldoutX whole and >= 0, T >= 0, 0 < TX <= T when X > 0 and TX = 0
// when X = 0, MeanValue >= 0. Errors name the customer (index and ID) and
// the field.
func checkCustomers(cs []Customer) error {
	if len(cs) == 0 {
		return fmt.Errorf("%w: no customers", ErrInput)
	}
	for i := range cs {
		if err := checkCustomer(i, &cs[i]); err != nil {
			return err
		}
	}
	return nil
}

func checkCustomer(i int, c *Customer) error {
	bad := func(field string, v float64, why string) error {
		return fmt.Errorf("%w: customer %d (id %q): %s = %v: %s", ErrInput, i, c.ID, field, v, why)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"X", c.X}, {"TX", c.TX}, {"T", c.T}, {"MeanValue", c.MeanValue}, {"HoldoutX", c.HoldoutX}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return bad(f.name, f.v, "not finite")
		}
		if f.v < 0 {
			return bad(f.name, f.v, "negative")
		}
	}
	switch {
	case c.X != math.Trunc(c.X):
		return bad("X", c.X, "not a whole number of transactions")
	case c.HoldoutX != math.Trunc(c.HoldoutX):
		return bad("HoldoutX", c.HoldoutX, "not a whole number of transactions")
	case c.TX > c.T:
		return bad("TX", c.TX, fmt.Sprintf("after T = %v", c.T))
	case c.X == 0 && c.TX != 0:
		return bad("TX", c.TX, "must be 0 when X = 0")
	case c.X > 0 && c.TX == 0:
		return bad("TX", c.TX, fmt.Sprintf("must be > 0 when X = %v", c.X))
	}
	return nil
}
