package btyd

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// simulated is one customer drawn from the BG/NBD model, observed over
// (0, T] (calibration) and (T, T+horizon] (holdout).
type simulated struct {
	c       Customer
	aliveAt bool // still active at T
	spends  []float64
}

// simulateBGNBD draws n customers from the BG/NBD process of Fader, Hardie
// & Lee (2005), section 2: lambda ~ Gamma(r, alpha), p ~ Beta(a, b); the
// first purchase is at time 0; repeat purchases follow a Poisson process
// of rate lambda; after each repeat purchase the customer drops out with
// probability p. T is drawn by tOf. When gg is not nil each repeat
// transaction also gets a Gamma(P, nu) spend with nu ~ Gamma(Q, V), and
// MeanValue is their mean over calibration.
func simulateBGNBD(rng *rand.Rand, m BGNBD, gg *GammaGamma, n int, tOf func(*rand.Rand) float64, horizon float64) []simulated {
	lam := distuv.Gamma{Alpha: m.R, Beta: m.Alpha, Src: rng}
	drop := distuv.Beta{Alpha: m.A, Beta: m.B, Src: rng}
	out := make([]simulated, n)
	for i := range out {
		l, p, T := lam.Rand(), drop.Rand(), tOf(rng)
		s := simulated{c: Customer{T: T}, aliveAt: true}
		var spend distuv.Gamma
		if gg != nil {
			nu := distuv.Gamma{Alpha: gg.Q, Beta: gg.V, Src: rng}.Rand()
			spend = distuv.Gamma{Alpha: gg.P, Beta: nu, Src: rng}
		}
		var total float64
		for t := 0.0; ; {
			t += rng.ExpFloat64() / l
			if t > T+horizon || math.IsInf(t, 0) {
				break
			}
			if t <= T {
				s.c.X++
				s.c.TX = t
				if gg != nil {
					v := spend.Rand()
					total += v
					s.spends = append(s.spends, v)
				}
			} else {
				s.c.HoldoutX++
			}
			if rng.Float64() < p {
				if t <= T {
					s.aliveAt = false
				}
				break
			}
		}
		if s.c.X > 0 {
			s.c.MeanValue = total / s.c.X
		}
		out[i] = s
	}
	return out
}

func customersOf(s []simulated) []Customer {
	cs := make([]Customer, len(s))
	for i := range s {
		cs[i] = s[i].c
	}
	return cs
}
