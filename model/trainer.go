package model

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// Engine names the code that computes the loss and its gradients.
type Engine string

const (
	// EngineGorgonia runs the network as a Gorgonia graph with symbolic
	// gradients. It is the reference implementation and the default.
	EngineGorgonia Engine = "gorgonia"
	// EngineNative runs a hand-written forward pass and backpropagation
	// through time over float32 BLAS. It computes the same loss and
	// gradients as EngineGorgonia (to float32 rounding, checked by the
	// tests) several times faster.
	EngineNative Engine = "native"
)

// TrainerOptions configure a Trainer. A nil *TrainerOptions, and a zero
// field, mean the default stated per field.
type TrainerOptions struct {
	// LearningRate is Adam's step size. Default 1e-3.
	LearningRate float64
	// Beta1 and Beta2 are Adam's moment decay rates. Default 0.9 and 0.999.
	Beta1, Beta2 float64
	// Epsilon is Adam's denominator guard. Default 1e-8.
	Epsilon float64
	// L2 adds L2·w to the gradient of every weight after clipping, as
	// PyTorch's Adam weight_decay does. Default 0.
	L2 float64
	// ClipNorm rescales the gradient when its global L2 norm exceeds it, as
	// PyTorch's clip_grad_norm_ does. Default 5; negative disables clipping.
	ClipNorm float64
	// Engine computes the gradients. Default EngineGorgonia.
	Engine Engine
	// Workers is the number of goroutines that each take a slice of every
	// batch (data parallelism); their gradients are summed in a fixed
	// order, so a run is reproducible for a given Workers, but changing it
	// changes the float32 rounding. Default 1.
	Workers int
}

func (o *TrainerOptions) withDefaults() TrainerOptions {
	var r TrainerOptions
	if o != nil {
		r = *o
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&r.LearningRate, 1e-3)
	def(&r.Beta1, 0.9)
	def(&r.Beta2, 0.999)
	def(&r.Epsilon, 1e-8)
	def(&r.ClipNorm, 5)
	if r.Engine == "" {
		r.Engine = EngineGorgonia
	}
	if r.Workers == 0 {
		r.Workers = 1
	}
	return r
}

// Trainer fits Params to batches of at most a fixed size with Adam. It owns a
// copy of the weights; Params returns them. A Trainer is used by one
// goroutine at a time (it runs its own workers).
type Trainer struct {
	cfg   Config
	opts  TrainerOptions
	batch int
	p     *Params // the weights being trained; the graphs read them in place

	workers []*worker
	shard   int       // rows per worker
	weight  []float32 // normalised row weights of the current batch
	grad    []float32
	adam    AdamState

	predict *graph // forward-only graph of batch rows, built on first use
}

// worker computes the loss and gradient of one slice of a batch.
type worker struct {
	g    *graph  // EngineGorgonia
	nat  *native // EngineNative
	grad []float32
	loss float64
	err  error
}

// AdamState is the optimizer's state: the step count and the first and
// second moment estimates, laid out as Params.Data.
type AdamState struct {
	Step int64
	M, V []float32
}

// TrainerState is everything a Trainer needs to resume a run bit for bit:
// its weights and its optimizer state.
type TrainerState struct {
	Params []float32 // laid out as Params.Data
	Adam   AdamState
}

// NewTrainer returns a Trainer for batches of up to batch rows that starts
// from a copy of p. It fails when the options or batch size are invalid or
// the graph cannot be built.
func NewTrainer(cfg Config, p *Params, batch int, opts *TrainerOptions) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if cfg.Steps != p.Config.Steps || cfg.Inputs != p.Config.Inputs || cfg.Static != p.Config.Static ||
		cfg.Hidden != p.Config.Hidden || cfg.Layers != p.Config.Layers || cfg.Classes != p.Config.Classes {
		return nil, fmt.Errorf("model: trainer config %+v does not match params %+v", cfg, p.Config)
	}
	o := opts.withDefaults()
	switch {
	case batch < 1:
		return nil, fmt.Errorf("model: batch size %d is not positive", batch)
	case o.Workers < 1:
		return nil, fmt.Errorf("model: %d workers", o.Workers)
	case o.Engine != EngineGorgonia && o.Engine != EngineNative:
		return nil, fmt.Errorf("model: unknown engine %q", o.Engine)
	case !(o.LearningRate > 0) || !(o.Beta1 >= 0 && o.Beta1 < 1) || !(o.Beta2 >= 0 && o.Beta2 < 1) ||
		!(o.Epsilon > 0) || !(o.L2 >= 0):
		return nil, fmt.Errorf("model: bad Adam options %+v", o)
	}
	q := p.Clone()
	q.Config = cfg // the loss weights come from cfg
	n := len(q.Data)
	t := &Trainer{
		cfg:   cfg,
		opts:  o,
		batch: batch,
		p:     q,
		grad:  make([]float32, n),
		adam:  AdamState{M: make([]float32, n), V: make([]float32, n)},
	}
	nw := min(o.Workers, batch)
	t.shard = (batch + nw - 1) / nw
	nw = (batch + t.shard - 1) / t.shard
	for i := 0; i < nw; i++ {
		w := &worker{}
		if nw > 1 {
			w.grad = make([]float32, n)
		}
		if o.Engine == EngineGorgonia {
			g, err := newGraph(q, t.shard, true)
			if err != nil {
				return nil, err
			}
			w.g = g
		} else {
			w.nat = newNative(q)
		}
		t.workers = append(t.workers, w)
	}
	return t, nil
}

// Config returns the trainer's config, with defaults filled in.
func (t *Trainer) Config() Config { return t.cfg }

// Params returns a copy of the current weights.
func (t *Trainer) Params() *Params { return t.p.Clone() }

// Step takes one Adam step on batch b, which may have fewer rows than the
// trainer's batch size (the rest is padding), and returns the batch loss
// before the step: the weighted mean over rows of
// cross-entropy(next course, rows with Next >= 0) +
// ChurnWeight·BCE(churn, positives weighted by PosWeight). A batch whose
// weights are all 0 returns 0 and changes nothing.
func (t *Trainer) Step(b *Batch) (float64, error) {
	loss, err := t.lossGrad(b)
	if err != nil || loss < 0 {
		return 0, err
	}
	t.update()
	return loss, nil
}

// lossGrad computes the loss of b and its gradient into t.grad; it returns
// -1 when b has no weight.
func (t *Trainer) lossGrad(b *Batch) (float64, error) {
	n, err := b.checkLabels(t.cfg)
	if err != nil {
		return 0, err
	}
	if n > t.batch {
		return 0, fmt.Errorf("model: batch of %d rows for a trainer of %d", n, t.batch)
	}
	var total float64
	for _, w := range b.Weight {
		total += float64(w)
	}
	if total == 0 {
		return -1, nil
	}
	t.weight = grow(t.weight, n)
	for i, w := range b.Weight {
		t.weight[i] = float32(float64(w) / total)
	}
	clear(t.grad)
	if len(t.workers) == 1 {
		w := t.workers[0]
		w.grad = t.grad
		w.work(b, 0, n, t.weight)
		return w.loss, w.err
	}
	var wg sync.WaitGroup
	for i, w := range t.workers {
		lo, hi := min(i*t.shard, n), min((i+1)*t.shard, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			clear(w.grad)
			w.work(b, lo, hi, t.weight)
		}()
	}
	wg.Wait()
	var loss float64
	var errs []error
	for _, w := range t.workers {
		loss += w.loss
		errs = append(errs, w.err)
		addTo(t.grad, w.grad)
	}
	return loss, errors.Join(errs...)
}

// work computes the loss and gradient of rows [lo, hi) of b.
func (w *worker) work(b *Batch, lo, hi int, weight []float32) {
	w.loss, w.err = 0, nil
	if lo == hi {
		return
	}
	sb := b.rows(w.cfg(), lo, hi)
	if w.g != nil {
		w.loss, w.err = w.g.run(sb, hi-lo, weight[lo:hi], w.grad)
		return
	}
	w.loss = w.nat.run(sb, hi-lo, weight[lo:hi], w.grad)
}

func (w *worker) cfg() Config {
	if w.g != nil {
		return w.g.cfg
	}
	return w.nat.p.Config
}

// rows returns the batch of rows [lo, hi) of b, sharing its memory.
func (b *Batch) rows(cfg Config, lo, hi int) *Batch {
	T, F, S := cfg.Steps, cfg.Inputs, cfg.Static
	return &Batch{
		X:      b.X[lo*T*F : hi*T*F],
		Mask:   b.Mask[lo*T : hi*T],
		Static: b.Static[lo*S : hi*S],
		Next:   b.Next[lo:hi],
		Churn:  b.Churn[lo:hi],
		Weight: b.Weight[lo:hi],
	}
}

// update clips t.grad and applies one Adam step to the weights.
func (t *Trainer) update() {
	o := &t.opts
	scale := 1.0
	if o.ClipNorm > 0 {
		var ss float64
		for _, g := range t.grad {
			ss += float64(g) * float64(g)
		}
		if norm := math.Sqrt(ss); norm > o.ClipNorm {
			scale = o.ClipNorm / (norm + 1e-6)
		}
	}
	t.adam.Step++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	// Bias corrections folded into the step size and the denominator:
	// w -= lr·(m/c1) / (sqrt(v/c2) + eps) = lr/c1 · m / (sqrt(v)/sqrt(c2) + eps).
	c1 := 1 - math.Pow(o.Beta1, float64(t.adam.Step))
	c2 := 1 - math.Pow(o.Beta2, float64(t.adam.Step))
	lr := float32(o.LearningRate / c1)
	rs := float32(1 / math.Sqrt(c2))
	eps, l2, sc := float32(o.Epsilon), float32(o.L2), float32(scale)
	w, m, v := t.p.Data, t.adam.M, t.adam.V
	m, v = m[:len(w)], v[:len(w)]
	for i, g := range t.grad[:len(w)] {
		g = g*sc + l2*w[i]
		mi := b1*m[i] + (1-b1)*g
		vi := b2*v[i] + (1-b2)*g*g
		wi := w[i] - lr*mi/(float32(math.Sqrt(float64(vi)))*rs+eps)
		m[i], v[i], w[i] = flushTiny(mi), flushTiny(vi), flushTiny(wi)
	}
}

// tinyExp: flushTiny sets a value under 2^tinyExp (about 8.7·10⁻¹⁹) to 0,
// so that the product of two values that survive it is at least 2⁻¹²⁰,
// still a normal float32.
const tinyExp = -60

// flushTiny returns x, or 0 when |x| < 2⁻⁶⁰. Float32 values under 2⁻¹²⁶
// (1.2·10⁻³⁸) are subnormal, and every product with one takes a microcode
// assist on x86. They arise in training in two ways: a weight whose data
// gradient is 0 (it reads an input column that is constant 0, as many are
// on CDNOW's purchase-only data) shrinks under the L2 term by a constant
// factor per Adam step once |L2·w| falls under ε; and gradients vanish
// through many weeks of backpropagation. On CDNOW an epoch's matrix
// products became 6 to 12 times slower from the second epoch on. Values
// that small change no float32 sum of the network's activations or
// gradients, so the weights with their moments (Trainer.update, Average)
// and the gradients of the cell (cellBackward) are flushed to 0. It has no
// branch (a branch per element in cellBackward made training 40 % slower):
// the bits of x are cleared when its biased exponent is under 127 + tinyExp.
func flushTiny(x float32) float32 {
	b := math.Float32bits(x)
	e := int32(b>>23) & 0xff
	return math.Float32frombits(b & uint32((127+tinyExp-1-e)>>31))
}

// Average folds the current weights into avg, laid out as Params.Data:
// avg = beta·avg + (1 − beta)·weights. It panics when avg is too short.
func (t *Trainer) Average(avg []float32, beta float32) {
	w := t.p.Data
	avg = avg[:len(w)]
	for i, x := range w {
		avg[i] = flushTiny(beta*avg[i] + (1-beta)*x)
	}
}

// Steps returns the number of Adam steps taken.
func (t *Trainer) Steps() int64 { return t.adam.Step }

// State returns a deep copy of the trainer's weights and optimizer state.
func (t *Trainer) State() *TrainerState {
	return &TrainerState{
		Params: append([]float32(nil), t.p.Data...),
		Adam: AdamState{
			Step: t.adam.Step,
			M:    append([]float32(nil), t.adam.M...),
			V:    append([]float32(nil), t.adam.V...),
		},
	}
}

// Restore sets the trainer's weights and optimizer state to a copy of s,
// as returned by State of a trainer of the same shape.
func (t *Trainer) Restore(s *TrainerState) error {
	n := len(t.p.Data)
	if len(s.Params) != n || len(s.Adam.M) != n || len(s.Adam.V) != n {
		return fmt.Errorf("model: state of %d/%d/%d values for a model of %d weights",
			len(s.Params), len(s.Adam.M), len(s.Adam.V), n)
	}
	if s.Adam.Step < 0 {
		return fmt.Errorf("model: state at step %d", s.Adam.Step)
	}
	copy(t.p.Data, s.Params)
	copy(t.adam.M, s.Adam.M)
	copy(t.adam.V, s.Adam.V)
	t.adam.Step = s.Adam.Step
	return nil
}

// Predict computes the logits of every row of b (any number of rows) with a
// forward-only Gorgonia graph of the trainer's batch size, built on first
// use, and the current weights.
func (t *Trainer) Predict(b *Batch, out *Output) error {
	n, err := b.checkInputs(t.cfg)
	if err != nil {
		return err
	}
	if t.predict == nil {
		g, err := newGraph(t.p, t.batch, false)
		if err != nil {
			return err
		}
		t.predict = g
	}
	out.resize(n, t.cfg.Classes)
	for lo := 0; lo < n; lo += t.batch {
		hi := min(lo+t.batch, n)
		sb := &Batch{
			X:      b.X[lo*t.cfg.Steps*t.cfg.Inputs : hi*t.cfg.Steps*t.cfg.Inputs],
			Mask:   b.Mask[lo*t.cfg.Steps : hi*t.cfg.Steps],
			Static: b.Static[lo*t.cfg.Static : hi*t.cfg.Static],
		}
		if _, err := t.predict.run(sb, hi-lo, nil, nil); err != nil {
			return err
		}
		t.predict.logitsInto(out, lo, hi-lo)
	}
	return nil
}
