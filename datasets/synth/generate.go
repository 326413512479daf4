package synth

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"retain/datasets"
)

// A Sink receives the generated records in batches. Generate calls Courses
// once, first; then, for each chunk of members in member order, Members,
// Attendance, Transactions and Truth (an empty batch is not delivered).
// Within a batch the events of each member are sorted by timestamp and the
// members appear in member order. The slices belong to the sink after the
// call. A non-nil error stops the generation and is returned by Generate.
type Sink interface {
	Members([]datasets.Member) error
	Courses([]datasets.Course) error
	Attendance([]datasets.Attendance) error
	Transactions([]datasets.Transaction) error
	Truth([]Truth) error
}

// Discard is a Sink that drops everything.
var Discard Sink = discard{}

type discard struct{}

func (discard) Members([]datasets.Member) error           { return nil }
func (discard) Courses([]datasets.Course) error           { return nil }
func (discard) Attendance([]datasets.Attendance) error    { return nil }
func (discard) Transactions([]datasets.Transaction) error { return nil }
func (discard) Truth([]Truth) error                       { return nil }

// MemorySink is a Sink that keeps every record in memory, for tests and
// small data sets.
type MemorySink struct {
	MemberRows      []datasets.Member
	CourseRows      []datasets.Course
	AttendanceRows  []datasets.Attendance
	TransactionRows []datasets.Transaction
	TruthRows       []Truth
}

func (m *MemorySink) Members(r []datasets.Member) error {
	m.MemberRows = append(m.MemberRows, r...)
	return nil
}
func (m *MemorySink) Courses(r []datasets.Course) error {
	m.CourseRows = append(m.CourseRows, r...)
	return nil
}
func (m *MemorySink) Attendance(r []datasets.Attendance) error {
	m.AttendanceRows = append(m.AttendanceRows, r...)
	return nil
}
func (m *MemorySink) Transactions(r []datasets.Transaction) error {
	m.TransactionRows = append(m.TransactionRows, r...)
	return nil
}
func (m *MemorySink) Truth(r []Truth) error { m.TruthRows = append(m.TruthRows, r...); return nil }

// stockShare is the share of members who joined before Start.
const stockShare = 0.55

// chunkSize is the number of members simulated and delivered together.
const chunkSize = 256

func newGen(cfg Config, cutoffs []int) *gen {
	a, b := seedPair(cfg.Seed, tagTimetable)
	g := &gen{cfg: cfg, global: globalTrans(), cutoffs: cutoffs}
	g.tt = newTimetable(cfg.Clubs, randFrom(a, b))
	g.cal = newCalendar(cfg.Start, cfg.Weeks)
	return g
}

// Generate simulates the data set described by cfg and delivers it to sink.
// The output depends only on cfg (not on cfg.Workers): every member has its
// own random stream derived from (Seed, member index), members are simulated
// in parallel chunks and delivered in member order.
func Generate(cfg Config, sink Sink) (*Summary, error) {
	return generate(cfg, sink, nil)
}

// generate is Generate, computing the observable bound (posterior.go) when
// post is not nil.
func generate(cfg Config, sink Sink, post *posteriorRun) (*Summary, error) {
	cutoffs, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	g := newGen(cfg, cutoffs)
	g.post = post
	if err := sink.Courses(slices.Clone(g.tt.courses)); err != nil {
		return nil, fmt.Errorf("synth: courses: %w", err)
	}
	agg := newAggregate(g)

	nChunks := (cfg.Members + chunkSize - 1) / chunkSize
	results := make([]chan *chunkResult, nChunks)
	for i := range results {
		results[i] = make(chan *chunkResult, 1)
	}
	var stop atomic.Bool
	sem := make(chan struct{}, 2*cfg.Workers)
	jobs := make(chan int)
	go func() {
		for ci := range nChunks {
			sem <- struct{}{}
			jobs <- ci
		}
		close(jobs)
	}()
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := newTruthScratch()
			for ci := range jobs {
				if stop.Load() {
					results[ci] <- nil
					continue
				}
				results[ci] <- g.chunk(ci, ts)
			}
		}()
	}
	var firstErr error
	for ci := range nChunks {
		res := <-results[ci]
		<-sem
		if firstErr != nil || res == nil {
			continue
		}
		if err := res.deliver(sink); err != nil {
			firstErr = err
			stop.Store(true)
			continue
		}
		agg.add(res)
		if cfg.Progress != nil {
			cfg.Progress(min((ci+1)*chunkSize, cfg.Members), cfg.Members)
		}
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return agg.summary(), nil
}

// chunkResult is the output of one chunk of members.
type chunkResult struct {
	members []datasets.Member
	att     []datasets.Attendance
	tx      []datasets.Transaction
	truth   []Truth
	stats   []memberStats
}

func (c *chunkResult) deliver(s Sink) error {
	if err := s.Members(c.members); err != nil {
		return fmt.Errorf("synth: members: %w", err)
	}
	if len(c.att) > 0 {
		if err := s.Attendance(c.att); err != nil {
			return fmt.Errorf("synth: attendance: %w", err)
		}
	}
	if len(c.tx) > 0 {
		if err := s.Transactions(c.tx); err != nil {
			return fmt.Errorf("synth: transactions: %w", err)
		}
	}
	if len(c.truth) > 0 {
		if err := s.Truth(c.truth); err != nil {
			return fmt.Errorf("synth: truth: %w", err)
		}
	}
	return nil
}

// memberStats is what the Summary needs of one member.
type memberStats struct {
	contract   datasets.ContractType
	stock      bool
	joinDay    int32
	churnDay   int32 // math.MaxInt32: not churned within the data
	visits     int32
	weekVisits []uint8 // visits per week of the data (attendance rows)
	spend12    int64   // net spend in the last 12 months of the data
	aliveEnd   bool    // the Alive rule at the end of the data
}

func (g *gen) chunk(ci int, ts *truthScratch) *chunkResult {
	lo := ci * chunkSize
	hi := min(lo+chunkSize, g.cfg.Members)
	res := &chunkResult{members: make([]datasets.Member, 0, hi-lo), stats: make([]memberStats, 0, hi-lo)}
	var ev []event
	for i := lo; i < hi; i++ {
		ev = g.member(i, res, ts, ev[:0])
	}
	return res
}

// member simulates member i over the whole data period, computes its truth
// rows at the cutoffs and appends its records to res. ev is scratch.
func (g *gen) member(i int, res *chunkResult, ts *truthScratch, ev []event) []event {
	r := memberRand(g.cfg.Seed, i)
	W := g.cfg.Weeks
	var p *member
	var st state
	if r.Float64() >= stockShare {
		w := pickWeights(r, g.cal.joinWeight)
		day := int32(7*w + pickWeights(r, []float64{1.3, 1.2, 1.1, 1.1, 1, 0.8, 0.5}))
		p = g.newMember(r, i, day, false)
		st = g.initState(p)
	} else {
		// The stock: members who joined up to five years before Start and
		// were still members at Start. Draw a member, simulate it from its
		// join to Start, and start over when it churned before Start;
		// the window shrinks after repeated failures so this ends.
		for attempt := 0; ; attempt++ {
			back := 1 + r.IntN(max(maxBackWeeks>>(attempt/8), 1))
			day := int32(-7*back + r.IntN(7))
			p = g.newMember(r, i, day, true)
			st = g.initState(p)
			for w := -back; w < 0; w++ {
				ev = g.step(&st, p, w, r, ev[:0])
			}
			if st.status != statusChurned {
				break
			}
		}
	}
	ev = ev[:0]
	var rc *recorder
	first := len(res.truth)
	if g.post != nil {
		rc = &recorder{stock: p.joinDay < 0}
		st.rec = rc
	}
	ci := 0
	for w := 0; w < W; w++ {
		for ci < len(g.cutoffs) && g.cutoffs[ci] == w {
			if p.joinDay < int32(7*w) {
				t := g.truth(&st, p, w, ts)
				if rc != nil && g.post.weeks[w] && t.Alive && !t.Churned {
					t.post = g.postAt(p, rc, &st, w, ts)
				}
				res.truth = append(res.truth, t)
			}
			ci++
		}
		ev = g.step(&st, p, w, r, ev)
	}
	if rc != nil {
		g.postLabels(rc, res.truth[first:])
	}
	g.emit(p, &st, ev, res)
	return ev
}

// emit converts the member's events to records and collects its stats.
func (g *gen) emit(p *member, st *state, ev []event, res *chunkResult) {
	res.members = append(res.members, p.record(g))
	slices.SortStableFunc(ev, func(a, b event) int {
		if c := cmp.Compare(a.day, b.day); c != 0 {
			return c
		}
		return cmp.Compare(a.min, b.min)
	})
	W := g.cfg.Weeks
	ms := memberStats{contract: p.contract, stock: p.stock, joinDay: p.joinDay, churnDay: 1<<31 - 1, weekVisits: make([]uint8, W)}
	if st.status == statusChurned {
		ms.churnDay = st.churnDay
	}
	yearAgo := g.dayOf(g.cfg.End().AddDate(-1, 0, 0))
	num := strconv.Itoa(p.idx + 1)
	var na, nt int
	buf := make([]byte, 0, 24)
	for i := range ev {
		e := &ev[i]
		ts := g.cal.start.Add(time.Duration(e.day)*24*time.Hour + time.Duration(e.min)*time.Minute)
		if e.visit() {
			na++
			buf = append(append(append(buf[:0], 'a'), num...), '.')
			a := datasets.Attendance{EventID: string(strconv.AppendInt(buf, int64(na), 10)), MemberID: p.id, TS: ts,
				DurationMin: int(e.dur), Source: e.src}
			if e.course >= 0 {
				a.CourseID = g.tt.courses[e.course].CourseID
			}
			res.att = append(res.att, a)
			ms.visits++
			if wk := e.day / 7; ms.weekVisits[wk] < 255 {
				ms.weekVisits[wk]++
			}
			continue
		}
		nt++
		buf = append(append(append(buf[:0], 't'), num...), '.')
		res.tx = append(res.tx, datasets.Transaction{EventID: string(strconv.AppendInt(buf, int64(nt), 10)), MemberID: p.id,
			TS: ts, Amount: int64(e.amount), Kind: e.kind})
		if e.day >= yearAgo {
			ms.spend12 += int64(e.amount)
		}
	}
	ms.aliveEnd = st.lastAct >= int32(7*(W-activityWeeks))
	res.stats = append(res.stats, ms)
}
