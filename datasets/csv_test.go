package datasets

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readCSVString reads text as a CSV table of T, collecting good rows and
// row errors; a fatal error fails the test.
func readCSVString[T Record](t testing.TB, text string) ([]T, []*RowError) {
	t.Helper()
	r, err := newCSVReader[T]("in.csv", strings.NewReader(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return drain[T](t, r)
}

func drain[T Record](t testing.TB, r Reader[T]) ([]T, []*RowError) {
	t.Helper()
	var rows []T
	var errs []*RowError
	buf := make([]T, 3)
	for {
		n, err := r.Read(buf)
		rows = append(rows, buf[:n]...)
		if err == io.EOF {
			return rows, errs
		}
		if err == nil {
			continue
		}
		var re *RowError
		if !errors.As(err, &re) {
			t.Fatalf("fatal error: %v", err)
		}
		errs = append(errs, re)
	}
}

func TestCSVBadValues(t *testing.T) {
	// Each case is one bad row among good ones; Row counts data rows from 1,
	// Line counts physical lines from 1 (the header is line 1).
	const header = "event_id,member_id,ts,course_id,duration_min,source\n"
	good := "e0,m1,2025-03-01T10:00:00Z,,30,pos\n"
	cases := []struct {
		name   string
		before string // rows before the bad one
		bad    string
		row    int64
		line   int64
		column string
		value  string
		want   error
	}{
		{"bad timestamp", good, "e1,m1,2025-13-01T10:00:00Z,,30,pos\n", 2, 3, "ts", "2025-13-01T10:00:00Z", ErrBadTimestamp},
		{"garbage timestamp", "", "e1,m1,yesterday,,30,pos\n", 1, 2, "ts", "yesterday", ErrBadTimestamp},
		{"bad number", good + good, "e1,m1,2025-03-01T10:00:00Z,,thirty,pos\n", 3, 4, "duration_min", "thirty", ErrBadNumber},
		{"float number", "", "e1,m1,2025-03-01T10:00:00Z,,30.5,pos\n", 1, 2, "duration_min", "30.5", ErrBadNumber},
		{"unknown source", "", "e1,m1,2025-03-01T10:00:00Z,,30,kiosk\n", 1, 2, "source", "kiosk", ErrUnknownValue},
		{"missing required", "", "e1,,2025-03-01T10:00:00Z,,30,pos\n", 1, 2, "member_id", "", ErrMissing},
		{"blank required", "", "e1,   ,2025-03-01T10:00:00Z,,30,pos\n", 1, 2, "member_id", "", ErrMissing},
		{"short record", "", "e1,m1,2025-03-01T10:00:00Z\n", 1, 2, "", "", ErrMissing},
		// A quoted field spanning two lines makes line and row differ.
		{"after multi-line field", "e0,\"m\n1\",2025-03-01T10:00:00Z,,30,pos\n", "e1,m1,2025-03-01T10:00:00Z,,x,pos\n", 2, 4, "duration_min", "x", ErrBadNumber},
		{"year out of range", "", "e1,m1,0000-01-01T00:00:00+01:00,,30,pos\n", 1, 2, "ts", "0000-01-01T00:00:00+01:00", ErrBadTimestamp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := header + tc.before + tc.bad + good
			rows, errs := readCSVString[Attendance](t, text)
			if len(errs) != 1 {
				t.Fatalf("got %d row errors %v, want 1", len(errs), errs)
			}
			e := errs[0]
			if e.File != "in.csv" || e.Row != tc.row || e.Line != tc.line || e.Column != tc.column || e.Value != tc.value || !errors.Is(e, tc.want) {
				t.Errorf("got %#v (%v)\nwant row %d line %d column %q value %q wrapping %v", e, e, tc.row, tc.line, tc.column, tc.value, tc.want)
			}
			if len(e.Raw) == 0 {
				t.Errorf("Raw not set")
			}
			// The reader goes on after the bad row.
			if want := strings.Count(tc.before, "pos\n") + 1; len(rows) != want {
				t.Errorf("got %d good rows, want %d", len(rows), want)
			}
		})
	}
}

func TestCSVParseErrorContinues(t *testing.T) {
	text := "event_id,member_id,ts,course_id,duration_min,source\n" +
		"e1,m1,2025-03-01T10:00:00Z,,30,pos\n" +
		"e2,m\"1,2025-03-01T10:00:00Z,,30,pos\n" + // bare quote
		"e3,m1,2025-03-01T10:00:00Z,,30,pos\n"
	rows, errs := readCSVString[Attendance](t, text)
	if len(rows) != 2 || rows[0].EventID != "e1" || rows[1].EventID != "e3" {
		t.Errorf("got rows %+v, want e1 and e3", rows)
	}
	if len(errs) != 1 || errs[0].Row != 2 || errs[0].Line != 3 || !errors.Is(errs[0], csv.ErrBareQuote) {
		t.Errorf("got errors %v, want a bare quote at row 2, line 3", errs)
	}
}

// TestCSVRunawayQuote: a quoted field that runs over line ends into a
// quote error has taken in lines that may be rows: the reader stops with a
// *QuoteError saying which lines, never reporting them as one bad row. A
// quote error within one line stays a bad row.
func TestCSVRunawayQuote(t *testing.T) {
	const header = "event_id,member_id,ts,course_id,duration_min,source\n"
	row := func(id string) string { return id + ",m1,2025-03-01T10:00:00Z,,30,pos\n" }
	for _, tc := range []struct {
		name       string
		text       string
		good       int   // rows read before the error
		line, end  int64 // QuoteError.Line and End; 0: no QuoteError
		column     int
		eof        bool
		rowErrLine int64 // with no QuoteError: the line of the one bad row
	}{
		{"to the end of the file", header + row("e1") + `"` + row("e2") + row("e3") + row("e4") + row("e5"), 1, 3, 6, 0, true, 0},
		{"to a stray quote", header + row("e1") + `"` + row("e2") + row("e3") + `e4,m"1,2025-03-01T10:00:00Z,,30,pos` + "\n" + row("e5"), 1, 3, 5, 5, false, 0},
		{"after a good multi-line field", header + "e1,\"m\n1\",2025-03-01T10:00:00Z,,30,pos\n" + `"` + row("e2") + row("e3"), 1, 4, 5, 0, true, 0},
		{"closed, then garbage, one line", header + row("e1") + `"e2"x,m1,2025-03-01T10:00:00Z,,30,pos` + "\n" + row("e3"), 2, 0, 0, 0, false, 3},
		{"unclosed on the last line", header + row("e1") + `"` + row("e2"), 1, 0, 0, 0, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := newCSVReader[Attendance]("in.csv", strings.NewReader(tc.text), nil)
			if err != nil {
				t.Fatal(err)
			}
			var rows []Attendance
			var rowErrs []*RowError
			var fatal error
			buf := make([]Attendance, 2)
			for {
				n, err := r.Read(buf)
				rows = append(rows, buf[:n]...)
				if err == io.EOF {
					break
				}
				var re *RowError
				if errors.As(err, &re) {
					rowErrs = append(rowErrs, re)
					continue
				}
				if err != nil {
					fatal = err
					// The error is sticky.
					if n, err2 := r.Read(buf); n != 0 || err2 != err {
						t.Errorf("read after the fatal error: %d, %v", n, err2)
					}
					break
				}
			}
			if len(rows) != tc.good {
				t.Errorf("got %d good rows, want %d", len(rows), tc.good)
			}
			if tc.line == 0 {
				if fatal != nil || len(rowErrs) != 1 || rowErrs[0].Line != tc.rowErrLine || !errors.Is(rowErrs[0], csv.ErrQuote) {
					t.Errorf("got fatal %v, row errors %v; want one bad row at line %d", fatal, rowErrs, tc.rowErrLine)
				}
				return
			}
			var qe *QuoteError
			if !errors.As(fatal, &qe) || len(rowErrs) != 0 {
				t.Fatalf("got fatal %v, row errors %v; want a *QuoteError", fatal, rowErrs)
			}
			if !errors.Is(fatal, ErrRunawayQuote) || !errors.Is(fatal, csv.ErrQuote) {
				t.Errorf("%v does not wrap ErrRunawayQuote and csv.ErrQuote", fatal)
			}
			want := QuoteError{File: "in.csv", Row: int64(tc.good) + 1, Line: tc.line, End: tc.end, Column: tc.column, EOF: tc.eof, Err: csv.ErrQuote}
			if *qe != want {
				t.Errorf("got %+v, want %+v", *qe, want)
			}
			msg := qe.Error()
			lost := fmt.Sprintf("taking in the %d line(s) after line %d", tc.end-tc.line, tc.line)
			if !strings.HasPrefix(msg, fmt.Sprintf("in.csv: row %d (line %d): ", want.Row, tc.line)) || !strings.Contains(msg, lost) ||
				tc.eof != strings.Contains(msg, "runs to the end of the file") {
				t.Errorf("message %q: want file, row, line and %q", msg, lost)
			}
		})
	}
}

func TestCSVHeader(t *testing.T) {
	want := []Attendance{{EventID: "e1", MemberID: "m1", TS: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), DurationMin: 30, Source: SourcePOS}}
	ok := []struct{ name, text string }{
		{"canonical", "event_id,member_id,ts,course_id,duration_min,source\ne1,m1,2025-03-01T10:00:00Z,,30,pos\n"},
		{"bom and crlf", "\ufeffevent_id,member_id,ts,course_id,duration_min,source\r\ne1,m1,2025-03-01T10:00:00Z,,30,pos\r\n"},
		{"bom before quoted name", "\ufeff\"event_id\",member_id,ts,course_id,duration_min,source\ne1,m1,2025-03-01T10:00:00Z,,30,pos\n"},
		{"any order, extra, optional absent", "source, Extra ,DURATION_MIN,ts,member_id,event_id\npos,x,30,2025-03-01 10:00:00,m1,e1\n"},
		{"spaces", "event_id , member_id,ts,course_id,duration_min,source\n e1 ,m1  ,2025-03-01T11:00:00+01:00 , ,30 ,pos \n"},
	}
	for _, tc := range ok {
		rows, errs := readCSVString[Attendance](t, tc.text)
		if len(errs) > 0 || !slices.Equal(rows, want) {
			t.Errorf("%s: got %+v %v, want %+v", tc.name, rows, errs, want)
		}
	}
	bad := []struct{ name, text, msg string }{
		{"empty", "", "no header"},
		{"missing ts", "event_id,member_id,course_id,duration_min,source\n", "ts"},
		{"twice", "event_id,member_id,ts,ts,duration_min,source\n", `"ts" appears twice`},
	}
	for _, tc := range bad {
		_, err := newCSVReader[Attendance]("in.csv", strings.NewReader(tc.text), nil)
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "in.csv") {
			t.Errorf("%s: got %v, want ErrSchema mentioning in.csv and %q", tc.name, err, tc.msg)
		}
	}
}

func TestCSVValues(t *testing.T) {
	text := "member_id,joined_at,birth_year,gender,home_club,contract_type,contract_start,contract_end,channel\n" +
		"m1,2024-01-15T09:30:00.123456789+02:00,,,north,monthly,2024-01-15,,\n" +
		"m2,2024-01-15 09:30:00,1990,female,north,annual,2024-01-15T23:00:00Z,2025-01-14,web\n"
	rows, errs := readCSVString[Member](t, text)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []Member{
		{MemberID: "m1", JoinedAt: time.Date(2024, 1, 15, 7, 30, 0, 123456789, time.UTC), HomeClub: "north", ContractType: ContractMonthly, ContractStart: day(2024, 1, 15)},
		{MemberID: "m2", JoinedAt: time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC), BirthYear: 1990, Gender: "female", HomeClub: "north",
			ContractType: ContractAnnual, ContractStart: day(2024, 1, 15), ContractEnd: day(2025, 1, 14), Channel: "web"},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("got  %+v\nwant %+v", rows, want)
	}
}

func TestCSVWriterFormat(t *testing.T) {
	var buf bytes.Buffer
	w := newCSVWriter[Transaction]("mem", &buf)
	if err := w.cw.Write(Columns(TableTransactions)); err != nil {
		t.Fatal(err)
	}
	rows := []Transaction{
		{EventID: "t1", MemberID: "m,1", TS: time.Date(2024, 2, 1, 0, 0, 0, 500000000, time.FixedZone("x", 3600)), Amount: -1999, Kind: TxRefund},
		{EventID: "t2", MemberID: "m2", TS: time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC), Amount: 0, Kind: TxFreeze},
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	// Instants in UTC with "Z", sub-second digits kept, quotes where needed.
	want := "event_id,member_id,ts,amount,kind\n" +
		"t1,\"m,1\",2024-01-31T23:00:00.5Z,-1999,refund\n" +
		"t2,m2,2024-02-01T12:00:00Z,0,freeze\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestCSVWriterRejects(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.csv")
	w, err := CreateTable[Attendance](p, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := sampleAttendance()
	rows[1].TS = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	n, err := w.Write(rows)
	if n != 1 || !errors.Is(err, ErrBadTimestamp) || !strings.Contains(err.Error(), "row 2, column ts") {
		t.Fatalf("got %d, %v; want 1 row written and ErrBadTimestamp at row 2, column ts", n, err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failed Write succeeded")
	}
	assertEmptyDir(t, dir)
}

// assertEmptyDir fails unless dir holds nothing (no table, no temporary).
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
}

func FuzzCSVReader(f *testing.F) {
	f.Add(uint8(2), []byte("event_id,member_id,ts,course_id,duration_min,source\ne1,m1,2025-03-01T10:00:00Z,,30,pos\ne2,\"m\n2\",2025-03-01 10:00:00.5,c1,0,app\n"))
	f.Add(uint8(3), []byte("\ufeffevent_id,member_id,ts,amount,kind\nt1,m1,2025-03-01T10:00:00+05:00,-1999,refund\nt2,m1,bad,1,retail\n"))
	f.Add(uint8(0), []byte("member_id,joined_at,home_club,contract_type,contract_start,contract_end\nm1,2024-01-15T09:30:00Z,north,monthly,2024-01-15,\nm2,2024-01-15T09:30:00Z,\" x \",annual,2024-01-15,2025-01-15T00:00:00Z\n"))
	f.Add(uint8(1), []byte("course_id,name,category,weekday,start_time,capacity\nc1,\"Yoga, \"\"Flow\"\"\",yoga,1,07:00,20\nc2,Spin,cardio,,,\n"))
	f.Add(uint8(2), []byte("event_id,ts\n\"unterminated\n"))
	f.Fuzz(func(t *testing.T, table uint8, b []byte) {
		switch table % 4 {
		case 0:
			fuzzCSV[Member](t, b)
		case 1:
			fuzzCSV[Course](t, b)
		case 2:
			fuzzCSV[Attendance](t, b)
		default:
			fuzzCSV[Transaction](t, b)
		}
	})
}

// fuzzCSV reads b as CSV; the rows that parse must survive a write and a
// second read unchanged.
func fuzzCSV[T Record](t *testing.T, b []byte) {
	r, err := newCSVReader[T]("fuzz.csv", bytes.NewReader(b), nil)
	if err != nil {
		if !errors.Is(err, ErrSchema) {
			t.Fatalf("header: got %v, want ErrSchema", err)
		}
		return
	}
	var rows []T
	buf := make([]T, 4)
	for i := 0; ; i++ {
		if i > len(b)+2 {
			t.Fatal("reader makes no progress")
		}
		n, err := r.Read(buf)
		rows = append(rows, buf[:n]...)
		if err == io.EOF || errors.Is(err, ErrRunawayQuote) {
			break // a quoted field that runs over line ends stops the read (QuoteError)
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("fatal error %v", err)
		}
	}
	var out bytes.Buffer
	w := newCSVWriter[T]("out.csv", &out)
	if err := w.cw.Write(Columns(TableOf[T]())); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatalf("writing parsed rows: %v", err)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	got, errs := readCSVString[T](t, out.String())
	if len(errs) > 0 {
		t.Fatalf("re-reading written rows: %v\n%s", errs[0], out.String())
	}
	if !slices.Equal(got, rows) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\ncsv:\n%s", got, rows, out.String())
	}
}
