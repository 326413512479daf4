package synth

import (
	"math"
	"math/rand/v2"
)

// Stream tags keep the derived PCG streams of different purposes apart.
const (
	tagTimetable uint64 = 0x7469_6d65_7461_626c
	tagMember    uint64 = 0x6d65_6d62_6572_0000
	tagTruth     uint64 = 0x7472_7574_6800_0000
	tagPosterior uint64 = 0x706f_7374_0000_0000
)

// splitmix64 is one step of the SplitMix64 finaliser, used to derive
// well-separated PCG seeds from (seed, tag, indices).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// seedPair derives the two PCG seed words of the stream named by vals.
func seedPair(vals ...uint64) (uint64, uint64) {
	h := uint64(0x243f6a8885a308d3)
	for _, v := range vals {
		h = splitmix64(h ^ v)
	}
	return h, splitmix64(h ^ 0x13198a2e03707344)
}

// memberRand returns the stream of member index i.
func memberRand(seed uint64, i int) *rand.Rand {
	a, b := seedPair(seed, tagMember, uint64(i))
	return rand.New(rand.NewPCG(a, b))
}

// reseedTruth points pcg at the stream of re-simulation sim of member i
// from cutoff week c.
func reseedTruth(pcg *rand.PCG, seed uint64, i, c, sim int) {
	a, b := seedPair(seed, tagTruth, uint64(i), uint64(c), uint64(sim))
	pcg.Seed(a, b)
}

// gamma draws from Gamma(shape, 1) (Marsaglia and Tsang 2000; shape < 1 by
// the boost Gamma(a) = Gamma(a+1) * U^(1/a)).
func gamma(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := r.Float64()
		return gamma(r, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// beta draws from Beta(a, b).
func beta(r *rand.Rand, a, b float64) float64 {
	x := gamma(r, a)
	y := gamma(r, b)
	return x / (x + y)
}

// poisson draws from Poisson(lambda) by multiplying uniforms (Knuth); the
// rates here are small (< 15).
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	l := math.Exp(-lambda)
	k := 0
	p := r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}

// pickWeights returns index i with probability w[i] / sum(w). It returns
// -1 when every weight is zero.
func pickWeights(r *rand.Rand, w []float64) int {
	var s float64
	for _, x := range w {
		s += x
	}
	if s <= 0 {
		return -1
	}
	u := r.Float64() * s
	last := -1
	for i, x := range w {
		if x <= 0 {
			continue
		}
		last = i
		u -= x
		if u < 0 {
			return i
		}
	}
	return last
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func clamp(x, lo, hi float64) float64 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

func randFrom(a, b uint64) *rand.Rand { return rand.New(rand.NewPCG(a, b)) }
