package datasets

import (
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is. A *RowError wraps one of them when
// the cause is one of these kinds.
var (
	ErrUnknownValue   = errors.New("datasets: unknown value")
	ErrMissing        = errors.New("datasets: required value missing")
	ErrBadTimestamp   = errors.New("datasets: bad timestamp")
	ErrFutureTime     = errors.New("datasets: timestamp in the future")
	ErrBadNumber      = errors.New("datasets: bad number")
	ErrAbsurdAmount   = errors.New("datasets: absurd amount")
	ErrUnknownMember  = errors.New("datasets: unknown member_id")
	ErrBeforeJoin     = errors.New("datasets: event before member joined")
	ErrDuplicateEvent = errors.New("datasets: duplicate event_id")
	ErrDuplicateKey   = errors.New("datasets: duplicate key")
	ErrSchema         = errors.New("datasets: schema mismatch")
	ErrNotParquet     = errors.New("datasets: not a Parquet file")
	ErrTableNotFound  = errors.New("datasets: table not found")
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
