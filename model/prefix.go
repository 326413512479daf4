package model

import "fmt"

// ForwardPrefix is ForwardWith for a batch whose rows come in groups of
// rows that share their first split weeks: rows g*rows .. g*rows+rows-1
// must have the same X and Mask in weeks [0, split). The shared weeks are
// run once per group, on the group's first row, and the LSTM state after
// them is copied to the group's other rows, which then run only weeks
// [split, T). X and Mask of the shared weeks are read from each group's
// first row only; the other rows' values there are ignored and may be left
// unset.
//
// This is what an occlusion attribution needs: its occluded copies of a
// member differ from the member only in the last weeks and the static
// input. The result equals ForwardWith on the same batch up to the
// rounding of float32 sums (the tests hold them within 1e-5).
func (p *Params) ForwardPrefix(ws *Workspace, b *Batch, rows, split int, out *Output) error {
	cfg := p.Config
	n, err := b.checkInputs(cfg)
	if err != nil {
		return err
	}
	T := cfg.Steps
	if rows < 1 || n%rows != 0 {
		return fmt.Errorf("model: ForwardPrefix: %d rows are not groups of %d", n, rows)
	}
	if split < 0 || split > T {
		return fmt.Errorf("model: ForwardPrefix: split %d outside [0, %d]", split, T)
	}
	p.forward(ws, b, n, rows, split, out)
	return nil
}
