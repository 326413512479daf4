package model

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// impl is the float32 BLAS used by the plain forward pass and the native
// training engine.
var impl = blas32.Implementation()

// expf returns e**x in float32 with a relative error below 2e-7 over the
// range it clamps x to, [-87, 88] (Cephes' expf: x = n·ln2 + r, |r| <= ln2/2,
// a degree-6 polynomial for e**r, then scaling by 2**n through the exponent
// bits). It is several times faster than float32(math.Exp(float64(x))).
func expf(x float32) float32 {
	if x > 88 {
		x = 88
	} else if x < -87 {
		x = -87
	}
	t := x*1.44269504088896341 + 0.5
	n := int32(t)
	if float32(n) > t {
		n--
	}
	fn := float32(n)
	x = x - fn*0.693359375 + fn*2.12194440e-4
	z := x * x
	y := ((((((1.9875691500e-4*x+1.3981999507e-3)*x+8.3334519073e-3)*x+
		4.1665795894e-2)*x+1.6666665459e-1)*x+5.0000001201e-1)*z + x + 1)
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// sigmoidf returns 1/(1+e**-x).
func sigmoidf(x float32) float32 { return 1 / (1 + expf(-x)) }

// tanhf returns tanh(x) as 2σ(2x)-1, with an absolute error below 3e-7.
func tanhf(x float32) float32 { return 2/(1+expf(-2*x)) - 1 }

// gemm sets c = beta·c + op(a)·op(b) for row-major float32 matrices, where
// op(a) is m×k and op(b) is k×n; ta and tb say whether a and b are stored
// transposed. With beta 0 or 1 and b not transposed it runs the AVX2/FMA
// kernels (and the AVX-512 one) where the CPU has them; everything else goes
// to gonum's Sgemm. The kernels give the same result for the same operands
// every time, but not the same bits as gonum or as another CPU's kernels.
func gemm(ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if !haveKernels || tb || (beta != 0 && beta != 1) {
		tA, tB := blas.NoTrans, blas.NoTrans
		if ta {
			tA = blas.Trans
		}
		if tb {
			tB = blas.Trans
		}
		impl.Sgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if beta == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
	}
	sai, sap := lda, 1
	if ta {
		sai, sap = 1, lda
	}
	kernelGemm(m, n, k, a, sai, sap, b, ldb, c, ldc)
}

// kernelGemm adds A·B to C, where element (i, p) of the m×k matrix A is
// a[i*sai+p*sap], B is k×n with row stride ldb and C is m×n with row stride
// ldc. Blocks of 4×32 (AVX-512), 4×16, 4×8, 1×64, 1×16 and 1×8 go to the
// assembly kernels; columns past the last multiple of 8 are done here.
func kernelGemm(m, n, k int, a []float32, sai, sap int, b []float32, ldb int, c []float32, ldc int) {
	if k == 0 {
		return
	}
	if (m-1)*sai+(k-1)*sap >= len(a) || (k-1)*ldb+n-1 >= len(b) || (m-1)*ldc+n-1 >= len(c) {
		panic("model: gemm operand too short")
	}
	// Long sums go in chunks, so that the rows of B a chunk reads stay in
	// cache while every block of C is done.
	const kc = 256
	for k > kc {
		kernelGemm(m, n, kc, a, sai, sap, b, ldb, c, ldc)
		a, b, k = a[kc*sap:], b[kc*ldb:], k-kc
	}
	n16, n8 := n&^15, n&^7
	i := 0
	n32 := 0
	if haveAVX512 {
		n32 = n &^ 31
	}
	for ; i+4 <= m; i += 4 {
		for j := 0; j < n32; j += 32 {
			kern4x32(k, &a[i*sai], sai, sap, &b[j], ldb, &c[i*ldc+j], ldc)
		}
		for j := n32; j < n16; j += 16 {
			kern4x16(k, &a[i*sai], sai, sap, &b[j], ldb, &c[i*ldc+j], ldc)
		}
		if n8 > n16 {
			kern4x8(k, &a[i*sai], sai, sap, &b[n16], ldb, &c[i*ldc+n16], ldc)
		}
	}
	for ; i < m; i++ {
		j := 0
		for ; j+64 <= n16; j += 64 {
			kern1x64(k, &a[i*sai], sap, &b[j], ldb, &c[i*ldc+j])
		}
		for ; j < n16; j += 16 {
			kern1x16(k, &a[i*sai], sap, &b[j], ldb, &c[i*ldc+j])
		}
		if n8 > n16 {
			kern1x8(k, &a[i*sai], sap, &b[n16], ldb, &c[i*ldc+n16])
		}
	}
	if n8 == n {
		return
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc+n8 : i*ldc+n]
		for p := 0; p < k; p++ {
			av := a[i*sai+p*sap]
			bp := b[p*ldb+n8 : p*ldb+n]
			for j, bv := range bp {
				ci[j] += av * bv
			}
		}
	}
}

// sigmoidAll replaces every element of s by its sigmoid.
func sigmoidAll(s []float32) {
	n8 := 0
	if haveKernels {
		n8 = len(s) &^ 7
		if n8 > 0 {
			vsigmoid(&s[0], n8)
		}
	}
	for i := n8; i < len(s); i++ {
		s[i] = sigmoidf(s[i])
	}
}

// tanhAll replaces every element of s by its tanh.
func tanhAll(s []float32) {
	n8 := 0
	if haveKernels {
		n8 = len(s) &^ 7
		if n8 > 0 {
			vtanh(&s[0], n8)
		}
	}
	for i := n8; i < len(s); i++ {
		s[i] = tanhf(s[i])
	}
}
