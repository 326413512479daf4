package train

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// DefaultBootstrap is the number of member-bootstrap resamples Evaluate
// draws for its intervals (EvalOptions.Bootstrap).
const DefaultBootstrap = 1000

// BootstrapLevel is the coverage of the reported percentile intervals.
const BootstrapLevel = 0.95

// Uncertainty is the sampling uncertainty of an evaluation, from a member
// (cluster) bootstrap: each resample draws as many members as the test split
// has, with replacement, and every drawn member brings all of its test
// examples (a member appears at several test cutoffs, and those examples
// are not independent). Every metric and bar below is recomputed on each
// resample with the same rules as on the test split; the intervals are the
// percentile intervals of those recomputations.
type Uncertainty struct {
	// Resamples is the number of resamples, Members the number of distinct
	// members among the test examples (the resampled units), Seed the seed
	// of the draws and Level the intervals' coverage.
	Resamples, Members int
	Seed               uint64
	Level              float64
	// Metrics are the intervals of each method's headline metrics:
	// ROC-AUC over all churn examples (and ECE for the model and the
	// compared models), HR@3 over all next-course examples, and for the
	// model and the oracle the same on the matched examples the oracle
	// bars use. ECE intervals are basic bootstrap intervals (see
	// docs/evaluation.md), the others percentile intervals.
	Metrics []MetricInterval
	// Bars gives, for each bar of Report.Bars with a model, how far the
	// model is past its threshold and how often it passes.
	Bars []BarInterval
	// Comparisons are the candidates' paired differences from the model
	// (EvalOptions.Compare): ROC-AUC, ECE and HR@3 of each.
	Comparisons []Comparison `json:",omitempty"`
}

// Comparison is a candidate's paired difference from the model in one
// metric, both scored on the same resampled members.
type Comparison struct {
	Candidate, Metric string
	// Diff is candidate − model on the test split, Lo and Hi its interval.
	Diff, Lo, Hi Num
	// BetterShare is the share of resamples (of those on which both are
	// defined) in which the candidate is better: a higher ROC-AUC or HR@3,
	// a lower ECE.
	BetterShare Num
}

// MetricInterval is one metric of one method with its interval.
type MetricInterval struct {
	Method string
	// Metric names the metric: "ROC-AUC", "ECE" or "HR@3", with
	// " (matched)" for the oracle's matched examples.
	Metric string
	// Value is the figure on the test split, Lo and Hi the interval.
	Value, Lo, Hi Num
}

// BarInterval is the uncertainty of one bar.
type BarInterval struct {
	Name string
	// Margin is how far the model is past the bar on the test split:
	// value − threshold, or threshold − value for the calibration bar, so
	// that a bar passes when Margin ≥ 0 (calibration: > 0). Lo and Hi
	// are its interval: Hi < 0 means the bar is missed by more than the
	// sampling noise of the test split, Lo > 0 that it is met by more.
	Margin, Lo, Hi Num
	// PassShare is the share of resamples in which the bar passes (of
	// those on which it is defined).
	PassShare Num
}

// sortedScores is one method's churn scores in ascending order, for the
// weighted ROC-AUC of many resamples: idx[k] is the example with the k-th
// lowest score and ss[k] that score (NaN scores, always of zero weight,
// sort first as −Inf).
type sortedScores struct {
	idx []int32
	ss  []float64
}

func sortScores(scores []float64) sortedScores {
	s := make([]float64, len(scores))
	for i, v := range scores {
		if math.IsNaN(v) {
			v = math.Inf(-1)
		}
		s[i] = v
	}
	idx := make([]int32, len(s))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(a, b int32) int {
		switch {
		case s[a] < s[b]:
			return -1
		case s[a] > s[b]:
			return 1
		}
		return 0
	})
	ss := make([]float64, len(s))
	for k, i := range idx {
		ss[k] = s[i]
	}
	return sortedScores{idx: idx, ss: ss}
}

// weightedAUC is the ROC-AUC of the examples with weights w (an example of
// weight 3 counts as three copies of it; weight 0 leaves it out):
//
//	AUC = Σ_{i pos, j neg} w_i·w_j·([s_i > s_j] + ½[s_i = s_j]) / (W₊·W₋)
//
// which with unit weights is ROCAUC. NaN without a weighted positive or
// negative.
func weightedAUC(s sortedScores, labels []bool, w []float64) float64 {
	var negBelow, pos, neg, num float64
	idx, ss := s.idx, s.ss
	for a := 0; a < len(idx); {
		b := a + 1
		for b < len(idx) && ss[b] == ss[a] {
			b++
		}
		var gp, gn float64
		for _, k := range idx[a:b] {
			if labels[k] {
				gp += w[k]
			} else {
				gn += w[k]
			}
		}
		num += gp * (negBelow + gn/2)
		negBelow += gn
		pos += gp
		neg += gn
		a = b
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return num / (pos * neg)
}

// eceBins returns the Reliability bin of each probability.
func eceBins(probs []float64) []int8 {
	out := make([]int8, len(probs))
	for i, p := range probs {
		b := int(math.Floor(p * ECEBins))
		out[i] = int8(max(0, min(b, ECEBins-1)))
	}
	return out
}

// weightedECE is ECE with example weights: Σ_b |Σ w·y − Σ w·p| / Σ w over
// the bins of eceBins. With unit weights it is ECE.
func weightedECE(bins []int8, probs []float64, labels []bool, w []float64) float64 {
	var sumY, sumP [ECEBins]float64
	var n float64
	for i, b := range bins {
		if w[i] == 0 {
			continue
		}
		sumP[b] += w[i] * probs[i]
		sumY[b] += w[i] * oneIf(labels[i])
		n += w[i]
	}
	if n == 0 {
		return math.NaN()
	}
	var e float64
	for b := range sumY {
		e += math.Abs(sumY[b] - sumP[b])
	}
	return e / n
}

// weightedMean is Σ w·x / Σ w; NaN when Σ w = 0.
func weightedMean(x, w []float64) float64 {
	var s, n float64
	for i, v := range x {
		s += w[i] * v
		n += w[i]
	}
	if n == 0 {
		return math.NaN()
	}
	return s / n
}

// share is k/n, NaN when n = 0.
func share(k, n int) Num {
	if n == 0 {
		return Num(math.NaN())
	}
	return Num(float64(k) / float64(n))
}

// last returns the last element of v.
func last(v []float64) float64 { return v[len(v)-1] }

// hits3 returns 1 where rank ≤ 3, else 0.
func hits3(ranks []int) []float64 {
	out := make([]float64, len(ranks))
	for i, r := range ranks {
		if r <= 3 {
			out[i] = 1
		}
	}
	return out
}

// percentiles returns the (1−level)/2 and (1+level)/2 empirical quantiles
// of the non-NaN values of v (sorted in place); NaN, NaN when none.
func percentiles(v []float64, level float64) (lo, hi Num) {
	v = slices.DeleteFunc(v, math.IsNaN)
	if len(v) == 0 {
		return Num(math.NaN()), Num(math.NaN())
	}
	slices.Sort(v)
	return Num(stat.Quantile((1-level)/2, stat.Empirical, v, nil)), Num(stat.Quantile((1+level)/2, stat.Empirical, v, nil))
}

// bootstrap computes rep.Uncertainty from the scores collected by s: B
// member resamples drawn with seed. rep's metrics and bars must be
// computed.
func (s *scoring) bootstrap(rep *Report, B int, seed uint64) {
	nm := len(s.memberIDs)
	if nm == 0 || B <= 0 {
		return // nothing to resample: no intervals
	}
	u := &Uncertainty{Resamples: B, Members: nm, Seed: seed, Level: BootstrapLevel}
	rep.Uncertainty = u
	nC, nN := len(s.labels), len(s.nextTier)

	// What every resample reuses: each churn method's sort order, the
	// model's ECE bins, each next method's hits, and the masks of the
	// examples the oracle is matched on.
	sorted := make([]sortedScores, len(s.churnMethods))
	for j := range s.churnMethods {
		sorted[j] = sortScores(s.scores[j])
	}
	// Model slots: the model, then the candidates (when there is a model).
	nmod := 0
	if s.model {
		nmod = 1 + len(s.cands)
	}
	bins := make([][]int8, nmod)
	for j := range bins {
		bins[j] = eceBins(s.scores[j])
	}
	hits := make([][]float64, len(s.nextMethods))
	for j := range s.nextMethods {
		hits[j] = hits3(s.ranks[j])
	}
	truth := s.truth != nil
	var oracleSorted sortedScores
	var matchedC, matchedN []bool
	var oracleOptHits []float64
	if truth {
		oracleSorted = sortScores(s.oracle)
		matchedC = make([]bool, nC)
		for i, p := range s.oracle {
			matchedC[i] = !math.IsNaN(p)
		}
		matchedN = make([]bool, nN)
		for i, r := range s.oracleRank {
			matchedN[i] = r > 0
		}
		oracleOptHits = hits3(s.oracleOpt) // unmatched (rank 0) weigh 0 below
	}

	// The series recomputed per resample.
	type series struct {
		method, metric string
		value          Num
		vals           []float64
	}
	var ser []*series
	add := func(method, metric string, value Num) *series {
		x := &series{method: method, metric: metric, value: value, vals: make([]float64, 0, B)}
		ser = append(ser, x)
		return x
	}
	aucS := make([]*series, len(s.churnMethods))
	for j, name := range s.churnMethods {
		aucS[j] = add(name, "ROC-AUC", rep.Churn[j].All.ROCAUC)
	}
	eceS := make([]*series, nmod)
	for j := range eceS {
		eceS[j] = add(s.churnMethods[j], "ECE", rep.Churn[j].All.ECE)
	}
	hrS := make([]*series, len(s.nextMethods))
	for j, name := range s.nextMethods {
		hrS[j] = add(name, "HR@3", rep.Next[j].All.HR3)
	}
	var mAUCm, oAUCm, mHRm, oHRm *series
	if truth {
		if s.model {
			mAUCm = add(MethodModel, "ROC-AUC (matched)", churnRow(rep.Oracle.Churn, MethodModel).All.ROCAUC)
			mHRm = add(MethodModel, "HR@3 (matched)", nextRow(rep.Oracle.Next, MethodModel).All.HR3)
		}
		oAUCm = add(MethodOracle, "ROC-AUC (matched)", churnRow(rep.Oracle.Churn, MethodOracle).All.ROCAUC)
		oHRm = add(MethodOracle, "HR@3 (matched, ties in its favour)", rep.Oracle.HR3Optimistic)
	}
	// Bars, by name, as in Report.bars.
	barVals := map[string][]float64{}
	barPass := map[string]int{}
	bar := func(name string, margin float64, pass bool) {
		if math.IsNaN(margin) {
			return // undefined on this resample: in neither the interval nor the pass share
		}
		barVals[name] = append(barVals[name], margin)
		if pass {
			barPass[name]++
		}
	}

	r := rand.New(rand.NewPCG(seed, 0x6d656d626f6f7473)) // "memboots"
	cnt := make([]float64, nm)
	wC, wN := make([]float64, nC), make([]float64, nN)
	var wCm, wNm []float64
	if truth {
		wCm, wNm = make([]float64, nC), make([]float64, nN)
	}
	for range B {
		clear(cnt)
		for range nm {
			cnt[r.IntN(nm)]++
		}
		for i, m := range s.churnMem {
			wC[i] = cnt[m]
		}
		for i, m := range s.nextMem {
			wN[i] = cnt[m]
		}
		bestC, bestN := math.NaN(), math.NaN()
		for j := range s.churnMethods {
			a := weightedAUC(sorted[j], s.labels, wC)
			aucS[j].vals = append(aucS[j].vals, a)
			if rep.isBaseline(s.churnMethods[j]) && !math.IsNaN(a) && (math.IsNaN(bestC) || a > bestC) {
				bestC = a
			}
		}
		for j := range s.nextMethods {
			h := weightedMean(hits[j], wN)
			hrS[j].vals = append(hrS[j].vals, h)
			if rep.isBaseline(s.nextMethods[j]) && !math.IsNaN(h) && (math.IsNaN(bestN) || h > bestN) {
				bestN = h
			}
		}
		if truth {
			for i := range wCm {
				wCm[i] = 0
				if matchedC[i] {
					wCm[i] = wC[i]
				}
			}
			for i := range wNm {
				wNm[i] = 0
				if matchedN[i] {
					wNm[i] = wN[i]
				}
			}
			oa := weightedAUC(oracleSorted, s.labels, wCm)
			oAUCm.vals = append(oAUCm.vals, oa)
			oh := weightedMean(oracleOptHits, wNm)
			oHRm.vals = append(oHRm.vals, oh)
			if s.model {
				ma := weightedAUC(sorted[0], s.labels, wCm)
				mAUCm.vals = append(mAUCm.vals, ma)
				mh := weightedMean(hits[0], wNm)
				mHRm.vals = append(mHRm.vals, mh)
				bar(barChurnOracle, ma-BarChurnOracleShare*oa, ma >= BarChurnOracleShare*oa)
				bar(barHR3Oracle, mh-BarHR3OracleShare*oh, mh >= BarHR3OracleShare*oh)
			}
		}
		for j := range nmod {
			// Reflected (basic bootstrap): a resample's ECE is biased
			// upward by the binning noise it adds, so e* is taken as
			// 2ê − e*, floored at 0, before anything uses it.
			e := weightedECE(bins[j], s.scores[j], s.labels, wC)
			eceS[j].vals = append(eceS[j].vals, max(0, 2*float64(eceS[j].value)-e))
		}
		if s.model {
			a := last(aucS[0].vals)
			bar(barChurnBaselines, a-(bestC+BarChurnMargin), a >= bestC+BarChurnMargin)
			e := last(eceS[0].vals)
			bar(barCalibration, BarECE-e, e < BarECE)
			h := last(hrS[0].vals)
			bar(barHR3Baselines, h-(bestN+BarHR3Margin), h >= bestN+BarHR3Margin)
		}
	}

	// The candidates' differences, paired per resample (before the
	// percentiles below sort each series in place).
	for j := 1; j < nmod; j++ {
		for _, m := range []struct {
			name     string
			a, b     *series // model, candidate
			lowerWin bool
		}{{"ROC-AUC", aucS[0], aucS[j], false}, {"ECE", eceS[0], eceS[j], true}, {"HR@3", hrS[0], hrS[j], false}} {
			d := make([]float64, B)
			better, defined := 0, 0
			for k := range d {
				d[k] = m.b.vals[k] - m.a.vals[k]
				if !math.IsNaN(d[k]) {
					defined++
				}
				if (d[k] > 0 && !m.lowerWin) || (d[k] < 0 && m.lowerWin) {
					better++
				}
			}
			lo, hi := percentiles(d, BootstrapLevel)
			u.Comparisons = append(u.Comparisons, Comparison{Candidate: s.churnMethods[j], Metric: m.name,
				Diff: m.b.value - m.a.value, Lo: lo, Hi: hi, BetterShare: share(better, defined)})
		}
	}
	for _, x := range ser {
		lo, hi := percentiles(x.vals, BootstrapLevel)
		u.Metrics = append(u.Metrics, MetricInterval{Method: x.method, Metric: x.metric, Value: x.value, Lo: lo, Hi: hi})
	}
	for _, b := range rep.Bars {
		vals, ok := barVals[b.Name]
		if !ok || b.Status == BarNA {
			continue
		}
		margin := b.Value - b.Threshold
		if b.Name == barCalibration {
			margin = -margin
		}
		lo, hi := percentiles(vals, BootstrapLevel)
		u.Bars = append(u.Bars, BarInterval{Name: b.Name, Margin: margin, Lo: lo, Hi: hi,
			PassShare: share(barPass[b.Name], len(vals))})
	}
}
