package features

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"retain/datasets"
)

// A Builder accumulates a whole dataset into per-member state, streaming,
// and emits every member's examples at rolling cutoffs.
//
// Tables come in dependency order: all members and courses first (AddMember,
// AddCourse), then Freeze, then attendance and transactions in any order
// (AddAttendance, AddTransaction). AddAttendance and AddTransaction may run
// concurrently with each other, but neither concurrently with itself.
//
// The state is per member and per active week (and month), never per event:
// some 16 to 40 bytes per member and active week, however many events the
// week had.
type Builder struct {
	cfg    Config
	spec   *FeatureSpec
	f      *Featurizer
	g      grid
	frozen bool

	pre     *Featurizer       // converts member rows before Freeze
	clubs   map[string]int32  // home club -> first-seen order, until Freeze
	clubOf  []int32           // first-seen club of each member, until Freeze
	courses []datasets.Course // courses until Freeze
	members memberList
	idx     map[string]int32
	preClk  clock

	att, tx eventSide
	start   time.Time // data range; zero = from the events
	end     time.Time
	blocks  sync.Pool // *MemberBlock, reused by Build
}

// eventSide is the per-table half of a Builder's bookkeeping.
type eventSide struct {
	clk            clock
	n              int64 // events added
	unknownMember  int64 // events of members not in the members table
	unknownCourse  int64 // attendance of courses not in the courses table
	minDay, maxDay int32
}

// NewBuilder returns an empty Builder for cfg.
func NewBuilder(cfg Config) (*Builder, error) {
	spec, err := NewSpec(cfg, nil, nil) // validates cfg
	if err != nil {
		return nil, err
	}
	pre, err := NewFeaturizer(spec)
	if err != nil {
		return nil, err
	}
	return &Builder{cfg: cfg, idx: map[string]int32{}, pre: pre, preClk: newClock(pre.loc), clubs: map[string]int32{}}, nil
}

// ErrFrozen is returned for a member or course added after Freeze, and
// ErrNotFrozen for an event added before it.
var (
	ErrFrozen    = errors.New("features: builder frozen: members and courses must come before events")
	ErrNotFrozen = errors.New("features: builder not frozen: call Freeze before adding events")
)

// AddMember adds a members-table row. A repeated member_id is an error
// wrapping datasets.ErrDuplicateKey.
func (b *Builder) AddMember(m *datasets.Member) error {
	if b.frozen {
		return ErrFrozen
	}
	if _, dup := b.idx[m.MemberID]; dup {
		return fmt.Errorf("features: member %q: %w", m.MemberID, datasets.ErrDuplicateKey)
	}
	b.idx[m.MemberID] = int32(b.members.len())
	b.members.add().memberStatic = b.pre.memberStatic(m, &b.preClk)
	c, ok := b.clubs[m.HomeClub]
	if !ok {
		c = int32(len(b.clubs))
		b.clubs[m.HomeClub] = c
	}
	b.clubOf = append(b.clubOf, c)
	return nil
}

// AddCourse adds a courses-table row.
func (b *Builder) AddCourse(c *datasets.Course) error {
	if b.frozen {
		return ErrFrozen
	}
	b.courses = append(b.courses, *c)
	return nil
}

// SetDataRange sets the observed range of the data, [start, end), as a
// dataset's manifest states it. Without it the range is that of the events
// (end: the start of the day after the last event); Config.DataEnd, when
// set, overrides end.
func (b *Builder) SetDataRange(start, end time.Time) {
	b.start, b.end = start, end
}

// Freeze fixes the vocabularies (categories and courses from the courses,
// clubs from the members) and returns the spec. Call it after the last
// member and course and before the first event; calling it again returns
// the same spec.
func (b *Builder) Freeze() (*FeatureSpec, error) {
	if b.frozen {
		return b.spec, nil
	}
	clubs := make([]string, len(b.clubs))
	for c, i := range b.clubs {
		clubs[i] = c
	}
	spec, err := NewSpec(b.cfg, b.courses, clubs)
	if err != nil {
		return nil, err
	}
	f, err := NewFeaturizer(spec)
	if err != nil {
		return nil, err
	}
	b.spec, b.f = spec, f
	b.g = grid{phase: phaseOf(b.cfg.WeekStart)}
	b.att = eventSide{clk: newClock(f.loc), minDay: farDay, maxDay: noDay}
	b.tx = b.att
	for i := 0; i < b.members.len(); i++ {
		b.members.at(i).club = f.clubIdx[clubs[b.clubOf[i]]]
	}
	b.clubs, b.clubOf, b.courses, b.pre = nil, nil, nil, nil
	b.frozen = true
	return spec, nil
}

// errUnknownMember is returned (and counted) for an event of a member not in
// the members table; the event is skipped.
var errUnknownMember = fmt.Errorf("features: %w", datasets.ErrUnknownMember)

// AddAttendance adds one attendance event. An event of an unknown member is
// counted and skipped with an error wrapping datasets.ErrUnknownMember.
func (b *Builder) AddAttendance(a *datasets.Attendance) error {
	if !b.frozen {
		return ErrNotFrozen
	}
	i, ok := b.idx[a.MemberID]
	if !ok {
		b.att.unknownMember++
		return errUnknownMember
	}
	day, unknownCourse := b.f.addAttendance(&b.members.at(int(i)).att, b.g, &b.att.clk, a)
	if unknownCourse {
		b.att.unknownCourse++
	}
	b.att.n++
	b.att.minDay = min(b.att.minDay, day)
	b.att.maxDay = max(b.att.maxDay, day)
	return nil
}

// AddTransaction adds one transaction. A transaction of an unknown member
// is counted and skipped with an error wrapping datasets.ErrUnknownMember.
func (b *Builder) AddTransaction(x *datasets.Transaction) error {
	if !b.frozen {
		return ErrNotFrozen
	}
	i, ok := b.idx[x.MemberID]
	if !ok {
		b.tx.unknownMember++
		return errUnknownMember
	}
	day := b.f.addTransaction(&b.members.at(int(i)).tx, b.g, &b.tx.clk, x)
	b.tx.n++
	b.tx.minDay = min(b.tx.minDay, day)
	b.tx.maxDay = max(b.tx.maxDay, day)
	return nil
}

// Spec returns the spec fixed by Freeze (nil before).
func (b *Builder) Spec() *FeatureSpec { return b.spec }

// dataDays returns the observed range [startDay, endDay) in days. Without
// events and without a stated range it is empty, at day 0 (1970-01-01), not
// the sentinel days that would overflow day arithmetic.
func (b *Builder) dataDays() (startDay, endDay int32) {
	clk := newClock(b.f.loc)
	minDay, maxDay := min(b.att.minDay, b.tx.minDay), max(b.att.maxDay, b.tx.maxDay)
	haveEvents := minDay != farDay
	var haveStart, haveEnd bool
	if haveEvents {
		startDay, endDay, haveStart, haveEnd = minDay, maxDay+1, true, true
	}
	if !b.start.IsZero() {
		startDay, haveStart = clk.day(b.start), true
	}
	if !b.end.IsZero() {
		endDay, haveEnd = clk.day(b.end), true
	}
	if !b.cfg.DataEnd.IsZero() {
		endDay, haveEnd = clk.day(b.cfg.DataEnd), true
	}
	switch {
	case !haveStart && haveEnd:
		startDay = endDay
	case haveStart && !haveEnd:
		endDay = startDay
	}
	return startDay, endDay
}

// DataRange returns the observed range of the data as instants in
// Config.TimeZone: see SetDataRange.
func (b *Builder) DataRange() (start, end time.Time) {
	clk := newClock(b.f.loc)
	s, e := b.dataDays()
	return clk.instant(s), clk.instant(e)
}

// Cutoffs returns the default rolling cutoffs of the builder's data (see
// the package function Cutoffs); nil when none fits or the package
// function refuses the range.
func (b *Builder) Cutoffs() []time.Time {
	start, end := b.DataRange()
	cs, _ := Cutoffs(&b.cfg, start, end) // cfg validated by NewBuilder
	return cs
}

// memberList holds members in fixed-size pages, so that adding members
// never copies the ones already held.
type memberList struct {
	pages [][]member
	n     int
}

const memberPage = 1024

func (l *memberList) len() int { return l.n }

func (l *memberList) at(i int) *member { return &l.pages[i/memberPage][i%memberPage] }

// add appends a zero member and returns it.
func (l *memberList) add() *member {
	if l.n%memberPage == 0 {
		l.pages = append(l.pages, make([]member, memberPage))
	}
	l.n++
	return l.at(l.n - 1)
}

// MemberBlock is one member's examples, sharing one run of weekly rows:
// example i's window is the Weeks rows ending at its cutoff.
type MemberBlock struct {
	// Member is the index of the member in the Builder (and in the file
	// header's member list).
	Member int
	// FirstDay is the day number (days since 1970-01-01) of the first row's
	// week start.
	FirstDay int32
	// Rows holds len(Mask) weekly rows of len(Spec.Sequence) values; Mask
	// is 1 where the member had joined by the week's end.
	Rows     []float32
	Mask     []float32
	Examples []BlockExample

	static []float32 // backing array of the examples' Static, for reuse
}

// BlockExample is one cutoff of a MemberBlock.
type BlockExample struct {
	// CutoffDay is the cutoff as a day number; its window is the Weeks rows
	// ending at it.
	CutoffDay  int32
	Split      Split
	Label      Label
	Static     []float32
	Indicators Indicators
}

// EmitOptions tunes Builder.Emit. A nil *EmitOptions means defaults.
type EmitOptions struct {
	// Workers is the number of goroutines computing members. Default
	// min(2, GOMAXPROCS).
	Workers int
	// ChunkMembers is the number of members per unit of work. Default 512.
	ChunkMembers int
}

// Emit computes the examples of every member at the given cutoffs (week
// starts of the batch grid, ascending) with their splits, and calls fn with
// each member's block in member order. Members not joined by a cutoff get
// no example at it, cutoffs of SplitGap are skipped, and already-churned
// examples are dropped unless Label.KeepAlreadyChurned. Members without any
// example are not passed to fn. The blocks passed to fn are not reused.
//
// The work is spread over Options.Workers goroutines; fn runs on the
// calling goroutine, so it needs no locking.
func (b *Builder) Emit(cutoffs []time.Time, splits []Split, opts *EmitOptions, fn func(*MemberBlock) error) error {
	return b.emit(cutoffs, splits, opts, false, func(blocks []*MemberBlock) (any, error) { return nil, nil },
		func(blocks []*MemberBlock, _ any) error {
			for _, blk := range blocks {
				if err := fn(blk); err != nil {
					return err
				}
			}
			return nil
		})
}

// emit runs work on chunks of members in parallel and then done on each
// chunk in member order, on the calling goroutine. With recycle, blocks
// come from b.blocks, and done must hand them back with b.recycle.
func (b *Builder) emit(cutoffs []time.Time, splits []Split, opts *EmitOptions, recycle bool,
	work func([]*MemberBlock) (any, error), done func([]*MemberBlock, any) error) error {
	if !b.frozen {
		return ErrNotFrozen
	}
	if len(splits) != len(cutoffs) {
		return fmt.Errorf("features: %d cutoffs but %d splits", len(cutoffs), len(splits))
	}
	days, err := b.cutoffDays(cutoffs)
	if err != nil {
		return err
	}
	workers, chunk := min(2, runtime.GOMAXPROCS(0)), 512
	if opts != nil && opts.Workers > 0 {
		workers = opts.Workers
	}
	if opts != nil && opts.ChunkMembers > 0 {
		chunk = opts.ChunkMembers
	}
	_, endDay := b.dataDays()

	type result struct {
		blocks []*MemberBlock
		extra  any
		err    error
	}
	nChunks := (b.members.len() + chunk - 1) / chunk
	results := make([]chan result, nChunks)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	next := make(chan int)
	stop := make(chan struct{})
	// At most 2*workers chunks are computed ahead of the consumer, so
	// memory stays bounded by a few chunks.
	tokens := make(chan struct{}, 2*workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				lo, hi := c*chunk, min((c+1)*chunk, b.members.len())
				var blocks []*MemberBlock
				for i := lo; i < hi; i++ {
					if blk := b.block(i, days, splits, endDay, recycle); blk != nil {
						blocks = append(blocks, blk)
					}
				}
				extra, err := work(blocks)
				results[c] <- result{blocks, extra, err} // buffered: never blocks
			}
		}()
	}
	go func() {
		defer close(next)
		for c := 0; c < nChunks; c++ {
			select {
			case tokens <- struct{}{}:
			case <-stop:
				return
			}
			select {
			case next <- c:
			case <-stop:
				return
			}
		}
	}()
	for c := 0; c < nChunks && err == nil; c++ {
		r := <-results[c]
		<-tokens
		err = r.err
		if err == nil {
			err = done(r.blocks, r.extra)
		}
	}
	close(stop)
	wg.Wait()
	return err
}

// cutoffDays converts cutoffs to days and checks that they are ascending
// week starts of the batch grid.
func (b *Builder) cutoffDays(cutoffs []time.Time) ([]int32, error) {
	clk := newClock(b.f.loc)
	days := make([]int32, len(cutoffs))
	for i, c := range cutoffs {
		d := clk.day(c)
		if !clk.instant(d).Equal(c) || b.g.start(b.g.week(d)) != d {
			return nil, fmt.Errorf("features: cutoff %s is not a week start (%s, midnight %s)", c.Format(time.RFC3339), b.cfg.WeekStart, b.cfg.TimeZone)
		}
		if i > 0 && d <= days[i-1] {
			return nil, fmt.Errorf("features: cutoffs not ascending at %s", c.Format(time.RFC3339))
		}
		days[i] = d
	}
	return days, nil
}

// block computes member i's block, or nil when it has no example.
func (b *Builder) block(i int, days []int32, splits []Split, endDay int32, recycle bool) *MemberBlock {
	f, g, m := b.f, b.g, b.members.at(i)
	var blk *MemberBlock
	if recycle {
		if v := b.blocks.Get(); v != nil {
			blk = v.(*MemberBlock)
		}
	}
	if blk == nil {
		blk = &MemberBlock{}
	}
	exs := blk.Examples[:0]
	static := blk.static[:0]
	ms := memberSplitOf(&b.cfg, m.id)
	for k, td := range days {
		split := exampleSplit(&b.cfg, ms, k, len(days), splits[k])
		if split == SplitGap || m.join >= td {
			continue
		}
		l := f.labelAt(g, m, td, endDay)
		if l.Excluded && !b.cfg.Label.KeepAlreadyChurned {
			continue
		}
		in := f.indicatorsAt(g, m, td)
		static = slices.Grow(static, f.nStatic)
		st := static[len(static) : len(static)+f.nStatic]
		static = static[:len(static)+f.nStatic]
		f.staticAt(g, m, td, &in, st)
		exs = append(exs, BlockExample{CutoffDay: td, Split: split, Label: l, Indicators: in})
	}
	if len(exs) == 0 {
		blk.Examples, blk.static = exs, static
		if recycle {
			b.blocks.Put(blk)
		}
		return nil
	}
	// Static slices point into one array, set once it stopped growing.
	for k := range exs {
		exs[k].Static = static[k*f.nStatic : (k+1)*f.nStatic : (k+1)*f.nStatic]
	}
	T := int32(b.cfg.Weeks)
	w0 := max(g.week(m.join), g.week(exs[0].CutoffDay)-T)
	w1 := g.week(exs[len(exs)-1].CutoffDay)
	n := int(w1 - w0)
	blk.Member = i
	blk.FirstDay = g.start(w0)
	blk.Rows = growF32(blk.Rows, n*f.nSeq)
	blk.Mask = growF32(blk.Mask, n)
	blk.Examples = exs
	blk.static = static
	f.rows(g, m, w0, w1, blk.Rows, blk.Mask)
	return blk
}

// recycle returns blocks emitted with recycling for reuse.
func (b *Builder) recycle(blocks []*MemberBlock) {
	for _, blk := range blocks {
		b.blocks.Put(blk)
	}
}

// MemberIDs returns the member ids in member order (the order of AddMember).
func (b *Builder) MemberIDs() []string {
	ids := make([]string, b.members.len())
	for i := range ids {
		ids[i] = b.members.at(i).id
	}
	return ids
}

// Window materialises example k of blk as an Example, with the window of
// Weeks rows ending at its cutoff (rows before the block are masked).
func (blk *MemberBlock) Window(k int, spec *FeatureSpec, memberID string, loc *time.Location, ex *Example) {
	F := len(spec.Sequence)
	T := spec.Config.Weeks
	e := &blk.Examples[k]
	ex.MemberID = memberID
	y, mo, d := civilFromDays(e.CutoffDay)
	ex.Cutoff = time.Date(y, time.Month(mo), d, 0, 0, 0, 0, loc)
	ex.Seq = slices.Grow(ex.Seq[:0], T*F)[:T*F]
	ex.Mask = slices.Grow(ex.Mask[:0], T)[:T]
	clear(ex.Seq)
	clear(ex.Mask)
	end := int((e.CutoffDay - blk.FirstDay) / 7) // row index of the cutoff's week
	for j := 0; j < T; j++ {
		r := end - T + j
		if r < 0 || r >= len(blk.Mask) {
			continue
		}
		copy(ex.Seq[j*F:(j+1)*F], blk.Rows[r*F:(r+1)*F])
		ex.Mask[j] = blk.Mask[r]
	}
	ex.Static = append(ex.Static[:0], e.Static...)
	ex.Indicators = e.Indicators
	ex.Label = e.Label
	ex.Split = e.Split
}
