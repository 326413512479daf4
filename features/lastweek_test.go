package features

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"retain/datasets"
)

// TestBuildLastWeekOut checks the leave-last-week-out file on hand-made
// members (weeks start on Monday; 2024-01-01 is a Monday). Config: 2-week
// sequences and horizon, a cutoff every week; the first cutoff is 2 weeks
// after the start of the data, 2024-01-15.
//
//   - ann visits Y1 on 01-03 (week of 01-01), S1 on 01-17 (week of 01-15),
//     B1 on 01-31 and Y1 on 02-01 (week of 01-29). Her test cutoff is
//     01-29, the target B1 (the first class of her last active week).
//     Training cutoffs before 01-29: 01-15 and 01-22. At 01-15 the next
//     class is S1 and the horizon [01-15, 01-29) ends at the test cutoff:
//     labelled, not churned. At 01-22 the horizon runs past 01-29: the
//     churn label is censored, and the next class is none — her next visit
//     is the test target, which no training example may see.
//   - bob visits only in the week of 02-05: no history before it, no test.
//   - cat never visits.
//   - dan visits S1 on 01-02 and B1 on 02-20 (week of 02-19): test cutoff
//     02-19, target B1. Training cutoffs 01-15 .. 02-12: at 01-15 (a visit
//     in the 2 weeks before it) the horizon [01-15, 01-29) ends before
//     02-19, so its label is observed: churned, no next class. From 01-22
//     on he has not visited for a horizon, so he is already churned under
//     the inactivity label: excluded, and dropped.
func TestBuildLastWeekOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Weeks, cfg.HorizonWeeks, cfg.CutoffEveryWeeks = 2, 2, 1
	cfg.Split = SplitConfig{Mode: SplitModeLastWeek}
	member := func(id string) datasets.Member {
		return datasets.Member{MemberID: id, JoinedAt: date(2024, 1, 1), HomeClub: "online", ContractType: datasets.ContractPayAsYouGo, ContractStart: date(2024, 1, 1)}
	}
	var att []datasets.Attendance
	visit := func(id, course string, ts time.Time) {
		att = append(att, datasets.Attendance{EventID: id + ts.Format(time.DateOnly), MemberID: id, TS: ts, CourseID: course, Source: datasets.SourceApp})
	}
	visit("ann", "Y1", at(2024, 1, 3, 10))
	visit("ann", "S1", at(2024, 1, 17, 10))
	visit("ann", "Y1", at(2024, 2, 1, 10)) // out of order on purpose
	visit("ann", "B1", at(2024, 1, 31, 10))
	visit("bob", "Y1", at(2024, 2, 5, 10))
	visit("bob", "S1", at(2024, 2, 8, 10))
	visit("dan", "S1", at(2024, 1, 2, 10))
	visit("dan", "B1", at(2024, 2, 20, 10))
	src := &MemorySource{
		Man:            datasets.Manifest{Version: 1, MinorUnits: 2, Start: date(2024, 1, 1), End: date(2024, 3, 4)},
		MemberRows:     []datasets.Member{member("ann"), member("bob"), member("cat"), member("dan")},
		CourseRows:     testCourses,
		AttendanceRows: att,
	}
	out := filepath.Join(t.TempDir(), "lw.rtfs")
	rep, err := BuildLastWeekOut(src, cfg, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Test != 2 || rep.OneWeek != 1 || rep.NoVisits != 1 {
		t.Errorf("test %d, one week %d, no visits %d; want 2, 1, 1", rep.Test, rep.OneWeek, rep.NoVisits)
	}
	type key struct {
		id     string
		cutoff string
	}
	type want struct {
		split    Split
		next     string // course id; "" for none
		churn    int8
		censored bool
	}
	wants := map[key]want{
		{"ann", "2024-01-15"}: {SplitTrain, "S1", 0, false},
		{"ann", "2024-01-22"}: {SplitTrain, "", -1, true},
		{"ann", "2024-01-29"}: {SplitTest, "B1", -1, true},
		{"dan", "2024-01-15"}: {SplitTrain, "", 1, false},
		{"dan", "2024-02-19"}: {SplitTest, "B1", -1, true},
	}
	r, err := OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	courses := r.Header().Spec.Courses
	got := 0
	var ex Example
	for {
		err := r.Next(&ex)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k := key{ex.MemberID, ex.Cutoff.Format(time.DateOnly)}
		w, ok := wants[k]
		if !ok {
			t.Errorf("unexpected example %v (split %s)", k, ex.Split)
			continue
		}
		got++
		next := ""
		if ex.Label.NextCourse >= 0 {
			next = courses[ex.Label.NextCourse]
		}
		// dan's test example would be excluded as already churned (no
		// visit for a horizon before 02-19); the test keeps him.
		if ex.Split != w.split || next != w.next || ex.Label.Churn != w.churn || ex.Label.Censored != w.censored || (w.split == SplitTest && ex.Label.Excluded) {
			t.Errorf("%v: split %s next %q churn %d censored %v; want %+v", k, ex.Split, next, ex.Label.Churn, ex.Label.Censored, w)
		}
		// The test example's history: ann's last week before 01-29 (the
		// week of 01-22) has no visit; the week of 01-15 has S1.
		if k == (key{"ann", "2024-01-29"}) && ex.Indicators.RecencyDays != 12 {
			t.Errorf("ann at 01-29: recency %d days, want 12 (last visit 01-17 before the cutoff)", ex.Indicators.RecencyDays)
		}
	}
	if got != len(wants) {
		t.Errorf("%d of the %d expected examples", got, len(wants))
	}

	// Build refuses the mode; the member split does not take it.
	if _, err := Build(src, cfg, filepath.Join(t.TempDir(), "x.rtfs"), nil); !errors.Is(err, ErrConfig) {
		t.Errorf("Build with --split last-week: %v, want ErrConfig", err)
	}
	cfg.Split.Mode = SplitModeMember
	if _, err := BuildLastWeekOut(src, cfg, out, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("BuildLastWeekOut with the member split: %v, want ErrConfig", err)
	}
}
