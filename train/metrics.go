package train

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// The metrics of the evaluation. Their exact definitions, including how
// ties are handled, are in docs/evaluation.md; each function repeats its
// own. Scores and labels are parallel slices; a length mismatch panics.
// A metric that is undefined for its input (an AUC without positives or
// without negatives, anything over no examples) is NaN.

// Num is a metric value. NaN means undefined and is written to JSON as null
// (and read back from null as NaN).
type Num float64

// MarshalJSON writes NaN and ±Inf as null.
func (v Num) MarshalJSON() ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads null as NaN.
func (v *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = Num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*v = Num(f)
	return nil
}

func mustSameLen(a, b int) {
	if a != b {
		panic(fmt.Sprintf("train: %d scores but %d labels", a, b))
	}
}

// ROCAUC returns the area under the ROC curve of scores for the binary
// labels: the Mann–Whitney statistic
//
//	AUC = (R₊ − n₊(n₊+1)/2) / (n₊·n₋)
//
// where R₊ is the sum of the ranks (1 = lowest score) of the positives and
// tied scores share the mean of their ranks (midranks), so that a tied
// positive–negative pair counts one half. That equals the trapezoidal area
// under the ROC curve of ROCCurve. NaN without positives or negatives.
func ROCAUC(scores []float64, labels []bool) float64 {
	mustSameLen(len(scores), len(labels))
	idx := argsortAsc(scores)
	var n1, n0 int
	var rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+1+j) / 2 // mean of ranks i+1 .. j
		for _, k := range idx[i:j] {
			if labels[k] {
				n1++
				rankSum += mid
			} else {
				n0++
			}
		}
		i = j
	}
	if n1 == 0 || n0 == 0 {
		return math.NaN()
	}
	return (rankSum - float64(n1)*float64(n1+1)/2) / (float64(n1) * float64(n0))
}

// Point is a point of a curve.
type Point struct{ X, Y float64 }

// ROCCurve returns the ROC curve, (false positive rate, true positive rate)
// from (0,0) to (1,1), with one point per distinct score from the highest
// down: examples with equal scores enter together, so a tie is a diagonal
// segment. Nil without positives or negatives.
func ROCCurve(scores []float64, labels []bool) []Point {
	mustSameLen(len(scores), len(labels))
	n1 := countTrue(labels)
	n0 := len(labels) - n1
	if n1 == 0 || n0 == 0 {
		return nil
	}
	idx := argsortDesc(scores)
	pts := []Point{{0, 0}}
	var tp, fp int
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if labels[idx[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		pts = append(pts, Point{float64(fp) / float64(n0), float64(tp) / float64(n1)})
		i = j
	}
	return pts
}

// AveragePrecision returns the area under the precision–recall curve as
// step-wise average precision (the definition of scikit-learn's
// average_precision_score, no interpolation):
//
//	AP = Σₖ (Rₖ − Rₖ₋₁) · Pₖ
//
// over the distinct scores from the highest down, where Pₖ and Rₖ are the
// precision and recall of flagging every example scoring at least the k-th
// distinct score (R₀ = 0). Tied examples enter together. NaN without
// positives.
func AveragePrecision(scores []float64, labels []bool) float64 {
	mustSameLen(len(scores), len(labels))
	n1 := countTrue(labels)
	if n1 == 0 {
		return math.NaN()
	}
	idx := argsortDesc(scores)
	var tp, n int
	var ap, prevR float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if labels[idx[j]] {
				tp++
			}
			n++
			j++
		}
		r := float64(tp) / float64(n1)
		ap += (r - prevR) * float64(tp) / float64(n)
		prevR = r
		i = j
	}
	return ap
}

// Brier returns the mean squared difference between the probabilities and
// the 0/1 labels. NaN for no examples.
func Brier(probs []float64, labels []bool) float64 {
	mustSameLen(len(probs), len(labels))
	if len(probs) == 0 {
		return math.NaN()
	}
	var s float64
	for i, p := range probs {
		d := p - oneIf(labels[i])
		s += d * d
	}
	return s / float64(len(probs))
}

// ReliabilityBin is one bin of a reliability (calibration) curve.
type ReliabilityBin struct {
	Lo, Hi   float64 // the bin is [Lo, Hi); the last one includes Hi = 1
	Count    int
	MeanProb Num // mean predicted probability in the bin; NaN when empty
	FracPos  Num // observed share of positives in the bin; NaN when empty
}

// Reliability returns the reliability curve of probs: bins equal-width bins
// of [0, 1], bin b = [b/bins, (b+1)/bins), the last one closed at 1;
// probabilities outside [0, 1] are clamped into it. Empty bins are kept
// with NaN means. bins < 1 panics.
func Reliability(probs []float64, labels []bool, bins int) []ReliabilityBin {
	mustSameLen(len(probs), len(labels))
	if bins < 1 {
		panic("train: reliability curve with fewer than one bin")
	}
	out := make([]ReliabilityBin, bins)
	sumP := make([]float64, bins)
	sumY := make([]float64, bins)
	for i, p := range probs {
		b := int(math.Floor(p * float64(bins)))
		b = max(0, min(b, bins-1))
		out[b].Count++
		sumP[b] += p
		sumY[b] += oneIf(labels[i])
	}
	for b := range out {
		out[b].Lo, out[b].Hi = float64(b)/float64(bins), float64(b+1)/float64(bins)
		if out[b].Count == 0 {
			out[b].MeanProb, out[b].FracPos = Num(math.NaN()), Num(math.NaN())
			continue
		}
		out[b].MeanProb = Num(sumP[b] / float64(out[b].Count))
		out[b].FracPos = Num(sumY[b] / float64(out[b].Count))
	}
	return out
}

// ECEBins is the number of equal-width bins of the expected calibration
// error.
const ECEBins = 10

// ECE returns the expected calibration error over the bins of Reliability
// (ECEBins = 10 equal-width bins of [0, 1]), weighted by count:
//
//	ECE = Σ_b (n_b / N) · |mean(y)_b − mean(p)_b|
//
// Empty bins add nothing. NaN for no examples.
func ECE(probs []float64, labels []bool) float64 {
	if len(probs) == 0 {
		mustSameLen(0, len(labels))
		return math.NaN()
	}
	var e float64
	for _, b := range Reliability(probs, labels, ECEBins) {
		if b.Count > 0 {
			e += float64(b.Count) * math.Abs(float64(b.FracPos-b.MeanProb))
		}
	}
	return e / float64(len(probs))
}

// TopShare is the share of the highest-risk examples that PrecisionAtTop
// is reported for (the "top 10 % of risk").
const TopShare = 0.10

// PrecisionAtTop returns the precision among the k = ⌈share·N⌉ examples of
// highest score and its lift, precision / (share of positives among all N).
//
// Ties at the cutoff are handled deterministically and without regard to
// input order: when the k-th highest score s* is shared by t examples of
// which only m fit into the top k (the a examples scoring above s* take the
// rest), those t examples count with weight m/t each, so that
//
//	precision = (positives above s* + m · (positives at s*) / t) / k
//
// which is the expected precision over a random order of the tied
// examples. Both are NaN for no examples, lift also without positives.
func PrecisionAtTop(scores []float64, labels []bool, share float64) (precision, lift float64) {
	mustSameLen(len(scores), len(labels))
	n := len(scores)
	if n == 0 || share <= 0 {
		return math.NaN(), math.NaN()
	}
	k := int(math.Ceil(share*float64(n) - 1e-9))
	k = max(1, min(k, n))
	idx := argsortDesc(scores)
	cut := scores[idx[k-1]]
	var above, posAbove, tied, posTied, pos int
	for i, s := range scores {
		y := labels[i]
		if y {
			pos++
		}
		switch {
		case s > cut:
			above++
			if y {
				posAbove++
			}
		case s == cut:
			tied++
			if y {
				posTied++
			}
		}
	}
	m := k - above
	precision = (float64(posAbove) + float64(m)*float64(posTied)/float64(tied)) / float64(k)
	base := float64(pos) / float64(n)
	if pos == 0 {
		return precision, math.NaN()
	}
	return precision, precision / base
}

// GainCurve returns the cumulative gains curve: the share of examples
// contacted in order of decreasing score (X) against the share of all
// positives among them (Y), one point per distinct score, from (0,0) to
// (1,1); tied examples enter together. Lift at x is Y/x. Nil without
// positives.
func GainCurve(scores []float64, labels []bool) []Point {
	mustSameLen(len(scores), len(labels))
	n1 := countTrue(labels)
	if n1 == 0 {
		return nil
	}
	idx := argsortDesc(scores)
	pts := []Point{{0, 0}}
	var tp, n int
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if labels[idx[j]] {
				tp++
			}
			n++
			j++
		}
		pts = append(pts, Point{float64(n) / float64(len(idx)), float64(tp) / float64(n1)})
		i = j
	}
	return pts
}

// BinaryRule holds the confusion counts of a yes/no rule against the labels.
type BinaryRule struct {
	N, Flagged, TruePositives, Positives int
	// Precision = TruePositives / Flagged, Recall = TruePositives /
	// Positives, FlaggedShare = Flagged / N; NaN with a zero denominator.
	Precision, Recall, FlaggedShare Num
}

// EvalRule returns the confusion counts of flags against labels.
func EvalRule(flags, labels []bool) BinaryRule {
	mustSameLen(len(flags), len(labels))
	r := BinaryRule{N: len(flags)}
	for i, f := range flags {
		if labels[i] {
			r.Positives++
		}
		if f {
			r.Flagged++
			if labels[i] {
				r.TruePositives++
			}
		}
	}
	r.Precision = Num(safeRatio(r.TruePositives, r.Flagged))
	r.Recall = Num(safeRatio(r.TruePositives, r.Positives))
	r.FlaggedShare = Num(safeRatio(r.Flagged, r.N))
	return r
}

func safeRatio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// Rank returns the rank (1 = first) of category truth in the ranking of
// all categories by decreasing score, with ties broken pessimistically:
//
//	rank = 1 + #{j ≠ truth : scores[j] ≥ scores[truth]}
//
// so a category tied with the true one is ranked ahead of it and a constant
// score ranks the truth last. A NaN score counts as ranked ahead. It panics
// if truth is out of range. Evaluate and the validation HR@k of training
// both rank by it.
func Rank[S ~float32 | ~float64](scores []S, truth int) int {
	s := scores[truth]
	r := 1
	for j, v := range scores {
		if j != truth && (v >= s || v != v || s != s) { // x != x: x is NaN
			r++
		}
	}
	return r
}

// rankOptimistic is Rank with ties broken in favour of the truth:
// 1 + #{j ≠ truth : scores[j] > scores[truth]}.
func rankOptimistic(scores []float64, truth int) int {
	s := scores[truth]
	r := 1
	for j, v := range scores {
		if j != truth && v > s {
			r++
		}
	}
	return r
}

// RankMetrics are the next-course ranking metrics over a set of examples,
// each the mean over the examples of a function of the true category's
// rank r (Rank): HR@k = [r ≤ k], MRR = 1/r, NDCG@5 = 1/log₂(r+1) when
// r ≤ 5 else 0 (one relevant category, so the ideal DCG is 1).
type RankMetrics struct {
	Tier  string `json:",omitempty"`
	N     int
	HR1   Num
	HR3   Num
	MRR   Num
	NDCG5 Num
}

// RankSummary returns the ranking metrics of the given ranks.
func RankSummary(ranks []int) RankMetrics {
	m := RankMetrics{N: len(ranks)}
	if len(ranks) == 0 {
		nan := Num(math.NaN())
		m.HR1, m.HR3, m.MRR, m.NDCG5 = nan, nan, nan, nan
		return m
	}
	var h1, h3, rr, nd float64
	for _, r := range ranks {
		if r <= 1 {
			h1++
		}
		if r <= 3 {
			h3++
		}
		rr += 1 / float64(r)
		if r <= 5 {
			nd += 1 / math.Log2(float64(r)+1)
		}
	}
	n := float64(len(ranks))
	m.HR1, m.HR3, m.MRR, m.NDCG5 = Num(h1/n), Num(h3/n), Num(rr/n), Num(nd/n)
	return m
}

// ChurnMetrics are the churn metrics of one method over a set of examples.
// Brier and ECE are NaN for a score that is not a probability (the recency
// rule).
type ChurnMetrics struct {
	Tier      string `json:",omitempty"`
	N         int
	Positives int
	BaseRate  Num
	ROCAUC    Num
	PRAUC     Num // AveragePrecision
	Brier     Num
	ECE       Num
	// PrecisionTop10 and LiftTop10 are PrecisionAtTop with TopShare.
	PrecisionTop10 Num
	LiftTop10      Num
}

// ChurnSummary computes ChurnMetrics of scores against labels;
// probabilistic says whether the scores are probabilities (else Brier and
// ECE are NaN).
func ChurnSummary(scores []float64, labels []bool, probabilistic bool) ChurnMetrics {
	mustSameLen(len(scores), len(labels))
	m := ChurnMetrics{N: len(scores)}
	m.Positives = countTrue(labels)
	m.BaseRate = Num(safeRatio(m.Positives, m.N))
	m.ROCAUC = Num(ROCAUC(scores, labels))
	m.PRAUC = Num(AveragePrecision(scores, labels))
	nan := Num(math.NaN())
	m.Brier, m.ECE = nan, nan
	if probabilistic {
		m.Brier = Num(Brier(scores, labels))
		m.ECE = Num(ECE(scores, labels))
	}
	p, l := PrecisionAtTop(scores, labels, TopShare)
	m.PrecisionTop10, m.LiftTop10 = Num(p), Num(l)
	return m
}

// argsortAsc returns the indices of s in increasing order of s, equal
// values in index order.
func argsortAsc(s []float64) []int {
	idx := make([]int, len(s))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return s[idx[a]] < s[idx[b]] })
	return idx
}

// argsortDesc returns the indices of s in decreasing order of s, equal
// values in index order.
func argsortDesc(s []float64) []int {
	idx := make([]int, len(s))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return s[idx[a]] > s[idx[b]] })
	return idx
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// countTrue returns the number of true labels (the positives).
func countTrue(labels []bool) int {
	n := 0
	for _, y := range labels {
		if y {
			n++
		}
	}
	return n
}
