package features

import (
	"math"

	"retain/datasets"
)

// This file holds the static features that summarise a member's habits over
// the whole history before the cutoff, beyond the sequence window, and the
// billing and absence signals that the weekly rows show only implicitly.
// They are the last columns of FeatureSpec.Static (docs/features.md,
// "Habit and billing features").

// Static feature names of this file (the per-category ones are prefixes).
const (
	staticFirstClassPrefix = "first_class_log_share_"
	staticClassPrefix      = "class_log_share_"
	StaticDebitOverdue     = "debit_overdue_months"
	StaticDebitMissed      = "debit_missed"
	StaticAbsenceSurprise  = "absence_surprise_log1p"
	StaticAbsenceExpected  = "absence_expected_visits"
)

// firstClassSmoothing is the pseudo-count added to every category's number
// of weeks before the shares are taken, so that a category never seen gets
// a finite log share and a member without classes a uniform one.
const firstClassSmoothing = 0.1

// debitOverdueCapDays caps the days a monthly debit is overdue; the feature
// is the capped days over 31 (so at most 2 months).
const debitOverdueCapDays = 62

// debitGraceDays: a membership-fee (or freeze) payment in the week of
// due−debitGraceDays or later pays due date due. The grace absorbs billing
// days moved to the 28th (or the month's last day) and a payment a few days
// early.
const debitGraceDays = 3

// habitWidth is the number of columns habitsAt writes for nCat categories.
func habitWidth(nCat int) int { return 2*nCat + 4 }

// habitNames returns the names of the columns habitsAt writes.
func habitNames(categories []string) []string {
	out := make([]string, 0, habitWidth(len(categories)))
	for _, c := range categories {
		out = append(out, staticFirstClassPrefix+c)
	}
	for _, c := range categories {
		out = append(out, staticClassPrefix+c)
	}
	return append(out, StaticDebitOverdue, StaticDebitMissed, StaticAbsenceSurprise, StaticAbsenceExpected)
}

// habitsAt writes the habit and billing features of member m at cutoff day
// td into dst (len(habitNames(...)) values):
//
//   - first_class_log_share_<c>: ln(C·s_c), with s_c = (n_c + 0.1) /
//     (N + 0.1·C), n_c the weeks before td whose first class (earliest
//     class by timestamp) was of category c, N their total over the C
//     categories: the log of the share over the uniform share 1/C, so 0
//     for a member without classes.
//   - class_log_share_<c>: the same of all classes before td (n_c the
//     classes of category c, from the weekly counts, which saturate at 255
//     a week): more classes than weeks, so a steadier estimate of the
//     member's preferences. The first class after
//     a cutoff is the first class of a week, so this is the member's own
//     history of exactly what the next-course label asks; it spans every
//     week before td, not just the sequence window.
//   - debit_overdue_months: for monthly contracts, min(days, 62)/31, days
//     from the first monthly due date left unpaid to td (0 when none is
//     unpaid); see debitOverdueDays.
//   - debit_missed: 1 when debit_overdue_months > 0, else 0. A stopped
//     debit is a near-certain departure however recent, which a linear head
//     can weigh as such only through a 0/1 column.
//   - absence_surprise_log1p: log1p(gap · rate), gap the days since the last
//     visit and rate the member's visits per day over the 26 weeks up to and
//     including that visit's week (since joining when shorter): the number of
//     visits the member would have made in the gap at their usual rate. 0
//     without visits.
//   - absence_expected_visits: the same number, min(x, 8)/4: linear where
//     absence_surprise_log1p flattens.
func (f *Featurizer) habitsAt(g grid, m *member, td int32, dst []float32) {
	nCat := f.nCat
	tw := g.week(td)
	ws := m.att.weeks
	end := searchWeek(ws, tw)
	var buf [32]float64 // no allocation per call for up to 32 categories
	counts := buf[:min(nCat, len(buf))]
	if nCat > len(buf) {
		counts = make([]float64, nCat)
	}
	var total float64
	for i := range end {
		if c := ws[i].firstCourse; c >= 0 && int(c) < len(f.courseCat) {
			if k := f.courseCat[c]; k >= 0 && int(k) < nCat {
				counts[k]++
				total++
			}
		}
	}
	logShares(counts, total, dst)
	clear(counts)
	total = 0
	for i := range end {
		for k, n := range m.att.cats[i*nCat : (i+1)*nCat] {
			counts[k] += float64(n)
			total += float64(n)
		}
	}
	logShares(counts, total, dst[nCat:])
	o := 2 * nCat
	if m.ctype == datasets.ContractMonthly {
		if days := debitOverdueDays(g, m, td); days > 0 {
			dst[o] = float32(float64(min(days, debitOverdueCapDays)) / 31)
			dst[o+1] = 1
		}
	}
	o += 2
	if end > 0 {
		b := &ws[end-1]
		last := g.start(b.week) + int32(b.lastDay)
		w0 := b.week - int32(f.cfg.Weeks) + 1
		from := max(g.start(w0), m.join)
		span := float64(last-from) + 1
		rate := float64(visitsIn(ws, w0, b.week+1)) / max(span, 7)
		x := float64(td-last) * rate
		dst[o] = float32(math.Log1p(x))
		dst[o+1] = float32(min(x, 8) / 4)
	}
}

// logShares writes ln(C·(n_c + 0.1)/(N + 0.1·C)) of the C counts n_c with
// total N into dst.
func logShares(counts []float64, total float64, dst []float32) {
	nCat := float64(len(counts))
	den := total + firstClassSmoothing*nCat
	for k, n := range counts {
		dst[k] = float32(math.Log(nCat * (n + firstClassSmoothing) / den))
	}
}

// debitOverdueDays returns the days from the first monthly due date that no
// payment covers to day td, or 0. Due dates fall on the day of the month of
// the contract start (the join day when there is none), or on the month's
// last day when it is shorter; the first is one month after the start. A
// due date d counts as paid when a membership-fee or freeze payment (a
// positive amount) was booked in the week of d − 3 days or in any later week
// before td: so the first unpaid due date is the first one whose week of
// d − 3 comes after the last such payment.
func debitOverdueDays(g grid, m *member, td int32) int32 {
	anchor := m.start
	if anchor == noDay {
		anchor = m.join
	}
	tw := g.week(td)
	paid := g.week(anchor) // the joining payment
	for i := searchTx(m.tx.txs, tw) - 1; i >= 0; i-- {
		x := &m.tx.txs[i]
		if x.pays > 0 && (x.kind == datasets.TxMembershipFee || x.kind == datasets.TxFreeze) {
			paid = max(paid, x.week)
			break
		}
	}
	ay, am, ad := civilFromDays(anchor)
	// Months since the anchor of the last paid week's start, less one so
	// that no due date after the paid week is skipped.
	py, pm, _ := civilFromDays(g.start(paid))
	k := max((py-ay)*12+pm-am-1, 1)
	for ; ; k++ {
		y, mo := ay+(am-1+k)/12, (am-1+k)%12+1
		d := daysFromCivil(y, mo, min(ad, daysInMonth(y, mo)))
		if d >= td {
			return 0
		}
		if g.week(d-debitGraceDays) > paid {
			return td - d
		}
	}
}

// daysInMonth returns the number of days of month mo (1..12) of year y.
func daysInMonth(y, mo int) int {
	if mo == 12 {
		return 31
	}
	return int(daysFromCivil(y, mo+1, 1) - daysFromCivil(y, mo, 1))
}
