package mapping

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"retain/datasets"
)

// maxLineBytes bounds one line of a text export.
const maxLineBytes = 1 << 20

// A record is one data row of an input file.
type record struct {
	row  int64    // 1-based data row
	line int64    // physical line where the row starts; 0 for Parquet
	vals []string // trimmed values, one per column
}

// An input streams the rows of one export file.
type input interface {
	// columns returns the column names, in file order.
	columns() []string
	// next returns the next row, io.EOF at the end, a *datasets.RowError
	// for a malformed row (next may be called again), or another error,
	// which is fatal.
	next() (*record, error)
	// timeLayout returns the Go layout the values of column i are written
	// in when the file's type says so (a Parquet TIMESTAMP or DATE column),
	// or "".
	timeLayout(i int) string
	close() error
}

// openInput opens path as an export of source s.
func openInput(path string, s *Source) (input, error) {
	if s.Format == FormatParquet {
		return openParquet(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	in, err := newTextInput(f, path, s)
	if err != nil {
		f.Close()
		return nil, err
	}
	return in, nil
}

// textInput reads CSV, TSV and whitespace-separated files.
type textInput struct {
	path   string
	f      io.Closer
	br     *bufio.Reader
	format string
	csv    *csv.Reader
	sc     *bufio.Scanner
	cols   []string
	offset int64 // physical lines consumed before the csv.Reader started
	line   int64 // last physical line read by the line scanner
	row    int64
	err    error // sticky fatal error (a *datasets.QuoteError)

	inHeader bool // reading the header line
}

func newTextInput(f io.ReadCloser, path string, s *Source) (*textInput, error) {
	var r io.Reader = f
	if s.Encoding == "latin1" {
		r = &latin1Reader{r: bufio.NewReader(f)}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
	in := &textInput{path: path, f: f, br: br, format: s.Format}
	// Skip the preamble.
	for i := 0; i < s.SkipLines; i++ {
		_, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			_, err = br.ReadSlice('\n')
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("mapping: read %s: %w", path, err)
		}
		in.offset++
	}
	in.line = in.offset
	if s.Format == FormatCSV {
		c := csv.NewReader(br)
		c.Comma = ','
		if s.Delimiter != "" {
			c.Comma = []rune(s.Delimiter)[0]
		}
		c.FieldsPerRecord = -1
		in.csv = c
	} else {
		in.sc = bufio.NewScanner(br)
		in.sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	}
	header := s.Header == nil || *s.Header
	if header {
		in.inHeader = true
		vals, line, err := in.read()
		in.inHeader = false
		if err == io.EOF {
			return nil, fmt.Errorf("mapping: %s: %w: empty file, want a header line", path, datasets.ErrSchema)
		}
		if err != nil {
			return nil, fmt.Errorf("mapping: %s: line %d: header: %w", path, line, err)
		}
		// A trailing delimiter gives an extra empty name: drop it.
		for len(vals) > 0 && vals[len(vals)-1] == "" {
			vals = vals[:len(vals)-1]
		}
		in.cols = vals
	}
	if len(s.Columns) > 0 {
		in.cols = s.Columns
	}
	return in, nil
}

// read returns the next non-blank record with trimmed values and its line.
func (in *textInput) read() ([]string, int64, error) {
	if in.err != nil {
		return nil, 0, in.err
	}
	if in.csv != nil {
		vals, err := in.csv.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				row := in.row + 1
				if in.inHeader {
					row = 0
				}
				if qe := datasets.RunawayQuote(in.path, row, in.offset, in.csv, pe); qe != nil {
					// Fatal: the lines the field took in may be rows.
					in.err = qe
					return nil, qe.Line, qe
				}
				return nil, in.offset + int64(pe.StartLine), fmt.Errorf("%w: %v", ErrMalformed, pe.Err)
			}
			if err == io.EOF {
				return nil, 0, io.EOF
			}
			return nil, 0, fmt.Errorf("mapping: read %s: %w", in.path, err)
		}
		line, _ := in.csv.FieldPos(0)
		for i, v := range vals {
			vals[i] = strings.TrimSpace(v)
		}
		return vals, in.offset + int64(line), nil
	}
	for in.sc.Scan() {
		in.line++
		text := strings.TrimSuffix(in.sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		var vals []string
		if in.format == FormatWhitespace {
			vals = strings.Fields(text)
		} else {
			vals = strings.Split(text, "\t")
			for i, v := range vals {
				vals[i] = strings.TrimSpace(v)
			}
		}
		return vals, in.line, nil
	}
	if err := in.sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, in.line + 1, fmt.Errorf("mapping: read %s: line %d longer than %d bytes", in.path, in.line+1, maxLineBytes)
		}
		return nil, 0, fmt.Errorf("mapping: read %s: %w", in.path, err)
	}
	return nil, 0, io.EOF
}

func (in *textInput) columns() []string { return in.cols }
func (in *textInput) timeLayout(int) string {
	return ""
}
func (in *textInput) close() error { return in.f.Close() }

func (in *textInput) next() (*record, error) {
	vals, line, err := in.read()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil && !errors.Is(err, ErrMalformed) {
		return nil, err
	}
	in.row++
	rec := &record{row: in.row, line: line, vals: vals}
	if err != nil {
		return rec, &datasets.RowError{File: in.path, Row: in.row, Line: line, Err: err}
	}
	// A trailing delimiter gives an extra empty field: tolerate it.
	for len(rec.vals) > len(in.cols) && rec.vals[len(rec.vals)-1] == "" {
		rec.vals = rec.vals[:len(rec.vals)-1]
	}
	if len(rec.vals) != len(in.cols) {
		return rec, &datasets.RowError{File: in.path, Row: in.row, Line: line, Raw: vals,
			Err: fmt.Errorf("%w: row has %d fields, want %d (%s)", ErrMalformed, len(rec.vals), len(in.cols), strings.Join(in.cols, ", "))}
	}
	for i, v := range rec.vals {
		if !utf8.ValidString(v) {
			return rec, &datasets.RowError{File: in.path, Row: in.row, Line: line, Column: in.cols[i], Raw: vals,
				Value: strings.ToValidUTF8(v, "\ufffd"),
				Err:   fmt.Errorf("%w: invalid UTF-8 (is the file latin1? set encoding: latin1)", ErrMalformed)}
		}
	}
	return rec, nil
}

// latin1Reader decodes ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r       *bufio.Reader
	pending []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.pending) > 0 {
			c := copy(p[n:], l.pending)
			l.pending = l.pending[c:]
			n += c
			continue
		}
		b, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b < 0x80 {
			p[n] = b
			n++
			continue
		}
		l.pending = utf8.AppendRune(l.pending[:0], rune(b))
	}
	return n, nil
}
