package datasets

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestZZStress(t *testing.T) {
	valid := validParquet(t)
	big := func() []byte { // a bigger file with dictionaries and optional columns
		rows := make([]Attendance, 3000)
		newAttendanceGen(3, 100).fill(rows)
		var b []byte
		w := newPQWriter[Attendance]("mem", (*sliceWriter)(&b), 1000)
		w.Write(rows)
		w.finish()
		return b
	}()
	tmp := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 9))
	var worst time.Duration
	counts := map[string]int{}
	for i := 0; i < 40000; i++ {
		src := valid
		if i%2 == 1 {
			src = big
		}
		b := slices.Clone(src)
		for k := 0; k < 1+rng.IntN(6); k++ {
			j := rng.IntN(len(b))
			if rng.IntN(2) == 0 {
				j = len(b) - 1 - rng.IntN(min(len(b), 800))
			}
			b[j] = byte(rng.IntN(256))
		}
		start := time.Now()
		err := readBytes(t, tmp, b)
		switch {
		case err == nil:
			counts["ok"]++
		case errors.Is(err, ErrNotParquet):
			counts["notparquet"]++
		case errors.Is(err, ErrSchema):
			counts["schema"]++
		default:
			t.Fatalf("iter %d: %v", i, err)
		}
		if d := time.Since(start); d > worst {
			worst = d
			t.Logf("iter %d: %v: %v", i, d, err)
		}
	}
	t.Log(counts)
}

type sliceWriter []byte

func (w *sliceWriter) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }
