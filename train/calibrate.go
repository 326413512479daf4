package train

import (
	"fmt"
	"math"

	"retain/model"
)

// Calibration methods of Options.Calibration.
const (
	// CalibratePlatt fits σ(A·z + B) to the validation labels (Platt
	// scaling on the logit z).
	CalibratePlatt = "platt"
	// CalibrateTemperature fits σ(z/T), that is B = 0 and A = 1/T.
	CalibrateTemperature = "temperature"
	// CalibrateNone keeps the network's probabilities.
	CalibrateNone = "none"
)

// Calibrate fits the calibration method to churn logits z and labels y
// (0 or 1) by maximum likelihood: it minimises the log-loss
//
//	Σ softplus(s_i) - y_i·s_i,   s_i = A·z_i + B
//
// with Newton's method (a 2×2 system for Platt scaling, a scalar one for
// temperature scaling; B = 0), halving the step until the loss does not
// rise. It stops when the step is below 1e-10 or after 100 iterations,
// which bounds A and B on separable data, whose optimum is at infinity. It
// fails on an unknown method, mismatched lengths, or no data.
func Calibrate(method string, z, y []float64) (model.Calibration, error) {
	if len(z) != len(y) {
		return model.Calibration{}, fmt.Errorf("train: calibrate: %d logits and %d labels", len(z), len(y))
	}
	if len(z) == 0 {
		return model.Calibration{}, fmt.Errorf("train: calibrate: no examples")
	}
	c := model.Calibration{Method: method, A: 1, Examples: len(z)}
	c.LogLossBefore = calLogLoss(z, y, 1, 0)
	switch method {
	case CalibrateNone:
		c.A = 1
	case CalibratePlatt, CalibrateTemperature:
		c.A, c.B = fitLogit(z, y, method == CalibratePlatt)
	default:
		return model.Calibration{}, fmt.Errorf("train: unknown calibration method %q (want %q, %q or %q)",
			method, CalibratePlatt, CalibrateTemperature, CalibrateNone)
	}
	c.LogLossAfter = calLogLoss(z, y, c.A, c.B)
	return c, nil
}

// calLogLoss returns the mean log-loss of σ(a·z + b) against y.
func calLogLoss(z, y []float64, a, b float64) float64 {
	var s float64
	for i := range z {
		t := a*z[i] + b
		s += softplus64(t) - y[i]*t
	}
	return s / float64(len(z))
}

// softplus64 returns log(1+exp(x)) without overflow.
func softplus64(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// fitLogit minimises calLogLoss over (a, b), or over a with b = 0 when
// intercept is false, by damped Newton steps from (1, 0).
func fitLogit(z, y []float64, intercept bool) (a, b float64) {
	a, b = 1, 0
	loss := calLogLoss(z, y, a, b)
	for iter := 0; iter < 100; iter++ {
		// Gradient and Hessian of the summed loss.
		var ga, gb, haa, hab, hbb float64
		for i := range z {
			p := 1 / (1 + math.Exp(-(a*z[i] + b)))
			r, w := p-y[i], p*(1-p)
			ga += r * z[i]
			gb += r
			haa += w * z[i] * z[i]
			hab += w * z[i]
			hbb += w
		}
		var da, db float64
		if intercept {
			det := haa*hbb - hab*hab
			switch {
			case det > 1e-12*haa*hbb:
				da = (hbb*ga - hab*gb) / det
				db = (haa*gb - hab*ga) / det
			case hbb > 0:
				db = gb / hbb // every z equal: only the intercept is identified
			default:
				return a, b // every p saturated
			}
		} else {
			if !(haa > 0) {
				return a, b
			}
			da = ga / haa
		}
		step := 1.0
		for ; step > 1e-6; step /= 2 {
			na, nb := a-step*da, b-step*db
			if l := calLogLoss(z, y, na, nb); l <= loss {
				a, b, loss = na, nb, l
				break
			}
		}
		if step <= 1e-6 || math.Abs(step*da)+math.Abs(step*db) < 1e-10 {
			break
		}
	}
	return a, b
}
