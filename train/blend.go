package train

import (
	"fmt"
	"math"

	"retain/model"
)

// Next-category pool methods (Options.NextBlend).
const (
	// NextBlendPool fits model.NextBlend on the validation split.
	NextBlendPool = "pool"
	// NextBlendNone keeps the network's next-category logits alone.
	NextBlendNone = "none"
)

// poolRows are the validation examples with a next category: the network's
// logits z and the choice columns c (C values each) and the label y.
type poolRows struct {
	C    int
	z, c []float32
	y    []int32
}

// fitNextBlend fits the weights A, B of the pool softmax(A·z + B·c) to rows
// by Newton's method on the mean cross-entropy, which is convex in (A, B)
// since the logits are linear in them. It starts from the network alone
// (A = 1, B = 0) and halves a step until the loss does not grow.
func fitNextBlend(rows *poolRows) (nb model.NextBlend, err error) {
	n := len(rows.y)
	if n == 0 {
		return nb, fmt.Errorf("train: next-category pool: no validation example with a next class")
	}
	a, b := 1.0, 0.0
	before, _, _ := poolLoss(rows, a, b, false)
	loss := before
	for range 100 {
		_, g, h := poolLoss(rows, a, b, true)
		det := h[0]*h[2] - h[1]*h[1]
		if !(det > 1e-12) {
			break
		}
		da := -(h[2]*g[0] - h[1]*g[1]) / det
		db := -(h[0]*g[1] - h[1]*g[0]) / det
		step := 1.0
		for ; step > 1e-6; step /= 2 {
			if l, _, _ := poolLoss(rows, a+step*da, b+step*db, false); l <= loss {
				a, b, loss = a+step*da, b+step*db, l
				break
			}
		}
		if step <= 1e-6 || math.Abs(step*da)+math.Abs(step*db) < 1e-9 {
			break
		}
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return nb, fmt.Errorf("train: next-category pool: loss %v", loss)
	}
	return model.NextBlend{A: a, B: b, Examples: n, LogLossBefore: before, LogLossAfter: loss}, nil
}

// poolLoss returns the mean cross-entropy of softmax(a·z + b·c) on rows and,
// with deriv, its gradient and Hessian ([∂aa, ∂ab, ∂bb]) in (a, b).
func poolLoss(rows *poolRows, a, b float64, deriv bool) (loss float64, g [2]float64, h [3]float64) {
	C, n := rows.C, len(rows.y)
	l := make([]float64, C)
	for i, y := range rows.y {
		z, c := rows.z[i*C:(i+1)*C], rows.c[i*C:(i+1)*C]
		mx := math.Inf(-1)
		for k := range C {
			l[k] = a*float64(z[k]) + b*float64(c[k])
			mx = max(mx, l[k])
		}
		var s float64
		for k := range C {
			l[k] = math.Exp(l[k] - mx)
			s += l[k]
		}
		loss += mx + math.Log(s) - (a*float64(z[y]) + b*float64(c[y]))
		if !deriv {
			continue
		}
		var ez, ec, ezz, ezc, ecc float64
		for k := range C {
			p := l[k] / s
			zk, ck := float64(z[k]), float64(c[k])
			ez += p * zk
			ec += p * ck
			ezz += p * zk * zk
			ezc += p * zk * ck
			ecc += p * ck * ck
		}
		g[0] += ez - float64(z[y])
		g[1] += ec - float64(c[y])
		h[0] += ezz - ez*ez
		h[1] += ezc - ez*ec
		h[2] += ecc - ec*ec
	}
	nf := float64(n)
	for i := range g {
		g[i] /= nf
	}
	for i := range h {
		h[i] /= nf
	}
	return loss / nf, g, h
}

// poolHits returns HR@1 and HR@3 of the pool on rows, ties counting against
// the true class as in Evaluate.
func poolHits(rows *poolRows, nb model.NextBlend) (hr1, hr3 float64) {
	C := rows.C
	buf := make([]float32, C)
	var h1, h3 int
	for i, y := range rows.y {
		copy(buf, rows.z[i*C:(i+1)*C])
		for k := range buf {
			buf[k] = float32(nb.A*float64(buf[k]) + nb.B*float64(rows.c[i*C+k]))
		}
		r := Rank(buf, int(y))
		if r <= 1 {
			h1++
		}
		if r <= 3 {
			h3++
		}
	}
	n := float64(len(rows.y))
	return float64(h1) / n, float64(h3) / n
}
