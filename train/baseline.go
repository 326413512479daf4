package train

import (
	"fmt"
	"math"

	"retain/features"
)

// The baselines: the simple methods a gym analyst would otherwise use. All
// are fitted on the training split only and scored on the test split of the
// same training file (Evaluate). Their definitions are in
// docs/evaluation.md.

// Method names of the report rows.
const (
	MethodModel        = "model"
	MethodOracle       = "oracle"
	MethodBaseRate     = "base rate"
	MethodRecency      = "recency rule"
	MethodLogistic     = "logistic regression"
	MethodPopularity   = "popularity"
	MethodMostFrequent = "most frequent"
	MethodMarkov       = "markov chain"
)

// seqLayout locates the columns of a sequence window that the baselines
// read.
type seqLayout struct {
	f, weeks int
	// classCol[k] is the column of the classes attended of category k.
	classCol []int
}

func newSeqLayout(spec *features.FeatureSpec) (seqLayout, error) {
	l := seqLayout{f: len(spec.Sequence), weeks: spec.Config.Weeks, classCol: make([]int, len(spec.Categories))}
	col := map[string]int{}
	for i, n := range spec.Sequence {
		col[n] = i
	}
	for k, c := range spec.Categories {
		i, ok := col["class_"+c]
		if !ok {
			return l, fmt.Errorf("train: sequence features have no column class_%s", c)
		}
		l.classCol[k] = i
	}
	return l, nil
}

// classCounts sets dst[k] to the classes of category k attended in the
// whole window seq (rows oldest first) and returns dst.
func (l seqLayout) classCounts(seq []float32, dst []float64) []float64 {
	clear(dst)
	for r := 0; r+l.f <= len(seq); r += l.f {
		row := seq[r : r+l.f]
		for k, c := range l.classCol {
			dst[k] += float64(row[c])
		}
	}
	return dst
}

// lastClassWeek sets dst[k] to the classes of category k in the most recent
// week of seq with any class and reports whether there was one.
func (l seqLayout) lastClassWeek(seq []float32, dst []float64) bool {
	clear(dst)
	for r := len(seq) - l.f; r >= 0; r -= l.f {
		row := seq[r : r+l.f]
		hasClass := false
		for k, c := range l.classCol {
			dst[k] = float64(row[c])
			hasClass = hasClass || row[c] > 0
		}
		if hasClass {
			return true
		}
	}
	clear(dst)
	return false
}

// Popularity ranks the categories by how often each was the next category
// in the training split.
type Popularity struct {
	// P[k] is the share of training examples with a next class whose next
	// class was of category k.
	P []float64
}

// Scores writes the popularity of every category to dst.
func (p *Popularity) Scores(dst []float64) { copy(dst, p.P) }

// MostFrequent ranks the categories by how many classes of each the member
// attended in the sequence window (Config.Weeks weeks before the cutoff),
// ties and members without classes falling back to popularity:
// score[k] = count[k] + Pop[k]/2 (Pop[k]/2 < 1 never overturns a count).
type MostFrequent struct {
	Pop []float64
}

// Scores writes the scores of the member with the given per-category class
// counts to dst.
func (m *MostFrequent) Scores(counts, dst []float64) {
	for k := range dst {
		dst[k] = counts[k] + m.Pop[k]/2
	}
}

// Markov is a first-order Markov chain over categories: the next category
// given the last category attended before the cutoff, with transition
// counts from the training split.
//
// The training file holds weekly class counts per category, not the order
// of classes within a week, so "the last category" is approximated by the
// most recent week of the window with a class: its categories weighted by
// their counts, w[c] = n[c] / Σn. A training example adds w[c] to
// Counts[c][next]; the score of category k is
//
//	Σ_c w[c] · (Counts[c][k] + Alpha·Pop[k]) / (Σ_k' Counts[c][k'] + Alpha)
//
// (additive smoothing towards popularity), and popularity for a member
// without a class in the window.
type Markov struct {
	Counts [][]float64
	Pop    []float64
	// Alpha is the weight of the popularity prior in pseudo-transitions.
	Alpha float64
}

// Scores writes the scores of the member whose most recent week with a
// class had the per-category counts last (all zero: none) to dst.
func (m *Markov) Scores(last, dst []float64) {
	var tot float64
	for _, v := range last {
		tot += v
	}
	if tot == 0 {
		copy(dst, m.Pop)
		return
	}
	clear(dst)
	for c, n := range last {
		if n == 0 {
			continue
		}
		w := n / tot
		var row float64
		for _, v := range m.Counts[c] {
			row += v
		}
		for k := range dst {
			dst[k] += w * (m.Counts[c][k] + m.Alpha*m.Pop[k]) / (row + m.Alpha)
		}
	}
}

// churnFeatures appends the logistic-regression features of in to dst: the
// indicator vector (features.Indicators.Vector, FeatureSpec.Indicators
// order) and log1p of recency, frequency, monetary (clamped at 0, in
// major units), tenure and the visits of the last and previous 8 weeks.
func churnFeatures(in *features.Indicators, minorUnits int, dst []float64) []float64 {
	dst = in.Vector(dst)
	money := math.Max(float64(in.Monetary), 0) / math.Pow10(minorUnits)
	return append(dst,
		math.Log1p(float64(max(in.RecencyDays, 0))),
		math.Log1p(float64(max(in.Frequency, 0))),
		math.Log1p(money),
		math.Log1p(float64(max(in.TenureDays, 0))),
		math.Log1p(float64(max(in.VisitsLast, 0))),
		math.Log1p(float64(max(in.VisitsPrev, 0))),
	)
}

// churnFeatureNames names the columns of churnFeatures.
func churnFeatureNames(spec *features.FeatureSpec) []string {
	return append(append([]string(nil), spec.Indicators...),
		"log1p_recency_days", "log1p_frequency_52w", "log1p_monetary_52w_major",
		"log1p_tenure_days", "log1p_visits_last", "log1p_visits_prev")
}
