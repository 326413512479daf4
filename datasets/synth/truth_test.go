package synth

import (
	"math"
	"testing"
	"time"

	"retain/datasets"
)

func TestTruthRowsWellFormed(t *testing.T) {
	cfg, s, sum := shared(t)
	if len(sum.TruthCutoffs) != 18 {
		// Default schedule for 104 weeks, H = 8: weeks 26, 30, ..., 94.
		t.Fatalf("got %d cutoffs, want 18", len(sum.TruthCutoffs))
	}
	h := histories(s)
	rowsPerCutoff := map[time.Time]int{}
	for i, r := range s.TruthRows {
		x := h[r.MemberID]
		if x == nil {
			t.Fatalf("truth row %d: unknown member %s", i, r.MemberID)
		}
		if x.m.JoinedAt.After(r.Cutoff) {
			t.Fatalf("truth row %d: member %s joined %v after cutoff %v", i, r.MemberID, x.m.JoinedAt, r.Cutoff)
		}
		rowsPerCutoff[r.Cutoff]++
		if !r.Alive {
			if r.ChurnProb != 0 || r.NextCategory != nil || r.Sims != 0 {
				t.Fatalf("truth row %d: not alive but has estimates: %+v", i, r)
			}
			continue
		}
		if r.ChurnProb < 0 || r.ChurnProb > 1 || r.PNoClass < 0 || r.PNoClass > 1 {
			t.Fatalf("truth row %d: probability out of [0,1]: %+v", i, r)
		}
		if r.Churned && (r.ChurnProb != 1 || r.PNoClass != 1) {
			t.Fatalf("truth row %d: churned member with ChurnProb %v PNoClass %v, want 1, 1", i, r.ChurnProb, r.PNoClass)
		}
		if !r.Churned && r.Sims != cfg.TruthSims {
			t.Fatalf("truth row %d: %d sims, want %d", i, r.Sims, cfg.TruthSims)
		}
		if want := math.Sqrt(r.ChurnProb * (1 - r.ChurnProb) / float64(max(r.Sims, 1))); math.Abs(r.ChurnSE-want) > 1e-12 {
			t.Fatalf("truth row %d: ChurnSE %v, want %v", i, r.ChurnSE, want)
		}
		if r.PNoClass == 1 {
			if r.NextCategory != nil {
				t.Fatalf("truth row %d: next categories without a class", i)
			}
			continue
		}
		if len(r.NextCategory) != len(Categories()) {
			t.Fatalf("truth row %d: %d next-category probabilities", i, len(r.NextCategory))
		}
		var s float64
		for _, p := range r.NextCategory {
			if p < 0 || p > 1 {
				t.Fatalf("truth row %d: next-category probability %v", i, p)
			}
			s += p
		}
		if math.Abs(s-1) > 1e-9 {
			t.Fatalf("truth row %d: next-category probabilities sum to %v", i, s)
		}
	}
	// One row per member who joined on or before the cutoff.
	for _, c := range sum.TruthCutoffs {
		want := 0
		for _, x := range h {
			if !x.m.JoinedAt.After(c) {
				want++
			}
		}
		if rowsPerCutoff[c] != want {
			t.Errorf("cutoff %v: %d truth rows, want %d", c, rowsPerCutoff[c], want)
		}
	}
}

// TestTruthAliveMatchesData checks that Truth.Alive is exactly the
// observable rule evaluated on the written data.
func TestTruthAliveMatchesData(t *testing.T) {
	_, s, _ := shared(t)
	h := histories(s)
	bad := 0
	for _, r := range s.TruthRows {
		alive, _, _ := h[r.MemberID].label(r.Cutoff, 8)
		if alive != r.Alive {
			bad++
			if bad <= 5 {
				t.Errorf("member %s at %v: truth alive %v, data says %v", r.MemberID, r.Cutoff.Format("2006-01-02"), r.Alive, alive)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows disagree", bad, len(s.TruthRows))
	}
}

// TestTruthCalibration compares the ground-truth churn probabilities with
// the labels the data realised. The data is one draw of the same process
// the truth re-simulates, so sum(label − p) has mean zero; its spread is
// estimated by clustering on members (rows of one member at cutoffs 4 weeks
// apart overlap). |z| < 4 is required per cutoff and pooled; the same for
// the next-category probabilities, the probability of no class, and each
// category pooled over all cutoffs.
func TestTruthCalibration(t *testing.T) {
	cfg, s, _ := shared(t)
	h := histories(s)
	cats := Categories()
	catIdx := map[string]int{}
	for i, c := range cats {
		catIdx[c] = i
	}
	type acc struct{ diff, vr, n, p, y float64 }
	perCut := map[time.Time]*acc{}
	clusterChurn := map[string]float64{}
	clusterNoClass := map[string]float64{}
	clusterCat := make([]map[string]float64, len(cats))
	for k := range clusterCat {
		clusterCat[k] = map[string]float64{}
	}
	var churnDiff, noClassDiff float64
	catDiff := make([]float64, len(cats))
	for _, r := range s.TruthRows {
		if !r.Alive {
			continue
		}
		_, churn, first := h[r.MemberID].label(r.Cutoff, cfg.HorizonWeeks)
		y := 0.0
		if churn {
			y = 1
		}
		a := perCut[r.Cutoff]
		if a == nil {
			a = &acc{}
			perCut[r.Cutoff] = a
		}
		a.diff += y - r.ChurnProb
		a.vr += r.ChurnProb * (1 - r.ChurnProb)
		a.n++
		a.p += r.ChurnProb
		a.y += y
		churnDiff += y - r.ChurnProb
		clusterChurn[r.MemberID] += y - r.ChurnProb
		nc := 0.0
		if first == "" {
			nc = 1
		}
		noClassDiff += nc - r.PNoClass
		clusterNoClass[r.MemberID] += nc - r.PNoClass
		if first != "" {
			if r.NextCategory == nil {
				t.Fatalf("member %s at %v attended %s but the truth says no class is possible", r.MemberID, r.Cutoff, first)
			}
			for k := range cats {
				yk := 0.0
				if catIdx[first] == k {
					yk = 1
				}
				catDiff[k] += yk - r.NextCategory[k]
				clusterCat[k][r.MemberID] += yk - r.NextCategory[k]
			}
		}
	}
	// Calibration by observable groups: visits in the 4 weeks before the
	// cutoff (0, 1, 2-3, 4-7, 8+) × annual contract or not. (Grouping by
	// the estimated ChurnProb itself would be biased by its Monte Carlo
	// noise: rows whose estimate came out low collect in the low bins.)
	// Within a group sum(label − p) / sqrt(1.5·sum p(1−p)) is about N(0,1)
	// (1.5 allows for the overlap of neighbouring cutoffs); the sum of the
	// squares over the 10 groups is about chi-square with 10 degrees of
	// freedom, whose 0.9999 quantile is 35.6.
	// Members the generator had already churned (p = 1 exactly, trivially
	// right) are left out.
	var groups [10]acc
	for _, r := range s.TruthRows {
		if !r.Alive || r.Churned {
			continue
		}
		x := h[r.MemberID]
		_, churn, _ := x.label(r.Cutoff, cfg.HorizonWeeks)
		y := 0.0
		if churn {
			y = 1
		}
		n := 0
		for _, v := range x.visits {
			if !v.Before(r.Cutoff.AddDate(0, 0, -28)) && v.Before(r.Cutoff) {
				n++
			}
		}
		g := 0
		switch {
		case n >= 8:
			g = 4
		case n >= 4:
			g = 3
		case n >= 2:
			g = 2
		case n == 1:
			g = 1
		}
		if x.m.ContractType == datasets.ContractAnnual {
			g += 5
		}
		groups[g].diff += y - r.ChurnProb
		groups[g].vr += r.ChurnProb * (1 - r.ChurnProb)
		groups[g].n++
		groups[g].p += r.ChurnProb
		groups[g].y += y
	}
	var chi2 float64
	for g, a := range groups {
		if a.vr > 0 {
			z := a.diff / math.Sqrt(1.5*a.vr)
			chi2 += z * z
			t.Logf("group %d: %5.0f rows, mean truth %.4f, label rate %.4f, z = %5.2f", g, a.n, a.p/a.n, a.y/a.n, z)
		}
	}
	if chi2 > 35.6 {
		t.Errorf("calibration by group: chi-square %.1f over 10 groups > 35.6", chi2)
	}

	clustered := func(c map[string]float64) float64 {
		var v float64
		for _, d := range c {
			v += d * d
		}
		return math.Sqrt(v)
	}
	for c, a := range perCut {
		z := a.diff / math.Sqrt(a.vr)
		if math.Abs(z) > 4 {
			t.Errorf("cutoff %v: %0.f alive, mean truth %.4f, label rate %.4f, z = %.2f", c.Format("2006-01-02"), a.n, a.p/a.n, a.y/a.n, z)
		}
	}
	if z := churnDiff / clustered(clusterChurn); math.Abs(z) > 4 {
		t.Errorf("churn pooled: z = %.2f", z)
	} else {
		t.Logf("churn pooled: z = %.2f", z)
	}
	if z := noClassDiff / clustered(clusterNoClass); math.Abs(z) > 4 {
		t.Errorf("no class pooled: z = %.2f", z)
	}
	for k, c := range cats {
		if sd := clustered(clusterCat[k]); sd > 0 {
			if z := catDiff[k] / sd; math.Abs(z) > 4 {
				t.Errorf("next category %s: z = %.2f", c, z)
			}
		}
	}
}

// TestTruthRiskOrdering: members without a visit in the 4 weeks before a
// cutoff must have a clearly higher mean churn probability than members
// with 4 or more.
func TestTruthRiskOrdering(t *testing.T) {
	_, s, _ := shared(t)
	h := histories(s)
	var lowSum, lowN, highSum, highN float64
	for _, r := range s.TruthRows {
		if !r.Alive {
			continue
		}
		x := h[r.MemberID]
		n := 0
		for _, v := range x.visits {
			if !v.Before(r.Cutoff.AddDate(0, 0, -28)) && v.Before(r.Cutoff) {
				n++
			}
		}
		switch {
		case n == 0:
			lowSum += r.ChurnProb
			lowN++
		case n >= 4:
			highSum += r.ChurnProb
			highN++
		}
	}
	low, high := lowSum/lowN, highSum/highN
	t.Logf("mean churn probability: %.3f with no visit in 4 weeks (%0.f rows), %.3f with 4+ (%0.f rows)", low, lowN, high, highN)
	if low < 2*high {
		t.Errorf("mean churn probability %.3f without recent visits is not at least twice %.3f with 4+ visits", low, high)
	}
}
