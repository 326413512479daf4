// Package btyd holds the probabilistic "buy till you die" baselines for
// non-contractual customers: the BG/NBD model of how often a customer buys
// and when he silently drops out, the Gamma-Gamma model of how much he
// spends per purchase, and customer lifetime value from the two. They are
// the published, well-understood yardsticks the LSTM of package model is
// compared with on the CDNOW data (docs/evaluation.md), and package
// features computes its ltv indicator from them (docs/features.md, "LTV").
//
// It may import datasets; it must not import features, model, train, serve
// or cmd (package features imports it for the LTV indicator).
//
// # Summaries
//
// Summarize turns datasets.Transaction rows into one Customer per buyer:
// X repeat transactions in the calibration period, TX the time of the last
// one and T the length of the observation, in weeks from the first
// purchase, plus the mean spend of the repeat transactions (MeanValue) and
// the count in a holdout period (HoldoutX). A transaction is a purchase
// day, as in Fader, Hardie & Lee (2005); refunds are counted apart and not
// purchases. T runs to the last calibration day, the convention of the
// published CDNOW data (see Summarize).
//
// # BG/NBD
//
// Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your
// Customers" the Easy Way: An Alternative to the Pareto/NBD Model.
// Marketing Science 24(2), 275-284. While active a customer buys at
// Poisson rate lambda ~ Gamma(r, alpha); after each repeat purchase he
// becomes inactive with probability p ~ Beta(a, b). With B the beta
// function, the likelihood of one customer is (eq. 6)
//
//	L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
//	  + [x>0] B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+tx)^(r+x))
//
// computed in logs with a log-sum-exp. FitBGNBD maximises its sum over the
// logs of (r, α, a, b) with gonum's BFGS and the analytic gradient
// (digamma). From the fitted model:
//
//	P(alive | x, tx, T) = 1 / (1 + [x>0] a/(b+x-1) ((α+T)/(α+tx))^(r+x))
//
//	E[Y(t) | x, tx, T] = (a+b+x-1)/(a-1)
//	    · [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))]
//	    · P(alive | x, tx, T)                                       (eq. 10)
//
//	P(Y(t) = 0 | x, tx, T) = 1 - P(alive) + P(alive) ((α+T)/(α+T+t))^(r+x)
//
// (PAlive, ExpectedPurchases, ProbNoPurchase; the last derived in its
// doc comment), eq. (10) without its P(alive) factor, which does not
// depend on tx (ExpectedPurchasesAlive), and the expected purchases of a
// new customer, eq. (9) (ExpectedPurchasesNew). Hyp2F1 sums the Gaussian hypergeometric series
// with a convergence bound, through Pfaff's transformation for z < 0 and
// Euler's, 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z), when c < a+b
// (heavy buyers, whose direct series grows for many terms).
//
// # Gamma-Gamma and CLV
//
// Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using
// Iso-Value Curves for Customer Base Analysis. Journal of Marketing
// Research 42(4), 415-430; and Fader & Hardie (2013), "The Gamma-Gamma
// Model of Monetary Value" (brucehardie.com note 025). A customer's
// transaction values are Gamma(p, ν) with ν ~ Gamma(q, v) across
// customers; the mean m of x values has log-density
//
//	lgamma(px+q) - lgamma(px) - lgamma(q) + q log v + (px-1) log m
//	    + px log x - (px+q) log(xm+v)
//
// FitGammaGamma fits it on the customers with X > 0 (as lifetimes'
// GammaGammaFitter does), and ConditionalExpectedSpend is
// E[Z | x, m] = p (v + x m) / (p x + q - 1). CustomerLifetimeValue sums,
// over periods k = 1..K of w weeks, E[Z] (E[Y(k w)] - E[Y((k-1) w)]) /
// (1+d)^k, like lifetimes' customer_lifetime_value.
//
// # Validation against published numbers
//
// On the CDNOW 1/10 sample (2,357 customers, weeks 1-39, tests in
// cdnow_test.go, run when ../shared/datasets/cdnow is present) the fit
// gives r = 0.2426, α = 4.4136, a = 0.7929, b = 2.4259, LL = -9582.43
// (Table 2: 0.243, 4.414, 0.793, 2.426, -9582.4); the 1,411 customers
// without a repeat purchase are predicted 0.225 holdout transactions each
// (paper 0.23, actual 0.237); the correlation of actual and predicted
// holdout transactions is 0.6256 (paper 0.626); the Gamma-Gamma fit gives
// p = 6.2496, q = 3.7442, v = 15.4435 (lifetimes: 6.25, 3.74, 15.44), and
// lifetimes' example CLVs are matched to 0.1 %.
package btyd
