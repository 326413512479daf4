package model

import (
	"math"
	"math/rand/v2"
)

// This file holds what the tests compare against: a float64 reference of
// the network and loss written straight from the equations in the Params
// documentation (no BLAS, no shared code with the engines), and random
// batches.

// refNet is the float64 reference network; w is laid out as Params.Data.
type refNet struct {
	cfg Config
	w   []float64
}

// split cuts w into the weight matrices in Params.Data order.
func (n refNet) split() (wx, wh, bb [][]float64, wout, bout []float64) {
	cfg := n.cfg
	h4 := 4 * cfg.Hidden
	off := 0
	take := func(k int) []float64 {
		s := n.w[off : off+k]
		off += k
		return s
	}
	for l := 0; l < cfg.Layers; l++ {
		wx = append(wx, take(cfg.inputsOf(l)*h4))
		wh = append(wh, take(cfg.Hidden*h4))
		bb = append(bb, take(h4))
	}
	wout = take(cfg.head() * cfg.outputs())
	bout = take(cfg.outputs())
	if off != len(n.w) {
		panic("refNet: weight count")
	}
	return
}

// logits returns the class logits and churn logit of row r of b.
func (n refNet) logits(b *Batch, r int) ([]float64, float64) {
	cfg := n.cfg
	T, F, S, H, C := cfg.Steps, cfg.Inputs, cfg.Static, cfg.Hidden, cfg.Classes
	wx, wh, bb, wout, bout := n.split()
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	h := make([][]float64, cfg.Layers)
	c := make([][]float64, cfg.Layers)
	for l := range h {
		h[l] = make([]float64, H)
		c[l] = make([]float64, H)
	}
	for t := 0; t < T; t++ {
		m := float64(b.Mask[r*T+t])
		in := make([]float64, F)
		for f := range in {
			in[f] = float64(b.X[(r*T+t)*F+f])
		}
		for l := 0; l < cfg.Layers; l++ {
			z := make([]float64, 4*H)
			for j := range z {
				s := bb[l][j]
				for k, v := range in {
					s += v * wx[l][k*4*H+j]
				}
				for k, v := range h[l] {
					s += v * wh[l][k*4*H+j]
				}
				z[j] = s
			}
			hn := make([]float64, H)
			for j := 0; j < H; j++ {
				i, f, g, o := sig(z[j]), sig(z[H+j]), math.Tanh(z[2*H+j]), sig(z[3*H+j])
				cn := f*c[l][j] + i*g
				hj := o * math.Tanh(cn)
				c[l][j] = m*cn + (1-m)*c[l][j]
				hn[j] = m*hj + (1-m)*h[l][j]
			}
			h[l] = hn
			in = hn
		}
	}
	v := append(append([]float64(nil), h[cfg.Layers-1]...), make([]float64, S)...)
	for s := 0; s < S; s++ {
		v[H+s] = float64(b.Static[r*S+s])
	}
	O := cfg.outputs()
	out := make([]float64, O)
	for j := range out {
		s := bout[j]
		for k, x := range v {
			s += x * wout[k*O+j]
		}
		out[j] = s
	}
	return out[:C], out[C]
}

// loss returns the loss of b as Trainer.Step defines it.
func (n refNet) loss(b *Batch) float64 {
	cfg := n.cfg
	var total, sum float64
	for _, w := range b.Weight {
		total += float64(w)
	}
	for r := range b.Weight {
		w := float64(b.Weight[r]) / total
		if w == 0 {
			continue
		}
		cls, z := n.logits(b, r)
		if y := b.Next[r]; y >= 0 {
			var se float64
			for _, v := range cls {
				se += math.Exp(v)
			}
			sum += w * (math.Log(se) - cls[y])
		}
		y := float64(b.Churn[r])
		sum += w * cfg.ChurnWeight * (cfg.PosWeight*y*math.Log1p(math.Exp(-z)) + (1-y)*math.Log1p(math.Exp(z)))
	}
	return sum
}

// randBatch returns n random rows for cfg: left-padded masks with a random
// join week (row 0 has joined from the start; when n > 2 one row never joins
// and one has a fractional mask in its first joined week), Gaussian features,
// random labels with some Next = -1, weights in {0, 0.5, 1, 2}.
func randBatch(cfg Config, n int, rng *rand.Rand) *Batch {
	cfg = cfg.WithDefaults()
	T, F, S := cfg.Steps, cfg.Inputs, cfg.Static
	b := &Batch{
		X:      make([]float32, n*T*F),
		Mask:   make([]float32, n*T),
		Static: make([]float32, n*S),
		Next:   make([]int32, n),
		Churn:  make([]float32, n),
		Weight: make([]float32, n),
	}
	for i := range b.X {
		b.X[i] = float32(rng.NormFloat64())
	}
	for i := range b.Static {
		b.Static[i] = float32(rng.NormFloat64())
	}
	for r := 0; r < n; r++ {
		join := rng.IntN(T)
		switch {
		case r == 0:
			join = 0
		case r == 1 && n > 2:
			join = T // never joins
		}
		for t := join; t < T; t++ {
			b.Mask[r*T+t] = 1
		}
		if r == 2 && join < T {
			b.Mask[r*T+join] = 0.4
		}
		b.Next[r] = int32(rng.IntN(cfg.Classes+1)) - 1
		b.Churn[r] = float32(rng.IntN(2))
		b.Weight[r] = []float32{0, 0.5, 1, 2}[rng.IntN(4)]
	}
	b.Weight[0] = 1 // never all zero
	return b
}

// to64 returns s converted to float64.
func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}
