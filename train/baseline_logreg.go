package train

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// LogisticOptions tunes FitLogistic. A nil *LogisticOptions means defaults.
type LogisticOptions struct {
	// L2 is the ridge penalty λ of the objective
	//
	//	mean log-loss + λ/2 · ‖w‖²
	//
	// on the standardised coefficients w (the intercept is not
	// penalised). Default 1e-4.
	L2 float64
	// MaxIter bounds the Newton (IRLS) iterations. Default 50.
	MaxIter int
	// Tol stops the iterations once no parameter moves by more than Tol.
	// Default 1e-9.
	Tol float64
}

// Logistic is an L2-regularised logistic regression on standardised
// features: P(y=1 | x) = σ(b + Σⱼ wⱼ·(xⱼ − Meanⱼ)/Scaleⱼ).
type Logistic struct {
	// Mean and Scale standardise each feature (Scale is the population
	// standard deviation over the fitting rows, 1 for a constant feature).
	Mean, Scale []float64
	// Coef are the coefficients of the standardised features, Intercept
	// the intercept b.
	Coef      []float64
	Intercept float64
	// Iterations is the number of Newton steps taken; Converged whether
	// the last one moved no parameter by more than Tol.
	Iterations int
	Converged  bool
}

// ErrOneClass is returned by FitLogistic for no rows, or rows of one class.
var ErrOneClass = errors.New("train: logistic regression needs rows of both classes")

// FitLogistic fits a Logistic to the rows x (each of the same length) and
// labels y by Newton's method on the penalised mean log-loss (iteratively
// reweighted least squares, with the Hessian solved by Cholesky through
// gonum/mat and the step halved while the objective does not fall). Rows of
// different lengths panic.
func FitLogistic(x [][]float64, y []bool, opts *LogisticOptions) (*Logistic, error) {
	o := LogisticOptions{L2: 1e-4, MaxIter: 50, Tol: 1e-9}
	if opts != nil {
		if opts.L2 > 0 {
			o.L2 = opts.L2
		}
		if opts.MaxIter > 0 {
			o.MaxIter = opts.MaxIter
		}
		if opts.Tol > 0 {
			o.Tol = opts.Tol
		}
	}
	mustSameLen(len(x), len(y))
	var pos int
	for _, v := range y {
		if v {
			pos++
		}
	}
	if pos == 0 || pos == len(y) {
		return nil, fmt.Errorf("%w: %d rows, %d positive", ErrOneClass, len(y), pos)
	}
	d := len(x[0])
	m := &Logistic{Mean: make([]float64, d), Scale: make([]float64, d), Coef: make([]float64, d)}
	for _, row := range x {
		if len(row) != d {
			panic(fmt.Sprintf("train: logistic regression rows of %d and %d features", d, len(row)))
		}
		for j, v := range row {
			m.Mean[j] += v
		}
	}
	n := float64(len(x))
	for j := range m.Mean {
		m.Mean[j] /= n
	}
	for _, row := range x {
		for j, v := range row {
			dv := v - m.Mean[j]
			m.Scale[j] += dv * dv
		}
	}
	for j := range m.Scale {
		m.Scale[j] = math.Sqrt(m.Scale[j] / n)
		if m.Scale[j] < 1e-12 {
			m.Scale[j] = 1
		}
	}
	// z holds the standardised rows with a leading 1 for the intercept;
	// theta = (b, w).
	p := d + 1
	z := make([]float64, len(x)*p)
	for i, row := range x {
		zi := z[i*p : (i+1)*p]
		zi[0] = 1
		for j, v := range row {
			zi[j+1] = (v - m.Mean[j]) / m.Scale[j]
		}
	}
	theta := make([]float64, p)
	obj := logisticObjective(z, y, theta, o.L2)
	hess := mat.NewSymDense(p, nil)
	grad := mat.NewVecDense(p, nil)
	step := mat.NewVecDense(p, nil)
	next := make([]float64, p)
	var chol mat.Cholesky
	for m.Iterations < o.MaxIter {
		hess.Zero()
		grad.Zero()
		for i := range y {
			zi := mat.NewVecDense(p, z[i*p:(i+1)*p])
			pr := lrSigmoid(lrDot(theta, z[i*p:(i+1)*p]))
			grad.AddScaledVec(grad, (pr-oneIf(y[i]))/n, zi)
			hess.SymRankOne(hess, pr*(1-pr)/n, zi)
		}
		for j := 1; j < p; j++ {
			grad.SetVec(j, grad.AtVec(j)+o.L2*theta[j])
			hess.SetSym(j, j, hess.At(j, j)+o.L2)
		}
		if !chol.Factorize(hess) {
			return nil, fmt.Errorf("train: logistic regression: Hessian not positive definite at iteration %d", m.Iterations)
		}
		if err := chol.SolveVecTo(step, grad); err != nil {
			return nil, fmt.Errorf("train: logistic regression: %w", err)
		}
		m.Iterations++
		// Newton step with halving until the objective does not rise.
		t := 1.0
		var newObj float64
		for h := 0; ; h++ {
			for j := range theta {
				next[j] = theta[j] - t*step.AtVec(j)
			}
			newObj = logisticObjective(z, y, next, o.L2)
			if newObj <= obj || h == 30 {
				break
			}
			t /= 2
		}
		var moved float64
		for j := range theta {
			moved = math.Max(moved, math.Abs(next[j]-theta[j]))
		}
		copy(theta, next)
		obj = newObj
		if moved <= o.Tol {
			m.Converged = true
			break
		}
	}
	m.Intercept = theta[0]
	copy(m.Coef, theta[1:])
	return m, nil
}

// logisticObjective returns the mean log-loss of theta over the rows z
// (leading 1 included) plus l2/2 times the squared norm of theta[1:].
func logisticObjective(z []float64, y []bool, theta []float64, l2 float64) float64 {
	p := len(theta)
	var s float64
	for i := range y {
		a := lrDot(theta, z[i*p:(i+1)*p])
		// log(1+e^a) - y·a, computed stably.
		s += softplus64(a) - oneIf(y[i])*a
	}
	s /= float64(len(y))
	var r float64
	for _, w := range theta[1:] {
		r += w * w
	}
	return s + l2/2*r
}

// Prob returns P(y=1 | x). x must have as many features as the fit.
func (m *Logistic) Prob(x []float64) float64 {
	a := m.Intercept
	for j, v := range x {
		a += m.Coef[j] * (v - m.Mean[j]) / m.Scale[j]
	}
	return lrSigmoid(a)
}

// Unstandardised returns the coefficients and intercept on the original
// scale of the features: P(y=1 | x) = σ(b + Σⱼ cⱼ·xⱼ).
func (m *Logistic) Unstandardised() (coef []float64, intercept float64) {
	coef = make([]float64, len(m.Coef))
	intercept = m.Intercept
	for j := range coef {
		coef[j] = m.Coef[j] / m.Scale[j]
		intercept -= coef[j] * m.Mean[j]
	}
	return coef, intercept
}

func lrDot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func lrSigmoid(a float64) float64 {
	if a >= 0 {
		return 1 / (1 + math.Exp(-a))
	}
	e := math.Exp(a)
	return e / (1 + e)
}
