package synth

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"
)

// TestNextCourseBound measures the observable bound of the next-course
// prediction on the default data's test split (RETAIN_BOUND=1; a few
// minutes on 2 cores): the HR@3 of the Bayes posterior predictive given the
// member's observed classes, beside the oracle's, the latent-known
// predictive's and the most-frequent baseline's, on the same examples as
// retain evaluate's next-course table (make demo's test split).
// RETAIN_BOUND_DUMP=FILE also writes the examples as member,cutoff,label
// lines, to compare with the test split of a features file.
func TestNextCourseBound(t *testing.T) {
	if os.Getenv("RETAIN_BOUND") == "" {
		t.Skip("set RETAIN_BOUND=1 to measure the observable bound (minutes); make eval-bound")
	}
	cfg := DefaultConfig()
	test := []time.Time{ // make demo's test split (retain evaluate prints it)
		time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 9, 22, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 10, 20, 0, 0, 0, 0, time.UTC),
	}
	run := &posteriorRun{steps: 1024, weeks: map[int]bool{}}
	if s := os.Getenv("RETAIN_BOUND_STEPS"); s != "" {
		fmt.Sscan(s, &run.steps)
	}
	for _, c := range test {
		run.weeks[int(c.Sub(cfg.Start).Hours()/24/7)] = true
	}
	var sink MemorySink
	start := time.Now()
	if _, err := generate(cfg, &sink, run); err != nil {
		t.Fatal(err)
	}
	t.Logf("generated with the bound (%d steps) in %v", run.steps, time.Since(start).Round(time.Second))

	var pop [numCats]float64
	for k := range numCats {
		pop[k] = cats[k].pop / popSum
	}
	methods := []method{
		{"oracle", func(tr *Truth) []float64 { return tr.NextCategory }},
		{"latent known", func(tr *Truth) []float64 { return tr.post.known }},
		{"observable bound", func(tr *Truth) []float64 { return tr.post.post }},
		{"most frequent", func(tr *Truth) []float64 {
			s := make([]float64, numCats)
			for k := range s {
				s[k] = float64(tr.post.counts[k]) + pop[k]/2
			}
			return s
		}},
	}
	if f := os.Getenv("RETAIN_BOUND_DUMP"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sink.TruthRows {
			tr := &sink.TruthRows[i]
			if tr.post != nil && tr.post.label >= 0 && tr.NextCategory != nil {
				fmt.Fprintf(out, "%s,%s,%s\n", tr.MemberID, tr.Cutoff.Format("2006-01-02"), cats[tr.post.label].name)
			}
		}
		out.Close()
	}
	nextCourseTable(t, sink.TruthRows, methods)
}

// nextCourseTable logs HR@3 of methods by classes in the 26-week window on
// the rows with a bound, a label and an oracle distribution: the examples
// of retain evaluate's next-course table.
func nextCourseTable(t *testing.T, rows []Truth, methods []method) {
	type bin struct {
		name   string
		lo, hi int
	}
	bins := []bin{{"0", 0, 0}, {"1-5", 1, 5}, {"6-15", 6, 15}, {"16-30", 16, 30}, {"31-60", 31, 60}, {"61+", 61, 1 << 30}}
	hits := make([]float64, len(methods))
	binHits := make([][][2]float64, len(methods))
	for i := range methods {
		binHits[i] = make([][2]float64, len(bins))
	}
	var n, optOracle float64
	var accept []float64
	for i := range rows {
		tr := &rows[i]
		if tr.post == nil || tr.post.label < 0 || tr.NextCategory == nil {
			continue
		}
		n++
		accept = append(accept, tr.post.accept)
		var total int
		for _, c := range tr.post.counts {
			total += c
		}
		b := slices.IndexFunc(bins, func(b bin) bool { return total >= b.lo && total <= b.hi })
		for mi, m := range methods {
			h := hit3(m.score(tr), int(tr.post.label), false)
			hits[mi] += h
			binHits[mi][b][0] += h
			binHits[mi][b][1]++
		}
		optOracle += hit3(tr.NextCategory, int(tr.post.label), true)
	}
	slices.Sort(accept)
	t.Logf("%v next-course examples (retain evaluate: 6669 at make demo); random-walk acceptance min %.2f, 5th percentile %.2f, median %.2f", n, accept[0], accept[len(accept)/20], accept[len(accept)/2])
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-18s %8s", "method", "HR@3")
	for _, b := range bins {
		fmt.Fprintf(&sb, " %8s", b.name)
	}
	fmt.Fprintf(&sb, "\n%-18s %8.0f", "examples", n)
	for _, b := range binHits[0] {
		fmt.Fprintf(&sb, " %8.0f", b[1])
	}
	for mi, m := range methods {
		fmt.Fprintf(&sb, "\n%-18s %8.4f", m.name, hits[mi]/n)
		for _, b := range binHits[mi] {
			fmt.Fprintf(&sb, " %8.4f", b[0]/b[1])
		}
	}
	fmt.Fprintf(&sb, "\noracle with its ties broken in its favour: %.4f", optOracle/n)
	t.Log(sb.String())
}

type method struct {
	name  string
	score func(tr *Truth) []float64
}

// hit3 reports whether category label ranks in the top 3 of scores, ties
// counted against it (or for it with optimistic).
func hit3(scores []float64, label int, optimistic bool) float64 {
	above := 0
	for k, s := range scores {
		if k == label {
			continue
		}
		if s > scores[label] || (!optimistic && s == scores[label]) {
			above++
		}
	}
	if above < 3 {
		return 1
	}
	return 0
}

// TestPosteriorLearns checks the observable bound's sampler on a small gym:
// every posterior predictive is a distribution, and the posterior comes
// closer to the member's true row (the latent-known predictive) the more
// classes the member has taken. With the likelihood left out every
// posterior would be the prior predictive, as far from a long-standing
// member's row as from a new one's.
func TestPosteriorLearns(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Members = 300
	cfg.TruthSims = 20
	cuts := cfg.Cutoffs()
	last := cuts[len(cuts)-1]
	run := &posteriorRun{steps: 64, weeks: map[int]bool{int(last.Sub(cfg.Start).Hours() / 24 / 7): true}}
	var sink MemorySink
	if _, err := generate(cfg, &sink, run); err != nil {
		t.Fatal(err)
	}
	var light, heavy []float64
	for i := range sink.TruthRows {
		pr := sink.TruthRows[i].post
		if pr == nil {
			continue
		}
		var s, tv float64
		for k, v := range pr.post {
			if v < 0 || math.IsNaN(v) {
				t.Fatalf("%s: posterior %v", sink.TruthRows[i].MemberID, pr.post)
			}
			s += v
			tv += math.Abs(v-pr.known[k]) / 2
		}
		if math.Abs(s-1) > 1e-9 {
			t.Fatalf("%s: posterior sums to %v", sink.TruthRows[i].MemberID, s)
		}
		switch {
		case pr.observed <= 3:
			light = append(light, tv)
		case pr.observed >= 60:
			heavy = append(heavy, tv)
		}
	}
	if len(light) < 10 || len(heavy) < 10 {
		t.Fatalf("%d light and %d heavy members: too few to compare", len(light), len(heavy))
	}
	l, h := floats.Sum(light)/float64(len(light)), floats.Sum(heavy)/float64(len(heavy))
	t.Logf("mean total variation from the true row: %.3f for %d members with at most 3 classes, %.3f for %d with 60 or more", l, len(light), h, len(heavy))
	if h > l/2 {
		t.Errorf("heavy members' posterior is %.3f from their row, light members' %.3f: want less than half", h, l)
	}
}
