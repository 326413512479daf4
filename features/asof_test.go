package features

import (
	"errors"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"retain/datasets"
)

// TestAsOfMatchesCompute reads the small synthetic set through ReadAsOf at
// cutoffs that are not week starts (and with events after them in the
// data) and checks each member's example against Compute of the member's
// whole history: bit-identical Seq, Mask, Static, Indicators and Label,
// and the same not-joined members. Attended is checked against a count of
// the history's visits before the cutoff.
func TestAsOfMatchesCompute(t *testing.T) {
	s := loadSmallSynth(t)
	for _, cfgEnd := range []bool{false, true} {
		cfg := DefaultConfig()
		if cfgEnd {
			cfg = s.config()
		}
		f := s.featurizer(t, cfg)
		for _, at := range []time.Time{
			s.cfg.Start.AddDate(0, 0, 7*40+3), // a Thursday
			s.cfg.End(),
		} {
			a, err := ReadAsOf(s.source(), f.Spec(), at, at, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a.Len() != len(s.ids) {
				t.Fatalf("%d members, want %d", a.Len(), len(s.ids))
			}
			rep := a.Report()
			if rep.Attendance != int64(len(s.sink.AttendanceRows)) || rep.Transactions != int64(len(s.sink.TransactionRows)) {
				t.Fatalf("report %+v", rep)
			}
			var ex Example
			notJoined, excluded := 0, 0
			for i := 0; i < a.Len(); i++ {
				id := a.MemberID(i)
				h := s.hs[id]
				want, werr := f.Compute(h, at)
				err := a.Example(i, &ex)
				if errors.Is(werr, ErrNotJoined) != errors.Is(err, ErrNotJoined) {
					t.Fatalf("%s: Compute error %v, Example error %v", id, werr, err)
				}
				if werr != nil {
					notJoined++
					if r := a.Exclusion(i); r != "not_joined" {
						t.Fatalf("%s: exclusion %q", id, r)
					}
					continue
				}
				if !slices.Equal(ex.Seq, want.Seq) || !slices.Equal(ex.Mask, want.Mask) || !slices.Equal(ex.Static, want.Static) ||
					ex.Indicators != want.Indicators || ex.Label != want.Label || !ex.Cutoff.Equal(want.Cutoff) {
					t.Fatalf("%s at %s: AsOf example differs from Compute", id, at)
				}
				if r, st := a.Exclusion(i), f.Status(want); r != st {
					t.Fatalf("%s: exclusion %q, Status of Compute's example %q", id, r, st)
				} else if r != "" {
					excluded++
				}
				// Attended: counts and latest visit before the cutoff.
				type use struct {
					n    int32
					last int64
				}
				wantUses := map[int32]use{}
				for _, v := range h.Attendance {
					c, ok := f.courseIdx[v.CourseID]
					if !ok || !v.TS.Before(at) {
						continue
					}
					u := wantUses[c]
					u.n++
					u.last = max(u.last, v.TS.UnixNano())
					wantUses[c] = u
				}
				got := map[int32]use{}
				for _, u := range a.Attended(i) {
					got[u.Course] = use{u.N, u.Last}
				}
				if !reflect.DeepEqual(got, wantUses) {
					t.Fatalf("%s: attended %v, want %v", id, got, wantUses)
				}
			}
			t.Logf("cutoff %s, DataEnd %v: %d members, %d not joined, %d excluded", at.Format(time.DateOnly), cfgEnd, a.Len(), notJoined, excluded)
			if at.Equal(s.cfg.End()) && excluded == 0 {
				t.Errorf("no member already churned at the end of the data: the exclusion path is not exercised")
			}
		}
	}
}

// TestReadAsOfKeep checks that members left out by Keep are not held and
// that their events are counted as left out, not unknown.
func TestReadAsOfKeep(t *testing.T) {
	s := loadSmallSynth(t)
	f := s.featurizer(t, DefaultConfig())
	keep := func(m *datasets.Member) bool { return m.MemberID < s.ids[100] }
	a, err := ReadAsOf(s.source(), f.Spec(), s.cfg.End(), s.cfg.End(), &AsOfOptions{Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	rep := a.Report()
	var kept int
	var events int64
	for _, m := range s.sink.MemberRows {
		if keep(&m) {
			kept++
		}
	}
	for _, v := range s.sink.AttendanceRows {
		if v.MemberID < s.ids[100] {
			events++
		}
	}
	for _, v := range s.sink.TransactionRows {
		if v.MemberID < s.ids[100] {
			events++
		}
	}
	total := int64(len(s.sink.AttendanceRows) + len(s.sink.TransactionRows))
	if a.Len() != kept || rep.Kept != kept || rep.Members != len(s.ids) {
		t.Fatalf("held %d (report %d of %d), want %d of %d", a.Len(), rep.Kept, rep.Members, kept, len(s.ids))
	}
	if rep.Attendance+rep.Transactions != events || rep.LeftOut != total-events || rep.UnknownMember != 0 {
		t.Fatalf("report %+v: want %d events held, %d left out", rep, events, total-events)
	}
}

// TestReadAsOfMinorUnits: a dataset in other minor units is refused.
func TestReadAsOfMinorUnits(t *testing.T) {
	s := loadSmallSynth(t)
	f := s.featurizer(t, DefaultConfig())
	src := s.source()
	src.Man.MinorUnits = 3
	if _, err := ReadAsOf(src, f.Spec(), s.cfg.End(), s.cfg.End(), nil); err == nil {
		t.Fatal("no error")
	}
}

// TestReadAsOfOneProc: with GOMAXPROCS 1 the attendance is aggregated by
// one consumer; the members' examples and the report are the same as with
// two.
func TestReadAsOfOneProc(t *testing.T) {
	s := loadSmallSynth(t)
	f := s.featurizer(t, DefaultConfig())
	two, err := ReadAsOf(s.source(), f.Spec(), s.cfg.End(), s.cfg.End(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one, err := ReadAsOf(s.source(), f.Spec(), s.cfg.End(), s.cfg.End(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := one.Report(), two.Report()
	r1.Seconds, r2.Seconds = 0, 0
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("report %+v, with 2 procs %+v", r1, r2)
	}
	var e1, e2 Example
	for i := 0; i < one.Len(); i++ {
		err1, err2 := one.Example(i, &e1), two.Example(i, &e2)
		if (err1 == nil) != (err2 == nil) || err1 == nil && (!slices.Equal(e1.Seq, e2.Seq) || e1.Indicators != e2.Indicators || e1.Label != e2.Label) {
			t.Fatalf("member %d differs", i)
		}
		if !reflect.DeepEqual(one.Attended(i), two.Attended(i)) {
			t.Fatalf("member %d: attended differs", i)
		}
	}
}
