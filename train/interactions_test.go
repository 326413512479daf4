package train

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"retain/datasets/mapping"
	"retain/features"
)

// writeInteractions writes a seeded interaction log (user_id, item_id,
// timestamp, value) to path: users × items, 100 item clusters; each user
// prefers one cluster (70 % of the interactions, the rest from a global
// power-law popularity), starts in the first 60 % of the weeks and interacts
// every ~5 days until a geometric lifetime (mean ~16 interactions, at most 40)
// ends, within weeks weeks from 2024-01-01 (a Monday). Half the timestamps are
// RFC 3339, half unix seconds; value is a fixed price per item. It returns
// the rows written and the distinct items used.
func writeInteractions(t testing.TB, path string, users, items, weeks int, seed uint64) (rows, used int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "user_id,item_id,timestamp,value")
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 7*weeks)
	const clusters = 100
	seen := map[int]bool{}
	for u := range users {
		pref := rng.IntN(clusters)
		ts := start.Add(time.Duration(rng.Float64() * float64(7*24*time.Hour) * float64(weeks) * 0.6))
		for k := 0; k < 40 && ts.Before(end); k++ {
			var item int
			if rng.Float64() < 0.7 {
				item = (pref + clusters*rng.IntN(items/clusters)) % items
			} else {
				item = min(int(float64(items)*math.Pow(rng.Float64(), 3)), items-1)
			}
			seen[item] = true
			stamp := ts.Format(time.RFC3339)
			if rng.IntN(2) == 0 {
				stamp = fmt.Sprint(ts.Unix())
			}
			fmt.Fprintf(w, "u%05d,i%05d,%s,%d.%02d\n", u, item, stamp, 1+item%20, item%100)
			rows++
			if rng.Float64() < 0.06 {
				break
			}
			ts = ts.Add(time.Duration(rng.ExpFloat64() * float64(5*24*time.Hour)))
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return rows, len(seen)
}

// TestInteractionsLargeVocabulary runs the generic interaction pipeline
// (import with the built-in interactions_value mapping, features with items
// as classes, a 1-epoch LSTM, Evaluate) on a generated log of 2,000 users
// and 3,000 items, and checks that every item became a course and a class
// of the next-class head, and that the next-class metrics rank all items.
// It reports each stage's time and the heap after each stage.
func TestInteractionsLargeVocabulary(t *testing.T) {
	const users, items = 2000, 3000
	tmp := t.TempDir()
	logPath := filepath.Join(tmp, "interactions.csv")
	rows, used := writeInteractions(t, logPath, users, items, 20, 7)
	stage := func(name string, t0 time.Time) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("%-8s %6.2fs  heap in use %4d MiB, total allocated %5d MiB", name, time.Since(t0).Seconds(), ms.HeapInuse>>20, ms.TotalAlloc>>20)
	}

	t0 := time.Now()
	m, err := mapping.Builtin("interactions_value")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "data")
	rep, err := mapping.Import(m, []string{logPath}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	stage("import", t0)
	if rep.Imported != rows || rep.Visits != rows || rep.Transactions != rows || rep.Courses != used || rep.Members != users {
		t.Fatalf("import: %d of %d rows, %d visits, %d transactions, %d courses (want %d), %d members", rep.Imported, rows, rep.Visits, rep.Transactions, rep.Courses, used, rep.Members)
	}

	t0 = time.Now()
	cfg := features.DefaultConfig()
	// 20 weeks of data: 8-week sequences, a 4-week horizon, cutoffs every
	// 2 weeks from week 8; 30 % of the users test, 10 % validation.
	cfg.Weeks, cfg.HorizonWeeks, cfg.CutoffEveryWeeks = 8, 4, 2
	cfg.Split = features.SplitConfig{Mode: features.SplitModeMember, TestFraction: 0.3, ValidationFraction: 0.1, Seed: 1}
	fpath := filepath.Join(tmp, "f.rtfs")
	br, err := features.BuildDataset(dir, cfg, fpath)
	if err != nil {
		t.Fatal(err)
	}
	stage("features", t0)
	if br.Courses != used {
		t.Fatalf("features read %d courses, want %d", br.Courses, used)
	}

	t0 = time.Now()
	o := DefaultOptions()
	o.Epochs, o.Hidden, o.BatchSize = 1, 16, 128
	res, err := Train(context.Background(), fpath, &o)
	if err != nil {
		t.Fatal(err)
	}
	stage("train", t0)
	if got := len(res.Bundle.Spec.Categories); got != used {
		t.Fatalf("the bundle predicts %d categories, want one per item (%d)", got, used)
	}

	t0 = time.Now()
	ev, err := Evaluate(context.Background(), fpath, BundlePredictor(res.Bundle), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	stage("evaluate", t0)
	if ev.Counts.Next == 0 || len(ev.Next) == 0 || len(ev.Categories) != used {
		t.Fatalf("evaluate: %d next-class examples, %d methods, %d categories", ev.Counts.Next, len(ev.Next), len(ev.Categories))
	}
	for _, r := range ev.Next {
		// A rank among `used` items: HR@1 ≤ HR@3 ≤ 1, MRR ≥ 1/used.
		a := r.All
		if !(a.HR1 <= a.HR3 && a.HR3 <= 1 && float64(a.MRR) >= 1/float64(used) && a.MRR <= 1) {
			t.Errorf("%s: %+v", r.Method, a)
		}
		t.Logf("next item %-14s HR@1 %.3f HR@3 %.3f MRR %.3f NDCG@5 %.3f over %d items", r.Method, a.HR1, a.HR3, a.MRR, a.NDCG5, used)
	}
	t.Logf("%d users, %d items used, %d rows; %d test next-class examples", users, used, rows, ev.Counts.Next)
}
