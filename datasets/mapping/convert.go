package mapping

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"retain/datasets"
)

// Sentinel errors of the importer, checked with errors.Is. Rows reported
// with ErrCancelled or ErrDuplicateRow are not bad rows: they are counted
// and listed but do not stop an import.
var (
	ErrMalformed    = errors.New("mapping: malformed row")
	ErrCancelled    = errors.New("mapping: cancelled row")
	ErrDuplicateRow = errors.New("mapping: duplicate row")
	ErrNoInput      = errors.New("mapping: no input for source")
)

// limits are the row checks the importer does itself, so that the column
// named in an error is the export's.
type limits struct {
	now       time.Time
	minTime   time.Time
	maxAmount int64
	maxDur    int
}

// A binding is a source bound to one input file: the mapping's column names
// resolved to positions.
type binding struct {
	src    *Source
	m      *Mapping
	path   string
	base   string // prefix of derived event ids
	in     input
	cols   []string
	idx    map[string]int
	lim    *limits
	layout map[int]string // typed time columns
}

// bind resolves every column the source's mapping names against the
// input's columns. A missing or ambiguous column, or (for Parquet) a column
// of the wrong type, is an error wrapping datasets.ErrSchema.
func bind(m *Mapping, s *Source, path, base string, in input, lim *limits) (*binding, error) {
	b := &binding{src: s, m: m, path: path, base: base, in: in, cols: in.columns(), idx: map[string]int{}, lim: lim, layout: map[int]string{}}
	count := map[string]int{}
	for i, c := range b.cols {
		count[c]++
		if _, ok := b.idx[c]; !ok {
			b.idx[c] = i
		}
	}
	uses := map[string]use{}
	unix := map[string]bool{}
	addField := func(f *Field, u use) {
		if f == nil || f.Const != nil {
			return
		}
		cols := f.Columns
		if f.Column != "" {
			cols = []string{f.Column}
		}
		for _, c := range cols {
			uses[c] |= u
			for _, l := range f.layouts {
				if l == layoutUnix || l == layoutUnixMs {
					unix[c] = true
				}
			}
		}
	}
	if mm := s.Members; mm != nil {
		addField(mm.MemberID, useText)
		addField(mm.JoinedAt, useTime)
		addField(mm.BirthYear, useNumber)
		addField(mm.Gender, useText)
		addField(mm.HomeClub, useText)
		addField(mm.ContractType, useText)
		addField(mm.ContractStart, useTime)
		addField(mm.ContractEnd, useTime)
		addField(mm.Channel, useText)
	}
	if c := s.Courses; c != nil {
		addField(c.CourseID, useText)
		addField(c.Name, useText)
		addField(c.Category, useText)
		addField(c.Coach, useText)
		addField(c.Club, useText)
		addField(c.Weekday, useNumber)
		addField(c.StartTime, useText)
		addField(c.Capacity, useNumber)
	}
	if a := s.Attendance; a != nil {
		addField(a.EventID, useText)
		addField(a.MemberID, useText)
		addField(a.TS, useTime)
		addField(a.CourseID, useText)
		addField(a.DurationMin, useNumber)
		addField(a.Source, useText)
	}
	if t := s.Transactions; t != nil {
		addField(t.EventID, useText)
		addField(t.MemberID, useText)
		addField(t.TS, useTime)
		addField(t.Kind, useText)
		for _, c := range t.amount.Columns() {
			uses[c] |= useNumber
		}
		if t.Quantity != "" {
			uses[t.Quantity] |= useNumber
		}
		if r := t.Refunds; r != nil && r.Column != "" {
			uses[r.Column] |= useText
		}
	}
	if c := s.Cancelled; c != nil {
		uses[c.Column] |= useText
	}
	names := make([]string, 0, len(uses))
	for c := range uses {
		names = append(names, c)
	}
	sort.Strings(names)
	pq, _ := in.(*parquetInput)
	for _, c := range names {
		i, ok := b.idx[c]
		if !ok {
			return nil, fmt.Errorf("mapping: %s: %w: no column %q (source %s; the file has %s)", path, datasets.ErrSchema, c, s.Name, quoteList(b.cols))
		}
		if count[c] > 1 {
			return nil, fmt.Errorf("mapping: %s: %w: column %q appears %d times", path, datasets.ErrSchema, c, count[c])
		}
		if pq != nil {
			if err := pq.checkUse(i, uses[c], unix[c]); err != nil {
				return nil, err
			}
		}
		if l := in.timeLayout(i); l != "" {
			b.layout[i] = l
		}
	}
	return b, nil
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// rowErr builds the RowError of record r.
func (b *binding) rowErr(r *record, col, val string, err error) *datasets.RowError {
	return &datasets.RowError{File: b.path, Row: r.row, Line: r.line, Column: col, Value: val, Raw: r.vals, Err: err}
}

// value returns the raw value of field f in r (a const, a column, or
// several columns joined by a space) and the source column it came from
// (the canonical name when f is a const).
func (b *binding) value(f *Field, r *record, canon string) (string, string) {
	if f.Const != nil {
		return *f.Const, canon
	}
	if f.Column != "" {
		return r.vals[b.idx[f.Column]], f.Column
	}
	parts := make([]string, len(f.Columns))
	for i, c := range f.Columns {
		parts[i] = r.vals[b.idx[c]]
	}
	return strings.Join(parts, " "), strings.Join(f.Columns, "+")
}

// text returns the canonical text of field f: the value, through the map
// when there is one. A missing required value is an ErrMissing error.
func (b *binding) text(f *Field, r *record, canon string, required bool) (string, *datasets.RowError) {
	if f == nil {
		if required {
			return "", b.rowErr(r, canon, "", fmt.Errorf("%w: %s", datasets.ErrMissing, canon))
		}
		return "", nil
	}
	v, col := b.value(f, r, canon)
	if f.Map != nil {
		if mv, ok := f.Map[v]; ok {
			v = mv
		} else if v != "" {
			if f.Default == nil {
				return "", b.rowErr(r, col, v, fmt.Errorf("%w %q for %s (mapped values: %s)", datasets.ErrUnknownValue, v, canon, quoteList(mapKeys(f.Map))))
			}
			v = *f.Default
		}
	}
	if v == "" && required {
		return "", b.rowErr(r, col, "", fmt.Errorf("%w: %s is blank", datasets.ErrMissing, canon))
	}
	return v, nil
}

func mapKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// integer returns field f as an int in [lo, hi]; blank is 0.
func (b *binding) integer(f *Field, r *record, canon string, lo, hi int64) (int, *datasets.RowError) {
	v, e := b.text(f, r, canon, false)
	if e != nil || v == "" {
		return 0, e
	}
	n, err := b.src.numbers.parseInt(v)
	if err != nil {
		_, col := b.value(f, r, canon)
		return 0, b.rowErr(r, col, v, err)
	}
	if n < lo || n > hi {
		_, col := b.value(f, r, canon)
		return 0, b.rowErr(r, col, v, fmt.Errorf("%w: %s %d out of range %d..%d", datasets.ErrBadNumber, canon, n, lo, hi))
	}
	return int(n), nil
}

// instant returns field f as a UTC instant. Instants (not dates) must lie
// between the minimum time and now.
func (b *binding) instant(f *Field, r *record, canon string, required, date bool) (time.Time, *datasets.RowError) {
	if f == nil {
		if required {
			return time.Time{}, b.rowErr(r, canon, "", fmt.Errorf("%w: %s", datasets.ErrMissing, canon))
		}
		return time.Time{}, nil
	}
	v, col := b.value(f, r, canon)
	if strings.TrimSpace(v) == "" {
		if required {
			return time.Time{}, b.rowErr(r, col, "", fmt.Errorf("%w: %s is blank", datasets.ErrMissing, canon))
		}
		return time.Time{}, nil
	}
	layouts, shown := f.layouts, f.shown
	if f.Column != "" {
		if l, ok := b.layout[b.idx[f.Column]]; ok {
			layouts, shown = []string{l}, "of the column's Parquet type"
		}
	}
	loc := b.src.loc
	t, err := parseTime(v, layouts, shown, loc)
	if err != nil {
		return time.Time{}, b.rowErr(r, col, v, err)
	}
	if date {
		t = localDate(t, loc)
		if t.Year() < 1900 || t.Year() > 2200 {
			return time.Time{}, b.rowErr(r, col, v, fmt.Errorf("%w: %s year %d out of range 1900..2200", datasets.ErrBadTimestamp, canon, t.Year()))
		}
		return t, nil
	}
	if t.Before(b.lim.minTime) {
		return time.Time{}, b.rowErr(r, col, v, fmt.Errorf("%w: %s %s is before %s", datasets.ErrBadTimestamp, canon, t.Format(time.RFC3339), b.lim.minTime.Format(time.RFC3339)))
	}
	if t.After(b.lim.now) {
		return time.Time{}, b.rowErr(r, col, v, fmt.Errorf("%w: %s %s is after %s", datasets.ErrFutureTime, canon, t.Format(time.RFC3339), b.lim.now.UTC().Format(time.RFC3339)))
	}
	return t, nil
}

// localDate returns midnight UTC of the calendar day of t in loc: the
// canonical form of a date.
func localDate(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	return time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, time.UTC)
}

// eventID returns the event id of field f, or the id derived from the file
// name and row ("sales.csv:17") when f is nil. When two inputs share a base
// name the path as given is used instead ("2024/sales.csv:17").
func (b *binding) eventID(f *Field, r *record) (string, *datasets.RowError) {
	if f == nil {
		return b.base + ":" + strconv.FormatInt(r.row, 10), nil
	}
	return b.text(f, r, "event_id", true)
}

// number returns the numeric value of column col.
func (b *binding) number(r *record, col string) (*big.Rat, *datasets.RowError) {
	v := r.vals[b.idx[col]]
	x, err := b.src.numbers.parseDecimal(v)
	if err != nil {
		if v == "" {
			err = fmt.Errorf("%w: %s is blank", datasets.ErrMissing, col)
		}
		return nil, b.rowErr(r, col, v, err)
	}
	return x, nil
}

// converted is what one source row becomes.
type converted struct {
	member *datasets.Member // a member row, or the derived member's attributes
	course *datasets.Course
	// derivedCourse is the course of the visit's course_id, with this
	// row's attributes, in a source with derived courses.
	derivedCourse *datasets.Course
	visit         *datasets.Attendance
	tx            *datasets.Transaction
}

// cancelled reports whether r is a cancellation row.
func (b *binding) cancelled(r *record) bool {
	c := b.src.Cancelled
	return c != nil && c.has(r.vals[b.idx[c.Column]])
}

// convert turns record r into canonical rows, or says why it cannot.
func (b *binding) convert(r *record) (*converted, *datasets.RowError) {
	s := b.src
	out := new(converted)
	refund := false
	if t := s.Transactions; t != nil {
		tx, isRefund, e := b.transaction(t, r)
		if e != nil {
			return nil, e
		}
		out.tx, refund = tx, isRefund
	}
	if a := s.Attendance; a != nil && !refund {
		v, e := b.attendance(a, r)
		if e != nil {
			return nil, e
		}
		out.visit = v
	}
	if mm := s.Members; mm != nil {
		m, e := b.member(mm, r)
		if e != nil {
			return nil, e
		}
		out.member = m
	}
	if c := s.Courses; c != nil && !s.derivedCourses {
		course, e := b.course(c, r)
		if e != nil {
			return nil, e
		}
		out.course = course
	}
	if c := s.Courses; c != nil && s.derivedCourses && out.visit != nil && out.visit.CourseID != "" {
		course, e := b.derivedCourse(c, r, out.visit.CourseID)
		if e != nil {
			return nil, e
		}
		out.derivedCourse = course
	}
	return out, nil
}

func (b *binding) attendance(a *AttendanceMap, r *record) (*datasets.Attendance, *datasets.RowError) {
	var v datasets.Attendance
	var e *datasets.RowError
	if v.EventID, e = b.eventID(a.EventID, r); e != nil {
		return nil, e
	}
	if v.MemberID, e = b.text(a.MemberID, r, "member_id", true); e != nil {
		return nil, e
	}
	if v.TS, e = b.instant(a.TS, r, "ts", true, false); e != nil {
		return nil, e
	}
	if v.CourseID, e = b.text(a.CourseID, r, "course_id", false); e != nil {
		return nil, e
	}
	if v.DurationMin, e = b.integer(a.DurationMin, r, "duration_min", 0, int64(b.lim.maxDur)); e != nil {
		return nil, e
	}
	v.Source = datasets.SourcePOS
	if a.Source != nil {
		src, e := b.text(a.Source, r, "source", true)
		if e != nil {
			return nil, e
		}
		if v.Source, e = parseEnum(b, a.Source, r, "source", src, datasets.ParseSource); e != nil {
			return nil, e
		}
	}
	return &v, nil
}

// transaction converts the transaction of r and says whether it is a
// refund.
func (b *binding) transaction(t *TransactionsMap, r *record) (*datasets.Transaction, bool, *datasets.RowError) {
	var x datasets.Transaction
	var e *datasets.RowError
	if x.EventID, e = b.eventID(t.EventID, r); e != nil {
		return nil, false, e
	}
	if x.MemberID, e = b.text(t.MemberID, r, "member_id", true); e != nil {
		return nil, false, e
	}
	if x.TS, e = b.instant(t.TS, r, "ts", true, false); e != nil {
		return nil, false, e
	}
	refund := false
	if t.Quantity != "" {
		q, e := b.number(r, t.Quantity)
		if e != nil {
			return nil, false, e
		}
		if q.Sign() < 0 {
			if t.Refunds == nil || !t.Refunds.NegativeQuantity {
				return nil, false, b.rowErr(r, t.Quantity, r.vals[b.idx[t.Quantity]], fmt.Errorf("%w: negative quantity (set refunds.negative_quantity if it means a refund)", datasets.ErrBadNumber))
			}
			refund = true
		}
	}
	if rf := t.Refunds; rf != nil && rf.Column != "" {
		for _, v := range rf.Values {
			if r.vals[b.idx[rf.Column]] == v {
				refund = true
			}
		}
	}
	if refund {
		x.Kind = datasets.TxRefund
	} else {
		k, e := b.text(t.Kind, r, "kind", true)
		if e != nil {
			return nil, false, e
		}
		if x.Kind, e = parseEnum(b, t.Kind, r, "kind", k, datasets.ParseTxKind); e != nil {
			return nil, false, e
		}
	}
	// The amount.
	var bad *datasets.RowError
	amount, err := t.amount.Eval(func(col string) (*big.Rat, error) {
		v, e := b.number(r, col)
		if e != nil {
			bad = e
			return nil, e
		}
		return v, nil
	})
	amountCol := "amount"
	if cols := t.amount.Columns(); len(cols) == 1 {
		amountCol = cols[0]
	}
	if bad != nil {
		return nil, false, bad
	}
	if err != nil {
		return nil, false, b.rowErr(r, amountCol, t.Amount, err)
	}
	minor, err := ToMinor(amount, b.m.minor)
	if err != nil {
		return nil, false, b.rowErr(r, amountCol, amount.FloatString(b.m.minor), err)
	}
	if minor < -b.lim.maxAmount || minor > b.lim.maxAmount {
		return nil, false, b.rowErr(r, amountCol, amount.FloatString(b.m.minor),
			fmt.Errorf("%w: %s %s exceeds %s", datasets.ErrAbsurdAmount, amount.FloatString(b.m.minor), b.m.Currency, formatMinor(b.lim.maxAmount, b.m.minor)))
	}
	if x.Kind == datasets.TxRefund {
		if minor > 0 {
			minor = -minor
		}
	} else if minor < 0 {
		return nil, false, b.rowErr(r, amountCol, amount.FloatString(b.m.minor),
			fmt.Errorf("%w: negative amount %s for kind %s (only refunds are negative)", datasets.ErrBadNumber, amount.FloatString(b.m.minor), x.Kind))
	}
	x.Amount = minor
	return &x, x.Kind == datasets.TxRefund, nil
}

func formatMinor(v int64, minor int) string {
	return new(big.Rat).SetFrac(big.NewInt(v), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(minor)), nil)).FloatString(minor)
}

func (b *binding) member(mm *MembersMap, r *record) (*datasets.Member, *datasets.RowError) {
	var m datasets.Member
	var e *datasets.RowError
	if !b.src.derived {
		if m.MemberID, e = b.text(mm.MemberID, r, "member_id", true); e != nil {
			return nil, e
		}
	}
	if m.JoinedAt, e = b.instant(mm.JoinedAt, r, "joined_at", !b.src.derived, false); e != nil {
		return nil, e
	}
	if m.BirthYear, e = b.integer(mm.BirthYear, r, "birth_year", 1900, int64(b.lim.now.Year())); e != nil {
		return nil, e
	}
	if m.Gender, e = b.text(mm.Gender, r, "gender", false); e != nil {
		return nil, e
	}
	if err := checkGender(m.Gender); err != nil {
		_, col := b.value(mm.Gender, r, "gender")
		return nil, b.rowErr(r, col, m.Gender, err)
	}
	if m.HomeClub, e = b.text(mm.HomeClub, r, "home_club", false); e != nil {
		return nil, e
	}
	ct, e := b.text(mm.ContractType, r, "contract_type", true)
	if e != nil {
		return nil, e
	}
	if m.ContractType, e = parseEnum(b, mm.ContractType, r, "contract_type", ct, datasets.ParseContractType); e != nil {
		return nil, e
	}
	if m.ContractStart, e = b.instant(mm.ContractStart, r, "contract_start", false, true); e != nil {
		return nil, e
	}
	if m.ContractEnd, e = b.instant(mm.ContractEnd, r, "contract_end", false, true); e != nil {
		return nil, e
	}
	if m.Channel, e = b.text(mm.Channel, r, "channel", false); e != nil {
		return nil, e
	}
	if m.ContractStart.IsZero() && !m.JoinedAt.IsZero() {
		m.ContractStart = localDate(m.JoinedAt, b.src.loc)
	}
	return &m, nil
}

func parseEnum[E any](b *binding, f *Field, r *record, canon, v string, parse func(string) (E, error)) (E, *datasets.RowError) {
	x, err := parse(v)
	if err != nil {
		_, col := b.value(f, r, canon)
		return x, b.rowErr(r, col, v, err)
	}
	return x, nil
}

// derivedCourse converts the course fields of row r for the course id,
// taken from the row's visit; the name defaults to the id.
func (b *binding) derivedCourse(c *CoursesMap, r *record, id string) (*datasets.Course, *datasets.RowError) {
	return b.courseFields(c, r, datasets.Course{CourseID: id, Name: id})
}

func (b *binding) course(c *CoursesMap, r *record) (*datasets.Course, *datasets.RowError) {
	var x datasets.Course
	var e *datasets.RowError
	if x.CourseID, e = b.text(c.CourseID, r, "course_id", true); e != nil {
		return nil, e
	}
	return b.courseFields(c, r, x) // name is required in a course list
}

// courseFields converts the fields of a course after its id; the name when
// mapped.
func (b *binding) courseFields(c *CoursesMap, r *record, x datasets.Course) (*datasets.Course, *datasets.RowError) {
	var e *datasets.RowError
	if c.Name != nil {
		if x.Name, e = b.text(c.Name, r, "name", true); e != nil {
			return nil, e
		}
	}
	if x.Category, e = b.text(c.Category, r, "category", false); e != nil {
		return nil, e
	}
	if x.Coach, e = b.text(c.Coach, r, "coach", false); e != nil {
		return nil, e
	}
	if x.Club, e = b.text(c.Club, r, "club", false); e != nil {
		return nil, e
	}
	if x.Weekday, e = b.integer(c.Weekday, r, "weekday", 0, 7); e != nil {
		return nil, e
	}
	if x.StartTime, e = b.text(c.StartTime, r, "start_time", false); e != nil {
		return nil, e
	}
	if err := checkClock(x.StartTime); err != nil {
		_, col := b.value(c.StartTime, r, "start_time")
		return nil, b.rowErr(r, col, x.StartTime, err)
	}
	if x.Capacity, e = b.integer(c.Capacity, r, "capacity", 0, 1<<20); e != nil {
		return nil, e
	}
	return &x, nil
}

// sourceColumn renames the canonical column of a row error reported by the
// canonical checks of table t to the export's column it was mapped from, so
// that the error points into the export. Columns mapped from constants or
// derived keep their canonical name.
func (b *binding) sourceColumn(re *datasets.RowError, t datasets.Table) {
	var fields map[string]*Field
	s := b.src
	switch t {
	case datasets.TableMembers:
		if mm := s.Members; mm != nil {
			fields = map[string]*Field{"member_id": mm.MemberID, "joined_at": mm.JoinedAt, "birth_year": mm.BirthYear,
				"gender": mm.Gender, "home_club": mm.HomeClub, "contract_type": mm.ContractType,
				"contract_start": mm.ContractStart, "contract_end": mm.ContractEnd, "channel": mm.Channel}
		}
	case datasets.TableCourses:
		if c := s.Courses; c != nil {
			fields = map[string]*Field{"course_id": c.CourseID, "name": c.Name, "category": c.Category, "coach": c.Coach,
				"club": c.Club, "weekday": c.Weekday, "start_time": c.StartTime, "capacity": c.Capacity}
		}
	case datasets.TableAttendance:
		if a := s.Attendance; a != nil {
			fields = map[string]*Field{"event_id": a.EventID, "member_id": a.MemberID, "ts": a.TS, "course_id": a.CourseID,
				"duration_min": a.DurationMin, "source": a.Source}
		}
	case datasets.TableTransactions:
		if x := s.Transactions; x != nil {
			fields = map[string]*Field{"event_id": x.EventID, "member_id": x.MemberID, "ts": x.TS, "kind": x.Kind}
			if cols := x.amount.Columns(); len(cols) == 1 && re.Column == "amount" {
				re.Column = cols[0]
				return
			}
		}
	}
	f := fields[re.Column]
	if f == nil || f.Const != nil {
		return
	}
	if f.Column != "" {
		re.Column = f.Column
	} else if len(f.Columns) > 0 {
		re.Column = strings.Join(f.Columns, "+")
	}
}

// checked prepares an error of the canonical checks for reporting: a
// *datasets.RowError gets the export's column name.
func (b *binding) checked(err error, t datasets.Table) error {
	var re *datasets.RowError
	if errors.As(err, &re) {
		b.sourceColumn(re, t)
	}
	return err
}
