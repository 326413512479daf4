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

// checkTable streams one table through check.
func checkTable[T Record](d *Dir, t Table, required bool, check func(string, int64, *T) error, onBad func(*RowError) error) (TableCount, error) {
	tc := TableCount{Table: t}
	path, err := d.Path(t)
	if errors.Is(err, ErrTableNotFound) && !required {
		return tc, nil
	}
	if err != nil {
		return tc, err
	}
	tc.Path = path
	r, err := OpenDirTable[T](d, nil)
	if err != nil {
		return tc, err
	}
	defer r.Close()
	rows := make([]T, 4096)
	for {
		n, err := r.Read(rows)
		file, first := Position(r)
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
			}
		}
		if err == io.EOF {
			return tc, nil
		}
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) {
				return tc, fmt.Errorf("read %s: %w", path, err)
			}
			tc.Rows++
			tc.Bad++
			if herr := onBad(re); herr != nil {
				return tc, herr
			}
		}
	}
}
