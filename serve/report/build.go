package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"retain/datasets"
	"retain/features"
)

// Scored is what a ScoreFunc says about one member.
type Scored struct {
	ChurnProbability float64
	Reasons          []Reason
	Action           Action
}

// ScoreFunc scores the member of h as of asOf. Every event of h is before
// asOf and sorted by time. It is called from several goroutines at once.
// serve.BundleScorer.Score, converted, is one.
type ScoreFunc func(ctx context.Context, h *features.History, asOf time.Time) (Scored, error)

// Options say what Build reports on.
type Options struct {
	// Club is a club id or features.AllClubs (the default).
	Club string
	// Month is the month in focus, "YYYY-MM". Default: the month of AsOf
	// (of the instant just before it, so that an AsOf at the start of a
	// month reports the month that just ended).
	Month string
	// AsOf is when members are scored. Default: the start of the month
	// after Month, or DataEnd when that is earlier (or Month is empty).
	AsOf time.Time
	// DataStart and DataEnd bound the data (the dataset manifest's Start
	// and End). DataEnd is required; a zero DataStart means the earliest
	// event.
	DataStart, DataEnd time.Time
	// Spec is the model's feature spec: its Config gives the time zone,
	// the label horizon, the flag and KPI thresholds, and its tier
	// thresholds the tiers.
	Spec  *features.FeatureSpec
	Model Model
	Risk  RiskThresholds
	// TopN is the number of rows of the at-risk table; default 25.
	TopN int
	// ListRows is the number of rows each list shows (Input.ListRows).
	ListRows int
	// Workers score members concurrently; default GOMAXPROCS.
	Workers int
}

// OptionError is Build's error for a bad club, month or as-of instant: the
// caller's mistake, not the data's.
type OptionError struct {
	Option string
	Msg    string
}

func (e *OptionError) Error() string { return "report: " + e.Option + ": " + e.Msg }

// Build scores the members of o.Club on the books at the as-of instant
// and computes the club's monthly KPIs, from the histories hs (every
// club's members: the KPIs of AllClubs need them all). Events at or after
// the as-of instant are ignored, so a report as of a past date sees only
// what was known then.
//
// A member is on the books at the as-of instant when they joined before
// it and had not already churned (features.Featurizer.AlreadyChurned: the
// definition batch scoring and the server's whole-store pulls use too;
// docs/labels.md, "On the books"). Members not yet joined are counted in Input.NotJoined, members
// no longer on the books in Input.Departed; neither is scored.
func Build(ctx context.Context, hs []features.History, score ScoreFunc, o Options) (*Input, error) {
	if o.Spec == nil {
		return nil, errors.New("report: Options.Spec is nil")
	}
	if score == nil {
		return nil, errors.New("report: nil ScoreFunc")
	}
	if o.DataEnd.IsZero() {
		return nil, errors.New("report: Options.DataEnd is zero")
	}
	cfg := o.Spec.Config
	if o.DataStart.IsZero() {
		o.DataStart = earliest(hs, o.DataEnd)
	}
	if err := resolve(&o); err != nil {
		return nil, err
	}
	if !o.AsOf.After(o.DataStart) {
		return nil, &OptionError{"as-of", fmt.Sprintf("%s is not after the data's start %s", o.AsOf.Format(time.RFC3339), o.DataStart.Format(time.RFC3339))}
	}
	if o.Club != features.AllClubs && !slices.Contains(o.Spec.Clubs, o.Club) &&
		!slices.ContainsFunc(hs, func(h features.History) bool { return h.Member.HomeClub == o.Club }) {
		return nil, &OptionError{"club", fmt.Sprintf("unknown club %q (clubs: %v, or %q)", o.Club, o.Spec.Clubs, features.AllClubs)}
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	// Histories as known at AsOf.
	before := make([]features.History, len(hs))
	for i := range hs {
		before[i] = truncate(&hs[i], o.AsOf)
	}
	kpis, err := features.ComputeKPIs(cfg, before, o.DataStart, o.AsOf)
	if err != nil {
		return nil, fmt.Errorf("report: KPIs: %w", err)
	}
	in := newInput(&o, kpis)

	// The club's members: indicators, then the score of those on the books.
	spec := *o.Spec
	spec.Config.DataEnd = time.Time{}
	fz, err := features.NewFeaturizer(&spec)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var todo []int
	for i := range before {
		h := &before[i]
		if o.Club != features.AllClubs && h.Member.HomeClub != o.Club {
			continue
		}
		if !h.Member.JoinedAt.Before(o.AsOf) {
			in.NotJoined++
			continue
		}
		todo = append(todo, i)
	}
	members := make([]Member, len(todo))
	// state[j]: 0 departed, 1 on the books, 2 joined on the as-of day.
	state := make([]uint8, len(todo))
	err = parallel(ctx, len(todo), workers, func() func(context.Context, int) error {
		return func(ctx context.Context, j int) error {
			h := &before[todo[j]]
			ex, err := fz.Compute(h, o.AsOf)
			if errors.Is(err, features.ErrNotJoined) {
				// Joined on the as-of day itself: not a full day yet.
				state[j] = 2
				return nil
			}
			if err != nil {
				return fmt.Errorf("report: member %s: %w", h.Member.MemberID, err)
			}
			if fz.AlreadyChurned(ex) {
				return nil
			}
			sc, err := score(ctx, h, o.AsOf)
			if err != nil {
				return fmt.Errorf("report: score member %s: %w", h.Member.MemberID, err)
			}
			state[j] = 1
			members[j] = newMember(h.Member.MemberID, h.Member.HomeClub, &ex.Indicators, &sc)
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	for j := range todo {
		switch state[j] {
		case 0:
			in.Departed++
		case 1:
			in.Members = append(in.Members, members[j])
		case 2:
			in.NotJoined++
		}
	}
	slices.SortFunc(in.Members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	if err := in.Check(); err != nil {
		return nil, err
	}
	return in, nil
}

// resolve fills in o's defaults: the club, the month in focus and the
// as-of instant (see Options).
func resolve(o *Options) error {
	loc, err := time.LoadLocation(cmp.Or(o.Spec.Config.TimeZone, "UTC"))
	if err != nil {
		return fmt.Errorf("report: spec time zone: %w", err)
	}
	if o.Club == "" {
		o.Club = features.AllClubs
	}
	if o.Month != "" {
		m, err := time.ParseInLocation("2006-01", o.Month, loc)
		if err != nil {
			return &OptionError{"month", fmt.Sprintf("%q is not YYYY-MM", o.Month)}
		}
		if o.AsOf.IsZero() {
			o.AsOf = m.AddDate(0, 1, 0)
			if o.AsOf.After(o.DataEnd) {
				o.AsOf = o.DataEnd
			}
		}
	} else {
		if o.AsOf.IsZero() {
			o.AsOf = o.DataEnd
		}
		o.Month = o.AsOf.Add(-time.Nanosecond).In(loc).Format("2006-01")
	}
	return nil
}

// newInput returns the Input of resolved options o, with the club's
// monthly KPIs up to the month in focus and no members yet.
func newInput(o *Options, kpis *features.KPIReport) *Input {
	cfg := &o.Spec.Config
	in := &Input{
		Club: o.Club, Month: o.Month, AsOf: o.AsOf, DataStart: o.DataStart, DataEnd: o.DataEnd,
		Model: o.Model, Risk: o.Risk, TopN: o.TopN, ListRows: o.ListRows,
		RenewalRateMin: cfg.KPI.RenewalRateMin, ActiveShareMin: cfg.KPI.ActiveShareMin,
	}
	for _, k := range kpis.Months {
		if k.Club == o.Club && k.Month <= o.Month {
			in.Months = append(in.Months, k)
		}
	}
	return in
}

// truncate returns h's events before t, sorted by time (the slices are
// new when they had to be changed, else h's own).
func truncate(h *features.History, t time.Time) features.History {
	out := features.History{Member: h.Member}
	out.Attendance = before(h.Attendance, t, func(a *datasets.Attendance) time.Time { return a.TS })
	out.Transactions = before(h.Transactions, t, func(x *datasets.Transaction) time.Time { return x.TS })
	return out
}

func before[T any](evs []T, t time.Time, ts func(*T) time.Time) []T {
	sorted := slices.IsSortedFunc(evs, func(a, b T) int { return ts(&a).Compare(ts(&b)) })
	if !sorted {
		evs = slices.Clone(evs)
		slices.SortStableFunc(evs, func(a, b T) int { return ts(&a).Compare(ts(&b)) })
	}
	n, _ := slices.BinarySearchFunc(evs, t, func(e T, t time.Time) int {
		if ts(&e).Before(t) {
			return -1
		}
		return 1
	})
	return evs[:n:n]
}

// earliest returns the earliest join or event of hs, or def when there is
// none.
func earliest(hs []features.History, def time.Time) time.Time {
	t := def
	for i := range hs {
		h := &hs[i]
		if h.Member.JoinedAt.Before(t) {
			t = h.Member.JoinedAt
		}
		for _, a := range h.Attendance {
			if a.TS.Before(t) {
				t = a.TS
			}
		}
		for _, x := range h.Transactions {
			if x.TS.Before(t) {
				t = x.TS
			}
		}
	}
	return t
}

// ReadDir reads the dataset directory dir into one History per member,
// every row checked as 'retain validate' checks it (datasets.Checker); the
// first bad row is an error naming its file and row. Events are sorted by
// time. It also returns the directory's manifest.
func ReadDir(dir string) ([]features.History, datasets.Manifest, error) {
	src, man, err := OpenDir(dir)
	if err != nil {
		return nil, datasets.Manifest{}, err
	}
	var hs []features.History
	idx := map[string]int{}
	if err := drain(src.Members, func(m *datasets.Member) {
		idx[m.MemberID] = len(hs)
		hs = append(hs, features.History{Member: *m})
	}); err != nil {
		return nil, datasets.Manifest{}, err
	}
	// The checker refuses events of unknown members (and OpenDir's source
	// checks the courses before the first event), so idx has them all.
	if err := drain(src.Attendance, func(a *datasets.Attendance) {
		h := &hs[idx[a.MemberID]]
		h.Attendance = append(h.Attendance, *a)
	}); err != nil {
		return nil, datasets.Manifest{}, err
	}
	if err := drain(src.Transactions, func(x *datasets.Transaction) {
		h := &hs[idx[x.MemberID]]
		h.Transactions = append(h.Transactions, *x)
	}); err != nil {
		return nil, datasets.Manifest{}, err
	}
	for i := range hs {
		h := &hs[i]
		slices.SortStableFunc(h.Attendance, func(a, b datasets.Attendance) int { return a.TS.Compare(b.TS) })
		slices.SortStableFunc(h.Transactions, func(a, b datasets.Transaction) int { return a.TS.Compare(b.TS) })
	}
	return hs, man, nil
}

// drain opens a table with open (a nil reader: a missing optional table)
// and hands every row to add.
func drain[T datasets.Record](open func() (datasets.Reader[T], error), add func(*T)) error {
	r, err := open()
	if err != nil || r == nil {
		return err
	}
	defer r.Close()
	buf := make([]T, 4096)
	for {
		n, rerr := r.Read(buf)
		for i := range buf[:n] {
			add(&buf[i])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	return r.Close()
}

// newMember is the report row of a scored member.
func newMember(id, club string, ind *features.Indicators, sc *Scored) Member {
	return Member{
		ID: id, Club: club, Tier: ind.Tier.String(),
		ChurnProbability: sc.ChurnProbability, Flags: ind.Flags.Names(),
		DaysAbsent: ind.RecencyDays, DaysToContractEnd: ind.DaysToContractEnd, OpenEnded: ind.ContractOpenEnded,
		Reasons: sc.Reasons, Action: sc.Action,
	}
}

// parallel calls work(ctx, j) for every j in [0, n) on up to workers
// goroutines, each with its own work function from newWorker (for its
// scratch memory). The first error cancels ctx for the others and is
// returned; ctx's own error is returned when it ends the run.
func parallel(ctx context.Context, n, workers int, newWorker func() func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		next  = make(chan int)
		errMu sync.Mutex
		first error
	)
	for range min(workers, max(n, 1)) {
		work := newWorker()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if ctx.Err() != nil {
					continue
				}
				if err := work(ctx, j); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					errMu.Unlock()
				}
			}
		}()
	}
feed:
	for j := range n {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
