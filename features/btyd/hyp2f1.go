package btyd

import (
	"fmt"
	"math"
)

// hyp2f1MaxTerms bounds the series; at z = 1 - 1e-4 about 4e5 terms are
// needed for full precision, which is far beyond any horizon t the models
// see (z = t/(alpha+T+t)).
const hyp2f1MaxTerms = 2_000_000

// Hyp2F1 returns the Gaussian hypergeometric function
//
//	2F1(a, b; c; z) = sum_{j>=0} (a)_j (b)_j / (c)_j  z^j / j!
//
// for real a, b, c (c not 0, -1, -2, ...) and z < 1.
//
// z < 0 is first mapped into (0, 1) with Pfaff's transformation
// 2F1(a,b;c;z) = (1-z)^(-a) 2F1(a, c-b; c; z/(z-1)). For 0 <= z < 1 the
// terms of the series behave like j^(a+b-c-1) z^j, so when c < a+b (the
// case of the BG/NBD expectations for customers with many transactions,
// whose series first grows for many terms) Euler's transformation
// 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z) is applied, whose terms
// behave like j^(c-a-b-1) z^j. This is the transformation Fader, Hardie &
// Lee's BG/NBD notes recommend for arguments near 1. The series is summed
// until the bound |term| |rho| / (1 - |rho|) on the rest, rho being the
// ratio of consecutive terms once it has settled below 1, is under 1e-16 of
// the sum; an error is returned if that takes more than 2e6 terms.
//
// Why not gonum's mathext.Hypergeo (gonum v0.17.0): near z = 1 with
// c - a - b small, the BG/NBD case, it loses most digits. For
// 2F1(6, 5.5; 6.5; 0.9999) mpmath (40 digits) gives 1.0999862506880198e20,
// Hyp2F1 1.0999862506880015e20, Hypergeo 4.03e17; for 2F1(2, 1.5; 2.5;
// 0.9999), 14993.551519203424, 14993.551519196577 and 9476.9.
func Hyp2F1(a, b, c, z float64) (float64, error) {
	for _, v := range []float64{a, b, c, z} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.NaN(), fmt.Errorf("%w: 2F1(%v, %v; %v; %v): arguments must be finite", ErrInput, a, b, c, z)
		}
	}
	if c <= 0 && c == math.Trunc(c) {
		return math.NaN(), fmt.Errorf("%w: 2F1(%v, %v; %v; %v): c must not be 0 or a negative integer", ErrInput, a, b, c, z)
	}
	if z >= 1 {
		return math.NaN(), fmt.Errorf("%w: 2F1(%v, %v; %v; %v): z must be < 1", ErrInput, a, b, c, z)
	}
	if z < 0 {
		w := z / (z - 1) // in (0, 1)
		s, err := Hyp2F1(a, c-b, c, w)
		return math.Pow(1-z, -a) * s, err
	}
	if c < a+b {
		s, err := hyp2f1Series(c-a, c-b, c, z)
		return math.Pow(1-z, c-a-b) * s, err
	}
	return hyp2f1Series(a, b, c, z)
}

// hyp2f1Series sums the series for 0 <= z < 1.
func hyp2f1Series(a, b, c, z float64) (float64, error) {
	sum, term := 1.0, 1.0
	for j := 0; j < hyp2f1MaxTerms; j++ {
		fj := float64(j)
		rho := (a + fj) * (b + fj) / ((c + fj) * (fj + 1)) * z
		term *= rho
		sum += term
		if term == 0 {
			return sum, nil // a or b is a non-positive integer: a polynomial
		}
		if math.IsInf(sum, 0) || math.IsNaN(sum) {
			break
		}
		// Past the largest term the ratios rise or fall monotonically
		// towards z; the ratio bound uses the larger of the current ratio
		// and z.
		r := math.Max(math.Abs(rho), z)
		if math.Abs(rho) < 1 && fj > math.Abs(a)+math.Abs(b)+math.Abs(c) {
			if math.Abs(term)*r/(1-r) <= 1e-16*math.Abs(sum) {
				return sum, nil
			}
		}
	}
	return math.NaN(), fmt.Errorf("btyd: 2F1(%v, %v; %v; %v): series did not converge in %d terms", a, b, c, z, hyp2f1MaxTerms)
}
