package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"retain/model"
)

func modelBlend(a, b float64) model.NextBlend { return model.NextBlend{A: a, B: b} }

// TestFitNextBlendRecovers draws labels from softmax(0.5·z + 1.5·c) of
// random logits and choice columns and requires the fit to find the two
// weights (20,000 examples: standard errors about 0.01), with a zero
// gradient at the result, and the loss before to be the network's alone.
func TestFitNextBlendRecovers(t *testing.T) {
	const C, n, wa, wb = 5, 20000, 0.5, 1.5
	r := rand.New(rand.NewPCG(5, 6))
	rows := &poolRows{C: C}
	l := make([]float64, C)
	for range n {
		var s float64
		for k := range C {
			z, c := float32(2*r.NormFloat64()), float32(r.NormFloat64())
			rows.z, rows.c = append(rows.z, z), append(rows.c, c)
			l[k] = math.Exp(wa*float64(z) + wb*float64(c))
			s += l[k]
		}
		u, y := r.Float64()*s, 0
		for ; y < C-1 && u > l[y]; y++ {
			u -= l[y]
		}
		rows.y = append(rows.y, int32(y))
	}
	nb, err := fitNextBlend(rows)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(nb.A-wa) > 0.05 || math.Abs(nb.B-wb) > 0.05 {
		t.Errorf("fitted A = %.4f, B = %.4f; drawn with %v, %v", nb.A, nb.B, wa, wb)
	}
	_, g, _ := poolLoss(rows, nb.A, nb.B, true)
	if math.Hypot(g[0], g[1]) > 1e-6 {
		t.Errorf("gradient %v at the fit", g)
	}
	if before, _, _ := poolLoss(rows, 1, 0, false); nb.LogLossBefore != before || !(nb.LogLossAfter < before) {
		t.Errorf("log-loss before %v (network alone %v), after %v", nb.LogLossBefore, before, nb.LogLossAfter)
	}
	if nb.Examples != n {
		t.Errorf("%d examples, want %d", nb.Examples, n)
	}
	if _, err := fitNextBlend(&poolRows{C: C}); err == nil {
		t.Error("no rows: no error")
	}
}

// TestPoolHits: HR@1 and HR@3 of the pool, counted by hand. Three
// categories, two examples; with A = 1, B = 2 the pooled logits are
// (1+0, 0+2, 0.5+0) = (1, 2, 0.5) and (0+2, 1+0, 3+0) = (2, 1, 3).
func TestPoolHits(t *testing.T) {
	rows := &poolRows{C: 3,
		z: []float32{1, 0, 0.5, 0, 1, 3},
		c: []float32{0, 1, 0, 1, 0, 0},
		y: []int32{0, 1}}
	hr1, hr3 := poolHits(rows, modelBlend(1, 2))
	// Example 1: label 0 ranks 2nd; example 2: label 1 ranks 3rd.
	if hr1 != 0 || hr3 != 1 {
		t.Errorf("HR@1 %v, HR@3 %v; want 0 and 1", hr1, hr3)
	}
	_, hr3 = poolHits(&poolRows{C: 4, z: []float32{0, 1, 2, 3}, c: make([]float32, 4), y: []int32{0}}, modelBlend(1, 0))
	if hr3 != 0 {
		t.Errorf("label ranked 4th: HR@3 %v", hr3)
	}
}
