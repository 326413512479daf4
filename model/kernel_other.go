//go:build !amd64 || purego

package model

// haveKernels is false: there are no assembly kernels for this architecture
// (or the purego tag is set), and gemm uses gonum's BLAS.
var haveKernels = false

var haveAVX512 = false

func kern4x16(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int) {
	panic("model: no kernels")
}

func kern1x64(k int, a *float32, sap int, b *float32, ldb int, c *float32) {
	panic("model: no kernels")
}

func kern1x16(k int, a *float32, sap int, b *float32, ldb int, c *float32) {
	panic("model: no kernels")
}

func vsigmoid(x *float32, n int) { panic("model: no kernels") }

func vtanh(x *float32, n int) { panic("model: no kernels") }

func kern4x8(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int) {
	panic("model: no kernels")
}

func kern1x8(k int, a *float32, sap int, b *float32, ldb int, c *float32) { panic("model: no kernels") }

func kern4x32(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int) {
	panic("model: no kernels")
}
