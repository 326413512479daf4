package features

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"retain/datasets"
)

// mutateAfter returns a copy of h in which every event at or after t is
// deleted, moved to another time at or after t, or changed in kind, amount,
// course and duration, and new events at or after t are added (renewals,
// classes, refunds). Events before t are untouched.
func mutateAfter(h *History, t time.Time, courses []string, r *rand.Rand) History {
	out := History{Member: h.Member}
	future := func() time.Time {
		return t.Add(time.Duration(r.Int64N(int64(200 * 24 * time.Hour))))
	}
	for _, a := range h.Attendance {
		if a.TS.Before(t) {
			out.Attendance = append(out.Attendance, a)
			continue
		}
		switch r.IntN(3) {
		case 0: // delete
		case 1:
			a.TS = future()
			out.Attendance = append(out.Attendance, a)
		default:
			a.CourseID = courses[r.IntN(len(courses))]
			a.DurationMin = 1 + r.IntN(180)
			out.Attendance = append(out.Attendance, a)
		}
	}
	for _, x := range h.Transactions {
		if x.TS.Before(t) {
			out.Transactions = append(out.Transactions, x)
			continue
		}
		switch r.IntN(3) {
		case 0:
		case 1:
			x.TS = future()
			out.Transactions = append(out.Transactions, x)
		default:
			x.Kind = datasets.TxKinds[r.IntN(len(datasets.TxKinds))]
			x.Amount = r.Int64N(100000)
			if x.Kind == datasets.TxRefund {
				x.Amount = -x.Amount
			}
			out.Transactions = append(out.Transactions, x)
		}
	}
	for i := 0; i < 1+r.IntN(20); i++ {
		out.Attendance = append(out.Attendance, datasets.Attendance{
			EventID: fmt.Sprintf("new-a%d", i), MemberID: h.Member.MemberID, TS: future(),
			CourseID: courses[r.IntN(len(courses))], DurationMin: 60, Source: datasets.SourceApp,
		})
	}
	for i := 0; i < r.IntN(4); i++ {
		out.Transactions = append(out.Transactions, datasets.Transaction{
			EventID: fmt.Sprintf("new-t%d", i), MemberID: h.Member.MemberID, TS: future(),
			Amount: 50000, Kind: datasets.TxRenewal,
		})
	}
	// Shuffle, so that order does not matter either.
	r.Shuffle(len(out.Attendance), func(i, j int) { out.Attendance[i], out.Attendance[j] = out.Attendance[j], out.Attendance[i] })
	r.Shuffle(len(out.Transactions), func(i, j int) {
		out.Transactions[i], out.Transactions[j] = out.Transactions[j], out.Transactions[i]
	})
	return out
}

// sameFeatures reports the first difference between the inputs of two
// examples (sequence, mask, static, indicators), bit for bit.
func sameFeatures(a, b *Example) error {
	for i := range a.Seq {
		if math.Float32bits(a.Seq[i]) != math.Float32bits(b.Seq[i]) {
			return fmt.Errorf("Seq[%d] %v != %v", i, a.Seq[i], b.Seq[i])
		}
	}
	if len(a.Seq) != len(b.Seq) || !equalF32(a.Mask, b.Mask) || !equalF32(a.Static, b.Static) {
		return fmt.Errorf("mask or static differ: %v %v / %v %v", a.Mask, b.Mask, a.Static, b.Static)
	}
	if !reflect.DeepEqual(a.Indicators, b.Indicators) {
		return fmt.Errorf("indicators %+v != %+v", a.Indicators, b.Indicators)
	}
	return nil
}

// TestNoLeakage proves point-in-time correctness: for random members and
// cutoffs (any instant; the cutoff is the start of its day), changing or
// deleting every event at or after the cutoff, and adding new ones, leaves
// the features, static features and indicators bit-identical. Labels are
// allowed to change, and the test checks that they did for some cases, so
// the mutation reaches what it should; it also checks that mutating the
// past does change features, so the comparison is not vacuous.
func TestNoLeakage(t *testing.T) {
	for _, tz := range []string{"UTC", "America/New_York"} {
		t.Run(tz, func(t *testing.T) { testNoLeakage(t, tz) })
	}
}

func testNoLeakage(t *testing.T, tz string) {
	s := loadSmallSynth(t)
	cfg := s.config()
	cfg.TimeZone = tz
	f := s.featurizer(t, cfg)
	courses := f.Spec().Courses
	r := rand.New(rand.NewPCG(1, 2))
	start, end := s.cfg.Start, s.cfg.End()
	var checked, labelChanged, pastChanged int
	for trial := 0; trial < 400; trial++ {
		h := s.hs[s.ids[r.IntN(len(s.ids))]]
		tc := start.Add(time.Duration(r.Int64N(int64(end.Sub(start)))))
		ex1, err := f.Compute(h, tc)
		if err != nil {
			continue // not joined yet
		}
		mut := mutateAfter(h, ex1.Cutoff, courses, r)
		ex2, err := f.Compute(&mut, tc)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameFeatures(ex1, ex2); err != nil {
			t.Fatalf("member %s cutoff %s: future events changed the features: %v", h.Member.MemberID, ex1.Cutoff, err)
		}
		checked++
		if ex1.Label != ex2.Label {
			labelChanged++
		}
		// The same mutation one week earlier reaches the last week.
		early := mutateAfter(h, ex1.Cutoff.AddDate(0, 0, -7), courses, r)
		ex3, err := f.Compute(&early, tc)
		if err != nil {
			t.Fatal(err)
		}
		if sameFeatures(ex1, ex3) != nil {
			pastChanged++
		}
	}
	t.Logf("%d cutoffs checked; labels changed in %d, features changed by past mutations in %d", checked, labelChanged, pastChanged)
	if checked < 200 || labelChanged < checked/10 || pastChanged < checked/2 {
		t.Errorf("weak test: %d checked, %d label changes, %d past changes", checked, labelChanged, pastChanged)
	}
}

// TestNoLeakageBatch does the same through the batch Builder: all events of
// all members at or after a cutoff are mutated, and the examples emitted at
// that cutoff and the earlier ones keep bit-identical features.
func TestNoLeakageBatch(t *testing.T) {
	s := loadSmallSynth(t)
	cfg := s.config()
	courses := s.featurizer(t, cfg).Spec().Courses
	r := rand.New(rand.NewPCG(3, 4))
	src := s.source()
	b1 := buildState(t, src, cfg)
	cutoffs := b1.Cutoffs()
	if len(cutoffs) < 6 {
		t.Fatalf("only %d cutoffs", len(cutoffs))
	}
	tcut := cutoffs[len(cutoffs)/2]
	mut := *src
	mut.AttendanceRows, mut.TransactionRows = nil, nil
	for _, id := range s.ids {
		m := mutateAfter(s.hs[id], tcut, courses, r)
		mut.AttendanceRows = append(mut.AttendanceRows, m.Attendance...)
		mut.TransactionRows = append(mut.TransactionRows, m.Transactions...)
	}
	b2 := buildState(t, &mut, cfg)
	early := cutoffs[:len(cutoffs)/2+1]
	ex1 := emitAll(t, b1, early)
	ex2 := emitAll(t, b2, early)
	if len(ex1) != len(ex2) || len(ex1) == 0 {
		t.Fatalf("%d examples before, %d after mutating the future", len(ex1), len(ex2))
	}
	labels := 0
	for i := range ex1 {
		if ex1[i].MemberID != ex2[i].MemberID || !ex1[i].Cutoff.Equal(ex2[i].Cutoff) {
			t.Fatalf("example %d: %s@%s vs %s@%s", i, ex1[i].MemberID, ex1[i].Cutoff, ex2[i].MemberID, ex2[i].Cutoff)
		}
		if err := sameFeatures(ex1[i], ex2[i]); err != nil {
			t.Fatalf("%s at %s: %v", ex1[i].MemberID, ex1[i].Cutoff, err)
		}
		if ex1[i].Label != ex2[i].Label {
			labels++
		}
	}
	if labels == 0 {
		t.Errorf("no label changed: the mutation did not reach the horizon")
	}
}

// buildState streams src into a frozen Builder.
func buildState(t testing.TB, src Source, cfg Config) *Builder {
	t.Helper()
	b, err := NewBuilder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := src.Manifest()
	b.SetDataRange(m.Start, m.End)
	rs := &readStats{strict: true}
	mr, _ := src.Members()
	if err := readAll(mr, 1000, rs, b.AddMember); err != nil {
		t.Fatal(err)
	}
	cr, _ := src.Courses()
	if err := readAll(cr, 1000, rs, b.AddCourse); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Freeze(); err != nil {
		t.Fatal(err)
	}
	ar, _ := src.Attendance()
	if err := readAll(ar, 1000, rs, b.AddAttendance); err != nil {
		t.Fatal(err)
	}
	tr, _ := src.Transactions()
	if err := readAll(tr, 1000, rs, b.AddTransaction); err != nil {
		t.Fatal(err)
	}
	return b
}

// emitAll returns every example the builder emits at cutoffs (all train).
func emitAll(t testing.TB, b *Builder, cutoffs []time.Time) []*Example {
	t.Helper()
	splits := make([]Split, len(cutoffs))
	ids := b.MemberIDs()
	var out []*Example
	err := b.Emit(cutoffs, splits, nil, func(blk *MemberBlock) error {
		for k := range blk.Examples {
			ex := &Example{}
			blk.Window(k, b.Spec(), ids[blk.Member], time.UTC, ex)
			out = append(out, ex)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
