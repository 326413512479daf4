package model

import "math"

// native is the hand-written training engine: the same network and loss as
// the Gorgonia graph, with the forward pass and backpropagation through time
// written out in Go over float32 BLAS. It exists for speed (see doc.go); the
// tests hold it to the Gorgonia gradients. It works on any number of rows
// and is used by one goroutine at a time.
type native struct {
	p    *Params
	grad *Params // view of the caller's gradient slice, rebuilt per run

	in0   []float32    // [T*n, F], the batch's X, time-major
	mask  []float32    // [T*n], time-major
	live  []bool       // [T], whether any row of week t has a non-zero mask
	gates [2][]float32 // per layer [T*n, 4H]: activations, then dL/dz
	hs    [2][]float32 // per layer [(T+1)*n, H]: block 0 is the zero state
	cs    [2][]float32 // per layer [(T+1)*n, H]
	tc    [2][]float32 // per layer [T*n, H]: tanh of the new cell
	dIn   []float32    // [T*n, H]: dL/d(input of layer 1)
	v     []float32    // [n, D]
	out   []float32    // [n, C+1]: logits, then dL/dlogits
	dv    []float32    // [n, D]
	dh    []float32    // [n, H]
	dc    []float32    // [n, H]
	ones  []float32    // [T*n] of 1, to sum columns with gemm

	// Transposed copies of the weights, refreshed every run, so that every
	// product of the backward pass reads its right operand row by row.
	whT   [2][]float32 // [4H, H]
	wx1T  []float32    // [4H, H], layer 1's Wx
	woutT []float32    // [C+1, D]
}

func newNative(p *Params) *native { return &native{p: p} }

// run computes the loss of rows [0, n) of b, weighted by weight (already
// normalised so that the loss is their weighted sum), and adds its gradient
// to grad, which is laid out as Params.Data.
func (e *native) run(b *Batch, n int, weight, grad []float32) float64 {
	p := e.p
	cfg := p.Config
	gp, err := ParamsFromData(cfg, grad)
	if err != nil {
		panic(err)
	}
	T, F, H := cfg.Steps, cfg.Inputs, cfg.Hidden
	h4 := 4 * H

	for l := range p.Layers {
		e.whT[l] = transpose(e.whT[l], p.Layers[l].Wh, H, h4)
	}
	if cfg.Layers == 2 {
		e.wx1T = transpose(e.wx1T, p.Layers[1].Wx, H, h4)
	}
	e.woutT = transpose(e.woutT, p.WOut, cfg.head(), cfg.outputs())

	// Time-major copies of X and the mask.
	e.in0 = grow(e.in0, T*n*F)
	e.mask = grow(e.mask, T*n)
	e.live = growBool(e.live, T)
	for t := 0; t < T; t++ {
		live := false
		for r := 0; r < n; r++ {
			copy(e.in0[(t*n+r)*F:(t*n+r+1)*F], b.X[(r*T+t)*F:(r*T+t+1)*F])
			m := b.Mask[r*T+t]
			e.mask[t*n+r] = m
			live = live || m != 0
		}
		e.live[t] = live
	}

	// Forward.
	for l := range p.Layers {
		lp := &p.Layers[l]
		in, width := e.in0, F
		if l == 1 {
			in, width = e.hs[0][n*H:], H
		}
		e.gates[l] = grow(e.gates[l], T*n*h4)
		e.hs[l] = grow(e.hs[l], (T+1)*n*H)
		e.cs[l] = grow(e.cs[l], (T+1)*n*H)
		e.tc[l] = grow(e.tc[l], T*n*H)
		clear(e.hs[l][:n*H])
		clear(e.cs[l][:n*H])
		gates := e.gates[l]
		for r := 0; r < T*n; r++ {
			copy(gates[r*h4:(r+1)*h4], lp.B)
		}
		gemm(false, false, T*n, h4, width, in, width, lp.Wx, h4, 1, gates, h4)
		started := false // whether any state may be non-zero
		for t := 0; t < T; t++ {
			z := gates[t*n*h4 : (t+1)*n*h4]
			hp, cp := e.hs[l][t*n*H:(t+1)*n*H], e.cs[l][t*n*H:(t+1)*n*H]
			hn, cn := e.hs[l][(t+1)*n*H:(t+2)*n*H], e.cs[l][(t+1)*n*H:(t+2)*n*H]
			if !e.live[t] {
				copy(hn, hp)
				copy(cn, cp)
				continue
			}
			if started {
				gemm(false, false, n, h4, H, hp, H, lp.Wh, h4, 1, z, h4)
			}
			started = true
			cellForward(n, H, z, e.mask[t*n:(t+1)*n], hp, cp, hn, cn, e.tc[l][t*n*H:(t+1)*n*H])
		}
	}

	// Heads and loss.
	loss := e.head(b, n, weight, gp)

	// Backward through time, top layer first.
	e.dh = grow(e.dh, n*H)
	e.dc = grow(e.dc, n*H)
	D := cfg.head()
	e.ones = fill(e.ones, T*n, 1) // sums the bias gradients over steps and rows
	for l := cfg.Layers - 1; l >= 0; l-- {
		gl := &gp.Layers[l]
		gates := e.gates[l]
		if l == cfg.Layers-1 {
			for r := 0; r < n; r++ {
				copy(e.dh[r*H:(r+1)*H], e.dv[r*D:r*D+H])
			}
		} else {
			clear(e.dh)
		}
		clear(e.dc)
		for t := T - 1; t >= 0; t-- {
			dz := gates[t*n*h4 : (t+1)*n*h4]
			if l < cfg.Layers-1 {
				addTo(e.dh, e.dIn[t*n*H:(t+1)*n*H])
			}
			if !e.live[t] {
				clear(dz)
				continue
			}
			cellBackward(n, H, dz, e.mask[t*n:(t+1)*n], e.cs[l][t*n*H:(t+1)*n*H], e.tc[l][t*n*H:(t+1)*n*H], e.dh, e.dc)
			if t > 0 {
				gemm(false, false, n, H, h4, dz, h4, e.whT[l], H, 1, e.dh, H)
			}
		}
		in, width := e.in0, F
		if l == 1 {
			in, width = e.hs[0][n*H:], H
		}
		gemm(true, false, width, h4, T*n, in, width, gates, h4, 1, gl.Wx, h4)
		gemm(true, false, H, h4, T*n, e.hs[l], H, gates, h4, 1, gl.Wh, h4)
		gemm(true, false, 1, h4, T*n, e.ones, 1, gates, h4, 1, gl.B, h4)
		if l == 1 {
			e.dIn = grow(e.dIn, T*n*H)
			gemm(false, false, T*n, H, h4, gates, h4, e.wx1T, H, 0, e.dIn, H)
		}
	}
	return loss
}

// head computes the logits from the top hidden state and the static
// features, the loss, dL/dlogits and the gradients of the output layer, and
// leaves dL/dv in e.dv.
func (e *native) head(b *Batch, n int, weight []float32, gp *Params) float64 {
	p := e.p
	cfg := p.Config
	T, S, H, C := cfg.Steps, cfg.Static, cfg.Hidden, cfg.Classes
	D, O := cfg.head(), cfg.outputs()
	top := e.hs[cfg.Layers-1][T*n*H:]
	e.v = grow(e.v, n*D)
	e.out = grow(e.out, n*O)
	e.dv = grow(e.dv, n*D)
	for r := 0; r < n; r++ {
		copy(e.v[r*D:r*D+H], top[r*H:(r+1)*H])
		copy(e.v[r*D+H:(r+1)*D], b.Static[r*S:(r+1)*S])
		copy(e.out[r*O:(r+1)*O], p.BOut)
	}
	gemm(false, false, n, O, D, e.v, D, p.WOut, O, 1, e.out, O)
	cw, pw := cfg.ChurnWeight, cfg.PosWeight
	var loss float64
	for r := 0; r < n; r++ {
		z := e.out[r*O : (r+1)*O]
		w := float64(weight[r])
		if w == 0 {
			clear(z)
			continue
		}
		// Next course: cross-entropy of the softmax.
		if y := int(b.Next[r]); y >= 0 {
			mx := z[0]
			for _, v := range z[1:C] {
				mx = max(mx, v)
			}
			var sum float64
			for _, v := range z[:C] {
				sum += math.Exp(float64(v - mx))
			}
			lse := float64(mx) + math.Log(sum)
			loss += w * (lse - float64(z[y]))
			for j := 0; j < C; j++ {
				d := math.Exp(float64(z[j]) - lse)
				if j == y {
					d--
				}
				z[j] = float32(w * d)
			}
		} else {
			clear(z[:C])
		}
		// Churn: binary cross-entropy with pos weight.
		x, y := float64(z[C]), float64(b.Churn[r])
		loss += w * cw * (pw*y*softplus(-x) + (1-y)*softplus(x))
		s := 1 / (1 + math.Exp(-x))
		z[C] = float32(w * cw * (pw*y*(s-1) + (1-y)*s))
	}
	gemm(true, false, D, O, n, e.v, D, e.out, O, 1, gp.WOut, O)
	colSums(gp.BOut, e.out, n, O)
	gemm(false, false, n, D, O, e.out, O, e.woutT, D, 0, e.dv, D)
	return loss
}

// cellForward turns the pre-activations z [n, 4H] of one week into gate
// activations in place and computes the next states hn, cn [n, H] from the
// previous ones hp, cp, storing tanh of the new cell in tc. Rows with mask 0
// carry their state and keep their pre-activations. hn and cn may be hp and
// cp.
func cellForward(n, H int, z, mask, hp, cp, hn, cn, tc []float32) {
	for r := 0; r < n; r++ {
		m := mask[r]
		hpr, cpr := hp[r*H:(r+1)*H], cp[r*H:(r+1)*H]
		hnr, cnr := hn[r*H:(r+1)*H], cn[r*H:(r+1)*H]
		if m == 0 {
			copy(hnr, hpr)
			copy(cnr, cpr)
			continue
		}
		zr := z[r*4*H : (r+1)*4*H]
		sigmoidAll(zr[:2*H])
		tanhAll(zr[2*H : 3*H])
		sigmoidAll(zr[3*H:])
		ai, af, ag, ao := zr[:H], zr[H:2*H], zr[2*H:3*H], zr[3*H:4*H]
		tcr := tc[r*H : (r+1)*H]
		// Equal lengths, stated once, so that the loops run without
		// bounds checks.
		ai, af, ag, ao, cpr, cnr = ai[:H], af[:H], ag[:H], ao[:H], cpr[:H], cnr[:H]
		hpr, hnr, tcr = hpr[:H], hnr[:H], tcr[:H]
		if m == 1 { // a live week, the common case: no blend
			for j := range tcr {
				c := af[j]*cpr[j] + ai[j]*ag[j]
				tcr[j] = c
				cnr[j] = c
			}
			tanhAll(tcr)
			for j, t := range tcr {
				hnr[j] = ao[j] * t
			}
			continue
		}
		for j := range tcr {
			c := af[j]*cpr[j] + ai[j]*ag[j]
			tcr[j] = c
			cnr[j] = m*c + (1-m)*cpr[j]
		}
		tanhAll(tcr)
		for j, t := range tcr {
			hnr[j] = m*ao[j]*t + (1-m)*hpr[j]
		}
	}
}

// cellBackward turns the gate activations a [n, 4H] of one week into
// dL/dz in place, given dL/dh and dL/dc of the week's output states in dh and
// dc, which it replaces by the parts of dL/dh and dL/dc of the previous
// states that do not pass through z (the caller adds dz·Whᵀ to dh). cp is
// the previous cell state and tc tanh of the new cell.
func cellBackward(n, H int, a, mask, cp, tc, dh, dc []float32) {
	for r := 0; r < n; r++ {
		m := mask[r]
		ar := a[r*4*H : (r+1)*4*H]
		if m == 0 {
			clear(ar) // state carried: dh, dc pass unchanged
			continue
		}
		ai, af, ag, ao := ar[:H], ar[H:2*H], ar[2*H:3*H], ar[3*H:4*H]
		cpr, tcr := cp[r*H:(r+1)*H], tc[r*H:(r+1)*H]
		dhr, dcr := dh[r*H:(r+1)*H], dc[r*H:(r+1)*H]
		for j := 0; j < H; j++ {
			i, f, g, o, t := ai[j], af[j], ag[j], ao[j], tcr[j]
			dht := m * dhr[j]
			dct := m*dcr[j] + dht*o*(1-t*t)
			ao[j] = flushTiny(dht * t * o * (1 - o))
			ai[j] = flushTiny(dct * g * i * (1 - i))
			ag[j] = flushTiny(dct * i * (1 - g*g))
			af[j] = flushTiny(dct * cpr[j] * f * (1 - f))
			dhr[j] = (1 - m) * dhr[j]
			dcr[j] = flushTiny((1-m)*dcr[j] + dct*f)
		}
	}
}

// colSums adds the column sums of the rows×cols matrix a to dst.
func colSums(dst, a []float32, rows, cols int) {
	for r := 0; r < rows; r++ {
		addTo(dst, a[r*cols:(r+1)*cols])
	}
}

// addTo adds src to dst element by element.
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// softplus returns log(1+e**x) without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// transpose returns the transpose of the rows×cols matrix a in dst, grown as
// needed.
func transpose(dst, a []float32, rows, cols int) []float32 {
	dst = grow(dst, rows*cols)
	for i := 0; i < rows; i++ {
		for j, v := range a[i*cols : (i+1)*cols] {
			dst[j*rows+i] = v
		}
	}
	return dst
}

// fill returns s grown to n elements, all v.
func fill(s []float32, n int, v float32) []float32 {
	s = grow(s, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func growBool(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	return s[:n]
}
