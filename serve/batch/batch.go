package batch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"retain/datasets"
	"retain/features"
	"retain/serve"
	"retain/serve/playbook"
)

// Options configure Run.
type Options struct {
	// Model is the model bundle file, Data the dataset directory, Out the
	// output file (written atomically: a temporary file renamed into
	// place). All three are required.
	Model, Data, Out string
	// AsOf is the scoring instant; zero means the dataset's end from its
	// manifest. It is rounded down to the start of its day in the
	// bundle's time zone for the features, as retain serve does.
	AsOf time.Time
	// Shard and Shards select a slice of the members (see Shard); Shards 0
	// means all members.
	Shard, Shards int
	// Format is "parquet" (default) or "csv".
	Format string
	// Club, when set, scores only the members of that home club.
	Club string
	// Risk are the risk-level thresholds; zero means retain serve's
	// defaults. Risk.High is also the retention-offer threshold, as in
	// retain serve.
	Risk serve.RiskThresholds
	// Playbook gives the recommended actions (docs/playbook.md); nil means
	// the embedded default, as in retain serve.
	Playbook *playbook.Playbook
	// Strict makes a row of the dataset that breaks a rule of 'retain
	// validate' (or does not parse) fail the run. Default false: such rows
	// are skipped and counted in Report.Read (Rejected, with the first few
	// errors in RejectedSamples).
	Strict bool
	// Workers is the number of scoring goroutines; default
	// min(2, GOMAXPROCS).
	Workers int
	// BatchMembers is the number of members per forward pass; default 256.
	BatchMembers int
	// Progress receives progress: a bar when Bar is set (a terminal),
	// else a log line every 10 % of the members. Nil means none.
	Progress io.Writer
	Bar      bool
}

// Report says what Run did. Every member of the members table is counted
// once: in Scored, in Skipped by reason, or in LeftOut by reason.
type Report struct {
	Out          string
	AsOf         time.Time
	ModelVersion string
	// Members counts the members table's rows.
	Members int
	// LeftOut counts the members the selection left out: "other_shard"
	// (--shard) and "other_club" (--club).
	LeftOut map[string]int
	// Skipped counts the selected members that are not active at AsOf, by
	// reason: "not_joined" (joined at or after AsOf), "already_churned"
	// (churned by the bundle's label definition, docs/labels.md) and
	// "open_ended_contract" (cancellation labels only).
	Skipped map[string]int
	// Scored counts the rows written.
	Scored int
	// Read is what reading the dataset found (rejected rows, events of
	// unknown members or courses).
	Read features.AsOfReport
	// Stage times: ReadSeconds is the wall time of reading the dataset
	// into member state; FeatureSeconds, ScoreSeconds and ForwardSeconds the time the
	// workers spent computing examples, scoring (ScoreBatch, which
	// includes ForwardSeconds, the network's forward passes) and converting
	// rows, summed over the workers (wall time: they include waiting for
	// a core on a loaded machine); WriteSeconds the writer's time encoding
	// and writing rows; Seconds the whole run, and MembersPerSecond the
	// selected members (all of the members table without --shard and
	// --club) over Seconds.
	ReadSeconds, FeatureSeconds, ScoreSeconds, ForwardSeconds, WriteSeconds, Seconds float64
	MembersPerSecond                                                                 float64
}

// ParseShard parses "i/n" (0 <= i < n): shard i of n.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/n with 0 <= i < n, such as 0/4", s)
	}
	return i, n, nil
}

// Shard returns the shard of memberID among n: the FNV-1a 64 hash of the
// id's bytes modulo n. It depends on nothing but the id, so it is the same
// on every machine and Go version.
func Shard(memberID string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(memberID))
	return int(h.Sum64() % uint64(n))
}

// Run scores the active members of o.Data with o.Model and writes o.Out.
func Run(ctx context.Context, o Options) (*Report, error) {
	t0 := time.Now()
	switch {
	case o.Model == "":
		return nil, errors.New("batch: no model bundle given")
	case o.Data == "":
		return nil, errors.New("batch: no dataset directory given")
	case o.Out == "":
		return nil, errors.New("batch: no output file given")
	}
	if o.Format == "" {
		o.Format = "parquet"
	}
	if o.Format != "parquet" && o.Format != "csv" {
		return nil, fmt.Errorf("batch: format %q: want parquet or csv", o.Format)
	}
	if o.Shards == 0 && o.Shard == 0 {
		o.Shards = 1
	}
	if o.Shards < 1 || o.Shard < 0 || o.Shard >= o.Shards {
		return nil, fmt.Errorf("batch: shard %d/%d: want 0 <= i < n", o.Shard, o.Shards)
	}
	if o.Risk == (serve.RiskThresholds{}) {
		o.Risk = serve.DefaultOptions().Risk
	}
	if r := o.Risk; !(r.Medium > 0 && r.Medium <= r.High && r.High <= 1) {
		return nil, fmt.Errorf("batch: risk thresholds %+v: want 0 < medium <= high <= 1", r)
	}
	if o.Workers <= 0 {
		o.Workers = min(2, runtime.GOMAXPROCS(0))
	}
	if o.BatchMembers <= 0 {
		o.BatchMembers = 256
	}
	d, err := datasets.OpenDir(o.Data)
	if err != nil {
		return nil, fmt.Errorf("batch: dataset: %w", err)
	}
	courses, err := readCourses(d)
	if err != nil {
		return nil, err
	}
	sc, err := serve.NewBundleScorer(o.Model, &serve.BundleOptions{
		HighRisk: o.Risk.High, MediumRisk: o.Risk.Medium, Playbook: o.Playbook,
		Catalog: func([]string) (map[string]datasets.Course, error) {
			return courses, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	asOf := o.AsOf
	if asOf.IsZero() {
		asOf = d.Manifest().End
		if asOf.IsZero() {
			return nil, fmt.Errorf("batch: dataset %s: its manifest states no end; give an as-of date", o.Data)
		}
	}
	rep := &Report{Out: o.Out, ModelVersion: sc.Info().Version, LeftOut: map[string]int{}, Skipped: map[string]int{}}
	spec := *sc.Bundle().Spec
	spec.Config.DataEnd = time.Time{} // as served: the history ends at the as-of time
	clubs := map[string]bool{}
	keep := func(m *datasets.Member) bool {
		clubs[m.HomeClub] = true
		switch {
		case o.Shards > 1 && Shard(m.MemberID, o.Shards) != o.Shard:
			rep.LeftOut["other_shard"]++
			return false
		case o.Club != "" && m.HomeClub != o.Club:
			rep.LeftOut["other_club"]++
			return false
		}
		return true
	}
	logf(o, "reading %s as of %s", o.Data, asOf.Format(time.RFC3339))
	// Every row is checked as retain validate checks it, but for the
	// columns that no feature reads and that are not decoded: event_id
	// (DirSource skips it) and source.
	src := features.CheckedDirSource(d, &datasets.ReadOptions{SkipColumns: []string{"source"}}, nil)
	a, err := features.ReadAsOf(src, &spec, asOf, asOf, &features.AsOfOptions{Keep: keep, Strict: o.Strict})
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	if o.Club != "" && !clubs[o.Club] {
		names := slices.Sorted(maps.Keys(clubs))
		if len(names) > 20 {
			names = append(names[:20], "...")
		}
		return nil, fmt.Errorf("batch: club %q: no member of %s has this home club (clubs: %s)", o.Club, o.Data, strings.Join(names, ", "))
	}
	rep.AsOf = asOf
	rep.Read = a.Report()
	rep.Members = rep.Read.Members
	rep.ReadSeconds = time.Since(t0).Seconds()
	logf(o, "read %d members (%d selected), %d attendance and %d transactions in %.1fs",
		rep.Members, a.Len(), rep.Read.Attendance, rep.Read.Transactions, rep.ReadSeconds)

	f, err := createAtomic(o.Out)
	if err != nil {
		return nil, err
	}
	var w rowWriter
	if o.Format == "csv" {
		w, err = newCSVWriter(f)
	} else {
		w = newParquetWriter(f)
	}
	if err == nil {
		err = score(ctx, o, sc, a, asOf, rep, w)
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = f.Commit()
	} else {
		f.Abort()
	}
	if err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(t0).Seconds()
	if rep.Seconds > 0 {
		rep.MembersPerSecond = float64(rep.Read.Kept) / rep.Seconds
	}
	return rep, nil
}

// readCourses reads the dataset's courses table (for the course clubs of
// the next-course mapping, as retain serve takes them from its store); a
// dataset without one has none.
func readCourses(d *datasets.Dir) (map[string]datasets.Course, error) {
	r, err := datasets.OpenDirTable[datasets.Course](d, nil)
	if errors.Is(err, datasets.ErrTableNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("batch: courses: %w", err)
	}
	defer r.Close()
	out := map[string]datasets.Course{}
	buf := make([]datasets.Course, 256)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			out[c.CourseID] = c
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("batch: courses: %w", err)
		}
	}
}

// logf writes a progress line (before the bar, if any, starts).
func logf(o Options, format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// chunkResult is one chunk's rows and skip counts.
type chunkResult struct {
	rows    []Row
	skipped map[string]int
	err     error
}

// workerTimes are one worker's stage times.
type workerTimes struct{ feature, score, forward time.Duration }

// score computes the members' rows in chunks of o.BatchMembers on
// o.Workers goroutines and writes them in member order.
func score(ctx context.Context, o Options, sc *serve.BundleScorer, a *features.AsOf, asOf time.Time, rep *Report, w rowWriter) error {
	n := a.Len()
	chunk := o.BatchMembers
	nChunks := (n + chunk - 1) / chunk
	results := make([]chan chunkResult, nChunks)
	for i := range results {
		results[i] = make(chan chunkResult, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	// At most 4 chunks per worker are computed ahead of the writer.
	tokens := make(chan struct{}, 4*o.Workers)
	times := make([]workerTimes, o.Workers)
	version := sc.Info().Version
	asOfMicros := asOf.UnixMicro()
	var wg sync.WaitGroup
	for wi := 0; wi < o.Workers; wi++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ws serve.BatchWorkspace
			exs := make([]features.Example, chunk)
			ms := make([]serve.BatchMember, 0, chunk)
			scores := make([]serve.Score, chunk)
			tm := &times[wi]
			for c := range next {
				lo, hi := c*chunk, min((c+1)*chunk, n)
				res := chunkResult{skipped: map[string]int{}}
				t1 := time.Now()
				ms = ms[:0]
				for i := lo; i < hi; i++ {
					if why := a.Exclusion(i); why != "" {
						res.skipped[why]++
						continue
					}
					ex := &exs[len(ms)]
					if err := a.Example(i, ex); err != nil {
						res.err = fmt.Errorf("batch: member %s: %w", a.MemberID(i), err)
						break
					}
					ms = append(ms, serve.BatchMember{Ex: ex, HomeClub: a.Club(i), Attended: a.Attended(i)})
				}
				t2 := time.Now()
				if res.err == nil {
					fw := ws.Forward
					res.err = sc.ScoreBatch(ms, &ws, scores)
					tm.forward += ws.Forward - fw
				}
				if res.err == nil {
					res.rows = make([]Row, len(ms))
					for k := range ms {
						toRow(&res.rows[k], &scores[k], ms[k].Ex.MemberID, ms[k].HomeClub, asOfMicros, o.Risk, version)
					}
				}
				tm.feature += t2.Sub(t1)
				tm.score += time.Since(t2)
				results[c] <- res // buffered: never blocks
			}
		}()
	}
	go func() {
		defer close(next)
		for c := 0; c < nChunks; c++ {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	prog := newProgress(o, n)
	var err error
	var write time.Duration
	for c := 0; c < nChunks && err == nil; c++ {
		var r chunkResult
		select {
		case r = <-results[c]:
		case <-ctx.Done():
			err = ctx.Err()
			continue
		}
		<-tokens
		if err = r.err; err != nil {
			break
		}
		t := time.Now()
		if err = w.Write(r.rows); err != nil {
			err = fmt.Errorf("batch: write %s: %w", o.Out, err)
		}
		write += time.Since(t)
		rep.Scored += len(r.rows)
		for k, v := range r.skipped {
			rep.Skipped[k] += v
		}
		prog.add(min((c+1)*chunk, n))
	}
	cancel()
	wg.Wait()
	prog.done()
	for _, tm := range times {
		rep.FeatureSeconds += tm.feature.Seconds()
		rep.ScoreSeconds += tm.score.Seconds()
		rep.ForwardSeconds += tm.forward.Seconds()
	}
	rep.WriteSeconds = write.Seconds()
	return err
}

// toRow fills r from score s.
func toRow(r *Row, s *serve.Score, id, club string, asOf int64, risk serve.RiskThresholds, version string) {
	*r = Row{
		MemberID: id, Club: club, AsOf: asOf,
		ChurnProbability: s.ChurnProbability, RiskLevel: risk.Level(s.ChurnProbability),
		Flags: s.Flags, Tier: s.Tier,
		ActionKind: s.Action.Kind, ActionStage: s.Action.Stage, ActionOffer: s.Action.OfferText,
		ModelVersion: version,
	}
	courses := [3]struct {
		id *string
		p  *float64
	}{{&r.NextCourse1, &r.NextCourse1Probability}, {&r.NextCourse2, &r.NextCourse2Probability}, {&r.NextCourse3, &r.NextCourse3Probability}}
	for i, c := range s.NextCourses[:min(3, len(s.NextCourses))] {
		*courses[i].id, *courses[i].p = c.CourseID, c.Probability
	}
	reasons := [3]struct {
		name *string
		c    *float64
	}{{&r.Reason1, &r.Reason1Contribution}, {&r.Reason2, &r.Reason2Contribution}, {&r.Reason3, &r.Reason3Contribution}}
	for i, x := range s.Reasons[:min(3, len(s.Reasons))] {
		*reasons[i].name, *reasons[i].c = x.Name, x.Contribution
	}
}

// progress shows how many members were scored.
type progress struct {
	o    Options
	n    int
	bar  *progressbar.ProgressBar
	next int // next member count to log at
	t0   time.Time
}

func newProgress(o Options, n int) *progress {
	p := &progress{o: o, n: n, t0: time.Now(), next: n / 10}
	if o.Progress != nil && o.Bar {
		p.bar = progressbar.NewOptions(n,
			progressbar.OptionSetWriter(o.Progress),
			progressbar.OptionSetDescription("scoring"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
	}
	return p
}

func (p *progress) add(done int) {
	switch {
	case p.bar != nil:
		p.bar.Set(done)
	case p.o.Progress != nil && done >= p.next && done < p.n:
		fmt.Fprintf(p.o.Progress, "processed %d/%d selected members (%.0f%%) in %.1fs\n", done, p.n, 100*float64(done)/float64(p.n), time.Since(p.t0).Seconds())
		p.next = done + max(1, p.n/10)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar.Clear()
	}
}
