package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var engines = []Engine{EngineGorgonia, EngineNative}

// tiny is the shape of the gradient checks: small enough for central
// differences over every weight, with two layers, static features and a
// pos weight and churn weight away from 1 so that each term is seen.
var tiny = Config{Steps: 3, Inputs: 2, Static: 2, Hidden: 3, Layers: 2, Classes: 3, ChurnWeight: 0.7, PosWeight: 2.5}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string // "" for valid
	}{
		{Config{Inputs: 4, Classes: 3}, ""},
		{Config{Inputs: 4, Classes: 3, Layers: 2, Static: 5}, ""},
		{Config{Classes: 3}, "Inputs"},
		{Config{Inputs: 4}, "Classes"},
		{Config{Inputs: 4, Classes: 3, Layers: 3}, "Layers"},
		{Config{Inputs: 4, Classes: 3, Static: -1}, "Static"},
		{Config{Inputs: 4, Classes: 3, Steps: -2}, "Steps"},
		{Config{Inputs: 4, Classes: 3, PosWeight: -1}, "PosWeight"},
		{Config{Inputs: 4, Classes: 3, ChurnWeight: math.NaN()}, "ChurnWeight"},
	} {
		err := tc.cfg.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.cfg, err)
			}
			continue
		}
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: error %v, want ErrConfig naming %s", tc.cfg, err, tc.field)
		}
	}
}

// TestNumParams checks the layout size against a count by hand for
// F=2, S=2, H=3, C=3, two layers:
// layer 0: Wx 2·12 + Wh 3·12 + B 12 = 72; layer 1: 3·12 + 3·12 + 12 = 84;
// WOut (3+2)·4 = 20; BOut 4. Total 180.
func TestNumParams(t *testing.T) {
	if got := NumParams(tiny); got != 180 {
		t.Errorf("NumParams = %d, want 180", got)
	}
	p := NewParams(tiny, rand.NewPCG(1, 2))
	if len(p.Data) != 180 || len(p.Layers) != 2 || len(p.WOut) != 20 || len(p.BOut) != 4 {
		t.Errorf("layout: data %d layers %d wout %d bout %d", len(p.Data), len(p.Layers), len(p.WOut), len(p.BOut))
	}
	// Forget-gate biases are 1, the others 0.
	for l, lp := range p.Layers {
		for j, v := range lp.B {
			want := float32(0)
			if j >= 3 && j < 6 {
				want = 1
			}
			if v != want {
				t.Errorf("layer %d bias %d = %v, want %v", l, j, v, want)
			}
		}
	}
}

// TestNewParamsOrthogonal checks that each gate block of Wh is orthogonal:
// QᵀQ = I within float32 rounding (1e-5).
func TestNewParamsOrthogonal(t *testing.T) {
	cfg := Config{Inputs: 3, Hidden: 8, Classes: 2}
	p := NewParams(cfg, rand.NewPCG(3, 4))
	H := 8
	wh := p.Layers[0].Wh
	for g := 0; g < 4; g++ {
		for a := 0; a < H; a++ {
			for b := 0; b < H; b++ {
				var s float64
				for r := 0; r < H; r++ {
					s += float64(wh[r*4*H+g*H+a]) * float64(wh[r*4*H+g*H+b])
				}
				want := 0.0
				if a == b {
					want = 1
				}
				if math.Abs(s-want) > 1e-5 {
					t.Fatalf("gate %d: (QᵀQ)[%d][%d] = %v, want %v", g, a, b, s, want)
				}
			}
		}
	}
	q := NewParams(cfg, rand.NewPCG(3, 4))
	for i := range p.Data {
		if p.Data[i] != q.Data[i] {
			t.Fatalf("same seed, weight %d differs: %v vs %v", i, p.Data[i], q.Data[i])
		}
	}
}

// TestForwardMatchesGorgonia checks the plain forward pass against the
// Gorgonia forward graph (Trainer.Predict) and the float64 reference:
// |plain - gorgonia| <= 1e-5 and |plain - reference| <= 1e-5 on every logit,
// for one and two layers, with and without static features, for B = 1 and
// for B = 7 through a graph of batch 4 (a full and a padded chunk).
func TestForwardMatchesGorgonia(t *testing.T) {
	const tol = 1e-5
	for _, cfg := range []Config{
		{Steps: 6, Inputs: 5, Static: 3, Hidden: 8, Layers: 1, Classes: 4},
		{Steps: 6, Inputs: 5, Static: 0, Hidden: 8, Layers: 2, Classes: 4},
		{Steps: 26, Inputs: 40, Static: 20, Hidden: 64, Layers: 2, Classes: 14},
	} {
		for _, n := range []int{1, 7} {
			t.Run(fmt.Sprintf("L%d-S%d-H%d-B%d", cfg.Layers, cfg.Static, cfg.Hidden, n), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(5, uint64(n)))
				p := NewParams(cfg, rng)
				// Non-zero biases, so that they are checked too.
				for i := range p.BOut {
					p.BOut[i] = float32(rng.NormFloat64())
				}
				for _, lp := range p.Layers {
					for i := range lp.B {
						lp.B[i] += float32(0.3 * rng.NormFloat64())
					}
				}
				b := randBatch(cfg, n, rng)
				tr, err := NewTrainer(cfg, p, 4, nil)
				if err != nil {
					t.Fatal(err)
				}
				var plain, graph Output
				if err := p.Forward(b, &plain); err != nil {
					t.Fatal(err)
				}
				if err := tr.Predict(b, &graph); err != nil {
					t.Fatal(err)
				}
				ref := refNet{p.Config, to64(p.Data)}
				C := p.Config.Classes
				for r := 0; r < n; r++ {
					cls, churn := ref.logits(b, r)
					check := func(what string, got, gor float32, want float64) {
						if d := math.Abs(float64(got - gor)); d > tol || math.IsNaN(d) {
							t.Errorf("row %d %s: plain %v, gorgonia %v", r, what, got, gor)
						}
						if d := math.Abs(float64(got) - want); d > tol || math.IsNaN(d) {
							t.Errorf("row %d %s: plain %v, reference %v", r, what, got, want)
						}
					}
					check("churn", plain.ChurnLogit[r], graph.ChurnLogit[r], churn)
					for c := 0; c < C; c++ {
						check(fmt.Sprintf("class %d", c), plain.ClassLogits[r*C+c], graph.ClassLogits[r*C+c], cls[c])
					}
				}
			})
		}
	}
}

// lossGrad returns the loss and gradient of b from a fresh trainer.
func lossGrad(t *testing.T, cfg Config, p *Params, batch int, b *Batch, opts TrainerOptions) (float64, []float32) {
	t.Helper()
	tr, err := NewTrainer(cfg, p, batch, &opts)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := tr.lossGrad(b)
	if err != nil {
		t.Fatal(err)
	}
	return loss, append([]float32(nil), tr.grad...)
}

// TestGradientFiniteDifferences checks each engine's gradient against
// central differences (step 1e-5) of the float64 reference loss, on the tiny
// two-layer shape with masked weeks (a row that never joins, late joiners, a
// fractional mask), a row without next course, weights 0 to 2, ChurnWeight
// 0.7 and PosWeight 2.5. The differences are exact to about 1e-9; the
// engines work in float32, so the tolerance is 2e-5 + 1e-3·|gradient|.
// The loss must match the reference within 1e-5.
func TestGradientFiniteDifferences(t *testing.T) {
	for _, eng := range engines {
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s-w%d", eng, workers), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(7, 8))
				p := NewParams(tiny, rng)
				for i := range p.Data {
					p.Data[i] += float32(0.2 * rng.NormFloat64()) // no special values
				}
				b := randBatch(tiny, 6, rng)
				loss, grad := lossGrad(t, tiny, p, 6, b, TrainerOptions{Engine: eng, Workers: workers})
				ref := refNet{p.Config, to64(p.Data)}
				if want := ref.loss(b); math.Abs(loss-want) > 1e-5 {
					t.Errorf("loss %v, reference %v", loss, want)
				}
				const h = 1e-5
				for i := range ref.w {
					w := ref.w[i]
					ref.w[i] = w + h
					up := ref.loss(b)
					ref.w[i] = w - h
					down := ref.loss(b)
					ref.w[i] = w
					num := (up - down) / (2 * h)
					if d := math.Abs(float64(grad[i]) - num); d > 2e-5+1e-3*math.Abs(num) {
						t.Errorf("weight %d: gradient %v, finite difference %v", i, grad[i], num)
					}
				}
			})
		}
	}
}

// TestNativeMatchesGorgonia compares the two engines' gradients on larger
// random shapes: |native - gorgonia| <= 1e-4·max|gorgonia| + 1e-6 for each
// weight, and losses within 1e-5 relative.
func TestNativeMatchesGorgonia(t *testing.T) {
	for _, cfg := range []Config{
		{Steps: 10, Inputs: 6, Static: 4, Hidden: 12, Layers: 1, Classes: 5, PosWeight: 3},
		{Steps: 10, Inputs: 6, Static: 0, Hidden: 12, Layers: 2, Classes: 5, ChurnWeight: 2},
	} {
		t.Run(fmt.Sprintf("L%d", cfg.Layers), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 10))
			p := NewParams(cfg, rng)
			b := randBatch(cfg, 9, rng)
			lg, gg := lossGrad(t, cfg, p, 9, b, TrainerOptions{Engine: EngineGorgonia})
			ln, gn := lossGrad(t, cfg, p, 9, b, TrainerOptions{Engine: EngineNative})
			if math.Abs(lg-ln) > 1e-5*math.Abs(lg) {
				t.Errorf("loss: gorgonia %v, native %v", lg, ln)
			}
			var mx float64
			for _, v := range gg {
				mx = max(mx, math.Abs(float64(v)))
			}
			for i := range gg {
				if d := math.Abs(float64(gg[i] - gn[i])); d > 1e-4*mx+1e-6 {
					t.Errorf("weight %d: gorgonia %v, native %v (max |g| %v)", i, gg[i], gn[i], mx)
				}
			}
		})
	}
}

// TestPaddingAddsNothing checks that padding a batch of 5 rows to 8 with
// rows of weight 0 (random features and labels) leaves the loss and
// gradient unchanged within 1e-6 relative to the largest gradient, for both
// engines.
func TestPaddingAddsNothing(t *testing.T) {
	cfg := Config{Steps: 5, Inputs: 3, Static: 2, Hidden: 6, Layers: 2, Classes: 3, PosWeight: 2}
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			p := NewParams(cfg, rng)
			b := randBatch(cfg, 8, rng)
			for r := 5; r < 8; r++ {
				b.Weight[r] = 0
			}
			short := b.rows(p.Config, 0, 5)
			l5, g5 := lossGrad(t, cfg, p, 8, short, TrainerOptions{Engine: eng})
			l8, g8 := lossGrad(t, cfg, p, 8, b, TrainerOptions{Engine: eng})
			if math.Abs(l5-l8) > 1e-6*math.Abs(l5) {
				t.Errorf("loss: %v unpadded, %v padded", l5, l8)
			}
			var mx float64
			for _, v := range g5 {
				mx = max(mx, math.Abs(float64(v)))
			}
			for i := range g5 {
				if d := math.Abs(float64(g5[i] - g8[i])); d > 1e-6*mx {
					t.Errorf("weight %d: %v unpadded, %v padded", i, g5[i], g8[i])
				}
			}
		})
	}
}

func TestStepRejectsBadBatch(t *testing.T) {
	cfg := Config{Steps: 4, Inputs: 2, Hidden: 4, Classes: 3}
	p := NewParams(cfg, rand.NewPCG(1, 1))
	tr, err := NewTrainer(cfg, p, 4, &TrainerOptions{Engine: EngineNative})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for name, mutate := range map[string]func(b *Batch){
		"short X":       func(b *Batch) { b.X = b.X[1:] },
		"class 3":       func(b *Batch) { b.Next[1] = 3 },
		"class -2":      func(b *Batch) { b.Next[1] = -2 },
		"NaN weight":    func(b *Batch) { b.Weight[0] = float32(math.NaN()) },
		"short churn":   func(b *Batch) { b.Churn = b.Churn[:2] },
		"too many rows": func(b *Batch) { *b = *randBatch(cfg, 5, rng) },
	} {
		b := randBatch(cfg, 3, rng)
		mutate(b)
		if _, err := tr.Step(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if s := tr.State(); s.Adam.Step != 0 {
		t.Errorf("rejected batches took %d steps", s.Adam.Step)
	}
}

// TestForwardNoAllocs checks that ForwardWith allocates nothing once its
// workspace and output have seen the batch size, for B = 1 and B = 16.
func TestForwardNoAllocs(t *testing.T) {
	cfg := Config{Steps: 10, Inputs: 5, Static: 3, Hidden: 16, Layers: 2, Classes: 4}
	p := NewParams(cfg, rand.NewPCG(1, 2))
	for _, n := range []int{1, 16} {
		b := randBatch(cfg, n, rand.New(rand.NewPCG(3, 4)))
		var ws Workspace
		var out Output
		if err := p.ForwardWith(&ws, b, &out); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			if err := p.ForwardWith(&ws, b, &out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("B=%d: %v allocations per call, want 0", n, allocs)
		}
	}
}

// TestForwardConcurrent runs Forward from 8 goroutines on different batches
// and checks each result against a sequential run, bit for bit. (Run with
// -race to check for shared state too.)
func TestForwardConcurrent(t *testing.T) {
	cfg := Config{Steps: 8, Inputs: 4, Static: 2, Hidden: 16, Classes: 5}
	p := NewParams(cfg, rand.NewPCG(5, 6))
	const workers = 8
	batches := make([]*Batch, workers)
	want := make([]Output, workers)
	for i := range batches {
		batches[i] = randBatch(cfg, 1+i, rand.New(rand.NewPCG(7, uint64(i))))
		if err := p.Forward(batches[i], &want[i]); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]Output, workers)
	errs := make(chan error, workers)
	for i := range batches {
		go func() {
			var err error
			for rep := 0; rep < 50 && err == nil; rep++ {
				err = p.Forward(batches[i], &got[i])
			}
			errs <- err
		}()
	}
	for range batches {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range got {
		for j, v := range want[i].ClassLogits {
			if got[i].ClassLogits[j] != v {
				t.Fatalf("batch %d logit %d: %v concurrently, %v alone", i, j, got[i].ClassLogits[j], v)
			}
		}
		for j, v := range want[i].ChurnLogit {
			if got[i].ChurnLogit[j] != v {
				t.Fatalf("batch %d churn %d: %v concurrently, %v alone", i, j, got[i].ChurnLogit[j], v)
			}
		}
	}
}
