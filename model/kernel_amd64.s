//go:build !purego

#include "textflag.h"

// The kernels add a block of A·B to C, where element (i, p) of A is at
// a[i*sai + p*sap] (so both A and Aᵀ can be read), B is row-major with row
// stride ldb and C row-major with row stride ldc. Strides are in elements.

// func kern4x16(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int)
// C[0:4, 0:16] += A[0:4, 0:k] · B[0:k, 0:16]
TEXT ·kern4x16(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ sai+16(FP), R8
	MOVQ sap+24(FP), R9
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	SHLQ $2, R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (R12)(R8*2), R14
	TESTQ CX, CX
	JE   store4

loop4:
	VMOVUPS      (DI), Y8
	VMOVUPS      32(DI), Y9
	VBROADCASTSS (SI), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (R12), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (R13), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (R14), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	ADDQ         R9, SI
	ADDQ         R9, R12
	ADDQ         R9, R13
	ADDQ         R9, R14
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop4

store4:
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DX)
	VADDPS  32(DX), Y1, Y1
	VMOVUPS Y1, 32(DX)
	ADDQ    R11, DX
	VADDPS  (DX), Y2, Y2
	VMOVUPS Y2, (DX)
	VADDPS  32(DX), Y3, Y3
	VMOVUPS Y3, 32(DX)
	ADDQ    R11, DX
	VADDPS  (DX), Y4, Y4
	VMOVUPS Y4, (DX)
	VADDPS  32(DX), Y5, Y5
	VMOVUPS Y5, 32(DX)
	ADDQ    R11, DX
	VADDPS  (DX), Y6, Y6
	VMOVUPS Y6, (DX)
	VADDPS  32(DX), Y7, Y7
	VMOVUPS Y7, 32(DX)
	VZEROUPPER
	RET

// func kern1x64(k int, a *float32, sap int, b *float32, ldb int, c *float32)
// C[0, 0:64] += A[0, 0:k] · B[0:k, 0:64]
TEXT ·kern1x64(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ sap+16(FP), R9
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R10
	MOVQ c+40(FP), DX
	SHLQ $2, R9
	SHLQ $2, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JE   store1

loop1:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	VFMADD231PS  64(DI), Y8, Y2
	VFMADD231PS  96(DI), Y8, Y3
	VFMADD231PS  128(DI), Y8, Y4
	VFMADD231PS  160(DI), Y8, Y5
	VFMADD231PS  192(DI), Y8, Y6
	VFMADD231PS  224(DI), Y8, Y7
	ADDQ         R9, SI
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop1

store1:
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DX)
	VADDPS  32(DX), Y1, Y1
	VMOVUPS Y1, 32(DX)
	VADDPS  64(DX), Y2, Y2
	VMOVUPS Y2, 64(DX)
	VADDPS  96(DX), Y3, Y3
	VMOVUPS Y3, 96(DX)
	VADDPS  128(DX), Y4, Y4
	VMOVUPS Y4, 128(DX)
	VADDPS  160(DX), Y5, Y5
	VMOVUPS Y5, 160(DX)
	VADDPS  192(DX), Y6, Y6
	VMOVUPS Y6, 192(DX)
	VADDPS  224(DX), Y7, Y7
	VMOVUPS Y7, 224(DX)
	VZEROUPPER
	RET

// func kern1x16(k int, a *float32, sap int, b *float32, ldb int, c *float32)
// C[0, 0:16] += A[0, 0:k] · B[0:k, 0:16]
TEXT ·kern1x16(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ sap+16(FP), R9
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R10
	MOVQ c+40(FP), DX
	SHLQ $2, R9
	SHLQ $2, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ CX, CX
	JE   store16

loop16:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	ADDQ         R9, SI
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop16

store16:
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DX)
	VADDPS  32(DX), Y1, Y1
	VMOVUPS Y1, 32(DX)
	VZEROUPPER
	RET

// func kern4x8(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int)
// C[0:4, 0:8] += A[0:4, 0:k] · B[0:k, 0:8]
TEXT ·kern4x8(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ sai+16(FP), R8
	MOVQ sap+24(FP), R9
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	SHLQ $2, R11
	VXORPS Y0, Y0, Y0
	VXORPS Y2, Y2, Y2
	VXORPS Y4, Y4, Y4
	VXORPS Y6, Y6, Y6
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (R12)(R8*2), R14
	TESTQ CX, CX
	JE   store48

loop48:
	VMOVUPS      (DI), Y8
	VBROADCASTSS (SI), Y10
	VFMADD231PS  Y8, Y10, Y0
	VBROADCASTSS (R12), Y11
	VFMADD231PS  Y8, Y11, Y2
	VBROADCASTSS (R13), Y12
	VFMADD231PS  Y8, Y12, Y4
	VBROADCASTSS (R14), Y13
	VFMADD231PS  Y8, Y13, Y6
	ADDQ         R9, SI
	ADDQ         R9, R12
	ADDQ         R9, R13
	ADDQ         R9, R14
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop48

store48:
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DX)
	ADDQ    R11, DX
	VADDPS  (DX), Y2, Y2
	VMOVUPS Y2, (DX)
	ADDQ    R11, DX
	VADDPS  (DX), Y4, Y4
	VMOVUPS Y4, (DX)
	ADDQ    R11, DX
	VADDPS  (DX), Y6, Y6
	VMOVUPS Y6, (DX)
	VZEROUPPER
	RET

// func kern1x8(k int, a *float32, sap int, b *float32, ldb int, c *float32)
// C[0, 0:8] += A[0, 0:k] · B[0:k, 0:8]
TEXT ·kern1x8(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ sap+16(FP), R9
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R10
	MOVQ c+40(FP), DX
	SHLQ $2, R9
	SHLQ $2, R10
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JE   store18

loop18:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	ADDQ         R9, SI
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop18

store18:
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DX)
	VZEROUPPER
	RET

// func kern4x32(k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int)
// C[0:4, 0:32] += A[0:4, 0:k] · B[0:k, 0:32], with AVX-512.
TEXT ·kern4x32(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ sai+16(FP), R8
	MOVQ sap+24(FP), R9
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	SHLQ $2, R11
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (R12)(R8*2), R14
	TESTQ CX, CX
	JE   store432

loop432:
	VMOVUPS      (DI), Z8
	VMOVUPS      64(DI), Z9
	VBROADCASTSS (SI), Z10
	VFMADD231PS  Z8, Z10, Z0
	VFMADD231PS  Z9, Z10, Z1
	VBROADCASTSS (R12), Z11
	VFMADD231PS  Z8, Z11, Z2
	VFMADD231PS  Z9, Z11, Z3
	VBROADCASTSS (R13), Z12
	VFMADD231PS  Z8, Z12, Z4
	VFMADD231PS  Z9, Z12, Z5
	VBROADCASTSS (R14), Z13
	VFMADD231PS  Z8, Z13, Z6
	VFMADD231PS  Z9, Z13, Z7
	ADDQ         R9, SI
	ADDQ         R9, R12
	ADDQ         R9, R13
	ADDQ         R9, R14
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop432

store432:
	VADDPS  (DX), Z0, Z0
	VMOVUPS Z0, (DX)
	VADDPS  64(DX), Z1, Z1
	VMOVUPS Z1, 64(DX)
	ADDQ    R11, DX
	VADDPS  (DX), Z2, Z2
	VMOVUPS Z2, (DX)
	VADDPS  64(DX), Z3, Z3
	VMOVUPS Z3, 64(DX)
	ADDQ    R11, DX
	VADDPS  (DX), Z4, Z4
	VMOVUPS Z4, (DX)
	VADDPS  64(DX), Z5, Z5
	VMOVUPS Z5, 64(DX)
	ADDQ    R11, DX
	VADDPS  (DX), Z6, Z6
	VMOVUPS Z6, (DX)
	VADDPS  64(DX), Z7, Z7
	VMOVUPS Z7, 64(DX)
	VZEROUPPER
	RET
