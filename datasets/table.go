package datasets

// This file declares the streaming table API and the column layout shared by
// the Parquet and CSV codecs. The codecs live in parquet.go and csv.go,
// directories of partitions in partition.go, dataset directories in dir.go.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A Reader streams the rows of one table.
//
// Read reads up to len(rows) rows into rows and returns the number read. At
// the end of the table it returns 0, io.EOF. A value that cannot be decoded
// is returned as a *RowError (the rows before it in the same call are
// returned with it); the reader can continue after a *RowError, so a caller
// that quarantines bad rows calls Read again. Any other error is fatal.
type Reader[T Record] interface {
	Read(rows []T) (int, error)
	Close() error
}

// Positioner is implemented by every Reader of this package. Position
// returns the file that the rows of the last Read came from and the 1-based
// row number in that file of the first of them; the others follow it
// consecutively, since a Read never returns rows of two files and stops at
// a bad row. Callers use it to give a Checker the file and row of each row.
type Positioner interface {
	Position() (file string, row int64)
}

// Position returns the file and row of the first row returned by the last
// Read of r (see Positioner), or "" and 0 when r does not say.
func Position[T Record](r Reader[T]) (file string, row int64) {
	if p, ok := r.(Positioner); ok {
		return p.Position()
	}
	return "", 0
}

// A Writer writes the rows of one table. Nothing is visible at the final path
// until Close returns nil: files are written to a temporary name and renamed,
// so a failed run leaves nothing partial behind.
type Writer[T Record] interface {
	Write(rows []T) (int, error)
	Close() error
	// Abort discards everything written; Close after Abort is a no-op.
	Abort() error
}

// ReadOptions tunes a reader. A nil *ReadOptions means defaults.
type ReadOptions struct {
	// BatchRows is how many rows a Parquet reader decodes at a time
	// (at most 1 << 20). A CSV reader decodes row by row through a
	// fixed-size buffer and ignores it. Default 4096.
	BatchRows int
	// SkipColumns names columns (canonical names, see Columns) that the
	// reader leaves undecoded: their fields read as zero values, a file
	// need not have them and their values are not checked. Readers that do
	// not need every column (event ids when aggregating) save the decoding
	// and the allocation of their values. Names that are not columns of
	// the table are ignored. Default none: every column is read.
	SkipColumns []string
}

// WriteOptions tunes a writer. A nil *WriteOptions means defaults.
type WriteOptions struct {
	// RowGroupRows is the number of rows per Parquet row group.
	// Default 128 * 1024.
	RowGroupRows int

	// PartitionBy splits an Attendance or Transaction table into Hive-style
	// folders by the UTC calendar of each row's TS: "year" writes
	// PATH/year=YYYY/part-N.parquet, "month" writes
	// PATH/year=YYYY/month=MM/part-N.parquet and "day" writes
	// PATH/year=YYYY/month=MM/day=DD/part-N.parquet. PATH must then have no
	// file extension; the whole folder appears at PATH on Close.
	// Default "": one file, format chosen by the extension of PATH.
	PartitionBy string
}

// CheckOptions sets the limits of a Checker. A nil *CheckOptions means
// defaults.
type CheckOptions struct {
	// Now is the reference instant for "timestamp in the future".
	// Default time.Now().
	Now time.Time
	// MaxAmount is the largest absolute transaction amount accepted, in
	// minor units. Default 10,000,000 (100,000.00 in a two-decimal currency).
	MaxAmount int64
	// MaxDurationMin is the longest visit accepted, in minutes. Default 1440.
	MaxDurationMin int
	// MinTime is the earliest timestamp accepted. Default 1990-01-01 UTC.
	MinTime time.Time
}

// The defaults of CheckOptions and the fixed field limits of a Checker,
// exported for the other places that check records (serve validates
// requests by the same rules).
const (
	DefaultMaxAmount      = 10_000_000 // CheckOptions.MaxAmount
	DefaultMaxDurationMin = 1440       // CheckOptions.MaxDurationMin
	MinBirthYear          = 1900       // birth_year: 0, or MinBirthYear to the year of Now
	MaxWeekday            = 7          // weekday: 0 (not recorded) to MaxWeekday (Sunday)
	// MaxIDBytes is the longest member_id, course_id or event_id accepted,
	// in bytes; ids must be valid UTF-8 too (ErrBadID). The serving store
	// keys its records by them.
	MaxIDBytes = 256
)

// DefaultMinTime returns the default CheckOptions.MinTime, 1990-01-01 UTC.
func DefaultMinTime() time.Time { return time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC) }

const (
	defaultBatchRows    = 4096
	defaultRowGroupRows = 128 * 1024
	maxBatchRows        = 1 << 20
)

// OpenTable opens the table at path for reading. The format follows from
// path: a file ending in .parquet or .csv (any case), or a directory whose
// *.parquet and *.csv files, found recursively, are read in lexicographic
// order of their paths as one table. In a directory, files and folders
// whose name starts with "_" or "." are skipped (_SUCCESS, _temporary,
// .crc files, temporary files of writers), any other file that is not
// *.parquet or *.csv is an error wrapping ErrUnsupportedFile (a compressed
// part-0.csv.gz is not read), and partition keys in folder names
// (year=2025/month=03) are not read: the rows' own columns hold them.
//
// Columns are matched by name, in any order; extra columns are ignored and
// absent optional columns read as zero values. A missing required column or
// a column of an incompatible type is an error wrapping ErrSchema; a file
// that is not Parquet, or a damaged one, an error wrapping ErrNotParquet.
// Parquet columns may be of any compatible type (INT32 or INT64, TIMESTAMP
// in any unit, INT96, DATE, text). CSV files need a header row; their
// values are RFC 3339 timestamps, YYYY-MM-DD dates, decimal integers
// (amounts in minor units) and enum names, an empty field being null.
// Parquet stores microseconds: finer digits are dropped on writing.
func OpenTable[T Record](path string, opts *ReadOptions) (Reader[T], error) {
	var o ReadOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchRows <= 0 {
		o.BatchRows = defaultBatchRows
	}
	o.BatchRows = min(o.BatchRows, maxBatchRows)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: open %s table: %w", TableOf[T](), err)
	}
	if st.IsDir() {
		return openPartitioned[T](path, o)
	}
	return openFile[T](path, o)
}

// openFile opens one Parquet or CSV file by its extension; o has its
// defaults filled in.
func openFile[T Record](path string, o ReadOptions) (Reader[T], error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		return openParquet[T](path, o)
	case ".csv":
		return openCSV[T](path, o.SkipColumns)
	}
	return nil, &fileError{op: "open", path: path, kind: ErrUnsupportedFile, msg: fmt.Sprintf("unknown file extension %q (want .parquet or .csv)", filepath.Ext(path))}
}

// CreateTable creates a writer for a table at path. The format follows from
// the extension of path (.parquet or .csv, any case) unless
// opts.PartitionBy is set, in which case path names the folder of
// Hive-style Parquet partitions to write. Nothing appears at path until Close
// returns nil; an existing table at path is replaced then.
func CreateTable[T Record](path string, opts *WriteOptions) (Writer[T], error) {
	var o WriteOptions
	if opts != nil {
		o = *opts
	}
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = defaultRowGroupRows
	}
	if o.PartitionBy != "" {
		return createPartitioned[T](path, o)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		return createParquet[T](path, o)
	case ".csv":
		return createCSV[T](path)
	}
	return nil, fmt.Errorf("datasets: create %s: unknown file extension %q (want .parquet or .csv, or set WriteOptions.PartitionBy)", path, filepath.Ext(path))
}

// ReadAll reads the whole table at path (see OpenTable). The first error,
// including the first *RowError, ends the read: ReadAll is for tables known
// to be clean; use a Reader to quarantine bad rows and go on.
func ReadAll[T Record](path string) ([]T, error) {
	r, err := OpenTable[T](path, nil)
	if err != nil {
		return nil, err
	}
	var all []T
	buf := make([]T, defaultBatchRows)
	for {
		n, err := r.Read(buf)
		all = append(all, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			r.Close()
			return nil, err
		}
	}
	if err := r.Close(); err != nil {
		return nil, err
	}
	return all, nil
}

// WriteAll writes rows as the table at path (see CreateTable with default
// options). On error nothing is left at path.
func WriteAll[T Record](path string, rows []T) error {
	w, err := CreateTable[T](path, nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(rows); err != nil {
		return errors.Join(err, w.Abort())
	}
	return w.Close()
}

// fileError is an error about a whole file: it names the operation and the
// file and wraps the sentinel kind (ErrSchema, ErrNotParquet) and the cause.
type fileError struct {
	op, path string
	kind     error // a sentinel of this package, or nil
	msg      string
	cause    error // or nil
}

func (e *fileError) Error() string {
	s := "datasets: " + e.op + " " + e.path + ": "
	if e.kind != nil {
		s += strings.TrimPrefix(e.kind.Error(), "datasets: ")
		if e.msg != "" || e.cause != nil {
			s += ": "
		}
	}
	s += e.msg
	if e.cause != nil {
		if e.msg != "" {
			s += ": "
		}
		s += e.cause.Error()
	}
	return s
}

func (e *fileError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// kind is how a column's values are typed, whatever the file format.
type kind uint8

const (
	kindString  kind = iota // text, ids included
	kindEnum                // one of a fixed set of names
	kindInt                 // a small integer (Go int)
	kindAmount              // an int64 amount in minor units
	kindInstant             // a UTC instant
	kindDate                // a calendar date, midnight UTC
)

func (k kind) String() string {
	return [...]string{"string", "enum", "integer", "integer amount", "timestamp", "date"}[k]
}

// A field describes one column of a table: its canonical name, its kind, and
// how to reach it in a row of type T. Exactly one accessor group is set,
// according to kind.
type field[T Record] struct {
	name     string
	kind     kind
	optional bool // the zero value means "not recorded" and is written as null
	// intern marks strings with few distinct values (ids of members and
	// courses, clubs, categories): readers keep one copy per distinct value.
	intern bool

	str    func(*T) *string    // kindString
	num    func(*T) *int       // kindInt
	amount func(*T) *int64     // kindAmount
	tm     func(*T) *time.Time // kindInstant, kindDate

	names   []string // kindEnum: the names, index 0 being the invalid zero value
	getEnum func(*T) int
	setEnum func(*T, int)
}

var memberFields = []field[Member]{
	{name: "member_id", kind: kindString, intern: true, str: func(r *Member) *string { return &r.MemberID }},
	{name: "joined_at", kind: kindInstant, tm: func(r *Member) *time.Time { return &r.JoinedAt }},
	{name: "birth_year", kind: kindInt, optional: true, num: func(r *Member) *int { return &r.BirthYear }},
	{name: "gender", kind: kindString, optional: true, intern: true, str: func(r *Member) *string { return &r.Gender }},
	{name: "home_club", kind: kindString, intern: true, str: func(r *Member) *string { return &r.HomeClub }},
	{name: "contract_type", kind: kindEnum, names: contractNames[:],
		getEnum: func(r *Member) int { return int(r.ContractType) },
		setEnum: func(r *Member, i int) { r.ContractType = ContractType(i) }},
	{name: "contract_start", kind: kindDate, tm: func(r *Member) *time.Time { return &r.ContractStart }},
	{name: "contract_end", kind: kindDate, optional: true, tm: func(r *Member) *time.Time { return &r.ContractEnd }},
	{name: "channel", kind: kindString, optional: true, intern: true, str: func(r *Member) *string { return &r.Channel }},
}

var courseFields = []field[Course]{
	{name: "course_id", kind: kindString, intern: true, str: func(r *Course) *string { return &r.CourseID }},
	{name: "name", kind: kindString, intern: true, str: func(r *Course) *string { return &r.Name }},
	{name: "category", kind: kindString, intern: true, str: func(r *Course) *string { return &r.Category }},
	{name: "coach", kind: kindString, optional: true, intern: true, str: func(r *Course) *string { return &r.Coach }},
	{name: "club", kind: kindString, optional: true, intern: true, str: func(r *Course) *string { return &r.Club }},
	{name: "weekday", kind: kindInt, optional: true, num: func(r *Course) *int { return &r.Weekday }},
	{name: "start_time", kind: kindString, optional: true, intern: true, str: func(r *Course) *string { return &r.StartTime }},
	{name: "capacity", kind: kindInt, optional: true, num: func(r *Course) *int { return &r.Capacity }},
}

var attendanceFields = []field[Attendance]{
	{name: "event_id", kind: kindString, str: func(r *Attendance) *string { return &r.EventID }},
	{name: "member_id", kind: kindString, intern: true, str: func(r *Attendance) *string { return &r.MemberID }},
	{name: "ts", kind: kindInstant, tm: func(r *Attendance) *time.Time { return &r.TS }},
	{name: "course_id", kind: kindString, optional: true, intern: true, str: func(r *Attendance) *string { return &r.CourseID }},
	{name: "duration_min", kind: kindInt, num: func(r *Attendance) *int { return &r.DurationMin }},
	{name: "source", kind: kindEnum, names: sourceNames[:],
		getEnum: func(r *Attendance) int { return int(r.Source) },
		setEnum: func(r *Attendance, i int) { r.Source = Source(i) }},
}

var transactionFields = []field[Transaction]{
	{name: "event_id", kind: kindString, str: func(r *Transaction) *string { return &r.EventID }},
	{name: "member_id", kind: kindString, intern: true, str: func(r *Transaction) *string { return &r.MemberID }},
	{name: "ts", kind: kindInstant, tm: func(r *Transaction) *time.Time { return &r.TS }},
	{name: "amount", kind: kindAmount, amount: func(r *Transaction) *int64 { return &r.Amount }},
	{name: "kind", kind: kindEnum, names: txNames[:],
		getEnum: func(r *Transaction) int { return int(r.Kind) },
		setEnum: func(r *Transaction, i int) { r.Kind = TxKind(i) }},
}

// fieldsOf returns the fields of T in canonical column order (Columns).
func fieldsOf[T Record]() []field[T] {
	var z T
	switch any(z).(type) {
	case Member:
		return any(memberFields).([]field[T])
	case Course:
		return any(courseFields).([]field[T])
	case Attendance:
		return any(attendanceFields).([]field[T])
	default:
		return any(transactionFields).([]field[T])
	}
}

// format returns the text form of the field in r, as written to CSV: ""
// for an unrecorded optional value, RFC 3339 in UTC for instants,
// YYYY-MM-DD for dates, decimal integers, enum names. It fails only for
// values that cannot be written faithfully: an enum value out of range or a
// time outside the years 0000 to 9999.
func (f *field[T]) format(r *T) (string, error) {
	switch f.kind {
	case kindString:
		return *f.str(r), nil
	case kindEnum:
		i := f.getEnum(r)
		if i < 0 || i >= len(f.names) {
			return "", fmt.Errorf("%w: enum value %d for %s out of range", ErrUnknownValue, i, f.name)
		}
		return f.names[i], nil
	case kindInt:
		v := *f.num(r)
		if v == 0 && f.optional {
			return "", nil
		}
		return strconv.Itoa(v), nil
	case kindAmount:
		return strconv.FormatInt(*f.amount(r), 10), nil
	default:
		t := *f.tm(r)
		if t.IsZero() && f.optional {
			return "", nil
		}
		t = t.UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return "", fmt.Errorf("%w: year %d outside 0000 to 9999", ErrBadTimestamp, y)
		}
		if f.kind == kindDate {
			return t.Format(time.DateOnly), nil
		}
		return t.Format(time.RFC3339Nano), nil
	}
}

// parse sets the field in r from its text form s, already trimmed. An empty
// s is null: left as the zero value for an optional field, ErrMissing for a
// required one. The error wraps ErrMissing, ErrBadNumber, ErrBadTimestamp or
// ErrUnknownValue. The string is stored as is (see interner for copies).
func (f *field[T]) parse(r *T, s string) error {
	if s == "" {
		if f.optional {
			return nil
		}
		return ErrMissing
	}
	switch f.kind {
	case kindString:
		*f.str(r) = s
	case kindEnum:
		i := enumIndex(f.names, s)
		if i == 0 {
			return f.unknownEnum()
		}
		f.setEnum(r, i)
	case kindInt:
		v, err := strconv.Atoi(s)
		if err != nil {
			return errWantInteger
		}
		*f.num(r) = v
	case kindAmount:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errWantAmount
		}
		*f.amount(r) = v
	case kindInstant:
		t, err := parseInstant(s)
		if err != nil {
			return err
		}
		*f.tm(r) = t
	case kindDate:
		t, err := parseDate(s)
		if err != nil {
			return err
		}
		*f.tm(r) = t
	}
	return nil
}

func (f *field[T]) unknownEnum() error {
	return fmt.Errorf("%w for %s (want one of %s)", ErrUnknownValue, f.name, strings.Join(f.names[1:], ", "))
}

var (
	errWantInteger   = fmt.Errorf("%w: want an integer", ErrBadNumber)
	errWantAmount    = fmt.Errorf("%w: want an integer amount in minor units (1999 for 19.99)", ErrBadNumber)
	errWantTimestamp = fmt.Errorf("%w: want RFC 3339 (2025-03-01T18:30:00Z) or 2025-03-01 18:30:00 (UTC)", ErrBadTimestamp)
	errWantDate      = fmt.Errorf("%w: want a date (2025-03-01) or a timestamp", ErrBadTimestamp)
	errTimeRange     = fmt.Errorf("%w: year outside 0000 to 9999", ErrBadTimestamp)
)

// enumIndex returns the index of s in names, or 0 when s is not a valid
// name. It takes a string or a []byte so that matching bytes allocates
// nothing.
func enumIndex[S string | []byte](names []string, s S) int {
	for i := 1; i < len(names); i++ {
		if string(s) == names[i] {
			return i
		}
	}
	return 0
}

// Layouts accepted for instants besides RFC 3339. Those without a zone are
// read as UTC.
var instantLayouts = []string{
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z07",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
}

// parseInstant parses an RFC 3339 timestamp (fractional seconds allowed) or
// one of instantLayouts, and returns it in UTC.
func parseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		ok := false
		for _, layout := range instantLayouts {
			if t, err = time.Parse(layout, s); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return time.Time{}, errWantTimestamp
		}
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, errTimeRange
	}
	return t, nil
}

// parseDate parses a date (YYYY-MM-DD) or, failing that, an instant whose
// UTC calendar day it returns.
func parseDate(s string) (time.Time, error) {
	if len(s) == len(time.DateOnly) {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, errWantDate
		}
		return t, nil
	}
	t, err := parseInstant(s)
	if err != nil {
		return time.Time{}, errWantDate
	}
	return Date(t), nil
}

// recordFields returns the text form of every field of r in column order,
// for the Raw of a *RowError. A value that cannot be formatted is shown with
// %v.
func recordFields[T Record](r *T) []string {
	fields := fieldsOf[T]()
	out := make([]string, len(fields))
	for i := range fields {
		s, err := fields[i].format(r)
		if err != nil {
			s = fields[i].goString(r)
		}
		out[i] = s
	}
	return out
}

// goString formats the field with %v, for values format rejects.
func (f *field[T]) goString(r *T) string {
	switch f.kind {
	case kindString:
		return *f.str(r)
	case kindEnum:
		return strconv.Itoa(f.getEnum(r))
	case kindInt:
		return strconv.Itoa(*f.num(r))
	case kindAmount:
		return strconv.FormatInt(*f.amount(r), 10)
	default:
		return f.tm(r).String()
	}
}

// An interner keeps one copy of each distinct string it is given, up to
// maxInterned strings; past that it copies. It saves the memory of columns
// such as club or course_id whose few values repeat on every row. The bound
// keeps its map small enough to stay in cache: lookups in a map of 50,000
// member ids cost more than allocating the strings.
type interner struct {
	m map[string]string
}

const maxInterned = 4096

// bytes returns b as a string, shared with earlier equal strings.
func (in *interner) bytes(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	in.add(s)
	return s
}

// string returns a copy of s, shared with earlier equal strings, so that s
// itself (often a substring of a larger buffer) can be freed.
func (in *interner) string(s string) string {
	if t, ok := in.m[s]; ok {
		return t
	}
	s = strings.Clone(s)
	in.add(s)
	return s
}

func (in *interner) add(s string) {
	if in.m == nil {
		in.m = make(map[string]string)
	}
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
}
