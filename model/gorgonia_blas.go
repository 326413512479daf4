package model

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// kernelBLAS is gonum's BLAS with Sgemm sent to this package's AVX2/FMA
// kernels when they can do it (alpha 1, beta 0 or 1; a transposed B is
// copied untransposed first). Gorgonia's float32 matrix products go through
// it once useKernelBLAS has run.
type kernelBLAS struct{ gonum.Implementation }

var transposed = sync.Pool{New: func() any { return new([]float32) }}

func (k kernelBLAS) Sgemm(tA, tB blas.Transpose, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !haveKernels || alpha != 1 || (beta != 0 && beta != 1) || m < 4 {
		k.Implementation.Sgemm(tA, tB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if tB != blas.NoTrans {
		// B is stored n×kk; copy it to kk×n.
		buf := transposed.Get().(*[]float32)
		t := grow(*buf, kk*n)
		for j := 0; j < n; j++ {
			for p, v := range b[j*ldb : j*ldb+kk] {
				t[p*n+j] = v
			}
		}
		gemm(tA != blas.NoTrans, false, m, n, kk, a, lda, t, n, beta, c, ldc)
		*buf = t
		transposed.Put(buf)
		return
	}
	gemm(tA != blas.NoTrans, false, m, n, kk, a, lda, b, ldb, beta, c, ldc)
}

var useKernelsOnce sync.Once

// useKernelBLAS makes Gorgonia (process-wide: its BLAS is a global) use
// kernelBLAS. It is called before the first graph is built.
func useKernelBLAS() {
	useKernelsOnce.Do(func() {
		if haveKernels {
			G.Use(kernelBLAS{})
		}
	})
}
