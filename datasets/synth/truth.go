package synth

import (
	"math"
	"math/rand/v2"
	"time"
)

// Truth is the generator's ground truth for one member at one cutoff t.
//
// A row exists for every member who joined on or before t. Alive follows the
// observable rule of the churn label: the member joined on or before t and
// made a visit or a payment (a transaction with a positive amount) with a
// timestamp in [t − 8 weeks, t]. Members that are not alive are excluded
// from the label; their probability fields are zero and NextCategory nil.
//
// For an alive member the label is 1 when, in the horizon (t, t + H], the
// member makes no visit and no payment, or holds an annual contract whose
// anniversary of contract_start falls on one of the 7·H calendar days
// starting at the date of t and no renewal transaction is booked in the
// horizon. ChurnProb = P(label = 1 | the complete hidden state at t),
// estimated by re-simulating weeks t .. t+H−1 Sims times from the member's
// exact simulated state at t, with independent random streams, through the
// same transition function as the data.
type Truth struct {
	MemberID string
	Cutoff   time.Time
	// Alive: joined at or before Cutoff with a visit or payment in the 8
	// weeks before it (the label's population).
	Alive bool
	// Churned: the generator had already ended the membership at Cutoff
	// (hidden; an alive member can be churned when its last activity lies
	// inside the 8-week window). ChurnProb is then exactly 1.
	Churned bool
	// Sims is the number of re-simulations behind the estimates (0 when
	// they were not needed: not alive, or churned).
	Sims int
	// ChurnProb is P(label = 1 | hidden state); ChurnSE its Monte Carlo
	// standard error sqrt(p(1−p)/Sims).
	ChurnProb float64
	ChurnSE   float64
	// PNoClass is the probability that the member attends no class in the
	// horizon.
	PNoClass float64
	// NextCategory[k] is the probability that the first class attended
	// after Cutoff (within the horizon) is of category Categories()[k],
	// conditional on there being one. Nil when PNoClass = 1.
	NextCategory []float64

	post *postResult // the observable bound, when asked for (posterior.go)
}

// truthScratch is the per-worker scratch of the re-simulations.
type truthScratch struct {
	pcg *rand.PCG
	r   *rand.Rand
	ev  []event

	post *postScratch // the observable bound's, made when first needed
}

func newTruthScratch() *truthScratch {
	pcg := rand.NewPCG(0, 0)
	return &truthScratch{pcg: pcg, r: rand.New(pcg), ev: make([]event, 0, 64)}
}

// truth computes the ground truth of member p in state st (the state at the
// start of week c, that is at the instant Start + c weeks).
func (g *gen) truth(st *state, p *member, c int, ts *truthScratch) Truth {
	cd := int32(c) * 7
	t := Truth{MemberID: p.id, Cutoff: g.dayTime(cd)}
	t.Alive = st.lastAct >= cd-7*activityWeeks
	t.Churned = st.status == statusChurned
	if !t.Alive {
		return t
	}
	if t.Churned {
		t.ChurnProb, t.PNoClass = 1, 1
		return t
	}
	H := g.cfg.HorizonWeeks
	S := g.cfg.TruthSims
	hEnd := cd + int32(7*H)
	// The next anniversary not yet processed is the first one >= cd.
	annual := p.contract == contractAnnual && st.nextDue < hEnd
	annWeek := int(st.nextDue / 7)
	var counts [numCats]int
	churned, classes := 0, 0
	for s := range S {
		reseedTruth(ts.pcg, g.cfg.Seed, p.idx, c, s)
		cp := *st
		cp.rec = nil
		active, renewed := false, false
		first := -1
		for h := range H {
			w := c + h
			ts.ev = g.step(&cp, p, w, ts.r, ts.ev[:0])
			for i := range ts.ev {
				e := &ts.ev[i]
				switch {
				case e.visit():
					active = true
					if first < 0 && e.course >= 0 {
						first = int(g.tt.cat[e.course])
					}
				case e.amount > 0:
					active = true
					if e.kind == txRenewal {
						renewed = true
					}
				}
			}
			if cp.status == statusChurned {
				break // nothing more will happen
			}
			if active && first >= 0 && (!annual || renewed || w >= annWeek) {
				break // label and first class are settled
			}
		}
		if !active || (annual && !renewed) {
			churned++
		}
		if first >= 0 {
			counts[first]++
			classes++
		}
	}
	p1 := float64(churned) / float64(S)
	t.Sims = S
	t.ChurnProb = p1
	t.ChurnSE = math.Sqrt(p1 * (1 - p1) / float64(S))
	t.PNoClass = float64(S-classes) / float64(S)
	if classes > 0 {
		t.NextCategory = make([]float64, numCats)
		for k, n := range counts {
			t.NextCategory[k] = float64(n) / float64(classes)
		}
	}
	return t
}
