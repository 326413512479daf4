package btyd

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/integrate/quad"
)

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestHyp2F1ClosedForms(t *testing.T) {
	// Abramowitz & Stegun 15.1.3-15.1.7 and 15.1.8; DLMF 15.4.
	for _, z := range []float64{-5, -0.9, -0.3, 0, 1e-8, 0.1, 0.5, 0.9, 0.99, 0.999} {
		for _, tc := range []struct {
			name    string
			a, b, c float64
			want    float64
		}{
			{"2F1(1,1;2;z) = -ln(1-z)/z", 1, 1, 2, -math.Log1p(-z) / z},
			{"2F1(a,b;b;z) = (1-z)^-a", 2.7, 1.3, 1.3, math.Pow(1-z, -2.7)},
			{"2F1(a,b;b;z) = (1-z)^-a, a < 0", -1.5, 0.4, 0.4, math.Pow(1-z, 1.5)},
			{"2F1(1/2,1;3/2;z) = atanh(sqrt z)/sqrt z", 0.5, 1, 1.5, atanhOrAtan(z)},
			{"2F1(-3,b;c;z) polynomial", -3, 2.5, 1.5, poly3(2.5, 1.5, z)},
		} {
			if z == 0 {
				tc.want = 1
			}
			got, err := Hyp2F1(tc.a, tc.b, tc.c, z)
			if err != nil {
				t.Errorf("%s at z=%v: %v", tc.name, z, err)
				continue
			}
			// Relative 1e-12, plus 1e-15 absolute for (1-z)^1.5 at z
			// near 1, where terms of order 1 cancel to 3e-5.
			if math.Abs(got-tc.want) > 1e-12*math.Abs(tc.want)+1e-15 {
				t.Errorf("%s at z=%v: got %.17g, want %.17g", tc.name, z, got, tc.want)
			}
		}
	}
}

// atanhOrAtan returns 2F1(1/2, 1; 3/2; w): atanh(sqrt w)/sqrt w for w > 0,
// atan(sqrt(-w))/sqrt(-w) for w < 0.
func atanhOrAtan(w float64) float64 {
	switch {
	case w > 0:
		s := math.Sqrt(w)
		return math.Atanh(s) / s
	case w < 0:
		s := math.Sqrt(-w)
		return math.Atan(s) / s
	}
	return 1
}

// poly3 is 2F1(-3, b; c; z) = sum_{j=0..3} (-3)_j (b)_j / (c)_j z^j / j!.
func poly3(b, c, z float64) float64 {
	sum, term := 1.0, 1.0
	for j := 0.0; j < 3; j++ {
		term *= (-3 + j) * (b + j) / ((c + j) * (j + 1)) * z
		sum += term
	}
	return sum
}

// TestHyp2F1Reference compares with mpmath at 30 digits, including the
// argument shapes of the BG/NBD expectation (r+x, b+x; a+b+x-1) with the
// CDNOW estimates. Values from:
//
//	python3 -c 'import mpmath as mp; mp.mp.dps=30; print(mp.hyp2f1(a,b,c,z))'
func TestHyp2F1Reference(t *testing.T) {
	for _, tc := range []struct{ a, b, c, z, want float64 }{
		{0.2426, 2.4259, 1.7185, 0.5, 1.2948738322549120255},
		{7.2426, 9.4259, 8.7185, 0.5, 232.17599705906426128},
		{50.2426, 52.4259, 51.7185, 0.9, 8.7495550618852275381e+50},
		{1.2426, 3.4259, 2.7185, 0.99, 4431.7708410008851005},
		{0.2426, 2.4259, 1.7185, -3.0, 0.65742758793816563665},
		{2.5, -3, 4.5, 0.7, 0.26907925407925410331},
		{0.5, 0.5, -0.5, 0.3, 0.68298777676251067308},
		{100.5, 102.25, 101.75, 0.95, 2.5204286371014014046e+131},
	} {
		got, err := Hyp2F1(tc.a, tc.b, tc.c, tc.z)
		if err != nil {
			t.Errorf("2F1(%v,%v;%v;%v): %v", tc.a, tc.b, tc.c, tc.z, err)
			continue
		}
		if relErr(got, tc.want) > 1e-12 {
			t.Errorf("2F1(%v,%v;%v;%v) = %.17g, mpmath %.17g (rel. err %.2g)", tc.a, tc.b, tc.c, tc.z, got, tc.want, relErr(got, tc.want))
		}
	}
}

// TestHyp2F1Euler checks against Euler's integral (DLMF 15.6.1), for
// c > b > 0, by Gauss-Legendre quadrature: an independent route for both
// branches (c >= a+b summed directly, c < a+b through Euler's
// transformation). b and c-b are integers so that the integrand is smooth
// and the quadrature exact to rounding.
func TestHyp2F1Euler(t *testing.T) {
	for _, tc := range []struct{ a, b, c float64 }{
		{2.3, 2, 5},  // c >= a+b
		{4.5, 2, 5},  // c < a+b
		{-1.3, 3, 5}, // a < 0
	} {
		for _, z := range []float64{-2, 0.3, 0.8, 0.95} {
			lb, _ := math.Lgamma(tc.b)
			lcb, _ := math.Lgamma(tc.c - tc.b)
			lc, _ := math.Lgamma(tc.c)
			f := func(u float64) float64 {
				return math.Pow(u, tc.b-1) * math.Pow(1-u, tc.c-tc.b-1) * math.Pow(1-z*u, -tc.a)
			}
			want := math.Exp(lc-lb-lcb) * quad.Fixed(f, 0, 1, 2000, nil, 0)
			got, err := Hyp2F1(tc.a, tc.b, tc.c, z)
			if err != nil {
				t.Fatal(err)
			}
			if relErr(got, want) > 1e-12 {
				t.Errorf("2F1(%v,%v;%v;%v) = %.15g, integral %.15g", tc.a, tc.b, tc.c, z, got, want)
			}
		}
	}
}

func TestHyp2F1Errors(t *testing.T) {
	for _, tc := range []struct{ a, b, c, z float64 }{
		{1, 1, 0, 0.5},         // c = 0
		{1, 1, -2, 0.5},        // c negative integer
		{1, 1, 2, 1},           // z = 1
		{1, 1, 2, 1.5},         // z > 1
		{math.NaN(), 1, 2, .5}, // NaN
		{1, math.Inf(1), 2, .5},
	} {
		if v, err := Hyp2F1(tc.a, tc.b, tc.c, tc.z); err == nil || !errors.Is(err, ErrInput) || !math.IsNaN(v) {
			t.Errorf("2F1(%v,%v;%v;%v) = %v, %v; want NaN and ErrInput", tc.a, tc.b, tc.c, tc.z, v, err)
		}
	}
	// z so close to 1 that the series needs more than the term budget.
	if _, err := Hyp2F1(0.5, 0.25, 1.5, 1-1e-9); err == nil {
		t.Error("2F1 at z = 1-1e-9: no error for a series that cannot converge in budget")
	}
}
