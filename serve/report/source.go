package report

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"retain/datasets"
	"retain/features"
)

// OpenDir opens the dataset directory dir as a features.Source for
// BuildFrom whose readers check every row as 'retain validate' does
// (datasets.Checker): a bad row fails the read with an error naming its
// file, row and column. The courses table is checked (not returned: the
// features take the courses from the model's spec) when the first event
// table is opened, before any event, as the Checker needs. It also returns
// the directory's manifest. Read the source once: the Checker remembers
// every id it saw.
func OpenDir(dir string) (features.Source, datasets.Manifest, error) {
	d, err := datasets.OpenDir(dir)
	if err != nil {
		return nil, datasets.Manifest{}, fmt.Errorf("report: %w", err)
	}
	return &checkedDir{d: d, chk: datasets.NewChecker(nil)}, d.Manifest(), nil
}

// checkedDir is OpenDir's Source.
type checkedDir struct {
	d       *datasets.Dir
	chk     *datasets.Checker
	mu      sync.Mutex // the Checker is not safe for concurrent use
	courses sync.Once
	cErr    error
}

func (s *checkedDir) Manifest() datasets.Manifest { return s.d.Manifest() }

func (s *checkedDir) Members() (datasets.Reader[datasets.Member], error) {
	return openChecked(s, s.chk.Member)
}

func (s *checkedDir) Courses() (datasets.Reader[datasets.Course], error) {
	return nil, errors.New("report: the courses of a checked dataset are checked, not read")
}

func (s *checkedDir) Attendance() (datasets.Reader[datasets.Attendance], error) {
	if err := s.checkCourses(); err != nil {
		return nil, err
	}
	return openChecked(s, s.chk.Attendance)
}

func (s *checkedDir) Transactions() (datasets.Reader[datasets.Transaction], error) {
	if err := s.checkCourses(); err != nil {
		return nil, err
	}
	return openChecked(s, s.chk.Transaction)
}

// checkCourses checks the whole courses table, once.
func (s *checkedDir) checkCourses() error {
	s.courses.Do(func() {
		r, err := openChecked(s, s.chk.Course)
		if err != nil || r == nil {
			s.cErr = err
			return
		}
		defer r.Close()
		buf := make([]datasets.Course, 1024)
		for {
			_, err := r.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				s.cErr = err
				return
			}
		}
		s.cErr = r.Close()
	})
	return s.cErr
}

// openChecked opens table T of s (nil, nil for a missing optional table:
// courses, transactions) with every row checked by check.
func openChecked[T datasets.Record](s *checkedDir, check func(string, int64, *T) error) (datasets.Reader[T], error) {
	table := datasets.TableOf[T]()
	r, err := datasets.OpenDirTable[T](s.d, nil)
	if errors.Is(err, datasets.ErrTableNotFound) && (table == datasets.TableCourses || table == datasets.TableTransactions) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: %s: %w", table, err)
	}
	return &checkedReader[T]{r: r, s: s, check: check, table: table}, nil
}

type checkedReader[T datasets.Record] struct {
	r     datasets.Reader[T]
	s     *checkedDir
	check func(string, int64, *T) error
	table datasets.Table
}

// Read reads rows and checks them; on a bad row it returns the rows before
// it and the error.
func (c *checkedReader[T]) Read(dst []T) (int, error) {
	n, rerr := c.r.Read(dst)
	file, row := datasets.Position(c.r)
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	for i := range dst[:n] {
		if err := c.check(file, row+int64(i), &dst[i]); err != nil {
			return i, err // names the file, row and column
		}
	}
	if rerr != nil && rerr != io.EOF {
		rerr = fmt.Errorf("report: %s: %w", c.table, rerr)
	}
	return n, rerr
}

func (c *checkedReader[T]) Close() error { return c.r.Close() }

// HistorySource returns a features.Source over the histories hs (members
// in order, then each member's events), with manifest man: what BuildFrom
// reads when the histories are in memory already (the live dashboard). The
// histories are not copied; do not change them while the source is read.
func HistorySource(hs []features.History, man datasets.Manifest) features.Source {
	return historySource{hs, man}
}

type historySource struct {
	hs  []features.History
	man datasets.Manifest
}

func (s historySource) Manifest() datasets.Manifest { return s.man }

func (s historySource) Members() (datasets.Reader[datasets.Member], error) {
	return &historyReader[datasets.Member]{hs: s.hs, rows: func(h *features.History) []datasets.Member {
		return []datasets.Member{h.Member}
	}}, nil
}

func (s historySource) Courses() (datasets.Reader[datasets.Course], error) { return nil, nil }

func (s historySource) Attendance() (datasets.Reader[datasets.Attendance], error) {
	return &historyReader[datasets.Attendance]{hs: s.hs, rows: func(h *features.History) []datasets.Attendance { return h.Attendance }}, nil
}

func (s historySource) Transactions() (datasets.Reader[datasets.Transaction], error) {
	return &historyReader[datasets.Transaction]{hs: s.hs, rows: func(h *features.History) []datasets.Transaction { return h.Transactions }}, nil
}

// historyReader reads rows(h) of every history in turn.
type historyReader[T datasets.Record] struct {
	hs   []features.History
	rows func(*features.History) []T
	i, j int // next history, next row of it
}

func (r *historyReader[T]) Read(dst []T) (int, error) {
	n := 0
	for n < len(dst) && r.i < len(r.hs) {
		rows := r.rows(&r.hs[r.i])
		k := copy(dst[n:], rows[r.j:])
		n += k
		r.j += k
		if r.j >= len(rows) {
			r.i, r.j = r.i+1, 0
		}
	}
	if r.i >= len(r.hs) {
		return n, io.EOF
	}
	return n, nil
}

func (r *historyReader[T]) Close() error { return nil }
