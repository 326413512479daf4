package train

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"retain/features"
	"retain/model"
)

// Predictor scores one example: the calibrated churn probability and the
// distribution of the next class category over Spec.Categories. The example
// carries raw (unnormalised) features, as package features computes them.
// A Predictor is used by one goroutine at a time; the nextCategory slice
// may be reused by the next call.
type Predictor interface {
	Predict(ex *features.Example) (churnProb float64, nextCategory []float64)
}

// BundlePredictor returns a Predictor over b. An example that does not fit
// the bundle's spec (which Predict would refuse) panics: check the spec
// with b.CheckCompatible first.
func BundlePredictor(b *model.Bundle) Predictor { return &bundlePredictor{b: b} }

type bundlePredictor struct {
	b   *model.Bundle
	out model.Prediction
}

func (p *bundlePredictor) Predict(ex *features.Example) (float64, []float64) {
	if err := p.b.Predict(ex, &p.out); err != nil {
		panic(fmt.Sprintf("train: BundlePredictor: %v", err))
	}
	return p.out.Churn, p.out.NextCategory
}

// Options configure Train. A nil *Options means DefaultOptions(); in a
// non-nil one a zero field means the default stated per field (Seed
// excepted: 0 is a seed like any other).
type Options struct {
	// Out is the path of the bundle to write. Default "": not saved.
	Out string `json:"-"`

	// Hidden is the LSTM state size. Default 64.
	Hidden int
	// Layers is the number of LSTM layers, 1 or 2. Default 1.
	Layers int
	// Engine computes the gradients. Default model.EngineNative: it
	// computes the same gradients as the Gorgonia reference (the model
	// tests hold them to each other and to finite differences) about 9
	// times as fast on the default shape (BenchmarkTrainEpoch, figures in
	// docs/model-bundle.md), which is what fits the demo's training into
	// its time budget. model.EngineGorgonia selects the reference.
	Engine model.Engine
	// BatchSize is the number of sequences per Adam step. Default 64.
	BatchSize int
	// Epochs is the maximum number of passes over the training split.
	// Default 20 (early stopping ends the demo data's runs after 13 to 16
	// epochs).
	Epochs int
	// Patience stops training after this many epochs without a new best
	// validation loss. Default 3; negative disables early stopping.
	Patience int
	// LearningRate is Adam's step size. Default 2e-3.
	LearningRate float64
	// ClipNorm clips the gradient's global L2 norm. Default 5; negative
	// disables clipping.
	ClipNorm float64
	// L2 is Adam's weight decay (coupled, as PyTorch's Adam weight_decay).
	// Default 3e-3: on the demo data's validation split it raised the
	// churn AUC by about 0.005 over 0 (docs/model-bundle.md). Negative
	// means 0.
	L2 float64
	// EMA is the decay per Adam step of an exponential moving average of
	// the weights (Polyak averaging, with Adam's bias correction:
	// avg_t = β·avg_{t−1} + (1−β)·w_t from avg_0 = 0, used as
	// avg_t/(1−β^t)). Validation, early stopping and the bundle use the
	// average instead of the last step's weights. Default 0.998, about the
	// last 500 steps (an epoch of the demo data is 420); negative means
	// off. On the demo data's validation split (best epoch) it lowered the
	// validation loss from 2.1612 to 2.1514 and the next-course
	// cross-entropy from 1.7446 to 1.7258 (HR@3 0.7357 to 0.7377), churn
	// AUC 0.9177 to 0.9166; 0.99 gave 2.1585, 1.7291, 0.7398, 0.9154.
	EMA float64
	// Seed fixes the initial weights and the shuffling (PCG streams of
	// math/rand/v2): the same seed, data, Engine and Workers give
	// bit-identical weights on the same kind of CPU. DefaultOptions sets 1.
	Seed uint64
	// ChurnWeight multiplies the churn loss against the next-category
	// loss. Default 1.
	ChurnWeight float64
	// PosWeight multiplies the churn loss of churned examples. Default 0:
	// automatic, negatives/positives of the training split (the usual
	// balancing; the calibration step then undoes the shift it gives the
	// probabilities). Set 1 for no weighting.
	PosWeight float64
	// NoIndicators leaves the standardised indicators (recency,
	// frequency, spend, flags, ...) out of the network's static input.
	// Default false: they are joined to the static features.
	NoIndicators bool
	// NoSummary leaves the log window sums of the count features (visits,
	// classes per category; model.Inputs) out of the network's static
	// input. Default false: they are joined.
	NoSummary bool
	// Calibration is the churn calibration fitted on the validation split:
	// CalibratePlatt, CalibrateTemperature or CalibrateNone. Default
	// CalibratePlatt.
	Calibration string
	// NextBlend is how the next-category prediction uses the features'
	// choice model after training (model.NextBlend): NextBlendPool fits a
	// log-linear pool of the network and the choice columns on the
	// validation split, NextBlendNone keeps the network alone. Default
	// NextBlendPool.
	NextBlend string
	// Workers is the number of goroutines that share each batch. Runs are
	// reproducible for a given Workers only. Default 1.
	Workers int

	// CheckpointDir, when set, receives a checkpoint after every epoch.
	// Default "": none.
	CheckpointDir string `json:"-"`
	// Resume continues from the checkpoint in CheckpointDir, if there is
	// one, bit-identically to a run that was never interrupted. It fails
	// if the checkpoint was made with other options (Epochs, Patience and
	// Calibration excepted) or another training file. Default false.
	Resume bool `json:"-"`
	// Progress receives a progress bar when it is a terminal, else one
	// line per epoch. Default nil: silent.
	Progress io.Writer `json:"-"`
	// Now gives the bundle's creation time. Default time.Now.
	Now func() time.Time `json:"-"`

	// afterEpoch, when set, is called after each epoch's checkpoint (tests).
	afterEpoch func(epoch int)
}

// DefaultOptions returns the default options.
func DefaultOptions() Options {
	return Options{
		Hidden:       64,
		Layers:       1,
		Engine:       model.EngineNative,
		BatchSize:    64,
		Epochs:       20,
		L2:           3e-3,
		Patience:     3,
		LearningRate: 2e-3,
		ClipNorm:     5,
		EMA:          0.998,
		Seed:         1,
		ChurnWeight:  1,
		Calibration:  CalibratePlatt,
		NextBlend:    NextBlendPool,
		Workers:      1,
	}
}

func (o *Options) withDefaults() Options {
	d := DefaultOptions()
	if o == nil {
		o = &d
	}
	r := *o
	r.Hidden = cmp.Or(r.Hidden, d.Hidden)
	r.Layers = cmp.Or(r.Layers, d.Layers)
	r.Engine = cmp.Or(r.Engine, d.Engine)
	r.BatchSize = cmp.Or(r.BatchSize, d.BatchSize)
	r.Epochs = cmp.Or(r.Epochs, d.Epochs)
	r.Patience = cmp.Or(r.Patience, d.Patience)
	r.LearningRate = cmp.Or(r.LearningRate, d.LearningRate)
	r.ClipNorm = cmp.Or(r.ClipNorm, d.ClipNorm)
	switch {
	case r.L2 == 0:
		r.L2 = d.L2
	case r.L2 < 0:
		r.L2 = 0
	}
	switch {
	case r.EMA == 0:
		r.EMA = d.EMA
	case r.EMA < 0:
		r.EMA = 0
	}
	r.ChurnWeight = cmp.Or(r.ChurnWeight, d.ChurnWeight)
	r.Calibration = cmp.Or(r.Calibration, d.Calibration)
	r.NextBlend = cmp.Or(r.NextBlend, d.NextBlend)
	r.Workers = cmp.Or(r.Workers, d.Workers)
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

func (o *Options) validate() error {
	bad := func(field string, v any) error { return fmt.Errorf("train: option %s = %v is invalid", field, v) }
	switch {
	case o.Hidden < 1:
		return bad("Hidden", o.Hidden)
	case o.Layers != 1 && o.Layers != 2:
		return bad("Layers", o.Layers)
	case o.Engine != model.EngineNative && o.Engine != model.EngineGorgonia:
		return bad("Engine", o.Engine)
	case o.BatchSize < 1:
		return bad("BatchSize", o.BatchSize)
	case o.Epochs < 1:
		return bad("Epochs", o.Epochs)
	case !(o.LearningRate > 0):
		return bad("LearningRate", o.LearningRate)
	case !(o.L2 >= 0) || math.IsInf(o.L2, 0):
		return bad("L2", o.L2)
	case !(o.EMA >= 0 && o.EMA < 1):
		return bad("EMA", o.EMA)
	case !(o.ChurnWeight > 0):
		return bad("ChurnWeight", o.ChurnWeight)
	case !(o.PosWeight >= 0) || math.IsInf(o.PosWeight, 0):
		return bad("PosWeight", o.PosWeight)
	case o.Workers < 1:
		return bad("Workers", o.Workers)
	case o.Resume && o.CheckpointDir == "":
		return fmt.Errorf("train: Resume needs a CheckpointDir")
	}
	switch o.Calibration {
	case CalibratePlatt, CalibrateTemperature, CalibrateNone:
	default:
		return bad("Calibration", o.Calibration)
	}
	switch o.NextBlend {
	case NextBlendPool, NextBlendNone:
	default:
		return bad("NextBlend", o.NextBlend)
	}
	return nil
}

// runKey returns the options that fix the sequence of weights, as JSON: a
// resumed run must match its checkpoint's.
func (o *Options) runKey() json.RawMessage {
	k := *o
	k.Epochs, k.Patience, k.Calibration, k.NextBlend = 0, 0, "", ""
	b, _ := json.Marshal(&k)
	return b
}

// EpochStats are the figures of one training epoch.
type EpochStats struct {
	Epoch int // 1-based
	// TrainLoss is the mean loss of the epoch's batches, each taken
	// before its Adam step.
	TrainLoss float64
	// ValLoss is the loss on the validation split, defined as the training
	// loss (next-category cross-entropy + ChurnWeight · churn binary
	// cross-entropy with PosWeight), averaged over the examples. Early
	// stopping watches it.
	ValLoss float64
	// ValChurnLoss and ValNextCE are its two terms (ValNextCE averaged
	// over the examples with a next category, ValChurnLoss over all and
	// without ChurnWeight).
	ValChurnLoss, ValNextCE float64
	// ValChurnAUC is the validation churn ROC-AUC; 0 when the validation
	// split has churners only or none (the AUC is undefined).
	ValChurnAUC float64
	// ValNextHR3 is the share of validation examples with a next category
	// whose category is among the three most probable, ties counted
	// against it (Rank, as in Evaluate).
	ValNextHR3 float64
	// Seconds is the wall time of the epoch, validation included.
	Seconds float64
}

// Result is what Train returns.
type Result struct {
	// BundlePath is where the bundle was saved ("" if Options.Out was
	// empty).
	BundlePath string
	// Bundle is the trained, calibrated model.
	Bundle *model.Bundle
	// History has one entry per epoch run, resumed epochs included.
	History []EpochStats
	// BestEpoch is the epoch whose weights the bundle holds.
	BestEpoch int
	// Stopped says why training ended: "epochs" (Options.Epochs reached)
	// or "early" (Patience epochs without a better validation loss).
	Stopped string
	// ResumedFrom is the epoch of the checkpoint the run resumed from, 0
	// if it started afresh.
	ResumedFrom int
	// TrainExamples and ValExamples count the examples used; Skipped
	// counts the training and validation examples left out (censored or
	// excluded).
	TrainExamples, ValExamples, Skipped int
	// PosWeight is the churn positive weight used.
	PosWeight float64
	// Validation are the calibrated model's figures on the validation
	// split (also in Bundle.Metrics): see validationMetrics.
	Validation map[string]float64
	// Seconds is the wall time of Train.
	Seconds float64
}

// TrainingRecord is what Train stores in model.Bundle.Training, as JSON: the
// options of the run (paths left out), the positive weight it used, and the
// history of its epochs without their timings, so that equal runs give
// byte-identical bundles.
type TrainingRecord struct {
	Options
	PosWeightUsed float64
	BestEpoch     int
	Stopped       string
	History       []EpochStats
}

// Seed stream ids: the initial weights and the shuffling draw from PCG
// streams of Options.Seed that no other use shares.
const (
	streamParams  = 0x7265_7461_696e_0001
	streamShuffle = 0x7265_7461_696e_0002
)

// Train trains the model on the training file at featuresPath (written by
// features.BuildDataset): minibatch Adam over the training split with the
// examples shuffled every epoch, early stopping on the validation loss,
// the best epoch's weights kept, the churn probability calibrated on the
// validation split. The test split is not read. With Options.Out set the
// bundle is saved there.
//
// ctx is checked between batches; a cancelled run returns ctx's error and
// leaves the last epoch's checkpoint to resume from.
func Train(ctx context.Context, featuresPath string, opts *Options) (*Result, error) {
	began := time.Now()
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	rep := newReporter(o.Progress)
	d, err := loadData(featuresPath, !o.NoIndicators, !o.NoSummary)
	if err != nil {
		return nil, err
	}
	res := &Result{
		TrainExamples: d.train.len(),
		ValExamples:   d.val.len(),
		Skipped:       int(d.censored + d.excluded),
	}
	pos := d.train.positives()
	res.PosWeight = o.PosWeight
	if res.PosWeight == 0 {
		res.PosWeight = 1
		if pos > 0 {
			res.PosWeight = float64(d.train.len()-pos) / float64(pos)
		}
	}
	rep.logf("training on %d examples (%d churned, pos weight %.3g), validating on %d; %d skipped (censored or excluded)",
		res.TrainExamples, pos, res.PosWeight, res.ValExamples, res.Skipped)
	cfg := model.Config{
		Steps: d.T, Inputs: d.F, Static: d.S, Hidden: o.Hidden, Layers: o.Layers, Classes: d.C,
		ChurnWeight: o.ChurnWeight, PosWeight: res.PosWeight,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	cfg = cfg.WithDefaults()
	params := model.NewParams(cfg, rand.NewPCG(o.Seed, streamParams))
	tr, err := model.NewTrainer(cfg, params, o.BatchSize, &model.TrainerOptions{
		LearningRate: o.LearningRate, ClipNorm: o.ClipNorm, L2: o.L2, Engine: o.Engine, Workers: o.Workers,
	})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	shuffle := rand.NewPCG(o.Seed, streamShuffle)
	ck := &checkpoint{checkpointMeta: checkpointMeta{Run: o.runKey(), DataFingerprint: d.fingerprint, BestLoss: math.Inf(1)}}
	if o.Resume {
		prev, err := loadCheckpoint(o.CheckpointDir)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			if err := resume(prev, ck, tr, shuffle); err != nil {
				return nil, err
			}
			res.ResumedFrom = prev.Epoch
			rep.logf("resumed from the checkpoint of epoch %d", prev.Epoch)
		}
	}

	ev := newEvaluator(d, &d.val, cfg)
	perm := make([]int32, d.train.len())
	batch := d.newBatch(o.BatchSize)
	nb := (len(perm) + o.BatchSize - 1) / o.BatchSize
	rng := rand.New(shuffle)
	if o.EMA > 0 && ck.EMA == nil {
		ck.EMA = make([]float32, model.NumParams(cfg))
	}
	for epoch := ck.Epoch + 1; epoch <= o.Epochs && ck.Stopped == ""; epoch++ {
		t0 := time.Now()
		for i := range perm {
			perm[i] = int32(i)
		}
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		rep.startEpoch(epoch, o.Epochs, nb)
		var sum float64
		var rows int
		for k := 0; k < nb; k++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			idx := perm[k*o.BatchSize : min((k+1)*o.BatchSize, len(perm))]
			d.fill(&d.train, idx, batch)
			steps := tr.Steps()
			loss, err := tr.Step(batch)
			if err != nil {
				return nil, fmt.Errorf("train: epoch %d batch %d: %w", epoch, k, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("train: epoch %d batch %d: loss %v (diverged; try a lower learning rate)", epoch, k, loss)
			}
			sum += loss * float64(len(idx))
			rows += len(idx)
			// One averaging update per Adam step (a batch without weight
			// takes none), so that averaged's bias correction counts them.
			if o.EMA > 0 && tr.Steps() > steps {
				tr.Average(ck.EMA, float32(o.EMA))
			}
			rep.batch(k+1, sum/float64(rows))
		}
		p := tr.Params()
		if o.EMA > 0 && tr.Steps() > 0 {
			averaged(p.Data, ck.EMA, o.EMA, tr.Steps())
		}
		v := ev.run(p)
		if math.IsNaN(v.loss) || math.IsInf(v.loss, 0) {
			return nil, fmt.Errorf("train: epoch %d: validation loss %v (diverged; try a lower learning rate)", epoch, v.loss)
		}
		auc := v.auc
		if math.IsNaN(auc) {
			auc = 0
		}
		st := EpochStats{
			Epoch: epoch, TrainLoss: sum / float64(rows),
			ValLoss: v.loss, ValChurnLoss: v.churnLoss, ValNextCE: v.nextCE, ValChurnAUC: auc, ValNextHR3: v.hr3,
			Seconds: time.Since(t0).Seconds(),
		}
		best := v.loss < ck.BestLoss
		if best {
			ck.BestLoss, ck.BestEpoch, ck.Bad = v.loss, epoch, 0
			ck.Best = append(ck.Best[:0], p.Data...)
		} else {
			ck.Bad++
			if o.Patience > 0 && ck.Bad >= o.Patience {
				ck.Stopped = "early"
			}
		}
		ck.Epoch = epoch
		ck.History = append(ck.History, st)
		rep.endEpoch(st, o.Epochs, best)
		if o.CheckpointDir != "" {
			ck.State = tr.State()
			if ck.Shuffle, err = shuffle.MarshalBinary(); err != nil {
				return nil, fmt.Errorf("train: %w", err)
			}
			if err := ck.save(o.CheckpointDir); err != nil {
				return nil, err
			}
		}
		if o.afterEpoch != nil {
			o.afterEpoch(epoch)
		}
	}
	res.History = ck.History
	res.BestEpoch = ck.BestEpoch
	res.Stopped = ck.Stopped
	if res.Stopped == "" {
		res.Stopped = "epochs"
	}

	// The bundle: the best epoch's weights, calibrated on validation.
	bestParams, err := model.ParamsFromData(cfg, ck.Best)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	// One validation pass gives the calibration's churn logits and, for
	// the next-category pool, the rows it is fitted on.
	col := d.spec.ChoiceColumn()
	pool := o.NextBlend == NextBlendPool && col >= 0
	if pool {
		ev.pool, ev.poolCol = &poolRows{C: cfg.Classes}, col
	}
	v := ev.run(bestParams)
	rows := ev.pool
	ev.pool = nil
	z := make([]float64, len(v.logits))
	for i, l := range v.logits {
		z[i] = float64(l)
	}
	y := make([]float64, len(d.val.churn))
	for i, c := range d.val.churn {
		y[i] = float64(c)
	}
	cal, err := Calibrate(o.Calibration, z, y)
	if err != nil {
		return nil, err
	}
	res.Validation = validationMetrics(v, cal, y)
	var blend model.NextBlend
	if pool && v.nextN > 0 {
		if blend, err = fitNextBlend(rows); err != nil {
			return nil, err
		}
		blend.Column = col
		// The bundle's figures are the pool's; the network's alone are
		// kept beside them.
		m := res.Validation
		m["val_next_ce_net"], m["val_next_hr1_net"], m["val_next_hr3_net"] = m["val_next_ce"], m["val_next_hr1"], m["val_next_hr3"]
		m["val_next_ce"] = blend.LogLossAfter
		m["val_next_hr1"], m["val_next_hr3"] = poolHits(rows, blend)
		m["next_pool_a"], m["next_pool_b"] = blend.A, blend.B
	}
	metrics := map[string]float64{
		"best_epoch":     float64(ck.BestEpoch),
		"epochs_run":     float64(ck.Epoch),
		"train_examples": float64(res.TrainExamples),
		"val_examples":   float64(res.ValExamples),
		"pos_weight":     res.PosWeight,
	}
	for k, x := range res.Validation {
		metrics[k] = x
	}
	rec := TrainingRecord{Options: o, PosWeightUsed: res.PosWeight, BestEpoch: res.BestEpoch, Stopped: res.Stopped}
	for _, h := range res.History {
		h.Seconds = 0 // no timings in the bundle: equal runs give equal bundles
		rec.History = append(rec.History, h)
	}
	runOpts, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	res.Bundle = &model.Bundle{
		Config:          cfg,
		Params:          bestParams,
		Spec:            d.spec,
		Normalizer:      d.norm,
		Indicators:      !o.NoIndicators,
		Summary:         !o.NoSummary,
		Calibration:     cal,
		NextBlend:       blend,
		Training:        runOpts,
		Metrics:         metrics,
		DataFingerprint: d.fingerprint,
		Created:         o.Now().UTC(),
	}
	if err := res.Bundle.Validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if o.Out != "" {
		if err := res.Bundle.Save(o.Out); err != nil {
			return nil, err
		}
		res.BundlePath = o.Out
	}
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// resume checks the checkpoint prev against the new run's ck and moves its
// state into ck, the trainer and the shuffling PCG.
func resume(prev, ck *checkpoint, tr *model.Trainer, shuffle *rand.PCG) error {
	if string(prev.Run) != string(ck.Run) {
		return fmt.Errorf("%w: made with options %s, this run has %s", ErrCheckpoint, prev.Run, ck.Run)
	}
	if prev.DataFingerprint != ck.DataFingerprint {
		return fmt.Errorf("%w: made on training data %s, this run reads %s", ErrCheckpoint, prev.DataFingerprint, ck.DataFingerprint)
	}
	if err := tr.Restore(prev.State); err != nil {
		return fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	if len(prev.Best) != len(prev.State.Params) {
		return fmt.Errorf("%w: best weights of the wrong size", ErrCheckpoint)
	}
	if err := shuffle.UnmarshalBinary(prev.Shuffle); err != nil {
		return fmt.Errorf("%w: shuffle state: %v", ErrCheckpoint, err)
	}
	ck.checkpointMeta = prev.checkpointMeta
	ck.Best = prev.Best
	ck.EMA = prev.EMA
	return nil
}

// averaged writes the bias-corrected moving average of the weights after
// step Adam steps into dst: avg/(1 − beta^step) (Options.EMA).
func averaged(dst, avg []float32, beta float64, step int64) {
	c := float32(1 - math.Pow(beta, float64(step)))
	for i, v := range avg {
		dst[i] = v / c
	}
}

// evaluator computes the validation figures of weights, reusing its
// buffers from epoch to epoch.
type evaluator struct {
	d      *trainData
	s      *exampleSet
	cfg    model.Config
	batch  *model.Batch
	idx    []int32
	ws     model.Workspace
	out    model.Output
	logits []float32
	probs  []float64
	order  []int32
	// pool, when set, receives every example's next-category logits and
	// choice columns (static column poolCol on) for the pool's fit.
	pool    *poolRows
	poolCol int
}

// evalChunk is the number of validation examples per forward pass.
const evalChunk = 256

func newEvaluator(d *trainData, s *exampleSet, cfg model.Config) *evaluator {
	return &evaluator{
		d: d, s: s, cfg: cfg,
		batch:  d.newBatch(evalChunk),
		idx:    make([]int32, evalChunk),
		logits: make([]float32, s.len()),
		order:  make([]int32, s.len()),
	}
}

// evalResult are the figures of one evaluation; logits aliases the
// evaluator's buffer.
type evalResult struct {
	loss, churnLoss, nextCE float64
	auc, hr1, hr3           float64
	nextN                   int
	logits                  []float32
}

// run evaluates p on the evaluator's examples.
func (e *evaluator) run(p *model.Params) evalResult {
	var r evalResult
	n, C := e.s.len(), e.cfg.Classes
	pw, cw := e.cfg.PosWeight, e.cfg.ChurnWeight
	var lossSum, churnSum, nextSum float64
	var hit1, hit3 int
	for lo := 0; lo < n; lo += evalChunk {
		hi := min(lo+evalChunk, n)
		idx := e.idx[:hi-lo]
		for i := range idx {
			idx[i] = int32(lo + i)
		}
		e.d.fill(e.s, idx, e.batch)
		if err := p.ForwardWith(&e.ws, e.batch, &e.out); err != nil {
			panic(err) // the batch is built for p's shape
		}
		for i := range idx {
			k := lo + i
			z := float64(e.out.ChurnLogit[i])
			e.logits[k] = e.out.ChurnLogit[i]
			y := float64(e.s.churn[k])
			bce := pw*y*softplus64(-z) + (1-y)*softplus64(z)
			churnSum += bce
			l := cw * bce
			if c := e.s.next[k]; c >= 0 {
				row := e.out.ClassLogits[i*C : (i+1)*C]
				if e.pool != nil {
					S := e.cfg.Static
					e.pool.z = append(e.pool.z, row...)
					e.pool.c = append(e.pool.c, e.batch.Static[i*S+e.poolCol:i*S+e.poolCol+C]...)
					e.pool.y = append(e.pool.y, int32(c))
				}
				ce := logSumExp32(row) - float64(row[c])
				nextSum += ce
				l += ce
				r.nextN++
				// Ties count against the true class, as in Evaluate.
				rank := Rank(row, int(c))
				if rank <= 1 {
					hit1++
				}
				if rank <= 3 {
					hit3++
				}
			}
			lossSum += l
		}
	}
	r.loss = lossSum / float64(n)
	r.churnLoss = churnSum / float64(n)
	if r.nextN > 0 {
		r.nextCE = nextSum / float64(r.nextN)
		r.hr1 = float64(hit1) / float64(r.nextN)
		r.hr3 = float64(hit3) / float64(r.nextN)
	}
	r.logits = e.logits
	r.auc = e.auc()
	return r
}

// auc returns the ROC-AUC of e.logits against the churn labels (ties
// count one half), by sorting.
func (e *evaluator) auc() float64 {
	o := e.order
	for i := range o {
		o[i] = int32(i)
	}
	sort.Slice(o, func(a, b int) bool { return e.logits[o[a]] < e.logits[o[b]] })
	return aucSorted(o, func(i int32) float64 { return float64(e.logits[i]) }, e.s.churn)
}

// aucSorted returns the ROC-AUC of scores against labels y (1 positive),
// given the example indices in ascending order of score: the Mann-Whitney
// U statistic with mid-ranks for ties, divided by positives·negatives. It
// returns NaN when one class is absent.
func aucSorted(order []int32, score func(int32) float64, y []float32) float64 {
	var pos, neg, rankSum float64
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && score(order[j]) == score(order[i]) {
			j++
		}
		mid := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if y[order[k]] == 1 {
				pos++
				rankSum += mid
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// logSumExp32 returns log Σ exp(v).
func logSumExp32(v []float32) float64 {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = math.Max(mx, float64(x))
	}
	var s float64
	for _, x := range v {
		s += math.Exp(float64(x) - mx)
	}
	return mx + math.Log(s)
}

// validationMetrics returns the calibrated model's figures on the
// validation split: churn AUC, log-loss, Brier score and expected
// calibration error (10 equal-width bins), and next-category
// cross-entropy, HR@1 and HR@3. Keys start with "val_".
func validationMetrics(v evalResult, cal model.Calibration, y []float64) map[string]float64 {
	m := map[string]float64{
		"val_loss":        v.loss,
		"val_next_ce":     v.nextCE,
		"val_next_hr1":    v.hr1,
		"val_next_hr3":    v.hr3,
		"val_churn_auc":   v.auc,
		"cal_a":           cal.A,
		"cal_b":           cal.B,
		"val_logloss_raw": cal.LogLossBefore,
	}
	p := make([]float64, len(v.logits))
	var brier, rate float64
	for i, z := range v.logits {
		p[i] = cal.Prob(float64(z))
		brier += (p[i] - y[i]) * (p[i] - y[i])
		rate += y[i]
	}
	n := float64(len(p))
	m["val_churn_logloss"] = cal.LogLossAfter // Calibrate's log-loss on these logits
	m["val_churn_brier"] = brier / n
	m["val_churn_rate"] = rate / n
	m["val_churn_ece"] = ece10(p, y)
	for k, x := range m {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			delete(m, k) // e.g. AUC with one class only
		}
	}
	return m
}

// ece10 returns the expected calibration error of probabilities p against
// labels y over 10 equal-width bins: Σ_b (n_b/n)·|mean(p in b) - mean(y in
// b)|, with p = 1 in the last bin.
func ece10(p, y []float64) float64 {
	var cnt, sp, sy [10]float64
	for i, x := range p {
		b := min(int(x*10), 9)
		cnt[b]++
		sp[b] += x
		sy[b] += y[i]
	}
	var e float64
	for b := range cnt {
		if cnt[b] > 0 {
			e += math.Abs(sp[b]-sy[b]) / float64(len(p))
		}
	}
	return e
}
