package features

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"retain/datasets"
)

// AsOf holds a dataset's members, as of one cutoff, in the member state
// that Featurizer.Compute builds for one member: batch scoring reads a
// whole dataset into it in one pass (ReadAsOf) and then computes every
// member's example at the cutoff (Example), with the same code as Compute
// and bit-identical results.
//
// Besides the features it records, per member, how often each course of
// the spec's vocabulary was attended before Before and when last
// (Attended): the scoring server maps predicted categories to courses from
// that.
type AsOf struct {
	f        *Featurizer
	clk      clock
	td       int32
	endDay   int32
	g        grid
	before   time.Time
	beforeNs int64

	members memberList
	clubs   []string // home club of each member, as in the data
	uses    [][]CourseUse
	idx     map[string]int32 // member id -> index; -1: left out by Keep
	// Room for the state of the next members (see reserve).
	weekSlab  slab[weekAgg]
	catSlab   slab[uint8]
	monthSlab slab[monthAct]
	txSlab    slab[txAgg]
	rep       AsOfReport
}

// CourseUse is one course a member attended before AsOf.Before: how many
// times and the latest start (unix nanoseconds).
type CourseUse struct {
	Course int32 // index in Spec.Courses
	N      int32
	Last   int64
}

// AsOfOptions tunes ReadAsOf. A nil *AsOfOptions means defaults.
type AsOfOptions struct {
	// Keep, when set, picks the members to hold; the others, and their
	// events, are skipped and counted in AsOfReport.LeftOut.
	Keep func(*datasets.Member) bool
	// BatchRows is the number of rows read per Read call. Default 4096.
	BatchRows int
	// Strict makes a row that a reader rejects fail the read. Default
	// false: such rows are counted and skipped, as Build does.
	Strict bool
}

// AsOfReport says what ReadAsOf read.
type AsOfReport struct {
	// Members counts the members-table rows, Kept those held.
	Members, Kept            int
	Attendance, Transactions int64 // events read
	// LeftOut counts events of members that Keep left out.
	LeftOut int64
	// Rejected counts rows the readers rejected; RejectedSamples holds the
	// first few errors.
	Rejected        int64
	RejectedSamples []string
	// UnknownMember counts events of members missing from the members
	// table (skipped); UnknownCourse visits of courses missing from the
	// spec's vocabulary (counted as visits of no category).
	UnknownMember, UnknownCourse int64
	// Seconds is the time ReadAsOf took.
	Seconds float64
}

// NewAsOf returns an empty AsOf for examples of spec at cutoff t (rounded
// down to the start of its day in Config.TimeZone, as Compute does). Only
// attendance before before counts in Attended; the scoring server scores
// the events before its as-of instant, so pass the same t.
func NewAsOf(spec *FeatureSpec, t, before time.Time) (*AsOf, error) {
	f, err := NewFeaturizer(spec)
	if err != nil {
		return nil, err
	}
	a := &AsOf{f: f, clk: newClock(f.loc), idx: map[string]int32{}, before: before, beforeNs: before.UnixNano()}
	a.td = a.clk.day(t)
	a.g = grid{phase: int32(floorMod(int64(a.td), 7))}
	a.endDay = a.td
	if !f.cfg.DataEnd.IsZero() {
		a.endDay = a.clk.day(f.cfg.DataEnd)
	}
	return a, nil
}

// Cutoff returns the cutoff instant: the start of t's day.
func (a *AsOf) Cutoff() time.Time { return a.clk.instant(a.td) }

// Spec returns the spec (do not modify it).
func (a *AsOf) Spec() *FeatureSpec { return &a.f.spec }

// AddMember adds a members-table row, or only counts it when keep is
// false. A repeated member_id is an error wrapping
// datasets.ErrDuplicateKey. All members come before the first event.
func (a *AsOf) AddMember(m *datasets.Member, keep bool) error {
	if _, dup := a.idx[m.MemberID]; dup {
		return fmt.Errorf("features: member %q: %w", m.MemberID, datasets.ErrDuplicateKey)
	}
	a.rep.Members++
	if !keep {
		a.idx[m.MemberID] = -1
		return nil
	}
	a.idx[m.MemberID] = int32(a.members.len())
	ms := a.members.add()
	ms.memberStatic = a.f.memberStatic(m, &a.clk)
	a.reserve(ms)
	a.clubs = append(a.clubs, m.HomeClub)
	a.uses = append(a.uses, nil)
	return nil
}

// sideCache is one event table's clock and its last member looked up:
// events usually come grouped by member, and a string comparison is
// cheaper than a map lookup.
type sideCache struct {
	clk    clock
	lastID string
	last   int32
	lastOK bool
}

// lookup returns the index of member id (see AsOf.idx).
func (a *AsOf) lookup(c *sideCache, id string) (int32, bool) {
	if c.lastOK && id == c.lastID {
		return c.last, true
	}
	i, ok := a.idx[id]
	if ok {
		c.lastID, c.last, c.lastOK = id, i, true
	}
	return i, ok
}

// attStats are one attendance consumer's counts.
type attStats struct {
	n, leftOut, unknownMember, unknownCourse int64
}

// reserve gives member m room for a week bucket for every week from its
// join to the cutoff (at most maxReserveWeeks), a month record for every
// month (attendance and transactions) and a transaction bucket a month
// (the monthly fee) plus two, carved from shared slabs: most members visit
// in most of their weeks and pay every month, and growing each member's
// slices by doubling copied them several times and cost more than the rest
// of the aggregation (and its small allocations cost the garbage
// collector). A member with more grows past its room as usual.
func (a *AsOf) reserve(m *member) {
	const (
		maxReserveWeeks  = 128
		maxReserveMonths = 30
	)
	days := int(a.td - m.join)
	if days < 0 {
		return
	}
	w := min(days/7+2, maxReserveWeeks)
	months := min(days/30+2, maxReserveMonths)
	m.att.weeks = a.weekSlab.take(w)
	m.att.cats = a.catSlab.take(w * a.f.nCat)
	m.att.months = a.monthSlab.take(months)
	m.tx.months = a.monthSlab.take(months)
	m.tx.txs = a.txSlab.take(months + 2)
}

// addAttendance adds a visit of a member whose index is k modulo parts
// (see ReadAsOf); consumer 0 counts the events of members not held.
func (a *AsOf) addAttendance(x *datasets.Attendance, c *sideCache, st *attStats, k, parts int32) {
	i, ok := a.lookup(c, x.MemberID)
	switch {
	case !ok:
		if k == 0 {
			st.unknownMember++
		}
		return
	case i < 0:
		if k == 0 {
			st.leftOut++
		}
		return
	case i%parts != k:
		return
	}
	_, unknown := a.f.addAttendance(&a.members.at(int(i)).att, a.g, &c.clk, x)
	if unknown {
		st.unknownCourse++
	}
	st.n++
	if x.CourseID == "" || unknown {
		return
	}
	ns := x.TS.UnixNano()
	if ns >= a.beforeNs {
		return
	}
	ci := a.f.courseIdx[x.CourseID]
	us := a.uses[i]
	for k := range us {
		if us[k].Course == ci {
			us[k].N++
			us[k].Last = max(us[k].Last, ns)
			return
		}
	}
	a.uses[i] = append(us, CourseUse{Course: ci, N: 1, Last: ns})
}

// addTransaction adds a transaction. It touches other counters than
// addAttendance, so the two may run concurrently.
func (a *AsOf) addTransaction(x *datasets.Transaction, c *sideCache, leftOut, unknown *int64) {
	i, ok := a.lookup(c, x.MemberID)
	switch {
	case !ok:
		*unknown++
		return
	case i < 0:
		*leftOut++
		return
	}
	a.f.addTransaction(&a.members.at(int(i)).tx, a.g, &c.clk, x)
	a.rep.Transactions++
}

// Len returns the number of members held.
func (a *AsOf) Len() int { return a.members.len() }

// MemberID returns the id of member i.
func (a *AsOf) MemberID(i int) string { return a.members.at(i).id }

// Club returns the home club of member i, as in the data.
func (a *AsOf) Club(i int) string { return a.clubs[i] }

// Attended returns the courses member i attended before Before (see
// CourseUse), in the order first seen. Do not modify it.
func (a *AsOf) Attended(i int) []CourseUse { return a.uses[i] }

// Exclusion says why member i is not scored at the cutoff, or "" when it
// is on the books: "not_joined" when it joined at or after the cutoff,
// else Featurizer.Status of its example (StatusChurned,
// StatusOpenEnded), computed without the example. It is safe for
// concurrent use.
func (a *AsOf) Exclusion(i int) string {
	m := a.members.at(i)
	if m.join >= a.td {
		return "not_joined"
	}
	l := a.f.labelAt(a.g, m, a.td, a.endDay)
	if !l.Excluded {
		return ""
	}
	in := a.f.indicatorsAt(a.g, m, a.td)
	return a.f.status(&l, &in)
}

// Example computes member i's example at the cutoff into ex, reusing its
// slices; it equals Featurizer.Compute of the member's history at the
// cutoff. It returns an error wrapping ErrNotJoined for a member who had
// not joined by the cutoff. It is safe for concurrent use.
func (a *AsOf) Example(i int, ex *Example) error {
	f, g, m, td := a.f, a.g, a.members.at(i), a.td
	if m.join >= td {
		return fmt.Errorf("%w: member %s", ErrNotJoined, m.id)
	}
	f.exampleAt(g, m, &a.clk, td, a.endDay, ex)
	return nil
}

// Report returns what was read.
func (a *AsOf) Report() AsOfReport { return a.rep }

// ReadAsOf reads src once into a new AsOf (see NewAsOf): the members
// (those opts.Keep picks), then attendance and transactions concurrently.
// A dataset whose manifest states other currency minor units than spec is
// refused: its amounts would be misread.
func ReadAsOf(src Source, spec *FeatureSpec, t, before time.Time, opts *AsOfOptions) (*AsOf, error) {
	var o AsOfOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 4096
	}
	t0 := time.Now()
	man := src.Manifest()
	if man.Version > 0 && man.MinorUnits != spec.Config.Values.MinorUnits {
		return nil, fmt.Errorf("features: the dataset's amounts have %d minor units, the spec %d", man.MinorUnits, spec.Config.Values.MinorUnits)
	}
	a, err := NewAsOf(spec, t, before)
	if err != nil {
		return nil, err
	}
	rs := &readStats{strict: o.Strict}
	mr, err := src.Members()
	if err != nil {
		return nil, fmt.Errorf("features: members: %w", err)
	}
	if err := readAll(mr, o.BatchRows, rs, func(m *datasets.Member) error {
		return a.AddMember(m, o.Keep == nil || o.Keep(m))
	}); err != nil {
		return nil, fmt.Errorf("features: members: %w", err)
	}
	a.rep.Kept = a.members.len()
	// Attendance is most of the events: its rows are decoded on one
	// goroutine and aggregated on parts, each for the members whose index
	// is its number modulo parts.
	parts := int32(min(2, max(1, runtime.GOMAXPROCS(0))))
	// Each consumer's cache and counts, padded apart: consumers on two
	// cores writing one cache line would slow each other down.
	type consumer struct {
		c  sideCache
		st attStats
		_  [64]byte
	}
	cons := make([]consumer, parts)
	for k := range cons {
		cons[k].c.clk = newClock(a.f.loc)
	}
	var txLeftOut, txUnknown int64
	txCache := &sideCache{clk: newClock(a.f.loc)}
	err = readEvents(src, o.BatchRows, rs, int(parts),
		func(k int, x *datasets.Attendance) {
			a.addAttendance(x, &cons[k].c, &cons[k].st, int32(k), parts)
		},
		func(_ int, x *datasets.Transaction) { a.addTransaction(x, txCache, &txLeftOut, &txUnknown) })
	if err != nil {
		return nil, err
	}
	a.rep.LeftOut += txLeftOut
	a.rep.UnknownMember += txUnknown
	for _, cn := range cons {
		st := cn.st
		a.rep.Attendance += st.n
		a.rep.LeftOut += st.leftOut
		a.rep.UnknownMember += st.unknownMember
		a.rep.UnknownCourse += st.unknownCourse
	}
	a.rep.Rejected, a.rep.RejectedSamples = rs.rejected, rs.samples
	a.rep.Seconds = time.Since(t0).Seconds()
	return a, nil
}

// pump reads r on one goroutine and hands every batch of rows to n
// consumer goroutines, each of which calls add(k, row) for every row of
// every batch (k is its number); a batch is reused once all n are done
// with it. It closes r. With n = 1 it is a plain decode/aggregate
// pipeline.
func pump[T datasets.Record](r datasets.Reader[T], batch int, rs *readStats, n int, add func(k int, row *T)) error {
	type filled struct {
		rows []T
		n    int
		left *atomic.Int32
	}
	const buffers = 4
	free := make(chan []T, buffers)
	for i := 0; i < buffers; i++ {
		free <- make([]T, batch)
	}
	outs := make([]chan filled, n)
	for k := range outs {
		outs[k] = make(chan filled, buffers)
	}
	var readErr error
	go func() {
		defer func() {
			for _, c := range outs {
				close(c)
			}
		}()
		for {
			buf := <-free // consumers always drain, so a buffer comes back
			m, err := r.Read(buf)
			if m > 0 {
				left := new(atomic.Int32)
				left.Store(int32(n))
				for _, c := range outs {
					c <- filled{buf, m, left}
				}
			} else {
				free <- buf
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				if err := rs.rowErr(err); err != nil {
					readErr = err
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for k := 0; k < n; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range outs[k] {
				for i := 0; i < f.n; i++ {
					add(k, &f.rows[i])
				}
				if f.left.Add(-1) == 0 {
					free <- f.rows
				}
			}
		}()
	}
	wg.Wait()
	cerr := r.Close()
	if readErr != nil {
		return readErr
	}
	return cerr
}
