package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graph is the Gorgonia expression of the network for a fixed batch size n,
// with its own TapeMachine. Its weight nodes hold tensors backed by the
// slices of one Params, so updates to the Params are seen by the next run
// without copying; each graph has its own tensor headers, because Gorgonia
// flips their transposition flags while it runs. A graph is used by one
// goroutine at a time.
type graph struct {
	cfg Config
	n   int
	g   *G.ExprGraph
	vm  G.VM

	// Learnables in Params.Data order, with their offsets there.
	learn []*G.Node
	offs  []int

	// Inputs and their backing tensors, refilled for every run.
	x      *G.Node // [T*n, F], time-major: row t*n+r is week t of row r
	masks  []*G.Node
	static *G.Node // [n, S], nil when S = 0
	target *G.Node // [n, C]: row r is Weight'[r] at Next[r], 0 elsewhere
	posW   *G.Node // [n]: Weight'·ChurnWeight·PosWeight·Churn
	negW   *G.Node // [n]: Weight'·ChurnWeight·(1-Churn)
	xT     *tensor.Dense
	maskT  []*tensor.Dense
	stT    *tensor.Dense
	tgtT   *tensor.Dense
	posT   *tensor.Dense
	negT   *tensor.Dense

	// Outputs.
	loss   *G.Node // scalar; nil for a forward-only graph
	logits *G.Node // [n, C+1]
}

// newGraph builds the network over p's weights for batches of n rows. With
// train it also builds the loss and its gradients.
func newGraph(p *Params, n int, train bool) (gr *graph, err error) {
	useKernelBLAS()
	defer func() {
		// Gorgonia's constructors panic on misuse (Must); report it.
		if r := recover(); r != nil {
			err = fmt.Errorf("model: build gorgonia graph: %v", r)
		}
	}()
	cfg := p.Config
	T, F, S, H, C := cfg.Steps, cfg.Inputs, cfg.Static, cfg.Hidden, cfg.Classes
	O, D := cfg.outputs(), cfg.head()
	g := G.NewGraph()
	gr = &graph{cfg: cfg, n: n, g: g}

	// Weights, in Params.Data order.
	off := 0
	weight := func(name string, data []float32, rows, cols int) *G.Node {
		v := tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(data))
		node := G.NewMatrix(g, tensor.Float32, G.WithShape(rows, cols), G.WithName(name), G.WithValue(v))
		gr.learn = append(gr.learn, node)
		gr.offs = append(gr.offs, off)
		off += len(data)
		return node
	}
	type layerNodes struct{ wx, wh, b *G.Node }
	var layers []layerNodes
	for l, lp := range p.Layers {
		layers = append(layers, layerNodes{
			wx: weight(fmt.Sprintf("Wx%d", l), lp.Wx, cfg.inputsOf(l), 4*H),
			wh: weight(fmt.Sprintf("Wh%d", l), lp.Wh, H, 4*H),
			b:  weight(fmt.Sprintf("B%d", l), lp.B, 1, 4*H),
		})
	}
	wout := weight("WOut", p.WOut, D, O)
	bout := weight("BOut", p.BOut, 1, O)

	// Inputs.
	input := func(name string, shape ...int) (*G.Node, *tensor.Dense) {
		v := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))
		var node *G.Node
		if len(shape) == 1 {
			node = G.NewVector(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(v))
		} else {
			node = G.NewMatrix(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(v))
		}
		return node, v
	}
	gr.x, gr.xT = input("X", T*n, F)
	for t := 0; t < T; t++ {
		m, mt := input(fmt.Sprintf("M%d", t), n, H)
		gr.masks = append(gr.masks, m)
		gr.maskT = append(gr.maskT, mt)
	}

	// LSTM layers. Each gate's weights are cut out of the fused matrices
	// once per run, so that no per-week node reads a strided view (Gorgonia
	// walks those with a slow iterator); the input projection of all weeks
	// is one product per gate.
	seq := gr.x
	var hs []*G.Node
	for _, ln := range layers {
		var xp, wh [4]*G.Node
		for k := 0; k < 4; k++ {
			cols := G.S(k*H, (k+1)*H)
			wx := G.Must(G.Slice(ln.wx, nil, cols))
			b := G.Must(G.Slice(ln.b, nil, cols))
			wh[k] = G.Must(G.Slice(ln.wh, nil, cols))
			xp[k] = G.Must(G.BroadcastAdd(G.Must(G.Mul(seq, wx)), b, nil, []byte{0}))
		}
		hs = lstmLayer(xp, wh, gr.masks, n)
		if len(layers) > 1 {
			seq = G.Must(G.Concat(0, hs...))
		}
	}

	// Heads.
	v := hs[T-1]
	if S > 0 {
		gr.static, gr.stT = input("Static", n, S)
		v = G.Must(G.Concat(1, v, gr.static))
	}
	gr.logits = G.Must(G.BroadcastAdd(G.Must(G.Mul(v, wout)), bout, nil, []byte{0}))
	if train {
		gr.target, gr.tgtT = input("Target", n, C)
		gr.posW, gr.posT = input("PosW", n)
		gr.negW, gr.negT = input("NegW", n)
		cls := G.Must(G.Slice(gr.logits, nil, G.S(0, C)))
		churn := G.Must(G.Slice(gr.logits, nil, G.S(C)))
		ce := G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.LogSoftMax(cls)), gr.target))))))
		// BCE with pos weight: pw·y·softplus(-z) + (1-y)·softplus(z).
		pos := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Softplus(G.Must(G.Neg(churn)))), gr.posW))))
		neg := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Softplus(churn)), gr.negW))))
		gr.loss = G.Must(G.Add(ce, G.Must(G.Add(pos, neg))))
		if _, err := G.Grad(gr.loss, gr.learn...); err != nil {
			return nil, fmt.Errorf("model: gorgonia gradients: %w", err)
		}
		gr.vm = G.NewTapeMachine(g, G.BindDualValues(gr.learn...))
	} else {
		gr.vm = G.NewTapeMachine(g)
	}
	return gr, nil
}

// lstmLayer adds one LSTM layer and returns its hidden states, one [n, H]
// node per week. xp[k] [T*n, H] is the projected input of gate k (i, f, g,
// o) with its bias, wh[k] [H, H] the gate's recurrent weights.
func lstmLayer(xp, wh [4]*G.Node, masks []*G.Node, n int) []*G.Node {
	T := len(masks)
	var h, c *G.Node // nil: the zero initial state
	hs := make([]*G.Node, T)
	for t := 0; t < T; t++ {
		var a [4]*G.Node
		for k := range a {
			z := G.Must(G.Slice(xp[k], G.S(t*n, (t+1)*n)))
			if h != nil {
				z = G.Must(G.Add(z, G.Must(G.Mul(h, wh[k]))))
			}
			if k == 2 {
				a[k] = G.Must(G.Tanh(z))
			} else {
				a[k] = G.Must(G.Sigmoid(z))
			}
		}
		i, f, gg, o := a[0], a[1], a[2], a[3]
		cn := G.Must(G.HadamardProd(i, gg))
		if c != nil {
			cn = G.Must(G.Add(G.Must(G.HadamardProd(f, c)), cn))
		}
		hn := G.Must(G.HadamardProd(o, G.Must(G.Tanh(cn))))
		m := masks[t]
		if c == nil {
			// The previous state is zero: the blend is m⊙new.
			c = G.Must(G.HadamardProd(m, cn))
			h = G.Must(G.HadamardProd(m, hn))
		} else {
			c = G.Must(G.Add(c, G.Must(G.HadamardProd(m, G.Must(G.Sub(cn, c))))))
			h = G.Must(G.Add(h, G.Must(G.HadamardProd(m, G.Must(G.Sub(hn, h))))))
		}
		hs[t] = h
	}
	return hs
}

// feed copies rows [0, k) of b into the graph's inputs and pads the rest of
// its n rows with zeros; weight holds the normalised weights of those rows
// (only read when the graph trains).
func (gr *graph) feed(b *Batch, k int, weight []float32) error {
	cfg := gr.cfg
	T, F, S, H, C, n := cfg.Steps, cfg.Inputs, cfg.Static, cfg.Hidden, cfg.Classes, gr.n
	x := gr.xT.Data().([]float32)
	clear(x)
	for r := 0; r < k; r++ {
		for t := 0; t < T; t++ {
			copy(x[(t*n+r)*F:(t*n+r+1)*F], b.X[(r*T+t)*F:(r*T+t+1)*F])
		}
	}
	if err := G.Let(gr.x, gr.xT); err != nil {
		return fmt.Errorf("model: feed X: %w", err)
	}
	for t := 0; t < T; t++ {
		m := gr.maskT[t].Data().([]float32)
		clear(m)
		for r := 0; r < k; r++ {
			v := b.Mask[r*T+t]
			for j := 0; j < H; j++ {
				m[r*H+j] = v
			}
		}
		if err := G.Let(gr.masks[t], gr.maskT[t]); err != nil {
			return fmt.Errorf("model: feed mask: %w", err)
		}
	}
	if gr.static != nil {
		s := gr.stT.Data().([]float32)
		clear(s)
		copy(s, b.Static[:k*S])
		if err := G.Let(gr.static, gr.stT); err != nil {
			return fmt.Errorf("model: feed static: %w", err)
		}
	}
	if gr.loss == nil {
		return nil
	}
	tgt := gr.tgtT.Data().([]float32)
	pos := gr.posT.Data().([]float32)
	neg := gr.negT.Data().([]float32)
	clear(tgt)
	clear(pos)
	clear(neg)
	cw, pw := float32(cfg.ChurnWeight), float32(cfg.PosWeight)
	for r := 0; r < k; r++ {
		w := weight[r]
		if c := b.Next[r]; c >= 0 {
			tgt[r*C+int(c)] = w
		}
		pos[r] = w * cw * pw * b.Churn[r]
		neg[r] = w * cw * (1 - b.Churn[r])
	}
	for _, in := range []struct {
		n *G.Node
		v *tensor.Dense
	}{{gr.target, gr.tgtT}, {gr.posW, gr.posT}, {gr.negW, gr.negT}} {
		if err := G.Let(in.n, in.v); err != nil {
			return fmt.Errorf("model: feed labels: %w", err)
		}
	}
	return nil
}

// run runs the graph once on rows [0, k) of b. For a training graph it adds
// the gradients to grad (in Params.Data order), zeroes Gorgonia's copy of
// them (the machine accumulates gradients across runs) and returns the loss. The
// values of the run stay readable until the next run, which resets the
// machine first.
func (gr *graph) run(b *Batch, k int, weight, grad []float32) (loss float64, err error) {
	gr.vm.Reset()
	if err := gr.feed(b, k, weight); err != nil {
		return 0, err
	}
	if err := gr.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("model: run gorgonia graph: %w", err)
	}
	if gr.loss == nil {
		return 0, nil
	}
	for i, node := range gr.learn {
		gv, err := node.Grad()
		if err != nil {
			return 0, fmt.Errorf("model: gradient of %s: %w", node.Name(), err)
		}
		gd := gv.Data().([]float32)
		dst := grad[gr.offs[i] : gr.offs[i]+len(gd)]
		for j, v := range gd {
			dst[j] += v
		}
		// Gorgonia adds each run's gradient to the last one's.
		clear(gd)
	}
	return float64(gr.loss.Value().Data().(float32)), nil
}

// logitsInto copies the logits of rows [0, k) of the last run into out,
// starting at row at.
func (gr *graph) logitsInto(out *Output, at, k int) {
	C, O := gr.cfg.Classes, gr.cfg.outputs()
	z := gr.logits.Value().Data().([]float32)
	for r := 0; r < k; r++ {
		copy(out.ClassLogits[(at+r)*C:(at+r+1)*C], z[r*O:r*O+C])
		out.ChurnLogit[at+r] = z[r*O+C]
	}
}
