//go:build !purego

package model

import "golang.org/x/sys/cpu"

// haveKernels reports whether the AVX2/FMA kernels of kernel_amd64.s can run.
var haveKernels = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveAVX512 reports whether kern4x32 can run as well.
var haveAVX512 = haveKernels && cpu.X86.HasAVX512F

//go:noescape
func kern4x16(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int)

//go:noescape
func kern1x64(k int, a *float32, sap int, b *float32, ldb int, c *float32)

//go:noescape
func kern1x16(k int, a *float32, sap int, b *float32, ldb int, c *float32)

//go:noescape
func vsigmoid(x *float32, n int)

//go:noescape
func vtanh(x *float32, n int)

//go:noescape
func kern4x8(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int)

//go:noescape
func kern1x8(k int, a *float32, sap int, b *float32, ldb int, c *float32)

//go:noescape
func kern4x32(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int)
