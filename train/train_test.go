package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"retain/datasets"
	"retain/datasets/synth"
	"retain/features"
	"retain/model"
)

// trFixture writes a training file into a fresh temporary directory:
// members synthetic members over weeks weeks (seed 3, no ground truth),
// with sequences of seqWeeks weeks, a 4-week horizon and a cutoff every 2
// weeks, so that a few hundred members give every split. 300 members over
// 40 weeks take about 0.1 s.
func trFixture(t testing.TB, members, weeks, seqWeeks int) string {
	t.Helper()
	cfg := synth.DefaultConfig()
	cfg.Members, cfg.Weeks, cfg.Seed, cfg.TruthSims = members, weeks, 3, -1
	var sink synth.MemorySink
	if _, err := synth.Generate(cfg, &sink); err != nil {
		t.Fatal(err)
	}
	src := &features.MemorySource{
		Man:             datasets.Manifest{Version: 1, Currency: "EUR", MinorUnits: 2, Start: cfg.Start, End: cfg.End()},
		MemberRows:      sink.MemberRows,
		CourseRows:      sink.CourseRows,
		AttendanceRows:  sink.AttendanceRows,
		TransactionRows: sink.TransactionRows,
	}
	fc := features.DefaultConfig()
	fc.Weeks, fc.HorizonWeeks, fc.CutoffEveryWeeks = seqWeeks, 4, 2
	path := filepath.Join(t.TempDir(), "features.rtfs")
	if _, err := features.Build(src, fc, path, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// trOptions are small, fast training options with a fixed creation time.
func trOptions() Options {
	o := DefaultOptions()
	o.Hidden, o.BatchSize, o.Epochs, o.Patience = 8, 32, 4, -1
	o.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	return o
}

// trSameBits fails unless a and b hold the same float32 bit patterns.
func trSameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d values vs %d", what, len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s: value %d differs: %v vs %v", what, i, a[i], b[i])
		}
	}
}

// TestLoadDataMatchesFileReader checks the compact training arrays against
// package features' own reading: every usable training and validation
// example of the file, read with FileReader.Next and standardised with
// Normalizer.Apply, must come out of trainData.fill bit for bit, in file
// order; the test split must not be loaded.
func TestLoadDataMatchesFileReader(t *testing.T) {
	path := trFixture(t, 200, 40, 8)
	d, err := loadData(path, true, true)
	if err != nil {
		t.Fatal(err)
	}
	r, err := features.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	norm := r.Footer().Normalizer
	in := model.Inputs{Spec: &r.Header().Spec, Normalizer: norm, Indicators: true, Summary: true}
	b := d.newBatch(1)
	var ex features.Example
	var nTrain, nVal, nTest int
	for {
		if err := r.Next(&ex); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var s *exampleSet
		var k int
		switch {
		case ex.Split == features.SplitTest:
			nTest++
			continue
		case ex.Label.Excluded || ex.Label.Censored:
			continue
		case ex.Split == features.SplitTrain:
			s, k = &d.train, nTrain
			nTrain++
		case ex.Split == features.SplitValidation:
			s, k = &d.val, nVal
			nVal++
		default:
			continue
		}
		if k >= s.len() {
			t.Fatalf("%s example %d: only %d loaded", ex.Split, k, s.len())
		}
		wantStatic := in.Static(nil, ex.Static, &ex.Indicators, ex.Seq)
		norm.Apply(&ex)
		d.fill(s, []int32{int32(k)}, b)
		trSameBits(t, "sequence", b.X, ex.Seq)
		trSameBits(t, "mask", b.Mask, ex.Mask)
		trSameBits(t, "static", b.Static, wantStatic)
		if b.Next[0] != ex.Label.NextCategory || b.Churn[0] != float32(ex.Label.Churn) || b.Weight[0] != 1 {
			t.Fatalf("%s example %d: labels %d %v %v, want %d %d", ex.Split, k, b.Next[0], b.Churn[0], b.Weight[0], ex.Label.NextCategory, ex.Label.Churn)
		}
	}
	if nTrain != d.train.len() || nVal != d.val.len() || int64(nTest) != d.testExamples {
		t.Errorf("loaded %d/%d/%d train/val/test, file has %d/%d/%d", d.train.len(), d.val.len(), d.testExamples, nTrain, nVal, nTest)
	}
	if nTrain == 0 || nVal == 0 || nTest == 0 {
		t.Errorf("fixture lacks a split: %d/%d/%d", nTrain, nVal, nTest)
	}
	if d.S != len(d.spec.Static)+len(d.spec.Indicators)+len(model.SummaryColumns(d.spec)) || len(model.SummaryColumns(d.spec)) != 2+len(d.spec.Categories) {
		t.Errorf("static width %d", d.S)
	}
	// The row store holds fewer rows than the examples' windows would.
	if rows := len(d.mask); rows >= (d.train.len()+d.val.len())*d.T {
		t.Errorf("row store of %d rows is not smaller than the %d windows", rows, d.train.len()+d.val.len())
	}
}

// TestTrainReproducible: the same seed and data give byte-identical
// bundles; another seed gives other weights.
func TestTrainReproducible(t *testing.T) {
	path := trFixture(t, 200, 40, 8)
	ctx := context.Background()
	run := func(seed uint64, engine model.Engine) ([]byte, *Result) {
		o := trOptions()
		o.Seed, o.Epochs, o.Engine = seed, 3, engine
		o.Out = filepath.Join(t.TempDir(), "m.rtmb")
		res, err := Train(ctx, path, &o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		return b, res
	}
	a, ra := run(7, model.EngineNative)
	b, _ := run(7, model.EngineNative)
	if !bytes.Equal(a, b) {
		t.Error("two runs with seed 7 wrote different bundles")
	}
	_, rc := run(8, model.EngineNative)
	if slicesEqualBits(ra.Bundle.Params.Data, rc.Bundle.Params.Data) {
		t.Error("seeds 7 and 8 gave the same weights")
	}
	// The Gorgonia reference engine trains the same network: its run is
	// reproducible too, and its weights agree with the native engine's
	// to float32 rounding accumulated over the run.
	g1, rg := run(7, model.EngineGorgonia)
	g2, _ := run(7, model.EngineGorgonia)
	if !bytes.Equal(g1, g2) {
		t.Error("two Gorgonia runs with seed 7 wrote different bundles")
	}
	var maxDiff float64
	for i, w := range ra.Bundle.Params.Data {
		maxDiff = math.Max(maxDiff, math.Abs(float64(w-rg.Bundle.Params.Data[i])))
	}
	if maxDiff > 1e-2 {
		t.Errorf("native and Gorgonia weights differ by up to %g", maxDiff)
	}
	// The saved bundle loads and matches the returned one.
	lb, err := model.Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	trSameBits(t, "loaded weights", lb.Params.Data, ra.Bundle.Params.Data)
	if lb.DataFingerprint != ra.Bundle.DataFingerprint || len(lb.DataFingerprint) != len("sha256:")+64 {
		t.Errorf("fingerprint %q", lb.DataFingerprint)
	}
}

func slicesEqualBits(a, b []float32) bool {
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

// TestTrainKeepsBestEpoch checks early stopping and the choice of weights:
// the best epoch has the lowest validation loss of the history; a run
// stopped early ran exactly Patience epochs past it; and the bundle's
// weights, evaluated again, give the best epoch's validation loss.
func TestTrainKeepsBestEpoch(t *testing.T) {
	path := trFixture(t, 200, 40, 8)
	o := trOptions()
	// A high learning rate makes the validation loss turn up within a few
	// epochs, so that early stopping has something to do.
	o.Epochs, o.Patience, o.LearningRate, o.Hidden = 30, 2, 0.02, 16
	res, err := Train(context.Background(), path, &o)
	if err != nil {
		t.Fatal(err)
	}
	h := res.History
	best := 0
	for i := range h {
		if h[i].Epoch != i+1 {
			t.Fatalf("history entry %d is epoch %d", i, h[i].Epoch)
		}
		if h[i].ValLoss < h[best].ValLoss {
			best = i
		}
	}
	if res.BestEpoch != best+1 {
		t.Errorf("best epoch %d, the history's lowest validation loss is epoch %d", res.BestEpoch, best+1)
	}
	switch res.Stopped {
	case "early":
		if len(h)-res.BestEpoch != o.Patience {
			t.Errorf("stopped early after %d epochs with the best at %d, patience %d", len(h), res.BestEpoch, o.Patience)
		}
	case "epochs":
		t.Errorf("ran all %d epochs; expected early stopping at learning rate %v", len(h), o.LearningRate)
	default:
		t.Errorf("Stopped = %q", res.Stopped)
	}
	d, err := loadData(path, true, true)
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvaluator(d, &d.val, res.Bundle.Config)
	if got, want := ev.run(res.Bundle.Params).loss, h[best].ValLoss; got != want {
		t.Errorf("bundle weights give validation loss %v, best epoch had %v", got, want)
	}
	if res.Bundle.Metrics["best_epoch"] != float64(res.BestEpoch) {
		t.Errorf("metrics best_epoch %v", res.Bundle.Metrics["best_epoch"])
	}
	// The bundle records the run: options, history without timings.
	var rec TrainingRecord
	if err := json.Unmarshal(res.Bundle.Training, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Hidden != 16 || rec.Patience != 2 || rec.BestEpoch != res.BestEpoch || rec.Stopped != "early" ||
		rec.PosWeightUsed != res.PosWeight || len(rec.History) != len(h) {
		t.Errorf("training record %+v", rec)
	}
	for i, e := range rec.History {
		w := h[i]
		w.Seconds = 0
		if e != w {
			t.Errorf("recorded epoch %+v, trained %+v", e, w)
		}
	}
}

// TestBundleMatchesEvaluator: the bundle's serving path (model.Bundle.Predict
// on raw examples as package features reads them) agrees with the
// training-time evaluation on the compact arrays, and BundlePredictor
// returns the calibrated probability.
func TestBundleMatchesEvaluator(t *testing.T) {
	path := trFixture(t, 200, 40, 8)
	o := trOptions()
	o.Epochs = 2
	res, err := Train(context.Background(), path, &o)
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadData(path, true, true)
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvaluator(d, &d.val, res.Bundle.Config)
	logits := ev.run(res.Bundle.Params).logits
	r, err := features.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pr := BundlePredictor(res.Bundle)
	var ex features.Example
	var out model.Prediction
	k := 0
	// The bundle's next-category figures are its pool's
	// (model.NextBlend): Predict's distributions reproduce them.
	if res.Bundle.NextBlend.Identity() {
		t.Fatal("no next-category pool fitted")
	}
	var hits3, nextN int
	for {
		if err := r.Next(&ex); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if ex.Split != features.SplitValidation || ex.Label.Excluded || ex.Label.Censored {
			continue
		}
		if err := res.Bundle.Predict(&ex, &out); err != nil {
			t.Fatal(err)
		}
		if math.Abs(out.ChurnLogit-float64(logits[k])) > 1e-5 {
			t.Fatalf("validation example %d: Predict logit %v, evaluator %v", k, out.ChurnLogit, logits[k])
		}
		p, dist := pr.Predict(&ex)
		if p != res.Bundle.Calibration.Prob(out.ChurnLogit) || len(dist) != len(d.spec.Categories) {
			t.Fatalf("BundlePredictor: %v, %d categories", p, len(dist))
		}
		if y := ex.Label.NextCategory; y >= 0 {
			z := make([]float32, len(out.NextCategory))
			for j, q := range out.NextCategory {
				z[j] = float32(math.Log(q))
			}
			if Rank(z, int(y)) <= 3 {
				hits3++
			}
			nextN++
		}
		k++
	}
	if k != d.val.len() {
		t.Errorf("compared %d examples of %d", k, d.val.len())
	}
	if got, want := float64(hits3)/float64(nextN), res.Bundle.Metrics["val_next_hr3"]; math.Abs(got-want) > 1.5/float64(nextN) {
		t.Errorf("validation HR@3 of the bundle's predictions %v, its metric %v (%d examples)", got, want, nextN)
	}
}

// trChildEnv, when set in the environment, makes TestResumeAfterKill act as
// the child that is killed: it trains with checkpoints into the directory
// it names.
const (
	trChildEnv    = "RETAIN_TRAIN_TEST_CHECKPOINT_DIR"
	trChildFeats  = "RETAIN_TRAIN_TEST_FEATURES"
	trChildEpochs = 6
)

// TestResumeAfterKill runs a training in a child process (this test binary
// again), kills it with SIGKILL once its first checkpoint is on disk,
// resumes from that checkpoint in this process, and requires the final
// bundle to be byte-identical to one from an uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	opts := trOptions()
	opts.Epochs = trChildEpochs
	if dir := os.Getenv(trChildEnv); dir != "" {
		// The child: slow enough between epochs for the parent to catch it.
		opts.CheckpointDir = dir
		opts.afterEpoch = func(int) { time.Sleep(300 * time.Millisecond) }
		if _, err := Train(context.Background(), os.Getenv(trChildFeats), &opts); err != nil {
			t.Fatal(err)
		}
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := trFixture(t, 200, 40, 8)
	ctx := context.Background()
	ref := opts
	ref.Out = filepath.Join(t.TempDir(), "ref.rtmb")
	want, err := Train(ctx, path, &ref)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeAfterKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), trChildEnv+"="+dir, trChildFeats+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ckpt := filepath.Join(dir, CheckpointFile)
	deadline := time.After(60 * time.Second)
wait:
	for {
		select {
		case err := <-exited:
			t.Fatalf("child exited before its first checkpoint (%v):\n%s", err, out.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 60 s:\n%s", out.String())
		case <-time.After(2 * time.Millisecond):
			if _, err := os.Stat(ckpt); err == nil {
				break wait
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	<-exited
	ck, err := loadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ck == nil || ck.Epoch >= opts.Epochs {
		t.Fatalf("checkpoint after the kill: %+v; the child was not interrupted", ck)
	}
	t.Logf("child killed after epoch %d of %d", ck.Epoch, opts.Epochs)

	res := opts
	res.CheckpointDir, res.Resume = dir, true
	res.Out = filepath.Join(t.TempDir(), "resumed.rtmb")
	got, err := Train(ctx, path, &res)
	if err != nil {
		t.Fatal(err)
	}
	if got.ResumedFrom != ck.Epoch {
		t.Errorf("resumed from epoch %d, checkpoint has %d", got.ResumedFrom, ck.Epoch)
	}
	trSameBits(t, "weights", got.Bundle.Params.Data, want.Bundle.Params.Data)
	a, err := os.ReadFile(ref.Out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(res.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("resumed bundle differs from the uninterrupted one")
	}
	if len(got.History) != len(want.History) {
		t.Fatalf("history of %d epochs, want %d", len(got.History), len(want.History))
	}
	for i := range got.History {
		g, w := got.History[i], want.History[i]
		g.Seconds, w.Seconds = 0, 0
		if g != w {
			t.Errorf("epoch %d: %+v, uninterrupted %+v", i+1, g, w)
		}
	}
	// Resuming a finished run trains nothing and gives the same bundle.
	again, err := Train(ctx, path, &res)
	if err != nil {
		t.Fatal(err)
	}
	if again.ResumedFrom != opts.Epochs {
		t.Errorf("second resume from epoch %d", again.ResumedFrom)
	}
	trSameBits(t, "weights after a second resume", again.Bundle.Params.Data, want.Bundle.Params.Data)
}

// TestResumeRefusesOtherRun: a checkpoint is only resumed by a run with
// the same options and training file; Epochs may grow.
func TestResumeRefusesOtherRun(t *testing.T) {
	path := trFixture(t, 200, 40, 8)
	ctx := context.Background()
	dir := t.TempDir()
	o := trOptions()
	o.Epochs, o.CheckpointDir = 2, dir
	if _, err := Train(ctx, path, &o); err != nil {
		t.Fatal(err)
	}
	other := o
	other.Resume, other.Hidden = true, 9
	if _, err := Train(ctx, path, &other); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("resume with another hidden size: %v, want ErrCheckpoint", err)
	}
	path2 := trFixture(t, 201, 40, 8)
	other = o
	other.Resume = true
	if _, err := Train(ctx, path2, &other); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("resume on other data: %v, want ErrCheckpoint", err)
	}
	// More epochs continue the same run: 2 + 1 equals 3 straight.
	more := o
	more.Resume, more.Epochs = true, 3
	got, err := Train(ctx, path, &more)
	if err != nil {
		t.Fatal(err)
	}
	straight := trOptions()
	straight.Epochs = 3
	want, err := Train(ctx, path, &straight)
	if err != nil {
		t.Fatal(err)
	}
	if got.ResumedFrom != 2 || len(got.History) != 3 {
		t.Errorf("resumed from %d with %d epochs", got.ResumedFrom, len(got.History))
	}
	trSameBits(t, "2+1 epochs vs 3", got.Bundle.Params.Data, want.Bundle.Params.Data)
	// Resume with no checkpoint starts afresh.
	fresh := o
	fresh.Resume, fresh.CheckpointDir = true, t.TempDir()
	if r, err := Train(ctx, path, &fresh); err != nil || r.ResumedFrom != 0 {
		t.Errorf("resume without a checkpoint: %v, resumed from %v", err, r)
	}
}

// TestTrainMemoryFlat measures the heap after every epoch: it must not grow
// from epoch to epoch, and an epoch must allocate far less than one batch
// buffer per batch (the batch buffers are reused).
func TestTrainMemoryFlat(t *testing.T) {
	path := trFixture(t, 200, 40, 8)
	o := trOptions()
	o.Epochs = 8
	var heap, total []uint64
	o.afterEpoch = func(int) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = append(heap, ms.HeapAlloc)
		total = append(total, ms.TotalAlloc)
	}
	res, err := Train(context.Background(), path, &o)
	if err != nil {
		t.Fatal(err)
	}
	cfg := res.Bundle.Config
	batches := (res.TrainExamples + o.BatchSize - 1) / o.BatchSize
	batchBytes := uint64(o.BatchSize * cfg.Steps * (cfg.Inputs + 1) * 4)
	for i := 2; i < len(total); i++ {
		per := total[i] - total[i-1]
		t.Logf("epoch %d: allocated %d bytes, heap %d", i+1, per, heap[i])
		if per > uint64(batches)*batchBytes/8 {
			t.Errorf("epoch %d allocated %d bytes; %d batches of %d bytes each", i+1, per, batches, batchBytes)
		}
	}
	if last, first := heap[len(heap)-1], heap[1]; last > first+256<<10 {
		t.Errorf("heap grew from %d to %d bytes between epoch 2 and %d", first, last, len(heap))
	}
}

func TestOptions(t *testing.T) {
	var nilOpts *Options
	if got := nilOpts.withDefaults(); got.Hidden != 64 || got.Engine != model.EngineNative || got.Now == nil {
		t.Errorf("nil options: %+v", got)
	}
	zero := (&Options{}).withDefaults()
	d := DefaultOptions()
	if zero.Hidden != d.Hidden || zero.BatchSize != d.BatchSize || zero.Epochs != d.Epochs || zero.Patience != d.Patience ||
		zero.LearningRate != d.LearningRate || zero.Calibration != d.Calibration || zero.Seed != 0 {
		t.Errorf("zero options with defaults: %+v", zero)
	}
	for _, tc := range []struct {
		name string
		set  func(*Options)
	}{
		{"layers", func(o *Options) { o.Layers = 3 }},
		{"engine", func(o *Options) { o.Engine = "cuda" }},
		{"lr", func(o *Options) { o.LearningRate = -1 }},
		{"pos weight", func(o *Options) { o.PosWeight = math.NaN() }},
		{"calibration", func(o *Options) { o.Calibration = "isotonic" }},
		{"resume without dir", func(o *Options) { o.Resume = true }},
	} {
		o := DefaultOptions()
		tc.set(&o)
		if _, err := Train(context.Background(), "/nonexistent", &o); err == nil || errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: error %v, want an option error", tc.name, err)
		}
	}
	if _, err := Train(context.Background(), "/nonexistent/features.rtfs", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, trFixture(t, 200, 40, 8), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// BenchmarkTrainEpoch measures training throughput in sequences per second
// on real feature data at the default shape (26 weeks, hidden 64, batch 64,
// the default inputs): one pass of Adam steps over the training examples of
// 600 synthetic members (60 weeks) per iteration, batches assembled from the
// compact arrays as Train does. Validation and loading are not timed.
//
//	go test ./train -run '^$' -bench TrainEpoch -benchtime 3x
func BenchmarkTrainEpoch(b *testing.B) {
	path := trFixture(b, 600, 60, 26)
	d, err := loadData(path, true, true)
	if err != nil {
		b.Fatal(err)
	}
	for _, engine := range []model.Engine{model.EngineNative, model.EngineGorgonia} {
		b.Run(string(engine), func(b *testing.B) {
			o := DefaultOptions()
			cfg := model.Config{Steps: d.T, Inputs: d.F, Static: d.S, Hidden: o.Hidden, Layers: o.Layers, Classes: d.C, PosWeight: 10}
			tr, err := model.NewTrainer(cfg, model.NewParams(cfg, rand.NewPCG(1, 2)), o.BatchSize,
				&model.TrainerOptions{LearningRate: o.LearningRate, L2: o.L2, Engine: engine})
			if err != nil {
				b.Fatal(err)
			}
			batch := d.newBatch(o.BatchSize)
			idx := make([]int32, d.train.len())
			for i := range idx {
				idx[i] = int32(i)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for lo := 0; lo < len(idx); lo += o.BatchSize {
					d.fill(&d.train, idx[lo:min(lo+o.BatchSize, len(idx))], batch)
					if _, err := tr.Step(batch); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(idx))*float64(b.N)/b.Elapsed().Seconds(), "seq/s")
		})
	}
}

// TestValidationHRTiesPessimistic: the validation HR@k of training breaks
// ties against the true class, as Evaluate (Rank) does. A model whose
// output layer is all zero gives every class the same logit, so the true
// class ranks last (C) in every example: HR@1 = 0 and, with more than 3
// classes, HR@3 = 0. (Counting only strictly higher logits would give 1 and
// 1.)
func TestValidationHRTiesPessimistic(t *testing.T) {
	path := trFixture(t, 200, 40, 8)
	d, err := loadData(path, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if d.C <= 3 {
		t.Fatalf("fixture has %d categories; the test needs more than 3", d.C)
	}
	cfg := model.Config{Steps: d.T, Inputs: d.F, Static: d.S, Hidden: 4, Classes: d.C}.WithDefaults()
	p := model.NewParams(cfg, rand.NewPCG(1, 2))
	clear(p.WOut)
	clear(p.BOut)
	r := newEvaluator(d, &d.val, cfg).run(p)
	if r.nextN == 0 {
		t.Fatal("no validation example has a next category")
	}
	if r.hr1 != 0 || r.hr3 != 0 {
		t.Errorf("constant class logits: HR@1 %v, HR@3 %v over %d examples; want 0 and 0", r.hr1, r.hr3, r.nextN)
	}
}

// TestAveraged: the bias-corrected moving average of the weights
// (Options.EMA). By hand, β = 0.5 and weights 2 then 4 from avg 0: avg is
// 1 after the first step and 0.5·1 + 0.5·4 = 2.5 after the second; the
// corrections are 1 − 0.5 = 0.5 and 1 − 0.25 = 0.75, so the averages are
// 2 (the first weights) and 2.5/0.75 = 10/3. Constant weights average to
// themselves whatever the number of steps.
func TestAveraged(t *testing.T) {
	dst := make([]float32, 2)
	averaged(dst, []float32{1, 2.5}, 0.5, 1)
	if dst[0] != 2 {
		t.Errorf("after one step %v, want 2", dst[0])
	}
	averaged(dst, []float32{2.5}, 0.5, 2)
	if math.Abs(float64(dst[0])-10.0/3) > 1e-6 {
		t.Errorf("after two steps %v, want 10/3", dst[0])
	}
	const beta, w = 0.99, 0.75
	var avg float32
	for range 300 {
		avg = beta*avg + (1-beta)*w
	}
	averaged(dst[:1], []float32{avg}, beta, 300)
	if math.Abs(float64(dst[0])-w) > 1e-5 {
		t.Errorf("constant weights %v average to %v", w, dst[0])
	}
}
