package features

import "unsafe"

// slab hands out zeroed, fixed-capacity slices of T carved from large
// chunks, for per-member state that ReadAsOf reserves up front: one
// allocation per chunk instead of several growing appends per member (each
// append that grows a small slice allocates, clears and copies). The chunks
// double from minChunk elements up to maxChunkBytes; chunks of 4 MiB and
// more are advised to use transparent huge pages (adviseHuge), since every
// page of them is touched once.
//
// A slice from take has len 0 and cap n: appending past n reallocates as
// usual instead of writing into the next member's room.
type slab[T any] struct {
	buf   []T
	chunk int // elements in the last chunk
}

const (
	slabMinChunk      = 1 << 12
	slabMaxChunkBytes = 24 << 20
	slabHugeBytes     = 4 << 20
)

func (s *slab[T]) take(n int) []T {
	if n <= 0 {
		return nil
	}
	if len(s.buf) < n {
		size := int(unsafe.Sizeof(*new(T)))
		s.chunk = min(max(2*s.chunk, slabMinChunk), max(slabMaxChunkBytes/size, 1))
		s.buf = make([]T, max(s.chunk, n))
		if bytes := uintptr(len(s.buf) * size); bytes >= slabHugeBytes {
			adviseHuge(unsafe.Pointer(&s.buf[0]), bytes)
		}
	}
	r := s.buf[:0:n]
	s.buf = s.buf[n:]
	return r
}
