package synth

import (
	"slices"
	"testing"
)

// auc is the area under the ROC curve of scores for labels y (ties count
// one half), by the rank-sum formula.
func auc(scores []float64, y []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		rank := float64(i+j+1) / 2 // mean 1-based rank of the tie group
		for _, k := range idx[i:j] {
			if y[k] {
				rankSum += rank
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func TestAUC(t *testing.T) {
	// Hand-computed: positives score 0.9 and 0.4, negatives 0.5 and 0.1;
	// of the 4 positive-negative pairs 3 are ordered right: 0.75. With a
	// tie between a positive and a negative it counts one half.
	y := []bool{true, true, false, false}
	if got := auc([]float64{0.9, 0.4, 0.5, 0.1}, y); got != 0.75 {
		t.Errorf("auc = %v, want 0.75", got)
	}
	if got := auc([]float64{0.9, 0.5, 0.5, 0.1}, y); got != 0.875 {
		t.Errorf("auc with a tie = %v, want 0.875", got)
	}
}

// TestOracleHeadroom checks that the truth is informative beyond simple
// rules on the same rows, so that it can serve as the upper reference: the
// oracle's churn AUC beats "time since the last visit" by at least 0.05
// (measured 0.944 against 0.833), and its top-1 next-category accuracy beats
// the member's most frequent past category by at least 0.03 (measured 0.438
// against 0.364).
func TestOracleHeadroom(t *testing.T) {
	cfg, s, _ := shared(t)
	h := histories(s)
	var oracle, gap []float64
	var ys []bool
	var rows, oracleHits, freqHits float64
	cats := Categories()
	for _, r := range s.TruthRows {
		if !r.Alive {
			continue
		}
		x := h[r.MemberID]
		_, churn, first := x.label(r.Cutoff, cfg.HorizonWeeks)
		last := x.m.JoinedAt
		count := map[string]int{}
		for i, v := range x.visits {
			if !v.Before(r.Cutoff) {
				break
			}
			last = v
			if x.classCat[i] != "" {
				count[x.classCat[i]]++
			}
		}
		oracle = append(oracle, r.ChurnProb)
		gap = append(gap, r.Cutoff.Sub(last).Hours())
		ys = append(ys, churn)
		if first == "" {
			continue
		}
		rows++
		best := 0
		for k, p := range r.NextCategory {
			if p > r.NextCategory[best] {
				best = k
			}
		}
		if cats[best] == first {
			oracleHits++
		}
		freq, n := "", 0
		for _, c := range cats { // ties go to the earlier category
			if count[c] > n {
				freq, n = c, count[c]
			}
		}
		if freq == first {
			freqHits++
		}
	}
	aOracle, aGap := auc(oracle, ys), auc(gap, ys)
	top1Oracle, top1Freq := oracleHits/rows, freqHits/rows
	t.Logf("churn AUC: oracle %.3f, time since last visit %.3f; next-category top-1: oracle %.3f, most frequent %.3f (%0.f rows)",
		aOracle, aGap, top1Oracle, top1Freq, rows)
	if aOracle < aGap+0.05 {
		t.Errorf("oracle churn AUC %.3f is not 0.05 above the time-since-visit rule's %.3f", aOracle, aGap)
	}
	if top1Oracle < top1Freq+0.03 {
		t.Errorf("oracle top-1 %.3f is not 0.03 above the most-frequent rule's %.3f", top1Oracle, top1Freq)
	}
}
