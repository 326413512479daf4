package model

import "sync"

// Workspace is the scratch memory of a plain forward pass. A Workspace may be
// reused for any batch size and model, but by one goroutine at a time; the
// zero value is ready to use.
type Workspace struct {
	h, c [2][]float32 // per layer [B, H]
	z    []float32    // [B, 4H]
	tc   []float32    // [B, H]
	v    []float32    // [B, D], the heads' input
	mask []float32    // [B], the mask of one week
}

var workspaces = sync.Pool{New: func() any { return new(Workspace) }}

// Forward computes the logits of every row of b into out, reusing out's
// slices when they are big enough. It reads only b.X, b.Mask and b.Static,
// and fails only when their lengths do not fit p.Config. It is safe for
// concurrent use: its scratch memory comes from a pool.
func (p *Params) Forward(b *Batch, out *Output) error {
	ws := workspaces.Get().(*Workspace)
	err := p.ForwardWith(ws, b, out)
	workspaces.Put(ws)
	return err
}

// ForwardWith is Forward with the caller's scratch memory: once ws has seen a
// batch as big as b it allocates nothing.
func (p *Params) ForwardWith(ws *Workspace, b *Batch, out *Output) error {
	cfg := p.Config
	n, err := b.checkInputs(cfg)
	if err != nil {
		return err
	}
	T, F, H, C := cfg.Steps, cfg.Inputs, cfg.Hidden, cfg.Classes
	h4 := 4 * H
	for l := 0; l < cfg.Layers; l++ {
		ws.h[l] = zero(grow(ws.h[l], n*H))
		ws.c[l] = zero(grow(ws.c[l], n*H))
	}
	ws.z = grow(ws.z, n*h4)
	ws.tc = grow(ws.tc, n*H)
	ws.mask = grow(ws.mask, n)
	for t := 0; t < T; t++ {
		live := false
		for r := 0; r < n; r++ {
			ws.mask[r] = b.Mask[r*T+t]
			live = live || ws.mask[r] != 0
		}
		if !live {
			continue // every state carries through unchanged
		}
		in, ldin, width := b.X[t*F:], T*F, F
		for l := range p.Layers {
			lp := &p.Layers[l]
			z := ws.z
			for r := 0; r < n; r++ {
				copy(z[r*h4:(r+1)*h4], lp.B)
			}
			gemm(false, false, n, h4, width, in, ldin, lp.Wx, h4, 1, z, h4)
			gemm(false, false, n, h4, H, ws.h[l], H, lp.Wh, h4, 1, z, h4)
			cellForward(n, H, z, ws.mask, ws.h[l], ws.c[l], ws.h[l], ws.c[l], ws.tc)
			in, ldin, width = ws.h[l], H, H
		}
	}
	// Heads: v = [h_T, static], out = v·WOut + BOut.
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

// zero sets every element of s to 0 and returns it.
func zero(s []float32) []float32 {
	clear(s)
	return s
}
