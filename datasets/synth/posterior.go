package synth

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mathext"

	"retain/datasets"
)

// This file computes the observable bound of the next-course prediction:
// the best prediction of a member's next class category that can be made
// from the classes the member took, under the generator's own prior. The
// oracle (Truth.NextCategory) knows the member's transition rows; a model
// sees the classes the member took (and more: visits, demographics). The
// Bayes posterior predictive over the generator's prior given those classes
// is the best any model can do with them alone, so its HR@3 bounds such
// models' from above, up to its approximate model of the days ahead
// (docs/evaluation.md, "The observable bound", where a model that reads
// more than the classes matches it).
//
// The generator draws the next class's category from the member's row
// trans[prev+1] (member.go) restricted to the categories offered where and
// when the member trains (visitDay): P(k | prev, mask) = trans[prev+1][k] /
// Σ_{j∈mask} trans[prev+1][j]. The row is (1 − habit)·pref⊙G[prev]/s +
// habit·e_follow[prev], with pref ~ Dirichlet over the home club's
// categories, habit ~ Beta(2, 3) and follow[prev] ~ pref⊙G[prev]/s. The
// posterior over (pref, habit, eligibility) is sampled by random-walk
// Metropolis (mcmcNext) with the follow-ups summed out exactly, category by
// category. (Importance sampling from counts-based Dirichlet proposals was
// tried first: its effective sample size collapsed to a handful of the
// thousands of draws even with adaptation, and its HR@3 came out 0.02
// lower.)

// choice is one class a member took in the main run: the category chosen,
// the one before and the categories it was chosen among.
type choice struct {
	day    int32
	prev   int8 // category of the class before; -1 none; prevHidden: taken before Start
	k      int8
	club   int8
	second bool   // a back-to-back class right after another
	mask   uint16 // the categories the member chose among
}

// prevHidden marks a choice whose previous class lies before Start, outside
// the data: an observer does not know it.
const prevHidden = -2

// recorder collects the observable class choices and personal-training
// purchases of one member's main run (never of the truth re-simulations).
type recorder struct {
	stock   bool // joined before Start: its classes before Start are not in the data
	choices []choice
	ptBuys  []int32 // days of PT package purchases
}

func (rc *recorder) choose(st *state, d int32, club, k int, mask uint16, second bool) {
	if d < 0 {
		return // before Start: not in the data
	}
	prev := st.prevCat
	if rc.stock && len(rc.choices) == 0 {
		prev = prevHidden // whatever came before lies before Start
	}
	rc.choices = append(rc.choices, choice{day: d, prev: prev, k: int8(k), club: int8(club), second: second, mask: mask})
}

// posteriorRun asks Generate for the observable bound at some cutoffs.
type posteriorRun struct {
	// steps: the sampler runs 4·steps Metropolis steps per member and
	// cutoff, the first half burn-in, and averages the predictive of every
	// 4th state of the second half.
	steps int
	weeks map[int]bool // cutoff weeks at which to compute it
}

// postResult is the observable bound of one member at one cutoff, with
// what the evaluation needs beside it.
type postResult struct {
	// post is the posterior predictive of the first class category after
	// the cutoff; known is the same predictive computed from the member's
	// true transition row (the latent known), with the same model of the
	// days and clubs ahead, so known against Truth.NextCategory measures
	// that model and post against known the information.
	post, known []float64
	accept      float64 // the random walk's acceptance rate after burn-in
	// label is the category of the first class in [t, t + H) of the main
	// run, -1 when none; counts are the classes per category in the 26
	// weeks before t; observed the classes before t in the data.
	label    int8
	counts   [numCats]int
	observed int
}

const wdPriorWeight = 2 // pseudo-count of the home club's weekdays in the mask model

// pAgePostnatal is P(postnatalMinAge <= age <= postnatalMaxAge) for age =
// 18 + 8·Gamma(2.6) (member.go).
var pAgePostnatal = mathext.GammaIncReg(2.6, (postnatalMaxAge-18)/8.0) - mathext.GammaIncReg(2.6, (postnatalMinAge-18)/8.0)

// postScratch is reused across members by one worker.
type postScratch struct {
	r     *rand.Rand
	pcg   *rand.PCG
	masks []maskCount
}

type maskCount struct {
	mask uint16
	n    float64
}

// group is the choices made after one previous category.
type group struct {
	n     [numCats]float64 // choices per category
	masks []maskCount      // distinct masks and how often
	any   bool
}

func addMask(ms []maskCount, m uint16, w float64) []maskCount {
	for i := range ms {
		if ms[i].mask == m {
			ms[i].n += w
			return ms
		}
	}
	return append(ms, maskCount{m, w})
}

// observedPrior returns the prior eligibility for postnatal classes and
// personal training given what the data shows of p up to day cut.
func (g *gen) observedPrior(p *member, rc *recorder, ch []choice, cut int32) (pPost, pPT float64) {
	for _, c := range ch {
		if c.k == catPostnatal {
			pPost = 1
		}
		if c.k == catPT || c.mask&(1<<catPT) != 0 {
			pPT = 1
		}
	}
	if pPost == 0 && p.gender == "female" {
		switch age := g.dayTime(p.joinDay).Year() - p.birthYear; {
		case p.birthYear == 0:
			pPost = postnatalShare * pAgePostnatal
		case age >= postnatalMinAge && age <= postnatalMaxAge:
			pPost = postnatalShare
		}
	}
	for _, d := range rc.ptBuys {
		if d < cut {
			pPT = 1
		}
	}
	if pPT == 0 && p.contract != datasets.ContractPayAsYouGo {
		// P(no purchase in the observed weeks | ptProp > 0): a purchase is
		// tried each week with probability ptProp·m, ptProp uniform in
		// [ptPropMin, ptPropMax]; m about 0.7.
		weeks := float64(cut-max(p.joinDay, 0)) / 7
		var none float64
		for i := range 20 {
			u := ptPropMin + (ptPropMax-ptPropMin)*(float64(i)+0.5)/20
			none += math.Pow(1-0.7*u, weeks) / 20
		}
		pPT = ptShare * none / (ptShare*none + 1 - ptShare)
	}
	return pPost, pPT
}

// nextPosterior returns the posterior predictive and the latent-known
// predictive of the first class after day cut for member p whose observed
// choices before cut are ch, the last class before cut being prev as the
// data shows it (prevHidden when it lies before Start) and truePrev in
// fact, with PT credits left at cut or not.
func (g *gen) nextPosterior(p *member, rc *recorder, ch []choice, cut int32, prev, truePrev int8, ptCredits bool, S int, sc *postScratch) postResult {
	var row0 group
	var byPrev [numCats]group
	var nAll [numCats]float64
	q := sc.masks[:0]
	var home, days float64 // class days at the home club, and in all
	for _, c := range ch {
		nAll[c.k]++
		switch {
		case c.prev == -1:
			row0.n[c.k]++
			row0.masks = addMask(row0.masks, c.mask, 1)
			row0.any = true
		case c.prev >= 0:
			gr := &byPrev[c.prev]
			gr.n[c.k]++
			gr.masks = addMask(gr.masks, c.mask, 1)
			gr.any = true
		}
		if !c.second {
			q = addMask(q, g.tt.mask[c.club][weekday(c.day)], 1)
			days++
			if int(c.club) == p.club {
				home++
			}
		}
	}
	var wdSum float64
	for _, w := range wdBase {
		wdSum += w
	}
	for wd, w := range wdBase {
		q = addMask(q, g.tt.mask[p.club][wd], wdPriorWeight*w/wdSum)
	}
	if ptCredits {
		// PT is offered on every day at the home club while credits last;
		// the mask model adds it to the home club's masks in proportion.
		share := (home + wdPriorWeight) / (days + wdPriorWeight)
		n := len(q)
		for i := range n {
			q = append(q, maskCount{q[i].mask | 1<<catPT, q[i].n * share})
			q[i].n *= 1 - share
		}
	}
	sc.masks = q

	res := postResult{observed: len(ch)}
	// The latent known: the member's true row.
	res.known = make([]float64, numCats)
	predictRow(p.trans[truePrev+1][:], q, (*[numCats]float64)(res.known))

	pPost, pPT := g.observedPrior(p, rc, ch, cut)
	offered := g.tt.offered[p.club]

	res.post, res.accept = g.mcmcNext(sc.r, p, offered, pPost, pPT, &row0, &byPrev, prev, q, &nAll, 2*S, S/2, 4)
	return res
}

// predictRow writes to out the distribution of the next category for
// transition row row over the masks q (weights), given that a class is
// taken.
func predictRow(row []float64, q []maskCount, out *[numCats]float64) {
	*out = [numCats]float64{}
	var tot float64
	for _, m := range q {
		var z float64
		for k := range numCats {
			if m.mask&(1<<k) != 0 {
				z += row[k]
			}
		}
		if z <= 0 {
			continue
		}
		tot += m.n
		for k := range numCats {
			if m.mask&(1<<k) != 0 {
				out[k] += m.n * row[k] / z
			}
		}
	}
	if tot > 0 {
		for k := range out {
			out[k] /= tot
		}
	}
}

// loglik returns the log likelihood of the observed choices given pref x
// (zero outside the support) and habit h, the follow-ups summed out, and
// writes the predictive of the next category to pred when it is not nil.
func (g *gen) loglik(x *[numCats]float64, h float64, row0 *group, byPrev *[numCats]group, prev int8, q []maskCount, pred *[numCats]float64) float64 {
	// Choices with no class before: P(k | m) = pref_k / Σ_{j∈m} pref_j.
	lw := 0.0
	if row0.any {
		for k := range numCats {
			if row0.n[k] > 0 {
				lw += row0.n[k] * math.Log(x[k])
			}
		}
		for _, m := range row0.masks {
			var z float64
			for k := range numCats {
				if m.mask&(1<<k) != 0 {
					z += x[k]
				}
			}
			lw -= m.n * math.Log(z)
		}
	}
	if math.IsInf(lw, -1) || math.IsNaN(lw) {
		return math.Inf(-1)
	}
	var postF [numCats]float64 // posterior of follow[prev] for this particle
	var row [numCats]float64
	for c := range numCats {
		gr := &byPrev[c]
		if !gr.any && int(prev) != c {
			continue
		}
		var s float64
		for k := range numCats {
			row[k] = x[k] * g.global[c][k]
			s += row[k]
		}
		for k := range numCats {
			row[k] /= s
		}
		var lf [numCats]float64
		mx := math.Inf(-1)
		for f := range numCats {
			if row[f] <= 0 {
				lf[f] = math.Inf(-1)
				continue
			}
			var l float64
			if gr.any {
				for k := range numCats {
					if n := gr.n[k]; n > 0 {
						a := (1 - h) * row[k]
						if k == f {
							a += h
						}
						l += n * math.Log(a)
					}
				}
				for _, m := range gr.masks {
					var z float64
					for k := range numCats {
						if m.mask&(1<<k) != 0 {
							z += row[k]
						}
					}
					z *= 1 - h
					if m.mask&(1<<f) != 0 {
						z += h
					}
					l -= m.n * math.Log(z)
				}
			}
			if math.IsNaN(l) {
				l = math.Inf(-1)
			}
			lf[f] = math.Log(row[f]) + l
			mx = math.Max(mx, lf[f])
		}
		if math.IsInf(mx, -1) {
			return math.Inf(-1)
		}
		var z float64
		for f := range numCats {
			z += math.Exp(lf[f] - mx)
		}
		if gr.any {
			lw += mx + math.Log(z)
		}
		if int(prev) == c {
			for f := range numCats {
				postF[f] = math.Exp(lf[f]-mx) / z
			}
			// The predictive from prev: the follow-up summed out.
			if pred == nil {
				continue
			}
			*pred = [numCats]float64{}
			var tr, pr [numCats]float64
			for f := range numCats {
				if postF[f] < 1e-9 {
					continue
				}
				for k := range numCats {
					tr[k] = (1 - h) * row[k]
				}
				tr[f] += h
				predictRow(tr[:], q, &pr)
				for k := range numCats {
					pred[k] += postF[f] * pr[k]
				}
			}
		}
	}
	if prev < 0 && pred != nil {
		predictRow(x[:], q, pred)
	}
	return lw
}

// mcmcNext samples the posterior of (eligibility, pref, habit) given the
// observed choices by random-walk Metropolis and returns the posterior
// predictive of the next category and the acceptance rate of the random
// walk after burn-in. pref is pref_k = e^{y_k} / Σ_j e^{y_j} with y_k the
// logarithm of a Gamma(α_k) variable (the Dirichlet prior exactly); habit
// h = σ(u). Eligibility for postnatal classes and PT, when uncertain, is
// flipped by reversible jumps that draw or drop the category's y_k from its
// prior.
func (g *gen) mcmcNext(r *rand.Rand, p *member, offered uint16, pPost, pPT float64,
	row0 *group, byPrev *[numCats]group, prev int8, q []maskCount, nAll *[numCats]float64, burn, keep, thin int) ([]float64, float64) {
	type stateT struct {
		y       [numCats]float64
		u       float64
		elig    [2]bool // postnatal, PT
		support uint16
		lp, ll  float64 // log prior (of y and u), log likelihood
	}
	pElig := [2]float64{pPost, pPT}
	eligCat := [2]int{catPostnatal, catPT}
	var uncertain []int // eligibilities the data leaves open
	for i, pe := range pElig {
		if pe > 0 && pe < 1 {
			uncertain = append(uncertain, i)
		}
	}
	var alpha [numCats]float64
	for k := range alpha {
		alpha[k] = prefAlpha(k)
	}
	// logPriorY is the log density of y = log Gamma(a), up to the constant
	// −lgamma(a), which cancels in every acceptance ratio (a category
	// enters and leaves the support only by the jumps, which drop it).
	logPriorY := func(k int, y float64) float64 { return alpha[k]*y - math.Exp(y) }
	supportOf := func(e [2]bool) uint16 {
		var s uint16
		for k := range numCats {
			if offered&(1<<k) == 0 || (k == catPostnatal && !e[0]) || (k == catPT && !e[1]) {
				continue
			}
			s |= 1 << k
		}
		return s
	}
	var x [numCats]float64
	eval := func(st *stateT, pred *[numCats]float64) {
		st.lp = 0
		var z float64
		for k := range numCats {
			x[k] = 0
			if st.support&(1<<k) == 0 {
				continue
			}
			st.lp += logPriorY(k, st.y[k])
			x[k] = math.Exp(st.y[k])
			z += x[k]
		}
		for k := range numCats {
			x[k] /= z
		}
		h := 1 / (1 + math.Exp(-st.u))
		st.lp += habitA*math.Log(h) + habitB*math.Log1p(-h) // Beta(habitA, habitB) with the logit's Jacobian
		if z <= 0 || h <= 0 || h >= 1 {
			st.ll = math.Inf(-1)
			return
		}
		st.ll = g.loglik(&x, h, row0, byPrev, prev, q, pred)
		if math.IsNaN(st.ll) {
			st.ll = math.Inf(-1)
		}
	}
	var cur stateT
	for i, pe := range pElig {
		cur.elig[i] = pe >= 0.5
	}
	cur.support = supportOf(cur.elig)
	for k := range numCats {
		cur.y[k] = math.Log(alpha[k] + nAll[k])
	}
	cur.u = math.Log(0.4 / 0.6)
	eval(&cur, nil)
	sigma := 0.3
	var post [numCats]float64
	var pred [numCats]float64
	accepted, tried, kept := 0, 0, 0
	for step := 0; kept < keep; step++ {
		next := cur
		jump := len(uncertain) > 0 && r.Float64() < 0.1
		if jump {
			i := uncertain[r.IntN(len(uncertain))]
			k := eligCat[i]
			next.elig[i] = !next.elig[i]
			next.support = supportOf(next.elig)
			odds := math.Log(pElig[i] / (1 - pElig[i]))
			if next.support&(1<<k) != 0 {
				a := alpha[k]
				next.y[k] = math.Log(gamma(r, a+1)) + math.Log(r.Float64())/a
			} else if cur.support&(1<<k) != 0 {
				odds = -odds
			} else {
				odds = 0 // not offered at the home club: nothing changes
			}
			eval(&next, nil)
			// The new y_k is drawn from its prior, so its prior term cancels.
			var dp float64
			if next.support&(1<<k) != 0 && cur.support&(1<<k) == 0 {
				dp = -logPriorY(k, next.y[k])
			} else if cur.support&(1<<k) != 0 && next.support&(1<<k) == 0 {
				dp = logPriorY(k, cur.y[k])
			}
			if math.Log(r.Float64()) < next.ll-cur.ll+next.lp-cur.lp+dp+odds {
				cur = next
			}
		} else {
			for k := range numCats {
				if next.support&(1<<k) != 0 {
					next.y[k] += sigma * r.NormFloat64()
				}
			}
			next.u += sigma * r.NormFloat64()
			eval(&next, nil)
			tried++
			if math.Log(r.Float64()) < next.ll+next.lp-cur.ll-cur.lp {
				cur = next
				accepted++
			}
			if step < burn && tried%50 == 0 {
				switch rate := float64(accepted) / float64(tried); {
				case rate > 0.3:
					sigma *= 1.2
				case rate < 0.2:
					sigma /= 1.2
				}
				accepted, tried = 0, 0
			}
		}
		if step >= burn && (step-burn)%thin == 0 {
			eval(&cur, &pred)
			for k := range numCats {
				post[k] += pred[k]
			}
			kept++
		}
	}
	out := make([]float64, numCats)
	for k := range out {
		out[k] = post[k] / float64(keep)
	}
	rate := 0.0
	if tried > 0 {
		rate = float64(accepted) / float64(tried)
	}
	return out, rate
}

// postAt computes the observable bound of member p in state st at the
// start of week w, from the choices recorded so far.
func (g *gen) postAt(p *member, rc *recorder, st *state, w int, ts *truthScratch) *postResult {
	cut := int32(7 * w)
	ch := rc.choices // every recorded choice so far lies before cut
	prev := st.prevCat
	if rc.stock && len(ch) == 0 {
		prev = prevHidden
	}
	sc := ts.post
	if sc == nil {
		pcg := rand.NewPCG(0, 0)
		sc = &postScratch{pcg: pcg, r: rand.New(pcg)}
		ts.post = sc
	}
	a, b := seedPair(g.cfg.Seed, tagPosterior, uint64(p.idx), uint64(w))
	sc.pcg.Seed(a, b)
	pr := g.nextPosterior(p, rc, ch, cut, prev, st.prevCat, st.ptCredits > 0, g.post.steps, sc)
	return &pr
}

// postLabels fills in the label (first class in the horizon) and the
// 26-week class counts of the member's truth rows that have a bound.
func (g *gen) postLabels(rc *recorder, rows []Truth) {
	H := int32(7 * g.cfg.HorizonWeeks)
	for i := range rows {
		pr := rows[i].post
		if pr == nil {
			continue
		}
		cut := g.dayOf(rows[i].Cutoff)
		pr.label = -1
		for _, c := range rc.choices {
			switch {
			case c.day >= cut-26*7 && c.day < cut:
				pr.counts[c.k]++
			case c.day >= cut && c.day < cut+H && pr.label < 0:
				pr.label = c.k
			}
		}
	}
}
