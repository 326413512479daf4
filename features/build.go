package features

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"retain/datasets"
	"retain/features/btyd"
)

// Source is the dataset that Build reads, one table at a time. A table
// that the dataset lacks (courses, transactions) is a nil Reader with a nil
// error. DirSource reads a dataset directory; MemorySource holds the tables
// in memory.
type Source interface {
	Manifest() datasets.Manifest
	Members() (datasets.Reader[datasets.Member], error)
	Courses() (datasets.Reader[datasets.Course], error)
	Attendance() (datasets.Reader[datasets.Attendance], error)
	Transactions() (datasets.Reader[datasets.Transaction], error)
}

// DirSource returns the Source of an opened dataset directory. Its readers
// only parse: a row is rejected (a *datasets.RowError) when a field cannot
// be read as its type, not when a value breaks a rule of 'retain validate'
// (a negative duration, an event before its member joined, a timestamp in
// the future): CheckedDirSource checks those. Its attendance and
// transaction readers skip the event_id column, which features never use
// (datasets.ReadOptions.SkipColumns): those ids are neither decoded nor
// checked.
func DirSource(d *datasets.Dir, opts *datasets.ReadOptions) Source { return dirSource{d, opts} }

type dirSource struct {
	d    *datasets.Dir
	opts *datasets.ReadOptions
}

func (s dirSource) Manifest() datasets.Manifest { return s.d.Manifest() }
func (s dirSource) Members() (datasets.Reader[datasets.Member], error) {
	return openOptional[datasets.Member](s)
}
func (s dirSource) Courses() (datasets.Reader[datasets.Course], error) {
	return openOptional[datasets.Course](s)
}
func (s dirSource) Attendance() (datasets.Reader[datasets.Attendance], error) {
	return openOptional[datasets.Attendance](s.skip("event_id"))
}
func (s dirSource) Transactions() (datasets.Reader[datasets.Transaction], error) {
	return openOptional[datasets.Transaction](s.skip("event_id"))
}

// skip returns s with cols added to the columns its readers skip.
func (s dirSource) skip(cols ...string) dirSource {
	var o datasets.ReadOptions
	if s.opts != nil {
		o = *s.opts
	}
	o.SkipColumns = append(slices.Clip(o.SkipColumns), cols...)
	s.opts = &o
	return s
}

func openOptional[T datasets.Record](s dirSource) (datasets.Reader[T], error) {
	r, err := datasets.OpenDirTable[T](s.d, s.opts)
	if errors.Is(err, datasets.ErrTableNotFound) {
		t := datasets.TableOf[T]()
		if t == datasets.TableCourses || t == datasets.TableTransactions {
			return nil, nil
		}
	}
	return r, err
}

// MemorySource is a Source over tables held in memory.
type MemorySource struct {
	Man             datasets.Manifest
	MemberRows      []datasets.Member
	CourseRows      []datasets.Course
	AttendanceRows  []datasets.Attendance
	TransactionRows []datasets.Transaction
}

// Manifest returns s.Man.
func (s *MemorySource) Manifest() datasets.Manifest { return s.Man }

// Members reads s.MemberRows.
func (s *MemorySource) Members() (datasets.Reader[datasets.Member], error) {
	return &sliceReader[datasets.Member]{rows: s.MemberRows}, nil
}

// Courses reads s.CourseRows.
func (s *MemorySource) Courses() (datasets.Reader[datasets.Course], error) {
	return &sliceReader[datasets.Course]{rows: s.CourseRows}, nil
}

// Attendance reads s.AttendanceRows.
func (s *MemorySource) Attendance() (datasets.Reader[datasets.Attendance], error) {
	return &sliceReader[datasets.Attendance]{rows: s.AttendanceRows}, nil
}

// Transactions reads s.TransactionRows.
func (s *MemorySource) Transactions() (datasets.Reader[datasets.Transaction], error) {
	return &sliceReader[datasets.Transaction]{rows: s.TransactionRows}, nil
}

type sliceReader[T datasets.Record] struct{ rows []T }

func (r *sliceReader[T]) Read(dst []T) (int, error) {
	if len(r.rows) == 0 {
		return 0, io.EOF
	}
	n := copy(dst, r.rows)
	r.rows = r.rows[n:]
	return n, nil
}

func (r *sliceReader[T]) Close() error { return nil }

// BuildOptions tunes Build. A nil *BuildOptions means defaults.
type BuildOptions struct {
	// Workers is the number of goroutines that compute examples. Default
	// min(2, GOMAXPROCS).
	Workers int
	// BatchRows is the number of rows read per Read call. Default 4096.
	BatchRows int
	// Strict makes a row that a reader rejects (a *datasets.RowError: a
	// field that does not parse or, from CheckedDirSource, a row that
	// breaks a rule of 'retain validate') fail the build. Default false:
	// such rows are counted in the report, with the first few errors, and
	// skipped.
	Strict bool
	// Cutoffs replaces the default rolling cutoffs (see Cutoffs); they must
	// be ascending week starts of the batch grid.
	Cutoffs []time.Time
	// NoCompression writes the training file's frames uncompressed (see
	// FileOptions). Default false.
	NoCompression bool
}

// BuildReport says what Build read and wrote.
type BuildReport struct {
	Output string
	Bytes  int64

	Members, Courses         int
	Attendance, Transactions int64 // events read
	// Rejected counts rows the readers rejected; RejectedSamples holds the
	// first few errors.
	Rejected        int64
	RejectedSamples []string
	// UnknownMember counts events of members missing from the members table
	// (skipped); UnknownCourse visits of courses missing from the courses
	// table (counted as visits of no category).
	UnknownMember, UnknownCourse int64

	DataStart, DataEnd time.Time
	Cutoffs            []time.Time
	Splits             []Split
	// Examples counts the examples written by split name.
	Examples map[string]SplitCounts
	// TierCore and TierActive are the tier thresholds used (fitted in
	// quantile mode); TierShares the shares of training examples per tier
	// (potential, active, core).
	TierCore, TierActive int64
	TierShares           [3]float64
	// LTV is the fitted model of the ltv indicator (FeatureSpec.LTV); when
	// its Model is LTVNaive, Reason says why the fit was not made.
	LTV        LTVModel
	Normalizer *Normalizer
	KPIs       *KPIReport

	// ReadSeconds is the time to stream the tables into member state,
	// EmitSeconds the time to compute and write the examples and the KPIs,
	// Seconds the total; EventsPerSecond is (Attendance+Transactions)/Seconds.
	ReadSeconds, EmitSeconds, Seconds float64
	EventsPerSecond                   float64
}

// ErrNoEvents is returned by Build and BuildLastWeekOut for data without
// one usable attendance or transaction row: there is no history to build
// examples from and, without a manifest range, no data range either.
var ErrNoEvents = errors.New("features: no events: nothing to build")

// noEvents returns ErrNoEvents with the counts that explain it.
func noEvents(members int, read, rejected, unknownMember int64) error {
	return fmt.Errorf("%w (%d members; %d event rows read, %d rows rejected, %d events of members not in the members table)",
		ErrNoEvents, members, read, rejected, unknownMember)
}

// BuildDataset reads the dataset directory dir once and writes the training
// file outPath (format in docs/features.md): BuildDir with default options.
func BuildDataset(dir string, cfg Config, outPath string) (*BuildReport, error) {
	return BuildDir(dir, cfg, outPath, nil)
}

// BuildDir is Build over CheckedDirSource: every row is checked as 'retain
// validate' checks it (but for the event ids, which features do not read),
// and a row that fails is counted as rejected and skipped, or fails the
// build with opts.Strict. A dataset without events is ErrNoEvents naming
// dir.
func BuildDir(dir string, cfg Config, outPath string, opts *BuildOptions) (*BuildReport, error) {
	d, err := datasets.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	rep, err := Build(CheckedDirSource(d, nil, nil), cfg, outPath, opts)
	if errors.Is(err, ErrNoEvents) {
		err = fmt.Errorf("dataset %s: %w", dir, err)
	}
	return rep, err
}

// Build streams src into a Builder, emits every member's examples at the
// rolling cutoffs with their time splits, and writes them to the training
// file outPath, with the normaliser fitted on the training split in its
// footer. The input is read once; memory holds the per-member state and a
// few chunks of examples, never all examples.
func Build(src Source, cfg Config, outPath string, opts *BuildOptions) (*BuildReport, error) {
	var o BuildOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 4096
	}
	if o.Workers <= 0 {
		o.Workers = min(2, runtime.GOMAXPROCS(0))
	}
	t0 := time.Now()
	man := src.Manifest()
	if man.Version > 0 {
		cfg.Values.MinorUnits = man.MinorUnits
	}
	b, err := NewBuilder(cfg)
	if err != nil {
		return nil, err
	}
	b.SetDataRange(man.Start, man.End)
	rep := &BuildReport{Output: outPath}
	rs := &readStats{strict: o.Strict}

	mr, err := src.Members()
	if err != nil {
		return nil, fmt.Errorf("features: members: %w", err)
	}
	if err := readAll(mr, o.BatchRows, rs, b.AddMember); err != nil {
		return nil, fmt.Errorf("features: members: %w", err)
	}
	if cr, err := src.Courses(); err != nil {
		return nil, fmt.Errorf("features: courses: %w", err)
	} else if cr != nil {
		if err := readAll(cr, o.BatchRows, rs, func(c *datasets.Course) error { rep.Courses++; return b.AddCourse(c) }); err != nil {
			return nil, fmt.Errorf("features: courses: %w", err)
		}
	}
	if _, err := b.Freeze(); err != nil {
		return nil, err
	}
	rep.Members = b.members.len()

	// Attendance and transactions fill separate halves of the member state,
	// so they are read concurrently, each with a decoding and an
	// aggregating goroutine.
	err = readEvents(src, o.BatchRows, rs, 1,
		func(_ int, a *datasets.Attendance) {
			_ = b.AddAttendance(a) // unknown members are counted by the builder
		},
		func(_ int, x *datasets.Transaction) { _ = b.AddTransaction(x) })
	if err != nil {
		return nil, err
	}
	rep.Attendance, rep.Transactions = b.att.n, b.tx.n
	rep.Rejected, rep.RejectedSamples = rs.rejected, rs.samples
	rep.UnknownMember = b.att.unknownMember + b.tx.unknownMember
	rep.UnknownCourse = b.att.unknownCourse
	if rep.Attendance+rep.Transactions == 0 {
		return nil, noEvents(rep.Members, rep.UnknownMember, rep.Rejected, rep.UnknownMember)
	}
	t1 := time.Now()
	rep.ReadSeconds = t1.Sub(t0).Seconds()

	rep.DataStart, rep.DataEnd = b.DataRange()
	cutoffs := o.Cutoffs
	if cutoffs == nil {
		if cutoffs, err = Cutoffs(&b.cfg, rep.DataStart, rep.DataEnd); err != nil {
			return nil, err
		}
	}
	if len(cutoffs) == 0 {
		return nil, fmt.Errorf("features: no cutoff fits the data range %s..%s with %d weeks of history and a %d-week horizon",
			rep.DataStart.Format(time.DateOnly), rep.DataEnd.Format(time.DateOnly), cfg.Weeks, cfg.HorizonWeeks)
	}
	splits, err := splitCutoffs(cutoffs, &b.cfg)
	if err != nil {
		return nil, err
	}
	rep.Cutoffs, rep.Splits = cutoffs, splits
	if b.cfg.Tier.Mode == TierQuantile {
		if err := b.fitTiers(cutoffs, splits); err != nil {
			return nil, err
		}
	}
	rep.TierCore, rep.TierActive = b.f.core, b.f.actv
	if err := b.fitLTV(cutoffs, splits); err != nil {
		return nil, err
	}
	rep.LTV = b.spec.LTV
	if err := b.fitChoice(cutoffs, splits); err != nil {
		return nil, err
	}

	hdr := &FileHeader{
		Spec:      *b.spec,
		Members:   b.MemberIDs(),
		Cutoffs:   cutoffs,
		Splits:    splits,
		DataStart: rep.DataStart,
		DataEnd:   rep.DataEnd,
		Source:    man.Source,
	}
	w, err := CreateFile(outPath, hdr, &FileOptions{NoCompression: o.NoCompression})
	if err != nil {
		return nil, err
	}
	var tiers [3]int64
	var bufs sync.Pool // *[]byte: encoding and compression buffers
	err = b.emit(cutoffs, splits, &EmitOptions{Workers: o.Workers}, true,
		func(blocks []*MemberBlock) (any, error) {
			var frames []frame
			raw := getBuf(&bufs, 2*frameTarget)
			for i, blk := range blocks {
				raw = w.appendBlock(raw, blk)
				if len(raw) >= frameTarget || i == len(blocks)-1 {
					comp := getBuf(&bufs, 0)
					f := w.encodeFrame(raw, &comp)
					if f.codec == codecRaw {
						raw = getBuf(&bufs, 2*frameTarget) // the frame keeps raw
					} else {
						raw = raw[:0]
					}
					frames = append(frames, f)
				}
			}
			bufs.Put(&raw)
			return frames, nil
		},
		func(blocks []*MemberBlock, enc any) error {
			for _, blk := range blocks {
				for k := range blk.Examples {
					if e := &blk.Examples[k]; e.Split == SplitTrain && !e.Label.Excluded {
						tiers[e.Indicators.Tier]++
					}
				}
			}
			frames := enc.([]frame)
			err := w.writeChunk(frames, blocks)
			b.recycle(blocks)
			for _, f := range frames {
				bufs.Put(&f.stored)
			}
			return err
		})
	if err != nil {
		w.Abort()
		return nil, err
	}
	ft := w.Footer()
	if err := w.Close(); err != nil {
		return nil, err
	}
	rep.Examples = ft.Splits
	rep.Normalizer = ft.Normalizer
	if n := tiers[0] + tiers[1] + tiers[2]; n > 0 {
		for i := range tiers {
			rep.TierShares[i] = float64(tiers[i]) / float64(n)
		}
	}
	if rep.KPIs, err = b.KPIs(); err != nil {
		return nil, err
	}
	t2 := time.Now()
	rep.EmitSeconds = t2.Sub(t1).Seconds()
	rep.Seconds = t2.Sub(t0).Seconds()
	if rep.Seconds > 0 {
		rep.EventsPerSecond = float64(rep.Attendance+rep.Transactions) / rep.Seconds
	}
	if st, err := os.Stat(outPath); err == nil {
		rep.Bytes = st.Size()
	}
	return rep, nil
}

// getBuf returns an empty buffer of at least capacity n from pool.
func getBuf(pool *sync.Pool, n int) []byte {
	if v := pool.Get(); v != nil {
		if b := *v.(*[]byte); cap(b) >= n {
			return b[:0]
		}
	}
	return make([]byte, 0, n)
}

// writeChunk writes the frames of one chunk of blocks and counts the
// blocks.
func (w *FileWriter) writeChunk(frames []frame, blocks []*MemberBlock) error {
	w.flushPending()
	for _, f := range frames {
		w.writeFrame(f)
	}
	for _, blk := range blocks {
		w.count(blk)
	}
	return w.err
}

// fitTiers sets the tier thresholds from the trailing spend of the training
// examples, so that CoreShare of them are core and ActiveShare active.
func (b *Builder) fitTiers(cutoffs []time.Time, splits []Split) error {
	days, err := b.cutoffDays(cutoffs)
	if err != nil {
		return err
	}
	_, endDay := b.dataDays()
	var spends []int64
	for i := 0; i < b.members.len(); i++ {
		m := b.members.at(i)
		ms := memberSplitOf(&b.cfg, m.id)
		for k, td := range days {
			if exampleSplit(&b.cfg, ms, k, len(days), splits[k]) != SplitTrain || m.join >= td {
				continue
			}
			if b.f.labelAt(b.g, m, td, endDay).Excluded {
				continue
			}
			spends = append(spends, spend52(b.g, m, td))
		}
	}
	if len(spends) == 0 {
		return fmt.Errorf("features: quantile tiers: no training example")
	}
	slices.Sort(spends)
	q := func(p float64) int64 {
		i := int(p * float64(len(spends)))
		return spends[min(max(i, 0), len(spends)-1)]
	}
	tc := &b.spec.Config.Tier
	tc.Core = q(1 - tc.CoreShare)
	tc.Active = min(q(1-tc.CoreShare-tc.ActiveShare), tc.Core)
	b.cfg.Tier = *tc
	return b.refit()
}

// fitLTV fits the LTV model (FeatureSpec.LTV) on one calibration summary
// per training member: its payments before the latest cutoff at which it
// has a training example (joined by then; members already churned there
// count too, since the BG/NBD models dropping out). Members without a
// payment by then are left out and counted; with more than ltvFitMax
// payers a sample is fitted. A fit that cannot be made leaves the naive
// formula with the reason in the spec.
func (b *Builder) fitLTV(cutoffs []time.Time, splits []Split) error {
	days, err := b.cutoffDays(cutoffs)
	if err != nil {
		return err
	}
	var cs []btyd.Customer
	var ids []string
	neverPaid := 0
	for i := 0; i < b.members.len(); i++ {
		m := b.members.at(i)
		td, ok := b.lastTrainCutoff(m, days, splits)
		if !ok {
			continue
		}
		if c, ok := paymentSummary(m.tx.txs, b.g.week(td), b.f.scale); ok {
			cs = append(cs, c)
			ids = append(ids, m.id)
		} else {
			neverPaid++
		}
	}
	return b.setLTV(fitLTV(&b.cfg, sampleLTV(&b.cfg, ids, cs), len(cs), neverPaid))
}

// lastTrainCutoff returns the latest of the cutoff days at which member m
// has a training example (joined by then), and false when there is none:
// the point up to which the fits on the training split (fitLTV, fitChoice)
// read the member's history.
func (b *Builder) lastTrainCutoff(m *member, days []int32, splits []Split) (int32, bool) {
	ms := memberSplitOf(&b.cfg, m.id)
	for k := len(days) - 1; k >= 0; k-- {
		if td := days[k]; exampleSplit(&b.cfg, ms, k, len(days), splits[k]) == SplitTrain && m.join < td {
			return td, true
		}
	}
	return 0, false
}

// setLTV stores l in the spec and remakes the Featurizer.
func (b *Builder) setLTV(l LTVModel) error {
	b.spec.LTV = l
	return b.refit()
}

// refit remakes the Featurizer from the spec after a fit (tiers, LTV)
// changed it.
func (b *Builder) refit() error {
	f, err := NewFeaturizer(b.spec)
	if err != nil {
		return err
	}
	b.f = f
	return nil
}

// readStats counts rejected rows.
type readStats struct {
	strict   bool
	rejected int64
	samples  []string
}

// readEvents streams the attendance and transactions of src concurrently,
// each through pump: attendance to attParts consumers calling addAtt,
// transactions to one calling addTx (k = 0). The row errors they skip are merged
// into rs. Either table may be absent (a nil Reader).
func readEvents(src Source, batch int, rs *readStats, attParts int, addAtt func(k int, a *datasets.Attendance), addTx func(k int, x *datasets.Transaction)) error {
	ar, err := src.Attendance()
	if err != nil {
		return fmt.Errorf("features: attendance: %w", err)
	}
	tr, err := src.Transactions()
	if err != nil {
		if ar != nil {
			ar.Close()
		}
		return fmt.Errorf("features: transactions: %w", err)
	}
	var wg sync.WaitGroup
	var aErr, tErr error
	rsA, rsT := &readStats{strict: rs.strict}, &readStats{strict: rs.strict}
	if ar != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			aErr = pump(ar, batch, rsA, attParts, addAtt)
		}()
	}
	if tr != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tErr = pump(tr, batch, rsT, 1, addTx)
		}()
	}
	wg.Wait()
	if aErr != nil {
		return fmt.Errorf("features: attendance: %w", aErr)
	}
	if tErr != nil {
		return fmt.Errorf("features: transactions: %w", tErr)
	}
	rs.merge(rsA)
	rs.merge(rsT)
	return nil
}

func (rs *readStats) merge(o *readStats) {
	rs.rejected += o.rejected
	for _, s := range o.samples {
		if len(rs.samples) < 10 {
			rs.samples = append(rs.samples, s)
		}
	}
}

// rowErr handles a Read error: a *RowError is counted (or fatal when
// strict); anything else is fatal.
func (rs *readStats) rowErr(err error) error {
	var re *datasets.RowError
	if !errors.As(err, &re) || rs.strict {
		return err
	}
	rs.rejected++
	if len(rs.samples) < 10 {
		rs.samples = append(rs.samples, re.Error())
	}
	return nil
}

// readAll reads r to the end, calling add for each row, and closes it. An
// error from add (a duplicate member id) names the row's file and row when
// r tells them (datasets.Position).
func readAll[T datasets.Record](r datasets.Reader[T], batch int, rs *readStats, add func(*T) error) (err error) {
	defer func() {
		if cerr := r.Close(); err == nil {
			err = cerr
		}
	}()
	buf := make([]T, batch)
	for {
		n, err := r.Read(buf)
		file, first := datasets.Position(r)
		for i := 0; i < n; i++ {
			if err := add(&buf[i]); err != nil {
				if file != "" {
					return fmt.Errorf("%s: row %d: %w", file, first+int64(i), err)
				}
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if err := rs.rowErr(err); err != nil {
				return err
			}
		}
	}
}
