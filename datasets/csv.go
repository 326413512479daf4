package datasets

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// CSV files (RFC 4180, comma-separated, UTF-8) have a header row of column
// names. Reading, names are matched after trimming spaces and folding case,
// in any order; extra columns are ignored; a missing required column is an
// ErrSchema error. A UTF-8 byte order mark is skipped. Every field is
// trimmed of leading and trailing white space; an empty field is null,
// which is an ErrMissing *RowError in a required column (even a text one).
//
// Values: instants in RFC 3339 (any offset, fractional seconds allowed),
// or "2006-01-02 15:04:05" and "2006-01-02T15:04:05" read as UTC, or
// "2006-01-02 15:04:05+00" as DuckDB writes them; dates as 2006-01-02 or
// as an instant whose UTC day is taken; integers in decimal; amounts as
// integer minor units (19.99 is an error, write 1999); enums by name.
// Years outside 0000 to 9999 are rejected. Writing uses RFC 3339 in UTC
// with "Z" and as many fractional digits as needed, 2006-01-02 for dates,
// and the empty field for unrecorded optional values.
//
// A *RowError of a CSV file has the data row (1-based, the header not
// counted) and the physical line of the offending field (of the record's
// start when the record as a whole is at fault); they differ when earlier
// quoted fields span lines. Raw holds the record's fields as read. A
// quoted field that runs over line ends into an error (an opening quote
// never closed) is not one bad row but the fatal *QuoteError: the lines it
// took in may be rows, and reading stops there.

const csvBufferSize = 64 << 10

type csvReader[T Record] struct {
	path    string
	f       *os.File
	cr      *csv.Reader
	fields  []field[T]
	col     []int // col[i] is the record index of fields[i], -1 when absent
	ncols   int   // number of header fields
	row     int64 // data rows read so far
	first   int64 // row of the first row returned by the last Read
	interns []interner
	err     error // sticky fatal error
}

func openCSV[T Record](path string, skip []string) (Reader[T], error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	r, err := newCSVReader[T](path, f, skip)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

// newCSVReader reads the header from src and returns a reader of the rows
// that follow, leaving the columns named in skip unread. path names src in
// errors.
func newCSVReader[T Record](path string, src io.Reader, skip []string) (*csvReader[T], error) {
	br := bufio.NewReaderSize(src, csvBufferSize)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &fileError{op: "read", path: path, kind: ErrSchema, msg: "empty CSV file: no header row"}
	}
	if err != nil {
		return nil, &fileError{op: "read", path: path, kind: ErrSchema, msg: "bad CSV header", cause: err}
	}
	fields := fieldsOf[T]()
	r := &csvReader[T]{
		path:    path,
		cr:      cr,
		fields:  fields,
		col:     make([]int, len(fields)),
		ncols:   len(header),
		interns: make([]interner, len(fields)),
	}
	for i := range r.col {
		r.col[i] = -1
	}
	for j, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		for i := range fields {
			if fields[i].name != h {
				continue
			}
			if r.col[i] >= 0 {
				return nil, &fileError{op: "read", path: path, kind: ErrSchema, msg: fmt.Sprintf("column %q appears twice in the header", h)}
			}
			r.col[i] = j
		}
	}
	var missing []string
	for i := range fields {
		if slices.Contains(skip, fields[i].name) {
			r.col[i] = -1
			continue
		}
		if r.col[i] < 0 && !fields[i].optional {
			missing = append(missing, fields[i].name)
		}
	}
	if missing != nil {
		return nil, &fileError{op: "read", path: path, kind: ErrSchema,
			msg: fmt.Sprintf("missing required column(s) %s of table %s (header: %s)",
				strings.Join(missing, ", "), TableOf[T](), strings.Join(header, ","))}
	}
	return r, nil
}

func (r *csvReader[T]) Read(rows []T) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n := 0
	r.first = r.row + 1
	for n < len(rows) {
		rec, err := r.cr.Read()
		if err == io.EOF {
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return n, fmt.Errorf("datasets: read %s: %w", r.path, err)
			}
			r.row++
			if qe := RunawayQuote(r.path, r.row, 0, r.cr, pe); qe != nil {
				r.err = qe
				return n, qe
			}
			return n, &RowError{File: r.path, Row: r.row, Line: int64(pe.StartLine), Err: pe.Err}
		}
		r.row++
		if e := r.decode(&rows[n], rec); e != nil {
			return n, e
		}
		n++
	}
	return n, nil
}

// decode sets *dst from the record rec of row r.row.
func (r *csvReader[T]) decode(dst *T, rec []string) *RowError {
	*dst = *new(T)
	if len(rec) != r.ncols {
		line, _ := r.cr.FieldPos(0)
		err := fmt.Errorf("%w: record has %d fields, header has %d", csv.ErrFieldCount, len(rec), r.ncols)
		if len(rec) < r.ncols {
			err = fmt.Errorf("%w: record has %d fields, header has %d", ErrMissing, len(rec), r.ncols)
		}
		return &RowError{File: r.path, Row: r.row, Line: int64(line), Err: err, Raw: slices.Clone(rec)}
	}
	for i := range r.fields {
		f := &r.fields[i]
		j := r.col[i]
		if j < 0 {
			continue
		}
		s := strings.TrimSpace(rec[j])
		if f.kind == kindString && s != "" {
			// The record's fields share one string; copy so that a kept
			// row does not pin the whole line.
			if f.intern {
				s = r.interns[i].string(s)
			} else {
				s = strings.Clone(s)
			}
		}
		if err := f.parse(dst, s); err != nil {
			line, _ := r.cr.FieldPos(j)
			return &RowError{File: r.path, Row: r.row, Line: int64(line), Column: f.name, Value: s, Err: err, Raw: slices.Clone(rec)}
		}
	}
	return nil
}

// Position implements Positioner.
func (r *csvReader[T]) Position() (string, int64) { return r.path, r.first }

func (r *csvReader[T]) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

type csvWriter[T Record] struct {
	fileEnd
	bw     *bufio.Writer
	cw     *csv.Writer
	fields []field[T]
	rec    []string
	row    int64
}

func createCSV[T Record](path string) (Writer[T], error) {
	af, err := createAtomic(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: create %s: %w", path, err)
	}
	w := newCSVWriter[T](path, af)
	w.af = af
	if err := w.cw.Write(Columns(TableOf[T]())); err != nil {
		af.Abort()
		return nil, fmt.Errorf("datasets: write %s: %w", path, err)
	}
	return w, nil
}

func newCSVWriter[T Record](path string, dst io.Writer) *csvWriter[T] {
	bw := bufio.NewWriterSize(dst, csvBufferSize)
	fields := fieldsOf[T]()
	return &csvWriter[T]{
		fileEnd: fileEnd{path: path},
		bw:      bw,
		cw:      csv.NewWriter(bw),
		fields:  fields,
		rec:     make([]string, len(fields)),
	}
}

func (w *csvWriter[T]) Write(rows []T) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, fmt.Errorf("datasets: write %s: writer closed", w.path)
	}
	for i := range rows {
		w.row++
		for j := range w.fields {
			s, err := w.fields[j].format(&rows[i])
			if err != nil {
				w.err = fmt.Errorf("datasets: write %s: row %d, column %s: %w", w.path, w.row, w.fields[j].name, err)
				return i, w.err
			}
			w.rec[j] = s
		}
		if err := w.cw.Write(w.rec); err != nil {
			w.err = fmt.Errorf("datasets: write %s: %w", w.path, err)
			return i, w.err
		}
	}
	return len(rows), nil
}

// flush writes out everything buffered.
func (w *csvWriter[T]) flush() error {
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		return err
	}
	return w.bw.Flush()
}

func (w *csvWriter[T]) Close() error { return w.end(w.flush) }
