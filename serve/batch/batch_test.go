package batch_test

import (
	"context"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"retain/datasets"
	"retain/features"
	"retain/serve"
	"retain/serve/batch"
)

func run(t *testing.T, o batch.Options) (*batch.Report, []batch.Row) {
	t.Helper()
	if o.Model == "" {
		o.Model = fix.bundle
	}
	if o.Data == "" {
		o.Data = fix.dir
	}
	if o.Out == "" {
		o.Out = filepath.Join(t.TempDir(), "scores."+cmpOr(o.Format, "parquet"))
	}
	rep, err := batch.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var rows []batch.Row
	if o.Format == "csv" {
		rows, err = batch.ReadCSV(o.Out)
	} else {
		rows, err = batch.ReadParquet(o.Out)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != rep.Scored {
		t.Fatalf("%d rows in %s, report says %d", len(rows), o.Out, rep.Scored)
	}
	return rep, rows
}

func cmpOr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// TestRunMatchesScore runs the batch at the data's end (the default) and at
// a Thursday inside the data, with small batches (so that chunks end
// mid-way) and two workers, and checks each row against
// serve.BundleScorer.Score of the member's history before the as-of time
// (as retain serve scores a stored member): probability within 1e-6, the
// same risk level, flags, tier, top-3 courses, reasons in order and
// action. The members without a row must be exactly those Compute calls not
// joined or already churned, counted by reason in the report.
func TestRunMatchesScore(t *testing.T) {
	courses := map[string]datasets.Course{}
	for _, c := range fix.sink.CourseRows {
		courses[c.CourseID] = c
	}
	risk := serve.DefaultOptions().Risk
	sc, err := serve.NewBundleScorer(fix.bundle, &serve.BundleOptions{HighRisk: risk.High,
		Catalog: func([]string) (map[string]datasets.Course, error) { return courses, nil }})
	if err != nil {
		t.Fatal(err)
	}
	spec := *sc.Bundle().Spec
	spec.Config.DataEnd = time.Time{}
	fz, err := features.NewFeaturizer(&spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, asOf := range []time.Time{{}, fix.cfg.Start.AddDate(0, 0, 7*25+3)} {
		rep, rows := run(t, batch.Options{AsOf: asOf, BatchMembers: 16, Workers: 2})
		if asOf.IsZero() {
			asOf = fix.end
		}
		if !rep.AsOf.Equal(asOf) {
			t.Fatalf("report as of %s, want %s", rep.AsOf, asOf)
		}
		byID := map[string]*batch.Row{}
		for i := range rows {
			byID[rows[i].MemberID] = &rows[i]
		}
		skipped := map[string]int{}
		levels := map[string]int{}
		var order []string
		for _, h := range fix.histories(asOf) {
			id := h.Member.MemberID
			row := byID[id]
			ex, err := fz.Compute(h, asOf)
			switch {
			case errors.Is(err, features.ErrNotJoined):
				skipped["not_joined"]++
			case err != nil:
				t.Fatal(err)
			case fz.Status(ex) != "":
				skipped[fz.Status(ex)]++
			}
			if err != nil || fz.Status(ex) != "" {
				if row != nil {
					t.Fatalf("%s: skipped by Compute but has a row", id)
				}
				continue
			}
			if row == nil {
				t.Fatalf("%s: active but no row", id)
			}
			order = append(order, id)
			want, err := sc.Score(context.Background(), (*serve.History)(h), asOf)
			if err != nil {
				t.Fatal(err)
			}
			compareRow(t, row, want, risk, h.Member.HomeClub, asOf, sc.Info().Version)
			levels[row.RiskLevel]++
		}
		for i := range rows {
			if rows[i].MemberID != order[i] {
				t.Fatalf("row %d is %s, want %s (members-table order)", i, rows[i].MemberID, order[i])
			}
		}
		if !maps.Equal(rep.Skipped, skipped) {
			t.Fatalf("report skipped %v, want %v", rep.Skipped, skipped)
		}
		if rep.Members != len(fix.sink.MemberRows) || rep.Scored+sum(rep.Skipped)+sum(rep.LeftOut) != rep.Members {
			t.Fatalf("report: %d members, %d scored, skipped %v, left out %v", rep.Members, rep.Scored, rep.Skipped, rep.LeftOut)
		}
		t.Logf("as of %s: %d rows, skipped %v, risk levels %v", asOf.Format(time.DateOnly), len(rows), rep.Skipped, levels)
		if len(levels) < 2 || rep.Skipped["already_churned"] == 0 {
			t.Errorf("the fixture does not exercise several risk levels and the churned skip")
		}
	}
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

func compareRow(t *testing.T, r *batch.Row, s *serve.Score, risk serve.RiskThresholds, club string, asOf time.Time, version string) {
	t.Helper()
	const tol = 1e-6
	id := r.MemberID
	if math.Abs(r.ChurnProbability-s.ChurnProbability) > tol || r.RiskLevel != risk.Level(s.ChurnProbability) {
		t.Fatalf("%s: probability %v (%s), Score %v", id, r.ChurnProbability, r.RiskLevel, s.ChurnProbability)
	}
	if r.Club != club || !r.AsOfTime().Equal(asOf) || r.ModelVersion != version || r.Tier != s.Tier {
		t.Fatalf("%s: club %q as of %s version %s tier %s", id, r.Club, r.AsOfTime(), r.ModelVersion, r.Tier)
	}
	if !(len(r.Flags) == 0 && len(s.Flags) == 0) && !slices.Equal(r.Flags, s.Flags) {
		t.Fatalf("%s: flags %v, Score %v", id, r.Flags, s.Flags)
	}
	if r.ActionKind != s.Action.Kind || r.ActionStage != s.Action.Stage || r.ActionOffer != s.Action.OfferText {
		t.Fatalf("%s: action %s/%s/%q, Score %+v", id, r.ActionKind, r.ActionStage, r.ActionOffer, s.Action)
	}
	courses := []struct {
		id string
		p  float64
	}{{r.NextCourse1, r.NextCourse1Probability}, {r.NextCourse2, r.NextCourse2Probability}, {r.NextCourse3, r.NextCourse3Probability}}
	for i, c := range courses {
		var want serve.CourseProbability
		if i < len(s.NextCourses) {
			want = s.NextCourses[i]
		}
		if c.id != want.CourseID || math.Abs(c.p-want.Probability) > tol {
			t.Fatalf("%s: course %d %s %v, Score %+v", id, i+1, c.id, c.p, want)
		}
	}
	reasons := []struct {
		name string
		c    float64
	}{{r.Reason1, r.Reason1Contribution}, {r.Reason2, r.Reason2Contribution}, {r.Reason3, r.Reason3Contribution}}
	for i, x := range reasons {
		var want serve.Reason
		if i < len(s.Reasons) {
			want = s.Reasons[i]
		}
		if x.name != want.Name || math.Abs(x.c-want.Contribution) > tol {
			t.Fatalf("%s: reason %d %s %v, Score %+v", id, i+1, x.name, x.c, want)
		}
	}
}

// TestShardUnion: the rows of shards 0/3, 1/3 and 2/3 are disjoint, and
// their union, in members-table order, is the unsharded run's row for
// row; each run counts the members of the other shards as left out.
func TestShardUnion(t *testing.T) {
	_, all := run(t, batch.Options{Format: "csv"})
	pos := map[string]int{}
	for i, r := range all {
		pos[r.MemberID] = i
	}
	var union []batch.Row
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		rep, rows := run(t, batch.Options{Format: "csv", Shard: i, Shards: 3})
		for _, r := range rows {
			if seen[r.MemberID] {
				t.Fatalf("%s in two shards", r.MemberID)
			}
			seen[r.MemberID] = true
			if batch.Shard(r.MemberID, 3) != i {
				t.Fatalf("%s in shard %d, hash says %d", r.MemberID, i, batch.Shard(r.MemberID, 3))
			}
		}
		if rep.LeftOut["other_shard"] == 0 || rep.Scored+sum(rep.Skipped)+sum(rep.LeftOut) != rep.Members {
			t.Fatalf("shard %d: report %+v", i, rep)
		}
		t.Logf("shard %d/3: %d rows", i, len(rows))
		union = append(union, rows...)
	}
	slices.SortFunc(union, func(a, b batch.Row) int { return pos[a.MemberID] - pos[b.MemberID] })
	if !reflect.DeepEqual(union, all) {
		t.Fatalf("union of the shards (%d rows) differs from the unsharded run (%d rows)", len(union), len(all))
	}
}

// TestShardHash checks Shard against the published FNV-1a 64 test vectors
// (http://www.isthe.com/chongo/tech/comp/fnv/: "" -> cbf29ce484222325,
// "a" -> af63dc4c8601ec8c, "foobar" -> 85944171f73967e8).
func TestShardHash(t *testing.T) {
	for _, c := range []struct {
		s string
		h uint64
	}{{"", 0xcbf29ce484222325}, {"a", 0xaf63dc4c8601ec8c}, {"foobar", 0x85944171f73967e8}} {
		for _, n := range []int{1, 2, 7, 1000} {
			if got := batch.Shard(c.s, n); got != int(c.h%uint64(n)) {
				t.Errorf("Shard(%q, %d) = %d, want %d", c.s, n, got, c.h%uint64(n))
			}
		}
	}
}

// TestCSVMatchesParquet: the same run written as CSV and as Parquet reads
// back to identical rows (floats in CSV are written in the shortest form
// that reads back exactly).
func TestCSVMatchesParquet(t *testing.T) {
	_, pq := run(t, batch.Options{Format: "parquet"})
	_, cs := run(t, batch.Options{Format: "csv"})
	for i := range pq { // Parquet reads an empty list back as empty, CSV as nil
		if len(pq[i].Flags) == 0 {
			pq[i].Flags = nil
		}
	}
	if !reflect.DeepEqual(pq, cs) {
		for i := range pq {
			if !reflect.DeepEqual(pq[i], cs[i]) {
				t.Fatalf("row %d: parquet %+v\ncsv %+v", i, pq[i], cs[i])
			}
		}
		t.Fatalf("parquet %d rows, csv %d", len(pq), len(cs))
	}
	if len(pq) == 0 {
		t.Fatal("no rows")
	}
}

// TestClub: --club keeps one club's members; the others are counted.
func TestClub(t *testing.T) {
	club := fix.sink.MemberRows[0].HomeClub
	rep, rows := run(t, batch.Options{Club: club})
	want := 0
	for _, m := range fix.sink.MemberRows {
		if m.HomeClub != club {
			want++
		}
	}
	if rep.LeftOut["other_club"] != want || want == 0 {
		t.Fatalf("left out %v, want %d of other clubs", rep.LeftOut, want)
	}
	for _, r := range rows {
		if r.Club != club {
			t.Fatalf("%s of club %s", r.MemberID, r.Club)
		}
	}
}

// TestBadInputs: each bad input fails with an error that names the
// problem, and leaves no output file behind.
func TestBadInputs(t *testing.T) {
	tmp := t.TempDir()
	notDir := filepath.Join(tmp, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(tmp, "junk.rtmb")
	if err := os.WriteFile(junk, []byte("not a bundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out.parquet")
	for _, c := range []struct {
		name string
		o    batch.Options
		want string
	}{
		{"no model", batch.Options{Data: fix.dir, Out: out}, "no model"},
		{"missing model", batch.Options{Model: filepath.Join(tmp, "nope.rtmb"), Data: fix.dir, Out: out}, "nope.rtmb"},
		{"corrupt model", batch.Options{Model: junk, Data: fix.dir, Out: out}, "junk.rtmb"},
		{"missing data", batch.Options{Model: fix.bundle, Data: filepath.Join(tmp, "nodata"), Out: out}, "nodata"},
		{"data is a file", batch.Options{Model: fix.bundle, Data: notDir, Out: out}, "file"},
		{"no output", batch.Options{Model: fix.bundle, Data: fix.dir}, "no output"},
		{"output dir missing", batch.Options{Model: fix.bundle, Data: fix.dir, Out: filepath.Join(tmp, "no", "out.csv")}, "no"},
		{"bad format", batch.Options{Model: fix.bundle, Data: fix.dir, Out: out, Format: "xlsx"}, "xlsx"},
		{"shard 3/2", batch.Options{Model: fix.bundle, Data: fix.dir, Out: out, Shard: 3, Shards: 2}, "3/2"},
		{"shard 1/0", batch.Options{Model: fix.bundle, Data: fix.dir, Out: out, Shard: 1, Shards: 0}, "1/0"},
		{"unknown club", batch.Options{Model: fix.bundle, Data: fix.dir, Out: out, Club: "atlantis"}, "atlantis"},
		{"bad risk", batch.Options{Model: fix.bundle, Data: fix.dir, Out: out, Risk: serve.RiskThresholds{Medium: 0.7, High: 0.5}}, "risk"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := batch.Run(context.Background(), c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 2 {
				t.Fatalf("files left behind: %v", ents)
			}
		})
	}
	for _, s := range []string{"3/2", "0/0", "2/2", "-1/2", "a/b", "1", "", "1/2/3"} {
		if _, _, err := batch.ParseShard(s); err == nil || !strings.Contains(err.Error(), "shard") {
			t.Errorf("ParseShard(%q): error %v", s, err)
		}
	}
	if i, n, err := batch.ParseShard("2/3"); err != nil || i != 2 || n != 3 {
		t.Errorf("ParseShard(2/3) = %d, %d, %v", i, n, err)
	}
}
