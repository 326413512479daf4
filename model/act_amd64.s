//go:build !purego

#include "textflag.h"

// Vectorised expf (the same Cephes method as expf in mathf.go, 8 lanes at a
// time) and the sigmoid and tanh built on it. Each constant is a 32-byte
// vector of 8 equal lanes.

DATA actc<>+0(SB)/4, $0x42b00000
DATA actc<>+4(SB)/4, $0x42b00000
DATA actc<>+8(SB)/4, $0x42b00000
DATA actc<>+12(SB)/4, $0x42b00000
DATA actc<>+16(SB)/4, $0x42b00000
DATA actc<>+20(SB)/4, $0x42b00000
DATA actc<>+24(SB)/4, $0x42b00000
DATA actc<>+28(SB)/4, $0x42b00000
DATA actc<>+32(SB)/4, $0xc2ae0000
DATA actc<>+36(SB)/4, $0xc2ae0000
DATA actc<>+40(SB)/4, $0xc2ae0000
DATA actc<>+44(SB)/4, $0xc2ae0000
DATA actc<>+48(SB)/4, $0xc2ae0000
DATA actc<>+52(SB)/4, $0xc2ae0000
DATA actc<>+56(SB)/4, $0xc2ae0000
DATA actc<>+60(SB)/4, $0xc2ae0000
DATA actc<>+64(SB)/4, $0x3fb8aa3b
DATA actc<>+68(SB)/4, $0x3fb8aa3b
DATA actc<>+72(SB)/4, $0x3fb8aa3b
DATA actc<>+76(SB)/4, $0x3fb8aa3b
DATA actc<>+80(SB)/4, $0x3fb8aa3b
DATA actc<>+84(SB)/4, $0x3fb8aa3b
DATA actc<>+88(SB)/4, $0x3fb8aa3b
DATA actc<>+92(SB)/4, $0x3fb8aa3b
DATA actc<>+96(SB)/4, $0x3f000000
DATA actc<>+100(SB)/4, $0x3f000000
DATA actc<>+104(SB)/4, $0x3f000000
DATA actc<>+108(SB)/4, $0x3f000000
DATA actc<>+112(SB)/4, $0x3f000000
DATA actc<>+116(SB)/4, $0x3f000000
DATA actc<>+120(SB)/4, $0x3f000000
DATA actc<>+124(SB)/4, $0x3f000000
DATA actc<>+128(SB)/4, $0x3f318000
DATA actc<>+132(SB)/4, $0x3f318000
DATA actc<>+136(SB)/4, $0x3f318000
DATA actc<>+140(SB)/4, $0x3f318000
DATA actc<>+144(SB)/4, $0x3f318000
DATA actc<>+148(SB)/4, $0x3f318000
DATA actc<>+152(SB)/4, $0x3f318000
DATA actc<>+156(SB)/4, $0x3f318000
DATA actc<>+160(SB)/4, $0xb95e8083
DATA actc<>+164(SB)/4, $0xb95e8083
DATA actc<>+168(SB)/4, $0xb95e8083
DATA actc<>+172(SB)/4, $0xb95e8083
DATA actc<>+176(SB)/4, $0xb95e8083
DATA actc<>+180(SB)/4, $0xb95e8083
DATA actc<>+184(SB)/4, $0xb95e8083
DATA actc<>+188(SB)/4, $0xb95e8083
DATA actc<>+192(SB)/4, $0x39506967
DATA actc<>+196(SB)/4, $0x39506967
DATA actc<>+200(SB)/4, $0x39506967
DATA actc<>+204(SB)/4, $0x39506967
DATA actc<>+208(SB)/4, $0x39506967
DATA actc<>+212(SB)/4, $0x39506967
DATA actc<>+216(SB)/4, $0x39506967
DATA actc<>+220(SB)/4, $0x39506967
DATA actc<>+224(SB)/4, $0x3ab743ce
DATA actc<>+228(SB)/4, $0x3ab743ce
DATA actc<>+232(SB)/4, $0x3ab743ce
DATA actc<>+236(SB)/4, $0x3ab743ce
DATA actc<>+240(SB)/4, $0x3ab743ce
DATA actc<>+244(SB)/4, $0x3ab743ce
DATA actc<>+248(SB)/4, $0x3ab743ce
DATA actc<>+252(SB)/4, $0x3ab743ce
DATA actc<>+256(SB)/4, $0x3c088908
DATA actc<>+260(SB)/4, $0x3c088908
DATA actc<>+264(SB)/4, $0x3c088908
DATA actc<>+268(SB)/4, $0x3c088908
DATA actc<>+272(SB)/4, $0x3c088908
DATA actc<>+276(SB)/4, $0x3c088908
DATA actc<>+280(SB)/4, $0x3c088908
DATA actc<>+284(SB)/4, $0x3c088908
DATA actc<>+288(SB)/4, $0x3d2aa9c1
DATA actc<>+292(SB)/4, $0x3d2aa9c1
DATA actc<>+296(SB)/4, $0x3d2aa9c1
DATA actc<>+300(SB)/4, $0x3d2aa9c1
DATA actc<>+304(SB)/4, $0x3d2aa9c1
DATA actc<>+308(SB)/4, $0x3d2aa9c1
DATA actc<>+312(SB)/4, $0x3d2aa9c1
DATA actc<>+316(SB)/4, $0x3d2aa9c1
DATA actc<>+320(SB)/4, $0x3e2aaaaa
DATA actc<>+324(SB)/4, $0x3e2aaaaa
DATA actc<>+328(SB)/4, $0x3e2aaaaa
DATA actc<>+332(SB)/4, $0x3e2aaaaa
DATA actc<>+336(SB)/4, $0x3e2aaaaa
DATA actc<>+340(SB)/4, $0x3e2aaaaa
DATA actc<>+344(SB)/4, $0x3e2aaaaa
DATA actc<>+348(SB)/4, $0x3e2aaaaa
DATA actc<>+352(SB)/4, $0x3f000000
DATA actc<>+356(SB)/4, $0x3f000000
DATA actc<>+360(SB)/4, $0x3f000000
DATA actc<>+364(SB)/4, $0x3f000000
DATA actc<>+368(SB)/4, $0x3f000000
DATA actc<>+372(SB)/4, $0x3f000000
DATA actc<>+376(SB)/4, $0x3f000000
DATA actc<>+380(SB)/4, $0x3f000000
DATA actc<>+384(SB)/4, $0x3f800000
DATA actc<>+388(SB)/4, $0x3f800000
DATA actc<>+392(SB)/4, $0x3f800000
DATA actc<>+396(SB)/4, $0x3f800000
DATA actc<>+400(SB)/4, $0x3f800000
DATA actc<>+404(SB)/4, $0x3f800000
DATA actc<>+408(SB)/4, $0x3f800000
DATA actc<>+412(SB)/4, $0x3f800000
DATA actc<>+416(SB)/4, $0xc0000000
DATA actc<>+420(SB)/4, $0xc0000000
DATA actc<>+424(SB)/4, $0xc0000000
DATA actc<>+428(SB)/4, $0xc0000000
DATA actc<>+432(SB)/4, $0xc0000000
DATA actc<>+436(SB)/4, $0xc0000000
DATA actc<>+440(SB)/4, $0xc0000000
DATA actc<>+444(SB)/4, $0xc0000000
DATA actc<>+448(SB)/4, $0x40000000
DATA actc<>+452(SB)/4, $0x40000000
DATA actc<>+456(SB)/4, $0x40000000
DATA actc<>+460(SB)/4, $0x40000000
DATA actc<>+464(SB)/4, $0x40000000
DATA actc<>+468(SB)/4, $0x40000000
DATA actc<>+472(SB)/4, $0x40000000
DATA actc<>+476(SB)/4, $0x40000000
DATA actc<>+480(SB)/4, $0x0000007f
DATA actc<>+484(SB)/4, $0x0000007f
DATA actc<>+488(SB)/4, $0x0000007f
DATA actc<>+492(SB)/4, $0x0000007f
DATA actc<>+496(SB)/4, $0x0000007f
DATA actc<>+500(SB)/4, $0x0000007f
DATA actc<>+504(SB)/4, $0x0000007f
DATA actc<>+508(SB)/4, $0x0000007f
GLOBL actc<>(SB), RODATA|NOPTR, $512

// EXP8 sets Y0 = exp(Y0); it clobbers Y1-Y3.
#define EXP8 \
	VMINPS       actc<>+0(SB), Y0, Y0 \
	VMAXPS       actc<>+32(SB), Y0, Y0 \
	VMOVUPS      actc<>+64(SB), Y1 \
	VFMADD213PS  actc<>+96(SB), Y0, Y1 \
	VROUNDPS     $1, Y1, Y1 \
	VFNMADD231PS actc<>+128(SB), Y1, Y0 \
	VFNMADD231PS actc<>+160(SB), Y1, Y0 \
	VMOVUPS      actc<>+192(SB), Y2 \
	VFMADD213PS  actc<>+224(SB), Y0, Y2 \
	VFMADD213PS  actc<>+256(SB), Y0, Y2 \
	VFMADD213PS  actc<>+288(SB), Y0, Y2 \
	VFMADD213PS  actc<>+320(SB), Y0, Y2 \
	VFMADD213PS  actc<>+352(SB), Y0, Y2 \
	VMULPS       Y0, Y0, Y3 \
	VFMADD213PS  Y0, Y3, Y2 \
	VADDPS       actc<>+384(SB), Y2, Y2 \
	VCVTTPS2DQ   Y1, Y1 \
	VPADDD       actc<>+480(SB), Y1, Y1 \
	VPSLLD       $23, Y1, Y1 \
	VMULPS       Y1, Y2, Y0

// func vsigmoid(x *float32, n int)
// x[i] = 1/(1+exp(-x[i])) for i < n; n is a multiple of 8.
TEXT ·vsigmoid(SB), NOSPLIT, $0-16
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	SHRQ    $3, CX
	JZ      sdone
	VXORPS  Y4, Y4, Y4
	VMOVUPS actc<>+384(SB), Y5

sloop:
	VSUBPS  (SI), Y4, Y0
	EXP8
	VADDPS  Y5, Y0, Y0
	VDIVPS  Y0, Y5, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     sloop

sdone:
	VZEROUPPER
	RET

// func vtanh(x *float32, n int)
// x[i] = 2/(1+exp(-2x[i])) - 1 for i < n; n is a multiple of 8.
TEXT ·vtanh(SB), NOSPLIT, $0-16
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	SHRQ    $3, CX
	JZ      tdone
	VMOVUPS actc<>+384(SB), Y5
	VMOVUPS actc<>+448(SB), Y6

tloop:
	VMOVUPS (SI), Y0
	VMULPS  actc<>+416(SB), Y0, Y0
	EXP8
	VADDPS  Y5, Y0, Y0
	VDIVPS  Y0, Y6, Y0
	VSUBPS  Y5, Y0, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     tloop

tdone:
	VZEROUPPER
	RET
