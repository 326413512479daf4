package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemm checks gemm against a float64 triple loop for every case the
// kernels split into (4-row blocks and single rows; 64-, 32-, 16-, 8- and
// remainder-column blocks; k = 0 and k past the 256-long chunks), both A
// layouts, beta 0 and 1, and padded strides, with and without AVX-512. The tolerance, 1e-5·(1+Σ|a·b|), covers float32 rounding of sums
// of up to 600 terms.
func TestGemm(t *testing.T) {
	// Run the AVX2 path too where the CPU has AVX-512.
	modes := []bool{haveAVX512}
	if haveAVX512 {
		modes = append(modes, false)
	}
	defer func(v bool) { haveAVX512 = v }(haveAVX512)
	for _, avx512 := range modes {
		haveAVX512 = avx512
		testGemm(t)
	}
}

func testGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, m := range []int{1, 3, 4, 9} {
		for _, n := range []int{1, 8, 15, 16, 24, 32, 48, 64, 84, 130} {
			for _, k := range []int{0, 1, 7, 70, 600} {
				for _, ta := range []bool{false, true} {
					for _, beta := range []float32{0, 1} {
						name := fmt.Sprintf("m%d-n%d-k%d-ta%v-beta%v", m, n, k, ta, beta)
						rows, cols := m, k
						if ta {
							rows, cols = k, m
						}
						lda, ldb, ldc := cols+2, n+3, n+1
						a := randSlice(rng, max(rows*lda, 1))
						b := randSlice(rng, max(k*ldb, 1))
						c := randSlice(rng, m*ldc)
						want := make([]float64, len(c))
						scale := make([]float64, len(c))
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								s := float64(beta) * float64(c[i*ldc+j])
								sa := math.Abs(s)
								for p := 0; p < k; p++ {
									var av float32
									if ta {
										av = a[p*lda+i]
									} else {
										av = a[i*lda+p]
									}
									s += float64(av) * float64(b[p*ldb+j])
									sa += math.Abs(float64(av) * float64(b[p*ldb+j]))
								}
								want[i*ldc+j] = s
								scale[i*ldc+j] = sa
							}
						}
						gemm(ta, false, m, n, k, a, lda, b, ldb, beta, c, ldc)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								got, w := float64(c[i*ldc+j]), want[i*ldc+j]
								if math.Abs(got-w) > 1e-5*(1+scale[i*ldc+j]) {
									t.Fatalf("%s: c[%d][%d] = %v, want %v", name, i, j, got, w)
								}
							}
						}
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// TestExpf checks expf against math.Exp: relative error below 3e-7 on a
// grid over [-87, 88], and the clamped ends.
func TestExpf(t *testing.T) {
	for x := -87.0; x <= 88; x += 0.01 {
		got, want := float64(expf(float32(x))), math.Exp(float64(float32(x)))
		if math.Abs(got-want) > 3e-7*want {
			t.Fatalf("expf(%v) = %v, want %v", x, got, want)
		}
	}
	if got := expf(1000); math.IsInf(float64(got), 0) || got <= 0 {
		t.Errorf("expf(1000) = %v, want the clamped e**88", got)
	}
	if got := expf(-1000); got < 0 || got > 1e-37 {
		t.Errorf("expf(-1000) = %v, want the clamped e**-87", got)
	}
}

// TestActivations checks sigmoidAll and tanhAll (the vector kernels for the
// first multiple of 8 elements, the scalar code for the rest) against
// math.Exp and math.Tanh: absolute error below 1e-6 over [-100, 100],
// including the clamped tails.
func TestActivations(t *testing.T) {
	var xs []float32
	for x := -100.0; x <= 100; x += 0.013 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, 0, -0.0, 1e-8, -1e-8)
	s := append([]float32(nil), xs...)
	th := append([]float32(nil), xs...)
	sigmoidAll(s)
	tanhAll(th)
	for i, x := range xs {
		ws := 1 / (1 + math.Exp(-float64(x)))
		if d := math.Abs(float64(s[i]) - ws); d > 1e-6 || math.IsNaN(d) {
			t.Fatalf("sigmoid(%v) = %v, want %v", x, s[i], ws)
		}
		wt := math.Tanh(float64(x))
		if d := math.Abs(float64(th[i]) - wt); d > 1e-6 || math.IsNaN(d) {
			t.Fatalf("tanh(%v) = %v, want %v", x, th[i], wt)
		}
	}
}

// BenchmarkGemm measures the kernels on the products of a training step of
// the default shape and reports GFLOPS.
func BenchmarkGemm(b *testing.B) {
	for _, s := range []struct {
		name    string
		ta      bool
		m, n, k int
	}{
		{"recurrent-64x256x64", false, 64, 256, 64},
		{"backrec-64x64x256", false, 64, 64, 256},
		{"inproj-1664x256x40", false, 1664, 256, 40},
		{"gradWh-T-64x256x1664", true, 64, 256, 1664},
	} {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			a := randSlice(rng, s.m*s.k)
			w := randSlice(rng, s.k*s.n)
			c := make([]float32, s.m*s.n)
			lda := s.k
			if s.ta {
				lda = s.m
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				gemm(s.ta, false, s.m, s.n, s.k, a, lda, w, s.n, 1, c, s.n)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
