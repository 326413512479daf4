package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestForwardPrefixMatchesForward builds batches of groups whose rows
// share their first split weeks (X and mask copied from the group's first
// row, the rest random) and checks that ForwardPrefix gives the logits of
// ForwardWith within 1e-5, for one and two layers, splits at 0, inside and
// at T, and groups of 1 and 6 rows. A second run with the other rows'
// shared weeks overwritten by garbage checks that they are not read.
func TestForwardPrefixMatchesForward(t *testing.T) {
	const tol = 1e-5
	for _, cfg := range []Config{
		{Steps: 6, Inputs: 5, Static: 3, Hidden: 8, Layers: 1, Classes: 4},
		{Steps: 6, Inputs: 5, Static: 0, Hidden: 8, Layers: 2, Classes: 4},
		{Steps: 26, Inputs: 40, Static: 20, Hidden: 64, Layers: 1, Classes: 14},
	} {
		for _, rows := range []int{1, 6} {
			for _, split := range []int{0, cfg.Steps - 3, cfg.Steps} {
				t.Run(fmt.Sprintf("L%d-H%d-rows%d-split%d", cfg.Layers, cfg.Hidden, rows, split), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(7, uint64(rows*100+split)))
					p := NewParams(cfg, rng)
					for _, lp := range p.Layers {
						for i := range lp.B {
							lp.B[i] += float32(0.3 * rng.NormFloat64())
						}
					}
					const groups = 5
					n := groups * rows
					b := randBatch(cfg, n, rng)
					T, F := cfg.Steps, cfg.Inputs
					for g := 0; g < groups; g++ {
						r0 := g * rows
						for r := r0 + 1; r < r0+rows; r++ {
							copy(b.X[r*T*F:r*T*F+split*F], b.X[r0*T*F:r0*T*F+split*F])
							copy(b.Mask[r*T:r*T+split], b.Mask[r0*T:r0*T+split])
							// After the split the mask follows the first row's
							// (an occluded copy of a member keeps its weeks).
							copy(b.Mask[r*T+split:(r+1)*T], b.Mask[r0*T+split:(r0+1)*T])
						}
					}
					var ws Workspace
					var want, got Output
					if err := p.ForwardWith(&ws, b, &want); err != nil {
						t.Fatal(err)
					}
					check := func(what string) {
						t.Helper()
						if err := p.ForwardPrefix(&ws, b, rows, split, &got); err != nil {
							t.Fatal(err)
						}
						for i, w := range want.ChurnLogit {
							if d := math.Abs(float64(got.ChurnLogit[i] - w)); d > tol {
								t.Fatalf("%s: churn logit %d: %v, ForwardWith %v", what, i, got.ChurnLogit[i], w)
							}
						}
						for i, w := range want.ClassLogits {
							if d := math.Abs(float64(got.ClassLogits[i] - w)); d > tol {
								t.Fatalf("%s: class logit %d: %v, ForwardWith %v", what, i, got.ClassLogits[i], w)
							}
						}
					}
					check("shared weeks copied")
					for g := 0; g < groups; g++ {
						for r := g*rows + 1; r < (g+1)*rows; r++ {
							for i := r * T * F; i < r*T*F+split*F; i++ {
								b.X[i] = 1e3
							}
							for i := r * T; i < r*T+split; i++ {
								b.Mask[i] = 0.5
							}
						}
					}
					check("shared weeks of later rows garbage")
				})
			}
		}
	}
}

func TestForwardPrefixBadArgs(t *testing.T) {
	cfg := Config{Steps: 6, Inputs: 5, Static: 3, Hidden: 8, Layers: 1, Classes: 4}
	rng := rand.New(rand.NewPCG(1, 1))
	p := NewParams(cfg, rng)
	b := randBatch(cfg, 6, rng)
	var ws Workspace
	var out Output
	for _, c := range []struct{ rows, split int }{{4, 2}, {0, 2}, {3, -1}, {3, 7}} {
		if err := p.ForwardPrefix(&ws, b, c.rows, c.split, &out); err == nil {
			t.Errorf("rows %d split %d: no error", c.rows, c.split)
		}
	}
}

// TestForwardPrefixOccluded builds groups as an occlusion attribution
// does: the later rows of a group are copies of its first row whose
// last weeks have a few columns replaced (by 0, the standardised mean, or
// by random values), in one run, in two runs, in every column but one
// (not a few: the whole product), in none; one copy also has a mask of
// its own in the last weeks. ForwardPrefix must give ForwardWith's
// logits within 1e-5, with 3 groups (input terms computed ahead, see
// projAhead) and 12 (week by week), 1 and 2 layers.
func TestForwardPrefixOccluded(t *testing.T) {
	const tol = 1e-5
	for _, cfg := range []Config{
		{Steps: 26, Inputs: 40, Static: 20, Hidden: 64, Layers: 1, Classes: 14},
		{Steps: 7, Inputs: 9, Static: 3, Hidden: 8, Layers: 2, Classes: 4},
	} {
		T, F := cfg.Steps, cfg.Inputs
		cols := [][]int{{3}, {5, 6, 7}, {0, 1, 8}, nil, {}, {2}}
		cols[3] = make([]int, 0, F)
		for j := 1; j < F; j++ {
			cols[3] = append(cols[3], j)
		}
		rows := 1 + len(cols)
		for _, groups := range []int{3, 12} {
			for _, split := range []int{0, T - 3} {
				t.Run(fmt.Sprintf("L%d-groups%d-split%d", cfg.Layers, groups, split), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(11, uint64(groups*100+split)))
					p := NewParams(cfg, rng)
					n := groups * rows
					b := randBatch(cfg, n, rng)
					for g := 0; g < groups; g++ {
						r0 := g * rows
						for k, cs := range cols {
							r := r0 + 1 + k
							copy(b.X[r*T*F:(r+1)*T*F], b.X[r0*T*F:(r0+1)*T*F])
							copy(b.Mask[r*T:(r+1)*T], b.Mask[r0*T:(r0+1)*T])
							for w := split; w < T; w++ {
								for _, j := range cs {
									v := float32(0)
									if k%2 == 1 {
										v = float32(rng.NormFloat64())
									}
									b.X[(r*T+w)*F+j] = v
								}
							}
						}
						// The last copy: a mask of its own after the split.
						r := r0 + rows - 1
						b.Mask[r*T+T-1] = 0
						b.Mask[r*T+T-2] = 0.5
					}
					var ws Workspace
					var want, got Output
					if err := p.ForwardWith(&ws, b, &want); err != nil {
						t.Fatal(err)
					}
					if err := p.ForwardPrefix(&ws, b, rows, split, &got); err != nil {
						t.Fatal(err)
					}
					for i, w := range want.ChurnLogit {
						if d := math.Abs(float64(got.ChurnLogit[i] - w)); d > tol {
							t.Fatalf("churn logit %d: %v, ForwardWith %v", i, got.ChurnLogit[i], w)
						}
					}
					for i, w := range want.ClassLogits {
						if d := math.Abs(float64(got.ClassLogits[i] - w)); d > tol {
							t.Fatalf("class logit %d: %v, ForwardWith %v", i, got.ClassLogits[i], w)
						}
					}
				})
			}
		}
	}
}
