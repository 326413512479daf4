package mapping

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"retain/datasets"
)

// Policy says what an import does with a bad row.
type Policy uint8

const (
	// Fail stops at the first bad row and writes nothing.
	Fail Policy = iota
	// Skip writes each bad row to the quarantine file and goes on.
	Skip
)

// ParsePolicy parses "fail" or "skip".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "fail":
		return Fail, nil
	case "skip":
		return Skip, nil
	}
	return Fail, fmt.Errorf("mapping: unknown bad-row policy %q (want fail or skip)", s)
}

func (p Policy) String() string {
	if p == Skip {
		return "skip"
	}
	return "fail"
}

// Options tunes an import. A nil *Options means defaults.
type Options struct {
	// OnBadRow is the bad-row policy. Default Fail.
	OnBadRow Policy
	// QuarantinePath is where Skip writes the rejected, cancelled and
	// duplicate rows. Default DIR/quarantine.csv. The file is written only
	// when there is such a row.
	QuarantinePath string
	// Now is the reference instant for "timestamp in the future".
	// Default time.Now().
	Now time.Time
	// Format is the format of the output tables: "parquet" or "csv".
	// Default "parquet".
	Format string
	// Check sets the limits of the canonical row checks; its Now is
	// replaced by Now. Default: the defaults of datasets.CheckOptions.
	Check *datasets.CheckOptions
}

// maxListed bounds Report.Dropped.
const maxListed = 1000

// A Report says what an import did with every input row:
// Rows = Imported + Rejected + Cancelled + Duplicates.
type Report struct {
	Mapping string   // the mapping's name
	Inputs  []string // the input files, as given
	Out     string   // the dataset directory

	Rows     int // data rows read from all inputs (headers not counted)
	Imported int // rows that became canonical rows

	Members      int // rows written per table
	Courses      int
	Visits       int
	Transactions int
	AmountTotal  int64 // sum of the transaction amounts written, minor units

	Rejected       int            // bad rows
	ByReason       map[string]int // bad rows per reason
	Cancelled      int            // cancellation rows, excluded
	Duplicates     int            // rows identical to an earlier row, excluded
	DuplicatesKept int            // identical rows kept because the source says duplicates: keep

	// Dropped lists the cancelled and duplicate rows (the first 1000), in
	// input order. Their Err wraps ErrCancelled or ErrDuplicateRow.
	Dropped []*datasets.RowError

	Quarantine string // the quarantine file written, or ""
	// Written is true once the dataset is in Out. A failed import writes
	// nothing: the counts then say what was read before it stopped.
	Written    bool
	Currency   string
	MinorUnits int
	Start, End time.Time // first and last event written
}

// Import reads the inputs, each as the first source of m whose match
// pattern fits its base name, and writes the canonical dataset into outDir,
// which must not exist or be empty. Nothing appears in outDir unless the
// import succeeds.
//
// With the Fail policy the first bad row ends the import with an error
// wrapping its *datasets.RowError. With Skip bad rows go to the quarantine
// file and are counted in the report. Cancelled and duplicate rows are never
// errors: they are counted, listed in the report and, with Skip, written to
// the quarantine file too, so that it holds every input row not imported.
//
// The report is returned even when the import fails.
func Import(m *Mapping, inputs []string, outDir string, opts *Options) (*Report, error) {
	if m == nil || m.loc == nil {
		return nil, errors.New("mapping: Import needs a mapping from Load, Parse or Builtin")
	}
	inputs = append([]string(nil), inputs...)
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	switch o.Format {
	case "":
		o.Format = "parquet"
	case "parquet", "csv":
	default:
		return nil, fmt.Errorf("mapping: unknown output format %q (want parquet or csv)", o.Format)
	}
	var co datasets.CheckOptions
	if o.Check != nil {
		co = *o.Check
	}
	co.Now = o.Now
	if co.MaxAmount <= 0 {
		co.MaxAmount = 10_000_000
	}
	if co.MaxDurationMin <= 0 {
		co.MaxDurationMin = 1440
	}
	if co.MinTime.IsZero() {
		co.MinTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	im := &importer{
		m:    m,
		opts: o,
		lim:  &limits{now: o.Now, minTime: co.MinTime, maxAmount: co.MaxAmount, maxDur: co.MaxDurationMin},
		rep: &Report{Mapping: m.Name, Inputs: inputs, Out: outDir, ByReason: map[string]int{},
			Currency: m.Currency, MinorUnits: m.minor},
		check:          datasets.NewChecker(&co),
		seen:           map[[16]byte]rowRef{},
		derived:        map[string]*memberState{},
		derivedCourses: map[string]*datasets.Course{},
	}
	err := im.run(inputs, outDir)
	if err != nil {
		im.abort()
		return im.rep, err
	}
	return im.rep, nil
}

type rowRef struct {
	file int
	row  int64
}

type memberState struct {
	first time.Time
	attrs *datasets.Member // from the member's first row
	loc   *time.Location   // of the first row's source
}

type importer struct {
	m     *Mapping
	opts  Options
	lim   *limits
	rep   *Report
	cover time.Time // the manifest's end: see endOfCoverage
	check *datasets.Checker

	tmp   string
	q     *datasets.Quarantine
	qPath string // in tmp

	members      tableOut[datasets.Member]
	courses      tableOut[datasets.Course]
	attendance   tableOut[datasets.Attendance]
	transactions tableOut[datasets.Transaction]

	inputs   []string
	idPrefix []string // per input: the prefix of derived event ids
	seen     map[[16]byte]rowRef
	derived  map[string]*memberState
	// derivedCourses are the courses derived from visits, by id.
	derivedCourses map[string]*datasets.Course
}

// tableOut buffers the rows of one output table.
type tableOut[T datasets.Record] struct {
	w   datasets.Writer[T]
	buf []T
}

func (t *tableOut[T]) open(dir, format string) error {
	w, err := datasets.CreateTable[T](filepath.Join(dir, string(datasets.TableOf[T]())+"."+format), nil)
	if err != nil {
		return err
	}
	t.w = w
	t.buf = make([]T, 0, 1024)
	return nil
}

func (t *tableOut[T]) add(x T) error {
	t.buf = append(t.buf, x)
	if len(t.buf) == cap(t.buf) {
		return t.flush()
	}
	return nil
}

func (t *tableOut[T]) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.w.Write(t.buf)
	t.buf = t.buf[:0]
	return err
}

func (t *tableOut[T]) close() error {
	if t.w == nil {
		return nil
	}
	if err := t.flush(); err != nil {
		return err
	}
	err := t.w.Close()
	t.w = nil
	return err
}

func (t *tableOut[T]) abort() {
	if t.w != nil {
		t.w.Abort()
		t.w = nil
	}
}

func (im *importer) abort() {
	im.members.abort()
	im.courses.abort()
	im.attendance.abort()
	im.transactions.abort()
	if im.q != nil {
		im.q.Abort()
		im.q = nil
	}
	if im.tmp != "" {
		os.RemoveAll(im.tmp)
		if im.qPath != "" && !strings.HasPrefix(im.qPath, im.tmp+string(filepath.Separator)) {
			os.Remove(im.qPath)
		}
	}
}

// phases: explicit members, courses, derived members (collected from the
// event sources), events.
func (im *importer) run(inputs []string, outDir string) error {
	m := im.m
	im.inputs = inputs
	if len(inputs) == 0 {
		return errors.New("mapping: no input files")
	}
	// Derived event ids start with the input's base name, or with its path
	// when another input has the same base name.
	bases := map[string]int{}
	for _, in := range inputs {
		bases[filepath.Base(in)]++
	}
	im.idPrefix = make([]string, len(inputs))
	for i, in := range inputs {
		im.idPrefix[i] = filepath.Base(in)
		if bases[im.idPrefix[i]] > 1 {
			im.idPrefix[i] = filepath.ToSlash(filepath.Clean(in))
		}
	}
	// Assign inputs to sources.
	bySource := make([][]int, len(m.Sources))
	for i, in := range inputs {
		base := filepath.Base(in)
		found := false
		for j := range m.Sources {
			if ok, _ := path.Match(m.Sources[j].Match, base); ok {
				bySource[j] = append(bySource[j], i)
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("mapping: input %s matches no source of mapping %s (patterns: %s)", in, m.Name, quoteList(im.patterns()))
		}
	}
	for j, s := range m.Sources {
		if len(bySource[j]) == 0 {
			return fmt.Errorf("%w %s (no input file matches %q)", ErrNoInput, s.Name, s.Match)
		}
	}
	if err := im.prepareOut(outDir); err != nil {
		return err
	}
	// Output tables.
	f := im.opts.Format
	if err := im.members.open(im.tmp, f); err != nil {
		return err
	}
	if err := im.attendance.open(im.tmp, f); err != nil {
		return err
	}
	hasCourses, hasTx := false, false
	for _, s := range m.Sources {
		hasCourses = hasCourses || s.Courses != nil
		hasTx = hasTx || s.Transactions != nil
	}
	if hasCourses {
		if err := im.courses.open(im.tmp, f); err != nil {
			return err
		}
	}
	if hasTx {
		if err := im.transactions.open(im.tmp, f); err != nil {
			return err
		}
	}
	if im.opts.OnBadRow == Skip {
		im.qPath = filepath.Join(im.tmp, "quarantine.csv")
		q, err := datasets.NewQuarantine(im.qPath)
		if err != nil {
			return err
		}
		im.q = q
	}

	// Phase 1: member and course lists.
	for j := range m.Sources {
		s := &m.Sources[j]
		if s.Members != nil && !s.derived {
			if err := im.each(s, bySource[j], im.handle); err != nil {
				return err
			}
		}
	}
	for j := range m.Sources {
		s := &m.Sources[j]
		if s.Courses != nil && !s.derivedCourses {
			if err := im.each(s, bySource[j], im.handle); err != nil {
				return err
			}
		}
	}
	// Phase 2: members and courses derived from events.
	derived, derivedCourses := false, false
	for j := range m.Sources {
		s := &m.Sources[j]
		if s.derived || s.derivedCourses {
			derived = derived || s.derived
			derivedCourses = derivedCourses || s.derivedCourses
			if err := im.each(s, bySource[j], im.collect); err != nil {
				return err
			}
		}
	}
	if derivedCourses {
		if err := im.writeDerivedCourses(); err != nil {
			return err
		}
	}
	if derived {
		if err := im.writeDerived(); err != nil {
			return err
		}
	}
	// Phase 3: events.
	for j := range m.Sources {
		s := &m.Sources[j]
		if s.Attendance != nil || s.Transactions != nil {
			if err := im.each(s, bySource[j], im.handle); err != nil {
				return err
			}
		}
	}
	if im.rep.Imported == 0 {
		return im.nothingImported()
	}
	return im.finish(outDir)
}

// ErrNothingImported is returned by Import when no input row became a
// canonical row: an empty dataset is of no use (retain features has
// nothing to build from it), so none is written.
var ErrNothingImported = errors.New("mapping: no row imported, nothing written")

// nothingImported returns ErrNothingImported with what the inputs held.
func (im *importer) nothingImported() error {
	r := im.rep
	if r.Rows == 0 {
		return fmt.Errorf("%w: the input file(s) %s have no data rows", ErrNothingImported, strings.Join(im.inputs, ", "))
	}
	return fmt.Errorf("%w: all %d data rows of %s were left out (%d rejected, %d cancelled, %d duplicates)",
		ErrNothingImported, r.Rows, strings.Join(im.inputs, ", "), r.Rejected, r.Cancelled, r.Duplicates)
}

func (im *importer) patterns() []string {
	p := make([]string, len(im.m.Sources))
	for i, s := range im.m.Sources {
		p[i] = s.Match
	}
	return p
}

// prepareOut checks outDir and makes the temporary directory beside it.
func (im *importer) prepareOut(outDir string) error {
	if outDir == "" {
		return errors.New("mapping: no output directory")
	}
	if ents, err := os.ReadDir(outDir); err == nil {
		if len(ents) > 0 {
			return fmt.Errorf("mapping: output directory %s is not empty", outDir)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mapping: output directory: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(outDir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(filepath.Clean(outDir))+".import-*")
	if err != nil {
		return fmt.Errorf("mapping: output directory: %w", err)
	}
	// MkdirTemp creates 0700; the dataset is an ordinary directory.
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mapping: output directory: %w", err)
	}
	im.tmp = tmp
	return nil
}

// each opens the inputs of source s in turn and calls fn on every row.
func (im *importer) each(s *Source, files []int, fn func(b *binding, fi int, rec *record, rerr error) error) error {
	for _, fi := range files {
		p := im.inputs[fi]
		in, err := openInput(p, s)
		if err != nil {
			return err
		}
		b, err := bind(im.m, s, p, im.idPrefix[fi], in, im.lim)
		if err != nil {
			in.close()
			return err
		}
		for {
			rec, rerr := in.next()
			if rerr == io.EOF {
				break
			}
			var re *datasets.RowError
			if rerr != nil && !errors.As(rerr, &re) {
				in.close()
				return rerr
			}
			if err := fn(b, fi, rec, rerr); err != nil {
				in.close()
				return err
			}
		}
		if err := in.close(); err != nil {
			return fmt.Errorf("mapping: close %s: %w", p, err)
		}
	}
	return nil
}

func rowKey(src int, vals []string) [16]byte {
	h := fnv.New128a()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(src))
	h.Write(n[:])
	for _, v := range vals {
		binary.LittleEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	var k [16]byte
	h.Sum(k[:0])
	return k
}

// collect is the first pass over a source with derived members or
// courses: it notes each member's first event and first row, and each
// course's first row.
func (im *importer) collect(b *binding, fi int, rec *record, rerr error) error {
	if rerr != nil || b.cancelled(rec) {
		return nil
	}
	c, e := b.convert(rec)
	if e != nil {
		return nil
	}
	if dc := c.derivedCourse; dc != nil {
		if _, ok := im.derivedCourses[dc.CourseID]; !ok {
			im.derivedCourses[dc.CourseID] = dc
		}
	}
	if !b.src.derived {
		return nil
	}
	note := func(id string, ts time.Time) {
		st := im.derived[id]
		if st == nil {
			st = &memberState{first: ts, attrs: c.member, loc: b.src.loc}
			im.derived[id] = st
		}
		if ts.Before(st.first) {
			st.first = ts
		}
	}
	if c.visit != nil {
		note(c.visit.MemberID, c.visit.TS)
	}
	if c.tx != nil {
		note(c.tx.MemberID, c.tx.TS)
	}
	return nil
}

// derivedFile is the file name reported for rows of derived members.
const derivedFile = "(members derived from events)"

// derivedCoursesFile is the file name reported for derived courses.
const derivedCoursesFile = "(courses derived from visits)"

// writeDerivedCourses writes the courses collected from the visits, sorted
// by id.
func (im *importer) writeDerivedCourses() error {
	ids := slices.Sorted(maps.Keys(im.derivedCourses))
	for i, id := range ids {
		c := im.derivedCourses[id]
		if err := im.check.Course(derivedCoursesFile, int64(i+1), c); err != nil {
			if err := im.reject(err, nil); err != nil {
				return err
			}
			continue
		}
		if err := im.courses.add(*c); err != nil {
			return err
		}
		im.rep.Courses++
	}
	im.derivedCourses = nil
	return nil
}

func (im *importer) writeDerived() error {
	ids := slices.Sorted(maps.Keys(im.derived))
	for i, id := range ids {
		st := im.derived[id]
		m := *st.attrs
		m.MemberID = id
		if m.JoinedAt.IsZero() {
			m.JoinedAt = st.first
		}
		if m.ContractStart.IsZero() {
			m.ContractStart = localDate(m.JoinedAt, st.loc)
		}
		if err := im.check.Member(derivedFile, int64(i+1), &m); err != nil {
			if err := im.reject(err, nil); err != nil {
				return err
			}
			continue
		}
		if err := im.members.add(m); err != nil {
			return err
		}
		im.rep.Members++
	}
	im.derived = nil
	return nil
}

// handle imports one row.
func (im *importer) handle(b *binding, fi int, rec *record, rerr error) error {
	im.rep.Rows++
	if rerr != nil {
		return im.reject(rerr, nil)
	}
	if b.cancelled(rec) {
		c := b.src.Cancelled
		v := rec.vals[b.idx[c.Column]]
		return im.drop(b.rowErr(rec, c.Column, v, ErrCancelled))
	}
	key := rowKey(b.src.index, rec.vals)
	if prev, ok := im.seen[key]; ok {
		if b.src.Duplicates == DuplicatesDrop {
			im.rep.Duplicates++
			return im.drop(b.rowErr(rec, "", "", fmt.Errorf("%w: same as %s row %d", ErrDuplicateRow, im.inputs[prev.file], prev.row)))
		}
		im.rep.DuplicatesKept++
	}
	c, e := b.convert(rec)
	if e != nil {
		return im.reject(e, rec)
	}
	// Canonical checks, then write.
	if c.member != nil && !b.src.derived {
		if err := im.check.Member(b.path, rec.row, c.member); err != nil {
			return im.reject(b.checked(err, datasets.TableMembers), rec)
		}
	}
	if c.course != nil {
		if err := im.check.Course(b.path, rec.row, c.course); err != nil {
			return im.reject(b.checked(err, datasets.TableCourses), rec)
		}
	}
	if c.visit != nil {
		if err := im.check.Attendance(b.path, rec.row, c.visit); err != nil {
			return im.reject(b.checked(err, datasets.TableAttendance), rec)
		}
	}
	if c.tx != nil {
		if err := im.check.Transaction(b.path, rec.row, c.tx); err != nil {
			return im.reject(b.checked(err, datasets.TableTransactions), rec)
		}
	}
	if _, ok := im.seen[key]; !ok {
		im.seen[key] = rowRef{file: fi, row: rec.row}
	}
	im.rep.Imported++
	if c.member != nil && !b.src.derived {
		if err := im.members.add(*c.member); err != nil {
			return err
		}
		im.rep.Members++
	}
	if c.course != nil {
		if err := im.courses.add(*c.course); err != nil {
			return err
		}
		im.rep.Courses++
	}
	if c.visit != nil {
		if err := im.attendance.add(*c.visit); err != nil {
			return err
		}
		im.rep.Visits++
		im.span(c.visit.TS, b.src.loc)
	}
	if c.tx != nil {
		if err := im.transactions.add(*c.tx); err != nil {
			return err
		}
		im.rep.Transactions++
		im.rep.AmountTotal += c.tx.Amount
		im.span(c.tx.TS, b.src.loc)
	}
	return nil
}

// endOfCoverage is the end of the day of t in loc (the source's time
// zone; UTC when nil): an export covers the whole day of its last event.
// The manifest's end is exclusive (docs/data-format.md), and exports with
// dates only (CDNOW) stamp events at midnight: the last event itself would
// otherwise fall outside the data.
func endOfCoverage(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc).UTC()
}

// span widens the import's time range by an event at t of a source in
// loc.
func (im *importer) span(t time.Time, loc *time.Location) {
	if e := endOfCoverage(t, loc); e.After(im.cover) {
		im.cover = e
	}
	if im.rep.Start.IsZero() || t.Before(im.rep.Start) {
		im.rep.Start = t
	}
	if t.After(im.rep.End) {
		im.rep.End = t
	}
}

// reject handles a bad row: the end of a Fail import, a quarantined row
// with Skip.
func (im *importer) reject(err error, rec *record) error {
	var re *datasets.RowError
	if !errors.As(err, &re) {
		return err
	}
	if rec != nil {
		// Point into the export: its line and its record, not the
		// canonical fields the checks saw.
		if re.Line == 0 {
			re.Line = rec.line
		}
		re.Raw = rec.vals
	}
	if im.opts.OnBadRow == Fail {
		return fmt.Errorf("mapping: bad row, nothing written: %w", re)
	}
	im.rep.Rejected++
	im.rep.ByReason[Reason(re)]++
	return im.q.Add(re)
}

// drop handles a cancelled or duplicate row.
func (im *importer) drop(re *datasets.RowError) error {
	if errors.Is(re, ErrCancelled) {
		im.rep.Cancelled++
	}
	if len(im.rep.Dropped) < maxListed {
		im.rep.Dropped = append(im.rep.Dropped, re)
	}
	if im.q != nil {
		return im.q.Add(re)
	}
	return nil
}

// reasons are the sentinels a reason is named after, most specific first.
var reasons = []error{
	ErrMalformed,
	datasets.ErrMissing, datasets.ErrUnknownValue, datasets.ErrBadTimestamp, datasets.ErrFutureTime,
	datasets.ErrAbsurdAmount, datasets.ErrBadNumber, datasets.ErrUnknownMember, datasets.ErrBeforeJoin,
	datasets.ErrDuplicateEvent, datasets.ErrDuplicateKey, datasets.ErrBadID, datasets.ErrSchema,
	ErrCancelled, ErrDuplicateRow,
}

// Reason returns the reason of a row error for counting: the text of the
// sentinel it wraps without the package prefix ("unknown value"), or its
// whole message when it wraps none.
func Reason(err error) string {
	for _, s := range reasons {
		if errors.Is(err, s) {
			msg := s.Error()
			if i := strings.Index(msg, ": "); i >= 0 {
				msg = msg[i+2:]
			}
			return msg
		}
	}
	var re *datasets.RowError
	if errors.As(err, &re) {
		return re.Err.Error()
	}
	return err.Error()
}

func (im *importer) finish(outDir string) error {
	for _, err := range []error{im.members.close(), im.courses.close(), im.attendance.close(), im.transactions.close()} {
		if err != nil {
			return err
		}
	}
	names := make([]string, len(im.inputs))
	for i, p := range im.inputs {
		names[i] = filepath.Base(p)
	}
	r := im.rep
	man := datasets.Manifest{
		Version:    1,
		Currency:   im.m.Currency,
		MinorUnits: im.m.minor,
		Start:      r.Start,
		End:        im.cover,
		Source:     "import " + im.m.Name + ": " + strings.Join(names, ", "),
		Notes: map[string]string{
			"mapping":         im.m.Name,
			"rows":            strconv.Itoa(r.Rows),
			"rows_imported":   strconv.Itoa(r.Imported),
			"rows_rejected":   strconv.Itoa(r.Rejected),
			"rows_cancelled":  strconv.Itoa(r.Cancelled),
			"rows_duplicate":  strconv.Itoa(r.Duplicates),
			"duplicates_kept": strconv.Itoa(r.DuplicatesKept),
		},
	}
	if err := datasets.WriteManifest(im.tmp, man); err != nil {
		return err
	}
	keepQ := false
	if im.q != nil {
		keepQ = im.q.Count() > 0
		err := im.q.Close()
		im.q = nil
		if err != nil {
			return err
		}
		if !keepQ {
			os.Remove(im.qPath)
		}
	}
	customQ := keepQ && im.opts.QuarantinePath != ""
	if customQ {
		// Move it out before the rename so that outDir holds the dataset only.
		side := im.tmp + ".quarantine.csv"
		if err := os.Rename(im.qPath, side); err != nil {
			return fmt.Errorf("mapping: quarantine: %w", err)
		}
		im.qPath = side
	}
	if err := os.Remove(outDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mapping: output directory: %w", err)
	}
	if err := os.Rename(im.tmp, outDir); err != nil {
		return fmt.Errorf("mapping: output directory: %w", err)
	}
	im.tmp = ""
	r.Written = true
	switch {
	case customQ:
		if err := moveFile(im.qPath, im.opts.QuarantinePath); err != nil {
			return fmt.Errorf("mapping: quarantine: %w", err)
		}
		r.Quarantine = im.opts.QuarantinePath
	case keepQ:
		r.Quarantine = filepath.Join(outDir, "quarantine.csv")
	}
	return nil
}

// moveFile renames src to dst, copying when they are on different file
// systems.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(dst)
		return err
	}
	return os.Remove(src)
}
