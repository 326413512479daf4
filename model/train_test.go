package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// synthCfg is the shape of the synthetic learning task.
var synthCfg = Config{Steps: 8, Inputs: 3, Static: 2, Hidden: 16, Classes: 3}

// synthBatch returns n rows of a task with known answers. Members join in a
// random week in [0, T-3) (earlier weeks are masked and zero); features are
// Gaussian. Churn is 1 when the member's feature 0 summed over the last 3
// weeks is below -0.5 (about 39% of rows: the sum is N(0, 3)). The next
// course is the argmax of (feature 1 of the last week, feature 2 of the last
// week, static feature 0), or -1 for one row in ten.
func synthBatch(n int, rng *rand.Rand) *Batch {
	cfg := synthCfg
	T, F, S := cfg.Steps, cfg.Inputs, cfg.Static
	b := &Batch{
		X:      make([]float32, n*T*F),
		Mask:   make([]float32, n*T),
		Static: make([]float32, n*S),
		Next:   make([]int32, n),
		Churn:  make([]float32, n),
		Weight: make([]float32, n),
	}
	for r := 0; r < n; r++ {
		join := rng.IntN(T - 3)
		for t := join; t < T; t++ {
			b.Mask[r*T+t] = 1
			for f := 0; f < F; f++ {
				b.X[(r*T+t)*F+f] = float32(rng.NormFloat64())
			}
		}
		for s := 0; s < S; s++ {
			b.Static[r*S+s] = float32(rng.NormFloat64())
		}
		var sum float32
		for t := T - 3; t < T; t++ {
			sum += b.X[(r*T+t)*F]
		}
		if sum < -0.5 {
			b.Churn[r] = 1
		}
		last := b.X[(r*T+T-1)*F:]
		cand := []float32{last[1], last[2], b.Static[r*S]}
		best := 0
		for i, v := range cand {
			if v > cand[best] {
				best = i
			}
		}
		b.Next[r] = int32(best)
		if rng.IntN(10) == 0 {
			b.Next[r] = -1
		}
		b.Weight[r] = 1
	}
	return b
}

// accuracy returns the churn accuracy (threshold 0.5) and next-course
// accuracy (argmax, rows with a next course) of p on b.
func accuracy(p *Params, b *Batch) (churn, next float64) {
	var out Output
	if err := p.Forward(b, &out); err != nil {
		panic(err)
	}
	C := p.Config.Classes
	var okC, okN, nN int
	for r := range b.Churn {
		if (out.ChurnLogit[r] > 0) == (b.Churn[r] == 1) {
			okC++
		}
		if b.Next[r] < 0 {
			continue
		}
		nN++
		best := 0
		for c := 1; c < C; c++ {
			if out.ClassLogits[r*C+c] > out.ClassLogits[r*C+best] {
				best = c
			}
		}
		if best == int(b.Next[r]) {
			okN++
		}
	}
	return float64(okC) / float64(len(b.Churn)), float64(okN) / float64(nN)
}

// TestLearnsSyntheticTask trains each engine for 300 steps of 32 rows
// (learning rate 0.01, seed fixed) on the task of synthBatch and checks on
// 1000 held-out rows that churn accuracy exceeds 0.85 (majority class:
// about 0.61) and next-course accuracy exceeds 0.75 (chance: 0.33), and that
// the mean loss of the last 20 steps is below half that of the first 20.
// The levels leave a margin under what the engines reach (printed with -v).
func TestLearnsSyntheticTask(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for 300 steps")
	}
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 22))
			p := NewParams(synthCfg, rng)
			tr, err := NewTrainer(synthCfg, p, 32, &TrainerOptions{Engine: eng, LearningRate: 0.01})
			if err != nil {
				t.Fatal(err)
			}
			test := synthBatch(1000, rand.New(rand.NewPCG(23, 24)))
			c0, n0 := accuracy(tr.Params(), test)
			var first, last float64
			const steps = 300
			for i := 0; i < steps; i++ {
				loss, err := tr.Step(synthBatch(32, rng))
				if err != nil {
					t.Fatal(err)
				}
				if i < 20 {
					first += loss / 20
				}
				if i >= steps-20 {
					last += loss / 20
				}
			}
			c1, n1 := accuracy(tr.Params(), test)
			t.Logf("loss %.3f -> %.3f; churn accuracy %.3f -> %.3f; next-course accuracy %.3f -> %.3f",
				first, last, c0, c1, n0, n1)
			if !(last < first/2) {
				t.Errorf("loss fell from %.3f to %.3f, want below half", first, last)
			}
			if c1 < 0.85 {
				t.Errorf("churn accuracy %.3f, want > 0.85", c1)
			}
			if n1 < 0.75 {
				t.Errorf("next-course accuracy %.3f, want > 0.75", n1)
			}
		})
	}
}

// run takes steps Adam steps on the batches of batches from start.
func runSteps(t *testing.T, tr *Trainer, batches []*Batch, start, steps int) {
	t.Helper()
	for i := start; i < start+steps; i++ {
		if _, err := tr.Step(batches[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func sameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d weights", what, len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s: weight %d is %v vs %v", what, i, a[i], b[i])
		}
	}
}

// TestReproducible checks, for both engines with 2 workers, that two
// trainers from the same seed and batches end with bit-identical weights
// after 6 steps, and that a run interrupted after 3 steps, saved with State
// and restored into a trainer built from other weights, ends bit-identical
// to the uninterrupted run.
func TestReproducible(t *testing.T) {
	cfg := Config{Steps: 6, Inputs: 4, Static: 3, Hidden: 8, Layers: 2, Classes: 4, PosWeight: 1.5}
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			opts := &TrainerOptions{Engine: eng, Workers: 2, L2: 1e-4, ClipNorm: 0.5}
			rng := rand.New(rand.NewPCG(31, 32))
			var batches []*Batch
			for i := 0; i < 6; i++ {
				batches = append(batches, randBatch(cfg, 10, rng))
			}
			newTrainer := func(seed uint64) *Trainer {
				tr, err := NewTrainer(cfg, NewParams(cfg, rand.NewPCG(seed, 0)), 12, opts)
				if err != nil {
					t.Fatal(err)
				}
				return tr
			}
			a, b := newTrainer(1), newTrainer(1)
			start := a.Params().Data
			runSteps(t, a, batches, 0, 6)
			runSteps(t, b, batches, 0, 6)
			sameBits(t, "same seed", a.Params().Data, b.Params().Data)
			moved := 0
			for i, v := range a.Params().Data {
				if v != start[i] {
					moved++
				}
			}
			if moved < len(start)/2 {
				t.Fatalf("only %d of %d weights changed in 6 steps", moved, len(start))
			}

			c := newTrainer(1)
			runSteps(t, c, batches, 0, 3)
			saved := c.State()
			runSteps(t, c, batches, 3, 1) // the saved state must not alias c
			d := newTrainer(99)
			if err := d.Restore(saved); err != nil {
				t.Fatal(err)
			}
			runSteps(t, d, batches, 3, 3)
			sameBits(t, "resumed", a.Params().Data, d.Params().Data)
			sa, sd := a.State(), d.State()
			if sa.Adam.Step != 6 || sd.Adam.Step != 6 {
				t.Errorf("steps %d and %d, want 6", sa.Adam.Step, sd.Adam.Step)
			}
			sameBits(t, "Adam m", sa.Adam.M, sd.Adam.M)
			sameBits(t, "Adam v", sa.Adam.V, sd.Adam.V)
		})
	}
}

// TestWorkersAgree checks that 1 and 3 workers give the same loss and
// gradient up to float32 summation order (1e-5 relative to the largest
// gradient), for both engines, on a batch that does not split evenly.
func TestWorkersAgree(t *testing.T) {
	cfg := Config{Steps: 5, Inputs: 3, Static: 2, Hidden: 6, Classes: 3}
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(41, 42))
			p := NewParams(cfg, rng)
			b := randBatch(cfg, 10, rng)
			l1, g1 := lossGrad(t, cfg, p, 11, b, TrainerOptions{Engine: eng, Workers: 1})
			l3, g3 := lossGrad(t, cfg, p, 11, b, TrainerOptions{Engine: eng, Workers: 3})
			if math.Abs(l1-l3) > 1e-5*math.Abs(l1) {
				t.Errorf("loss %v with 1 worker, %v with 3", l1, l3)
			}
			var mx float64
			for _, v := range g1 {
				mx = max(mx, math.Abs(float64(v)))
			}
			for i := range g1 {
				if d := math.Abs(float64(g1[i] - g3[i])); d > 1e-5*mx {
					t.Fatalf("weight %d: %v with 1 worker, %v with 3", i, g1[i], g3[i])
				}
			}
		})
	}
}

// TestPredictChunks checks that Trainer.Predict over more rows than the
// trainer's batch equals Predict row by row (bit for bit: each row's logits
// do not depend on the other rows of its chunk).
func TestPredictChunks(t *testing.T) {
	cfg := Config{Steps: 4, Inputs: 3, Static: 1, Hidden: 8, Classes: 3}
	rng := rand.New(rand.NewPCG(51, 52))
	tr, err := NewTrainer(cfg, NewParams(cfg, rng), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := randBatch(cfg, 9, rng)
	var all Output
	if err := tr.Predict(b, &all); err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 9; r++ {
		var one Output
		if err := tr.Predict(b.rows(tr.Config(), r, r+1), &one); err != nil {
			t.Fatal(err)
		}
		if one.ChurnLogit[0] != all.ChurnLogit[r] {
			t.Errorf("row %d: churn %v alone, %v in the batch", r, one.ChurnLogit[0], all.ChurnLogit[r])
		}
		for c := 0; c < 3; c++ {
			if one.ClassLogits[c] != all.ClassLogits[r*3+c] {
				t.Errorf("row %d class %d: %v alone, %v in the batch", r, c, one.ClassLogits[c], all.ClassLogits[r*3+c])
			}
		}
	}
}

func ExampleTrainer() {
	cfg := Config{Steps: 4, Inputs: 2, Hidden: 8, Classes: 3}
	p := NewParams(cfg, rand.NewPCG(1, 2))
	tr, err := NewTrainer(cfg, p, 2, &TrainerOptions{Engine: EngineNative})
	if err != nil {
		panic(err)
	}
	b := &Batch{
		// Two members, 4 weeks of 2 features; the second joined in week 2.
		X:      []float32{1, 0, 1, 0, 0, 1, 0, 1 /* member 2 */, 0, 0, 0, 0, 1, 1, 1, 1},
		Mask:   []float32{1, 1, 1, 1, 0, 0, 1, 1},
		Next:   []int32{2, -1},
		Churn:  []float32{0, 1},
		Weight: []float32{1, 1},
	}
	first, _ := tr.Step(b)
	var loss float64
	for i := 0; i < 50; i++ {
		loss, _ = tr.Step(b)
	}
	fmt.Println(loss < first)
	// Output: true
}

// TestGradientAfterSteps checks that a trainer's gradient after some steps
// is the gradient at its current weights: it must equal (within 1e-6
// relative to the largest) that of a fresh trainer built from those weights.
// A graph that kept gradients from earlier runs, or read stale weights,
// fails it.
func TestGradientAfterSteps(t *testing.T) {
	cfg := Config{Steps: 5, Inputs: 3, Static: 2, Hidden: 6, Layers: 2, Classes: 3}
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(61, 62))
			opts := TrainerOptions{Engine: eng, LearningRate: 0.05}
			tr, err := NewTrainer(cfg, NewParams(cfg, rng), 8, &opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if _, err := tr.Step(randBatch(cfg, 8, rng)); err != nil {
					t.Fatal(err)
				}
			}
			b := randBatch(cfg, 8, rng)
			l1, err := tr.lossGrad(b)
			if err != nil {
				t.Fatal(err)
			}
			g1 := append([]float32(nil), tr.grad...)
			l2, g2 := lossGrad(t, cfg, tr.Params(), 8, b, opts)
			if math.Abs(l1-l2) > 1e-6*math.Abs(l2) {
				t.Errorf("loss %v after steps, %v fresh", l1, l2)
			}
			var mx float64
			for _, v := range g2 {
				mx = max(mx, math.Abs(float64(v)))
			}
			for i := range g1 {
				if d := math.Abs(float64(g1[i] - g2[i])); d > 1e-6*mx {
					t.Fatalf("weight %d: gradient %v after steps, %v fresh", i, g1[i], g2[i])
				}
			}
		})
	}
}

// TestZeroWeightBatch checks that a batch whose weights are all 0 returns
// loss 0 and changes neither the weights nor Adam's step count.
func TestZeroWeightBatch(t *testing.T) {
	cfg := Config{Steps: 4, Inputs: 2, Hidden: 4, Classes: 3}
	for _, eng := range engines {
		tr, err := NewTrainer(cfg, NewParams(cfg, rand.NewPCG(1, 1)), 4, &TrainerOptions{Engine: eng})
		if err != nil {
			t.Fatal(err)
		}
		before := tr.State()
		b := randBatch(cfg, 3, rand.New(rand.NewPCG(2, 2)))
		clear(b.Weight)
		loss, err := tr.Step(b)
		if err != nil || loss != 0 {
			t.Errorf("%s: loss %v, error %v; want 0, nil", eng, loss, err)
		}
		after := tr.State()
		sameBits(t, string(eng), before.Params, after.Params)
		if after.Adam.Step != 0 {
			t.Errorf("%s: Adam step %d, want 0", eng, after.Adam.Step)
		}
	}
}

func TestNewTrainerErrors(t *testing.T) {
	cfg := Config{Steps: 4, Inputs: 2, Hidden: 4, Classes: 3}
	p := NewParams(cfg, rand.NewPCG(1, 1))
	other := cfg
	other.Hidden = 5
	for name, tc := range map[string]struct {
		cfg   Config
		batch int
		opts  *TrainerOptions
	}{
		"params of another shape": {other, 4, nil},
		"invalid config":          {Config{Inputs: 2}, 4, nil},
		"batch 0":                 {cfg, 0, nil},
		"unknown engine":          {cfg, 4, &TrainerOptions{Engine: "tpu"}},
		"negative workers":        {cfg, 4, &TrainerOptions{Workers: -1}},
		"beta1 1":                 {cfg, 4, &TrainerOptions{Beta1: 1}},
		"negative L2":             {cfg, 4, &TrainerOptions{L2: -1}},
	} {
		if _, err := NewTrainer(tc.cfg, p, tc.batch, tc.opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	s := &TrainerState{Params: make([]float32, 3)}
	tr, err := NewTrainer(cfg, p, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Restore(s); err == nil {
		t.Error("Restore of a state of the wrong size: no error")
	}
}

// TestNoSubnormals trains with the default L2 and learning rate on batches
// whose static feature 1 is always 0, so that the output weights reading it
// get no data gradient and shrink under the L2 term alone. They must end at
// exactly 0 (flushTiny), and no weight or Adam moment may be a float32
// subnormal, which would slow every matrix product by an order of
// magnitude (it made CDNOW's epochs 6 to 12 times slower). Without the
// flush the decayed weights are subnormal after these 3,000 steps (Adam's
// second moment remembers the early gradients for about 1,000 steps; then
// the weights collapse by a constant factor per step).
func TestNoSubnormals(t *testing.T) {
	cfg := synthCfg.WithDefaults()
	rng := rand.New(rand.NewPCG(31, 32))
	tr, err := NewTrainer(cfg, NewParams(cfg, rng), 32, &TrainerOptions{Engine: EngineNative, LearningRate: 2e-3, L2: 3e-3})
	if err != nil {
		t.Fatal(err)
	}
	for range 3000 {
		b := synthBatch(32, rng)
		for r := range 32 {
			b.Static[r*cfg.Static+1] = 0
		}
		if _, err := tr.Step(b); err != nil {
			t.Fatal(err)
		}
	}
	st := tr.State()
	for name, xs := range map[string][]float32{"weight": st.Params, "first moment": st.Adam.M, "second moment": st.Adam.V} {
		for i, x := range xs {
			if x != 0 && math.Abs(float64(x)) < 0x1p-126 {
				t.Fatalf("%s %d is subnormal: %g", name, i, x)
			}
		}
	}
	p, err := ParamsFromData(cfg, st.Params)
	if err != nil {
		t.Fatal(err)
	}
	O := cfg.Classes + 1
	row := p.WOut[(cfg.Hidden+1)*O : (cfg.Hidden+2)*O] // the row of static feature 1
	for j, w := range row {
		if w != 0 {
			t.Errorf("weight of the constant-0 input to output %d: %g, want 0", j, w)
		}
	}
}

// flushTinyRef is flushTiny written plainly, with a branch.
func flushTinyRef(x float32) float32 {
	if x > -0x1p-60 && x < 0x1p-60 {
		return 0
	}
	return x
}

// TestFlushTiny: the branchless flush agrees with flushTinyRef bit for bit,
// at and around 2⁻⁶⁰ and on the special values.
func TestFlushTiny(t *testing.T) {
	edge := float32(0x1p-60)
	below := math.Nextafter32(edge, 0)
	for _, x := range []float32{0, 1, -1, edge, -edge, below, -below, 0x1p-59, 0x1p-100, 0x1p-130, -0x1p-140,
		math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		got, want := flushTiny(x), flushTinyRef(x)
		if math.Float32bits(got) != math.Float32bits(want) && !(x != x && got != got) {
			t.Errorf("flushTiny(%g) = %g, flushTinyRef gives %g", x, got, want)
		}
	}
	if flushTinyRef(below) != 0 || flushTinyRef(edge) != edge {
		t.Errorf("flushTinyRef: %g -> %g, %g -> %g", below, flushTinyRef(below), edge, flushTinyRef(edge))
	}
}
