package synth

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"retain/datasets"
)

// Summary describes a generated data set: what `make demo` prints.
// Rates use the generator's hidden churn dates; tiers and the Alive rule use
// only the data.
type Summary struct {
	Seed         uint64
	Start, End   time.Time
	Members      int
	Stock        int // members who joined before Start
	Clubs        int
	Courses      int
	Categories   []string
	Attendance   int64
	Transactions int64 // transaction rows
	// Revenue is the net sum of all transaction amounts, minor units.
	Revenue int64
	// Contracts counts the members per contract type, in
	// datasets.ContractTypes order.
	Contracts []int

	// TierThresholds are the thresholds used; TierBase is the number of members
	// alive at End (a visit or payment in the last 8 weeks) and TierShares
	// the shares of core, active and potential among them, by net spend
	// in the 12 months before End.
	TierThresholds TierThresholds
	TierBase       int
	TierShares     [3]float64

	// Months has one row per calendar month of the data.
	Months []MonthStats
	// Visits is the distribution over members of their visits per week
	// (attendance rows per week of membership inside the data; members with
	// at least 4 such weeks).
	Visits VisitStats
	// ChurnedShare is the share of members who churned inside the data.
	ChurnedShare float64
	// WeeklyChurnNew and WeeklyChurnTenured are the weekly churn hazards of
	// members with tenure under 13 weeks (about 90 days) and of the rest:
	// churns / member-weeks at risk inside the data.
	WeeklyChurnNew, WeeklyChurnTenured float64

	// Truth: the cutoffs, rows written, alive rows and their mean ChurnProb.
	TruthCutoffs   []time.Time
	TruthRows      int
	TruthAlive     int
	TruthMeanChurn float64
}

// MonthStats is one calendar month of the data.
type MonthStats struct {
	Month time.Time // first day of the month (or Start for the first month)
	// ActiveAtStart is the number of members joined and not churned at the
	// first instant of the month; Churned the number of members who churned
	// during the month; ChurnRate = Churned / ActiveAtStart.
	ActiveAtStart int
	Churned       int
	ChurnRate     float64
	// VisitsPerMember is attendance rows per member-week of membership in
	// the weeks whose Thursday lies in the month.
	VisitsPerMember float64
}

// VisitStats is a distribution summary.
type VisitStats struct {
	Mean                    float64 // total visits / total member-weeks
	P10, P25, P50, P75, P90 float64
}

type aggregate struct {
	g        *gen
	s        Summary
	monthDay []int32 // first day of each month, plus the end
	weekVis  []int64
	weekExp  []int64
	perWeek  []float64
	atRisk   [2]int64
	churns   [2]int64
	truthSum float64
}

func newAggregate(g *gen) *aggregate {
	cfg := g.cfg
	a := &aggregate{g: g}
	a.s = Summary{Seed: cfg.Seed, Start: cfg.Start, End: cfg.End(), Clubs: cfg.Clubs, Courses: len(g.tt.courses),
		Categories: Categories(), Contracts: make([]int, len(datasets.ContractTypes)), TierThresholds: cfg.TierThresholds}
	for _, c := range g.cutoffs {
		a.s.TruthCutoffs = append(a.s.TruthCutoffs, g.dayTime(int32(7*c)))
	}
	end := int32(7 * cfg.Weeks)
	t := cfg.Start
	for {
		d := g.dayOf(t)
		if d >= end {
			break
		}
		a.monthDay = append(a.monthDay, d)
		a.s.Months = append(a.s.Months, MonthStats{Month: t})
		t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	}
	a.monthDay = append(a.monthDay, end)
	a.weekVis = make([]int64, cfg.Weeks)
	a.weekExp = make([]int64, cfg.Weeks)
	return a
}

func (a *aggregate) add(c *chunkResult) {
	s := &a.s
	s.Attendance += int64(len(c.att))
	s.Transactions += int64(len(c.tx))
	for i := range c.tx {
		s.Revenue += c.tx[i].Amount
	}
	for i := range c.truth {
		s.TruthRows++
		if c.truth[i].Alive {
			s.TruthAlive++
			a.truthSum += c.truth[i].ChurnProb
		}
	}
	W := a.g.cfg.Weeks
	for _, m := range c.stats {
		s.Members++
		if m.stock {
			s.Stock++
		}
		s.Contracts[int(m.contract)-1]++
		churned := m.churnDay < int32(7*W)
		if churned {
			s.ChurnedShare++
		}
		if m.aliveEnd {
			s.TierBase++
			s.TierShares[s.TierThresholds.index(m.spend12)]++
		}
		for mi := range s.Months {
			f, next := a.monthDay[mi], a.monthDay[mi+1]
			if m.joinDay < f && m.churnDay >= f {
				s.Months[mi].ActiveAtStart++
			}
			if m.churnDay >= f && m.churnDay < next {
				s.Months[mi].Churned++
			}
		}
		exposure := 0
		for w := range W {
			d0, d1 := int32(7*w), int32(7*w+7)
			if m.joinDay < d1 && m.churnDay > d0 {
				exposure++
				a.weekExp[w]++
				a.weekVis[w] += int64(m.weekVisits[w])
			}
			if m.joinDay < d0 && m.churnDay >= d0 {
				k := 0
				if d0-m.joinDay >= 13*7 {
					k = 1
				}
				a.atRisk[k]++
				if m.churnDay < d1 {
					a.churns[k]++
				}
			}
		}
		if exposure >= 4 {
			a.perWeek = append(a.perWeek, float64(m.visits)/float64(exposure))
		}
	}
}

func (a *aggregate) summary() *Summary {
	s := &a.s
	if s.Members > 0 {
		s.ChurnedShare /= float64(s.Members)
	}
	if s.TierBase > 0 {
		for i := range s.TierShares {
			s.TierShares[i] /= float64(s.TierBase)
		}
	}
	if s.TruthAlive > 0 {
		s.TruthMeanChurn = a.truthSum / float64(s.TruthAlive)
	}
	for mi := range s.Months {
		m := &s.Months[mi]
		if m.ActiveAtStart > 0 {
			m.ChurnRate = float64(m.Churned) / float64(m.ActiveAtStart)
		}
		var v, e int64
		for w := range a.g.cfg.Weeks {
			mid := a.g.dayTime(int32(7*w + 3))
			if mid.Year() == m.Month.Year() && mid.Month() == m.Month.Month() {
				v += a.weekVis[w]
				e += a.weekExp[w]
			}
		}
		if e > 0 {
			m.VisitsPerMember = float64(v) / float64(e)
		}
	}
	var tv, te int64
	for w := range a.weekVis {
		tv += a.weekVis[w]
		te += a.weekExp[w]
	}
	if te > 0 {
		s.Visits.Mean = float64(tv) / float64(te)
	}
	slices.Sort(a.perWeek)
	q := func(p float64) float64 {
		if len(a.perWeek) == 0 {
			return math.NaN()
		}
		return a.perWeek[int(p*float64(len(a.perWeek)-1)+0.5)]
	}
	s.Visits.P10, s.Visits.P25, s.Visits.P50, s.Visits.P75, s.Visits.P90 = q(0.1), q(0.25), q(0.5), q(0.75), q(0.9)
	for k := range 2 {
		if a.atRisk[k] > 0 {
			r := float64(a.churns[k]) / float64(a.atRisk[k])
			if k == 0 {
				s.WeeklyChurnNew = r
			} else {
				s.WeeklyChurnTenured = r
			}
		}
	}
	return s
}

// WriteText writes s as a readable report.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	eur := func(c int64) string { return fmt.Sprintf("%.2f", float64(c)/100) }
	fmt.Fprintf(&b, "synthetic gym data, seed %d, %s .. %s (%d weeks)\n", s.Seed,
		s.Start.Format("2006-01-02"), s.End.Format("2006-01-02"), int(s.End.Sub(s.Start).Hours()/24/7))
	fmt.Fprintf(&b, "members      %d (%d joined before the start, %d during)\n", s.Members, s.Stock, s.Members-s.Stock)
	fmt.Fprintf(&b, "clubs        %d, %d courses in %d categories\n", s.Clubs, s.Courses, len(s.Categories))
	fmt.Fprintf(&b, "events       %d attendance, %d transactions (%d total); net revenue %s\n",
		s.Attendance, s.Transactions, s.Attendance+s.Transactions, eur(s.Revenue))
	b.WriteString("contracts    ")
	for i, c := range datasets.ContractTypes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.1f%%", c, 100*float64(s.Contracts[i])/float64(max(s.Members, 1)))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "tiers        core %.1f%%, active %.1f%%, potential %.1f%% of %d members alive at the end (12-month spend >= %s / >= %s)\n",
		100*s.TierShares[0], 100*s.TierShares[1], 100*s.TierShares[2], s.TierBase, eur(s.TierThresholds.Core), eur(s.TierThresholds.Active))
	fmt.Fprintf(&b, "visits/week  mean %.2f; members p10 %.2f p25 %.2f median %.2f p75 %.2f p90 %.2f\n",
		s.Visits.Mean, s.Visits.P10, s.Visits.P25, s.Visits.P50, s.Visits.P75, s.Visits.P90)
	fmt.Fprintf(&b, "churn        %.1f%% of members churned in the data; weekly hazard %.2f%% in the first 13 weeks, %.2f%% after\n",
		100*s.ChurnedShare, 100*s.WeeklyChurnNew, 100*s.WeeklyChurnTenured)
	if len(s.TruthCutoffs) > 0 {
		fmt.Fprintf(&b, "truth        %d cutoffs (%s .. %s), %d rows, %d alive, mean churn probability %.3f\n",
			len(s.TruthCutoffs), s.TruthCutoffs[0].Format("2006-01-02"), s.TruthCutoffs[len(s.TruthCutoffs)-1].Format("2006-01-02"),
			s.TruthRows, s.TruthAlive, s.TruthMeanChurn)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "month\tactive at start\tchurned\tchurn rate\tvisits/member-week\t")
	for _, m := range s.Months {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f%%\t%.2f\t\n", m.Month.Format("2006-01"), m.ActiveAtStart, m.Churned, 100*m.ChurnRate, m.VisitsPerMember)
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}
