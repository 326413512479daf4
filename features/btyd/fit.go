package btyd

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// FitOptions tunes the maximum-likelihood fits. The zero value (or nil)
// gives the defaults.
type FitOptions struct {
	// Init is the starting point as model parameters (for the BG/NBD
	// r, alpha, a, b; for the Gamma-Gamma p, q, v). Default all 1.
	Init []float64
	// Penalizer adds Penalizer * sum(param^2) to the negative mean
	// log-likelihood that is minimised, like lifetimes' penalizer_coef: it
	// keeps parameters finite on small or degenerate data. Default 0 (plain
	// maximum likelihood).
	Penalizer float64
	// MaxIterations bounds the BFGS iterations. Default 1000.
	MaxIterations int
}

func (o *FitOptions) init(n int) ([]float64, error) {
	x := make([]float64, n)
	if o == nil || o.Init == nil {
		return x, nil // log 1 = 0
	}
	if len(o.Init) != n {
		return nil, fmt.Errorf("%w: FitOptions.Init has %d values, want %d", ErrInput, len(o.Init), n)
	}
	for i, v := range o.Init {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: FitOptions.Init[%d] = %v must be positive and finite", ErrInput, i, v)
		}
		x[i] = math.Log(v)
	}
	return x, nil
}

// maximize maximises ll (a log-likelihood over n observations, with its
// gradient in log-parameter space) over log-parameters starting at x0 with
// gonum's BFGS, minimising -ll/n + penalizer*sum(exp(x)^2). It returns the
// parameters (not logs).
//
// An estimate beyond e^+-14 (below 8.3e-7 or above 1.2e6; times are in
// weeks, so no plausible rate, shape or dropout parameter is there) is
// reported as an error naming the parameter: the likelihood keeps rising
// towards the edge of the domain (no heterogeneity, nobody dropping out,
// too few customers), so the data do not identify the model (a penalizer
// helps). An optimiser that stops early on such a ridge can still return
// large values below that limit.
func maximize(ll func(theta, grad []float64) float64, n int, x0 []float64, names []string, o *FitOptions) ([]float64, error) {
	pen, maxIter := 0.0, 1000
	if o != nil {
		if o.Penalizer < 0 || math.IsNaN(o.Penalizer) || math.IsInf(o.Penalizer, 0) {
			return nil, fmt.Errorf("%w: FitOptions.Penalizer = %v must be >= 0 and finite", ErrInput, o.Penalizer)
		}
		pen = o.Penalizer
		if o.MaxIterations < 0 {
			return nil, fmt.Errorf("%w: FitOptions.MaxIterations = %d must be >= 0", ErrInput, o.MaxIterations)
		}
		if o.MaxIterations > 0 {
			maxIter = o.MaxIterations
		}
	}
	dim := len(x0)
	theta := make([]float64, dim)
	g := make([]float64, dim)
	// Log-parameters beyond +-50 (e^50 ~ 5e21) are treated as outside the
	// domain so that the line search backs off instead of overflowing.
	eval := func(x, grad []float64) float64 {
		for i, v := range x {
			if math.Abs(v) > 50 || math.IsNaN(v) {
				if grad != nil {
					for j := range grad {
						grad[j] = 0
					}
				}
				return math.Inf(1)
			}
			theta[i] = math.Exp(v)
		}
		var gg []float64
		if grad != nil {
			gg = g
		}
		f := -ll(theta, gg) / float64(n)
		for i := range theta {
			f += pen * theta[i] * theta[i]
			if grad != nil {
				grad[i] = -gg[i]/float64(n) + 2*pen*theta[i]*theta[i]
			}
		}
		if math.IsNaN(f) {
			return math.Inf(1)
		}
		return f
	}
	p := optimize.Problem{
		Func: func(x []float64) float64 { return eval(x, nil) },
		Grad: func(grad, x []float64) { eval(x, grad) },
	}
	settings := &optimize.Settings{
		GradientThreshold: 1e-9,
		MajorIterations:   maxIter,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 50},
	}
	res, err := optimize.Minimize(p, x0, settings, &optimize.BFGS{})
	if err != nil && res == nil {
		return nil, fmt.Errorf("btyd: optimiser: %w", err)
	}
	if math.IsInf(res.F, 0) || math.IsNaN(res.F) {
		return nil, errors.New("btyd: optimiser found no finite likelihood")
	}
	for i, v := range res.X {
		if math.Abs(v) > 14 {
			return nil, fmt.Errorf("%w: the estimate of %s runs off to %.3g: the likelihood has no maximum inside the domain, the data do not identify the model (too few customers or no variation; FitOptions.Penalizer keeps parameters finite)", ErrInput, names[i], math.Exp(v))
		}
	}
	switch res.Status {
	case optimize.GradientThreshold, optimize.FunctionConvergence:
	default:
		// A line search that fails where the gradient of the mean
		// log-likelihood is already below 1e-6 has hit the rounding floor
		// of the objective, not a problem of the fit: accept the point.
		if gmax := maxAbs(res.Gradient); !(gmax < 1e-6) {
			return nil, fmt.Errorf("btyd: optimiser stopped with status %v (err %v) at log-parameters %v, gradient %v", res.Status, err, res.X, res.Gradient)
		}
	}
	out := make([]float64, dim)
	for i, v := range res.X {
		out[i] = math.Exp(v)
	}
	return out, nil
}

// FitBGNBD fits the BG/NBD model to customer summaries by maximum
// likelihood (eq. 6 of Fader, Hardie & Lee 2005), optimising over the logs
// of r, alpha, a, b with gonum's BFGS and the analytic gradient. Customers
// are validated first; an error names the first bad one and its field.
//
// At least one customer must have a repeat transaction: without one the
// likelihood rises as r goes to 0 and a, b are not identified.
func FitBGNBD(cs []Customer, opts *FitOptions) (*BGNBD, error) {
	if err := checkCustomers(cs); err != nil {
		return nil, err
	}
	repeat := false
	for _, c := range cs {
		if c.X > 0 {
			repeat = true
			break
		}
	}
	if !repeat {
		return nil, fmt.Errorf("%w: none of the %d customers has a repeat transaction (X > 0): the BG/NBD model cannot be fitted", ErrInput, len(cs))
	}
	x0, err := opts.init(4)
	if err != nil {
		return nil, err
	}
	th, err := maximize(func(theta, grad []float64) float64 {
		return bgnbdLL(theta[0], theta[1], theta[2], theta[3], cs, grad)
	}, len(cs), x0, []string{"r", "alpha", "a", "b"}, opts)
	if err != nil {
		return nil, fmt.Errorf("btyd: BG/NBD fit on %d customers: %w", len(cs), err)
	}
	m := &BGNBD{R: th[0], Alpha: th[1], A: th[2], B: th[3]}
	m.LogLik = bgnbdLL(m.R, m.Alpha, m.A, m.B, cs, nil)
	return m, nil
}

func maxAbs(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}
