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
	n, err := b.checkInputs(p.Config)
	if err != nil {
		return err
	}
	ws.reset(&p.Config, n)
	for t := 0; t < p.Config.Steps; t++ {
		p.step(ws, b, t, n, 1)
	}
	p.heads(ws, b, n, out)
	return nil
}

// reset sizes ws for n rows and zeroes the LSTM states.
func (ws *Workspace) reset(cfg *Config, n int) {
	H := cfg.Hidden
	for l := 0; l < cfg.Layers; l++ {
		ws.h[l] = zero(grow(ws.h[l], n*H))
		ws.c[l] = zero(grow(ws.c[l], n*H))
	}
	ws.z = grow(ws.z, n*4*H)
	ws.tc = grow(ws.tc, n*H)
	ws.mask = grow(ws.mask, n)
}

// step runs week t through every layer for m rows of b, the first row of
// b and every stride-th after it; their states are the first m rows of
// ws.h and ws.c.
func (p *Params) step(ws *Workspace, b *Batch, t, m, stride int) {
	T, F, H := p.Config.Steps, p.Config.Inputs, p.Config.Hidden
	h4 := 4 * H
	live := false
	for r := 0; r < m; r++ {
		ws.mask[r] = b.Mask[r*stride*T+t]
		live = live || ws.mask[r] != 0
	}
	if !live {
		return // every state carries through unchanged
	}
	in, ldin, width := b.X[t*F:], stride*T*F, F
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

// heads computes the outputs of the n rows from the top layer's state:
// v = [h_T, static], out = v·WOut + BOut.
func (p *Params) heads(ws *Workspace, b *Batch, n int, out *Output) {
	cfg := &p.Config
	H, C := cfg.Hidden, cfg.Classes
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
}

// zero sets every element of s to 0 and returns it.
func zero(s []float32) []float32 {
	clear(s)
	return s
}
