package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones even where the system has no zoneinfo

	"go.yaml.in/yaml/v3"

	"retain/datasets"
	"retain/datasets/yamlconf"
)

// maxMinorUnits is the largest accepted minor_units.
const maxMinorUnits = 9

// maxMappingBytes bounds the size of a mapping file.
const maxMappingBytes = 1 << 20

// Input formats.
const (
	FormatCSV        = "csv"
	FormatTSV        = "tsv"
	FormatWhitespace = "whitespace"
	FormatParquet    = "parquet"
)

// Duplicate row policies.
const (
	DuplicatesDrop = "drop"
	DuplicatesKeep = "keep"
)

// A Mapping describes how the files of an export become a canonical dataset.
// It is read from YAML; docs/import.md documents every key.
type Mapping struct {
	Version     int      `yaml:"version"`     // 1; 0 means 1
	Name        string   `yaml:"name"`        // default: the file name without extension
	Description string   `yaml:"description"` // free text
	Currency    string   `yaml:"currency"`    // ISO 4217 code, required
	MinorUnits  *int     `yaml:"minor_units"` // default 2
	Timezone    string   `yaml:"timezone"`    // IANA zone of local times; default UTC
	Sources     []Source `yaml:"sources"`     // at least one

	file  string
	root  *yaml.Node
	minor int
	loc   *time.Location
}

// A Source is one kind of input file (a sales export, a member list) and the
// canonical tables each of its rows produces.
type Source struct {
	Name       string    `yaml:"name"`       // label in messages; default "sources[i]"
	Match      string    `yaml:"match"`      // glob on the input's base name; default "*"
	Format     string    `yaml:"format"`     // csv, tsv, whitespace or parquet; required
	Delimiter  string    `yaml:"delimiter"`  // csv only; one character; default ","
	Header     *bool     `yaml:"header"`     // first line names the columns; default true
	Columns    []string  `yaml:"columns"`    // column names by position (replace the header)
	SkipLines  int       `yaml:"skip_lines"` // lines before the header or first row
	Encoding   string    `yaml:"encoding"`   // utf-8 (default; BOM tolerated) or latin1
	Decimal    string    `yaml:"decimal"`    // decimal separator "." (default) or ","
	Thousands  string    `yaml:"thousands"`  // thousands separator; default none
	Strip      []string  `yaml:"strip"`      // strings removed from numbers, e.g. "€"
	Timezone   string    `yaml:"timezone"`   // overrides Mapping.Timezone
	Cancelled  *ValueSet `yaml:"cancelled"`  // rows counted as cancelled and excluded
	Duplicates string    `yaml:"duplicates"` // drop (default) or keep identical rows

	Members      *MembersMap      `yaml:"members"`
	Courses      *CoursesMap      `yaml:"courses"`
	Attendance   *AttendanceMap   `yaml:"attendance"`
	Transactions *TransactionsMap `yaml:"transactions"`

	index   int
	loc     *time.Location
	numbers numberFormat
	derived bool // Members aggregates the members of the events
	// derivedCourses: Courses aggregates the course ids of the attendance
	// (one course per distinct non-empty course_id).
	derivedCourses bool
}

// A ValueSet recognises rows by the value of one column.
type ValueSet struct {
	Column string   `yaml:"column"`
	Values []string `yaml:"values"`
}

func (v *ValueSet) has(s string) bool {
	for _, x := range v.Values {
		if x == s {
			return true
		}
	}
	return false
}

// MembersMap maps the members table. In a source that also maps attendance
// or transactions, members are derived from the events: one member per
// member_id of the events, MemberID and JoinedAt are not mapped (JoinedAt
// may be, and then the member's first row gives it) and the other fields are
// taken from the member's first row.
type MembersMap struct {
	MemberID      *Field `yaml:"member_id"`
	JoinedAt      *Field `yaml:"joined_at"`
	BirthYear     *Field `yaml:"birth_year"`
	Gender        *Field `yaml:"gender"`
	HomeClub      *Field `yaml:"home_club"`
	ContractType  *Field `yaml:"contract_type"`
	ContractStart *Field `yaml:"contract_start"` // default: the date of joined_at
	ContractEnd   *Field `yaml:"contract_end"`
	Channel       *Field `yaml:"channel"`
}

// CoursesMap maps the courses table. In a source that also maps attendance
// with a course_id, courses are derived from the visits: one course per
// distinct non-empty course_id, CourseID is not mapped, Name defaults to the
// course id, and the fields are taken from the course's first row.
type CoursesMap struct {
	CourseID  *Field `yaml:"course_id"`
	Name      *Field `yaml:"name"`
	Category  *Field `yaml:"category"`
	Coach     *Field `yaml:"coach"`
	Club      *Field `yaml:"club"`
	Weekday   *Field `yaml:"weekday"`
	StartTime *Field `yaml:"start_time"`
	Capacity  *Field `yaml:"capacity"`
}

// AttendanceMap maps the attendance table.
type AttendanceMap struct {
	EventID     *Field `yaml:"event_id"` // default: derived from file name and row
	MemberID    *Field `yaml:"member_id"`
	TS          *Field `yaml:"ts"`
	CourseID    *Field `yaml:"course_id"`    // default: empty (open gym)
	DurationMin *Field `yaml:"duration_min"` // default 0
	Source      *Field `yaml:"source"`       // default pos
}

// TransactionsMap maps the transactions table.
type TransactionsMap struct {
	EventID  *Field   `yaml:"event_id"` // default: derived from file name and row
	MemberID *Field   `yaml:"member_id"`
	TS       *Field   `yaml:"ts"`
	Amount   string   `yaml:"amount"`   // formula in major units, e.g. qty * price
	Kind     *Field   `yaml:"kind"`     // transaction kind
	Quantity string   `yaml:"quantity"` // column that must not be negative
	Refunds  *Refunds `yaml:"refunds"`

	amount *Expr
}

// Refunds says which rows are refunds. A refund row gets kind refund and a
// negative amount (minus the absolute value of the formula) and produces no
// visit.
type Refunds struct {
	NegativeQuantity bool     `yaml:"negative_quantity"` // quantity < 0 means refund
	Column           string   `yaml:"column"`
	Values           []string `yaml:"values"`
}

// A Field says where a canonical field's value comes from: exactly one of
// Column, Columns (timestamps only; joined with a space) or Const. Map
// translates source values to canonical ones; a non-blank value missing from
// Map becomes Default, or is rejected with ErrUnknownValue when Default is
// not set. Layouts lists the timestamp layouts tried in order.
//
// In YAML a plain string is short for {column: string}.
type Field struct {
	Column  string            `yaml:"column"`
	Columns []string          `yaml:"columns"`
	Const   *string           `yaml:"const"`
	Map     map[string]string `yaml:"map"`
	Default *string           `yaml:"default"`
	Layouts []string          `yaml:"layouts"`

	layouts []string // resolved Go layouts, or layoutUnix*
	shown   string   // the layouts as written, for messages
}

var fieldKeys = map[string]bool{"column": true, "columns": true, "const": true, "map": true, "default": true, "layouts": true}

// UnmarshalYAML accepts a column name or a mapping with the keys of Field,
// rejecting unknown keys.
func (f *Field) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return fmt.Errorf("line %d: empty field (want a column name or a mapping)", n.Line)
		}
		f.Column = n.Value
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; !fieldKeys[k] {
				return fmt.Errorf("line %d: unknown key %q in field (want column, columns, const, map, default or layouts)", n.Content[i].Line, k)
			}
		}
		type plain Field
		return n.Decode((*plain)(f))
	}
	return fmt.Errorf("line %d: field must be a column name or a mapping", n.Line)
}

// MappingError reports a problem in a mapping file: the file, the line and
// the key.
type MappingError struct {
	File string
	Line int    // 0 when unknown
	Key  string // e.g. sources[0].transactions.kind.map
	Err  error
}

func (e *MappingError) Error() string {
	return "mapping: " + yamlconf.Where(e.File, e.Line, e.Key) + ": " + e.Err.Error()
}

func (e *MappingError) Unwrap() error { return e.Err }

// Load reads and checks the mapping file at path.
func Load(path string) (*Mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	defer f.Close()
	data, err := readLimited(f, maxMappingBytes)
	if err != nil {
		return nil, fmt.Errorf("mapping: read %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse parses and checks a mapping; name is the file name used in errors
// and, when the mapping has no name key, as its name.
func Parse(data []byte, name string) (m *Mapping, err error) {
	defer func() {
		// The YAML decoder is well tested, but a mapping file is user input:
		// never crash on one.
		if r := recover(); r != nil {
			m, err = nil, &MappingError{File: name, Err: fmt.Errorf("malformed YAML: %v", r)}
		}
	}()
	if len(data) > maxMappingBytes {
		return nil, &MappingError{File: name, Err: fmt.Errorf("larger than %d bytes", maxMappingBytes)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &MappingError{File: name, Line: yamlconf.ErrLine(err), Err: err}
	}
	if len(root.Content) == 0 {
		return nil, &MappingError{File: name, Err: errors.New("empty mapping")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	m = new(Mapping)
	if err := dec.Decode(m); err != nil {
		return nil, &MappingError{File: name, Line: yamlconf.ErrLine(err), Err: err}
	}
	m.file = name
	m.root = &root
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// readLimited reads r to the end, failing when it holds more than n bytes.
func readLimited(r io.Reader, n int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > n {
		return nil, fmt.Errorf("larger than %d bytes", n)
	}
	return data, nil
}

func (m *Mapping) errAt(p []any, format string, args ...any) error {
	return &MappingError{File: m.file, Line: yamlconf.Line(m.root, p), Key: yamlconf.Path(p), Err: fmt.Errorf(format, args...)}
}

// Kinds of canonical field, for checking a mapping.
type fieldKind uint8

const (
	kindText fieldKind = iota
	kindID
	kindInt
	kindInstant
	kindDate
	kindContract
	kindSource
	kindTxKind
	kindGender
	kindClock // "HH:MM"
)

func (m *Mapping) check() error {
	if m.Version != 0 && m.Version != 1 {
		return m.errAt([]any{"version"}, "unsupported version %d (want 1)", m.Version)
	}
	if m.Name == "" {
		base := filepath.Base(m.file)
		m.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if len(m.Currency) != 3 || strings.ToUpper(m.Currency) != m.Currency || strings.ContainsFunc(m.Currency, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return m.errAt([]any{"currency"}, "want a three-letter ISO 4217 code such as EUR or USD, got %q", m.Currency)
	}
	m.minor = 2
	if m.MinorUnits != nil {
		m.minor = *m.MinorUnits
		if m.minor < 0 || m.minor > maxMinorUnits {
			return m.errAt([]any{"minor_units"}, "%d out of range 0..%d", m.minor, maxMinorUnits)
		}
	}
	loc, err := loadZone(m.Timezone)
	if err != nil {
		return m.errAt([]any{"timezone"}, "%v", err)
	}
	m.loc = loc
	if len(m.Sources) == 0 {
		return m.errAt([]any{"sources"}, "no sources")
	}
	explicit, derived := -1, -1
	for i := range m.Sources {
		s := &m.Sources[i]
		s.index = i
		if err := m.checkSource(s, []any{"sources", i}); err != nil {
			return err
		}
		if s.Members != nil {
			if s.derived {
				derived = i
			} else {
				explicit = i
			}
		}
	}
	if explicit >= 0 && derived >= 0 {
		return m.errAt([]any{"sources", derived, "members"}, "members are both read from sources[%d] and derived from events here; choose one", explicit)
	}
	if explicit < 0 && derived < 0 {
		return m.errAt([]any{"sources"}, "no members mapping: map a member table, or add a members section to the source with the events to derive members from them")
	}
	return nil
}

func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, errors.New("\"Local\" depends on the machine: name an IANA zone such as Europe/Berlin")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as America/New_York)", name)
	}
	return loc, nil
}

func (m *Mapping) checkSource(s *Source, p []any) error {
	if s.Name == "" {
		s.Name = yamlconf.Path(p)
	}
	if s.Match == "" {
		s.Match = "*"
	}
	if _, err := path.Match(s.Match, ""); err != nil {
		return m.errAt(yamlconf.With(p, "match"), "bad glob %q: %v", s.Match, err)
	}
	switch s.Format {
	case FormatCSV, FormatTSV, FormatWhitespace:
	case FormatParquet:
		switch {
		case s.Delimiter != "":
			return m.errAt(yamlconf.With(p, "delimiter"), "not used with format parquet")
		case s.Header != nil:
			return m.errAt(yamlconf.With(p, "header"), "not used with format parquet")
		case len(s.Columns) > 0:
			return m.errAt(yamlconf.With(p, "columns"), "not used with format parquet")
		case s.SkipLines != 0:
			return m.errAt(yamlconf.With(p, "skip_lines"), "not used with format parquet")
		case s.Encoding != "":
			return m.errAt(yamlconf.With(p, "encoding"), "not used with format parquet")
		}
	case "":
		return m.errAt(yamlconf.With(p, "format"), "missing (want csv, tsv, whitespace or parquet)")
	default:
		return m.errAt(yamlconf.With(p, "format"), "unknown format %q (want csv, tsv, whitespace or parquet)", s.Format)
	}
	if s.Delimiter != "" {
		if s.Format != FormatCSV {
			return m.errAt(yamlconf.With(p, "delimiter"), "only used with format csv")
		}
		if r := []rune(s.Delimiter); len(r) != 1 || r[0] == '"' || r[0] == '\r' || r[0] == '\n' || r[0] == 0xFFFD {
			return m.errAt(yamlconf.With(p, "delimiter"), "want one character other than a quote or a line break, got %q", s.Delimiter)
		}
	}
	if s.SkipLines < 0 {
		return m.errAt(yamlconf.With(p, "skip_lines"), "negative")
	}
	if s.Header != nil && !*s.Header && len(s.Columns) == 0 {
		return m.errAt(yamlconf.With(p, "columns"), "header: false needs the column names in columns")
	}
	seen := map[string]bool{}
	for i, c := range s.Columns {
		c = strings.TrimSpace(c)
		if c == "" {
			return m.errAt(yamlconf.With(p, "columns", i), "empty column name")
		}
		if seen[c] {
			return m.errAt(yamlconf.With(p, "columns", i), "column %q named twice", c)
		}
		seen[c] = true
		s.Columns[i] = c
	}
	switch s.Encoding {
	case "", "utf-8", "UTF-8", "utf8":
		s.Encoding = "utf-8"
	case "latin1", "latin-1", "iso-8859-1", "ISO-8859-1":
		s.Encoding = "latin1"
	default:
		if s.Format != FormatParquet {
			return m.errAt(yamlconf.With(p, "encoding"), "unknown encoding %q (want utf-8 or latin1)", s.Encoding)
		}
	}
	switch s.Decimal {
	case "", ".":
		s.numbers.decimal = '.'
	case ",":
		s.numbers.decimal = ','
	default:
		return m.errAt(yamlconf.With(p, "decimal"), "want \".\" or \",\", got %q", s.Decimal)
	}
	switch s.Thousands {
	case "":
	case ".", ",", " ", "'", "_":
		if s.Thousands[0] == s.numbers.decimal {
			return m.errAt(yamlconf.With(p, "thousands"), "same as the decimal separator")
		}
		s.numbers.thousands = s.Thousands[0]
	default:
		return m.errAt(yamlconf.With(p, "thousands"), "want one of . , ' _ or a space, got %q", s.Thousands)
	}
	for i, x := range s.Strip {
		if x == "" || strings.ContainsAny(x, "0123456789+-") || strings.Contains(x, s.Decimal) && s.Decimal != "" {
			return m.errAt(yamlconf.With(p, "strip", i), "cannot strip %q from numbers", x)
		}
	}
	s.numbers.strip = s.Strip
	s.loc = m.loc
	if s.Timezone != "" {
		loc, err := loadZone(s.Timezone)
		if err != nil {
			return m.errAt(yamlconf.With(p, "timezone"), "%v", err)
		}
		s.loc = loc
	}
	if c := s.Cancelled; c != nil {
		if c.Column == "" {
			return m.errAt(yamlconf.With(p, "cancelled", "column"), "missing")
		}
		if len(c.Values) == 0 {
			return m.errAt(yamlconf.With(p, "cancelled", "values"), "missing")
		}
	}
	switch s.Duplicates {
	case "":
		s.Duplicates = DuplicatesDrop
	case DuplicatesDrop, DuplicatesKeep:
	default:
		return m.errAt(yamlconf.With(p, "duplicates"), "want drop or keep, got %q", s.Duplicates)
	}
	if s.Members == nil && s.Courses == nil && s.Attendance == nil && s.Transactions == nil {
		return m.errAt(p, "maps no table (want members, courses, attendance or transactions)")
	}
	events := s.Attendance != nil || s.Transactions != nil
	if s.Courses != nil && events {
		if s.Attendance == nil || s.Attendance.CourseID == nil {
			return m.errAt(yamlconf.With(p, "courses"), "courses are derived from the visits' course_id: map attendance.course_id in this source (or make the course list a source of its own)")
		}
		if s.Courses.CourseID != nil {
			return m.errAt(yamlconf.With(p, "courses", "course_id"), "derived courses take their id from attendance.course_id; do not map it here")
		}
		s.derivedCourses = true
	} else if s.Courses != nil && s.Members != nil {
		return m.errAt(yamlconf.With(p, "courses"), "a course list must be a source of its own")
	}
	if s.Members != nil {
		s.derived = events
		if err := m.checkMembers(s, yamlconf.With(p, "members")); err != nil {
			return err
		}
	}
	if c := s.Courses; c != nil {
		q := yamlconf.With(p, "courses")
		for _, f := range []struct {
			name     string
			f        *Field
			kind     fieldKind
			required bool
		}{
			{"course_id", c.CourseID, kindID, !s.derivedCourses},
			{"name", c.Name, kindText, !s.derivedCourses},
			{"category", c.Category, kindText, true},
			{"coach", c.Coach, kindText, false},
			{"club", c.Club, kindText, false},
			{"weekday", c.Weekday, kindInt, false},
			{"start_time", c.StartTime, kindClock, false},
			{"capacity", c.Capacity, kindInt, false},
		} {
			if err := m.checkField(f.f, f.kind, f.required, yamlconf.With(q, f.name)); err != nil {
				return err
			}
		}
	}
	if a := s.Attendance; a != nil {
		q := yamlconf.With(p, "attendance")
		for _, f := range []struct {
			name     string
			f        *Field
			kind     fieldKind
			required bool
		}{
			{"event_id", a.EventID, kindID, false},
			{"member_id", a.MemberID, kindID, true},
			{"ts", a.TS, kindInstant, true},
			{"course_id", a.CourseID, kindText, false},
			{"duration_min", a.DurationMin, kindInt, false},
			{"source", a.Source, kindSource, false},
		} {
			if err := m.checkField(f.f, f.kind, f.required, yamlconf.With(q, f.name)); err != nil {
				return err
			}
		}
	}
	if t := s.Transactions; t != nil {
		q := yamlconf.With(p, "transactions")
		for _, f := range []struct {
			name     string
			f        *Field
			kind     fieldKind
			required bool
		}{
			{"event_id", t.EventID, kindID, false},
			{"member_id", t.MemberID, kindID, true},
			{"ts", t.TS, kindInstant, true},
			{"kind", t.Kind, kindTxKind, true},
		} {
			if err := m.checkField(f.f, f.kind, f.required, yamlconf.With(q, f.name)); err != nil {
				return err
			}
		}
		if strings.TrimSpace(t.Amount) == "" {
			return m.errAt(yamlconf.With(q, "amount"), "missing (want a formula such as dollar_value or quantity * unit_price)")
		}
		e, err := ParseExpr(t.Amount)
		if err != nil {
			return m.errAt(yamlconf.With(q, "amount"), "%v", err)
		}
		t.amount = e
		if err := m.checkColumns(s, yamlconf.With(q, "amount"), e.Columns()...); err != nil {
			return err
		}
		if t.Quantity != "" {
			if err := m.checkColumns(s, yamlconf.With(q, "quantity"), t.Quantity); err != nil {
				return err
			}
		}
		if r := t.Refunds; r != nil {
			if r.NegativeQuantity && t.Quantity == "" {
				return m.errAt(yamlconf.With(q, "refunds", "negative_quantity"), "needs transactions.quantity")
			}
			if (r.Column == "") != (len(r.Values) == 0) {
				return m.errAt(yamlconf.With(q, "refunds"), "column and values go together")
			}
			if !r.NegativeQuantity && r.Column == "" {
				return m.errAt(yamlconf.With(q, "refunds"), "says nothing (want negative_quantity: true, or column and values)")
			}
			if r.Column != "" {
				if err := m.checkColumns(s, yamlconf.With(q, "refunds", "column"), r.Column); err != nil {
					return err
				}
			}
		}
	}
	if s.Cancelled != nil {
		if err := m.checkColumns(s, yamlconf.With(p, "cancelled", "column"), s.Cancelled.Column); err != nil {
			return err
		}
	}
	return nil
}

func (m *Mapping) checkMembers(s *Source, q []any) error {
	mm := s.Members
	if s.derived {
		if mm.MemberID != nil {
			return m.errAt(yamlconf.With(q, "member_id"), "members derived from events take the events' member_id; remove this key")
		}
	}
	for _, f := range []struct {
		name     string
		f        *Field
		kind     fieldKind
		required bool
	}{
		{"member_id", mm.MemberID, kindID, !s.derived},
		{"joined_at", mm.JoinedAt, kindInstant, !s.derived},
		{"birth_year", mm.BirthYear, kindInt, false},
		{"gender", mm.Gender, kindGender, false},
		{"home_club", mm.HomeClub, kindText, true},
		{"contract_type", mm.ContractType, kindContract, true},
		{"contract_start", mm.ContractStart, kindDate, false},
		{"contract_end", mm.ContractEnd, kindDate, false},
		{"channel", mm.Channel, kindText, false},
	} {
		if err := m.checkField(f.f, f.kind, f.required, yamlconf.With(q, f.name)); err != nil {
			return err
		}
	}
	return nil
}

// checkColumns checks column names against the source's declared columns,
// when it declares them.
func (m *Mapping) checkColumns(s *Source, p []any, cols ...string) error {
	if len(s.Columns) == 0 {
		return nil
	}
	for _, c := range cols {
		found := false
		for _, d := range s.Columns {
			if d == c {
				found = true
				break
			}
		}
		if !found {
			return m.errAt(p, "column %q is not among the source's columns %v", c, s.Columns)
		}
	}
	return nil
}

func (m *Mapping) checkField(f *Field, kind fieldKind, required bool, p []any) error {
	if f == nil {
		if required {
			return m.errAt(p, "missing")
		}
		return nil
	}
	s := m.sourceOf(p)
	n := 0
	if f.Column != "" {
		n++
	}
	if len(f.Columns) > 0 {
		n++
	}
	if f.Const != nil {
		n++
	}
	if n != 1 {
		return m.errAt(p, "want exactly one of column, columns or const")
	}
	timeKind := kind == kindInstant || kind == kindDate
	if len(f.Columns) > 0 && !timeKind {
		return m.errAt(yamlconf.With(p, "columns"), "only timestamps may join several columns")
	}
	if len(f.Layouts) > 0 && !timeKind {
		return m.errAt(yamlconf.With(p, "layouts"), "only timestamps have layouts")
	}
	if timeKind && (f.Map != nil || f.Default != nil) {
		return m.errAt(p, "timestamps take no map or default")
	}
	if f.Const != nil && (f.Map != nil || f.Default != nil) {
		return m.errAt(p, "a const takes no map or default")
	}
	if f.Default != nil && f.Map == nil {
		return m.errAt(yamlconf.With(p, "default"), "default needs a map")
	}
	cols := f.Columns
	if f.Column != "" {
		cols = []string{f.Column}
	}
	if err := m.checkColumns(s, p, cols...); err != nil {
		return err
	}
	if timeKind {
		layouts, err := resolveLayouts(f.Layouts)
		if err != nil {
			return m.errAt(yamlconf.With(p, "layouts"), "%v", err)
		}
		f.layouts = layouts
		f.shown = strings.Join(f.Layouts, " | ")
		if len(f.Layouts) == 0 {
			f.shown = strings.Join(DefaultLayouts, " | ")
		}
		if f.Const != nil {
			if _, err := parseTime(*f.Const, f.layouts, f.shown, time.UTC); err != nil {
				return m.errAt(yamlconf.With(p, "const"), "%v", err)
			}
		}
		return nil
	}
	check := func(q []any, v string) error {
		if err := checkValue(kind, v, s.numbers); err != nil {
			return m.errAt(q, "%v", err)
		}
		return nil
	}
	if f.Const != nil {
		if *f.Const == "" && (kind == kindID || required) {
			return m.errAt(yamlconf.With(p, "const"), "empty")
		}
		if err := check(yamlconf.With(p, "const"), *f.Const); err != nil {
			return err
		}
	}
	for k, v := range f.Map {
		if v == "" && (kind == kindID || required) {
			return m.errAt(yamlconf.With(p, "map", k), "maps to an empty value")
		}
		if err := check(yamlconf.With(p, "map", k), v); err != nil {
			return err
		}
	}
	if f.Default != nil {
		if err := check(yamlconf.With(p, "default"), *f.Default); err != nil {
			return err
		}
	}
	return nil
}

// sourceOf returns the source that key path p ("sources", i, ...) is in.
func (m *Mapping) sourceOf(p []any) *Source {
	if len(p) >= 2 {
		if i, ok := p[1].(int); ok && i < len(m.Sources) {
			return &m.Sources[i]
		}
	}
	return &Source{}
}

// checkValue checks a canonical value (a const, or a value of a map) of a
// field of the given kind.
func checkValue(kind fieldKind, v string, nf numberFormat) error {
	var err error
	switch kind {
	case kindInt:
		if v != "" {
			_, err = nf.parseInt(v)
		}
	case kindContract:
		_, err = datasets.ParseContractType(v)
	case kindSource:
		_, err = datasets.ParseSource(v)
	case kindTxKind:
		_, err = datasets.ParseTxKind(v)
	case kindGender:
		err = checkGender(v)
	case kindClock:
		err = checkClock(v)
	}
	return err
}

func checkGender(v string) error {
	if v == "" {
		return nil
	}
	for _, g := range datasets.Genders {
		if v == g {
			return nil
		}
	}
	return fmt.Errorf("%w %q for gender (want one of %v or blank)", datasets.ErrUnknownValue, v, datasets.Genders)
}

func checkClock(v string) error {
	if v == "" {
		return nil
	}
	if len(v) == 5 && v[2] == ':' {
		if t, err := time.Parse("15:04", v); err == nil && t.Format("15:04") == v {
			return nil
		}
	}
	return fmt.Errorf("%w: start_time %q is not HH:MM", datasets.ErrBadTimestamp, v)
}

// File returns the mapping's file name (as given to Parse or Load).
func (m *Mapping) File() string { return m.file }

// Minor returns the number of decimal digits of the minor unit (2 for
// cents): minor_units, or 2 when the mapping does not say.
func (m *Mapping) Minor() int { return m.minor }

// Location returns the time zone local times are interpreted in.
func (m *Mapping) Location() *time.Location { return m.loc }
