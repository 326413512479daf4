package features

import (
	"sort"

	"retain/datasets"
)

// contract is a member's fixed-term contract: the due dates at which it
// must be renewed, derived from the members table alone (so from nothing
// that happens after sign-up).
//
// Only members whose contract type is in Label.LapseContractTypes (default
// annual) have one; every other member's contract is open-ended. The due
// dates are:
//
//   - ContractEnd zero (an open term, as datasets/synth writes annual
//     contracts): the anniversaries of ContractStart (of the join date when
//     ContractStart is zero): ContractStart + k*12 months, k = 1, 2, ...
//     (a monthly contract type listed as lapsing uses + k months);
//   - ContractEnd E set: E is the first due date and each renewal adds one
//     term, the length of [ContractStart, E]: whole months when
//     ContractStart and E+1 (or E) fall on the same day of the month
//     (2024-01-01..2024-12-31 is 12 months), else E-ContractStart days
//     (12 months without a usable ContractStart).
//
// Month arithmetic follows time.AddDate: 29 February + 12 months is
// 1 March.
//
// A due date is renewed by a renewal transaction (Label.RenewalKinds) in
// [due-RenewBeforeDays, due+RenewAfterDays); each transaction renews one due
// date. The first due date that is not renewed is where the contract lapses;
// there are no due dates after it.
//
// A due date whose renewal window opens before the member's first activity
// (visit or payment) in the data cannot be judged by its transactions: a
// member who joined years before the data starts renewed before it, where
// the data cannot show it. Such a due date counts as renewed when a renewal
// transaction shows in its window as usual, or else when the member is
// active (a visit or a payment) after the window closes: a member still
// training after the due date renewed.
type contract struct {
	anchor     int32 // day the terms count from; noDay when open-ended
	termMonths int32 // > 0: due_k = anchor + k*termMonths months + offset
	termDays   int32 // termMonths == 0: due_k = anchor + k*termDays
	offset     int32 // 0, or -1 when a due date is the day before an anniversary
}

// newContract reads a member's contract; lapses says whether the member's
// contract type can lapse at all, join is the join day.
func newContract(m *datasets.Member, lapses bool, join int32) contract {
	if !lapses {
		return contract{anchor: noDay}
	}
	s, e := dateDay(m.ContractStart), dateDay(m.ContractEnd)
	if e == noDay {
		if s == noDay {
			s = join
		}
		months := int32(12)
		if m.ContractType == datasets.ContractMonthly {
			months = 1
		}
		return contract{anchor: s, termMonths: months}
	}
	if s != noDay && s < e {
		sy, sm, sd := civilFromDays(s)
		for _, off := range []int32{-1, 0} {
			ey, em, ed := civilFromDays(e - off)
			months := int32((ey-sy)*12 + em - sm)
			if sd == ed && months > 0 {
				return contract{anchor: s, termMonths: months, offset: off}
			}
		}
		return contract{anchor: s, termDays: e - s}
	}
	// No usable start: count 12-month terms back from the end.
	ey, em, ed := civilFromDays(e + 1)
	return contract{anchor: daysFromCivil(ey-1, em, ed), termMonths: 12, offset: -1}
}

// open reports whether the contract is open-ended.
func (c *contract) open() bool { return c.anchor == noDay }

// due returns the k-th due date, k >= 1.
func (c *contract) due(k int32) int32 {
	if c.termMonths == 0 {
		return c.anchor + k*c.termDays
	}
	y, m, d := civilFromDays(c.anchor)
	mm := m - 1 + int(k*c.termMonths)
	// daysFromCivil is linear in the day, so a day past the month's end
	// rolls into the next month as time.AddDate does.
	return daysFromCivil(y+mm/12, mm%12+1, d) + c.offset
}

// renewalWindow is the window of renewal days around due dates.
type renewalWindow struct{ before, after int32 }

// activity is the member's activity days by month: visits (att) and
// payments (tx), each sorted by month.
type activity struct{ att, tx []monthAct }

// first returns the first activity day, farDay when there is none.
func (a activity) first() int32 {
	d := int32(farDay)
	for _, s := range [2][]monthAct{a.att, a.tx} {
		if len(s) > 0 {
			d = min(d, s[0].first)
		}
	}
	return d
}

// activeIn reports whether an activity day falls in [from, to), as far as
// the first and last day of each month show.
func (a activity) activeIn(from, to int32) bool {
	if from >= to {
		return false
	}
	mi := monthIndex(to)
	for _, s := range [2][]monthAct{a.att, a.tx} {
		i := sort.Search(len(s), func(j int) bool { return s[j].month >= mi })
		if i < len(s) && s[i].month == mi {
			if m := s[i]; (m.first >= from && m.first < to) || (m.last >= from && m.last < to) {
				return true // the month of to has a known day in the range
			}
		}
		if i > 0 && s[i-1].last >= from {
			return true // every day of earlier months lies before to
		}
	}
	return false
}

// walk visits the contract's due dates in order, calling fn with each due
// date and whether it was renewed as known before day limit: by a renewal
// transaction, or, for a due date whose window opens before the member's
// first activity, by activity after the window (see contract). It stops
// after the first due date that was not renewed, or when fn returns false.
// renewals are the member's renewal days, sorted.
func (c *contract) walk(rw renewalWindow, renewals []int32, act activity, limit int32, fn func(due int32, renewed bool) bool) {
	if c.open() {
		return
	}
	first := int32(noDay)
	j := 0
	for k := int32(1); ; k++ {
		d := c.due(k)
		for j < len(renewals) && renewals[j] < d-rw.before {
			j++
		}
		byTx := j < len(renewals) && renewals[j] < d+rw.after && renewals[j] < limit
		renewed := byTx
		if !renewed {
			if first == noDay {
				first = act.first()
			}
			renewed = d-rw.before < first && act.activeIn(d+rw.after, limit)
		}
		if !fn(d, renewed) || !renewed {
			return
		}
		if byTx {
			j++
		}
	}
}

// endAt returns the contract's due date as known at the start of day x:
// the first due date not renewed by a renewal transaction made before x.
// It is on or after x for a contract in force (a renewal made early moves
// it a term on), and before x once the contract lapsed. ok is false for an
// open-ended contract.
func (c *contract) endAt(rw renewalWindow, renewals []int32, act activity, x int32) (end int32, ok bool) {
	if c.open() {
		return 0, false
	}
	c.walk(rw, renewals, act, x, func(d int32, renewed bool) bool {
		end = d
		return true
	})
	return end, true
}
