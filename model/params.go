package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Params are the weights of the network, as plain float32 slices so that they
// can be saved, loaded and used by the plain Go forward pass.
//
// All matrices are row-major and multiply row vectors from the right
// (y = x·W), and the four LSTM gates sit side by side along the columns in
// PyTorch's order i, f, g, o, each H wide. For layer l with input width
// In (F for layer 0, H for layer 1) and a row vector x of that width:
//
//	z   = x·Wx[l] + h·Wh[l] + B[l]            z has 4H columns
//	i, f, o = σ(z[0:H]), σ(z[H:2H]), σ(z[3H:4H]);  g = tanh(z[2H:3H])
//	c'  = f⊙c + i⊙g;  h' = o⊙tanh(c')
//	c, h = m·c' + (1-m)·c,  m·h' + (1-m)·h         m is the week's mask
//
// The heads read v = [h_T of the top layer, static] (D = H+S wide):
//
//	out = v·WOut + BOut      out[0:C] are the next-course logits, out[C] the churn logit
//
// Every slice aliases Data, which holds them all, in this order:
// for each layer Wx [In, 4H], Wh [H, 4H], B [4H]; then WOut [D, C+1],
// BOut [C+1].
type Params struct {
	// Config is the shape of the weights, with defaults filled in.
	Config Config
	// Layers holds the LSTM weights, bottom layer first.
	Layers []LayerParams
	// WOut is [H+S, C+1]: columns 0..C-1 the next-course head, column C the
	// churn head.
	WOut []float32
	// BOut is [C+1], the biases of WOut's columns.
	BOut []float32
	// Data holds every weight in the order given above; the other slices
	// are views of it.
	Data []float32
}

// LayerParams are the weights of one LSTM layer.
type LayerParams struct {
	Wx []float32 // [In, 4H], input weights
	Wh []float32 // [H, 4H], recurrent weights
	B  []float32 // [4H], biases
}

// NumParams returns the number of float32 weights of a model of shape cfg.
func NumParams(cfg Config) int {
	cfg = cfg.WithDefaults()
	h4 := 4 * cfg.Hidden
	n := 0
	for l := 0; l < cfg.Layers; l++ {
		n += cfg.inputsOf(l)*h4 + cfg.Hidden*h4 + h4
	}
	return n + cfg.head()*cfg.outputs() + cfg.outputs()
}

// ParamsFromData returns Params of shape cfg that use data (not a copy) as
// their backing array. It fails when cfg is invalid or data has the wrong
// length.
func ParamsFromData(cfg Config, data []float32) (*Params, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if n := NumParams(cfg); len(data) != n {
		return nil, fmt.Errorf("model: params for %+v need %d weights, got %d", cfg, n, len(data))
	}
	p := &Params{Config: cfg, Data: data}
	h4 := 4 * cfg.Hidden
	off := 0
	take := func(n int) []float32 {
		s := data[off : off+n : off+n]
		off += n
		return s
	}
	for l := 0; l < cfg.Layers; l++ {
		p.Layers = append(p.Layers, LayerParams{
			Wx: take(cfg.inputsOf(l) * h4),
			Wh: take(cfg.Hidden * h4),
			B:  take(h4),
		})
	}
	p.WOut = take(cfg.head() * cfg.outputs())
	p.BOut = take(cfg.outputs())
	return p, nil
}

// NewParams returns freshly initialised weights for cfg, drawn from src so
// that one seed gives the same weights on every machine. It panics if cfg is
// invalid.
//
// Input weights and the output layer are Glorot-uniform (each gate block of
// Wx as its own [In, H] matrix); each gate block of Wh is a random orthogonal
// [H, H] matrix (QR of a Gaussian matrix, signs fixed by R's diagonal);
// biases are 0 except the forget gate's, which are 1.
func NewParams(cfg Config, src rand.Source) *Params {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.WithDefaults()
	p, err := ParamsFromData(cfg, make([]float32, NumParams(cfg)))
	if err != nil {
		panic(err)
	}
	rng := rand.New(src)
	H := cfg.Hidden
	for l := range p.Layers {
		lp := &p.Layers[l]
		in := cfg.inputsOf(l)
		lim := math.Sqrt(6 / float64(in+H))
		for i := range lp.Wx {
			lp.Wx[i] = float32((2*rng.Float64() - 1) * lim)
		}
		for g := 0; g < 4; g++ {
			q := orthogonal(H, rng)
			for r := 0; r < H; r++ {
				for c := 0; c < H; c++ {
					lp.Wh[r*4*H+g*H+c] = float32(q.At(r, c))
				}
			}
		}
		for j := H; j < 2*H; j++ {
			lp.B[j] = 1
		}
	}
	lim := math.Sqrt(6 / float64(cfg.head()+cfg.outputs()))
	for i := range p.WOut {
		p.WOut[i] = float32((2*rng.Float64() - 1) * lim)
	}
	return p
}

// orthogonal returns a random n×n orthogonal matrix.
func orthogonal(n int, rng *rand.Rand) *mat.Dense {
	a := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	var q, r mat.Dense
	qr.QTo(&q)
	qr.RTo(&r)
	for j := 0; j < n; j++ {
		if r.At(j, j) < 0 {
			for i := 0; i < n; i++ {
				q.Set(i, j, -q.At(i, j))
			}
		}
	}
	return &q
}

// Clone returns a deep copy of p.
func (p *Params) Clone() *Params {
	q, err := ParamsFromData(p.Config, append([]float32(nil), p.Data...))
	if err != nil {
		panic(err)
	}
	return q
}
