package model

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchCfg is the default shape of the benchmarks, the one the PyTorch
// reference in bench/torch_lstm.py uses: T 26, F 40, S 20, H 64, C 14.
var benchCfg = Config{Steps: 26, Inputs: 40, Static: 20, Hidden: 64, Layers: 1, Classes: 14}

// fullBatch returns n random rows with every week unmasked (the worst case
// for the engines, which skip masked weeks, and what PyTorch computes) and
// weight 1.
func fullBatch(cfg Config, n int, seed uint64) *Batch {
	b := randBatch(cfg, n, rand.New(rand.NewPCG(seed, 1)))
	for i := range b.Mask {
		b.Mask[i] = 1
	}
	for i := range b.Weight {
		b.Weight[i] = 1
	}
	return b
}

// BenchmarkTrainStep measures one Adam step on a batch of 64 full sequences
// of the default shape and reports sequences per second.
func BenchmarkTrainStep(b *testing.B) {
	for _, layers := range []int{1, 2} {
		for _, eng := range engines {
			for _, workers := range []int{1, 2} {
				name := fmt.Sprintf("layers=%d/engine=%s/workers=%d", layers, eng, workers)
				b.Run(name, func(b *testing.B) {
					cfg := benchCfg
					cfg.Layers = layers
					const batch = 64
					p := NewParams(cfg, rand.NewPCG(1, 2))
					tr, err := NewTrainer(cfg, p, batch, &TrainerOptions{Engine: eng, Workers: workers})
					if err != nil {
						b.Fatal(err)
					}
					bt := fullBatch(cfg, batch, 3)
					b.ResetTimer()
					cpu := processCPU()
					for i := 0; i < b.N; i++ {
						if _, err := tr.Step(bt); err != nil {
							b.Fatal(err)
						}
					}
					reportRates(b, batch, cpu, "seq")
				})
			}
		}
	}
}

// BenchmarkForward measures the plain forward pass of the default shape with
// 1 and 2 layers, for one member (the server's case) and for batches of 256
// (batch scoring), and reports members per second.
func BenchmarkForward(b *testing.B) {
	for _, layers := range []int{1, 2} {
		for _, n := range []int{1, 256} {
			b.Run(fmt.Sprintf("layers=%d/B=%d", layers, n), func(b *testing.B) {
				cfg := benchCfg
				cfg.Layers = layers
				p := NewParams(cfg, rand.NewPCG(1, 2))
				bt := fullBatch(cfg, n, 3)
				var ws Workspace
				var out Output
				if err := p.ForwardWith(&ws, bt, &out); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu := processCPU()
				for i := 0; i < b.N; i++ {
					if err := p.ForwardWith(&ws, bt, &out); err != nil {
						b.Fatal(err)
					}
				}
				reportRates(b, n, cpu, "members")
			})
		}
	}
}

// BenchmarkForwardOcclusion measures ForwardPrefix on the batch of an
// occlusion attribution of the default shape (serve.BundleScorer.Score
// and ScoreBatch): per member its own row and 5 copies that replace a few
// columns (1, 3, 5, 12 and 16 of the 40, the size of the serving groups)
// by 0 in the last 8 weeks, the first 18 weeks shared. B is the number
// of members: 1 (the server) and 64 (batch scoring). It reports members
// per second.
func BenchmarkForwardOcclusion(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("B=%d", n), func(b *testing.B) {
			cfg := benchCfg
			T, F := cfg.Steps, cfg.Inputs
			p := NewParams(cfg, rand.NewPCG(1, 2))
			widths := []int{1, 3, 5, 12, 16}
			rows := 1 + len(widths)
			split := T - 8
			bt := fullBatch(cfg, n*rows, 3)
			for g := 0; g < n; g++ {
				r0 := g * rows
				for k, w := range widths {
					r := r0 + 1 + k
					copy(bt.X[r*T*F:(r+1)*T*F], bt.X[r0*T*F:(r0+1)*T*F])
					for t := split; t < T; t++ {
						for j := 0; j < w; j++ {
							bt.X[(r*T+t)*F+(7*k+j)%F] = 0
						}
					}
				}
			}
			var ws Workspace
			var out Output
			if err := p.ForwardPrefix(&ws, bt, rows, split, &out); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				if err := p.ForwardPrefix(&ws, bt, rows, split, &out); err != nil {
					b.Fatal(err)
				}
			}
			reportRates(b, n, cpu, "members")
		})
	}
}

// BenchmarkPredictGorgonia measures the Gorgonia forward graph on batches of
// 256, for comparison with BenchmarkForward.
func BenchmarkPredictGorgonia(b *testing.B) {
	for _, layers := range []int{1, 2} {
		b.Run(fmt.Sprintf("layers=%d", layers), func(b *testing.B) {
			const n = 256
			cfg := benchCfg
			cfg.Layers = layers
			p := NewParams(cfg, rand.NewPCG(1, 2))
			tr, err := NewTrainer(cfg, p, n, nil)
			if err != nil {
				b.Fatal(err)
			}
			bt := fullBatch(cfg, n, 3)
			var out Output
			if err := tr.Predict(bt, &out); err != nil { // builds the graph
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				if err := tr.Predict(bt, &out); err != nil {
					b.Fatal(err)
				}
			}
			reportRates(b, n, cpu, "members")
		})
	}
}

// reportRates reports items per second of wall time ("<unit>/s") and, where
// the process CPU clock works, items per second of CPU time used by the
// whole process since cpu ("<unit>/cpu-s"). On a machine shared with other
// work the second is the steadier figure of the code's cost; with several
// workers it measures efficiency, not throughput.
func reportRates(b *testing.B, perOp int, cpu time.Duration, unit string) {
	items := float64(perOp * b.N)
	b.ReportMetric(items/b.Elapsed().Seconds(), unit+"/s")
	if used := processCPU() - cpu; cpu > 0 && used > 0 {
		b.ReportMetric(items/used.Seconds(), unit+"/cpu-s")
	}
}
