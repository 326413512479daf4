package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"retain/features"
)

// The bundle file ("RTMB", retain model bundle) is documented in
// docs/model-bundle.md. In short, all integers little-endian:
//
//	"RTMB" | uint32 version | uint64 m | m bytes of JSON manifest
//	| uint64 n | n float32 weights (Params.Data)
//	| 32 bytes SHA-256 of everything before them

// BundleVersion is the version of the bundle file format that Save writes
// and Load reads.
const BundleVersion = 1

const (
	bundleMagic = "RTMB"
	bundleHead  = 4 + 4 + 8 // magic, version, manifest length
	// maxBundleDim bounds every dimension of a loaded Config, so that the
	// weight count of a hostile manifest cannot overflow.
	maxBundleDim = 1 << 16
	// MaxBundleBytes is the largest bundle file Load reads.
	MaxBundleBytes = 1 << 30
)

// Sentinel errors of Load, Decode and CheckCompatible, checked with
// errors.Is.
var (
	// ErrNotBundle: the data does not start with the bundle magic.
	ErrNotBundle = errors.New("model: not a model bundle")
	// ErrVersion: the bundle's format version is not one this package
	// reads.
	ErrVersion = errors.New("model: unsupported bundle version")
	// ErrCorrupt: the bundle is truncated, fails its checksum, or its parts
	// contradict each other.
	ErrCorrupt = errors.New("model: corrupt bundle")
	// ErrIncompatible: the bundle is intact but does not fit the features
	// it is asked to serve (or this package's feature definitions).
	ErrIncompatible = errors.New("model: incompatible bundle")
)

// Calibration maps the network's churn logit z to a calibrated probability
// σ(A·z + B): Platt scaling on the logit; temperature scaling is the case
// B = 0, A = 1/temperature. The zero value is the identity.
type Calibration struct {
	// Method says how A and B were fitted: "platt", "temperature", or
	// "" / "none" for the identity.
	Method string
	// A and B are the slope and intercept on the logit. With Method "" or
	// "none" they are ignored.
	A, B float64
	// Examples is the number of validation examples of the fit.
	Examples int
	// LogLossBefore and LogLossAfter are the fit examples' log-loss of the
	// raw and of the calibrated probabilities.
	LogLossBefore, LogLossAfter float64
}

// Identity reports whether c leaves the logit unchanged.
func (c Calibration) Identity() bool { return c.Method == "" || c.Method == "none" }

// Logit returns the calibrated logit A·z + B of the raw churn logit z.
func (c Calibration) Logit(z float64) float64 {
	if c.Identity() {
		return z
	}
	return c.A*z + c.B
}

// Prob returns the calibrated churn probability of the raw churn logit z.
func (c Calibration) Prob(z float64) float64 { return 1 / (1 + math.Exp(-c.Logit(z))) }

// NextBlend pools the network's next-category logits z with the choice
// model of package features (the static columns choice_log_pred_<category>,
// logarithms of its predicted distribution up to a constant), as a
// log-linear pool fitted on the validation split: the next-category
// distribution is softmax(A·z + B·c). The choice model is fitted on the
// data of the members' whole histories and the network on the training
// split's cutoffs, whose histories are shorter than the later cutoffs'; the
// pool's two weights are fitted where the model is used, on the most
// recent held-out data. The zero value (A = B = 0) leaves the logits alone.
type NextBlend struct {
	// A and B weigh the network's logits and the choice columns.
	A, B float64
	// Column is the index in Spec.Static of the first choice column
	// (features.StaticChoicePrefix + Spec.Categories[0]); the Classes
	// columns from it are the choice model's.
	Column int
	// Examples is the number of validation examples of the fit;
	// LogLossBefore and LogLossAfter their next-category cross-entropy of
	// the network alone and of the pool.
	Examples                    int
	LogLossBefore, LogLossAfter float64
}

// Identity reports whether nb leaves the logits unchanged.
func (nb NextBlend) Identity() bool { return nb.A == 0 && nb.B == 0 }

// Apply replaces the next-category logits z (len Classes) of one example
// with the pool's, reading the choice columns from the example's raw
// static features static.
func (nb NextBlend) Apply(z []float32, static []float32) {
	if nb.Identity() {
		return
	}
	c := static[nb.Column : nb.Column+len(z)]
	for k := range z {
		z[k] = float32(nb.A*float64(z[k]) + nb.B*float64(c[k]))
	}
}

// Prediction is a bundle's output for one example.
type Prediction struct {
	// ChurnLogit is the network's raw churn logit, before calibration.
	ChurnLogit float64
	// Churn is the calibrated churn probability.
	Churn float64
	// NextCategory is the softmax distribution of the next class category,
	// indexed like Spec.Categories. Predict reuses its array when it is
	// big enough.
	NextCategory []float64
}

// Inputs turns the raw features of package features into the network's
// inputs. Training and serving both use it, so that they cannot disagree.
//
// The sequence rows are standardised with the normaliser. The static input
// is the static features as they are; then, with Indicators, the
// standardised indicators; then, with Summary, for each count feature of the
// sequence (visits, open-gym visits and each class category, see
// SummaryColumns) log(1 + its sum over the window's weeks). The summaries
// give the next-category head the member's category counts directly, which
// an LSTM otherwise has to learn to add up over 26 steps: on the demo
// data's validation split they lowered the next-category cross-entropy from
// 1.89 to 1.80 (docs/model-bundle.md).
type Inputs struct {
	Spec       *features.FeatureSpec
	Normalizer *features.Normalizer
	// Indicators appends the standardised indicators to the static
	// features.
	Indicators bool
	// Summary appends the log window sums of the count features.
	Summary bool

	sumCols []int // SummaryColumns(Spec), set by Bundle.Inputs; nil: computed per call
}

// summaryColumns returns SummaryColumns(in.Spec), cached when in came from
// Bundle.Inputs.
func (in Inputs) summaryColumns() []int {
	if in.sumCols != nil {
		return in.sumCols
	}
	return SummaryColumns(in.Spec)
}

// SummaryColumns returns the indices in spec.Sequence of the count features
// that Summary sums: visits, open-gym visits and the class categories.
func SummaryColumns(spec *features.FeatureSpec) []int {
	var cols []int
	for j, name := range spec.Sequence {
		if name == features.SeqVisits || name == features.SeqOpenGym || strings.HasPrefix(name, "class_") {
			cols = append(cols, j)
		}
	}
	return cols
}

// StaticWidth returns the width of the network's static input.
func (in Inputs) StaticWidth() int {
	w := len(in.Spec.Static)
	if in.Indicators {
		w += len(in.Spec.Indicators)
	}
	if in.Summary {
		w += len(in.summaryColumns())
	}
	return w
}

// Row standardises one masked-in weekly row in place, exactly as
// features.Normalizer.Apply does. Rows of masked-out weeks stay zero and
// must not be passed.
func (in Inputs) Row(row []float32) {
	n := in.Normalizer
	for j := range row {
		row[j] = float32((float64(row[j]) - n.Mean[j]) / n.Std[j])
	}
}

// Static appends the network's static input of one example to dst. window
// holds the example's raw (unstandardised) weekly rows, oldest first;
// masked-out weeks are zero rows and may be left out.
func (in Inputs) Static(dst []float32, static []float32, ind *features.Indicators, window []float32) []float32 {
	dst = append(dst, static...)
	n := in.Normalizer
	if in.Indicators {
		var buf [64]float64
		for j, v := range ind.Vector(buf[:0]) {
			dst = append(dst, float32((v-n.IndicatorMean[j])/n.IndicatorStd[j]))
		}
	}
	if in.Summary {
		F := len(in.Spec.Sequence)
		for _, j := range in.summaryColumns() {
			var sum float64
			for r := j; r < len(window); r += F {
				sum += float64(window[r])
			}
			dst = append(dst, float32(math.Log1p(max(sum, 0))))
		}
	}
	return dst
}

// Bundle is a trained model with everything needed to serve it: weights,
// feature spec and normaliser, calibration and provenance. The file format
// is documented in docs/model-bundle.md.
type Bundle struct {
	// Config is the network's shape and loss weights; Params.Config equals
	// it.
	Config Config
	// Params are the weights.
	Params *Params
	// Spec is the feature specification the model was trained on. It holds
	// the category and course vocabularies (Spec.Categories, Spec.Courses,
	// Spec.CourseCategory) and the label definition (Spec.Config.Label,
	// Spec.Config.HorizonWeeks).
	Spec *features.FeatureSpec
	// Normalizer standardises the sequence features and indicators; it
	// was fitted on the training split.
	Normalizer *features.Normalizer
	// Indicators and Summary say what follows the static features in the
	// network's static input (see Inputs).
	Indicators, Summary bool
	// Calibration maps the churn logit to a probability.
	Calibration Calibration
	// NextBlend pools the next-category logits with the features' choice
	// model; the zero value leaves them alone.
	NextBlend NextBlend
	// Training holds the training options as JSON (package train's
	// Options), for the record.
	Training json.RawMessage
	// Metrics are named figures (validation loss, AUC, ...), filled by
	// train; evaluate may add its own. Values must be finite.
	Metrics map[string]float64
	// DataFingerprint is "sha256:" and the hex SHA-256 of the training
	// file the model was trained on.
	DataFingerprint string
	// Created is when the bundle was made (UTC).
	Created time.Time
}

// bundleManifest is the JSON manifest of the file.
type bundleManifest struct {
	Format          string
	Created         time.Time
	Config          Config
	Indicators      bool
	Summary         bool
	Calibration     Calibration
	NextBlend       NextBlend `json:",omitzero"`
	Spec            *features.FeatureSpec
	Normalizer      *features.Normalizer
	Training        json.RawMessage `json:",omitempty"`
	Metrics         map[string]float64
	DataFingerprint string
	Weights         int
}

const bundleFormat = "retain-model-bundle"

// Inputs returns the bundle's input encoding.
func (b *Bundle) Inputs() Inputs {
	return Inputs{Spec: b.Spec, Normalizer: b.Normalizer, Indicators: b.Indicators, Summary: b.Summary, sumCols: SummaryColumns(b.Spec)}
}

// Validate checks that the bundle's parts agree with each other and with
// this package's feature definitions: Config valid, weights of its shape and
// finite, spec and normaliser consistent, the network's input and output
// widths those of the spec. Errors wrap ErrCorrupt, or ErrIncompatible
// when the spec is of another features version.
func (b *Bundle) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	c := b.Config
	for _, d := range []int{c.Steps, c.Inputs, c.Static, c.Hidden, c.Layers, c.Classes} {
		if d < 0 || d > maxBundleDim {
			return bad("config %+v has a dimension outside [0, %d]", c, maxBundleDim)
		}
	}
	if err := c.Validate(); err != nil {
		return bad("%v", err)
	}
	if c != c.WithDefaults() {
		return bad("config %+v has unset fields", c)
	}
	if b.Params == nil || b.Params.Config != c || len(b.Params.Data) != NumParams(c) {
		return bad("weights do not have the shape of config %+v", c)
	}
	for i, w := range b.Params.Data {
		if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			return bad("weight %d is %v", i, w)
		}
	}
	if b.Spec == nil || b.Normalizer == nil {
		return bad("no feature spec or normalizer")
	}
	if b.Spec.Version != features.Version {
		return fmt.Errorf("%w: features version %d, this build computes version %d", ErrIncompatible, b.Spec.Version, features.Version)
	}
	if err := b.Spec.Check(); err != nil {
		return bad("%v", err)
	}
	if err := b.Normalizer.Check(b.Spec); err != nil {
		return bad("%v", err)
	}
	for _, m := range append(slices.Clone(b.Normalizer.Mean), b.Normalizer.IndicatorMean...) {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return bad("normalizer has a mean of %v", m)
		}
	}
	switch {
	case c.Steps != b.Spec.Config.Weeks:
		return bad("network reads %d weeks, the spec has %d", c.Steps, b.Spec.Config.Weeks)
	case c.Inputs != len(b.Spec.Sequence):
		return bad("network reads %d sequence features, the spec has %d", c.Inputs, len(b.Spec.Sequence))
	case c.Static != b.Inputs().StaticWidth():
		return bad("network reads %d static inputs, the spec gives %d", c.Static, b.Inputs().StaticWidth())
	case c.Classes != len(b.Spec.Categories):
		return bad("network predicts %d categories, the spec has %d", c.Classes, len(b.Spec.Categories))
	}
	cal := b.Calibration
	switch cal.Method {
	case "", "none", "platt", "temperature":
	default:
		return bad("unknown calibration method %q", cal.Method)
	}
	if !finite(cal.A) || !finite(cal.B) {
		return bad("calibration A = %v, B = %v", cal.A, cal.B)
	}
	if nb := b.NextBlend; !nb.Identity() {
		if !finite(nb.A) || !finite(nb.B) {
			return bad("next-category pool A = %v, B = %v", nb.A, nb.B)
		}
		if want := b.Spec.ChoiceColumn(); want < 0 || nb.Column != want || nb.Column+c.Classes > len(b.Spec.Static) {
			return bad("next-category pool reads static column %d; the spec's choice columns start at %d", nb.Column, want)
		}
	}
	for k, v := range b.Metrics {
		if !finite(v) {
			return bad("metric %q is %v", k, v)
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// CheckCompatible reports whether the bundle can serve examples computed
// with spec: same features version, the same sequence, static and
// indicator features in the same order, the same weeks per sequence and the
// same categories. The error wraps ErrIncompatible and names the first
// difference.
func (b *Bundle) CheckCompatible(spec *features.FeatureSpec) error {
	bs := b.Spec
	diff := func(what string, got, want any) error {
		return fmt.Errorf("%w: %s: bundle has %v, features have %v", ErrIncompatible, what, got, want)
	}
	switch {
	case spec == nil:
		return fmt.Errorf("%w: no feature spec", ErrIncompatible)
	case bs.Version != spec.Version:
		return diff("features version", bs.Version, spec.Version)
	case bs.Config.Weeks != spec.Config.Weeks:
		return diff("weeks per sequence", bs.Config.Weeks, spec.Config.Weeks)
	case !slices.Equal(bs.Sequence, spec.Sequence):
		return diff("sequence features", bs.Sequence, spec.Sequence)
	case !slices.Equal(bs.Static, spec.Static):
		return diff("static features", bs.Static, spec.Static)
	case b.Indicators && !slices.Equal(bs.Indicators, spec.Indicators):
		return diff("indicators", bs.Indicators, spec.Indicators)
	case !slices.Equal(bs.Categories, spec.Categories):
		return diff("categories", bs.Categories, spec.Categories)
	}
	return nil
}

// predictScratch is the per-call memory of Predict.
type predictScratch struct {
	batch Batch
	out   Output
	ws    Workspace
}

var predictPool = sync.Pool{New: func() any { return new(predictScratch) }}

// Predict computes the calibrated churn probability and the next-category
// distribution of ex, which carries raw (unnormalised) features as package
// features computes them for the bundle's spec. It does not modify ex and
// is safe for concurrent use.
func (b *Bundle) Predict(ex *features.Example, out *Prediction) error {
	c := b.Config
	T, F, S := c.Steps, c.Inputs, len(b.Spec.Static)
	if len(ex.Mask) != T || len(ex.Seq) != T*F || len(ex.Static) != S {
		return fmt.Errorf("model: example of %d weeks, %d sequence and %d static values; the bundle needs %d, %d and %d",
			len(ex.Mask), len(ex.Seq), len(ex.Static), T, T*F, S)
	}
	s := predictPool.Get().(*predictScratch)
	defer predictPool.Put(s)
	in := b.Inputs()
	bt := &s.batch
	bt.X = append(bt.X[:0], ex.Seq...)
	bt.Mask = append(bt.Mask[:0], ex.Mask...)
	for t, m := range ex.Mask {
		if m != 0 {
			in.Row(bt.X[t*F : (t+1)*F])
		}
	}
	bt.Static = in.Static(bt.Static[:0], ex.Static, &ex.Indicators, ex.Seq)
	if err := b.Params.ForwardWith(&s.ws, bt, &s.out); err != nil {
		return err
	}
	z := float64(s.out.ChurnLogit[0])
	out.ChurnLogit = z
	out.Churn = b.Calibration.Prob(z)
	b.NextBlend.Apply(s.out.ClassLogits[:c.Classes], ex.Static)
	out.NextCategory = Softmax(out.NextCategory, s.out.ClassLogits[:c.Classes])
	return nil
}

// Softmax writes the softmax of logits to dst (resized to len(logits)) and
// returns it.
func Softmax(dst []float64, logits []float32) []float64 {
	if cap(dst) < len(logits) {
		dst = make([]float64, len(logits))
	}
	dst = dst[:len(logits)]
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for i, v := range logits {
		e := math.Exp(float64(v) - mx)
		dst[i] = e
		sum += e
	}
	for i := range dst {
		dst[i] /= sum
	}
	return dst
}

// Encode returns the bundle in the file format. It fails when the bundle
// does not pass Validate.
func (b *Bundle) Encode() ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("model: encode bundle: %w", err)
	}
	m := bundleManifest{
		Format:          bundleFormat,
		Created:         b.Created.UTC(),
		Config:          b.Config,
		Indicators:      b.Indicators,
		Summary:         b.Summary,
		Calibration:     b.Calibration,
		NextBlend:       b.NextBlend,
		Spec:            b.Spec,
		Normalizer:      b.Normalizer,
		Training:        b.Training,
		Metrics:         b.Metrics,
		DataFingerprint: b.DataFingerprint,
		Weights:         len(b.Params.Data),
	}
	js, err := json.MarshalIndent(&m, "", " ")
	if err != nil {
		return nil, fmt.Errorf("model: encode bundle manifest: %w", err)
	}
	n := len(b.Params.Data)
	buf := make([]byte, 0, bundleHead+len(js)+8+4*n+sha256.Size)
	buf = append(buf, bundleMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, BundleVersion)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(js)))
	buf = append(buf, js...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(n))
	for _, w := range b.Params.Data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(w))
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...), nil
}

// Decode parses a bundle in the file format and validates it (Validate).
// It refuses data that is not a bundle (ErrNotBundle), of another format
// version (ErrVersion), truncated, failing its checksum or inconsistent
// (ErrCorrupt), or made for other feature definitions (ErrIncompatible).
// It never panics.
func Decode(data []byte) (*Bundle, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if k := min(len(data), len(bundleMagic)); !bytes.Equal(data[:k], []byte(bundleMagic)[:k]) {
		return nil, fmt.Errorf("%w: starts with %q, want %q", ErrNotBundle, data[:k], bundleMagic)
	}
	if len(data) < bundleHead {
		return nil, corrupt("truncated: %d bytes, the header alone is %d", len(data), bundleHead)
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[4:]); v != BundleVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrVersion, v, BundleVersion)
	}
	if len(data) < bundleHead+8+sha256.Size {
		return nil, corrupt("truncated: %d bytes", len(data))
	}
	body := data[:len(data)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], data[len(body):]) {
		return nil, corrupt("SHA-256 checksum mismatch (truncated or modified)")
	}
	mlen := le.Uint64(data[8:])
	if mlen > uint64(len(body)-bundleHead-8) {
		return nil, corrupt("manifest of %d bytes in a body of %d", mlen, len(body))
	}
	js := body[bundleHead : bundleHead+int(mlen)]
	rest := body[bundleHead+int(mlen):]
	n := le.Uint64(rest)
	rest = rest[8:]
	if n != uint64(len(rest))/4 || len(rest)%4 != 0 {
		return nil, corrupt("%d weights announced, %d bytes of weights", n, len(rest))
	}
	var m bundleManifest
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, corrupt("manifest: %v", err)
	}
	if m.Format != bundleFormat {
		return nil, corrupt("manifest format %q, want %q", m.Format, bundleFormat)
	}
	if m.Weights < 0 || uint64(m.Weights) != n {
		return nil, corrupt("manifest says %d weights, the file holds %d", m.Weights, n)
	}
	if len(m.Training) > 0 {
		// MarshalIndent re-indented it; hand it back compact, as written.
		var buf bytes.Buffer
		if err := json.Compact(&buf, m.Training); err != nil {
			return nil, corrupt("manifest training options: %v", err)
		}
		m.Training = buf.Bytes()
	}
	b := &Bundle{
		Config:          m.Config,
		Spec:            m.Spec,
		Normalizer:      m.Normalizer,
		Indicators:      m.Indicators,
		Summary:         m.Summary,
		Calibration:     m.Calibration,
		NextBlend:       m.NextBlend,
		Training:        m.Training,
		Metrics:         m.Metrics,
		DataFingerprint: m.DataFingerprint,
		Created:         m.Created,
	}
	c := m.Config
	for _, d := range []int{c.Steps, c.Inputs, c.Static, c.Hidden, c.Layers, c.Classes} {
		if d < 0 || d > maxBundleDim {
			return nil, corrupt("config %+v has a dimension outside [0, %d]", c, maxBundleDim)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, corrupt("%v", err)
	}
	if want := NumParams(c); uint64(want) != n {
		return nil, corrupt("config %+v needs %d weights, the file holds %d", c, want, n)
	}
	data32 := make([]float32, n)
	for i := range data32 {
		data32[i] = math.Float32frombits(le.Uint32(rest[4*i:]))
	}
	p, err := ParamsFromData(c, data32)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	b.Params = p
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// Save writes the bundle to path atomically: it writes a temporary file in
// the same directory, syncs it and renames it over path, so that path holds
// either the old or the new bundle, never part of one.
func (b *Bundle) Save(path string) error {
	data, err := b.Encode()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it to path.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("model: create %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("model: write %s: %w", path, err)
	}
	return nil
}

// Load reads and decodes the bundle at path (see Decode).
func Load(path string) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("model: read %s: %w", path, err)
	}
	if len(data) > MaxBundleBytes {
		return nil, fmt.Errorf("model: load %s: %w: larger than %d bytes", path, ErrCorrupt, MaxBundleBytes)
	}
	b, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("model: load %s: %w", path, err)
	}
	return b, nil
}
