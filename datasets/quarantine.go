package datasets

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
)

// QuarantineColumns is the header of a quarantine file.
var QuarantineColumns = []string{"file", "row", "line", "column", "value", "reason", "raw"}

// A Quarantine is a CSV file of rejected rows, one per *RowError, with the
// columns QuarantineColumns: where the row was (file, row, line; line is
// empty when unknown), the column and value at fault, the reason (the
// error's message) and the raw record, its fields joined with '|'. The file
// appears at its path only when Close succeeds.
type Quarantine struct {
	path   string
	af     *atomicFile
	bw     *bufio.Writer
	w      *csv.Writer
	n      int64
	rec    []string
	closed bool
}

// NewQuarantine creates a quarantine file at path and writes its header.
func NewQuarantine(path string) (*Quarantine, error) {
	af, err := createAtomic(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: create quarantine: %w", err)
	}
	bw := bufio.NewWriter(af)
	q := &Quarantine{path: path, af: af, bw: bw, w: csv.NewWriter(bw), rec: make([]string, len(QuarantineColumns))}
	if err := q.w.Write(QuarantineColumns); err != nil {
		af.Abort()
		return nil, fmt.Errorf("datasets: write quarantine %s: %w", path, err)
	}
	return q, nil
}

// Add appends the row of e.
func (q *Quarantine) Add(e *RowError) error {
	if q.closed {
		return fmt.Errorf("datasets: write quarantine %s: closed", q.path)
	}
	line := ""
	if e.Line > 0 {
		line = strconv.FormatInt(e.Line, 10)
	}
	reason := ""
	if e.Err != nil {
		reason = e.Err.Error()
	}
	q.rec[0] = e.File
	q.rec[1] = strconv.FormatInt(e.Row, 10)
	q.rec[2] = line
	q.rec[3] = e.Column
	q.rec[4] = e.Value
	q.rec[5] = reason
	q.rec[6] = strings.Join(e.Raw, "|")
	if err := q.w.Write(q.rec); err != nil {
		return fmt.Errorf("datasets: write quarantine %s: %w", q.path, err)
	}
	q.n++
	return nil
}

// Count returns the number of rows added.
func (q *Quarantine) Count() int64 { return q.n }

// Close flushes the file and puts it at its path.
func (q *Quarantine) Close() error {
	if q.closed {
		return nil
	}
	q.closed = true
	q.w.Flush()
	err := q.w.Error()
	if err == nil {
		err = q.bw.Flush()
	}
	if err != nil {
		q.af.Abort()
		return fmt.Errorf("datasets: write quarantine %s: %w", q.path, err)
	}
	if err := q.af.Commit(); err != nil {
		return fmt.Errorf("datasets: write quarantine: %w", err)
	}
	return nil
}

// Abort discards the file; Close after Abort does nothing.
func (q *Quarantine) Abort() error {
	if q.closed {
		return nil
	}
	q.closed = true
	return q.af.Abort()
}
