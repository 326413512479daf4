package datasets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// Sentinel errors, checked with errors.Is. A *RowError wraps one of them when
// the cause is one of these kinds.
var (
	ErrUnknownValue    = errors.New("datasets: unknown value")
	ErrMissing         = errors.New("datasets: required value missing")
	ErrBadTimestamp    = errors.New("datasets: bad timestamp")
	ErrFutureTime      = errors.New("datasets: timestamp in the future")
	ErrBadNumber       = errors.New("datasets: bad number")
	ErrAbsurdAmount    = errors.New("datasets: absurd amount")
	ErrUnknownMember   = errors.New("datasets: unknown member_id")
	ErrBeforeJoin      = errors.New("datasets: event before member joined")
	ErrDuplicateEvent  = errors.New("datasets: duplicate event_id")
	ErrDuplicateKey    = errors.New("datasets: duplicate key")
	ErrSchema          = errors.New("datasets: schema mismatch")
	ErrNotParquet      = errors.New("datasets: not a Parquet file")
	ErrTableNotFound   = errors.New("datasets: table not found")
	ErrRunawayQuote    = errors.New("datasets: runaway quoted field")
	ErrUnsupportedFile = errors.New("datasets: unsupported file")
	ErrBadID           = errors.New("datasets: bad id")
)

// RowError reports one rejected row: where it is and why.
//
// Row is the 1-based data row within File (the header of a CSV file is not
// counted; for a CSV file, Line is the physical line number as well). Column
// is the canonical or source column name, empty when the row as a whole is
// at fault.
type RowError struct {
	File   string
	Row    int64
	Line   int64 // CSV only; 0 when not applicable
	Column string
	Value  string   // the offending raw value, possibly shortened
	Raw    []string // the whole source record when known, for quarantine files
	Err    error    // the reason; often wraps a sentinel above
}

func (e *RowError) Error() string {
	where := e.File
	if e.Row > 0 {
		where += fmt.Sprintf(": row %d", e.Row)
		if e.Line > 0 {
			where += fmt.Sprintf(" (line %d)", e.Line)
		}
	}
	if e.Column != "" {
		where += ", column " + e.Column
	}
	msg := where + ": " + e.Err.Error()
	if e.Value != "" {
		msg += fmt.Sprintf(" (value %q)", shorten(e.Value, 80))
	}
	return msg
}

func (e *RowError) Unwrap() error { return e.Err }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// QuoteError is the fatal error of a CSV reader whose quoted field ran over
// line ends into a parse error (csv.ErrQuote): most often an opening quote
// that is never closed, which takes every following line into one field,
// to the end of the file or to the next stray quote. The lines it took in
// may be rows of their own and where the next row starts cannot be known,
// so the reader stops rather than report them as one bad row: Row and Line
// say where the damage starts, and no row from Line on was read. A quote
// error that stays within one line is a *RowError, and the reader goes on.
type QuoteError struct {
	File string
	Row  int64 // the record's data row (1-based, the header not counted); 0 for a header
	Line int64 // the physical line where the record starts
	// End is the line where parsing failed: the last line of the file
	// when EOF is set, else the line of the stray quote at Column.
	End    int64
	Column int
	EOF    bool  // the quoted field ran to the end of the file
	Err    error // the csv package's error, csv.ErrQuote
}

func (e *QuoteError) Error() string {
	where := fmt.Sprintf("%s: line %d", e.File, e.Line)
	if e.Row > 0 {
		where = fmt.Sprintf("%s: row %d (line %d)", e.File, e.Row, e.Line)
	}
	lost := e.End - e.Line
	if e.EOF {
		return fmt.Sprintf("%s: quoted field never closed: it runs to the end of the file (line %d), "+
			"taking in the %d line(s) after line %d; no row from line %d on was read (look for an unbalanced \" in this record)",
			where, e.End, lost, e.Line, e.Line)
	}
	return fmt.Sprintf("%s: quoted field runs over line ends to line %d, column %d, where a quote neither closes it nor is doubled, "+
		"taking in the %d line(s) after line %d, which may be rows of their own; no row from line %d on was read "+
		"(an opening \" never closed, or a \" inside a quoted field not doubled)",
		where, e.End, e.Column, lost, e.Line, e.Line)
}

func (e *QuoteError) Unwrap() []error { return []error{ErrRunawayQuote, e.Err} }

// RunawayQuote returns the *QuoteError for the parse error pe that cr
// returned for data row row, or nil when pe is about one line (then it is
// the error of one bad row). It reads on in cr, to learn whether the quoted
// field ran to the end of the file: cr is not to be read again. offset is
// the number of lines before cr's first line (a preamble skipped), added to
// the line numbers of pe. RunawayQuote is exported for the other CSV
// readers of retain (package mapping).
func RunawayQuote(file string, row, offset int64, cr *csv.Reader, pe *csv.ParseError) *QuoteError {
	if !errors.Is(pe.Err, csv.ErrQuote) || pe.Line <= pe.StartLine {
		return nil
	}
	e := &QuoteError{File: file, Row: row, Line: offset + int64(pe.StartLine), End: offset + int64(pe.Line), Column: pe.Column, Err: pe.Err}
	if _, err := cr.Read(); err == io.EOF {
		e.EOF = true
		e.Column = 0
	}
	return e
}
