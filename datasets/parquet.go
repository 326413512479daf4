package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// Parquet files written here use plain physical types that every reader
// understands: BYTE_ARRAY annotated STRING for text and enum names, INT64
// TIMESTAMP(MICROS, UTC-adjusted) for instants, INT32 DATE for calendar
// dates, INT64 for amounts and INT32 for small integers. Optional fields are
// OPTIONAL columns and their zero value is written as null. Pages are data
// page v1, PLAIN or RLE_DICTIONARY encoded, Snappy compressed.
//
// Reading matches columns by name (exactly, else ignoring case), ignores
// extra columns and accepts compatible types: see parquetConv. Text is read
// as in CSV: trimmed of leading and trailing white space, and null when
// nothing is left (an ErrMissing *RowError in a required column), so that
// " M2 " is member M2 and " 2025-03-01T10:00:00Z " a timestamp. It decodes
// BatchRows rows at a time, column by column, page by page, so memory holds
// one batch and one page per column whatever the size of the file.
// Dictionary-encoded text is decoded once per dictionary entry.
//
// Damaged input ends in an error wrapping ErrNotParquet, not a crash: the
// magic bytes, the footer length and the footer's Thrift structure are
// checked before parquet-go parses the footer (checkFraming), the page
// headers and compressed sizes of each column chunk before parquet-go
// decodes its pages (checkChunk), and a panic inside parquet-go is
// recovered. Pages over 256 MiB uncompressed or over 2^26 values are taken
// to be damaged. Pages without checksums can still decode to wrong values,
// which then fail as *RowErrors or pass as data: Parquet cannot tell.

const (
	// readBufferSize is the buffer of each column's page reader.
	readBufferSize = 256 << 10
	// dictionaryMaxBytes bounds a column's dictionary in a row group; past
	// it the writer falls back to PLAIN for the rest of the row group.
	dictionaryMaxBytes = 1 << 20
)

// Row types as written to Parquet. Field order is column order (Columns).

type pqMember struct {
	MemberID      string `parquet:"member_id,dict"`
	JoinedAt      int64  `parquet:"joined_at,timestamp(microsecond:utc)"`
	BirthYear     int32  `parquet:"birth_year,optional"`
	Gender        string `parquet:"gender,optional,dict"`
	HomeClub      string `parquet:"home_club,dict"`
	ContractType  string `parquet:"contract_type,dict"`
	ContractStart int32  `parquet:"contract_start,date"`
	ContractEnd   *int32 `parquet:"contract_end,date"` // pointer: optional, nil = null (0 is 1970-01-01)
	Channel       string `parquet:"channel,optional,dict"`

	end int32 // storage for ContractEnd
}

type pqCourse struct {
	CourseID  string `parquet:"course_id"`
	Name      string `parquet:"name"`
	Category  string `parquet:"category,dict"`
	Coach     string `parquet:"coach,optional,dict"`
	Club      string `parquet:"club,optional,dict"`
	Weekday   int32  `parquet:"weekday,optional"`
	StartTime string `parquet:"start_time,optional,dict"`
	Capacity  int32  `parquet:"capacity,optional"`
}

type pqAttendance struct {
	EventID     string `parquet:"event_id"`
	MemberID    string `parquet:"member_id,dict"`
	TS          int64  `parquet:"ts,timestamp(microsecond:utc)"`
	CourseID    string `parquet:"course_id,optional,dict"`
	DurationMin int32  `parquet:"duration_min"`
	Source      string `parquet:"source,dict"`
}

type pqTransaction struct {
	EventID  string `parquet:"event_id"`
	MemberID string `parquet:"member_id,dict"`
	TS       int64  `parquet:"ts,timestamp(microsecond:utc)"`
	Amount   int64  `parquet:"amount"`
	Kind     string `parquet:"kind,dict"`
}

// micros returns t as microseconds since the Unix epoch, failing outside
// the years 0000 to 9999 (the range every format here can hold).
func micros(t time.Time) (int64, error) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return 0, errTimeRange
	}
	return t.UnixMicro(), nil
}

// days returns the UTC calendar day of t as days since 1970-01-01.
func days(t time.Time) (int32, error) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return 0, errTimeRange
	}
	return int32(Date(t).Unix() / 86400), nil
}

func small(v int) (int32, error) {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %d does not fit in INT32", ErrBadNumber, v)
	}
	return int32(v), nil
}

func enumName(names []string, i int, col string) (string, error) {
	if i < 0 || i >= len(names) {
		return "", fmt.Errorf("%w: enum value %d for %s out of range", ErrUnknownValue, i, col)
	}
	return names[i], nil
}

// colErr names the column of a conversion error.
type colErr struct {
	col string
	err error
}

func (e *colErr) Error() string { return "column " + e.col + ": " + e.err.Error() }
func (e *colErr) Unwrap() error { return e.err }

func toPQMember(p *pqMember, r *Member) error {
	var err error
	*p = pqMember{MemberID: r.MemberID, Gender: r.Gender, HomeClub: r.HomeClub, Channel: r.Channel}
	if p.JoinedAt, err = micros(r.JoinedAt); err != nil {
		return &colErr{"joined_at", err}
	}
	if p.BirthYear, err = small(r.BirthYear); err != nil {
		return &colErr{"birth_year", err}
	}
	if p.ContractType, err = enumName(contractNames[:], int(r.ContractType), "contract_type"); err != nil {
		return &colErr{"contract_type", err}
	}
	if p.ContractStart, err = days(r.ContractStart); err != nil {
		return &colErr{"contract_start", err}
	}
	if !r.ContractEnd.IsZero() {
		if p.end, err = days(r.ContractEnd); err != nil {
			return &colErr{"contract_end", err}
		}
		p.ContractEnd = &p.end
	}
	return nil
}

func toPQCourse(p *pqCourse, r *Course) error {
	var err error
	*p = pqCourse{CourseID: r.CourseID, Name: r.Name, Category: r.Category, Coach: r.Coach, Club: r.Club, StartTime: r.StartTime}
	if p.Weekday, err = small(r.Weekday); err != nil {
		return &colErr{"weekday", err}
	}
	if p.Capacity, err = small(r.Capacity); err != nil {
		return &colErr{"capacity", err}
	}
	return nil
}

func toPQAttendance(p *pqAttendance, r *Attendance) error {
	var err error
	*p = pqAttendance{EventID: r.EventID, MemberID: r.MemberID, CourseID: r.CourseID}
	if p.TS, err = micros(r.TS); err != nil {
		return &colErr{"ts", err}
	}
	if p.DurationMin, err = small(r.DurationMin); err != nil {
		return &colErr{"duration_min", err}
	}
	if p.Source, err = enumName(sourceNames[:], int(r.Source), "source"); err != nil {
		return &colErr{"source", err}
	}
	return nil
}

func toPQTransaction(p *pqTransaction, r *Transaction) error {
	var err error
	*p = pqTransaction{EventID: r.EventID, MemberID: r.MemberID, Amount: r.Amount}
	if p.TS, err = micros(r.TS); err != nil {
		return &colErr{"ts", err}
	}
	if p.Kind, err = enumName(txNames[:], int(r.Kind), "kind"); err != nil {
		return &colErr{"kind", err}
	}
	return nil
}

// pqRows is the buffer of Parquet rows of a writer of T.
type pqRows[T Record] interface {
	// convert converts src into the first len(src) rows and returns them;
	// on error, it returns the index of the failing row.
	convert(src []T) (int, error)
	// write writes the first n converted rows.
	write(n int) (int, error)
	flush() error
	close() error
}

type pqBuffer[T Record, P any] struct {
	rows []P
	conv func(*P, *T) error
	w    *parquet.GenericWriter[P]
}

func (b *pqBuffer[T, P]) convert(src []T) (int, error) {
	for i := range src {
		if err := b.conv(&b.rows[i], &src[i]); err != nil {
			return i, err
		}
	}
	return len(src), nil
}

func (b *pqBuffer[T, P]) write(n int) (int, error) { return b.w.Write(b.rows[:n]) }
func (b *pqBuffer[T, P]) flush() error             { return b.w.Flush() }
func (b *pqBuffer[T, P]) close() error             { return b.w.Close() }

const writeChunk = 1024

func newPQBuffer[T Record](w io.Writer) pqRows[T] {
	opts := []parquet.WriterOption{
		parquet.Compression(&parquet.Snappy),
		parquet.DataPageVersion(1),
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.Plain),
		parquet.DictionaryMaxBytes(dictionaryMaxBytes),
	}
	var z T
	var b any
	switch any(z).(type) {
	case Member:
		b = &pqBuffer[Member, pqMember]{rows: make([]pqMember, writeChunk), conv: toPQMember, w: parquet.NewGenericWriter[pqMember](w, opts...)}
	case Course:
		b = &pqBuffer[Course, pqCourse]{rows: make([]pqCourse, writeChunk), conv: toPQCourse, w: parquet.NewGenericWriter[pqCourse](w, opts...)}
	case Attendance:
		b = &pqBuffer[Attendance, pqAttendance]{rows: make([]pqAttendance, writeChunk), conv: toPQAttendance, w: parquet.NewGenericWriter[pqAttendance](w, opts...)}
	default:
		b = &pqBuffer[Transaction, pqTransaction]{rows: make([]pqTransaction, writeChunk), conv: toPQTransaction, w: parquet.NewGenericWriter[pqTransaction](w, opts...)}
	}
	return b.(pqRows[T])
}

// pqWriter writes one Parquet file. Its output is an atomicFile, or, within
// a partitioned writer, a plain file in a temporary folder (af nil).
type pqWriter[T Record] struct {
	fileEnd
	buf       pqRows[T]
	groupRows int
	inGroup   int   // rows in the current row group
	rows      int64 // rows written
}

func createParquet[T Record](path string, o WriteOptions) (Writer[T], error) {
	af, err := createAtomic(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: create %s: %w", path, err)
	}
	w := newPQWriter[T](path, af, o.RowGroupRows)
	w.af = af
	return w, nil
}

func newPQWriter[T Record](path string, out io.Writer, groupRows int) *pqWriter[T] {
	return &pqWriter[T]{fileEnd: fileEnd{path: path}, buf: newPQBuffer[T](out), groupRows: groupRows}
}

func (w *pqWriter[T]) Write(rows []T) (n int, err error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, fmt.Errorf("datasets: write %s: writer closed", w.path)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("datasets: write %s: parquet: %v", w.path, p)
		}
		if err != nil {
			w.err = err
		}
	}()
	for n < len(rows) {
		k := min(len(rows)-n, writeChunk, w.groupRows-w.inGroup)
		if i, err := w.buf.convert(rows[n : n+k]); err != nil {
			return n + i, fmt.Errorf("datasets: write %s: row %d: %w", w.path, w.rows+int64(i)+1, err)
		}
		m, err := w.buf.write(k)
		n += m
		w.rows += int64(m)
		w.inGroup += m
		if err != nil {
			return n, fmt.Errorf("datasets: write %s: %w", w.path, err)
		}
		if w.inGroup == w.groupRows {
			if err := w.buf.flush(); err != nil {
				return n, fmt.Errorf("datasets: write %s: %w", w.path, err)
			}
			w.inGroup = 0
		}
	}
	return n, nil
}

// finish writes the footer.
func (w *pqWriter[T]) finish() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parquet: %v", p)
		}
	}()
	return w.buf.close()
}

func (w *pqWriter[T]) Close() error { return w.end(w.finish) }

// parquetConv is how values of a file's column become values of a field.
//
//	field kind        accepted file columns
//	string            BYTE_ARRAY (none, STRING, ENUM); INT32 or INT64 (written in decimal)
//	enum              BYTE_ARRAY (none, STRING, ENUM)
//	integer           INT32 or INT64 (none or INT, signed or not); FLOAT or DOUBLE holding whole numbers (NaN is null)
//	integer amount    INT32 or INT64 (none or INT)
//	timestamp, date   INT64 TIMESTAMP (MILLIS, MICROS or NANOS, UTC-adjusted or local, both read as UTC);
//	                  INT96 (legacy Spark and Impala timestamps); INT32 DATE; BYTE_ARRAY text as in CSV
//
// Any column may be OPTIONAL: a null in a required field is an ErrMissing
// *RowError. REPEATED and nested columns are schema errors.
type parquetConv uint8

const (
	convBytes     parquetConv = iota
	convSigned                // INT32 or INT64
	convUnsigned              // INT32 or INT64 annotated unsigned
	convFloat                 // FLOAT or DOUBLE
	convTimestamp             // INT64 TIMESTAMP; pqColumn.unit says the unit
	convInt96                 // INT96 nanoseconds + Julian day
	convDays                  // INT32 DATE
)

// logical classifies the logical or converted type of a schema element.
type logical uint8

const (
	logNone logical = iota
	logString
	logSigned
	logUnsigned
	logDate
	logTimestamp
	logOther
)

func logicalOf(el *format.SchemaElement) (logical, time.Duration) {
	switch lt := el.LogicalType.Value.(type) {
	case nil:
	case *format.StringType, *format.EnumType:
		return logString, 0
	case *format.IntType:
		if lt.IsSigned {
			return logSigned, 0
		}
		return logUnsigned, 0
	case *format.DateType:
		return logDate, 0
	case *format.TimestampType:
		if lt.Unit.Value == nil {
			return logOther, 0
		}
		return logTimestamp, lt.Unit.Value.Duration()
	default:
		return logOther, 0
	}
	if !el.ConvertedType.Valid {
		return logNone, 0
	}
	switch ct := el.ConvertedType.V; ct {
	case deprecated.UTF8, deprecated.Enum:
		return logString, 0
	case deprecated.Int8, deprecated.Int16, deprecated.Int32, deprecated.Int64:
		return logSigned, 0
	case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32, deprecated.Uint64:
		return logUnsigned, 0
	case deprecated.Date:
		return logDate, 0
	case deprecated.TimestampMillis:
		return logTimestamp, time.Millisecond
	case deprecated.TimestampMicros:
		return logTimestamp, time.Microsecond
	}
	return logOther, 0
}

var wantTypes = [...]string{
	kindString:  "BYTE_ARRAY (STRING), INT32 or INT64",
	kindEnum:    "BYTE_ARRAY (STRING or ENUM)",
	kindInt:     "INT32, INT64, or FLOAT/DOUBLE holding whole numbers",
	kindAmount:  "INT32 or INT64 (integer minor units)",
	kindInstant: "INT64 TIMESTAMP, INT96, INT32 DATE or BYTE_ARRAY (STRING)",
	kindDate:    "INT32 DATE, INT64 TIMESTAMP, INT96 or BYTE_ARRAY (STRING)",
}

// convFor returns how to read a column of physical type phys and logical
// type lt into a field of kind k, or false when they are incompatible.
func convFor(k kind, phys format.Type, lt logical) (parquetConv, bool) {
	isInt := (phys == format.Int32 || phys == format.Int64) && (lt == logNone || lt == logSigned || lt == logUnsigned)
	intConv := convSigned
	if lt == logUnsigned {
		intConv = convUnsigned
	}
	isText := phys == format.ByteArray && (lt == logNone || lt == logString)
	switch k {
	case kindString:
		if isText {
			return convBytes, true
		}
		if isInt {
			return intConv, true
		}
	case kindEnum:
		if isText {
			return convBytes, true
		}
	case kindInt:
		if isInt {
			return intConv, true
		}
		if (phys == format.Float || phys == format.Double) && lt == logNone {
			return convFloat, true
		}
	case kindAmount:
		if isInt {
			return intConv, true
		}
	case kindInstant, kindDate:
		switch {
		case phys == format.Int64 && lt == logTimestamp:
			return convTimestamp, true
		case phys == format.Int96 && lt == logNone:
			return convInt96, true
		case phys == format.Int32 && lt == logDate:
			return convDays, true
		case isText:
			return convBytes, true
		}
	}
	return 0, false
}

// pqColumn is the state of one field's column in the file being read.
type pqColumn struct {
	leaf     int // index of the leaf column in a row group, -1 when absent
	conv     parquetConv
	phys     format.Type
	unit     time.Duration // convTimestamp
	maxDef   byte          // 1 for an OPTIONAL column, 0 for REQUIRED
	dictPath bool          // dictionary pages are decoded by index (see decodeDict)
	pages    parquet.Pages
	page     parquet.Page
	vr       parquet.ValueReader // reader of page, or nil on the dictionary path
	in       interner

	// The dictionary path: the page's dictionary indexes of non-null
	// values, its definition levels (nil when all are defined), how many
	// values it has and how many were consumed, and per dictionary entry
	// the decoded string or enum index, filled on first use.
	dict     parquet.Dictionary
	idx      []int32
	defs     []byte
	total    int
	at, iat  int
	dictStr  []string
	dictEnum []int
	dictDone []bool
}

type parquetReader[T Record] struct {
	path   string
	f      *os.File
	src    io.ReaderAt
	hdr    []byte // buffers of checkChunk
	body   []byte
	pf     *parquet.File
	fields []field[T]
	cols   []pqColumn
	vals   []parquet.Value

	group     int   // index of the current row group; -1 before the first
	groupLeft int64 // rows of the current row group not yet decoded
	decoded   int64 // rows of the file decoded so far

	batch []T
	errs  []*RowError // errs[i] is the first error in batch[i], or nil
	pos   int         // next row of batch to return
	n     int         // rows in batch
	first int64       // row of the first row returned by the last Read
	err   error       // sticky fatal error
}

// notParquet returns an error wrapping ErrNotParquet for path.
func notParquet(path, msg string, cause error) error {
	return &fileError{op: "read", path: path, kind: ErrNotParquet, msg: msg, cause: cause}
}

func openParquet[T Record](path string, o ReadOptions) (Reader[T], error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	r, err := newParquetReader[T](path, f, o.BatchRows, o.SkipColumns)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

// newParquetReader checks the framing of the Parquet data in src, reads its
// footer and resolves the columns of T but those named in skip. path names
// src in errors.
func newParquetReader[T Record](path string, src io.ReaderAt, batch int, skip []string) (r *parquetReader[T], err error) {
	size, err := sizeOf(src)
	if err != nil {
		return nil, fmt.Errorf("datasets: read %s: %w", path, err)
	}
	if err := checkFraming(path, src, size); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, notParquet(path, "corrupt metadata", fmt.Errorf("parquet: %v", p))
		}
	}()
	pf, err := parquet.OpenFile(src, size,
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(readBufferSize),
	)
	if err != nil {
		return nil, notParquet(path, "", err)
	}
	fields := fieldsOf[T]()
	r = &parquetReader[T]{
		path:   path,
		src:    src,
		pf:     pf,
		fields: fields,
		cols:   make([]pqColumn, len(fields)),
		vals:   make([]parquet.Value, min(batch, 1024)),
		group:  -1,
		batch:  make([]T, batch),
		errs:   make([]*RowError, batch),
	}
	if err := r.resolve(size, skip); err != nil {
		return nil, err
	}
	return r, nil
}

func sizeOf(src io.ReaderAt) (int64, error) {
	switch s := src.(type) {
	case *os.File:
		st, err := s.Stat()
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	case interface{ Size() int64 }:
		return s.Size(), nil
	}
	return 0, errors.New("cannot tell the size of the input")
}

// checkFraming checks the magic bytes at both ends and the footer length,
// and walks the footer's Thrift structure, so that parquet-go never
// allocates from a length that the file cannot hold.
func checkFraming(path string, src io.ReaderAt, size int64) error {
	const frame = 4 + 4 + 4 // "PAR1" ... footer length, "PAR1"
	if size < frame {
		return notParquet(path, fmt.Sprintf("file too short (%d bytes)", size), nil)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := src.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("datasets: read %s: %w", path, err)
	}
	if _, err := src.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("datasets: read %s: %w", path, err)
	}
	if string(head[:]) == "PARE" || string(tail[4:]) == "PARE" {
		return notParquet(path, "encrypted Parquet files are not supported", nil)
	}
	if string(head[:]) != "PAR1" {
		return notParquet(path, fmt.Sprintf("no PAR1 magic at the start (found %q)", head[:]), nil)
	}
	if string(tail[4:]) != "PAR1" {
		return notParquet(path, fmt.Sprintf("no PAR1 magic at the end (found %q): truncated?", tail[4:]), nil)
	}
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footer == 0 || footer > size-frame {
		return notParquet(path, fmt.Sprintf("footer length %d does not fit in the file of %d bytes: truncated?", footer, size), nil)
	}
	b := make([]byte, footer)
	if _, err := src.ReadAt(b, size-8-footer); err != nil {
		return fmt.Errorf("datasets: read %s: %w", path, err)
	}
	if err := checkThrift(b); err != nil {
		return notParquet(path, "corrupt footer", err)
	}
	return nil
}

// resolve maps each field to a top-level column of the file by name and
// checks types. It also checks that the column chunks to be read lie within
// the file.
func (r *parquetReader[T]) resolve(size int64, skip []string) error {
	md := r.pf.Metadata()
	top, err := topLevel(md.Schema)
	if err != nil {
		return notParquet(r.path, "corrupt schema", err)
	}
	// The top-level columns parquet-go found must be the ones walked here.
	if n := len(r.pf.Root().Columns()); n != len(top) {
		return notParquet(r.path, fmt.Sprintf("schema has %d top-level columns, parquet-go sees %d", len(top), n), nil)
	}
	var missing []string
	for i := range r.fields {
		f := &r.fields[i]
		c := &r.cols[i]
		c.leaf = -1
		if slices.Contains(skip, f.name) {
			continue
		}
		el := findColumn(top, f.name)
		if el == nil {
			if !f.optional {
				missing = append(missing, f.name)
			}
			continue
		}
		if el.leaf < 0 || el.el.RepetitionType.V == format.Repeated {
			return &fileError{op: "read", path: r.path, kind: ErrSchema,
				msg: fmt.Sprintf("column %q is nested or repeated; want a flat %s column", el.el.Name, f.kind)}
		}
		if !el.el.Type.Valid {
			return notParquet(r.path, fmt.Sprintf("column %q has no physical type", el.el.Name), nil)
		}
		phys := el.el.Type.V
		// parquet-go decodes pages by the logical type; it must agree
		// with the physical type (no STRING on INT32, INT(64) on INT32).
		if k := r.pf.Root().Columns()[el.top].Type().Kind(); format.Type(k) != phys {
			return &fileError{op: "read", path: r.path, kind: ErrSchema,
				msg: fmt.Sprintf("column %q is %s: the logical type does not fit the physical type", el.el.Name, describe(el.el))}
		}
		lt, unit := logicalOf(el.el)
		conv, ok := convFor(f.kind, phys, lt)
		if !ok {
			return &fileError{op: "read", path: r.path, kind: ErrSchema,
				msg: fmt.Sprintf("column %q is %s; want %s for the %s field %s of table %s",
					el.el.Name, describe(el.el), wantTypes[f.kind], f.kind, f.name, TableOf[T]())}
		}
		if lt == logTimestamp && unit <= 0 {
			return notParquet(r.path, fmt.Sprintf("column %q has an invalid timestamp unit", el.el.Name), nil)
		}
		c.leaf, c.conv, c.phys, c.unit = el.leaf, conv, phys, unit
		if el.el.RepetitionType.V == format.Optional {
			c.maxDef = 1
		}
		c.dictPath = conv == convBytes && (f.kind == kindEnum || f.kind == kindString && f.intern)
	}
	if missing != nil {
		return &fileError{op: "read", path: r.path, kind: ErrSchema,
			msg: fmt.Sprintf("missing required column(s) %s of table %s (file has %s)",
				strings.Join(missing, ", "), TableOf[T](), columnNames(top))}
	}
	for g, rg := range md.RowGroups {
		if rg.NumRows < 0 {
			return notParquet(r.path, fmt.Sprintf("row group %d has %d rows", g, rg.NumRows), nil)
		}
		for i := range r.cols {
			c := &r.cols[i]
			if c.leaf < 0 {
				continue
			}
			if c.leaf >= len(rg.Columns) {
				return notParquet(r.path, fmt.Sprintf("row group %d has %d column chunks", g, len(rg.Columns)), nil)
			}
			m := &rg.Columns[c.leaf].MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset != 0 {
				start = m.DictionaryPageOffset // as parquet-go reads it
			}
			if start < 4 || m.TotalCompressedSize <= 0 || m.TotalCompressedSize > size || start > size-m.TotalCompressedSize {
				return notParquet(r.path, fmt.Sprintf("row group %d: column %q lies outside the file", g, r.fields[i].name), nil)
			}
			if format.Type(m.Type) != c.phys {
				return notParquet(r.path, fmt.Sprintf("row group %d: column %q has type %s, schema says %s", g, r.fields[i].name, m.Type, c.phys), nil)
			}
		}
	}
	return nil
}

// topColumn is a top-level element of a Parquet schema.
type topColumn struct {
	el   *format.SchemaElement
	top  int // index among top-level columns
	leaf int // index among leaf columns, -1 for a group
}

// topLevel lists the top-level columns of a flattened Parquet schema with
// the leaf index of each leaf (its position in a row group's chunks).
func topLevel(schema []format.SchemaElement) ([]topColumn, error) {
	if len(schema) == 0 {
		return nil, errors.New("empty schema")
	}
	var top []topColumn
	idx, leaf := 1, 0
	for c := 0; c < int(schema[0].NumChildren.V); c++ {
		if idx >= len(schema) {
			return nil, errors.New("schema ends early")
		}
		el := &schema[idx]
		if el.NumChildren.V <= 0 {
			top = append(top, topColumn{el: el, top: c, leaf: leaf})
			idx++
			leaf++
			continue
		}
		top = append(top, topColumn{el: el, top: c, leaf: -1})
		next, leaves, err := skipGroup(schema, idx, 0)
		if err != nil {
			return nil, err
		}
		idx, leaf = next, leaf+leaves
	}
	return top, nil
}

// skipGroup returns the index after the subtree at schema[i] and its number
// of leaves.
func skipGroup(schema []format.SchemaElement, i, depth int) (next, leaves int, err error) {
	if depth > 64 {
		return 0, 0, errors.New("schema nested too deeply")
	}
	if i >= len(schema) {
		return 0, 0, errors.New("schema ends early")
	}
	n := int(schema[i].NumChildren.V)
	if n <= 0 {
		return i + 1, 1, nil
	}
	if n > len(schema) {
		return 0, 0, errors.New("group has more children than the schema has elements")
	}
	i++
	for range n {
		var l int
		if i, l, err = skipGroup(schema, i, depth+1); err != nil {
			return 0, 0, err
		}
		leaves += l
	}
	return i, leaves, nil
}

// findColumn returns the top-level column named name, matched exactly or,
// failing that, ignoring case.
func findColumn(top []topColumn, name string) *topColumn {
	for i := range top {
		if top[i].el.Name == name {
			return &top[i]
		}
	}
	for i := range top {
		if strings.EqualFold(top[i].el.Name, name) {
			return &top[i]
		}
	}
	return nil
}

func columnNames(top []topColumn) string {
	names := make([]string, len(top))
	for i, t := range top {
		names[i] = t.el.Name
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// describe says what a schema element holds: "INT32", "INT64 (TIMESTAMP(...))",
// "optional BYTE_ARRAY (STRING)".
func describe(el *format.SchemaElement) string {
	s := el.Type.V.String()
	if el.LogicalType.Value != nil {
		s += " (" + el.LogicalType.Value.String() + ")"
	} else if el.ConvertedType.Valid {
		s += fmt.Sprintf(" (converted type %d)", el.ConvertedType.V)
	}
	return s
}

func (r *parquetReader[T]) Read(rows []T) (int, error) {
	n := 0
	for n < len(rows) {
		if r.pos == r.n {
			if err := r.fill(); err != nil {
				if err == io.EOF && n > 0 {
					return n, nil
				}
				return n, err
			}
		}
		for r.pos < r.n && n < len(rows) {
			if e := r.errs[r.pos]; e != nil {
				r.pos++
				return n, e
			}
			if n == 0 {
				r.first = r.decoded - int64(r.n) + int64(r.pos) + 1
			}
			rows[n] = r.batch[r.pos]
			n++
			r.pos++
		}
	}
	return n, nil
}

// fill decodes the next batch of rows.
func (r *parquetReader[T]) fill() (err error) {
	if r.err != nil {
		return r.err
	}
	defer func() {
		if p := recover(); p != nil {
			err = notParquet(r.path, "corrupt data", fmt.Errorf("parquet: %v", p))
		}
		if err != nil {
			r.err = err
			r.closePages()
		}
	}()
	for r.groupLeft == 0 {
		r.closePages()
		r.group++
		groups := r.pf.RowGroups()
		if r.group >= len(groups) {
			return io.EOF
		}
		r.groupLeft = groups[r.group].NumRows()
		chunks := groups[r.group].ColumnChunks()
		meta := r.pf.Metadata().RowGroups[r.group].Columns
		for i := range r.cols {
			if c := &r.cols[i]; c.leaf >= 0 {
				codec := r.pf.Metadata().RowGroups[0].Columns[c.leaf].MetaData.Codec
				if err := r.checkChunk(r.fields[i].name, &meta[c.leaf].MetaData, codec, r.groupLeft); err != nil {
					return err
				}
				c.pages = chunks[c.leaf].Pages()
			}
		}
	}
	n := int(min(int64(len(r.batch)), r.groupLeft))
	batch := r.batch[:n]
	clear(batch)
	clear(r.errs[:n])
	for i := range r.cols {
		if r.cols[i].leaf >= 0 {
			if err := r.decodeColumn(i, batch); err != nil {
				return err
			}
		}
	}
	for i, e := range r.errs[:n] {
		if e != nil {
			e.Raw = recordFields(&batch[i])
			for j := range r.fields {
				if r.fields[j].name == e.Column {
					e.Raw[j] = e.Value
				}
			}
		}
	}
	r.groupLeft -= int64(n)
	r.decoded += int64(n)
	r.pos, r.n = 0, n
	return nil
}

func (r *parquetReader[T]) closePages() {
	defer func() {
		if p := recover(); p != nil && r.err == nil {
			r.err = notParquet(r.path, "corrupt data", fmt.Errorf("parquet: %v", p))
		}
	}()
	for i := range r.cols {
		c := &r.cols[i]
		if c.page != nil {
			parquet.Release(c.page)
		}
		if c.pages != nil {
			c.pages.Close()
		}
		c.page, c.pages, c.vr = nil, nil, nil
	}
}

// decodeColumn decodes field i of every row of dst from its column, page
// by page. Strings are copied out of a page before it is released.
func (r *parquetReader[T]) decodeColumn(i int, dst []T) error {
	c := &r.cols[i]
	stalls := 0
	for off := 0; off < len(dst); {
		if c.page == nil {
			p, err := c.pages.ReadPage()
			if err == io.EOF {
				return notParquet(r.path, fmt.Sprintf("row group %d: column %q has fewer values than the group's rows", r.group, r.fields[i].name), nil)
			}
			if err != nil {
				return notParquet(r.path, fmt.Sprintf("row group %d: column %q", r.group, r.fields[i].name), err)
			}
			c.page = p
			if !c.dictPath || !c.startDict(p) {
				c.vr = p.Values()
			}
		}
		if c.vr == nil {
			k, err := r.decodeDict(i, dst[off:], off)
			if err != nil {
				return err
			}
			off += k
			if c.at == c.total {
				parquet.Release(c.page)
				c.page = nil
			}
			continue
		}
		want := min(len(dst)-off, len(r.vals))
		k, err := c.vr.ReadValues(r.vals[:want])
		if k > 0 {
			r.convert(i, r.vals[:k], dst[off:off+k], off)
			off += k
			stalls = 0
		}
		switch {
		case err == io.EOF:
			parquet.Release(c.page)
			c.page, c.vr = nil, nil
		case err != nil:
			return notParquet(r.path, fmt.Sprintf("row group %d: column %q", r.group, r.fields[i].name), err)
		case k == 0:
			if stalls++; stalls > 3 {
				return notParquet(r.path, fmt.Sprintf("row group %d: column %q: page reader makes no progress", r.group, r.fields[i].name), nil)
			}
		}
	}
	return nil
}

// startDict prepares the dictionary path for page p, and reports whether p
// is dictionary-encoded and flat so that the path applies.
func (c *pqColumn) startDict(p parquet.Page) bool {
	d := p.Dictionary()
	if d == nil || len(p.RepetitionLevels()) > 0 {
		return false
	}
	data := p.Data()
	if data.Kind() != encoding.Int32 {
		return false
	}
	if d != c.dict {
		n := d.Len()
		c.dict = d
		c.dictStr = slices.Grow(c.dictStr[:0], n)[:n]
		c.dictEnum = slices.Grow(c.dictEnum[:0], n)[:n]
		c.dictDone = slices.Grow(c.dictDone[:0], n)[:n]
		clear(c.dictDone)
	}
	c.idx = data.Int32()
	c.defs = p.DefinitionLevels()
	c.total = len(c.idx)
	if c.defs != nil {
		c.total = len(c.defs)
	}
	c.at, c.iat = 0, 0
	return true
}

// decodeDict decodes up to len(dst) values of field i from the current
// dictionary page; base is the index of dst[0] in the batch.
func (r *parquetReader[T]) decodeDict(i int, dst []T, base int) (int, error) {
	f := &r.fields[i]
	c := &r.cols[i]
	j := 0
	for ; j < len(dst) && c.at < c.total; j++ {
		if c.defs != nil {
			def := c.defs[c.at]
			c.at++
			if def != c.maxDef {
				if !f.optional {
					r.fail(base+j, f, "", ErrMissing)
				}
				continue
			}
		} else {
			c.at++
		}
		if c.iat >= len(c.idx) {
			return j, notParquet(r.path, fmt.Sprintf("row group %d: column %q: page has fewer values than its levels", r.group, f.name), nil)
		}
		k := c.idx[c.iat]
		c.iat++
		if k < 0 || int(k) >= len(c.dictDone) {
			return j, notParquet(r.path, fmt.Sprintf("row group %d: column %q: dictionary index %d out of range", r.group, f.name, k), nil)
		}
		if !c.dictDone[k] {
			b := bytes.TrimSpace(c.dict.Index(k).ByteArray())
			if f.kind == kindEnum {
				c.dictEnum[k] = enumIndex(f.names, b)
				c.dictStr[k] = string(b) // for error values
			} else if len(c.dictDone) <= maxInterned {
				c.dictStr[k] = c.in.bytes(b)
			} else {
				// A large dictionary is already one string per
				// distinct value in the row group; interning it
				// costs more in map lookups than it saves.
				c.dictStr[k] = string(b)
			}
			c.dictDone[k] = true
		}
		if f.kind == kindString {
			if c.dictStr[k] == "" && !f.optional {
				r.fail(base+j, f, "", ErrMissing)
				continue
			}
			*f.str(&dst[j]) = c.dictStr[k]
			continue
		}
		e := c.dictEnum[k]
		switch {
		case e > 0:
			f.setEnum(&dst[j], e)
		case c.dictStr[k] != "":
			r.fail(base+j, f, c.dictStr[k], f.unknownEnum())
		case !f.optional:
			r.fail(base+j, f, "", ErrMissing)
		}
	}
	return j, nil
}

// fail records err as the error of row i of the batch unless the row
// already has one.
func (r *parquetReader[T]) fail(i int, f *field[T], value string, err error) {
	if r.errs[i] != nil {
		return
	}
	r.errs[i] = &RowError{File: r.path, Row: r.decoded + int64(i) + 1, Column: f.name, Value: value, Err: err}
}

// text returns v as text for a RowError's Value.
func text(v *parquet.Value) string {
	if v.IsNull() {
		return ""
	}
	if v.Kind() == parquet.ByteArray {
		return string(v.ByteArray())
	}
	return v.String()
}

// convert sets field i of dst[j] from vals[j]; base is the index of dst[0]
// in the batch.
func (r *parquetReader[T]) convert(i int, vals []parquet.Value, dst []T, base int) {
	f := &r.fields[i]
	c := &r.cols[i]
	for j := range vals {
		v := &vals[j]
		if v.IsNull() {
			if !f.optional {
				r.fail(base+j, f, text(v), ErrMissing)
			}
			continue
		}
		row := &dst[j]
		switch f.kind {
		case kindString:
			var s string
			switch c.conv {
			case convBytes:
				b := bytes.TrimSpace(v.ByteArray())
				if len(b) == 0 {
					// Empty after trimming: null, as in CSV.
					if !f.optional {
						r.fail(base+j, f, "", ErrMissing)
					}
					continue
				}
				if f.intern {
					s = c.in.bytes(b)
				} else {
					s = string(b)
				}
			case convSigned:
				s = strconv.FormatInt(intOf(v, c.phys), 10)
			case convUnsigned:
				s = strconv.FormatUint(uintOf(v, c.phys), 10)
			}
			*f.str(row) = s
		case kindEnum:
			b := bytes.TrimSpace(v.ByteArray())
			k := enumIndex(f.names, b)
			if k == 0 {
				if len(b) == 0 {
					if !f.optional {
						r.fail(base+j, f, "", ErrMissing)
					}
				} else {
					r.fail(base+j, f, string(b), f.unknownEnum())
				}
				continue
			}
			f.setEnum(row, k)
		case kindInt, kindAmount:
			var x int64
			switch c.conv {
			case convSigned:
				x = intOf(v, c.phys)
			case convUnsigned:
				u := uintOf(v, c.phys)
				if u > math.MaxInt64 {
					r.fail(base+j, f, text(v), errWantInteger)
					continue
				}
				x = int64(u)
			case convFloat:
				d := v.Double()
				if c.phys == format.Float {
					d = float64(v.Float())
				}
				if math.IsNaN(d) {
					if !f.optional {
						r.fail(base+j, f, text(v), ErrMissing)
					}
					continue
				}
				if d != math.Trunc(d) || math.Abs(d) > 1<<53 {
					r.fail(base+j, f, text(v), errWantInteger)
					continue
				}
				x = int64(d)
			}
			if f.kind == kindAmount {
				*f.amount(row) = x
			} else {
				*f.num(row) = int(x)
			}
		default: // kindInstant, kindDate
			var t time.Time
			var err error
			switch c.conv {
			case convTimestamp:
				t = fromUnit(v.Int64(), c.unit)
			case convInt96:
				t, err = fromInt96(v.Int96())
			case convDays:
				t = time.Unix(int64(v.Int32())*86400, 0).UTC()
			case convBytes:
				s := string(bytes.TrimSpace(v.ByteArray()))
				switch {
				case s == "":
					// Empty after trimming: null, as in CSV.
					if !f.optional {
						r.fail(base+j, f, "", ErrMissing)
					}
					continue
				case f.kind == kindDate:
					t, err = parseDate(s)
				default:
					t, err = parseInstant(s)
				}
				if err != nil {
					r.fail(base+j, f, s, err)
					continue
				}
			}
			if err == nil {
				if y := t.Year(); y < 0 || y > 9999 {
					err = errTimeRange
				}
			}
			if err != nil {
				r.fail(base+j, f, text(v), err)
				continue
			}
			if f.kind == kindDate {
				t = Date(t)
			}
			*f.tm(row) = t
		}
	}
}

func intOf(v *parquet.Value, phys format.Type) int64 {
	if phys == format.Int32 {
		return int64(v.Int32())
	}
	return v.Int64()
}

func uintOf(v *parquet.Value, phys format.Type) uint64 {
	if phys == format.Int32 {
		return uint64(v.Uint32())
	}
	return v.Uint64()
}

// fromUnit converts a count of unit since the Unix epoch to a UTC time.
func fromUnit(x int64, unit time.Duration) time.Time {
	switch unit {
	case time.Millisecond:
		return time.UnixMilli(x).UTC()
	case time.Microsecond:
		return time.UnixMicro(x).UTC()
	case time.Nanosecond:
		return time.Unix(0, x).UTC()
	}
	per := int64(time.Second / unit)
	if per <= 0 {
		per = 1
	}
	return time.Unix(x/per, (x%per)*int64(unit)).UTC()
}

// julianUnixEpoch is the Julian day number of 1970-01-01.
const julianUnixEpoch = 2440588

// fromInt96 decodes a legacy INT96 timestamp: nanoseconds within the day in
// the low 8 bytes, the Julian day number in the high 4.
func fromInt96(x deprecated.Int96) (time.Time, error) {
	nanos := uint64(x[1])<<32 | uint64(x[0])
	if nanos >= 86400*1e9 {
		return time.Time{}, fmt.Errorf("%w: INT96 time of day %dns exceeds a day", ErrBadTimestamp, nanos)
	}
	day := int64(x[2]) - julianUnixEpoch
	return time.Unix(day*86400, int64(nanos)).UTC(), nil
}

// Position implements Positioner.
func (r *parquetReader[T]) Position() (string, int64) { return r.path, r.first }

func (r *parquetReader[T]) Close() error {
	r.closePages()
	if r.err == nil {
		r.err = errors.New("datasets: read after Close")
	}
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// checkThrift walks the Thrift compact-protocol struct in b without
// decoding it, and fails when a length or count exceeds the bytes left or
// structs nest deeper than 32. Once it passes, a decoder allocates at most
// a small multiple of len(b).
func checkThrift(b []byte) error {
	w := thriftWalker{b: b}
	return w.structure(0, 0)
}

// pageInfo is what checkChunk needs of a page header.
type pageInfo struct {
	hdr                      int   // length of the header in bytes
	typ                      int64 // format.PageType
	uncompressed, compressed int64
	numValues                int64 // of a data or dictionary page; 0 if absent
	levels                   int64 // data page v2: bytes of uncompressed levels before the values
	notCompressed            bool  // data page v2: values not compressed
}

// pageHeaderInfo walks the PageHeader at the start of b.
func pageHeaderInfo(b []byte) (pageInfo, error) {
	p := pageInfo{typ: -1, uncompressed: -1, compressed: -1}
	w := thriftWalker{b: b, onInt: func(depth int, parent, id int16, v int64) {
		switch {
		case depth == 0 && id == 1:
			p.typ = v
		case depth == 0 && id == 2:
			p.uncompressed = v
		case depth == 0 && id == 3:
			p.compressed = v
		case depth == 1 && id == 1 && (parent == 5 || parent == 7 || parent == 8):
			p.numValues = v // data_page_header, dictionary_page_header, data_page_header_v2
		case depth == 1 && parent == 8 && (id == 5 || id == 6):
			p.levels += v // definition and repetition levels byte lengths
		case depth == 1 && parent == 8 && id == 7:
			p.notCompressed = v == 0
		}
	}}
	if err := w.structure(0, 0); err != nil {
		return p, err
	}
	p.hdr = w.i
	return p, nil
}

// Limits on a page, beyond which a file is taken to be corrupt rather than
// letting parquet-go allocate what a damaged header claims. Writers cut
// pages at about 1 MiB (parquet-mr, pyarrow, DuckDB, parquet-go).
const (
	maxPageBytes  = 256 << 20
	maxPageValues = 1 << 26
)

// checkChunk walks the page headers of the column chunk m of a row group of
// rows rows, and checks that every page lies within the chunk, is at most
// maxPageBytes uncompressed and holds at most min(rows, maxPageValues)
// values (the columns read are flat: one value per row). It also checks
// that the compressed data cannot make parquet-go's decoder allocate past
// the page's declared size (see checkCompressed). codec is the codec
// parquet-go uses for the column: that of its first chunk.
func (r *parquetReader[T]) checkChunk(name string, m *format.ColumnMetaData, codec format.CompressionCodec, rows int64) error {
	start := m.DataPageOffset
	if m.DictionaryPageOffset != 0 {
		start = m.DictionaryPageOffset // as parquet-go reads it
	}
	end := start + m.TotalCompressedSize
	bad := func(off int64, msg string, args ...any) error {
		return notParquet(r.path, fmt.Sprintf("row group %d: column %q: page at offset %d: ", r.group, name, off)+fmt.Sprintf(msg, args...), nil)
	}
	for off := start; off < end; {
		var p pageInfo
		for n := min(4<<10, end-off); ; n = min(n*16, 1<<20, end-off) {
			b, err := r.readAt(&r.hdr, off, n)
			if err != nil {
				return err
			}
			if p, err = pageHeaderInfo(b); err == nil {
				break
			}
			if n == min(1<<20, end-off) {
				return bad(off, "corrupt page header")
			}
		}
		isDict := p.typ == int64(format.DictionaryPage)
		switch {
		case p.compressed < 0 || p.uncompressed < 0:
			return bad(off, "page header without sizes")
		case p.compressed > end-off-int64(p.hdr):
			return bad(off, "page of %d bytes overruns its column chunk", p.compressed)
		case p.uncompressed > maxPageBytes:
			return bad(off, "page of %d bytes uncompressed exceeds %d", p.uncompressed, maxPageBytes)
		case p.numValues < 0 || !isDict && p.numValues > min(rows, maxPageValues):
			return bad(off, "page of %d values in a row group of %d rows", p.numValues, rows)
		case isDict && (p.numValues > maxPageValues || p.numValues > p.uncompressed):
			return bad(off, "dictionary of %d values in %d bytes", p.numValues, p.uncompressed)
		case p.levels < 0 || p.levels > p.compressed:
			return bad(off, "levels of %d bytes in a page of %d", p.levels, p.compressed)
		}
		body := off + int64(p.hdr) + p.levels
		if !p.notCompressed && codec != format.Uncompressed {
			if err := r.checkCompressed(codec, body, p.compressed-p.levels, p.uncompressed-p.levels); err != nil {
				return bad(off, "%v", err)
			}
		}
		off += int64(p.hdr) + p.compressed
	}
	return nil
}

// checkCompressed checks the n compressed bytes at off against the size
// they must decompress to: parquet-go's decoders allocate what a Snappy
// block header says, grow their output without bound for GZIP, BROTLI and
// ZSTD, and double it forever on corrupt LZ4_RAW data. Snappy costs a look
// at the block header; the others a bounded decompression, which doubles
// the decompression work for files in those codecs.
func (r *parquetReader[T]) checkCompressed(codec format.CompressionCodec, off, n, size int64) error {
	if codec == format.Snappy {
		b, err := r.readAt(&r.body, off, min(n, binary.MaxVarintLen64))
		if err != nil {
			return err
		}
		dlen, k := binary.Uvarint(b)
		if k <= 0 || dlen > uint64(size) {
			return fmt.Errorf("snappy block of %d bytes in a page of %d", dlen, size)
		}
		return nil
	}
	var dec func([]byte) (io.Reader, error)
	switch codec {
	case format.Gzip:
		dec = func(b []byte) (io.Reader, error) { return gzip.NewReader(bytes.NewReader(b)) }
	case format.Brotli:
		dec = func(b []byte) (io.Reader, error) { return brotli.NewReader(bytes.NewReader(b)), nil }
	case format.Zstd:
		dec = func(b []byte) (io.Reader, error) {
			d, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxPageBytes))
			if err != nil {
				return nil, err
			}
			return d.IOReadCloser(), nil
		}
	case format.Lz4Raw:
	default:
		return nil // parquet-go refuses other codecs itself
	}
	b, err := r.readAt(&r.body, off, n)
	if err != nil {
		return err
	}
	if codec == format.Lz4Raw {
		if _, err := lz4.UncompressBlock(b, make([]byte, size)); err != nil {
			return fmt.Errorf("LZ4_RAW data does not decompress to %d bytes: %w", size, err)
		}
		return nil
	}
	zr, err := dec(b)
	if err != nil {
		return fmt.Errorf("%s data: %w", codec, err)
	}
	if c, ok := zr.(io.Closer); ok {
		defer c.Close()
	}
	got, err := io.Copy(io.Discard, io.LimitReader(zr, size+1))
	if err != nil {
		return fmt.Errorf("%s data: %w", codec, err)
	}
	if got > size {
		return fmt.Errorf("%s data decompresses past the page's %d bytes", codec, size)
	}
	return nil
}

// readAt reads n bytes at off into *buf, growing it as needed.
func (r *parquetReader[T]) readAt(buf *[]byte, off, n int64) ([]byte, error) {
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := r.src.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("datasets: read %s: %w", r.path, err)
	}
	return b, nil
}

type thriftWalker struct {
	b []byte
	i int
	// onInt, if set, is called with each integer field of a struct: its
	// depth (0 for the top struct), the id of the field holding the
	// struct (0 at the top, -1 in a list), its id and its value.
	onInt func(depth int, parent, id int16, v int64)
}

var errThrift = errors.New("malformed Thrift data")

func (w *thriftWalker) byte() (byte, error) {
	if w.i >= len(w.b) {
		return 0, errThrift
	}
	w.i++
	return w.b[w.i-1], nil
}

func (w *thriftWalker) uvarint() (uint64, error) {
	x, n := binary.Uvarint(w.b[w.i:])
	if n <= 0 {
		return 0, errThrift
	}
	w.i += n
	return x, nil
}

func zigzag(x uint64) int64 { return int64(x>>1) ^ -int64(x&1) }

// count reads a length or count and checks that as many bytes are left.
func (w *thriftWalker) count() (int, error) {
	n, err := w.uvarint()
	if err != nil || n > uint64(len(w.b)-w.i) {
		return 0, errThrift
	}
	return int(n), nil
}

// structure skips a struct; parent is the id of the field holding it.
func (w *thriftWalker) structure(depth int, parent int16) error {
	if depth > 32 {
		return errThrift
	}
	var id int16
	for {
		h, err := w.byte()
		if err != nil {
			return err
		}
		if h == 0 { // stop
			return nil
		}
		if h>>4 == 0 { // long form: the field id follows
			v, err := w.uvarint()
			if err != nil {
				return err
			}
			id = int16(zigzag(v))
		} else {
			id += int16(h >> 4)
		}
		switch typ := h & 0x0f; {
		case w.onInt != nil && (typ == 1 || typ == 2): // a bool field: true is 1
			w.onInt(depth, parent, id, int64(2-typ))
		case w.onInt != nil && typ >= 4 && typ <= 6:
			v, err := w.uvarint()
			if err != nil {
				return err
			}
			w.onInt(depth, parent, id, zigzag(v))
		case typ == 12:
			if err := w.structure(depth+1, id); err != nil {
				return err
			}
		default:
			if err := w.value(typ, false, depth); err != nil {
				return err
			}
		}
	}
}

// value skips one value of compact type typ; elem says whether it is a
// list, set or map element (where booleans take a byte).
func (w *thriftWalker) value(typ byte, elem bool, depth int) error {
	switch typ {
	case 1, 2: // true, false
		if elem {
			_, err := w.byte()
			return err
		}
		return nil
	case 3: // byte
		_, err := w.byte()
		return err
	case 4, 5, 6: // i16, i32, i64 as zigzag varints
		_, err := w.uvarint()
		return err
	case 7: // double
		if len(w.b)-w.i < 8 {
			return errThrift
		}
		w.i += 8
		return nil
	case 8: // binary
		n, err := w.count()
		if err != nil {
			return err
		}
		w.i += n
		return nil
	case 9, 10: // list, set
		h, err := w.byte()
		if err != nil {
			return err
		}
		n := int(h >> 4)
		if n == 15 {
			if n, err = w.count(); err != nil {
				return err
			}
		} else if n > len(w.b)-w.i {
			return errThrift
		}
		for range n {
			if err := w.value(h&0x0f, true, depth+1); err != nil {
				return err
			}
		}
		return nil
	case 11: // map
		n, err := w.count()
		if err != nil || n == 0 {
			return err
		}
		kv, err := w.byte()
		if err != nil {
			return err
		}
		for range n {
			if err := w.value(kv>>4, true, depth+1); err != nil {
				return err
			}
			if err := w.value(kv&0x0f, true, depth+1); err != nil {
				return err
			}
		}
		return nil
	case 12: // struct
		return w.structure(depth+1, -1)
	}
	return errThrift
}
