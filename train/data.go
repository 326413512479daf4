package train

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"retain/features"
	"retain/model"
)

// trainData holds the training and validation examples of a training file
// in compact, standardised form, read once. The test split is never
// loaded.
//
// Weekly rows are stored once per member, not once per example: the
// examples of a member at successive cutoffs share most of their window. An
// example is the window of T rows [end-T, end) of the shared row store;
// rows before its member's first stored row are masked out (zero).
type trainData struct {
	spec   *features.FeatureSpec
	norm   *features.Normalizer
	inputs model.Inputs

	T, F, S, C int // weeks, sequence features, network static inputs, categories

	rows []float32 // [R, F] standardised; masked-out rows are zero
	mask []float32 // [R]

	train, val exampleSet

	// Skipped counts train and validation examples not used: censored
	// (churn unknown) and excluded ones.
	censored, excluded int64
	// testExamples counts the test split's examples (left alone).
	testExamples int64
	fingerprint  string
}

// exampleSet is one split's examples.
type exampleSet struct {
	first  []int32   // the member's first stored row
	end    []int32   // one past the window's last row
	static []float32 // [n, S], the network's static input
	next   []int32   // next category, -1 if none
	churn  []float32 // 0 or 1
}

func (s *exampleSet) len() int { return len(s.end) }

func (s *exampleSet) positives() int {
	n := 0
	for _, y := range s.churn {
		if y == 1 {
			n++
		}
	}
	return n
}

// fill writes examples idx into the batch buffers b, which must have room
// for len(idx) rows, and sets every row's weight to 1.
func (d *trainData) fill(s *exampleSet, idx []int32, b *model.Batch) {
	T, F, S := d.T, d.F, d.S
	n := len(idx)
	b.X, b.Mask, b.Static = b.X[:n*T*F], b.Mask[:n*T], b.Static[:n*S]
	b.Next, b.Churn, b.Weight = b.Next[:n], b.Churn[:n], b.Weight[:n]
	for i, k := range idx {
		first, end := int(s.first[k]), int(s.end[k])
		x, m := b.X[i*T*F:(i+1)*T*F], b.Mask[i*T:(i+1)*T]
		lo := end - T
		if lo < first { // the window starts before the member's rows
			pad := min(first-lo, T)
			clear(x[:pad*F])
			clear(m[:pad])
			x, m, lo = x[pad*F:], m[pad:], lo+pad
		}
		copy(x, d.rows[lo*F:end*F])
		copy(m, d.mask[lo:end])
		copy(b.Static[i*S:(i+1)*S], s.static[int(k)*S:(int(k)+1)*S])
		b.Next[i] = s.next[k]
		b.Churn[i] = s.churn[k]
		b.Weight[i] = 1
	}
}

// newBatch returns batch buffers for up to n rows.
func (d *trainData) newBatch(n int) *model.Batch {
	return &model.Batch{
		X:      make([]float32, n*d.T*d.F),
		Mask:   make([]float32, n*d.T),
		Static: make([]float32, n*d.S),
		Next:   make([]int32, n),
		Churn:  make([]float32, n),
		Weight: make([]float32, n),
	}
}

// errNoExamples is returned when a split the training needs is empty.
var errNoExamples = errors.New("train: no usable examples")

// loadData reads the training file at path. With indicators set the
// standardised indicators join the static features, with summary the log
// window sums of the count features (model.Inputs).
//
// Examples whose churn label is unknown (Censored) or that cannot churn
// (Excluded) are skipped entirely, although a censored example may still
// have a next-category label: the model's loss has no per-row mask for the
// churn term, and with the default cutoffs (whose horizons end inside the
// data) no training or validation example is censored.
func loadData(path string, indicators, summary bool) (*trainData, error) {
	fp, err := fingerprint(path)
	if err != nil {
		return nil, err
	}
	r, err := features.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer r.Close()
	hdr, ft := r.Header(), r.Footer()
	if ft.Normalizer == nil {
		return nil, fmt.Errorf("train: %s: %w: no normalizer in the footer", path, features.ErrFormat)
	}
	if err := ft.Normalizer.Check(&hdr.Spec); err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	spec := hdr.Spec
	d := &trainData{
		spec:        &spec,
		norm:        ft.Normalizer,
		inputs:      model.Inputs{Normalizer: ft.Normalizer, Indicators: indicators, Summary: summary},
		T:           spec.Config.Weeks,
		F:           len(spec.Sequence),
		C:           len(spec.Categories),
		fingerprint: fp,
	}
	d.inputs.Spec = d.spec
	d.S = d.inputs.StaticWidth()
	// Reserve from the footer's counts so that the arrays grow once.
	for _, name := range []string{"train", "validation"} {
		c := ft.Splits[name]
		s := &d.train
		if name == "validation" {
			s = &d.val
		}
		n := int(c.Examples)
		s.first = make([]int32, 0, n)
		s.end = make([]int32, 0, n)
		s.static = make([]float32, 0, n*d.S)
		s.next = make([]int32, 0, n)
		s.churn = make([]float32, 0, n)
	}
	for {
		blk, err := r.NextBlock()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		d.addBlock(blk)
	}
	switch {
	case d.train.len() == 0:
		return nil, fmt.Errorf("%w: %s has no training examples with a churn label", errNoExamples, path)
	case d.val.len() == 0:
		return nil, fmt.Errorf("%w: %s has no validation examples with a churn label (early stopping and calibration need them)", errNoExamples, path)
	}
	return d, nil
}

// usable reports whether a block example trains the model.
func usable(e *features.BlockExample) bool {
	return (e.Split == features.SplitTrain || e.Split == features.SplitValidation) &&
		!e.Label.Excluded && !e.Label.Censored && e.Label.Churn >= 0
}

// addBlock stores the rows a block's usable examples need and the examples.
func (d *trainData) addBlock(blk *features.MemberBlock) {
	T, F := d.T, d.F
	n := len(blk.Mask)
	lo, hi := n, 0 // rows needed
	used := false
	for k := range blk.Examples {
		e := &blk.Examples[k]
		switch {
		case e.Split == features.SplitTest:
			d.testExamples++
			continue
		case e.Split != features.SplitTrain && e.Split != features.SplitValidation:
			continue
		case e.Label.Excluded:
			d.excluded++
			continue
		case e.Label.Censored || e.Label.Churn < 0:
			d.censored++
			continue
		}
		end := int((e.CutoffDay - blk.FirstDay) / 7)
		lo, hi, used = min(lo, max(end-T, 0)), max(hi, min(end, n)), true
	}
	if !used {
		return
	}
	lo = min(lo, hi)
	// Leading masked-out rows are zero, as are the rows before the block:
	// skip them.
	for lo < hi && blk.Mask[lo] == 0 {
		lo++
	}
	base := len(d.mask) - lo // global index of block row 0
	start := len(d.rows)
	d.rows = append(d.rows, blk.Rows[lo*F:hi*F]...)
	d.mask = append(d.mask, blk.Mask[lo:hi]...)
	for r := range hi - lo {
		if d.mask[base+lo+r] != 0 {
			d.inputs.Row(d.rows[start+r*F : start+(r+1)*F])
		}
	}
	for k := range blk.Examples {
		e := &blk.Examples[k]
		if !usable(e) {
			continue
		}
		s := &d.train
		if e.Split == features.SplitValidation {
			s = &d.val
		}
		end := int((e.CutoffDay - blk.FirstDay) / 7)
		s.first = append(s.first, int32(base+lo))
		s.end = append(s.end, int32(base+min(end, n)))
		s.static = d.inputs.Static(s.static, e.Static, &e.Indicators, blk.Rows[max(end-T, 0)*F:min(end, n)*F])
		s.next = append(s.next, e.Label.NextCategory)
		s.churn = append(s.churn, float32(e.Label.Churn))
	}
}

// fingerprint returns "sha256:" and the hex SHA-256 of the file at path.
func fingerprint(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("train: read %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
