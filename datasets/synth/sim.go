package synth

import (
	"math"
	"math/rand/v2"
	"time"

	"retain/datasets"
)

// Member status.
const (
	statusPending uint8 = iota // not joined yet
	statusActive
	statusChurned // left for good
)

// state is everything about a member that evolves. It is a plain value:
// copying it snapshots the member, which is how the ground truth
// re-simulates the future from the exact hidden state at a cutoff. Together
// with the static member parameters and the week index it is the complete
// state of a Markov chain whose transition is gen.step.
type state struct {
	status  uint8
	prevCat int8    // category of the last class, -1 none
	freeze  int8    // weeks of membership freeze left
	m       float64 // motivation (0..1.6), drives visits and churn
	mu      float64 // motivation target m reverts to; decays slowly
	vShort  float64 // EWMA of weekly visit days, weight 0.3 (about a month)
	vLong   float64 // EWMA of weekly visit days, weight 0.05 (about 5 months)
	spend   float64 // spend·51/52 + the week's net spend: about the trailing-year spend, cents

	lastVisit int32 // day of the last visit
	lastAct   int32 // day of the last visit or positive payment
	nextDue   int32 // next monthly debit (monthly) or anniversary (annual)
	dueK      int32 // months or years since join of nextDue
	credits   int32 // class-pack credits left
	ptCredits int32 // personal-training sessions left
	balance   int32 // stored value, cents
	churnDay  int32 // day the member left (statusChurned)

	rec *recorder // the observable choices, for the observable bound; nil unless asked for
}

// event is one generated record in compact form.
type event struct {
	day    int32
	min    int16           // minute of the day, 0..1439
	kind   datasets.TxKind // TxUnknown: a visit
	src    datasets.Source
	course int16 // visits: course index, -1 open gym
	dur    int16
	amount int32
}

func (e *event) visit() bool { return e.kind == datasets.TxUnknown }

// gen holds what every member shares: the configuration, the timetable,
// the global transition matrix and the calendar.
type gen struct {
	cfg    Config
	tt     *timetable
	global [numCats][numCats]float64
	cal    calendar
	// truth
	cutoffs []int
	post    *posteriorRun // the observable bound (posterior.go); nil: not computed
}

// calendar holds per-week seasonal factors for weeks wMin..wMax-1.
type calendar struct {
	start      time.Time
	wMin       int
	visit      []float64 // visit-rate multiplier
	churn      []float64 // churn log-odds shift
	joinWeight []float64 // relative weight of new joins, weeks 0..Weeks-1
}

// Seasonality by calendar month (index 0 = January). Visits dip in the summer
// heat (July, August) and over Christmas and peak with January resolutions;
// churn is concentrated in March to June, when the resolutions of the winter
// wear off and the outdoor season starts.
var (
	visitSeason = [12]float64{1.12, 1.05, 1.0, 0.97, 0.95, 0.92, 0.74, 0.72, 1.0, 1.02, 1.0, 0.85}
	churnSeason = [12]float64{0.85, 0.9, 1.55, 1.8, 1.8, 1.55, 0.95, 0.9, 0.8, 0.8, 0.8, 0.75} // hazard multipliers
	joinSeason  = [12]float64{2.0, 1.3, 1.1, 0.9, 0.8, 0.7, 0.6, 0.7, 1.5, 1.1, 0.9, 0.6}
)

// maxBackWeeks is how far before Start the stock's joins reach (5 years).
const maxBackWeeks = 260

func newCalendar(start time.Time, weeks int) calendar {
	c := calendar{start: start, wMin: -maxBackWeeks - 2}
	for w := c.wMin; w < weeks+1; w++ {
		mid := start.AddDate(0, 0, 7*w+3) // Thursday decides the month
		mo := int(mid.Month()) - 1
		c.visit = append(c.visit, visitSeason[mo])
		c.churn = append(c.churn, math.Log(churnSeason[mo]))
		if w >= 0 && w < weeks {
			c.joinWeight = append(c.joinWeight, joinSeason[mo])
		}
	}
	return c
}

// dayTime returns midnight UTC of day index d.
func (g *gen) dayTime(d int32) time.Time { return g.cal.start.AddDate(0, 0, int(d)) }

func (g *gen) dayOf(t time.Time) int32 {
	return int32(t.Sub(g.cal.start).Hours() / 24)
}

// due returns the day of the k-th monthly debit or the k-th anniversary.
func (g *gen) due(p *member, k int32) int32 {
	j := g.dayTime(p.joinDay)
	if p.contract == datasets.ContractAnnual {
		return g.dayOf(j.AddDate(int(k), 0, 0))
	}
	return g.dayOf(time.Date(j.Year(), j.Month()+time.Month(k), p.billDay, 0, 0, 0, 0, time.UTC))
}

func weekday(d int32) int { return int(((d % 7) + 7) % 7) } // 0 = Monday

// Hazard model parameters: weekly churn probability
//
//	h = hConst + sigmoid(x), with
//	x = hBase + hContract[type] + frailty
//	  + hMot·(m − 0.6) + hFreq·vShort/(1 + vShort) + hTrend·(vShort − vLong)/(vShort + vLong + 0.5)
//	  + hGap·min(weeks since last visit, 16)/4 + hNew·exp(−tenure days/56)·[tenure < 364 days]
//	  + hSpend·spend/(spend + 50000) + hEnd·[annual term ends within 8 weeks]
//	  + ln(churnSeason[month])
//
// The season enters as a multiplier of the odds; the frequency, trend and
// spend terms saturate. During a freeze sigmoid(x) is multiplied by 0.3.
const (
	hConst  = 0.0010 // churn without warning: moves away, illness, ...
	hBase   = -4.8
	hMot    = -1.6
	hFreq   = -1.0
	hTrend  = -1.2
	hGap    = 0.35
	hNew    = 1.8
	hSpend  = -0.55
	hEnd    = 0.9
	hFreeze = 0.3
)

var hContract = [...]float64{
	datasets.ContractMonthly:     0,
	datasets.ContractAnnual:      -1.6, // paid up: leaving mid-term is rare
	datasets.ContractClassPack:   0.3,
	datasets.ContractStoredValue: 0.2,
	datasets.ContractPayAsYouGo:  0.5,
}

// Renewal of an annual contract on its anniversary:
//
//	P(renew) = sigmoid(rBase + rMot·(m − 0.6) + rFreq·vShort/(1 + vShort) + rSpend·spend/(spend + 50000)
//	                   − frailty − ln(churnSeason[month]))
const (
	rBase  = 0.9
	rMot   = 2.2
	rFreq  = 1.2
	rSpend = 0.5
)

// newbie[d] is the early-tenure term hNew·exp(−d/56) at tenure d days.
var newbie = func() (t [364]float64) {
	for d := range t {
		t[d] = hNew * math.Exp(-float64(d)/56)
	}
	return t
}()

func (g *gen) hazard(st *state, p *member, w int, d0 int32) float64 {
	gap := float64(min(d0-st.lastVisit, 16*7)) / 7
	x := hBase + hContract[p.contract] + p.frailty +
		hMot*(st.m-0.6) +
		hFreq*st.vShort/(1+st.vShort) +
		hTrend*(st.vShort-st.vLong)/(st.vShort+st.vLong+0.5) +
		hGap*gap/4 +
		hSpend*st.spend/(st.spend+50000) +
		g.cal.churn[w-g.cal.wMin]
	if t := d0 - p.joinDay; t < int32(len(newbie)) {
		x += newbie[t]
	}
	if p.contract == datasets.ContractAnnual && st.nextDue-d0 < 8*7 {
		x += hEnd
	}
	h := sigmoid(x)
	if st.freeze > 0 {
		h *= hFreeze
	}
	return hConst + h
}

func (g *gen) renews(st *state, p *member, w int, r *rand.Rand) bool {
	x := rBase + rMot*(st.m-0.6) + rFreq*st.vShort/(1+st.vShort) + rSpend*st.spend/(st.spend+50000) -
		p.frailty - g.cal.churn[w-g.cal.wMin]
	return r.Float64() < sigmoid(x)
}

// evolve advances the motivation by one week and reports whether a lapse
// shock (injury, a busy month, holidays) hit.
//
//	mu ← mu·(1 − decay), plus with probability 0.006 a fresh resolve +U(0.15, 0.4)
//	m  ← m + 0.3·(mu − m) + 0.1·N(0,1)
//	with probability lapseRate: m ← m·U(0, 0.3)
func (g *gen) evolve(st *state, p *member, r *rand.Rand) bool {
	st.mu *= 1 - p.decay
	if r.Float64() < 0.006 {
		st.mu += uniform(r, 0.15, 0.4)
	}
	st.mu = clamp(st.mu, 0.05, 1.3)
	st.m += 0.3*(st.mu-st.m) + 0.1*r.NormFloat64()
	lapse := r.Float64() < p.lapseRate
	if lapse {
		st.m *= 0.3 * r.Float64()
	}
	st.m = clamp(st.m, 0, 1.6)
	return lapse
}

// initState returns the state of p at its join.
func (g *gen) initState(p *member) state {
	m := math.Min(p.mu0+0.15, 1.6)
	v := p.base * m * 0.8
	return state{
		status:    statusPending,
		prevCat:   -1,
		m:         m,
		mu:        p.mu0,
		vShort:    v,
		vLong:     v,
		lastVisit: p.joinDay,
		lastAct:   p.joinDay,
	}
}

// step simulates week w (days 7w..7w+6) of member p in state st, appends
// the member's events of that week to ev (in generation order; visits are in
// time order) and returns it. It is the single transition function of the
// simulation: the main run and the truth re-simulations both call it.
func (g *gen) step(st *state, p *member, w int, r *rand.Rand, ev []event) []event {
	d0 := int32(w) * 7
	d1 := d0 + 7
	start, end := d0, d1
	first := len(ev)
	freezeStart := false
	switch st.status {
	case statusChurned:
		return ev
	case statusPending:
		if p.joinDay >= d1 {
			return ev
		}
		st.status = statusActive
		start = p.joinDay
		ev = g.join(st, p, r, ev)
	default:
		if g.evolve(st, p, r) && st.freeze == 0 &&
			(p.contract == datasets.ContractMonthly || p.contract == datasets.ContractAnnual) && r.Float64() < 0.25 {
			st.freeze = int8(4 + r.IntN(6))
			freezeStart = true
		}
		if r.Float64() < g.hazard(st, p, w, d0) {
			st.status = statusChurned
			st.churnDay = d0
			return ev
		}
	}
	churnAfter := false

	switch p.contract {
	case datasets.ContractAnnual:
		if st.nextDue < d1 {
			a := st.nextDue
			if g.renews(st, p, w, r) {
				ev = append(ev, event{day: a, min: int16(5*60 + r.IntN(120)), kind: datasets.TxRenewal, amount: int32(p.fee)})
				st.dueK++
				st.nextDue = g.due(p, st.dueK)
			} else {
				end = a
				churnAfter = true
			}
		}
	case datasets.ContractMonthly:
		for st.nextDue < d1 {
			if st.freeze > 0 {
				ev = append(ev, event{day: st.nextDue, min: int16(5*60 + r.IntN(120)), kind: datasets.TxFreeze, amount: 1000})
			} else {
				ev = append(ev, event{day: st.nextDue, min: int16(5*60 + r.IntN(120)), kind: datasets.TxMembershipFee, amount: int32(p.fee)})
				if r.Float64() < 0.004 { // billing dispute: part refunded a day later
					ev = append(ev, event{day: min(st.nextDue+1, d1-1), min: int16(11*60 + r.IntN(300)), kind: datasets.TxRefund,
						amount: -int32(p.fee * int64(1+r.IntN(4)) / 4)})
				}
			}
			st.dueK++
			st.nextDue = g.due(p, st.dueK)
		}
	}

	if freezeStart {
		if day := d0 + int32(r.IntN(2)); day < end {
			amt := int32(1000)
			if p.contract == datasets.ContractAnnual {
				amt = 2500
			}
			ev = append(ev, event{day: day, min: int16(9*60 + r.IntN(10*60)), kind: datasets.TxFreeze, amount: amt})
		} else {
			st.freeze = 0 // the contract ends first
		}
	}

	// Personal training packages: bought this week, sessions from next week.
	var ptBought int32
	if p.ptProp > 0 && st.ptCredits == 0 && st.freeze == 0 && end > start && r.Float64() < p.ptProp*st.m {
		ptBought = []int32{5, 10, 10, 15}[r.IntN(4)]
		day := start + int32(r.IntN(int(end-start)))
		m := int16(10*60 + r.IntN(9*60))
		if day == p.joinDay {
			m = max(m, p.joinMin+5)
		}
		ev = append(ev, event{day: day, min: m, kind: datasets.TxPTPackage, amount: ptBought * int32(p.ptSession)})
		if st.rec != nil && day >= 0 {
			st.rec.ptBuys = append(st.rec.ptBuys, day)
		}
	}

	// Visits.
	days := 0
	if st.freeze > 0 {
		st.freeze--
	} else if end > start {
		lambda := p.base * st.m * g.cal.visit[w-g.cal.wMin] * float64(end-start) / 7
		n := min(poisson(r, lambda), int(end-start))
		var wts [7]float64
		for d := start; d < end; d++ {
			wts[d-d0] = p.wd[weekday(d)]
		}
		var chosen uint8
		for range n {
			i := pickWeights(r, wts[:])
			if i < 0 {
				break
			}
			chosen |= 1 << i
			wts[i] = 0
		}
		for i := range 7 {
			if chosen&(1<<i) != 0 {
				ev = g.visitDay(st, p, d0+int32(i), r, ev)
				days++
			}
		}
	}

	// Bookkeeping from this week's events.
	var spend int64
	for i := first; i < len(ev); i++ {
		e := &ev[i]
		if e.visit() {
			st.lastVisit = max(st.lastVisit, e.day)
			st.lastAct = max(st.lastAct, e.day)
			continue
		}
		spend += int64(e.amount)
		if e.amount > 0 {
			st.lastAct = max(st.lastAct, e.day)
		}
	}
	st.vShort = 0.7*st.vShort + 0.3*float64(days)
	st.vLong = 0.95*st.vLong + 0.05*float64(days)
	st.spend = st.spend*51/52 + float64(spend)
	st.ptCredits += ptBought
	if churnAfter {
		st.status = statusChurned
		st.churnDay = end
	}
	return ev
}

// join emits the joining payments and sets up the contract.
func (g *gen) join(st *state, p *member, r *rand.Rand, ev []event) []event {
	d, m := p.joinDay, p.joinMin
	tx := func(kind datasets.TxKind, amt int64) {
		ev = append(ev, event{day: d, min: m, kind: kind, amount: int32(amt)})
	}
	switch p.contract {
	case datasets.ContractMonthly, datasets.ContractAnnual:
		tx(datasets.TxMembershipFee, p.fee+p.joinFee)
		st.dueK = 1
		st.nextDue = g.due(p, 1)
	case datasets.ContractClassPack:
		tx(datasets.TxMembershipFee, p.joinFee)
		tx(datasets.TxClassPack, p.packPrice)
		st.credits = int32(p.packSize)
	case datasets.ContractStoredValue:
		tx(datasets.TxMembershipFee, p.joinFee)
		tx(datasets.TxTopUp, p.topUp)
		st.balance = int32(p.topUp)
	default:
		tx(datasets.TxMembershipFee, p.joinFee)
	}
	return ev
}

// visitDay emits the visit(s) of p on day d: an open-gym session or a class,
// possibly followed by a second class, with the payments they trigger.
func (g *gen) visitDay(st *state, p *member, d int32, r *rand.Rand, ev []event) []event {
	club := p.club
	if g.tt.numClubs > 1 && r.Float64() < p.awayProb {
		club = (club + 1 + r.IntN(g.tt.numClubs-1)) % g.tt.numClubs
	}
	src := datasets.SourcePOS
	switch u := r.Float64(); {
	case u < 0.03:
		src = datasets.SourceManual
	case u < 0.03+0.97*p.appShare:
		src = datasets.SourceApp
	}
	wd := weekday(d)
	if d == p.joinDay { // induction right after signing up
		return g.pay(st, p, r, ev, event{day: d, min: p.joinMin + int16(10+r.IntN(30)), src: src, course: -1, dur: int16(45 + r.IntN(45))})
	}
	if r.Float64() < p.classShare {
		var mask uint16
		if club < len(g.tt.mask) {
			mask = g.tt.mask[club][wd]
		}
		if st.ptCredits > 0 && club == p.club {
			mask |= 1 << catPT
		}
		row := &p.trans[st.prevCat+1]
		var w [numCats]float64
		for k := range numCats {
			if mask&(1<<k) != 0 {
				w[k] = row[k]
			}
		}
		if k := pickWeights(r, w[:]); k >= 0 {
			if st.rec != nil {
				st.rec.choose(st, d, club, k, mask, false)
			}
			var e event
			if k == catPT {
				b := pickWeights(r, p.tod[:])
				lo, hi := todBuckets[b][0], todBuckets[b][1]-60
				e = event{day: d, min: int16(lo + r.IntN(hi-lo)/15*15), course: g.tt.pt[club], dur: int16(cats[catPT].dur)}
				st.ptCredits--
			} else {
				c := g.pickSlot(p, club, wd, k, r, -1)
				e = event{day: d, min: g.tt.start[c] - int16(r.IntN(12)), course: c, dur: int16(cats[k].dur + r.IntN(21))}
			}
			e.src = src
			st.prevCat = int8(k)
			ev = g.pay(st, p, r, ev, e)
			// Back-to-back class.
			if k != catPT && r.Float64() < p.doubleProb {
				endMin := int(g.tt.start[e.course]) + cats[k].dur
				var w2 [numCats]float64
				var mask2 uint16
				row := &p.trans[k+1]
				for _, c := range g.tt.slots[club][wd] {
					s := int(g.tt.start[c])
					if s >= endMin && s <= endMin+45 {
						w2[g.tt.cat[c]] = row[g.tt.cat[c]]
						mask2 |= 1 << g.tt.cat[c]
					}
				}
				if k2 := pickWeights(r, w2[:]); k2 >= 0 {
					if st.rec != nil {
						st.rec.choose(st, d, club, k2, mask2, true)
					}
					c := g.pickSlot(p, club, wd, k2, r, endMin)
					st.prevCat = int8(k2)
					ev = g.pay(st, p, r, ev, event{day: d, min: g.tt.start[c], src: src, course: c, dur: int16(cats[k2].dur + r.IntN(11))})
				}
			}
			return ev
		}
	}
	b := pickWeights(r, p.tod[:])
	lo, hi := todBuckets[b][0], todBuckets[b][1]
	dur := min(30+int(-20*math.Log(r.Float64()*r.Float64())), 180) // 30 + 20·Gamma(2)
	return g.pay(st, p, r, ev, event{day: d, min: int16(lo + r.IntN(hi-lo)), src: src, course: -1, dur: int16(dur)})
}

// pickSlot picks a course of category k at club on weekday wd, weighted by
// the member's time-of-day preference; with after >= 0 only courses starting
// in [after, after+45] qualify.
func (g *gen) pickSlot(p *member, club, wd, k int, r *rand.Rand, after int) int16 {
	var w [16]float64
	cand := g.tt.slots[club][wd]
	var idx [16]int16
	n := 0
	for _, c := range cand {
		if int(g.tt.cat[c]) != k {
			continue
		}
		if s := int(g.tt.start[c]); after >= 0 && (s < after || s > after+45) {
			continue
		}
		if n < len(w) {
			w[n] = p.tod[g.tt.bucket[c]] + 1e-3
			idx[n] = c
			n++
		}
	}
	return idx[pickWeights(r, w[:n])]
}

// pay appends visit e and the payments it triggers: a class pack when the
// credits are used up, a top-up when the stored value runs low, the
// drop-in fee of a pay-as-you-go member, and now and then a retail purchase.
func (g *gen) pay(st *state, p *member, r *rand.Rand, ev []event, e event) []event {
	if e.min < 0 {
		e.min = 0
	}
	price := p.gymPrice
	if e.course >= 0 {
		price = p.classPrice
	}
	switch p.contract {
	case datasets.ContractClassPack:
		if st.credits <= 0 {
			ev = append(ev, event{day: e.day, min: max(e.min-1, 0), kind: datasets.TxClassPack, amount: int32(p.packPrice)})
			st.credits = int32(p.packSize)
		}
		st.credits--
	case datasets.ContractStoredValue:
		if int64(st.balance) < price {
			ev = append(ev, event{day: e.day, min: max(e.min-1, 0), kind: datasets.TxTopUp, amount: int32(p.topUp)})
			st.balance += int32(p.topUp)
		}
		st.balance -= int32(price)
	case datasets.ContractPayAsYouGo:
		ev = append(ev, event{day: e.day, min: e.min, kind: datasets.TxClassPack, amount: int32(price)})
	}
	ev = append(ev, e)
	if r.Float64() < p.retailProp {
		amt := int32(math.Round(math.Exp(uniform(r, math.Log(250), math.Log(4000)))))
		m := min(e.min+e.dur+int16(r.IntN(10)), 23*60+59)
		ev = append(ev, event{day: e.day, min: m, kind: datasets.TxRetail, amount: amt})
		if r.Float64() < 0.03 {
			ev = append(ev, event{day: e.day, min: min(m+30, 23*60+59), kind: datasets.TxRefund, amount: -amt})
		}
	}
	return ev
}

const (
	contractAnnual = datasets.ContractAnnual
	txRenewal      = datasets.TxRenewal
)
