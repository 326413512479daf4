package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"retain/datasets"
	"retain/features"
)

// BatchScoreFunc scores many members at once: out[k] for the member of
// exs[k], an example computed at the as-of cutoff by the featurizer of
// Options.Spec (features.AsOf.Example). It is called from several
// goroutines at once. serve.ReportBatchScoreFunc adapts
// serve.BundleScorer.ScoreBatch.
type BatchScoreFunc func(ctx context.Context, exs []*features.Example, out []Scored) error

// batchMembers is the number of members BuildFrom scores per call of its
// BatchScoreFunc (serve/batch's default too).
const batchMembers = 256

// BuildFrom is Build for a whole dataset read once: src is read by
// features.ReadAsOf into per-member state at the as-of instant (no
// per-member histories are held), and the members on the books are scored
// in batches of 256 by score. The KPIs are computed while the same pass
// streams every event before the as-of instant into a features.Builder
// (what features.ComputeKPIs does with histories), so they cost the
// Builder's state, some 16 to 40 bytes per member and active week, not the
// events. The result is Build's for the histories of src with a ScoreFunc
// giving the same scores (TestBuildFromMatchesBuild).
//
// A row that src's readers reject fails the build (features.AsOfOptions
// Strict); OpenDir's source checks every row as 'retain validate' does.
// When o.DataStart is zero, the earliest join or event of src is taken.
func BuildFrom(ctx context.Context, src features.Source, score BatchScoreFunc, o Options) (*Input, error) {
	if o.Spec == nil {
		return nil, errors.New("report: Options.Spec is nil")
	}
	if score == nil {
		return nil, errors.New("report: nil BatchScoreFunc")
	}
	if o.DataEnd.IsZero() {
		return nil, errors.New("report: Options.DataEnd is zero")
	}
	cfg := o.Spec.Config
	if err := resolve(&o); err != nil {
		return nil, err
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// One pass: the members on the books into an AsOf, every member and
	// event before AsOf into the KPI builder.
	kb, err := features.NewBuilder(cfg)
	if err != nil {
		return nil, fmt.Errorf("report: KPIs: %w", err)
	}
	tee := &kpiTee{src: src, b: kb, asOf: o.AsOf, clubs: map[string]bool{}, earliest: o.DataEnd}
	spec := *o.Spec
	spec.Config.DataEnd = time.Time{} // as served: the history ends at the as-of instant
	a, err := features.ReadAsOf(tee, &spec, o.AsOf, o.AsOf, &features.AsOfOptions{
		Strict: true,
		Keep:   func(m *datasets.Member) bool { return o.Club == features.AllClubs || m.HomeClub == o.Club },
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := tee.err(); err != nil {
		return nil, err
	}
	if rep := a.Report(); rep.UnknownMember > 0 {
		return nil, fmt.Errorf("report: %d events name members missing from the members table", rep.UnknownMember)
	}
	if o.DataStart.IsZero() {
		o.DataStart = tee.earliest
	}
	if !o.AsOf.After(o.DataStart) {
		return nil, &OptionError{"as-of", fmt.Sprintf("%s is not after the data's start %s", o.AsOf.Format(time.RFC3339), o.DataStart.Format(time.RFC3339))}
	}
	if o.Club != features.AllClubs && !slices.Contains(o.Spec.Clubs, o.Club) && !tee.clubs[o.Club] {
		return nil, &OptionError{"club", fmt.Sprintf("unknown club %q (clubs: %v, or %q)", o.Club, o.Spec.Clubs, features.AllClubs)}
	}
	if _, err := kb.Freeze(); err != nil { // a dataset without events
		return nil, fmt.Errorf("report: KPIs: %w", err)
	}
	kb.SetDataRange(o.DataStart, o.AsOf)
	kpis, err := kb.KPIs()
	if err != nil {
		return nil, fmt.Errorf("report: KPIs: %w", err)
	}
	in := newInput(&o, kpis)

	// Score the members on the books, a chunk at a time.
	n := a.Len()
	nChunks := (n + batchMembers - 1) / batchMembers
	type chunk struct {
		members             []Member
		notJoined, departed int
	}
	chunks := make([]chunk, nChunks)
	err = parallel(ctx, nChunks, workers, func() func(context.Context, int) error {
		exs := make([]features.Example, batchMembers)
		ptrs := make([]*features.Example, 0, batchMembers)
		idx := make([]int, 0, batchMembers)
		scored := make([]Scored, batchMembers)
		return func(ctx context.Context, c int) error {
			ch := &chunks[c]
			lo, hi := c*batchMembers, min((c+1)*batchMembers, n)
			ptrs, idx = ptrs[:0], idx[:0]
			for i := lo; i < hi; i++ {
				switch a.Exclusion(i) {
				case "not_joined":
					ch.notJoined++
					continue
				case features.StatusChurned:
					ch.departed++
					continue
				}
				// On the books: Status "" or, under a cancellation
				// label, an open-ended contract (Build's rule: only
				// AlreadyChurned members are left out).
				ex := &exs[len(ptrs)]
				if err := a.Example(i, ex); err != nil {
					return fmt.Errorf("report: member %s: %w", a.MemberID(i), err)
				}
				ptrs, idx = append(ptrs, ex), append(idx, i)
			}
			if err := score(ctx, ptrs, scored[:len(ptrs)]); err != nil {
				return fmt.Errorf("report: score members %s to %s: %w", a.MemberID(lo), a.MemberID(hi-1), err)
			}
			ch.members = make([]Member, len(ptrs))
			for k, i := range idx {
				ch.members[k] = newMember(ptrs[k].MemberID, a.Club(i), &ptrs[k].Indicators, &scored[k])
			}
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	for i := range chunks {
		in.Members = append(in.Members, chunks[i].members...)
		in.NotJoined += chunks[i].notJoined
		in.Departed += chunks[i].departed
	}
	slices.SortFunc(in.Members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	if err := in.Check(); err != nil {
		return nil, err
	}
	return in, nil
}

// kpiTee is a features.Source that reads src and hands what it reads to
// the KPI builder too: every member, and the events before asOf. It also
// collects the members' home clubs and the earliest join or event.
type kpiTee struct {
	src  features.Source
	b    *features.Builder
	asOf time.Time

	mu       sync.Mutex // earliest, firstErr: attendance and transactions are read concurrently
	clubs    map[string]bool
	earliest time.Time
	freeze   sync.Once
	firstErr error
}

func (t *kpiTee) Manifest() datasets.Manifest { return t.src.Manifest() }

func (t *kpiTee) Courses() (datasets.Reader[datasets.Course], error) { return t.src.Courses() }

func (t *kpiTee) Members() (datasets.Reader[datasets.Member], error) {
	r, err := t.src.Members()
	if r == nil || err != nil {
		return r, err
	}
	return &teeReader[datasets.Member]{r: r, t: t, add: func(m *datasets.Member) (time.Time, error) {
		t.clubs[m.HomeClub] = true
		return m.JoinedAt, t.b.AddMember(m)
	}}, nil
}

func (t *kpiTee) Attendance() (datasets.Reader[datasets.Attendance], error) {
	if err := t.frozen(); err != nil {
		return nil, err
	}
	r, err := t.src.Attendance()
	if r == nil || err != nil {
		return r, err
	}
	return &teeReader[datasets.Attendance]{r: r, t: t, add: func(x *datasets.Attendance) (time.Time, error) {
		if !x.TS.Before(t.asOf) {
			return x.TS, nil
		}
		if err := t.b.AddAttendance(x); err != nil && !errors.Is(err, datasets.ErrUnknownMember) {
			return x.TS, err
		}
		return x.TS, nil
	}}, nil
}

func (t *kpiTee) Transactions() (datasets.Reader[datasets.Transaction], error) {
	if err := t.frozen(); err != nil {
		return nil, err
	}
	r, err := t.src.Transactions()
	if r == nil || err != nil {
		return r, err
	}
	return &teeReader[datasets.Transaction]{r: r, t: t, add: func(x *datasets.Transaction) (time.Time, error) {
		if !x.TS.Before(t.asOf) {
			return x.TS, nil
		}
		if err := t.b.AddTransaction(x); err != nil && !errors.Is(err, datasets.ErrUnknownMember) {
			return x.TS, err
		}
		return x.TS, nil
	}}, nil
}

// frozen freezes the builder once the members are read (ReadAsOf reads
// them all before it opens an event table).
func (t *kpiTee) frozen() error {
	var err error
	t.freeze.Do(func() { _, err = t.b.Freeze() })
	if err != nil {
		return fmt.Errorf("report: KPIs: %w", err)
	}
	return nil
}

func (t *kpiTee) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstErr
}

// teeReader passes the rows it reads to add, which returns the row's
// time; the earliest goes to the tee on Close.
type teeReader[T datasets.Record] struct {
	r        datasets.Reader[T]
	t        *kpiTee
	add      func(*T) (time.Time, error)
	earliest time.Time
}

func (r *teeReader[T]) Read(dst []T) (int, error) {
	n, err := r.r.Read(dst)
	for i := range dst[:n] {
		ts, aerr := r.add(&dst[i])
		if r.earliest.IsZero() || ts.Before(r.earliest) {
			r.earliest = ts
		}
		if aerr != nil {
			r.t.mu.Lock()
			if r.t.firstErr == nil {
				r.t.firstErr = fmt.Errorf("report: KPIs: %w", aerr)
			}
			r.t.mu.Unlock()
			return i, r.t.firstErr
		}
	}
	return n, err
}

func (r *teeReader[T]) Close() error {
	r.t.mu.Lock()
	if !r.earliest.IsZero() && r.earliest.Before(r.t.earliest) {
		r.t.earliest = r.earliest
	}
	r.t.mu.Unlock()
	return r.r.Close()
}
