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
	T, F, H, C := cfg.Steps, cfg.Inputs, cfg.Hidden, cfg.Classes
	if rows < 1 || n%rows != 0 {
		return fmt.Errorf("model: ForwardPrefix: %d rows are not groups of %d", n, rows)
	}
	if split < 0 || split > T {
		return fmt.Errorf("model: ForwardPrefix: split %d outside [0, %d]", split, T)
	}
	groups := n / rows
	h4 := 4 * H
	for l := 0; l < cfg.Layers; l++ {
		ws.h[l] = zero(grow(ws.h[l], n*H))
		ws.c[l] = zero(grow(ws.c[l], n*H))
	}
	ws.z = grow(ws.z, n*h4)
	ws.tc = grow(ws.tc, n*H)
	ws.mask = grow(ws.mask, n)

	// step runs week t on m rows whose first row is row0 of b and whose
	// rows are stride rows apart in b; the states are the first m rows of
	// ws.h, ws.c.
	step := func(t, m, row0, stride int) {
		live := false
		for r := 0; r < m; r++ {
			ws.mask[r] = b.Mask[(row0+r*stride)*T+t]
			live = live || ws.mask[r] != 0
		}
		if !live {
			return // every state carries through unchanged
		}
		in, ldin, width := b.X[row0*T*F+t*F:], stride*T*F, F
		for l := range p.Layers {
			lp := &p.Layers[l]
			z := ws.z
			for r := 0; r < m; r++ {
				copy(z[r*h4:(r+1)*h4], lp.B)
			}
			gemm(false, false, m, h4, width, in, ldin, lp.Wx, h4, 1, z, h4)
			gemm(false, false, m, h4, H, ws.h[l], H, lp.Wh, h4, 1, z, h4)
			cellForward(m, H, z, ws.mask, ws.h[l], ws.c[l], ws.h[l], ws.c[l], ws.tc)
			in, ldin, width = ws.h[l], H, H
		}
	}
	// The shared weeks: one row per group, states in the first groups
	// rows of the workspace.
	for t := 0; t < split; t++ {
		step(t, groups, 0, rows)
	}
	// Spread each group's state over its rows, last group first so that
	// no state is overwritten before it is copied.
	if rows > 1 && split > 0 {
		for l := 0; l < cfg.Layers; l++ {
			for g := groups - 1; g >= 0; g-- {
				hs, cs := ws.h[l][g*H:(g+1)*H], ws.c[l][g*H:(g+1)*H]
				for r := rows - 1; r >= 0; r-- {
					i := g*rows + r
					copy(ws.h[l][i*H:(i+1)*H], hs)
					copy(ws.c[l][i*H:(i+1)*H], cs)
				}
			}
		}
	}
	for t := split; t < T; t++ {
		step(t, n, 0, 1)
	}
	D, S, O := cfg.head(), cfg.Static, cfg.outputs()
	top := ws.h[cfg.Layers-1]
	ws.v = grow(ws.v, n*D)
	z := grow(ws.z, n*O)
	for r := 0; r < n; r++ {
		copy(ws.v[r*D:r*D+H], top[r*H:(r+1)*H])
		copy(ws.v[r*D+H:(r+1)*D], b.Static[r*S:(r+1)*S])
		copy(z[r*O:(r+1)*O], p.BOut)
	}
	gemm(false, false, n, O, D, ws.v, D, p.WOut, O, 1, z, O)
	out.resize(n, C)
	for r := 0; r < n; r++ {
		copy(out.ClassLogits[r*C:(r+1)*C], z[r*O:r*O+C])
		out.ChurnLogit[r] = z[r*O+C]
	}
	return nil
}
