package train

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"retain/datasets"
	"retain/datasets/mapping"
	"retain/features"
)

// TestInteractionsLastWeekOut runs the leave-last-week-out protocol on a
// generated interaction log (400 users, 300 items, 16 weeks from
// 2024-01-01, a Monday): import, BuildLastWeekOut, a 1-epoch LSTM,
// Evaluate. It checks every test example against the raw CSV read here
// independently: one test example per user with interactions in two or
// more weeks, at the Monday of the user's last active week, whose target
// is the item of the user's earliest interaction in that week; and that no
// training example of a user is at or after that user's test cutoff.
func TestInteractionsLastWeekOut(t *testing.T) {
	tmp := t.TempDir()
	logPath := filepath.Join(tmp, "interactions.csv")
	writeInteractions(t, logPath, 400, 300, 16, 11)
	m, err := mapping.Builtin("interactions_value")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "data")
	if _, err := mapping.Import(m, []string{logPath}, dir, nil); err != nil {
		t.Fatal(err)
	}

	// The raw log: per user, the week (Monday, UTC) of the last
	// interaction, the earliest interaction in that week, and whether any
	// interaction is before that week.
	type last struct {
		week    time.Time
		first   time.Time
		item    string
		earlier bool
	}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		ts   time.Time
		item string
	}
	byUser := map[string][]ev{}
	for _, r := range rows[1:] {
		ts, err := time.Parse(time.RFC3339, r[2])
		if err != nil {
			sec, err2 := strconv.ParseInt(r[2], 10, 64)
			if err2 != nil {
				t.Fatalf("timestamp %q: %v", r[2], err)
			}
			ts = time.Unix(sec, 0)
		}
		byUser[r[0]] = append(byUser[r[0]], ev{ts.UTC(), r[1]})
	}
	monday := func(ts time.Time) time.Time {
		d := time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	}
	want := map[string]last{}
	for u, evs := range byUser {
		var l last
		for _, e := range evs {
			if w := monday(e.ts); w.After(l.week) {
				l.week = w
			}
		}
		for _, e := range evs {
			switch {
			case monday(e.ts).Before(l.week):
				l.earlier = true
			case l.first.IsZero() || e.ts.Before(l.first):
				l.first, l.item = e.ts, e.item
			}
		}
		if l.earlier {
			want[u] = l
		}
	}

	cfg := features.DefaultConfig()
	cfg.Weeks, cfg.HorizonWeeks, cfg.CutoffEveryWeeks = 6, 3, 1
	cfg.Split = features.SplitConfig{Mode: features.SplitModeLastWeek, ValidationFraction: 0.15, Seed: 1}
	fpath := filepath.Join(tmp, "f.rtfs")
	d, err := datasets.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := features.BuildLastWeekOut(features.DirSource(d, nil), cfg, fpath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Test != len(want) || rep.Test+rep.OneWeek+rep.NoVisits != 400 {
		t.Fatalf("%d test users (%d with one active week, %d without visits); the raw log has %d with two or more weeks", rep.Test, rep.OneWeek, rep.NoVisits, len(want))
	}

	r, err := features.OpenFile(fpath)
	if err != nil {
		t.Fatal(err)
	}
	courses := r.Header().Spec.Courses
	tested := map[string]bool{}
	var ex features.Example
	for {
		err := r.Next(&ex)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[ex.MemberID]
		if !ok {
			t.Fatalf("example of %s, who has no two active weeks", ex.MemberID)
		}
		switch ex.Split {
		case features.SplitTest:
			if tested[ex.MemberID] {
				t.Fatalf("%s tested twice", ex.MemberID)
			}
			tested[ex.MemberID] = true
			if !ex.Cutoff.Equal(w.week) || ex.Label.NextCourse < 0 || courses[ex.Label.NextCourse] != w.item {
				t.Fatalf("%s: test at %s, target %d; want %s, %s", ex.MemberID, ex.Cutoff, ex.Label.NextCourse, w.week, w.item)
			}
		case features.SplitTrain, features.SplitValidation:
			if !ex.Cutoff.Before(w.week) {
				t.Fatalf("%s: training example at %s, not before the test cutoff %s", ex.MemberID, ex.Cutoff, w.week)
			}
		default:
			t.Fatalf("%s at %s: split %s", ex.MemberID, ex.Cutoff, ex.Split)
		}
	}
	r.Close()
	if len(tested) != len(want) {
		t.Fatalf("%d users tested, want %d", len(tested), len(want))
	}

	o := DefaultOptions()
	o.Epochs, o.Hidden, o.BatchSize = 1, 8, 128
	res, err := Train(context.Background(), fpath, &o)
	if err != nil {
		t.Fatal(err)
	}
	evr, err := Evaluate(context.Background(), fpath, BundlePredictor(res.Bundle), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if evr.Counts.Next != len(want) || evr.Counts.Churn != 0 {
		t.Errorf("evaluate: %d next-item examples (want %d), %d churn examples (want 0: withheld)", evr.Counts.Next, len(want), evr.Counts.Churn)
	}
	for _, r := range evr.Next {
		t.Logf("next item %-14s HR@1 %.3f HR@3 %.3f MRR %.3f NDCG@5 %.3f", r.Method, r.All.HR1, r.All.HR3, r.All.MRR, r.All.NDCG5)
	}
}
