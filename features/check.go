package features

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"retain/datasets"
)

// CheckedDirSource returns DirSource(d, ro) with every row checked by the
// rules of 'retain validate' (datasets.Checker, with the limits of co; nil
// for the defaults), but for those on columns the readers skip: the
// event_id (never read, so neither required nor checked for duplicates)
// and ro.SkipColumns. A row that fails is not returned: its reader returns
// a *datasets.RowError naming the file, row and column, which Build and
// ReadAsOf count as rejected and skip, or which fails them with Strict.
//
// Members and courses are checked by a Checker, events by its EventRules
// (datasets.Checker.EventRules), which keep nothing per event. Each read
// of the members starts a new Checker, so the source can be read again.
// The courses are checked before the first event table is opened, as the
// course_id check needs; a caller that does not read them (ReadAsOf) gets
// their bad rows from the attendance reader.
func CheckedDirSource(d *datasets.Dir, ro *datasets.ReadOptions, co *datasets.CheckOptions) Source {
	s := &checkedSource{dirSource: dirSource{d, ro}}
	if co != nil {
		s.co = *co
	}
	return s
}

type checkedSource struct {
	dirSource
	co datasets.CheckOptions

	mu           sync.Mutex
	chk          *datasets.Checker // of the current read; nil before Members
	coursesDone  bool              // the courses of the current read are checked
	courseErrors []error           // bad course rows checked for the events' sake
}

func (s *checkedSource) Members() (datasets.Reader[datasets.Member], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chk = datasets.NewChecker(&s.co)
	s.coursesDone, s.courseErrors = false, nil
	r, err := s.dirSource.Members()
	if err != nil || r == nil {
		return r, err
	}
	return &checkedReader[datasets.Member]{r: r, check: s.chk.Member}, nil
}

func (s *checkedSource) Courses() (datasets.Reader[datasets.Course], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chk == nil {
		return nil, errMembersFirst
	}
	r, err := s.dirSource.Courses()
	if err != nil || r == nil {
		s.coursesDone = err == nil
		return r, err
	}
	return &checkedReader[datasets.Course]{r: r, check: s.chk.Course, atEOF: func() {
		s.mu.Lock()
		s.coursesDone = true
		s.mu.Unlock()
	}}, nil
}

func (s *checkedSource) Attendance() (datasets.Reader[datasets.Attendance], error) {
	rules, pending, err := s.eventRules()
	if err != nil {
		return nil, err
	}
	r, err := s.dirSource.Attendance()
	if err != nil || r == nil {
		return r, err
	}
	return &checkedReader[datasets.Attendance]{r: r, check: rules.Attendance, pending: pending}, nil
}

func (s *checkedSource) Transactions() (datasets.Reader[datasets.Transaction], error) {
	rules, pending, err := s.eventRules()
	if err != nil {
		return nil, err
	}
	r, err := s.dirSource.Transactions()
	if err != nil || r == nil {
		return r, err
	}
	return &checkedReader[datasets.Transaction]{r: r, check: rules.Transaction, pending: pending}, nil
}

var errMembersFirst = errors.New("features: a checked source reads the members first")

// eventRules checks the courses if no caller has, and returns the event
// rules of the current read with the bad course rows not yet reported
// (handed to the first event table opened).
func (s *checkedSource) eventRules() (*datasets.EventRules, []error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chk == nil {
		return nil, nil, errMembersFirst
	}
	if !s.coursesDone {
		r, err := s.dirSource.Courses()
		if err != nil {
			return nil, nil, fmt.Errorf("features: courses: %w", err)
		}
		if r != nil {
			if err := s.checkCourses(r); err != nil {
				return nil, nil, fmt.Errorf("features: courses: %w", err)
			}
		}
		s.coursesDone = true
	}
	pending := s.courseErrors
	s.courseErrors = nil
	skipped := []string{"event_id"}
	if s.opts != nil {
		skipped = append(skipped, s.opts.SkipColumns...)
	}
	return s.chk.EventRules(skipped), pending, nil
}

// checkCourses reads r to the end, checking every row, and keeps the row
// errors in s.courseErrors.
func (s *checkedSource) checkCourses(r datasets.Reader[datasets.Course]) error {
	defer r.Close()
	cr := &checkedReader[datasets.Course]{r: r, check: s.chk.Course}
	buf := make([]datasets.Course, 1024)
	for {
		_, err := cr.Read(buf)
		if err == io.EOF {
			return r.Close()
		}
		var re *datasets.RowError
		if err != nil && !errors.As(err, &re) {
			return err
		}
		if err != nil {
			s.courseErrors = append(s.courseErrors, err)
		}
	}
}

// checkedReader returns the rows of r that pass check. The error of a row
// that fails, and a *datasets.RowError of r itself, are returned one per
// Read, after the rows that passed, before r is read again: a caller that
// skips row errors (Build, ReadAsOf) goes on reading.
type checkedReader[T datasets.Record] struct {
	r       datasets.Reader[T]
	check   func(file string, row int64, x *T) error
	pending []error // row errors not yet returned: pending[pi:]
	pi      int
	end     error  // r's last error (io.EOF or a fatal one), once seen
	atEOF   func() // called once at io.EOF, if set
}

func (c *checkedReader[T]) Read(dst []T) (int, error) {
	if err := c.next(); err != nil {
		return 0, err
	}
	if c.end != nil {
		return 0, c.end
	}
	n, err := c.r.Read(dst)
	file, row := datasets.Position(c.r)
	k := 0
	for i := range dst[:n] {
		if cerr := c.check(file, row+int64(i), &dst[i]); cerr != nil {
			c.pending = append(c.pending, cerr)
			continue
		}
		if k != i {
			dst[k] = dst[i]
		}
		k++
	}
	var re *datasets.RowError
	switch {
	case err == nil:
	case errors.As(err, &re):
		c.pending = append(c.pending, err)
	default:
		c.end = err
		if err == io.EOF && c.atEOF != nil {
			c.atEOF()
		}
	}
	if perr := c.next(); perr != nil {
		return k, perr
	}
	return k, c.end
}

// next pops the next pending row error, or returns nil.
func (c *checkedReader[T]) next() error {
	if c.pi == len(c.pending) {
		c.pending, c.pi = c.pending[:0], 0
		return nil
	}
	c.pi++
	return c.pending[c.pi-1]
}

func (c *checkedReader[T]) Close() error { return c.r.Close() }
