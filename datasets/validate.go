package datasets

import (
	"errors"
	"fmt"
	"io"
)

// TableCount counts the rows of one table seen by CheckDir.
type TableCount struct {
	Table Table
	Path  string // "" when the optional table is absent
	Rows  int64  // rows read, good and bad
	Bad   int64  // rows rejected by the reader or the Checker
}

// CheckDir reads every table of d in dependency order (members, courses,
// attendance, transactions) and checks each row with a Checker built from
// opts. Each rejected row is passed to onBad; if onBad returns an error,
// CheckDir stops and returns it. Errors that are not about one row (an
// unreadable file, a schema mismatch) stop CheckDir at once.
//
// Members and attendance are required; courses and transactions are
// checked when present.
func CheckDir(d *Dir, opts *CheckOptions, onBad func(*RowError) error) ([]TableCount, error) {
	c := NewChecker(opts)
	var counts []TableCount
	add := func(tc TableCount, err error) error {
		counts = append(counts, tc)
		return err
	}
	if err := add(checkTable(d, TableMembers, true, c.Member, onBad)); err != nil {
		return counts, err
	}
	if err := add(checkTable(d, TableCourses, false, c.Course, onBad)); err != nil {
		return counts, err
	}
	if err := add(checkTable(d, TableAttendance, true, c.Attendance, onBad)); err != nil {
		return counts, err
	}
	if err := add(checkTable(d, TableTransactions, false, c.Transaction, onBad)); err != nil {
		return counts, err
	}
	return counts, nil
}

// checkTable streams one table through check, counting for CheckDir.
func checkTable[T Record](d *Dir, t Table, required bool, check func(string, int64, *T) error, onBad func(*RowError) error) (TableCount, error) {
	if _, err := d.Path(t); errors.Is(err, ErrTableNotFound) && !required {
		return TableCount{Table: t}, nil
	}
	return CheckTable(d, nil, 0, check, onBad, nil)
}

// CheckTable streams the table of record type T in d through check (a
// Checker method), batchRows rows at a time (<= 0: 4096), read with ro
// (nil: defaults). Each row rejected by the reader or by check goes to
// onBad; the rows of a batch that pass go to keep (nil: not kept), before
// the next batch is read. It stops at the first error from onBad or keep,
// at a check error that is not a *RowError, and at a read error that is not
// about one row. A missing table is an error (ErrTableNotFound); the
// caller decides which tables are optional.
func CheckTable[T Record](d *Dir, ro *ReadOptions, batchRows int, check func(file string, row int64, r *T) error, onBad func(*RowError) error, keep func([]T) error) (TableCount, error) {
	tc := TableCount{Table: TableOf[T]()}
	path, err := d.Path(tc.Table)
	if err != nil {
		return tc, err
	}
	tc.Path = path
	r, err := OpenDirTable[T](d, ro)
	if err != nil {
		return tc, err
	}
	defer r.Close()
	if batchRows <= 0 {
		batchRows = 4096
	}
	rows := make([]T, batchRows)
	var good []T
	if keep != nil {
		good = make([]T, 0, batchRows)
	}
	for {
		n, err := r.Read(rows)
		file, first := Position(r)
		good = good[:0]
		for i := 0; i < n; i++ {
			tc.Rows++
			if cerr := check(file, first+int64(i), &rows[i]); cerr != nil {
				tc.Bad++
				var re *RowError
				if !errors.As(cerr, &re) {
					return tc, cerr
				}
				if herr := onBad(re); herr != nil {
					return tc, herr
				}
				continue
			}
			if keep != nil {
				good = append(good, rows[i])
			}
		}
		if len(good) > 0 {
			if kerr := keep(good); kerr != nil {
				return tc, kerr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) {
				if qe := (*QuoteError)(nil); errors.As(err, &qe) {
					return tc, err // names the file, row and line
				}
				return tc, fmt.Errorf("read %s: %w", path, err)
			}
			tc.Rows++
			tc.Bad++
			if herr := onBad(re); herr != nil {
				return tc, herr
			}
		}
	}
	if err := r.Close(); err != nil {
		return tc, fmt.Errorf("close %s: %w", path, err)
	}
	return tc, nil
}
