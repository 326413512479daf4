package features

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// The training file stores float32 arrays little-endian. On little-endian
// machines (amd64, arm64) they are copied as bytes; elsewhere converted one
// by one. Both give the same bytes.

var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// putF32s writes src into dst (4*len(src) bytes) little-endian.
func putF32s(dst []byte, src []float32) {
	if len(src) == 0 {
		return
	}
	if nativeLittle {
		copy(dst[:4*len(src)], unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(src))), 4*len(src)))
		return
	}
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// getF32s reads len(dst) little-endian float32s from src.
func getF32s(dst []float32, src []byte) {
	if len(dst) == 0 {
		return
	}
	if nativeLittle {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*len(dst)), src[:4*len(dst)])
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}
