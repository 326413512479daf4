package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// Sample rows with edge values: unicode, quotes, commas and newlines in
// text, microsecond timestamps, null optional fields, the epoch date (day
// 0, which must not read back as null), negative refunds, large amounts.

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func sampleMembers() []Member {
	return []Member{
		{MemberID: "m1", JoinedAt: time.Date(2024, 1, 15, 9, 30, 0, 123456000, time.UTC), BirthYear: 1990, Gender: "female",
			HomeClub: "Zürich-West", ContractType: ContractMonthly, ContractStart: day(2024, 1, 15), ContractEnd: day(2025, 1, 14), Channel: "web"},
		{MemberID: "m2 名前", JoinedAt: time.Date(2023, 6, 30, 23, 59, 59, 999999000, time.UTC), HomeClub: "club, \"central\"",
			ContractType: ContractPayAsYouGo, ContractStart: day(2023, 7, 1)},
		{MemberID: "m3", JoinedAt: time.Date(1995, 2, 3, 4, 5, 6, 0, time.UTC), BirthYear: 1950, Gender: "other", HomeClub: "north",
			ContractType: ContractStoredValue, ContractStart: day(1970, 1, 1), ContractEnd: day(1970, 1, 1), Channel: "referral"},
	}
}

func sampleCourses() []Course {
	return []Course{
		{CourseID: "c1", Name: "Rückenfit — 背中", Category: "mobility", Coach: "Ana", Club: "north", Weekday: 1, StartTime: "07:15", Capacity: 20},
		{CourseID: "c2", Name: "Yoga \"Flow\", gentle\nsecond line", Category: "yoga"},
		{CourseID: "c3", Name: "Spin", Category: "cardio", Weekday: 7, StartTime: "23:59", Capacity: 1},
	}
}

func sampleAttendance() []Attendance {
	return []Attendance{
		{EventID: "e1", MemberID: "m1", TS: time.Date(2025, 3, 1, 18, 30, 0, 123456000, time.UTC), CourseID: "c1", DurationMin: 55, Source: SourcePOS},
		{EventID: "e2", MemberID: "m2 名前", TS: time.Date(2025, 3, 2, 6, 0, 0, 1000, time.UTC), DurationMin: 0, Source: SourceApp},
		{EventID: "e3", MemberID: "m1", TS: time.Date(2025, 4, 30, 23, 59, 59, 999999000, time.UTC), CourseID: "c2", DurationMin: 1440, Source: SourceManual},
	}
}

func sampleTransactions() []Transaction {
	return []Transaction{
		{EventID: "t1", MemberID: "m1", TS: time.Date(2024, 1, 15, 9, 31, 0, 0, time.UTC), Amount: 4999, Kind: TxMembershipFee},
		{EventID: "t2", MemberID: "m1", TS: time.Date(2024, 2, 1, 0, 0, 0, 500000000, time.UTC), Amount: -1999, Kind: TxRefund},
		{EventID: "t3", MemberID: "m2 名前", TS: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), Amount: 9_999_999_999, Kind: TxPTPackage},
		{EventID: "t4", MemberID: "m3", TS: time.Date(2024, 3, 2, 12, 0, 0, 0, time.UTC), Amount: 0, Kind: TxFreeze},
	}
}

// readAllRows reads a table with a reader of small batches, failing the test
// on any error.
func readAllRows[T Record](t testing.TB, path string, opts *ReadOptions) []T {
	t.Helper()
	r, err := OpenTable[T](path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var all []T
	buf := make([]T, 2)
	for {
		n, err := r.Read(buf)
		all = append(all, buf[:n]...)
		if err == io.EOF {
			return all
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// roundTrip writes rows as Parquet, reads them back, writes what it read as
// CSV and reads that back; every read must equal rows.
func roundTrip[T Record](t *testing.T, rows []T) {
	t.Helper()
	dir := t.TempDir()
	pq := filepath.Join(dir, "t.parquet")
	if err := WriteAll(pq, rows); err != nil {
		t.Fatal(err)
	}
	got := readAllRows[T](t, pq, &ReadOptions{BatchRows: 2})
	if !slices.Equal(got, rows) {
		t.Fatalf("parquet round trip:\n got %+v\nwant %+v", got, rows)
	}
	csvPath := filepath.Join(dir, "t.csv")
	if err := WriteAll(csvPath, got); err != nil {
		t.Fatal(err)
	}
	got2, err := ReadAll[T](csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got2, rows) {
		t.Fatalf("csv round trip:\n got %+v\nwant %+v", got2, rows)
	}
	// And back to Parquet from CSV.
	pq2 := filepath.Join(dir, "t2.parquet")
	if err := WriteAll(pq2, got2); err != nil {
		t.Fatal(err)
	}
	got3, err := ReadAll[T](pq2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got3, rows) {
		t.Fatalf("csv to parquet round trip:\n got %+v\nwant %+v", got3, rows)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Run("members", func(t *testing.T) { roundTrip(t, sampleMembers()) })
	t.Run("courses", func(t *testing.T) { roundTrip(t, sampleCourses()) })
	t.Run("attendance", func(t *testing.T) { roundTrip(t, sampleAttendance()) })
	t.Run("transactions", func(t *testing.T) { roundTrip(t, sampleTransactions()) })
	t.Run("empty", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.parquet")
		if err := WriteAll[Attendance](path, nil); err != nil {
			t.Fatal(err)
		}
		if got := readAllRows[Attendance](t, path, nil); len(got) != 0 {
			t.Fatalf("got %d rows, want 0", len(got))
		}
	})
}

// TestParquetSchemaWritten checks the physical and logical types of every
// column we write against the list that other tools (DuckDB, pyarrow,
// Spark) read natively.
func TestParquetSchemaWritten(t *testing.T) {
	const (
		str   = "required BYTE_ARRAY STRING"
		ostr  = "optional BYTE_ARRAY STRING"
		ts    = "required INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"
		i32   = "required INT32 INT(32,true)"
		oi32  = "optional INT32 INT(32,true)"
		date  = "required INT32 DATE"
		odate = "optional INT32 DATE"
	)
	cases := []struct {
		write func(string) error
		want  []string
	}{
		{func(p string) error { return WriteAll(p, sampleMembers()) },
			[]string{str, ts, oi32, ostr, str, str, date, odate, ostr}},
		{func(p string) error { return WriteAll(p, sampleCourses()) },
			[]string{str, str, str, ostr, ostr, oi32, ostr, oi32}},
		{func(p string) error { return WriteAll(p, sampleAttendance()) },
			[]string{str, str, ts, ostr, i32, str}},
		{func(p string) error { return WriteAll(p, sampleTransactions()) },
			[]string{str, str, ts, "required INT64 INT(64,true)", str}},
	}
	for i, tc := range cases {
		table := Tables[i]
		path := filepath.Join(t.TempDir(), string(table)+".parquet")
		if err := tc.write(path); err != nil {
			t.Fatal(err)
		}
		md := openMeta(t, path)
		top, err := topLevel(md.Schema)
		if err != nil {
			t.Fatal(err)
		}
		var names, got []string
		for _, c := range top {
			names = append(names, c.el.Name)
			s := strings.ToLower(c.el.RepetitionType.V.String()) + " " + c.el.Type.V.String()
			if c.el.LogicalType.Value != nil {
				s += " " + c.el.LogicalType.Value.String()
			}
			got = append(got, s)
		}
		if !slices.Equal(names, Columns(table)) {
			t.Errorf("%s: columns %v, want %v", table, names, Columns(table))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: types\n got %q\nwant %q", table, got, tc.want)
		}
		for _, rg := range md.RowGroups {
			for _, cc := range rg.Columns {
				if cc.MetaData.Codec != format.Snappy {
					t.Errorf("%s: column %v codec %v, want SNAPPY", table, cc.MetaData.PathInSchema, cc.MetaData.Codec)
				}
				for _, e := range cc.MetaData.Encoding {
					switch e {
					case format.Plain, format.RLE, format.RLEDictionary, format.BitPacked:
					default:
						t.Errorf("%s: column %v uses encoding %v", table, cc.MetaData.PathInSchema, e)
					}
				}
			}
		}
	}
}

func openMeta(t *testing.T, path string) *format.FileMetaData {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f.Metadata()
}

// writeForeign writes rows of any struct type with parquet-go, as another
// tool might.
func writeForeign[R any](t testing.TB, path string, rows []R, opts ...parquet.WriterOption) {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[R](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A foreign attendance file: columns in another order, an extra column, an
// INT64 duration, a TIMESTAMP(MILLIS) ts, source as ENUM, course_id absent.
type foreignAttendanceMillis struct {
	Source   string `parquet:"source,enum"`
	Extra    []int  `parquet:"extra,list"`
	TS       int64  `parquet:"ts,timestamp(millisecond)"`
	Duration int64  `parquet:"duration_min"`
	MemberID string `parquet:"member_id"`
	EventID  string `parquet:"event_id"`
}

// TIMESTAMP(NANOS) not adjusted to UTC, duration as a nullable DOUBLE (as
// pandas writes integer columns with gaps), case-different names.
type foreignAttendanceNanos struct {
	EventID  string   `parquet:"EVENT_ID"`
	MemberID string   `parquet:"Member_Id"`
	TS       int64    `parquet:"ts,timestamp(nanosecond:local)"`
	CourseID *string  `parquet:"course_id"`
	Duration *float64 `parquet:"duration_min"`
	Source   []byte   `parquet:"source"`
}

// Legacy Spark: INT96 timestamps; integer ids.
type foreignAttendanceInt96 struct {
	EventID  int64            `parquet:"event_id"`
	MemberID int32            `parquet:"member_id"`
	TS       deprecated.Int96 `parquet:"ts"`
	Duration int32            `parquet:"duration_min"`
	Source   string           `parquet:"source"`
}

// Timestamps as text and a DATE-typed contract start, for members.
type foreignMember struct {
	MemberID      string  `parquet:"member_id"`
	JoinedAt      string  `parquet:"joined_at"`
	HomeClub      string  `parquet:"home_club"`
	ContractType  string  `parquet:"contract_type"`
	ContractStart int64   `parquet:"contract_start,timestamp(microsecond)"`
	ContractEnd   *string `parquet:"contract_end"`
	BirthYear     *uint16 `parquet:"birth_year,uint(16)"`
}

func int96(t time.Time) deprecated.Int96 {
	days := t.Unix()/86400 + julianUnixEpoch
	nanos := uint64(t.Sub(time.Unix(t.Unix()/86400*86400, 0)))
	return deprecated.Int96{uint32(nanos), uint32(nanos >> 32), uint32(days)}
}

func TestParquetForeignSchemas(t *testing.T) {
	dir := t.TempDir()
	ts := time.Date(2025, 3, 1, 18, 30, 15, 123456789, time.UTC)
	course := "c9"
	dur := 45.0

	t.Run("millis", func(t *testing.T) {
		p := filepath.Join(dir, "millis.parquet")
		writeForeign(t, p, []foreignAttendanceMillis{{Source: "app", Extra: []int{1, 2}, TS: ts.UnixMilli(), Duration: 30, MemberID: "m1", EventID: "e1"}})
		got := readAllRows[Attendance](t, p, nil)
		want := []Attendance{{EventID: "e1", MemberID: "m1", TS: ts.Truncate(time.Millisecond), DurationMin: 30, Source: SourceApp}}
		if !slices.Equal(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("nanos", func(t *testing.T) {
		p := filepath.Join(dir, "nanos.parquet")
		writeForeign(t, p, []foreignAttendanceNanos{
			{EventID: "e1", MemberID: "m1", TS: ts.UnixNano(), CourseID: &course, Duration: &dur, Source: []byte("pos")},
			{EventID: "e2", MemberID: "m1", TS: ts.UnixNano(), Source: []byte("manual")},
		})
		r, err := OpenTable[Attendance](p, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		buf := make([]Attendance, 10)
		n, err := r.Read(buf)
		want := Attendance{EventID: "e1", MemberID: "m1", TS: ts, CourseID: "c9", DurationMin: 45, Source: SourcePOS}
		if n != 1 || buf[0] != want {
			t.Fatalf("got %d rows %+v, want %+v", n, buf[:n], want)
		}
		// duration_min is required: the null in row 2 is a RowError.
		var re *RowError
		if !errors.As(err, &re) || !errors.Is(err, ErrMissing) || re.Row != 2 || re.Column != "duration_min" || re.File != p {
			t.Fatalf("got error %v, want ErrMissing at row 2, column duration_min", err)
		}
		if n, err := r.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("after the bad row: %d, %v; want 0, EOF", n, err)
		}
	})
	t.Run("int96", func(t *testing.T) {
		p := filepath.Join(dir, "int96.parquet")
		writeForeign(t, p, []foreignAttendanceInt96{{EventID: 123, MemberID: -7, TS: int96(ts), Duration: 60, Source: "pos"}})
		got := readAllRows[Attendance](t, p, nil)
		want := []Attendance{{EventID: "123", MemberID: "-7", TS: ts, DurationMin: 60, Source: SourcePOS}}
		if !slices.Equal(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("members", func(t *testing.T) {
		p := filepath.Join(dir, "members.parquet")
		end := "2025-12-31"
		by := uint16(1984)
		writeForeign(t, p, []foreignMember{{MemberID: "m1", JoinedAt: "2024-01-15 09:30:00", HomeClub: "x", ContractType: "annual",
			ContractStart: time.Date(2024, 1, 15, 13, 0, 0, 0, time.UTC).UnixMicro(), ContractEnd: &end, BirthYear: &by}})
		got := readAllRows[Member](t, p, nil)
		want := []Member{{MemberID: "m1", JoinedAt: time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC), BirthYear: 1984, HomeClub: "x",
			ContractType: ContractAnnual, ContractStart: day(2024, 1, 15), ContractEnd: day(2025, 12, 31)}}
		if !slices.Equal(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
}

type badTS struct {
	EventID  string  `parquet:"event_id"`
	MemberID string  `parquet:"member_id"`
	TS       float64 `parquet:"ts"`
	Duration int32   `parquet:"duration_min"`
	Source   string  `parquet:"source"`
}

type badAmount struct {
	EventID  string  `parquet:"event_id"`
	MemberID string  `parquet:"member_id"`
	TS       int64   `parquet:"ts,timestamp(microsecond)"`
	Amount   float64 `parquet:"amount"`
	Kind     string  `parquet:"kind"`
}

type badSource struct {
	EventID  string `parquet:"event_id"`
	MemberID string `parquet:"member_id"`
	TS       int64  `parquet:"ts,timestamp(microsecond)"`
	Duration int32  `parquet:"duration_min"`
	Source   int32  `parquet:"source"`
}

type repeatedID struct {
	EventID  []string `parquet:"event_id"`
	MemberID string   `parquet:"member_id"`
	TS       int64    `parquet:"ts,timestamp(microsecond)"`
	Duration int32    `parquet:"duration_min"`
	Source   string   `parquet:"source"`
}

type noTS struct {
	EventID  string `parquet:"event_id"`
	MemberID string `parquet:"member_id"`
	Duration int32  `parquet:"duration_min"`
	Source   string `parquet:"source"`
}

func TestParquetSchemaErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		write func(p string)
		open  func(p string) error
		want  []string // substrings of the message besides the path
	}{
		{"double ts", func(p string) { writeForeign(t, p, []badTS{{TS: 1}}) },
			func(p string) error { _, err := OpenTable[Attendance](p, nil); return err },
			[]string{`column "ts"`, "DOUBLE", "TIMESTAMP"}},
		{"double amount", func(p string) { writeForeign(t, p, []badAmount{{Amount: 1}}) },
			func(p string) error { _, err := OpenTable[Transaction](p, nil); return err },
			[]string{`column "amount"`, "DOUBLE", "minor units"}},
		{"int source", func(p string) { writeForeign(t, p, []badSource{{}}) },
			func(p string) error { _, err := OpenTable[Attendance](p, nil); return err },
			[]string{`column "source"`, "INT32", "ENUM"}},
		{"repeated", func(p string) { writeForeign(t, p, []repeatedID{{}}) },
			func(p string) error { _, err := OpenTable[Attendance](p, nil); return err },
			[]string{`column "event_id"`, "repeated"}},
		{"missing ts", func(p string) { writeForeign(t, p, []noTS{{}}) },
			func(p string) error { _, err := OpenTable[Attendance](p, nil); return err },
			[]string{"missing required column(s) ts"}},
		{"members as attendance", func(p string) {
			if err := WriteAll(p, sampleMembers()); err != nil {
				t.Fatal(err)
			}
		},
			func(p string) error { _, err := OpenTable[Attendance](p, nil); return err },
			[]string{"event_id", "ts", "duration_min", "source"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".parquet")
			tc.write(p)
			err := tc.open(p)
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("got %v, want ErrSchema", err)
			}
			for _, s := range append(tc.want, p) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestParquetRowErrors(t *testing.T) {
	// Row 2 has an unknown source, row 4 an empty one: both are RowErrors
	// with the row number, and reading goes on after each.
	p := filepath.Join(t.TempDir(), "a.parquet")
	type row struct {
		EventID  string `parquet:"event_id"`
		MemberID string `parquet:"member_id"`
		TS       int64  `parquet:"ts,timestamp(microsecond)"`
		Duration int32  `parquet:"duration_min"`
		Source   string `parquet:"source"`
	}
	writeForeign(t, p, []row{
		{"e1", "m", 0, 1, "pos"}, {"e2", "m", 0, 2, "kiosk"}, {"e3", "m", 0, 3, "app"}, {"e4", "m", 0, 4, ""}, {"e5", "m", 0, 5, "pos"},
	})
	r, err := OpenTable[Attendance](p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]Attendance, 10)
	var ids []string
	var errs []string
	for {
		n, err := r.Read(buf)
		for _, a := range buf[:n] {
			ids = append(ids, a.EventID)
		}
		if err == io.EOF {
			break
		}
		if err == nil {
			continue
		}
		var re *RowError
		if !errors.As(err, &re) {
			t.Fatalf("fatal error %v", err)
		}
		errs = append(errs, fmt.Sprintf("%d %s %q %v %v", re.Row, re.Column, re.Value, errors.Is(err, ErrUnknownValue), errors.Is(err, ErrMissing)))
		if re.Raw[0] != fmt.Sprintf("e%d", re.Row) {
			t.Errorf("raw %q does not hold event e%d", re.Raw, re.Row)
		}
	}
	if want := []string{"e1", "e3", "e5"}; !slices.Equal(ids, want) {
		t.Errorf("good rows %v, want %v", ids, want)
	}
	if want := []string{`2 source "kiosk" true false`, `4 source "" false true`}; !slices.Equal(errs, want) {
		t.Errorf("errors %q, want %q", errs, want)
	}
}

// validParquet returns the bytes of a small attendance file with several
// row groups.
func validParquet(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := newPQWriter[Attendance]("mem", &buf, 2)
	if _, err := w.Write(sampleAttendance()); err != nil {
		t.Fatal(err)
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readBytes reads b as an attendance Parquet file through the public API
// and returns the first fatal error (nil at a clean end).
func readBytes(t testing.TB, dir string, b []byte) error {
	p := filepath.Join(dir, "x.parquet")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenTable[Attendance](p, &ReadOptions{BatchRows: 3})
	if err != nil {
		return err
	}
	defer r.Close()
	buf := make([]Attendance, 5)
	for {
		_, err := r.Read(buf)
		var re *RowError
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &re):
		case err != nil:
			return err
		}
	}
}

func TestNotParquet(t *testing.T) {
	dir := t.TempDir()
	valid := validParquet(t)
	if err := readBytes(t, dir, valid); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	cases := map[string][]byte{
		"empty":          nil,
		"text":           []byte("event_id,member_id\ne1,m1\n"),
		"magic only":     []byte("PAR1"),
		"two magics":     []byte("PAR1PAR1"),
		"no footer":      []byte("PAR1\x00\x00\x00\x00PAR1"),
		"huge footer":    []byte("PAR1xxxxxxxx\xff\xff\xff\x7fPAR1"),
		"garbage footer": []byte("PAR1\x0f\x0f\x0f\x0f\x0f\x0f\x0f\x0f\x08\x00\x00\x00PAR1"),
		"encrypted":      append([]byte("PARE"), valid[4:]...),
	}
	for _, cut := range []int{1, 4, 100, len(valid) / 2, len(valid) - 9, len(valid) - 8, len(valid) - 1} {
		cases[fmt.Sprintf("truncated to %d", cut)] = valid[:cut]
	}
	for name, b := range cases {
		if err := readBytes(t, dir, b); !errors.Is(err, ErrNotParquet) {
			t.Errorf("%s: got %v, want ErrNotParquet", name, err)
		}
	}
}

// TestParquetCorruptPages flips each byte of the data pages (not the
// footer) in turn: reading must end cleanly, in RowErrors (possibly with
// wrong values: pages without checksums cannot tell) or in ErrNotParquet,
// never in a panic or another error.
func TestParquetCorruptPages(t *testing.T) {
	dir := t.TempDir()
	valid := validParquet(t)
	footer := len(valid) - 8 - int(uint32(valid[len(valid)-8])|uint32(valid[len(valid)-7])<<8|uint32(valid[len(valid)-6])<<16|uint32(valid[len(valid)-5])<<24)
	for i := 4; i < footer; i++ {
		x := []byte{0xff, 0x80, 0x01}[i%3]
		b := slices.Clone(valid)
		b[i] ^= x
		if err := readBytes(t, dir, b); err != nil && !errors.Is(err, ErrNotParquet) {
			t.Fatalf("byte %d ^ %#x: got %v, want nil or ErrNotParquet", i, x, err)
		}
	}
}

func FuzzOpenParquet(f *testing.F) {
	valid := validParquet(f)
	f.Add(valid)
	for _, cut := range []int{0, 4, 12, len(valid) / 3, len(valid) / 2, len(valid) - 20, len(valid) - 8, len(valid) - 1} {
		f.Add(valid[:cut])
	}
	// The footer alone, framed as a file.
	f.Add(append([]byte("PAR1"), valid[len(valid)/2:]...))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		err := readBytes(t, dir, b)
		if err != nil && !errors.Is(err, ErrNotParquet) && !errors.Is(err, ErrSchema) {
			t.Fatalf("got %v, want nil, ErrNotParquet or ErrSchema", err)
		}
	})
}

// TestParquetBoundedMemory writes 2M attendance rows in row groups of 64K
// and reads them back with default options, sampling the heap after every
// Read. The decoded table would take about 2M × (88 B struct + ~24 B of
// event_id string) ≈ 224 MB; a streaming reader holds one batch (4096 rows)
// and one page per column, so the peak heap in use must stay far below:
// the bound asserted is 48 MB above the heap before reading. Set
// RETAIN_TEST_10M=1 to run with 10M rows (about a minute).
func TestParquetBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2M rows")
	}
	rows := 2_000_000
	if os.Getenv("RETAIN_TEST_10M") == "1" {
		rows = 10_000_000
	}
	p := filepath.Join(t.TempDir(), "big.parquet")
	w, err := CreateTable[Attendance](p, &WriteOptions{RowGroupRows: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	gen := newAttendanceGen(1, 50_000)
	chunk := make([]Attendance, 8192)
	for done := 0; done < rows; done += len(chunk) {
		gen.fill(chunk)
		if _, err := w.Write(chunk[:min(len(chunk), rows-done)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	clear(chunk)
	gen = nil

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	r, err := OpenTable[Attendance](p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]Attendance, 4096)
	var peak uint64
	total := 0
	for i := 0; ; i++ {
		n, err := r.Read(buf)
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%16 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if total != rows {
		t.Fatalf("read %d rows, want %d", total, rows)
	}
	const bound = 48 << 20
	t.Logf("heap in use: %.1f MB before, peak %.1f MB while reading %d rows", float64(base)/1e6, float64(peak)/1e6, rows)
	if peak > base+bound {
		t.Fatalf("peak heap %d bytes exceeds %d + %d", peak, base, bound)
	}
}

// TestInterop checks that other Parquet implementations read what we write,
// value for value, and that we read what DuckDB writes. It needs node and
// the npm packages hyparquet and @duckdb/node-api, and skips without them:
//
//	mkdir /tmp/interop && cd /tmp/interop && npm i hyparquet @duckdb/node-api
//	RETAIN_NODE_MODULES=/tmp/interop go test -run TestInterop -v ./datasets
//
// The script is testdata/interop.mjs.
func TestInterop(t *testing.T) {
	base := os.Getenv("RETAIN_NODE_MODULES")
	node, err := exec.LookPath("node")
	if base == "" || err != nil {
		t.Skip("set RETAIN_NODE_MODULES to a folder with node_modules/hyparquet and node_modules/@duckdb/node-api (needs node)")
	}
	has := func(pkg string) bool {
		_, err := os.Stat(filepath.Join(base, "node_modules", pkg, "package.json"))
		return err == nil
	}
	x := &interop{dir: t.TempDir(), node: node, base: base, hyparquet: has("hyparquet"), duckdb: has("@duckdb/node-api")}
	if !x.hyparquet && !x.duckdb {
		t.Skipf("neither hyparquet nor @duckdb/node-api under %s/node_modules", base)
	}
	if x.script, err = filepath.Abs(filepath.Join("testdata", "interop.mjs")); err != nil {
		t.Fatal(err)
	}
	t.Run("members", func(t *testing.T) { interopTable(t, x, sampleMembers()) })
	t.Run("courses", func(t *testing.T) { interopTable(t, x, sampleCourses()) })
	t.Run("attendance", func(t *testing.T) { interopTable(t, x, sampleAttendance()) })
	t.Run("transactions", func(t *testing.T) { interopTable(t, x, sampleTransactions()) })
}

type interop struct {
	dir, node, base, script string
	hyparquet, duckdb       bool
}

func (x *interop) run(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(x.node, append([]string{x.script}, args...)...)
	cmd.Env = append(os.Environ(), "RETAIN_NODE_MODULES="+x.base)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func interopTable[T Record](t *testing.T, x *interop, rows []T) {
	table := string(TableOf[T]())
	p := filepath.Join(x.dir, table+".parquet")
	if err := WriteAll(p, rows); err != nil {
		t.Fatal(err)
	}
	fields := fieldsOf[T]()
	if x.hyparquet {
		// hyparquet gives timestamps as JavaScript Dates (milliseconds),
		// INT64 as BigInt (printed as a string), INT32 as a number.
		var want []map[string]any
		for i := range rows {
			m := map[string]any{}
			for _, f := range fields {
				var v any
				switch f.kind {
				case kindString:
					if s := *f.str(&rows[i]); s != "" || !f.optional {
						v = s
					}
				case kindEnum:
					v = f.names[f.getEnum(&rows[i])]
				case kindInt:
					if n := *f.num(&rows[i]); n != 0 || !f.optional {
						v = float64(n)
					}
				case kindAmount:
					v = fmt.Sprint(*f.amount(&rows[i]))
				default:
					if tm := *f.tm(&rows[i]); !tm.IsZero() || !f.optional {
						v = tm.Truncate(time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
					}
				}
				m[f.name] = v
			}
			want = append(want, m)
		}
		var got []map[string]any
		if err := json.Unmarshal(x.run(t, "hyparquet", p), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("hyparquet read\n%v\nwant\n%v", got, want)
		}
	}
	if x.duckdb {
		var types [][2]string
		if err := json.Unmarshal(x.run(t, "duckdb-types", p), &types); err != nil {
			t.Fatal(err)
		}
		duckType := [...]string{kindString: "VARCHAR", kindEnum: "VARCHAR", kindInt: "INTEGER", kindAmount: "BIGINT",
			kindInstant: "TIMESTAMP WITH TIME ZONE", kindDate: "DATE"}
		var want [][2]string
		for _, f := range fields {
			want = append(want, [2]string{f.name, duckType[f.kind]})
		}
		if !reflect.DeepEqual(types, want) {
			t.Errorf("DuckDB types %v, want %v", types, want)
		}
		// DuckDB reads our file and writes its rows as CSV, which we read.
		out := filepath.Join(x.dir, table+".duckdb.csv")
		x.run(t, "duckdb-csv", p, out)
		got, err := ReadAll[T](out)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, rows) {
			t.Errorf("DuckDB CSV read back\n%+v\nwant\n%+v", got, rows)
		}
		// DuckDB rewrites our file as its own Parquet, which we read.
		out = filepath.Join(x.dir, table+".duckdb.parquet")
		x.run(t, "duckdb-parquet", p, out)
		if got, err = ReadAll[T](out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, rows) {
			t.Errorf("DuckDB Parquet read back\n%+v\nwant\n%+v", got, rows)
		}
	}
}

// TestCheckChunk feeds checkChunk column chunks of hand-made page headers:
// a damaged header must not make parquet-go allocate what it claims.
func TestCheckChunk(t *testing.T) {
	page := func(typ format.PageType, uncompressed, compressed, values int32) []byte {
		h := format.PageHeader{Type: typ, UncompressedPageSize: uncompressed, CompressedPageSize: compressed}
		if typ == format.DictionaryPage {
			h.DictionaryPageHeader = thrift.New(format.DictionaryPageHeader{NumValues: values, Encoding: format.Plain})
		} else {
			h.DataPageHeader = thrift.New(format.DataPageHeader{NumValues: values, Encoding: format.Plain})
		}
		b, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, make([]byte, min(max(compressed, 0), 4096))...) // the page's data, or its start
	}
	cat := func(pages ...[]byte) []byte { return bytes.Join(pages, nil) }
	cases := []struct {
		name  string
		chunk []byte
		rows  int64
		want  string // "" for no error
	}{
		{"dictionary and data pages", cat(page(format.DictionaryPage, 40, 30, 5), page(format.DataPage, 100, 50, 10), page(format.DataPage, 10, 5, 3)), 13, ""},
		{"huge uncompressed", page(format.DataPage, maxPageBytes+1, 10, 1), 1, "exceeds"},
		{"truncated data", page(format.DataPage, 100, 50, 1)[:40], 1, "overruns"},
		{"truncated header", page(format.DataPage, 100, 50, 1)[:3], 1, "corrupt page header"},
		{"compressed beyond chunk", cat(page(format.DataPage, 100, 50, 1), page(format.DataPage, 100, 1<<30, 1))[:200], 2, "overruns"},
		{"more values than rows", page(format.DataPage, 100, 50, 11), 10, "values in a row group of 10 rows"},
		{"dictionary larger than its bytes", page(format.DictionaryPage, 100, 50, 1000), 10_000, "dictionary of 1000 values"},
		{"negative size", page(format.DataPage, 100, -5, 1), 1, "without sizes"},
		{"garbage", []byte("\x0f\x0f\x0f\x0f\x0f\x0f"), 1, "corrupt page header"},
	}
	for _, tc := range cases {
		r := &parquetReader[Attendance]{path: "x.parquet", src: bytes.NewReader(tc.chunk)}
		// Offset 0 is where the chunk starts in src.
		err := r.checkChunk("event_id", &format.ColumnMetaData{DataPageOffset: 0, TotalCompressedSize: int64(len(tc.chunk))}, format.Uncompressed, tc.rows)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrNotParquet) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want ErrNotParquet with %q", tc.name, err, tc.want)
		}
	}
}

// TestParquetCodecs reads files in every codec parquet-go writes: the
// checks of checkCompressed must pass valid pages, in data pages v1 and v2.
func TestParquetCodecs(t *testing.T) {
	rows := make([]Attendance, 3000)
	newAttendanceGen(5, 100).fill(rows)
	pq := make([]pqAttendance, len(rows))
	for i := range rows {
		if err := toPQAttendance(&pq[i], &rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	// Not LZ4_RAW: parquet-go v0.32.0 cannot read back its own LZ4_RAW
	// files ("invalid number of mini block"), with or without this
	// package; TestCheckCompressed covers the check.
	for _, codec := range []compress.Codec{&parquet.Uncompressed, &parquet.Snappy, &parquet.Gzip, &parquet.Brotli, &parquet.Zstd} {
		for _, v := range []int{1, 2} {
			p := filepath.Join(dir, fmt.Sprintf("%s-v%d.parquet", codec, v))
			writeForeign(t, p, pq, parquet.Compression(codec), parquet.DataPageVersion(v), parquet.PageBufferSize(4<<10), parquet.MaxRowsPerRowGroup(1000))
			got := readAllRows[Attendance](t, p, nil)
			if !slices.Equal(got, rows) {
				t.Errorf("%s, data page v%d: rows differ", codec, v)
			}
		}
	}
}

// TestCheckCompressed compresses a page with each codec's own library and
// checks that checkCompressed passes it at its true size and rejects it
// when the page claims one byte less.
func TestCheckCompressed(t *testing.T) {
	page := bytes.Repeat([]byte("member_id,2025-03-01T10:00:00Z,"), 400)
	size := int64(len(page))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(page)
	zw.Close()
	var br bytes.Buffer
	bw := brotli.NewWriter(&br)
	bw.Write(page)
	bw.Close()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	l4 := make([]byte, lz4.CompressBlockBound(len(page)))
	n, err := lz4.CompressBlock(page, l4, nil)
	if err != nil || n == 0 {
		t.Fatalf("lz4: %d, %v", n, err)
	}
	cases := map[format.CompressionCodec][]byte{
		format.Snappy: snappy.Encode(nil, page),
		format.Gzip:   gz.Bytes(),
		format.Brotli: br.Bytes(),
		format.Zstd:   enc.EncodeAll(page, nil),
		format.Lz4Raw: l4[:n],
	}
	for codec, b := range cases {
		r := &parquetReader[Attendance]{path: "x.parquet", src: bytes.NewReader(b)}
		if err := r.checkCompressed(codec, 0, int64(len(b)), size); err != nil {
			t.Errorf("%s at its size: %v", codec, err)
		}
		if err := r.checkCompressed(codec, 0, int64(len(b)), size-1); err == nil {
			t.Errorf("%s at one byte less: no error", codec)
		}
	}
}

// Text attendance rows for TestParquetTrimsLikeCSV, plain and with
// dictionary-encoded member_id, course_id and source.
type textAttendance struct {
	EventID  string `parquet:"event_id"`
	MemberID string `parquet:"member_id"`
	TS       string `parquet:"ts"`
	CourseID string `parquet:"course_id,optional"`
	Duration int32  `parquet:"duration_min"`
	Source   string `parquet:"source"`
}

type textAttendanceDict struct {
	EventID  string `parquet:"event_id"`
	MemberID string `parquet:"member_id,dict"`
	TS       string `parquet:"ts"`
	CourseID string `parquet:"course_id,optional,dict"`
	Duration int32  `parquet:"duration_min"`
	Source   string `parquet:"source,dict"`
}

// TestParquetTrimsLikeCSV: text in a Parquet file is read as in a CSV
// file: trimmed of surrounding white space, and null when nothing is left.
// The same rows give the same values and the same row errors in both.
func TestParquetTrimsLikeCSV(t *testing.T) {
	rows := []textAttendance{
		{" e1 ", " M2 ", " 2025-03-01T10:00:00Z ", " c1 ", 30, " pos "},
		{"e2", "M2\t", "\t2025-03-01 10:00:00", "   ", 45, "app"},
		{"e3", "   ", "2025-03-01T10:00:00Z", "", 30, "pos"},
		{"e4", "M2", "  ", "", 30, "pos"},
		{"e5", "M2", "2025-03-01T10:00:00Z", "", 30, "  "},
		{"e6", "M2", " yesterday ", "", 30, "pos"},
		{"e7", "M2", " 2025-03-02T10:00:00Z", "c1", 30, "manual "},
	}
	ts := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	want := []Attendance{
		{EventID: "e1", MemberID: "M2", TS: ts, CourseID: "c1", DurationMin: 30, Source: SourcePOS},
		{EventID: "e2", MemberID: "M2", TS: ts, DurationMin: 45, Source: SourceApp},
		{EventID: "e7", MemberID: "M2", TS: ts.AddDate(0, 0, 1), CourseID: "c1", DurationMin: 30, Source: SourceManual},
	}
	wantErrs := []string{`3 member_id "" true`, `4 ts "" true`, `5 source "" true`, `6 ts "yesterday" false`}

	var csvText strings.Builder
	csvText.WriteString("event_id,member_id,ts,course_id,duration_min,source\n")
	cw := csv.NewWriter(&csvText)
	dict := make([]textAttendanceDict, len(rows))
	for i, r := range rows {
		cw.Write([]string{r.EventID, r.MemberID, r.TS, r.CourseID, fmt.Sprint(r.Duration), r.Source})
		dict[i] = textAttendanceDict(r)
	}
	cw.Flush()
	dir := t.TempDir()
	plain, dicts := filepath.Join(dir, "plain.parquet"), filepath.Join(dir, "dict.parquet")
	writeForeign(t, plain, rows)
	writeForeign(t, dicts, dict)
	csvPath := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(csvPath, []byte(csvText.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{csvPath, plain, dicts} {
		r, err := OpenTable[Attendance](p, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, rerrs := drain[Attendance](t, r)
		r.Close()
		var errs []string
		for _, e := range rerrs {
			errs = append(errs, fmt.Sprintf("%d %s %q %v", e.Row, e.Column, e.Value, errors.Is(e, ErrMissing)))
		}
		if !slices.Equal(got, want) || !slices.Equal(errs, wantErrs) {
			t.Errorf("%s: got %+v\n%q\nwant %+v\n%q", filepath.Base(p), got, errs, want, wantErrs)
		}
	}
}
