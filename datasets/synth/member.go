package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"retain/datasets"
)

// member holds the static, per-member parameters of the simulation: drawn
// once when the member is created and never changed. Everything that
// evolves lives in state.
type member struct {
	idx     int
	id      string
	joinDay int32 // day index relative to Config.Start; negative for the stock
	joinMin int16 // minute of the join instant on joinDay
	stock   bool  // joined before Start

	contract  datasets.ContractType
	club      int
	birthYear int
	gender    string
	channel   string
	postnatal bool

	// Prices, EUR cents.
	fee        int64 // monthly fee (monthly) or yearly price (annual)
	joinFee    int64 // joining / registration fee
	packSize   int16
	packPrice  int64
	classPrice int64 // per visit: stored value debit or pay-as-you-go drop-in
	gymPrice   int64
	topUp      int64
	ptSession  int64
	billDay    int // day of month of the monthly direct debit (1..28)

	// Behaviour.
	base       float64 // weekly visit rate at motivation 1 (gamma distributed)
	classShare float64 // probability that a visit is a class
	doubleProb float64 // probability of a second class right after one
	awayProb   float64 // probability of visiting another club
	appShare   float64 // share of check-ins through the app
	retailProp float64 // probability of a retail purchase per visit
	ptProp     float64 // weekly propensity to buy a PT package (0: never)
	decay      float64 // weekly decay of the motivation target
	lapseRate  float64 // weekly probability of a motivation shock
	mu0        float64 // motivation target at join
	frailty    float64 // individual churn log-odds offset (unobserved)
	wd         [7]float64
	tod        [4]float64
	// trans[prev+1][k] is the weight of category k for a class following a
	// class of category prev (row 0: no class yet): the member's own habit
	// (follow) mixed with pref ⊙ G[prev].
	trans [numCats + 1][numCats]float64
}

var (
	contractShares = []float64{0.50, 0.20, 0.12, 0.08, 0.10} // in datasets.ContractTypes order
	channelNames   = []string{"walk_in", "web", "referral", "corporate", "promo"}
	channelShares  = []float64{0.30, 0.35, 0.15, 0.10, 0.10}
	monthlyFees    = []int64{3990, 4490, 4990, 5490, 5990, 6490, 6990, 7490, 7990, 8490, 8900}
	feeWeights     = []float64{1, 2, 4, 5, 5, 4, 3, 2, 1.5, 1, 0.5}
)

var popSum = func() float64 {
	var s float64
	for _, c := range cats {
		s += c.pop
	}
	return s
}()

// Priors of newMember that the observable bound (posterior.go) conditions
// on.
const (
	postnatalMinAge, postnatalMaxAge = 24, 42     // ages at join open to postnatal classes
	postnatalShare                   = 0.15       // share of women of those ages who take them
	ptShare                          = 0.12       // share of members (not pay as you go) who buy PT
	ptPropMin, ptPropMax             = 0.03, 0.15 // their weekly propensity to buy a package, uniform
	habitA, habitB                   = 2.0, 3.0   // habit strength ~ Beta(habitA, habitB)
)

// wdBase are the shapes of the Gamma(2·wdBase) weekday weights, Monday first.
var wdBase = [7]float64{1.1, 1.1, 1.1, 1.0, 0.8, 0.7, 0.5}

// prefAlpha is the Dirichlet parameter of category k in a member's
// preference vector, over the categories the member can take: the
// population popularity scaled to a total of 2.8, or fixed for the two
// categories only some members take.
func prefAlpha(k int) float64 {
	switch k {
	case catPostnatal:
		return 1.5
	case catPT:
		return 0.6
	}
	return 2.8 * cats[k].pop / popSum
}

// newMember draws the static parameters of member idx joining on joinDay.
func (g *gen) newMember(r *rand.Rand, idx int, joinDay int32, stock bool) *member {
	p := &member{idx: idx, id: memberID(idx), joinDay: joinDay, stock: stock}
	p.joinMin = int16(8*60 + r.IntN(12*60))
	p.contract = datasets.ContractTypes[pickWeights(r, contractShares)]
	p.club = r.IntN(g.tt.numClubs)

	joinYear := g.dayTime(joinDay).Year()
	age := 18 + int(8*gamma(r, 2.6))
	if age > 85 {
		age = 85
	}
	if r.Float64() < 0.9 {
		p.birthYear = joinYear - age
	}
	switch u := r.Float64(); {
	case u < 0.52:
		p.gender = "female"
	case u < 0.97:
		p.gender = "male"
	case u < 0.98:
		p.gender = "other"
	}
	p.channel = channelNames[pickWeights(r, channelShares)]
	p.postnatal = p.gender == "female" && age >= postnatalMinAge && age <= postnatalMaxAge && r.Float64() < postnatalShare

	// Prices.
	fee := monthlyFees[pickWeights(r, feeWeights)]
	p.billDay = min(g.dayTime(joinDay).Day(), 28)
	switch p.contract {
	case datasets.ContractMonthly:
		p.fee = fee
		if r.Float64() < 0.5 {
			p.joinFee = 1900 + 1000*int64(r.IntN(4))
		}
	case datasets.ContractAnnual:
		p.fee = min(90000, max(40000, int64(math.Round(float64(fee)*12*uniform(r, 0.78, 0.9)/100))*100-10))
		if r.Float64() < 0.3 {
			p.joinFee = 1900 + 1000*int64(r.IntN(3))
		}
	default:
		p.joinFee = 1500 + 500*int64(r.IntN(3))
	}
	p.classPrice = 1400 + 100*int64(r.IntN(7))
	p.gymPrice = 900 + 100*int64(r.IntN(4))
	if r.IntN(2) == 0 {
		p.packSize, p.packPrice = 10, 10*p.classPrice*88/100/10*10
	} else {
		p.packSize, p.packPrice = 20, 20*p.classPrice*80/100/10*10
	}
	p.topUp = []int64{5000, 10000, 10000, 20000}[r.IntN(4)]
	p.ptSession = []int64{6000, 6000, 6500, 7000}[r.IntN(4)]

	// Behaviour.
	rate := 1.05 * gamma(r, 2.2)
	switch p.contract {
	case datasets.ContractClassPack:
		rate *= 0.75
	case datasets.ContractStoredValue:
		rate *= 0.7
	case datasets.ContractPayAsYouGo:
		rate *= 0.5
	}
	p.base = min(rate, 7)
	p.classShare = beta(r, 2, 1.6)
	p.doubleProb = 0.25 * beta(r, 1, 3)
	p.awayProb = 0.1 * beta(r, 1, 3)
	p.appShare = beta(r, 3, 2)
	if r.Float64() < 0.6 {
		p.retailProp = 0.25 * beta(r, 1, 3)
	}
	switch {
	case p.contract == datasets.ContractPayAsYouGo:
	case r.Float64() < ptShare:
		p.ptProp = uniform(r, ptPropMin, ptPropMax)
	}
	p.decay = uniform(r, 0.001, 0.012)
	p.lapseRate = uniform(r, 0.005, 0.03)
	p.mu0 = uniform(r, 0.45, 1.15)
	p.frailty = 0.5 * r.NormFloat64()

	// Weekday preference: weekday-heavy, concentrated.
	for i := range p.wd {
		p.wd[i] = gamma(r, 2*wdBase[i])
	}
	// Time of day: the retired and the young differ.
	todBase := [4]float64{0.9, 0.5, 0.5, 1.4}
	switch {
	case age >= 60:
		todBase = [4]float64{1.0, 1.6, 0.8, 0.3}
	case p.postnatal:
		todBase = [4]float64{0.3, 1.8, 0.9, 0.3}
	case age < 26:
		todBase = [4]float64{0.3, 0.4, 0.8, 1.8}
	}
	for i := range p.tod {
		p.tod[i] = gamma(r, 1.2*todBase[i])
	}

	// Category preference: a concentrated Dirichlet around the population
	// popularity, restricted to what the home club offers.
	var pref [numCats]float64
	var ps float64
	for k := range numCats {
		if (k == catPostnatal && !p.postnatal) || (k == catPT && p.ptProp == 0) || g.tt.offered[p.club]&(1<<k) == 0 {
			continue
		}
		pref[k] = gamma(r, prefAlpha(k))
		ps += pref[k]
	}
	if ps == 0 {
		pref[catYoga], ps = 1, 1
	}
	for k := range pref {
		pref[k] /= ps
	}
	// Habits: for each category, the member's own favourite follow-up,
	// drawn from pref ⊙ G[c]; habit is how often it wins over the mix.
	habit := beta(r, habitA, habitB)
	p.trans[0] = pref
	var row [numCats]float64
	for c := range numCats {
		var s float64
		for k := range numCats {
			row[k] = pref[k] * g.global[c][k]
			s += row[k]
		}
		follow := pickWeights(r, row[:])
		for k := range numCats {
			p.trans[c+1][k] = (1 - habit) * row[k] / s
		}
		p.trans[c+1][follow] += habit
	}
	return p
}

func memberID(idx int) string {
	b := make([]byte, 0, 8)
	b = append(b, 'M')
	n := strconv.Itoa(idx + 1)
	for range 6 - len(n) {
		b = append(b, '0')
	}
	return string(append(b, n...))
}

// record returns the members-table row of p.
//
// ContractStart is the join date; ContractEnd is left open (zero) for every
// contract type: monthly contracts roll, annual contracts renew (or not) on
// each anniversary of ContractStart, and the other types have no term. The
// row is what was known at sign-up, so it leaks nothing about the future.
func (p *member) record(g *gen) datasets.Member {
	joined := g.dayTime(p.joinDay).Add(time.Duration(p.joinMin) * time.Minute)
	return datasets.Member{
		MemberID:      p.id,
		JoinedAt:      joined,
		BirthYear:     p.birthYear,
		Gender:        p.gender,
		HomeClub:      g.tt.clubs[p.club],
		ContractType:  p.contract,
		ContractStart: g.dayTime(p.joinDay),
		Channel:       p.channel,
	}
}
