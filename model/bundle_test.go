package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"retain/datasets"
	"retain/features"
)

var updateBundle = flag.Bool("update-bundle", false, "rewrite the bundle golden files in testdata/")

// bundleSpec returns a small feature spec: 3 weeks, two categories (hiit,
// yoga) over three courses, one club.
func bundleSpec(t testing.TB) *features.FeatureSpec {
	t.Helper()
	fc := features.DefaultConfig()
	fc.Weeks = 3
	courses := []datasets.Course{{CourseID: "c1", Category: "yoga"}, {CourseID: "c2", Category: "hiit"}, {CourseID: "c3", Category: "yoga"}}
	spec, err := features.NewSpec(fc, courses, []string{"north"})
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// bundleFixture returns a valid bundle over bundleSpec with hidden size 4,
// weights from seed (1, 2), a normaliser with means and deviations that
// differ per feature, and Platt calibration A = 0.8, B = -0.3.
func bundleFixture(t testing.TB) *Bundle {
	t.Helper()
	spec := bundleSpec(t)
	n := features.NewNormalizerFitter(spec).Normalizer()
	for j := range n.Mean {
		n.Mean[j], n.Std[j] = float64(j)/4, 0.5+float64(j)/8
	}
	for j := range n.IndicatorMean {
		n.IndicatorMean[j], n.IndicatorStd[j] = float64(j), 1+float64(j)
	}
	cfg := Config{Steps: 3, Inputs: len(spec.Sequence), Static: len(spec.Static) + len(spec.Indicators) + 4, Hidden: 4,
		Classes: len(spec.Categories), PosWeight: 2.5}.WithDefaults()
	return &Bundle{
		Config:          cfg,
		Params:          NewParams(cfg, rand.NewPCG(1, 2)),
		Spec:            spec,
		Normalizer:      n,
		Indicators:      true,
		Summary:         true, // 4 columns: visits, open-gym visits, class_hiit, class_yoga
		Calibration:     Calibration{Method: "platt", A: 0.8, B: -0.3, Examples: 10, LogLossBefore: 0.5, LogLossAfter: 0.4},
		Training:        json.RawMessage(`{"Hidden":4}`),
		Metrics:         map[string]float64{"val_churn_auc": 0.75},
		DataFingerprint: "sha256:" + strings.Repeat("ab", 32),
		Created:         time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// bundleExamples returns n raw examples for spec, drawn from seed: masks
// that start 0 to 3 weeks late, counts and static one-hots.
func bundleExamples(spec *features.FeatureSpec, n int, seed uint64) []*features.Example {
	rng := rand.New(rand.NewPCG(seed, 9))
	T, F, S := spec.Config.Weeks, len(spec.Sequence), len(spec.Static)
	var out []*features.Example
	for i := 0; i < n; i++ {
		ex := &features.Example{Seq: make([]float32, T*F), Mask: make([]float32, T), Static: make([]float32, S)}
		late := rng.IntN(T + 1)
		for t := late; t < T; t++ {
			ex.Mask[t] = 1
			for f := 0; f < F; f++ {
				ex.Seq[t*F+f] = float32(rng.IntN(5)) + float32(rng.Float64())
			}
		}
		ex.Static[rng.IntN(S)] = 1
		ex.Indicators = features.Indicators{RecencyDays: rng.IntN(100), Frequency: rng.IntN(50), Monetary: int64(rng.IntN(90000)),
			VisitTrend: rng.NormFloat64(), TenureDays: rng.IntN(900), Flags: 5}
		out = append(out, ex)
	}
	return out
}

// TestBundleRoundTrip: Save then Load gives the same bundle and the same
// predictions bit for bit.
// saveLoad saves b to a temporary file and loads it back.
func saveLoad(t *testing.T, b *Bundle) *Bundle {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.rtmb")
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBundleRoundTrip(t *testing.T) {
	b := bundleFixture(t)
	got := saveLoad(t, b)
	if got.Config != b.Config || got.Indicators != b.Indicators || got.Summary != b.Summary || got.Calibration != b.Calibration ||
		got.DataFingerprint != b.DataFingerprint || !got.Created.Equal(b.Created) ||
		got.Metrics["val_churn_auc"] != 0.75 || string(got.Training) != `{"Hidden":4}` {
		t.Errorf("loaded %+v", got)
	}
	if !equalJSON(t, got.Spec, b.Spec) || !equalJSON(t, got.Normalizer, b.Normalizer) {
		t.Error("spec or normalizer changed in the round trip")
	}
	for i := range b.Params.Data {
		if math.Float32bits(got.Params.Data[i]) != math.Float32bits(b.Params.Data[i]) {
			t.Fatalf("weight %d: %v, saved %v", i, got.Params.Data[i], b.Params.Data[i])
		}
	}
	var p, q Prediction
	for i, ex := range bundleExamples(b.Spec, 20, 1) {
		if err := b.Predict(ex, &p); err != nil {
			t.Fatal(err)
		}
		if err := got.Predict(ex, &q); err != nil {
			t.Fatal(err)
		}
		if p.Churn != q.Churn || p.ChurnLogit != q.ChurnLogit || !equalFloats(p.NextCategory, q.NextCategory) {
			t.Errorf("example %d: %+v after loading, %+v before", i, q, p)
		}
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBundlePredictByHand recomputes a prediction from its definition with
// package features' own normalisation (Normalizer.Apply) and the plain
// forward pass: standardise the masked-in weeks; append to the static
// features the standardised indicators and log(1 + the 3-week sums) of
// visits, open-gym visits and the two class categories; run the network;
// softmax the class logits and σ(0.8·z - 0.3) the churn logit. Predict
// must not modify ex.
func TestBundlePredictByHand(t *testing.T) {
	b := bundleFixture(t)
	for i, ex := range bundleExamples(b.Spec, 10, 2) {
		orig := append([]float32(nil), ex.Seq...)
		var p Prediction
		if err := b.Predict(ex, &p); err != nil {
			t.Fatal(err)
		}
		if !slicesEqual32(ex.Seq, orig) {
			t.Fatal("Predict modified the example")
		}
		cp := *ex
		cp.Seq = append([]float32(nil), ex.Seq...)
		b.Normalizer.Apply(&cp)
		static := append([]float32(nil), ex.Static...)
		vec := ex.Indicators.Vector(nil)
		for j, v := range vec {
			static = append(static, float32((v-b.Normalizer.IndicatorMean[j])/b.Normalizer.IndicatorStd[j]))
		}
		F := len(b.Spec.Sequence)
		for _, name := range []string{"visits", "open_gym_visits", "class_hiit", "class_yoga"} {
			j := slices.Index(b.Spec.Sequence, name)
			var sum float64
			for w := 0; w < 3; w++ {
				sum += float64(ex.Seq[w*F+j])
			}
			static = append(static, float32(math.Log1p(sum)))
		}
		var out Output
		if err := b.Params.Forward(&Batch{X: cp.Seq, Mask: cp.Mask, Static: static}, &out); err != nil {
			t.Fatal(err)
		}
		z := float64(out.ChurnLogit[0])
		if want := 1 / (1 + math.Exp(-(0.8*z - 0.3))); p.ChurnLogit != z || math.Abs(p.Churn-want) > 1e-15 {
			t.Errorf("example %d: churn %v (logit %v), want %v (logit %v)", i, p.Churn, p.ChurnLogit, want, z)
		}
		l0, l1 := float64(out.ClassLogits[0]), float64(out.ClassLogits[1])
		want0 := 1 / (1 + math.Exp(l1-l0)) // softmax of two
		if math.Abs(p.NextCategory[0]-want0) > 1e-12 || math.Abs(p.NextCategory[0]+p.NextCategory[1]-1) > 1e-12 {
			t.Errorf("example %d: next %v, want [%v %v]", i, p.NextCategory, want0, 1-want0)
		}
	}
	// An example of the wrong shape is refused, not a panic.
	bad := bundleExamples(b.Spec, 1, 3)[0]
	bad.Mask = bad.Mask[:2]
	if err := b.Predict(bad, &Prediction{}); err == nil {
		t.Error("short mask: no error")
	}
}

func slicesEqual32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestBundlePredictConcurrent: Predict from many goroutines gives what it
// gives from one.
func TestBundlePredictConcurrent(t *testing.T) {
	b := bundleFixture(t)
	exs := bundleExamples(b.Spec, 50, 4)
	want := make([]Prediction, len(exs))
	for i, ex := range exs {
		if err := b.Predict(ex, &want[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p Prediction
			for r := 0; r < 20; r++ {
				for i, ex := range exs {
					if err := b.Predict(ex, &p); err != nil || p.ChurnLogit != want[i].ChurnLogit || !equalFloats(p.NextCategory, want[i].NextCategory) {
						errs <- "concurrent Predict disagrees"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// isRefusal reports whether err is one of Decode's sentinel errors.
func isRefusal(err error) bool {
	return errors.Is(err, ErrNotBundle) || errors.Is(err, ErrVersion) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrIncompatible)
}

// TestBundleRefusesFlippedBytes flips each byte of a bundle in turn: every
// one must be refused (the checksum covers everything; a flip in the magic
// is "not a bundle", in the version "unsupported version").
func TestBundleRefusesFlippedBytes(t *testing.T) {
	data, err := bundleFixture(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		d := append([]byte(nil), data...)
		d[i] ^= 0x01
		_, err := Decode(d)
		want := ErrCorrupt
		switch {
		case i < 4:
			want = ErrNotBundle
		case i < 8:
			want = ErrVersion
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d flipped: %v, want %v", i, err, want)
		}
	}
}

// TestBundleRefusesTruncation cuts the bundle at every length.
func TestBundleRefusesTruncation(t *testing.T) {
	b := bundleFixture(t)
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(data); n++ {
		if _, err := Decode(data[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: %v, want ErrCorrupt", n, len(data), err)
		}
	}
	// And through Load, with the path in the message.
	path := filepath.Join(t.TempDir(), "cut.rtmb")
	if err := os.WriteFile(path, data[:len(data)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load of a truncated file: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.rtmb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// rawBundle writes the file format by hand from its documented layout
// (docs/model-bundle.md), so that tests can build intact files with bad
// content.
func rawBundle(version uint32, manifest []byte, weights []float32) []byte {
	le := binary.LittleEndian
	buf := []byte("RTMB")
	buf = le.AppendUint32(buf, version)
	buf = le.AppendUint64(buf, uint64(len(manifest)))
	buf = append(buf, manifest...)
	buf = le.AppendUint64(buf, uint64(len(weights)))
	for _, w := range weights {
		buf = le.AppendUint32(buf, math.Float32bits(w))
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...)
}

// manifestOf returns b's manifest as a generic JSON object for editing.
func manifestOf(t *testing.T, b *Bundle) map[string]any {
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data[8:])
	var m map[string]any
	if err := json.Unmarshal(data[16:16+n], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBundleRefusesInconsistent builds intact files (valid checksum) whose
// content is wrong, each refused with the sentinel and a message that says
// what is wrong.
func TestBundleRefusesInconsistent(t *testing.T) {
	b := bundleFixture(t)
	w := b.Params.Data
	for _, tc := range []struct {
		name    string
		version uint32
		edit    func(m map[string]any)
		weights []float32
		want    error
		msg     string
	}{
		{"intact", 1, nil, w, nil, ""},
		{"version 2", 2, nil, w, ErrVersion, "version 2"},
		{"version 0", 0, nil, w, ErrVersion, "version 0"},
		{"one weight short", 1, func(m map[string]any) { m["Weights"] = len(w) - 1 }, w[:len(w)-1], ErrCorrupt, "needs"},
		{"count disagrees", 1, func(m map[string]any) { m["Weights"] = len(w) + 1 }, w, ErrCorrupt, "manifest says"},
		{"NaN weight", 1, nil, append(append([]float32(nil), w[:3]...), append([]float32{float32(math.NaN())}, w[4:]...)...), ErrCorrupt, "weight 3"},
		{"hidden size", 1, func(m map[string]any) { m["Config"].(map[string]any)["Hidden"] = 5 }, w, ErrCorrupt, "weights"},
		{"huge hidden", 1, func(m map[string]any) { m["Config"].(map[string]any)["Hidden"] = 1 << 40 }, w, ErrCorrupt, "dimension"},
		{"static width", 1, func(m map[string]any) { m["Indicators"] = false }, w, ErrCorrupt, "static inputs"},
		{"features version", 1, func(m map[string]any) { m["Spec"].(map[string]any)["Version"] = 99 }, w, ErrIncompatible, "features version 99"},
		{"normalizer width", 1, func(m map[string]any) {
			nm := m["Normalizer"].(map[string]any)
			nm["Mean"] = nm["Mean"].([]any)[1:]
		}, w, ErrCorrupt, "normalizer"},
		{"zero deviation", 1, func(m map[string]any) { m["Normalizer"].(map[string]any)["Std"].([]any)[0] = 0 }, w, ErrCorrupt, "standard deviation"},
		{"category list", 1, func(m map[string]any) { m["Spec"].(map[string]any)["Categories"] = []string{"hiit", "yoga", "zumba"} }, w, ErrCorrupt, ""},
		{"calibration method", 1, func(m map[string]any) { m["Calibration"].(map[string]any)["Method"] = "isotonic" }, w, ErrCorrupt, "calibration"},
		{"format name", 1, func(m map[string]any) { m["Format"] = "something-else" }, w, ErrCorrupt, "format"},
		{"manifest not JSON", 1, func(m map[string]any) { m["Created"] = "yesterday" }, w, ErrCorrupt, "manifest"},
	} {
		m := manifestOf(t, b)
		if tc.edit != nil {
			tc.edit(m)
		}
		js, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(rawBundle(tc.version, js, tc.weights))
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v mentioning %q", tc.name, err, tc.want, tc.msg)
		}
	}
	if _, err := Decode([]byte("PK\x03\x04 a zip file")); !errors.Is(err, ErrNotBundle) {
		t.Errorf("zip: %v", err)
	}
}

// TestCheckCompatible: a bundle serves features computed with its own spec,
// and refuses a spec that differs in what the network reads or predicts.
func TestCheckCompatible(t *testing.T) {
	b := bundleFixture(t)
	if err := b.CheckCompatible(bundleSpec(t)); err != nil {
		t.Fatalf("own spec: %v", err)
	}
	// Another label horizon changes no input: still compatible.
	fc := b.Spec.Config
	fc.HorizonWeeks = 12
	s, err := features.NewSpec(fc, []datasets.Course{{CourseID: "c1", Category: "yoga"}, {CourseID: "c2", Category: "hiit"}}, []string{"north"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckCompatible(s); err != nil {
		t.Errorf("other horizon: %v", err)
	}
	for _, tc := range []struct {
		name    string
		courses []datasets.Course
		clubs   []string
		weeks   int
		msg     string
	}{
		{"other category", []datasets.Course{{CourseID: "c1", Category: "yoga"}, {CourseID: "c2", Category: "boxing"}}, []string{"north"}, 3, "sequence features"},
		{"other club", []datasets.Course{{CourseID: "c1", Category: "yoga"}, {CourseID: "c2", Category: "hiit"}}, []string{"south"}, 3, "static features"},
		{"other weeks", []datasets.Course{{CourseID: "c1", Category: "yoga"}, {CourseID: "c2", Category: "hiit"}}, []string{"north"}, 4, "weeks"},
	} {
		fc := features.DefaultConfig()
		fc.Weeks = tc.weeks
		s, err := features.NewSpec(fc, tc.courses, tc.clubs)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.CheckCompatible(s); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want ErrIncompatible mentioning %q", tc.name, err, tc.msg)
		}
	}
	if err := b.CheckCompatible(nil); !errors.Is(err, ErrIncompatible) {
		t.Errorf("nil spec: %v", err)
	}
}

// TestBundleSaveAtomic: a failed Save leaves the previous file as it was
// and no temporary file behind.
func TestBundleSaveAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.rtmb")
	b := bundleFixture(t)
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bad := bundleFixture(t)
	bad.Metrics["x"] = math.Inf(1)
	if err := bad.Save(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Save of a bundle with an infinite metric: %v", err)
	}
	bad = bundleFixture(t)
	bad.Params.Data[0] = float32(math.NaN())
	if err := bad.Save(path); err == nil {
		t.Error("Save of NaN weights succeeded")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed Save changed the file")
	}
	if err := b.Save(filepath.Join(dir, "no", "such", "dir.rtmb")); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the bundle", len(ents))
	}
}

// TestCalibrationProb checks the calibration map by hand: σ(2·0.5 - 1) =
// σ(0) = 1/2; the zero Calibration and "none" are the identity, σ(0.5) =
// 0.622459.
func TestCalibrationProb(t *testing.T) {
	if got := (Calibration{Method: "platt", A: 2, B: -1}).Prob(0.5); got != 0.5 {
		t.Errorf("platt: %v", got)
	}
	for _, c := range []Calibration{{}, {Method: "none", A: 3, B: 1}} {
		if got := c.Prob(0.5); math.Abs(got-0.6224593312018546) > 1e-15 {
			t.Errorf("%+v: %v", c, got)
		}
	}
}

// TestSoftmax: logits 0, ln 2, ln 3 give weights 1, 2, 3 of 6; adding a
// constant changes nothing, and large logits do not overflow.
func TestSoftmax(t *testing.T) {
	got := Softmax(nil, []float32{0, float32(math.Log(2)), float32(math.Log(3))})
	for i, w := range []float64{1.0 / 6, 2.0 / 6, 3.0 / 6} {
		if math.Abs(got[i]-w) > 1e-7 {
			t.Errorf("softmax[%d] = %v, want %v", i, got[i], w)
		}
	}
	big := Softmax(got, []float32{1000, 1000})
	if big[0] != 0.5 || big[1] != 0.5 || &big[0] != &got[0] {
		t.Errorf("large logits: %v (or the array was not reused)", big)
	}
}

// The golden bundle pins the file format: testdata/bundle_v1.rtmb is the
// encoding of bundleFixture and testdata/bundle_v1_predictions.json its
// predictions on bundleExamples(spec, 5, 7). Regenerate both with
//
//	go test ./model -run TestBundleGolden -update-bundle
//
// only when the format (and BundleVersion) change on purpose, or when a
// change of package features' spec encoding is intended.
func TestBundleGolden(t *testing.T) {
	b := bundleFixture(t)
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	exs := bundleExamples(b.Spec, 5, 7)
	preds := make([]Prediction, len(exs))
	for i, ex := range exs {
		if err := b.Predict(ex, &preds[i]); err != nil {
			t.Fatal(err)
		}
	}
	binPath := filepath.Join("testdata", "bundle_v1.rtmb")
	predPath := filepath.Join("testdata", "bundle_v1_predictions.json")
	if *updateBundle {
		js, err := json.MarshalIndent(preds, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(binPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(predPath, append(js, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, golden) {
		t.Errorf("the encoding of the fixture differs from %s (%d vs %d bytes); if the format changed on purpose, bump BundleVersion and run with -update-bundle", binPath, len(data), len(golden))
	}
	// Whatever the encoder does today, the golden file must still load
	// and predict what it predicted when it was written (to float32
	// rounding: the matrix kernels differ between kinds of CPU).
	gb, err := Decode(golden)
	if err != nil {
		t.Fatalf("golden bundle: %v", err)
	}
	js, err := os.ReadFile(predPath)
	if err != nil {
		t.Fatal(err)
	}
	var want []Prediction
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(exs) {
		t.Fatalf("%d golden predictions for %d examples", len(want), len(exs))
	}
	var p Prediction
	for i, ex := range exs {
		if err := gb.Predict(ex, &p); err != nil {
			t.Fatal(err)
		}
		if math.Abs(p.Churn-want[i].Churn) > 1e-6 || len(p.NextCategory) != len(want[i].NextCategory) {
			t.Errorf("example %d: churn %v, golden %v", i, p.Churn, want[i].Churn)
			continue
		}
		for j := range p.NextCategory {
			if math.Abs(p.NextCategory[j]-want[i].NextCategory[j]) > 1e-6 {
				t.Errorf("example %d: next %v, golden %v", i, p.NextCategory, want[i].NextCategory)
				break
			}
		}
	}
}

// FuzzDecodeBundle: Decode never panics, refuses with one of its sentinels,
// and whatever it accepts encodes and decodes again to the same bytes and
// predicts without error. Each input is tried as it is and with its last
// 32 bytes replaced by a valid checksum, so that the fuzzer reaches the
// manifest and the consistency checks behind the checksum.
func FuzzDecodeBundle(f *testing.F) {
	data, err := bundleFixture(f).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte{})
	f.Add([]byte("RTMB"))
	f.Add(rawBundle(1, []byte(`{"Format":"retain-model-bundle"}`), nil))
	f.Add(rawBundle(1, []byte(`{"Format":"retain-model-bundle","Config":{"Steps":1,"Inputs":1,"Hidden":1,"Layers":1,"Classes":1,"ChurnWeight":1,"PosWeight":1},"Weights":15}`), make([]float32, 15)))
	f.Fuzz(func(t *testing.T, in []byte) { bundleDecodeProperty(t, in) })
}

// bundleDecodeProperty is the property of FuzzDecodeBundle for one input.
func bundleDecodeProperty(t *testing.T, in []byte) {
	tries := [][]byte{in}
	if len(in) >= sha256.Size {
		fixed := append([]byte(nil), in...)
		sum := sha256.Sum256(fixed[:len(fixed)-sha256.Size])
		copy(fixed[len(fixed)-sha256.Size:], sum[:])
		tries = append(tries, fixed)
	}
	for _, d := range tries {
		b, err := Decode(d)
		if err != nil {
			if !isRefusal(err) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			continue
		}
		enc, err := b.Encode()
		if err != nil {
			t.Fatalf("accepted bundle does not encode: %v", err)
		}
		b2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded bundle refused: %v", err)
		}
		enc2, err := b2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %v", err)
		}
		c := b.Config
		ex := &features.Example{Seq: make([]float32, c.Steps*c.Inputs), Mask: make([]float32, c.Steps), Static: make([]float32, len(b.Spec.Static))}
		var p Prediction
		if err := b.Predict(ex, &p); err != nil {
			t.Fatalf("Predict on an accepted bundle: %v", err)
		}
	}
}

// TestDecodeBundleMutations runs the fuzz property over 3000 seeded
// mutations of a valid bundle, with its checksum repaired so that they reach
// the manifest checks: random byte changes, and edits of one JSON value of
// the manifest (a number made huge, negative, fractional or NaN-like, a
// string or list emptied, a field deleted). It covers in every plain test
// run what the fuzzer explores at random.
func TestDecodeBundleMutations(t *testing.T) {
	b := bundleFixture(t)
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	seal := func(d []byte) []byte {
		sum := sha256.Sum256(d[:len(d)-sha256.Size])
		copy(d[len(d)-sha256.Size:], sum[:])
		return d
	}
	values := []any{nil, -1, 0, 1, 3, 1 << 20, 1e300, -1e300, 0.5, "", "x", []any{}, map[string]any{}, true}
	for i := 0; i < 3000; i++ {
		var d []byte
		if i%2 == 0 {
			d = append([]byte(nil), data...)
			for k := 0; k <= rng.IntN(4); k++ {
				d[rng.IntN(len(d)-sha256.Size)] = byte(rng.IntN(256))
			}
			d = seal(d)
		} else {
			m := manifestOf(t, b)
			mutateJSON(rng, m, values)
			js, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			d = rawBundle(1, js, b.Params.Data)
		}
		bundleDecodeProperty(t, d)
	}
}

// mutateJSON replaces or deletes one value somewhere in the JSON tree v.
func mutateJSON(rng *rand.Rand, v any, values []any) {
	for {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				return
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			k := keys[rng.IntN(len(keys))]
			switch c := x[k].(type) {
			case map[string]any, []any:
				if rng.IntN(3) > 0 {
					v = c
					continue
				}
			}
			if rng.IntN(8) == 0 {
				delete(x, k)
			} else {
				x[k] = values[rng.IntN(len(values))]
			}
			return
		case []any:
			if len(x) == 0 {
				return
			}
			i := rng.IntN(len(x))
			switch c := x[i].(type) {
			case map[string]any, []any:
				v = c
				continue
			}
			x[i] = values[rng.IntN(len(values))]
			return
		default:
			return
		}
	}
}

// TestBundleOldFeatures loads bundles written before the features moved
// to version 2, 3 and 4 (testdata/bundle_features_v1.rtmb to
// bundle_features_v3.rtmb, the golden bundles of those times, kept as they
// were; version 3 replaced the naive ltv indicator, version 4 added the
// choice columns): they must be refused
// as incompatible, saying which versions differ, rather than be served
// features they were not trained on.
func TestBundleOldFeatures(t *testing.T) {
	for _, v := range []string{"1", "2", "3"} {
		_, err := Load(filepath.Join("testdata", "bundle_features_v"+v+".rtmb"))
		if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "features version "+v) {
			t.Errorf("Load v%s: %v, want ErrIncompatible naming features version %s", v, err, v)
		}
	}
}

// TestBundleNextBlend: a bundle with a next-category pool predicts
// softmax(A·z + B·c) of the network's logits z and the example's choice
// columns c, keeps the pool through a round trip, and refuses a pool that
// reads another column or non-finite weights.
func TestBundleNextBlend(t *testing.T) {
	b := bundleFixture(t)
	col := b.Spec.ChoiceColumn()
	if col < 0 {
		t.Fatalf("no choice column in %v", b.Spec.Static)
	}
	plain := *b
	b.NextBlend = NextBlend{A: 0.3, B: 0.8, Column: col, Examples: 5, LogLossBefore: 1.2, LogLossAfter: 1.1}
	got := saveLoad(t, b)
	if got.NextBlend != b.NextBlend {
		t.Errorf("pool %+v after the round trip, saved %+v", got.NextBlend, b.NextBlend)
	}
	var p, q Prediction
	for i, ex := range bundleExamples(b.Spec, 10, 4) {
		ex.Static[col], ex.Static[col+1] = float32(i)/4-1, 0.5
		if err := plain.Predict(ex, &p); err != nil {
			t.Fatal(err)
		}
		if err := got.Predict(ex, &q); err != nil {
			t.Fatal(err)
		}
		// Two categories: p₀ = σ(z₀ − z₁), so z₀ − z₁ = logit(p₀).
		dz := math.Log(p.NextCategory[0] / p.NextCategory[1])
		l := 0.3*dz + 0.8*float64(ex.Static[col]-ex.Static[col+1])
		if want := 1 / (1 + math.Exp(-l)); math.Abs(q.NextCategory[0]-want) > 1e-6 {
			t.Errorf("example %d: pooled p₀ %v, want %v", i, q.NextCategory[0], want)
		}
		if q.Churn != p.Churn {
			t.Errorf("example %d: the pool changed churn %v to %v", i, p.Churn, q.Churn)
		}
	}
	for name, nb := range map[string]NextBlend{
		"other column": {A: 1, B: 1, Column: col - 1},
		"past the end": {A: 1, B: 1, Column: len(b.Spec.Static)},
		"NaN weight":   {A: math.NaN(), B: 1, Column: col},
	} {
		bad := *b
		bad.NextBlend = nb
		if err := bad.Validate(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Validate %v, want ErrCorrupt", name, err)
		}
	}
}
