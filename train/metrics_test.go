package train

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// yes and no are the labels of the tables.
const yes, no = true, false

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

func TestROCAUC(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		want   float64
	}{
		// Pairs (positive, negative): (0.35,0.1) won, (0.35,0.4) lost,
		// (0.8,0.1) won, (0.8,0.4) won: 3 of 4. Also scikit-learn's
		// roc_auc_score example.
		{"sklearn example", []float64{0.1, 0.4, 0.35, 0.8}, []bool{no, no, yes, yes}, 0.75},
		// Midranks: the three 0.5s take ranks 1,2,3 -> 2 each, 0.9 rank 4.
		// R+ = 2 + 4 = 6, AUC = (6 - 2·3/2) / (2·2) = 3/4. Pairwise: the
		// tied positive against the two tied negatives counts 1/2 + 1/2,
		// 0.9 beats both: (1 + 2) / 4.
		{"tie across classes", []float64{0.5, 0.5, 0.5, 0.9}, []bool{yes, no, no, yes}, 0.75},
		// Every pair tied: 1/2.
		{"all tied", []float64{0.3, 0.3, 0.3}, []bool{yes, no, yes}, 0.5},
		// The only pair is ordered the wrong way.
		{"reversed", []float64{0.9, 0.1}, []bool{no, yes}, 0},
		// Pairs: p=3 beats n=1,2 (2), p=2 beats n=1, ties n=2 (1.5),
		// p=0 beats none (0): 3.5 of 6.
		{"ties and order", []float64{3, 2, 0, 1, 2}, []bool{yes, yes, yes, no, no}, 3.5 / 6},
		{"no positives", []float64{0.1, 0.2}, []bool{no, no}, math.NaN()},
		{"no negatives", []float64{0.1, 0.2}, []bool{yes, yes}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
	} {
		if got := ROCAUC(tc.scores, tc.labels); !near(got, tc.want, 1e-12) {
			t.Errorf("%s: ROCAUC = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestROCCurveArea checks on random scores with many ties that the
// trapezoidal area under ROCCurve equals the midrank ROCAUC.
func TestROCCurveArea(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		n := 5 + r.IntN(200)
		s := make([]float64, n)
		y := make([]bool, n)
		for i := range s {
			s[i] = float64(r.IntN(7)) // heavy ties
			y[i] = r.Float64() < 0.2+0.1*s[i]
		}
		y[0], y[1] = true, false
		pts := ROCCurve(s, y)
		var area float64
		for i := 1; i < len(pts); i++ {
			area += (pts[i].X - pts[i-1].X) * (pts[i].Y + pts[i-1].Y) / 2
		}
		if last := pts[len(pts)-1]; last != (Point{1, 1}) {
			t.Fatalf("curve ends at %v", last)
		}
		if auc := ROCAUC(s, y); !near(area, auc, 1e-12) {
			t.Errorf("trial %d: trapezoid %v, midrank AUC %v", trial, area, auc)
		}
	}
}

func TestAveragePrecision(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		want   float64
	}{
		// Descending: 0.8 (T): R=1/2, P=1 -> 1/2·1; 0.4 (F): R unchanged;
		// 0.35 (T): R=1, P=2/3 -> 1/2·2/3; total 5/6 (scikit-learn's
		// average_precision_score example gives 0.8333).
		{"sklearn example", []float64{0.1, 0.4, 0.35, 0.8}, []bool{no, no, yes, yes}, 5.0 / 6},
		// 0.9 (T): R=1/3, P=1 -> 1/3; the 0.5 pair enters together: tp 2
		// of 3 flagged, R=2/3, P=2/3 -> 1/3·2/3; 0.1 (T): R=1, P=3/4 ->
		// 1/3·3/4. Sum 12/36 + 8/36 + 9/36 = 29/36.
		{"tie", []float64{0.9, 0.5, 0.5, 0.1}, []bool{yes, yes, no, yes}, 29.0 / 36},
		// All tied: one step to R=1 at P = 1/4.
		{"all tied", []float64{1, 1, 1, 1}, []bool{no, yes, no, no}, 0.25},
		{"no positives", []float64{1, 2}, []bool{no, no}, math.NaN()},
	} {
		if got := AveragePrecision(tc.scores, tc.labels); !near(got, tc.want, 1e-12) {
			t.Errorf("%s: AveragePrecision = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBrier(t *testing.T) {
	// (0.1-0)² + (0.9-1)² + (0.8-0)² + (0.3-1)² = 0.01+0.01+0.64+0.49 =
	// 1.15, over 4: 0.2875.
	if got := Brier([]float64{0.1, 0.9, 0.8, 0.3}, []bool{no, yes, no, yes}); !near(got, 0.2875, 1e-12) {
		t.Errorf("Brier = %v, want 0.2875", got)
	}
	if got := Brier(nil, nil); !math.IsNaN(got) {
		t.Errorf("Brier of nothing = %v, want NaN", got)
	}
}

func TestECE(t *testing.T) {
	for _, tc := range []struct {
		name   string
		probs  []float64
		labels []bool
		want   float64
	}{
		// Bin [0,.1): 0.05, y 0 -> |0-0.05| = 0.05, n=1. Bin [.1,.2):
		// 0.1 and 0.15 (0.1 belongs to the upper bin), mean 0.125, y 1/2
		// -> 0.375, n=2. Bin [.9,1]: 0.95 and 1.0 (1 is in the last bin),
		// mean 0.975, y 1 -> 0.025, n=2. ECE = (0.05 + 0.75 + 0.05)/5 = 0.17.
		{"three bins", []float64{0.05, 0.1, 0.15, 0.95, 1.0}, []bool{no, yes, no, yes, yes}, 0.17},
		// Two examples at 0.5, one positive: |0.5 - 0.5| = 0.
		{"calibrated", []float64{0.5, 0.5}, []bool{yes, no}, 0},
		// One bin, mean p 0.3, observed 1: 0.7.
		{"one example", []float64{0.3}, []bool{yes}, 0.7},
		{"empty", nil, nil, math.NaN()},
	} {
		if got := ECE(tc.probs, tc.labels); !near(got, tc.want, 1e-12) {
			t.Errorf("%s: ECE = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestReliability(t *testing.T) {
	// Four bins of width 0.25: 0.1 and 0.2 in bin 0 (mean 0.15, 1 of 2
	// positive), 0.6 in bin 2, 1.0 in bin 3 (closed at 1), bin 1 empty.
	got := Reliability([]float64{0.1, 0.2, 0.6, 1.0}, []bool{yes, no, no, yes}, 4)
	want := []struct {
		count     int
		mean, pos float64
	}{{2, 0.15, 0.5}, {0, math.NaN(), math.NaN()}, {1, 0.6, 0}, {1, 1, 1}}
	for b, w := range want {
		g := got[b]
		if g.Count != w.count || !near(float64(g.MeanProb), w.mean, 1e-12) || !near(float64(g.FracPos), w.pos, 1e-12) {
			t.Errorf("bin %d = %+v, want count %d mean %v pos %v", b, g, w.count, w.mean, w.pos)
		}
		if g.Lo != float64(b)/4 || g.Hi != float64(b+1)/4 {
			t.Errorf("bin %d is [%v,%v)", b, g.Lo, g.Hi)
		}
	}
}

func TestPrecisionAtTop(t *testing.T) {
	// 20 examples, top 10 % = 2. Score 0.9 (positive) is above the cut;
	// the cut score 0.8 is shared by 3 examples (1 positive) of which 1
	// fits: precision = (1 + 1·1/3) / 2 = 2/3. Base rate 3/20, so lift =
	// (2/3) / (3/20) = 40/9.
	scores := []float64{0.9, 0.8, 0.8, 0.8}
	labels := []bool{yes, no, yes, no}
	for i := 0; i < 16; i++ {
		scores = append(scores, 0.1)
		labels = append(labels, i == 7)
	}
	p, l := PrecisionAtTop(scores, labels, 0.1)
	if !near(p, 2.0/3, 1e-12) || !near(l, 40.0/9, 1e-12) {
		t.Errorf("PrecisionAtTop = %v, %v, want 2/3, 40/9", p, l)
	}
	// The result does not depend on the order of the tied examples.
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 10; trial++ {
		r.Shuffle(len(scores), func(i, j int) {
			scores[i], scores[j] = scores[j], scores[i]
			labels[i], labels[j] = labels[j], labels[i]
		})
		if p2, l2 := PrecisionAtTop(scores, labels, 0.1); p2 != p || l2 != l {
			t.Fatalf("after a shuffle: %v, %v; before %v, %v", p2, l2, p, l)
		}
	}
	// No ties: 11 examples, top 10 % is ⌈1.1⌉ = 2: scores 10 (T) and 9
	// (F): precision 1/2; base 2/11, lift 11/4.
	s2 := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	y2 := []bool{yes, no, no, no, no, no, no, no, no, no, yes}
	if p, l := PrecisionAtTop(s2, y2, 0.1); !near(p, 0.5, 1e-12) || !near(l, 2.75, 1e-12) {
		t.Errorf("no ties: %v, %v, want 0.5, 2.75", p, l)
	}
}

func TestGainCurve(t *testing.T) {
	// Descending 0.9 (T), 0.5 pair (T,F), 0.1 (T): after each distinct
	// score, contacted 1/4, 3/4, 1 and captured 1/3, 2/3, 1.
	got := GainCurve([]float64{0.9, 0.5, 0.5, 0.1}, []bool{yes, yes, no, yes})
	want := []Point{{0, 0}, {0.25, 1.0 / 3}, {0.75, 2.0 / 3}, {1, 1}}
	if len(got) != len(want) {
		t.Fatalf("GainCurve = %v, want %v", got, want)
	}
	for i := range want {
		if !near(got[i].X, want[i].X, 1e-12) || !near(got[i].Y, want[i].Y, 1e-12) {
			t.Errorf("point %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestEvalRule(t *testing.T) {
	// Flagged 3 (rows 0, 1, 4), of them positive 2 (rows 0, 4); positives
	// 3 (rows 0, 2, 4): precision 2/3, recall 2/3, flagged share 3/5.
	r := EvalRule([]bool{yes, yes, no, no, yes}, []bool{yes, no, yes, no, yes})
	if r.Flagged != 3 || r.TruePositives != 2 || r.Positives != 3 || r.N != 5 ||
		!near(float64(r.Precision), 2.0/3, 1e-12) || !near(float64(r.Recall), 2.0/3, 1e-12) || !near(float64(r.FlaggedShare), 0.6, 1e-12) {
		t.Errorf("EvalRule = %+v", r)
	}
	if r := EvalRule([]bool{no}, []bool{no}); !math.IsNaN(float64(r.Precision)) || !math.IsNaN(float64(r.Recall)) {
		t.Errorf("nothing flagged, no positives: %+v, want NaN precision and recall", r)
	}
}

func TestRank(t *testing.T) {
	for _, tc := range []struct {
		scores []float64
		truth  int
		want   int
	}{
		{[]float64{0.1, 0.5, 0.2, 0.2}, 1, 1},     // strictly highest
		{[]float64{0.1, 0.5, 0.5, 0.2}, 1, 2},     // tied with index 2, which goes ahead
		{[]float64{0.1, 0.5, 0.5, 0.2}, 2, 2},     // and the same the other way round
		{[]float64{0.1, 0.5, 0.5, 0.2}, 3, 3},     // behind both 0.5s
		{[]float64{0.25, 0.25, 0.25, 0.25}, 0, 4}, // constant: last
		{[]float64{0, 0, 1}, 2, 1},
	} {
		if got := Rank(tc.scores, tc.truth); got != tc.want {
			t.Errorf("Rank(%v, %d) = %d, want %d", tc.scores, tc.truth, got, tc.want)
		}
	}
	// float32 logits, as training's validation ranks them; a NaN counts as
	// ranked ahead, and a NaN true score is ranked behind everything.
	nan := float32(math.NaN())
	for _, tc := range []struct {
		scores []float32
		truth  int
		want   int
	}{
		{[]float32{1, 3, 2}, 1, 1},
		{[]float32{3, 3, 2}, 0, 2},
		{[]float32{0, 0, 0, 0}, 3, 4},
		{[]float32{nan, 3, 2}, 1, 2},
		{[]float32{1, nan, 2}, 1, 3},
	} {
		if got := Rank(tc.scores, tc.truth); got != tc.want {
			t.Errorf("Rank(%v, %d) = %d, want %d", tc.scores, tc.truth, got, tc.want)
		}
	}
}

func TestRankSummary(t *testing.T) {
	// Ranks 1, 2, 4, 6: HR@1 = 1/4; HR@3 = 2/4; MRR = (1 + 1/2 + 1/4 +
	// 1/6)/4 = 23/48; NDCG@5 = (1/log2 2 + 1/log2 3 + 1/log2 5 + 0)/4.
	m := RankSummary([]int{1, 2, 4, 6})
	want := RankMetrics{N: 4, HR1: 0.25, HR3: 0.5, MRR: 23.0 / 48, NDCG5: Num((1 + 1/math.Log2(3) + 1/math.Log2(5)) / 4)}
	if m.N != want.N || !near(float64(m.HR1), float64(want.HR1), 1e-12) || !near(float64(m.HR3), float64(want.HR3), 1e-12) ||
		!near(float64(m.MRR), float64(want.MRR), 1e-12) || !near(float64(m.NDCG5), float64(want.NDCG5), 1e-12) {
		t.Errorf("RankSummary = %+v, want %+v", m, want)
	}
	// 1/log2 3 = 0.6309..., 1/log2 5 = 0.4307...: NDCG@5 = 0.5154.
	if !near(float64(m.NDCG5), 0.5154, 1e-4) {
		t.Errorf("NDCG@5 = %v, want 0.5154", m.NDCG5)
	}
	if e := RankSummary(nil); e.N != 0 || !math.IsNaN(float64(e.HR3)) {
		t.Errorf("RankSummary(nil) = %+v", e)
	}
}

func TestChurnSummary(t *testing.T) {
	s := []float64{0.1, 0.4, 0.35, 0.8}
	y := []bool{no, no, yes, yes}
	m := ChurnSummary(s, y, true)
	// AUC 0.75 and AP 5/6 as above; Brier (0.01 + 0.16 + 0.4225 + 0.04)/4
	// = 0.158125; top 10 % of 4 is ⌈0.4⌉ = 1 example, 0.8 (positive):
	// precision 1, lift 1/(1/2) = 2.
	if m.N != 4 || m.Positives != 2 || m.BaseRate != 0.5 || !near(float64(m.ROCAUC), 0.75, 1e-12) ||
		!near(float64(m.PRAUC), 5.0/6, 1e-12) || !near(float64(m.Brier), 0.158125, 1e-12) ||
		m.PrecisionTop10 != 1 || m.LiftTop10 != 2 {
		t.Errorf("ChurnSummary = %+v", m)
	}
	// ECE: bins [0,.1) empty, [.1,.2) 0.1 (y 0) -> 0.1, [.3,.4) 0.35 (y 1)
	// -> 0.65, [.4,.5) 0.4 (y 0) -> 0.4, [.8,.9) 0.8 (y 1) -> 0.2: (0.1 +
	// 0.65 + 0.4 + 0.2)/4 = 0.3375.
	if !near(float64(m.ECE), 0.3375, 1e-12) {
		t.Errorf("ECE = %v, want 0.3375", m.ECE)
	}
	if r := ChurnSummary(s, y, false); !math.IsNaN(float64(r.Brier)) || !math.IsNaN(float64(r.ECE)) {
		t.Errorf("non-probabilistic score got Brier %v ECE %v", r.Brier, r.ECE)
	}
}

func TestNumJSON(t *testing.T) {
	in := ChurnMetrics{N: 1, ROCAUC: Num(math.NaN()), Brier: 0.25}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out ChurnMetrics
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(out.ROCAUC)) || out.Brier != 0.25 || out.N != 1 {
		t.Errorf("round trip of %s gave %+v", b, out)
	}
}
