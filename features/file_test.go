package features

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// buildSmall builds the training file of the small synthetic data set.
func buildSmall(t testing.TB, src Source, cfg Config) (string, *BuildReport) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "train.rtfs")
	rep, err := Build(src, cfg, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out, rep
}

// TestFileRoundTrip reads a training file block by block and writes the
// blocks again with the sequential FileWriter, uncompressed: the copy must
// hold the same blocks and footer as the compressed file of the parallel
// Build, and the footer's counts must match what the examples say.
func TestFileRoundTrip(t *testing.T) {
	s := loadSmallSynth(t)
	path, rep := buildSmall(t, s.source(), s.config())
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	copyPath := filepath.Join(t.TempDir(), "copy.rtfs")
	w, err := CreateFile(copyPath, r.Header(), &FileOptions{NoCompression: true})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]SplitCounts{}
	for {
		blk, err := r.NextBlock()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range blk.Examples {
			c := counts[e.Split.String()]
			c.Examples++
			if e.Label.Churn == 1 {
				c.Positives++
			}
			if e.Label.Censored {
				c.Censored++
			}
			if e.Label.Excluded {
				c.Excluded++
			}
			if e.Label.NextCategory >= 0 {
				c.NextClass++
			}
			counts[e.Split.String()] = c
		}
		if err := w.WriteBlock(blk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The copy frames its blocks differently (4 MiB uncompressed frames
	// instead of compressed ones per chunk of members).
	r2, err := OpenFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if !reflect.DeepEqual(r2.Footer(), r.Footer()) {
		t.Errorf("footers differ:\n%+v\n%+v", r2.Footer(), r.Footer())
	}
	r3, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	for {
		b1, err1 := r3.NextBlock()
		b2, err2 := r2.NextBlock()
		if err1 != nil || err2 != nil {
			if err1 != io.EOF || err2 != io.EOF {
				t.Fatalf("reading both files: %v, %v", err1, err2)
			}
			break
		}
		if !reflect.DeepEqual(b1, b2) {
			t.Fatalf("member %d: blocks differ", b1.Member)
		}
	}
	if !reflect.DeepEqual(counts, r.Footer().Splits) || !reflect.DeepEqual(counts, rep.Examples) {
		t.Errorf("counted %+v, footer %+v, report %+v", counts, r.Footer().Splits, rep.Examples)
	}
	if counts["train"].Examples == 0 || counts["validation"].Examples == 0 || counts["test"].Examples == 0 {
		t.Errorf("a split is empty: %+v", counts)
	}
	if st, _ := os.Stat(path); st.Size() != rep.Bytes {
		t.Errorf("report says %d bytes, file has %d", rep.Bytes, st.Size())
	}
}

// TestNormalizerTrainOnly checks that the normaliser in the footer is fitted
// on the training examples only: refitting it from the training examples
// read back gives the same statistics, fitting on all examples gives
// different ones, and mutating every event after the first validation
// cutoff (which changes validation and test features) leaves it
// bit-identical.
func TestNormalizerTrainOnly(t *testing.T) {
	s := loadSmallSynth(t)
	cfg := s.config()
	path, rep := buildSmall(t, s.source(), cfg)
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec := &r.Header().Spec
	train, all := NewNormalizerFitter(spec), NewNormalizerFitter(spec)
	var ex Example
	for {
		if err := r.Next(&ex); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		all.Add(&ex)
		if ex.Split == SplitTrain && !ex.Label.Excluded {
			train.Add(&ex)
		}
	}
	got := r.Footer().Normalizer
	refit := train.Normalizer()
	if got.Steps != refit.Steps || got.Examples != refit.Examples {
		t.Fatalf("footer fitted %v steps / %d examples, refit %v / %d", got.Steps, got.Examples, refit.Steps, refit.Examples)
	}
	for j := range got.Mean {
		if !near(got.Mean[j], refit.Mean[j]) || !near(got.Std[j], refit.Std[j]) {
			t.Errorf("%s: footer mean/std %v/%v, refit %v/%v", spec.Sequence[j], got.Mean[j], got.Std[j], refit.Mean[j], refit.Std[j])
		}
	}
	for j := range got.IndicatorMean {
		if !near(got.IndicatorMean[j], refit.IndicatorMean[j]) || !near(got.IndicatorStd[j], refit.IndicatorStd[j]) {
			t.Errorf("indicator %s differs", spec.Indicators[j])
		}
	}
	if reflect.DeepEqual(all.Normalizer().Mean, got.Mean) {
		t.Error("the normaliser equals the one fitted on all splits")
	}

	// Mutate the future of the first validation cutoff.
	var firstVal int
	for i, sp := range rep.Splits {
		if sp == SplitValidation {
			firstVal = i
			break
		}
	}
	tv := rep.Cutoffs[firstVal]
	mut := *s.source()
	mut.AttendanceRows, mut.TransactionRows = nil, nil
	rr := rand.New(rand.NewPCG(9, 9))
	for _, id := range s.ids {
		m := mutateAfter(s.hs[id], tv, spec.Courses, rr)
		mut.AttendanceRows = append(mut.AttendanceRows, m.Attendance...)
		mut.TransactionRows = append(mut.TransactionRows, m.Transactions...)
	}
	_, rep2 := buildSmall(t, &mut, cfg)
	if !reflect.DeepEqual(rep.Normalizer, rep2.Normalizer) {
		t.Error("changing events after the first validation cutoff changed the normaliser")
	}
	if reflect.DeepEqual(rep.Examples["test"], rep2.Examples["test"]) && reflect.DeepEqual(rep.Examples["validation"], rep2.Examples["validation"]) {
		t.Error("the mutation changed nothing in validation or test; the check above proves nothing")
	}

	// JSON round trip and Apply.
	jp := filepath.Join(t.TempDir(), "norm.json")
	if err := got.WriteJSON(jp); err != nil {
		t.Fatal(err)
	}
	back, err := ReadNormalizer(jp, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, got) {
		t.Error("normaliser JSON round trip changed it")
	}
	f := s.featurizer(t, cfg)
	one, err := f.Compute(s.hs[s.ids[0]], rep.Cutoffs[0])
	if err != nil {
		t.Fatal(err)
	}
	raw := append([]float32(nil), one.Seq...)
	got.Apply(one)
	F := len(spec.Sequence)
	for w, m := range one.Mask {
		for j := 0; j < F; j++ {
			x, y := raw[w*F+j], one.Seq[w*F+j]
			want := float32((float64(x) - got.Mean[j]) / got.Std[j])
			if m == 0 {
				want = 0
			}
			if y != want {
				t.Fatalf("Apply: week %d %s = %v, want %v", w, spec.Sequence[j], y, want)
			}
		}
	}
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestFileErrors checks that damaged files are refused with ErrFormat.
func TestFileErrors(t *testing.T) {
	s := loadSmallSynth(t)
	path, _ := buildSmall(t, s.source(), s.config())
	good, _ := os.ReadFile(path)
	dir := t.TempDir()
	cases := map[string][]byte{
		"truncated":   good[:len(good)-100],
		"short":       good[:10],
		"bad magic":   append([]byte("XXXX"), good[4:]...),
		"bad version": append(append([]byte("RTFS"), 9, 0, 0, 0), good[8:]...),
	}
	for name, b := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		r, err := OpenFile(p)
		if err == nil {
			err = readAllExamples(r)
			r.Close()
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	// Frames cut in the middle: the footer is intact but the frames run
	// into it.
	flen := int(binary.LittleEndian.Uint32(good[len(good)-8:]))
	footer := good[len(good)-8-flen:]
	cut := append(append([]byte(nil), good[:len(good)/2]...), footer...)
	p := filepath.Join(dir, "cut")
	os.WriteFile(p, cut, 0o644)
	r, err := OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := readAllExamples(r); !errors.Is(err, ErrFormat) {
		t.Errorf("cut frames: err %v, want ErrFormat", err)
	}
	r.Close()
}

func readAllExamples(r *FileReader) error {
	var ex Example
	for {
		if err := r.Next(&ex); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// FuzzOpenFile feeds damaged training files to the reader: it may refuse
// them but must not panic or allocate without bound.
func FuzzOpenFile(f *testing.F) {
	s := loadSmallSynth(f)
	cfg := s.config()
	src := s.source()
	src.MemberRows = src.MemberRows[:3]
	keep := map[string]bool{}
	for _, m := range src.MemberRows {
		keep[m.MemberID] = true
	}
	var att = src.AttendanceRows[:0:0]
	for _, a := range src.AttendanceRows {
		if keep[a.MemberID] {
			att = append(att, a)
		}
	}
	src.AttendanceRows = att
	src.TransactionRows = nil
	path, _ := buildSmall(f, src, cfg)
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte("RTFS"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.rtfs")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenFile(p)
		if err != nil {
			return
		}
		defer r.Close()
		_ = readAllExamples(r)
	})
}

// TestFloatCopy checks that the byte-copy path for float32 arrays gives the
// bytes of the portable path.
func TestFloatCopy(t *testing.T) {
	src := []float32{0, 1, -2.5, float32(math.Inf(1)), math.SmallestNonzeroFloat32, 3.4e38, float32(math.NaN())}
	fast := make([]byte, 4*len(src))
	slow := make([]byte, 4*len(src))
	putF32s(fast, src)
	saved := nativeLittle
	nativeLittle = false
	putF32s(slow, src)
	back := make([]float32, len(src))
	getF32s(back, slow)
	nativeLittle = saved
	if !bytes.Equal(fast, slow) {
		t.Errorf("copy path % x, portable path % x", fast, slow)
	}
	for i := range src {
		if math.Float32bits(back[i]) != math.Float32bits(src[i]) {
			t.Errorf("round trip %d: %v -> %v", i, src[i], back[i])
		}
	}
}
