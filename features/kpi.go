package features

import (
	"fmt"
	"time"
)

// KPI flag names, stable like the member flags.
const (
	KPIRenewalRateLow    = "renewal_rate_low"
	KPIActiveShareLow    = "active_share_low"
	KPIRepurchaseRateLow = "repurchase_rate_low"
)

// AllClubs is the Club of the KPI rows that cover every club; OtherClub
// collects members whose home club is not in the spec's vocabulary.
const (
	AllClubs  = "all"
	OtherClub = "other"
)

// MonthKPI holds the KPIs of one calendar month (in Config.TimeZone) for
// one club or AllClubs. Definitions are in docs/features.md; a rate whose
// denominator is 0 is 0 and raises no flag.
type MonthKPI struct {
	Month string // "YYYY-MM"
	Club  string
	// Partial is set when the month is not fully observed: it ends after
	// the data, or starts within HorizonWeeks of the data's start (when
	// earlier activity is unknown).
	Partial bool

	// Due counts contract due dates in the month whose renewal is decided
	// (renewed, or the renewal window closed before the end of the data);
	// Renewed those renewed. RenewalPending counts undecided due dates.
	Due, Renewed, RenewalPending int
	RenewalRate                  float64 // Renewed / Due

	// Enrolled counts members on the books in the month, Active those of
	// them with at least one visit in it.
	Enrolled, Active int
	ActiveShare      float64 // Active / Enrolled

	// Buyers counts members with a course purchase in the month,
	// RepeatBuyers those of them who had bought a course within
	// KPI.RepurchaseLookbackDays before a purchase in the month.
	Buyers, RepeatBuyers int
	RepurchaseRate       float64 // RepeatBuyers / Buyers

	// Departures counts members whose last activity before a gap of
	// HorizonWeeks or more falls in the month; DeparturesPending those
	// whose gap runs into the end of the data.
	Departures, DeparturesPending int
	ChurnRate                     float64 // Departures / Enrolled

	// Flags names the thresholds the month misses (KPIRenewalRateLow,
	// KPIActiveShareLow, KPIRepurchaseRateLow).
	Flags []string
}

// YearKPI is the yearly renewal rate of one calendar year and club:
// fixed-term members (Label.LapseContractTypes) on the books on 1 January
// who made a renewal transaction during the year, over those members.
// Members with open-ended contracts have nothing to renew and are left out.
type YearKPI struct {
	Year         int
	Club         string
	Partial      bool // the year is not fully observed
	StartMembers int
	Renewed      int
	RenewalRate  float64
}

// KPIReport holds monthly and yearly KPIs, ordered by period, then
// AllClubs, then the clubs in the spec's order, then OtherClub.
type KPIReport struct {
	Months []MonthKPI
	Years  []YearKPI
}

// ComputeKPIs returns the KPIs of the members in hs over the months of
// [start, end) (the data range: events outside it are still used as
// history).
func ComputeKPIs(cfg Config, hs []History, start, end time.Time) (*KPIReport, error) {
	b, err := NewBuilder(cfg)
	if err != nil {
		return nil, err
	}
	for i := range hs {
		if err := b.AddMember(&hs[i].Member); err != nil {
			return nil, err
		}
	}
	if _, err := b.Freeze(); err != nil {
		return nil, err
	}
	for i := range hs {
		for j := range hs[i].Attendance {
			if err := b.AddAttendance(&hs[i].Attendance[j]); err != nil {
				return nil, fmt.Errorf("attendance %s: %w", hs[i].Attendance[j].EventID, err)
			}
		}
		for j := range hs[i].Transactions {
			if err := b.AddTransaction(&hs[i].Transactions[j]); err != nil {
				return nil, fmt.Errorf("transaction %s: %w", hs[i].Transactions[j].EventID, err)
			}
		}
	}
	b.SetDataRange(start, end)
	return b.KPIs()
}

// KPIs computes the KPIs of the builder's data over its data range.
func (b *Builder) KPIs() (*KPIReport, error) {
	if !b.frozen {
		return nil, ErrNotFrozen
	}
	cfg := &b.cfg
	f := b.f
	startDay, endDay := b.dataDays()
	if endDay <= startDay {
		return &KPIReport{}, nil
	}
	H := 7 * int32(cfg.HorizonWeeks)
	m0, m1 := monthIndex(startDay), monthIndex(endDay-1)
	nM := int(m1-m0) + 1
	nC := len(f.spec.Clubs) + 2 // all, clubs..., other
	rows := make([]MonthKPI, nM*nC)
	y0, _, _ := civilFromDays(startDay)
	y1, _, _ := civilFromDays(endDay - 1)
	nY := y1 - y0 + 1
	years := make([]YearKPI, nY*nC)
	lookback := int32(cfg.KPI.RepurchaseLookbackDays)

	var acts []monthAct
	var dues []struct {
		day     int32
		renewed bool
	}
	for i := 0; i < b.members.len(); i++ {
		m := b.members.at(i)
		ci := 1 + int(m.club)
		if m.club < 0 {
			ci = nC - 1
		}
		acts = mergeMonths(acts[:0], m.att.months, m.tx.months)
		dues = dues[:0]
		m.contract.walk(f.rw, m.tx.renewals, m.activity(), farDay, func(d int32, renewed bool) bool {
			dues = append(dues, struct {
				day     int32
				renewed bool
			}{d, renewed})
			return d < endDay
		})
		ai, vi, di, bi := 0, 0, 0, 0
		lastBefore := int32(noDay)
		for k := 0; k < nM; k++ {
			mi := m0 + int32(k)
			ms, me := monthStart(mi), monthStart(mi+1)
			for ai < len(acts) && acts[ai].month < mi {
				lastBefore = acts[ai].last
				ai++
			}
			var here *monthAct
			if ai < len(acts) && acts[ai].month == mi {
				here = &acts[ai]
			}
			var r MonthKPI
			// Renewals: due dates in the month.
			for di < len(dues) && dues[di].day < ms {
				di++
			}
			for ; di < len(dues) && dues[di].day < me; di++ {
				d := dues[di]
				switch {
				case d.renewed:
					r.Due++
					r.Renewed++
				case d.day+f.rw.after <= endDay:
					r.Due++
				default:
					r.RenewalPending++
				}
			}
			// Course purchases.
			buys := m.tx.courseBuys
			for bi < len(buys) && buys[bi] < ms {
				bi++
			}
			if bi < len(buys) && buys[bi] < me {
				r.Buyers = 1
				for j := bi; j < len(buys) && buys[j] < me; j++ {
					if j > 0 && buys[j-1] >= buys[j]-lookback {
						r.RepeatBuyers = 1
						break
					}
				}
			}
			if m.join < me {
				enrolled := m.join >= ms-H || (lastBefore != noDay && lastBefore >= ms-H) || here != nil
				if enrolled {
					r.Enrolled = 1
					for vi < len(m.att.months) && m.att.months[vi].month < mi {
						vi++
					}
					if vi < len(m.att.months) && m.att.months[vi].month == mi {
						r.Active = 1
					}
					if here != nil {
						if ai+1 < len(acts) {
							if acts[ai+1].first-here.last >= H {
								r.Departures = 1
							}
						} else if here.last+H <= endDay {
							r.Departures = 1
						} else {
							r.DeparturesPending = 1
						}
					}
				}
			}
			addMonth(&rows[k*nC], &r)
			addMonth(&rows[k*nC+ci], &r)
		}
		// Yearly renewal.
		for y := y0; y <= y1; y++ {
			jan := daysFromCivil(y, 1, 1)
			next := daysFromCivil(y+1, 1, 1)
			if m.join >= jan || m.contract.open() {
				continue
			}
			lb := int32(noDay)
			for _, a := range acts {
				if a.first >= jan {
					break
				}
				lb = a.last
			}
			if !(m.join >= jan-H || (lb != noDay && lb >= jan-H)) {
				continue
			}
			renewed := 0
			if j := searchDay(m.tx.renewals, jan); j < len(m.tx.renewals) && m.tx.renewals[j] < next {
				renewed = 1
			}
			for _, c := range []int{0, ci} {
				yk := &years[(y-y0)*nC+c]
				yk.StartMembers++
				yk.Renewed += renewed
			}
		}
	}

	clubName := func(c int) string {
		switch {
		case c == 0:
			return AllClubs
		case c == nC-1:
			return OtherClub
		}
		return f.spec.Clubs[c-1]
	}
	rep := &KPIReport{}
	for k := 0; k < nM; k++ {
		mi := m0 + int32(k)
		ms, me := monthStart(mi), monthStart(mi+1)
		y, mo, _ := civilFromDays(ms)
		for c := 0; c < nC; c++ {
			r := rows[k*nC+c]
			if c > 0 && r.Enrolled == 0 && r.Due == 0 && r.Buyers == 0 && r.RenewalPending == 0 {
				continue // a club without members this month
			}
			r.Month = fmt.Sprintf("%04d-%02d", y, mo)
			r.Club = clubName(c)
			r.Partial = me > endDay || ms < startDay+H
			r.RenewalRate = ratio(r.Renewed, r.Due)
			r.ActiveShare = ratio(r.Active, r.Enrolled)
			r.RepurchaseRate = ratio(r.RepeatBuyers, r.Buyers)
			r.ChurnRate = ratio(r.Departures, r.Enrolled)
			if r.Due > 0 && r.RenewalRate < cfg.KPI.RenewalRateMin {
				r.Flags = append(r.Flags, KPIRenewalRateLow)
			}
			if r.Enrolled > 0 && r.ActiveShare < cfg.KPI.ActiveShareMin {
				r.Flags = append(r.Flags, KPIActiveShareLow)
			}
			if r.Buyers > 0 && r.RepurchaseRate < cfg.KPI.RepurchaseRateMin {
				r.Flags = append(r.Flags, KPIRepurchaseRateLow)
			}
			rep.Months = append(rep.Months, r)
		}
	}
	for yi := 0; yi < nY; yi++ {
		y := y0 + yi
		jan, next := daysFromCivil(y, 1, 1), daysFromCivil(y+1, 1, 1)
		for c := 0; c < nC; c++ {
			yk := years[yi*nC+c]
			if c > 0 && yk.StartMembers == 0 {
				continue
			}
			yk.Year = y
			yk.Club = clubName(c)
			yk.Partial = jan < startDay+H || next > endDay
			yk.RenewalRate = ratio(yk.Renewed, yk.StartMembers)
			rep.Years = append(rep.Years, yk)
		}
	}
	return rep, nil
}

func addMonth(dst, r *MonthKPI) {
	dst.Due += r.Due
	dst.Renewed += r.Renewed
	dst.RenewalPending += r.RenewalPending
	dst.Enrolled += r.Enrolled
	dst.Active += r.Active
	dst.Buyers += r.Buyers
	dst.RepeatBuyers += r.RepeatBuyers
	dst.Departures += r.Departures
	dst.DeparturesPending += r.DeparturesPending
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// mergeMonths appends to dst the union of two sorted month lists.
func mergeMonths(dst, a, b []monthAct) []monthAct {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].month < b[j].month):
			dst = append(dst, a[i])
			i++
		case i == len(a) || b[j].month < a[i].month:
			dst = append(dst, b[j])
			j++
		default:
			dst = append(dst, monthAct{month: a[i].month, first: min(a[i].first, b[j].first), last: max(a[i].last, b[j].last)})
			i++
			j++
		}
	}
	return dst
}
