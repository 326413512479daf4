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
	// The first layer's input terms computed ahead (see forward): proj
	// [groups, T, 4H] of each group's first row, sproj [B, T-split, 4H]
	// of the later rows in the weeks after the split.
	proj, sproj []float32
	d           []float32 // differences of rows from their group's first row
	diff        []bool    // [F], the columns in which they differ
	ahead       bool      // proj and sproj hold this pass's terms
	rows, split int       // the groups of this pass (forward)
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
	p.forward(ws, b, n, 1, 0, out)
	return nil
}

// projAhead is the most floats of first-layer input projections that a
// forward pass computes ahead, for every week at once (Workspace.proj):
// one matrix product of T rows per sequence instead of T products of one
// row. Small batches (the server's one member and its occluded copies)
// gain; a large batch's weekly products have many rows already, and its
// projections would not stay in cache.
const projAhead = 1 << 16

// forward runs n rows of b in groups of rows that share weeks [0, split)
// (ForwardPrefix; ForwardWith is rows 1, split 0) and writes their
// outputs to out.
//
// The first layer's input term B + x·Wx of a week does not depend on the
// state: with few groups it is computed ahead for every week of each
// group's first row (projAhead). In weeks [split, T) a later row of a
// group that differs from the group's first row in only a few columns
// (an occluded copy of a member) gets the first row's term plus
// (x - x₀)·Wx over those columns, not a product over all F columns.
func (p *Params) forward(ws *Workspace, b *Batch, n, rows, split int, out *Output) {
	cfg := &p.Config
	T, F, H := cfg.Steps, cfg.Inputs, cfg.Hidden
	h4 := 4 * H
	groups := n / rows
	ws.reset(cfg, n)
	ws.rows, ws.split = rows, split
	ws.ahead = groups*T*h4 <= projAhead
	ws.diff = growBool(ws.diff, F)
	ws.d = grow(ws.d, max(groups, T)*F)
	if ws.ahead {
		lp := &p.Layers[0]
		ws.proj = grow(ws.proj, groups*T*h4)
		if rows > 1 {
			ws.sproj = grow(ws.sproj, n*(T-split)*h4)
		}
		for g := 0; g < groups; g++ {
			// From the group's first live week: the weeks before are
			// skipped by every row of the group (mask 0), whatever
			// their input term.
			t0 := firstLive(b, T, g*rows, 0, T)
			for r := 1; r < rows; r++ {
				t0 = min(t0, firstLive(b, T, g*rows+r, split, T))
			}
			if t0 == T {
				continue
			}
			pg := ws.proj[(g*T+t0)*h4 : (g+1)*T*h4]
			for i := 0; i < T-t0; i++ {
				copy(pg[i*h4:(i+1)*h4], lp.B)
			}
			gemm(false, false, T-t0, h4, F, b.X[(g*rows*T+t0)*F:], F, lp.Wx, h4, 1, pg, h4)
			p.siblingTerms(ws, b, g, t0)
		}
	}
	// The shared weeks: one row per group, states in the first groups
	// rows of the workspace.
	for t := 0; t < split; t++ {
		p.step(ws, b, t, groups, rows, false)
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
		p.step(ws, b, t, n, 1, rows > 1)
	}
	p.heads(ws, b, n, out)
}

// siblingTerms computes ahead the first layer's input terms of the later
// rows of group g in weeks [split, T) into ws.sproj: the group's first
// row's (ws.proj) plus the columns in which the row differs from it,
// over all those weeks at once. Weeks before t0 are left unset: every
// row of the group skips them.
func (p *Params) siblingTerms(ws *Workspace, b *Batch, g, t0 int) {
	T, F, H := p.Config.Steps, p.Config.Inputs, p.Config.Hidden
	h4, rows, split := 4*H, ws.rows, ws.split
	S := T - split
	if rows == 1 || S == 0 {
		return
	}
	lp := &p.Layers[0]
	w0 := max(t0, split) // the first week to compute
	n := T - w0
	i0 := g * rows
	p0 := ws.proj[(g*T+w0)*h4 : (g+1)*T*h4]
	x0 := b.X[(i0*T+w0)*F : (i0+1)*T*F]
	for i := i0 + 1; i < i0+rows; i++ {
		pi := ws.sproj[(i*S+w0-split)*h4 : (i+1)*S*h4]
		xi := b.X[(i*T+w0)*F : (i+1)*T*F]
		d, diff := ws.d[:n*F], ws.diff
		clear(diff)
		for k, v := range xi {
			dv := v - x0[k]
			d[k] = dv
			diff[k%F] = diff[k%F] || dv != 0
		}
		if few(diff) {
			copy(pi, p0)
			addRuns(diff, n, h4, d, F, lp.Wx, pi, h4)
			continue
		}
		for k := 0; k < n; k++ {
			copy(pi[k*h4:(k+1)*h4], lp.B)
		}
		gemm(false, false, n, h4, F, xi, F, lp.Wx, h4, 1, pi, h4)
	}
}

// firstLive returns the first week in [lo, hi) in which row r of b has a
// mask other than 0, or hi.
func firstLive(b *Batch, T, r, lo, hi int) int {
	m := b.Mask[r*T : (r+1)*T]
	for t := lo; t < hi; t++ {
		if m[t] != 0 {
			return t
		}
	}
	return hi
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
// ws.h and ws.c. With siblings (weeks after the split of forward, stride
// 1) the m rows are groups of ws.rows, and a later row of a group takes
// its first-layer input term from the group's first row (see forward).
func (p *Params) step(ws *Workspace, b *Batch, t, m, stride int, siblings bool) {
	T, H := p.Config.Steps, p.Config.Hidden
	h4 := 4 * H
	live := false
	for r := 0; r < m; r++ {
		ws.mask[r] = b.Mask[r*stride*T+t]
		live = live || ws.mask[r] != 0
	}
	if !live {
		return // every state carries through unchanged
	}
	z := ws.z
	p.inputTerm(ws, b, t, m, stride, siblings)
	var in []float32
	for l := range p.Layers {
		lp := &p.Layers[l]
		if l > 0 {
			for r := 0; r < m; r++ {
				copy(z[r*h4:(r+1)*h4], lp.B)
			}
			gemm(false, false, m, h4, H, in, H, lp.Wx, h4, 1, z, h4)
		}
		gemm(false, false, m, h4, H, ws.h[l], H, lp.Wh, h4, 1, z, h4)
		cellForward(m, H, z, ws.mask, ws.h[l], ws.c[l], ws.h[l], ws.c[l], ws.tc)
		in = ws.h[l]
	}
}

// inputTerm writes the first layer's input term B + x·Wx of week t of the
// m rows of step into ws.z. The m rows are groups of ws.rows rows with
// siblings, else of one. A group's first row takes its term from ws.proj
// (computed ahead) or from one product for all groups; a later row from
// ws.sproj (computed ahead), or from its group's first row and the
// columns in which it differs (see forward).
func (p *Params) inputTerm(ws *Workspace, b *Batch, t, m, stride int, siblings bool) {
	T, F, H := p.Config.Steps, p.Config.Inputs, p.Config.Hidden
	h4 := 4 * H
	lp := &p.Layers[0]
	z := ws.z
	rows := 1
	if siblings {
		rows = ws.rows
	}
	groups := m / rows
	if ws.ahead {
		S := T - ws.split
		for g := 0; g < groups; g++ {
			i0 := g * rows
			copy(z[i0*h4:(i0+1)*h4], ws.proj[(g*T+t)*h4:(g*T+t+1)*h4])
			for i := i0 + 1; i < i0+rows; i++ {
				w := i*S + t - ws.split
				copy(z[i*h4:(i+1)*h4], ws.sproj[w*h4:(w+1)*h4])
			}
		}
		return
	}
	for g := 0; g < groups; g++ {
		copy(z[g*rows*h4:(g*rows+1)*h4], lp.B)
	}
	gemm(false, false, groups, h4, F, b.X[t*F:], rows*stride*T*F, lp.Wx, h4, 1, z, rows*h4)
	// The k-th later rows of all groups together: in an attribution they
	// replace the same columns.
	for k := 1; k < rows; k++ {
		d, diff := ws.d[:groups*F], ws.diff
		clear(diff)
		for g := 0; g < groups; g++ {
			i0, i := g*rows, g*rows+k
			x0, xi := b.X[(i0*T+t)*F:(i0*T+t+1)*F], b.X[(i*T+t)*F:(i*T+t+1)*F]
			for j, v := range xi {
				dv := v - x0[j]
				d[g*F+j] = dv
				diff[j] = diff[j] || dv != 0
			}
		}
		if few(diff) {
			for g := 0; g < groups; g++ {
				i0, i := g*rows, g*rows+k
				copy(z[i*h4:(i+1)*h4], z[i0*h4:(i0+1)*h4])
			}
			addRuns(diff, groups, h4, d, F, lp.Wx, z[k*h4:], rows*h4)
			continue
		}
		for g := 0; g < groups; g++ {
			i := g*rows + k
			copy(z[i*h4:(i+1)*h4], lp.B)
		}
		gemm(false, false, groups, h4, F, b.X[(k*T+t)*F:], rows*T*F, lp.Wx, h4, 1, z[k*h4:], rows*h4)
	}
}

// few reports whether at most half the columns are marked: a row that
// differs from its group's first row in so few columns gets the first
// row's input term plus the differences' (addRuns).
func few(diff []bool) bool {
	n := 0
	for _, v := range diff {
		if v {
			n++
		}
	}
	return 2*n <= len(diff)
}

// addRuns adds d·W to the m×n matrix c (row stride ldc) over the runs of
// columns marked in diff: d is m×len(diff) with row stride ldd, W has a
// row of n values per column.
func addRuns(diff []bool, m, n int, d []float32, ldd int, w []float32, c []float32, ldc int) {
	for j := 0; j < len(diff); {
		if !diff[j] {
			j++
			continue
		}
		e := j + 1
		for e < len(diff) && diff[e] {
			e++
		}
		gemm(false, false, m, n, e-j, d[j:], ldd, w[j*n:], n, 1, c, ldc)
		j = e
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
