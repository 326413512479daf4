package features

import "testing"

// TestSlabTake checks the slab's contract: zeroed slices of len 0 and cap
// n that never share memory, and an append past the cap that leaves the
// next slice alone; across chunk boundaries and for requests larger than a
// chunk.
func TestSlabTake(t *testing.T) {
	var s slab[int32]
	sizes := []int{1, 7, slabMinChunk - 3, 5, 2 * slabMinChunk, 0, 3, 9}
	var got [][]int32
	for k, n := range sizes {
		x := s.take(n)
		if len(x) != 0 || cap(x) != n {
			t.Fatalf("take(%d): len %d cap %d, want 0 and %d", n, len(x), cap(x), n)
		}
		x = x[:n]
		for i := range x {
			if x[i] != 0 {
				t.Fatalf("take(%d)[%d] = %d, want zero", n, i, x[i])
			}
			x[i] = int32(k + 1)
		}
		got = append(got, x)
	}
	// Appending past the first slice's capacity must not write into the
	// second one.
	_ = append(got[0], -1)
	for k, x := range got {
		for i, v := range x {
			if v != int32(k+1) {
				t.Fatalf("slice %d [%d] = %d, want %d: slices overlap", k, i, v, k+1)
			}
		}
	}
}
