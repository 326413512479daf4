package features

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
)

// Normalizer standardises sequence features and indicators with means and
// standard deviations fitted on the training split only. It is stored in
// the training file's footer and, by package model, in the model bundle.
type Normalizer struct {
	// Sequence names the sequence features; Mean and Std are theirs, over
	// the masked-in steps of the training examples (a week that appears in
	// k training windows counts k times).
	Sequence  []string
	Mean, Std []float64
	// Steps is the number of masked-in steps fitted.
	Steps float64
	// Indicators names the indicators; IndicatorMean and IndicatorStd are
	// theirs over the training examples.
	Indicators                  []string
	IndicatorMean, IndicatorStd []float64
	// Static names the static features and StaticMean holds their means
	// over the training examples. The network reads static features as
	// they are (nothing standardises them); the means are the "average
	// member" that the scoring server's occlusion attribution puts in place
	// of a group's static features. Bundles written before they existed
	// have neither (the attribution then leaves static features alone).
	Static     []string  `json:",omitempty"`
	StaticMean []float64 `json:",omitempty"`
	// Examples is the number of training examples fitted.
	Examples int64
}

// minStd replaces a standard deviation below it, so that a constant feature
// maps to 0 instead of dividing by zero.
const minStd = 1e-6

// Apply standardises ex.Seq in place: (x-Mean)/Std on masked-in steps;
// masked-out steps stay 0. It panics if ex does not match the normalizer's
// width.
func (n *Normalizer) Apply(ex *Example) {
	F := len(n.Mean)
	if F == 0 || len(ex.Seq) != len(ex.Mask)*F {
		panic(fmt.Sprintf("features: Normalizer.Apply: %d sequence values for %d steps of %d features", len(ex.Seq), len(ex.Mask), F))
	}
	for t, m := range ex.Mask {
		if m == 0 {
			continue
		}
		row := ex.Seq[t*F : (t+1)*F]
		for j := range row {
			row[j] = float32((float64(row[j]) - n.Mean[j]) / n.Std[j])
		}
	}
}

// ApplyIndicators returns the standardised indicator vector of in.
func (n *Normalizer) ApplyIndicators(in *Indicators, dst []float64) []float64 {
	start := len(dst)
	dst = in.Vector(dst)
	for j := range dst[start:] {
		dst[start+j] = (dst[start+j] - n.IndicatorMean[j]) / n.IndicatorStd[j]
	}
	return dst
}

// NormalizerFitter accumulates training examples for a Normalizer.
type NormalizerFitter struct {
	seqNames, indNames []string
	staticNames        []string
	steps              float64
	sum, sumsq         []float64
	examples           int64
	isum, isumsq       []float64
	ivec               []float64
	ssum               []float64
}

// NewNormalizerFitter returns a fitter for spec's features.
func NewNormalizerFitter(spec *FeatureSpec) *NormalizerFitter {
	F, K := len(spec.Sequence), len(spec.Indicators)
	return &NormalizerFitter{
		seqNames: slices.Clone(spec.Sequence), indNames: slices.Clone(spec.Indicators),
		staticNames: slices.Clone(spec.Static),
		sum:         make([]float64, F), sumsq: make([]float64, F),
		isum: make([]float64, K), isumsq: make([]float64, K),
		ssum: make([]float64, len(spec.Static)),
	}
}

// Add adds one training example. The caller decides which examples are
// training examples (normally Split == SplitTrain and not Label.Excluded).
func (nf *NormalizerFitter) Add(ex *Example) {
	F := len(nf.sum)
	for t, m := range ex.Mask {
		if m == 0 {
			continue
		}
		nf.addRow(ex.Seq[t*F:(t+1)*F], 1)
	}
	nf.addExample(ex.Static, &ex.Indicators)
}

func (nf *NormalizerFitter) addRow(row []float32, w float64) {
	nf.steps += w
	for j, x := range row {
		v := float64(x)
		nf.sum[j] += w * v
		nf.sumsq[j] += w * v * v
	}
}

// addExample adds one training example's static features and indicators.
func (nf *NormalizerFitter) addExample(static []float32, in *Indicators) {
	if len(static) != len(nf.ssum) {
		panic(fmt.Sprintf("features: NormalizerFitter: %d static values, want %d", len(static), len(nf.ssum)))
	}
	for j, v := range static {
		nf.ssum[j] += float64(v)
	}
	nf.examples++
	nf.ivec = in.Vector(nf.ivec[:0])
	for j, v := range nf.ivec {
		nf.isum[j] += v
		nf.isumsq[j] += v * v
	}
}

// addBlock adds the training examples of blk, weighting each row by the
// number of training windows that contain it. It equals calling Add on each
// training example's window, up to floating-point summation order.
func (nf *NormalizerFitter) addBlock(blk *MemberBlock, weeks int) {
	F := len(nf.sum)
	n := len(blk.Mask)
	var diff []int32
	for k := range blk.Examples {
		e := &blk.Examples[k]
		if e.Split != SplitTrain || e.Label.Excluded {
			continue
		}
		if diff == nil {
			diff = make([]int32, n+1)
		}
		end := int((e.CutoffDay - blk.FirstDay) / 7)
		diff[max(end-weeks, 0)]++
		diff[min(end, n)]--
		nf.addExample(e.Static, &e.Indicators)
	}
	if diff == nil {
		return
	}
	var mult int32
	for r := 0; r < n; r++ {
		mult += diff[r]
		if mult > 0 && blk.Mask[r] != 0 {
			nf.addRow(blk.Rows[r*F:(r+1)*F], float64(mult))
		}
	}
}

// Normalizer returns the fitted normalizer. With no data every mean is 0
// and every deviation 1.
func (nf *NormalizerFitter) Normalizer() *Normalizer {
	n := &Normalizer{
		Sequence: slices.Clone(nf.seqNames), Indicators: slices.Clone(nf.indNames),
		Steps: nf.steps, Examples: nf.examples,
	}
	n.Mean, n.Std = meanStd(nf.sum, nf.sumsq, nf.steps)
	n.IndicatorMean, n.IndicatorStd = meanStd(nf.isum, nf.isumsq, float64(nf.examples))
	n.Static = slices.Clone(nf.staticNames)
	n.StaticMean = make([]float64, len(nf.ssum))
	if nf.examples > 0 {
		for j, v := range nf.ssum {
			n.StaticMean[j] = v / float64(nf.examples)
		}
	}
	return n
}

func meanStd(sum, sumsq []float64, n float64) (mean, std []float64) {
	mean = make([]float64, len(sum))
	std = make([]float64, len(sum))
	for j := range sum {
		std[j] = 1
		if n <= 0 {
			continue
		}
		mean[j] = sum[j] / n
		if v := sumsq[j]/n - mean[j]*mean[j]; v > minStd*minStd {
			std[j] = math.Sqrt(v)
		}
	}
	return mean, std
}

// WriteJSON writes the normalizer to path as JSON.
func (n *Normalizer) WriteJSON(path string) error {
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return fmt.Errorf("features: encode normalizer: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("features: write normalizer: %w", err)
	}
	return nil
}

// ReadNormalizer reads a normalizer written by WriteJSON and checks it
// against spec.
func ReadNormalizer(path string, spec *FeatureSpec) (*Normalizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("features: read normalizer: %w", err)
	}
	var n Normalizer
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("features: decode normalizer %s: %w", path, err)
	}
	if err := n.Check(spec); err != nil {
		return nil, err
	}
	return &n, nil
}

// Check reports whether n fits spec's features.
func (n *Normalizer) Check(spec *FeatureSpec) error {
	if !slices.Equal(n.Sequence, spec.Sequence) || len(n.Mean) != len(n.Sequence) || len(n.Std) != len(n.Sequence) {
		return fmt.Errorf("%w: normalizer sequence features differ from the spec", ErrSpec)
	}
	if !slices.Equal(n.Indicators, spec.Indicators) || len(n.IndicatorMean) != len(n.Indicators) || len(n.IndicatorStd) != len(n.Indicators) {
		return fmt.Errorf("%w: normalizer indicators differ from the spec", ErrSpec)
	}
	for _, s := range append(slices.Clone(n.Std), n.IndicatorStd...) {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("%w: normalizer has a standard deviation of %v", ErrSpec, s)
		}
	}
	if len(n.Static)+len(n.StaticMean) > 0 {
		if !slices.Equal(n.Static, spec.Static) || len(n.StaticMean) != len(n.Static) {
			return fmt.Errorf("%w: normalizer static features differ from the spec", ErrSpec)
		}
		for j, m := range n.StaticMean {
			if math.IsNaN(m) || math.IsInf(m, 0) {
				return fmt.Errorf("%w: normalizer static mean of %s is %v", ErrSpec, n.Static[j], m)
			}
		}
	}
	return nil
}
