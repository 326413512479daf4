package model

import (
	"fmt"
	"math"
)

// Batch is B member sequences, row-major. Sequences are left-padded: the
// weeks before a member joined come first and have mask 0.
type Batch struct {
	// X is [B, T, F]: X[(b*T+t)*F+f] is feature f of week t of member b.
	X []float32
	// Mask is [B, T]: 1 from the week member b had joined, 0 before. While
	// it is 0 the LSTM state carries through unchanged. Values between 0
	// and 1 blend the old and new states.
	Mask []float32
	// Static is [B, S], the static features of each member.
	Static []float32
	// Next is [B], the index of each member's next course in [0, C), or -1
	// when there is none: such a row adds nothing to the next-course loss.
	// Only training reads it.
	Next []int32
	// Churn is [B], 1 if the member churned and 0 if not. Only training
	// reads it.
	Churn []float32
	// Weight is [B], the weight of each row in the loss, usually 1; rows of
	// weight 0 (the padding of a last, short batch) add nothing. Only
	// training reads it.
	Weight []float32
}

// Len returns B, the number of rows of b, taken from its mask.
func (b *Batch) Len(cfg Config) int {
	cfg = cfg.WithDefaults()
	return len(b.Mask) / cfg.Steps
}

// checkInputs checks the lengths of the fields the forward pass reads and
// returns B.
func (b *Batch) checkInputs(cfg Config) (int, error) {
	T, F, S := cfg.Steps, cfg.Inputs, cfg.Static
	if len(b.Mask)%T != 0 {
		return 0, fmt.Errorf("model: batch mask has %d values, not a multiple of T = %d", len(b.Mask), T)
	}
	n := len(b.Mask) / T
	switch {
	case len(b.X) != n*T*F:
		return 0, fmt.Errorf("model: batch X has %d values, want B*T*F = %d*%d*%d", len(b.X), n, T, F)
	case len(b.Static) != n*S:
		return 0, fmt.Errorf("model: batch Static has %d values, want B*S = %d*%d", len(b.Static), n, S)
	}
	return n, nil
}

// checkLabels checks the batch for training against cfg and returns B.
func (b *Batch) checkLabels(cfg Config) (int, error) {
	n, err := b.checkInputs(cfg)
	if err != nil {
		return 0, err
	}
	switch {
	case len(b.Next) != n:
		return 0, fmt.Errorf("model: batch Next has %d values, want B = %d", len(b.Next), n)
	case len(b.Churn) != n:
		return 0, fmt.Errorf("model: batch Churn has %d values, want B = %d", len(b.Churn), n)
	case len(b.Weight) != n:
		return 0, fmt.Errorf("model: batch Weight has %d values, want B = %d", len(b.Weight), n)
	}
	for i, c := range b.Next {
		if c < -1 || int(c) >= cfg.Classes {
			return 0, fmt.Errorf("model: batch row %d: next course %d outside [-1, %d)", i, c, cfg.Classes)
		}
	}
	for i, w := range b.Weight {
		if !(w >= 0) || math.IsInf(float64(w), 0) {
			return 0, fmt.Errorf("model: batch row %d: weight %v is not a finite non-negative number", i, w)
		}
	}
	return n, nil
}

// Output holds the logits of a forward pass.
type Output struct {
	// ChurnLogit is [B]; the churn probability is Sigmoid(ChurnLogit[b]).
	ChurnLogit []float32
	// ClassLogits is [B, C]; the softmax of row b gives the probabilities
	// of member b's next course.
	ClassLogits []float32
}

// resize makes o hold b rows of c classes, reusing its slices when they are
// big enough.
func (o *Output) resize(b, c int) {
	o.ChurnLogit = grow(o.ChurnLogit, b)
	o.ClassLogits = grow(o.ClassLogits, b*c)
}

// grow returns s with length n, reusing its array when it is big enough.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// Sigmoid returns 1/(1+exp(-x)), the churn probability of a churn logit.
func Sigmoid(x float32) float64 { return 1 / (1 + math.Exp(-float64(x))) }
