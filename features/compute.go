package features

import (
	"math"

	"retain/datasets"
)

// This file computes everything from a member's state. Days passed in are
// starts of weeks of the grid g (cutoffs are week boundaries), so "before
// day x" and "in the weeks before week(x)" are the same thing.

// rows writes the sequence rows of weeks [w0, w1) into seq (len
// (w1-w0)*nSeq) and their mask into mask (len w1-w0). A week's row depends
// only on the events before the week's end, so it does not depend on w0.
func (f *Featurizer) rows(g grid, m *member, w0, w1 int32, seq, mask []float32) {
	F := f.nSeq
	maxDays := int32(f.cfg.MaxDays)
	ws, cats, txs := m.att.weeks, m.att.cats, m.tx.txs
	ai := searchWeek(ws, w0)
	last := int32(noDay)
	if ai > 0 {
		b := &ws[ai-1]
		last = g.start(b.week) + int32(b.lastDay)
	}
	ti := searchTx(txs, w0)
	for w := w0; w < w1; w++ {
		k := int(w - w0)
		row := seq[k*F : (k+1)*F]
		clear(row)
		end := g.start(w + 1)
		var b *weekAgg
		bi := ai
		if ai < len(ws) && ws[ai].week == w {
			b = &ws[ai]
			last = g.start(w) + int32(b.lastDay)
			ai++
		}
		t0 := ti
		for ti < len(txs) && txs[ti].week == w {
			ti++
		}
		if m.join >= end {
			mask[k] = 0
			continue
		}
		mask[k] = 1
		if b != nil {
			row[0] = float32(b.visits)
			row[1] = float32(b.openGym)
			for c := 0; c < f.nCat; c++ {
				row[f.colCat+c] = float32(cats[bi*f.nCat+c])
			}
			row[f.colMinutes] = float32(b.minutes)
		}
		for _, x := range txs[t0:ti] {
			if x.kind >= 1 && int(x.kind) <= len(datasets.TxKinds) {
				row[f.colSpend+int(x.kind)-1] = float32(signedLog1p(float64(x.amount) / f.scale))
			}
		}
		since := end - m.join
		if last != noDay {
			since = end - last
		}
		row[f.colRecency] = float32(min(since, maxDays))
		if m.contract.open() {
			row[f.colOpen] = 1
		} else {
			d, _ := m.contract.endAt(f.rw, m.tx.renewals, m.activity(), end)
			row[f.colToEnd] = float32(max(min(d-end, maxDays), -maxDays))
		}
		row[f.colTenure] = float32(math.Log1p(float64(end-m.join) / 7))
		sc := &weekOfYear[dayOfYear(g.start(w))-1]
		row[f.colSin], row[f.colCos] = sc[0], sc[1]
	}
}

// weekOfYear holds the week-of-year features of a week starting on day of
// the year d+1: sin and cos of 2*pi*d/365.25.
var weekOfYear = func() (t [366][2]float32) {
	for d := range t {
		a := 2 * math.Pi * float64(d) / 365.25
		t[d] = [2]float32{float32(math.Sin(a)), float32(math.Cos(a))}
	}
	return t
}()

// signedLog1p is sign(x)*log1p(|x|).
func signedLog1p(x float64) float64 {
	if x < 0 {
		return -math.Log1p(-x)
	}
	return math.Log1p(x)
}

// visitsIn returns the visits in weeks [w0, w1).
func visitsIn(ws []weekAgg, w0, w1 int32) int {
	n := 0
	for i := searchWeek(ws, w0); i < len(ws) && ws[i].week < w1; i++ {
		n += int(ws[i].visits)
	}
	return n
}

// spendIn returns the net spend and the number of payments (transactions
// with a positive amount) in weeks [w0, w1).
func spendIn(txs []txAgg, w0, w1 int32) (amount int64, payments int) {
	for i := searchTx(txs, w0); i < len(txs) && txs[i].week < w1; i++ {
		amount += txs[i].amount
		payments += int(txs[i].pays)
	}
	return amount, payments
}

// lastVisitBefore returns the day of the last visit before day x (a week
// start), or noDay.
func lastVisitBefore(g grid, ws []weekAgg, x int32) int32 {
	i := searchWeek(ws, g.week(x))
	if i == 0 {
		return noDay
	}
	b := &ws[i-1]
	return g.start(b.week) + int32(b.lastDay)
}

// daysSinceVisit returns the days from the last visit before x to x, or
// from the join day when there was none.
func daysSinceVisit(g grid, m *member, x int32) int32 {
	if l := lastVisitBefore(g, m.att.weeks, x); l != noDay {
		return x - l
	}
	return x - m.join
}

// tierOf returns the tier of a trailing 52-week spend.
func (f *Featurizer) tierOf(spend int64) Tier {
	switch {
	case spend >= f.core:
		return TierCore
	case spend >= f.actv:
		return TierActive
	}
	return TierPotential
}

// spend52 returns the net spend in the 52 weeks before day td.
func spend52(g grid, m *member, td int32) int64 {
	tw := g.week(td)
	s, _ := spendIn(m.tx.txs, tw-52, tw)
	return s
}

// indicatorsAt returns the indicators at cutoff day td.
func (f *Featurizer) indicatorsAt(g grid, m *member, td int32) Indicators {
	fc := &f.cfg.Flags
	tw := g.week(td)
	ws := m.att.weeks
	var in Indicators
	in.RecencyDays = int(daysSinceVisit(g, m, td))
	in.Frequency = visitsIn(ws, tw-52, tw)
	in.Monetary = spend52(g, m, td) // the spend the tier thresholds are fitted on
	in.Tier = f.tierOf(in.Monetary)
	tw8 := int32(fc.TrendWeeks)
	in.VisitsLast = visitsIn(ws, tw-tw8, tw)
	in.VisitsPrev = visitsIn(ws, tw-2*tw8, tw-tw8)
	if in.VisitsPrev > 0 {
		in.VisitTrend = float64(in.VisitsLast-in.VisitsPrev) / float64(in.VisitsPrev)
	}
	if f.nCat > 0 {
		seen := make([]bool, f.nCat)
		for i := searchWeek(ws, tw-52); i < len(ws) && ws[i].week < tw; i++ {
			for c, n := range m.att.cats[i*f.nCat : (i+1)*f.nCat] {
				if n > 0 && !seen[c] {
					seen[c] = true
					in.CourseBreadth++
				}
			}
		}
	}
	in.CoursePurchases = searchDay(m.tx.courseBuys, td)
	if in.CoursePurchases > 0 {
		in.CourseRepurchaseRate = float64(in.CoursePurchases-1) / float64(in.CoursePurchases)
	}
	in.TenureDays = int(td - m.join)
	in.LTV = f.ltvAt(m, tw, in.Monetary, min(52, (td-m.join+6)/7))
	if m.contract.open() {
		in.ContractOpenEnded = true
	} else {
		d, _ := m.contract.endAt(f.rw, m.tx.renewals, m.activity(), td)
		in.DaysToContractEnd = int(d - td)
	}

	// Flags.
	if in.RecencyDays >= fc.CallbackDays {
		in.Flags |= FlagCoachCallback
	}
	if !in.ContractOpenEnded && in.DaysToContractEnd >= 0 {
		for i := len(fc.ReminderDays) - 1; i >= 0; i-- {
			if in.DaysToContractEnd <= fc.ReminderDays[i] {
				in.Flags |= FlagRenewal60 << i
				break
			}
		}
	}
	if in.VisitsPrev >= fc.FrequencyMinVisits && float64(in.VisitsLast) <= (1-fc.FrequencyDrop)*float64(in.VisitsPrev) {
		in.Flags |= FlagFrequencyDrop
	}
	if f.seasonal(g, m, td) {
		in.Flags |= FlagSeasonal
	}
	if in.TenureDays < fc.NewMemberDays {
		in.Flags |= FlagNewMember
	}
	return in
}

// seasonal reports whether the member's visits dropped in the hot months of
// the last complete season before td: a calendar year Y (the year of td or
// the one before) whose hot-month and base-month weeks all ended by td. A
// week belongs to the month of its fourth day. The member must have joined
// by the first of those weeks and made at least SeasonalMinVisits visits in
// the base-month weeks; the flag is raised when the average weekly visits of
// the hot-month weeks are at most (1-SeasonalDrop) times those of the
// base-month weeks.
func (f *Featurizer) seasonal(g grid, m *member, td int32) bool {
	fc := &f.cfg.Flags
	y0, _, _ := civilFromDays(td)
	for y := y0; y >= y0-1; y-- {
		sw := f.seasonWeeks(g, y)
		if len(sw.hot) == 0 || len(sw.base) == 0 || g.start(sw.last+1) > td {
			continue
		}
		if m.join > g.start(sw.first) {
			return false
		}
		hotV, baseV := weeksVisits(m.att.weeks, sw.hot), weeksVisits(m.att.weeks, sw.base)
		if baseV < fc.SeasonalMinVisits {
			return false
		}
		hotRate := float64(hotV) / float64(len(sw.hot))
		baseRate := float64(baseV) / float64(len(sw.base))
		return hotRate <= (1-fc.SeasonalDrop)*baseRate
	}
	return false
}

// seasonWeeks are the weeks of calendar year y whose fourth day falls in a
// hot month and in a base month, ascending, with the first and last of
// them all.
type seasonWeeks struct {
	hot, base   []int32
	first, last int32
}

// seasonWeeks returns the season weeks of year y on grid g, cached.
func (f *Featurizer) seasonWeeks(g grid, y int) *seasonWeeks {
	key := [2]int32{g.phase, int32(y)}
	if v, ok := f.seasons.Load(key); ok {
		return v.(*seasonWeeks)
	}
	sw := &seasonWeeks{first: math.MaxInt32, last: math.MinInt32}
	wa := g.week(daysFromCivil(y, 1, 1) - 3)
	wb := g.week(daysFromCivil(y+1, 1, 1) + 3)
	for w := wa; w <= wb; w++ {
		mi := monthIndex(g.start(w) + 3)
		if int(floorDiv(int64(mi), 12)) != y {
			continue
		}
		switch mm := int(floorMod(int64(mi), 12)) + 1; {
		case f.hot[mm]:
			sw.hot = append(sw.hot, w)
		case f.base[mm]:
			sw.base = append(sw.base, w)
		default:
			continue
		}
		sw.first, sw.last = min(sw.first, w), max(sw.last, w)
	}
	v, _ := f.seasons.LoadOrStore(key, sw)
	return v.(*seasonWeeks)
}

// weeksVisits returns the visits in the given ascending weeks.
func weeksVisits(ws []weekAgg, weeks []int32) int {
	if len(weeks) == 0 {
		return 0
	}
	n := 0
	i := searchWeek(ws, weeks[0])
	for _, w := range weeks {
		for i < len(ws) && ws[i].week < w {
			i++
		}
		if i < len(ws) && ws[i].week == w {
			n += int(ws[i].visits)
		}
	}
	return n
}

// staticAt writes the static features at cutoff day td into dst.
func (f *Featurizer) staticAt(g grid, m *member, td int32, in *Indicators, dst []float32) {
	clear(dst)
	o := 0
	dst[o+int(in.Tier)] = 1
	o += len(tierNames)
	if m.ctype >= 1 && int(m.ctype) <= len(datasets.ContractTypes) {
		dst[o+int(m.ctype)-1] = 1
	}
	o += len(datasets.ContractTypes)
	y, _, _ := civilFromDays(td)
	dst[o+ageBand(m.birthYear, y)] = 1
	o += len(ageBands)
	dst[o+int(m.gender)] = 1
	o += len(genderNames)
	if m.club >= 0 {
		dst[o+int(m.club)] = 1
	} else {
		dst[o+len(f.spec.Clubs)] = 1
	}
	o += len(f.spec.Clubs) + 1
	dst[o+f.lastClassCat(g, m, td)] = 1
	o += f.nCat + 1
	f.habitsAt(g, m, td, dst[o:])
	o += habitWidth(f.nCat)
	f.choiceAt(g, m, td, dst[o:])
}

// lastClassCat returns the category index of the member's last class
// before cutoff day td (a week start), or nCat when there was none. Ties
// within the second go to the larger course index, whatever the order
// the events were read in.
func (f *Featurizer) lastClassCat(g grid, m *member, td int32) int {
	ws := m.att.weeks
	for i := searchWeek(ws, g.week(td)) - 1; i >= 0; i-- {
		if c := ws[i].lastCourse; c >= 0 {
			return int(f.courseCat[c])
		}
	}
	return f.nCat
}

// labelAt returns the labels at cutoff day td with observation ending at
// the start of day endDay. See docs/labels.md.
func (f *Featurizer) labelAt(g grid, m *member, td, endDay int32) Label {
	lc := &f.cfg.Label
	H := int32(f.cfg.HorizonWeeks)
	tw := g.week(td)
	hEnd := td + 7*H
	l := Label{Churn: -1, NextCategory: -1, NextCourse: -1}
	ws := m.att.weeks
	censored := hEnd > endDay
	// When the horizon runs past the end of the data, a class at or after
	// that end is not known (a Config.DataEnd earlier than the events read):
	// the next class is looked for only before it.
	endSec := int64(math.MaxInt64)
	if censored {
		c := newClock(f.loc)
		endSec = c.instant(endDay).Unix()
	}
	for i := searchWeek(ws, tw); i < len(ws) && ws[i].week < tw+H; i++ {
		if c := int32(ws[i].firstCourse); c >= 0 {
			if int64(g.start(ws[i].week))*86400+int64(ws[i].firstClass) < endSec {
				l.NextCourse, l.NextCategory = c, f.courseCat[c]
			}
			break
		}
	}
	switch lc.Kind {
	case LabelInactivity:
		l.Excluded = f.inactiveBefore(g, m, td) || f.lapsedAt(m, td)
		visits := visitsIn(ws, tw, tw+H)
		_, pays := spendIn(m.tx.txs, tw, tw+H)
		lapse, unknown := f.lapseIn(m, td, hEnd, endDay)
		switch {
		case censored:
		case visits == 0 && pays == 0, lapse:
			l.Churn = 1
		case unknown:
			censored = true
		default:
			l.Churn = 0
		}
	case LabelCancellation:
		l.Excluded = m.contract.open() || f.lapsedAt(m, td)
		lapse, unknown := f.lapseIn(m, td, hEnd, endDay)
		switch {
		case censored:
		case lapse:
			l.Churn = 1
		case unknown:
			censored = true
		default:
			l.Churn = 0
		}
	case LabelAbsence:
		absent := int32(lc.AbsenceDays)
		l.Excluded = daysSinceVisit(g, m, td) >= absent
		if !censored {
			l.Churn = 0
			if daysSinceVisit(g, m, hEnd) >= absent {
				l.Churn = 1
			}
		}
	}
	l.Censored = censored
	return l
}

// inactiveBefore reports whether a member who joined at least H weeks
// before td made no visit and no payment in the H weeks before td.
func (f *Featurizer) inactiveBefore(g grid, m *member, td int32) bool {
	H := int32(f.cfg.HorizonWeeks)
	if m.join > td-7*H {
		return false
	}
	tw := g.week(td)
	if visitsIn(m.att.weeks, tw-H, tw) > 0 {
		return false
	}
	_, pays := spendIn(m.tx.txs, tw-H, tw)
	return pays == 0
}

// lapsedAt reports whether, as known at td, the contract lapsed: a due date
// whose renewal window closed by td without a renewal.
func (f *Featurizer) lapsedAt(m *member, td int32) bool {
	lapsed := false
	m.contract.walk(f.rw, m.tx.renewals, m.activity(), td, func(d int32, renewed bool) bool {
		if d >= td {
			return false
		}
		lapsed = !renewed && d+f.rw.after <= td
		return true
	})
	return lapsed
}

// lapseIn reports whether the contract lapses in the horizon: a due date in
// [td-RenewAfterDays, hEnd) is not renewed. unknown is set when such a due
// date's renewal window is not fully observed by endDay.
func (f *Featurizer) lapseIn(m *member, td, hEnd, endDay int32) (lapse, unknown bool) {
	m.contract.walk(f.rw, m.tx.renewals, m.activity(), farDay, func(d int32, renewed bool) bool {
		if d >= hEnd || renewed {
			return d < hEnd
		}
		if d >= td-f.rw.after {
			if d+f.rw.after > endDay {
				unknown = true
			} else {
				lapse = true
			}
		}
		return false
	})
	return lapse, unknown
}
