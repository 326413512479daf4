package datasets

import (
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

func sortByID[T Record](rows []T, id func(*T) string) {
	slices.SortFunc(rows, func(a, b T) int { return strings.Compare(id(&a), id(&b)) })
}

func attendanceID(a *Attendance) string { return a.EventID }

// listFiles returns the regular files under dir, relative and slash-separated.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestPartitionedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "attendance")
	// Unsorted rows over three months, across a year boundary.
	ts := []time.Time{
		time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2025, 1, 31, 23, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC),
	}
	var rows []Attendance
	for i, t := range ts {
		rows = append(rows, Attendance{EventID: fmt.Sprintf("e%d", i), MemberID: "m1", TS: t, DurationMin: i, Source: SourceApp})
	}
	w, err := CreateTable[Attendance](path, &WriteOptions{PartitionBy: "month"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("folder visible before Close")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"year=2024/month=12/part-0.parquet", "year=2025/month=01/part-0.parquet", "year=2025/month=03/part-0.parquet"}
	if got := listFiles(t, path); !slices.Equal(got, wantFiles) {
		t.Errorf("files %q, want %q", got, wantFiles)
	}
	// Read order: by path, then file order: e4 e1 (2024-12), e0 e2 (2025-01), e3.
	got := readAllRows[Attendance](t, path, nil)
	var ids []string
	for _, a := range got {
		ids = append(ids, a.EventID)
	}
	if want := []string{"e1", "e4", "e0", "e2", "e3"}; !slices.Equal(ids, want) {
		t.Errorf("read order %v, want %v", ids, want)
	}
	sortByID(got, attendanceID)
	if !slices.Equal(got, rows) {
		t.Errorf("got %+v\nwant %+v", got, rows)
	}
	assertNoHidden(t, dir)

	// Writing again replaces the folder whole.
	if err := writePartitioned(path, rows[:1], "year"); err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, path); !slices.Equal(got, []string{"year=2025/part-0.parquet"}) {
		t.Errorf("after rewrite: files %q", got)
	}
	assertNoHidden(t, dir)
}

func writePartitioned[T Record](path string, rows []T, by string) error {
	w, err := CreateTable[T](path, &WriteOptions{PartitionBy: by})
	if err != nil {
		return err
	}
	if _, err := w.Write(rows); err != nil {
		return errors.Join(err, w.Abort())
	}
	return w.Close()
}

// assertNoHidden fails if dir holds temporary files or folders.
func assertNoHidden(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestPartitionedManyOpen writes days of unsorted transactions, more
// partitions than a writer keeps open, so some partitions get a second
// part file; every row must come back.
func TestPartitionedManyOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transactions")
	var rows []Transaction
	for i := range 200 {
		d := (i * 7) % (2 * maxOpenPartitions) // revisits days after others
		rows = append(rows, Transaction{EventID: fmt.Sprintf("t%03d", i), MemberID: "m", Amount: int64(i), Kind: TxRetail,
			TS: time.Date(2025, 5, 1+d, 12, 0, 0, 0, time.UTC)})
	}
	w, err := CreateTable[Transaction](path, &WriteOptions{PartitionBy: "day", RowGroupRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows { // one row per call, the worst case
		if _, err := w.Write(rows[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := listFiles(t, path)
	if !slices.Contains(files, "year=2025/month=05/day=01/part-1.parquet") {
		t.Errorf("no second part for day 1 in %q", files)
	}
	got := readAllRows[Transaction](t, path, nil)
	sortByID(got, func(r *Transaction) string { return r.EventID })
	if !slices.Equal(got, rows) {
		t.Errorf("read back %d rows, want %d equal rows", len(got), len(rows))
	}
}

// TestPartitionedRead reads a folder as Spark or DuckDB leave it: marker
// files, hidden files, a _temporary folder, CSV and Parquet parts, partition
// keys that are not columns.
func TestPartitionedRead(t *testing.T) {
	dir := t.TempDir()
	rows := sampleAttendance()
	mustWrite := func(rel string, rows []Attendance) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := WriteAll(p, rows); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("year=2025/month=04/part-00000-abc.snappy.parquet", rows[2:])
	mustWrite("year=2025/month=03/part-00001.csv", rows[1:2])
	mustWrite("year=2025/month=03/part-00000.parquet", rows[:1])
	for _, junk := range []string{"_SUCCESS", "year=2025/month=03/.part-00000.parquet.crc", "_temporary/0/part-9.parquet", ".hidden/part-0.csv", "year=2025/_committed_1"} {
		p := filepath.Join(dir, filepath.FromSlash(junk))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := readAllRows[Attendance](t, dir, nil)
	if !slices.Equal(got, rows) {
		t.Errorf("got %+v\nwant %+v", got, rows)
	}

	// A bad file among the parts is reported with its own path.
	bad := filepath.Join(dir, "year=2025", "month=05", "part-0.parquet")
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("PAR1 truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadAll[Attendance](dir)
	if !errors.Is(err, ErrNotParquet) || !strings.Contains(err.Error(), bad) {
		t.Errorf("got %v, want ErrNotParquet naming %s", err, bad)
	}

	// An empty folder is an empty table.
	empty := t.TempDir()
	if got := readAllRows[Attendance](t, empty, nil); len(got) != 0 {
		t.Errorf("empty folder: %d rows", len(got))
	}
}

// TestPartitionedUnsupported: a file in a table folder that is neither
// Parquet nor CSV, nor a marker skipped by name, is an error naming it; it
// is never passed over with its rows.
func TestPartitionedUnsupported(t *testing.T) {
	for _, tc := range []struct{ name, hint string }{
		{"month=02/part-0.csv.gz", "decompress it"},
		{"000000_0", "without an extension"},
		{"month=02/part-0.json", "convert it"},
		{"README.txt", "convert it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			good := filepath.Join(dir, "month=01", "part-0.csv")
			os.MkdirAll(filepath.Dir(good), 0o755)
			if err := WriteAll(good, sampleAttendance()); err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(dir, filepath.FromSlash(tc.name))
			os.MkdirAll(filepath.Dir(bad), 0o755)
			if err := os.WriteFile(bad, []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := OpenTable[Attendance](dir, nil)
			if !errors.Is(err, ErrUnsupportedFile) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), tc.hint) ||
				!strings.Contains(err.Error(), "*.parquet and *.csv") {
				t.Errorf("got %v, want ErrUnsupportedFile naming %s, what is read and %q", err, bad, tc.hint)
			}
		})
	}
	// Several are counted.
	dir := t.TempDir()
	for _, name := range []string{"000000_0", "000001_0", "000002_0"} {
		os.WriteFile(filepath.Join(dir, name), []byte("data"), 0o644)
	}
	if _, err := OpenTable[Attendance](dir, nil); !errors.Is(err, ErrUnsupportedFile) || !strings.Contains(err.Error(), "and 2 other unsupported file(s)") {
		t.Errorf("three unsupported files: got %v", err)
	}
}

func TestPartitionByErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateTable[Member](filepath.Join(dir, "members"), &WriteOptions{PartitionBy: "month"}); err == nil {
		t.Error("partitioned members: no error")
	}
	if _, err := CreateTable[Attendance](filepath.Join(dir, "attendance"), &WriteOptions{PartitionBy: "week"}); err == nil {
		t.Error("PartitionBy week: no error")
	}
	if _, err := CreateTable[Attendance](filepath.Join(dir, "attendance.parquet"), &WriteOptions{PartitionBy: "month"}); err == nil {
		t.Error("partitioned path with extension: no error")
	}
	if _, err := CreateTable[Attendance](filepath.Join(dir, "attendance"), nil); err == nil {
		t.Error("path without extension nor PartitionBy: no error")
	}
	// A failed partitioned write leaves nothing.
	rows := sampleAttendance()
	rows[2].Source = Source(99)
	if err := writePartitioned(filepath.Join(dir, "attendance"), rows, "month"); !errors.Is(err, ErrUnknownValue) {
		t.Errorf("got %v, want ErrUnknownValue", err)
	}
	assertEmptyDir(t, dir)
}

// TestPosition reads a folder of a Parquet and a CSV file, each with a bad
// row, in reads of 2 rows, and checks that Position names the file and row
// of every good row (event ids say where each row was written).
func TestPosition(t *testing.T) {
	dir := t.TempDir()
	type row struct {
		EventID  string `parquet:"event_id"`
		MemberID string `parquet:"member_id"`
		TS       int64  `parquet:"ts,timestamp(microsecond)"`
		Duration int32  `parquet:"duration_min"`
		Source   string `parquet:"source"`
	}
	pq := filepath.Join(dir, "a.parquet")
	writeForeign(t, pq, []row{{"a1", "m", 0, 1, "pos"}, {"a2", "m", 0, 1, "pos"}, {"a3", "m", 0, 1, "kiosk"}, {"a4", "m", 0, 1, "pos"}, {"a5", "m", 0, 1, "pos"}})
	csvPath := filepath.Join(dir, "b.csv")
	text := "event_id,member_id,ts,duration_min,source\n" +
		"b1,m,2025-01-01T00:00:00Z,1,app\nb2,m,2025-01-01T00:00:00Z,x,app\nb3,m,2025-01-01T00:00:00Z,1,app\n"
	if err := os.WriteFile(csvPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenTable[Attendance](dir, &ReadOptions{BatchRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]Attendance, 2)
	var got []string
	for {
		n, err := r.Read(buf)
		file, first := Position(r)
		for i := range n {
			got = append(got, fmt.Sprintf("%s %s:%d", buf[i].EventID, filepath.Base(file), first+int64(i)))
		}
		if err == io.EOF {
			break
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			t.Fatal(err)
		}
	}
	want := []string{"a1 a.parquet:1", "a2 a.parquet:2", "a4 a.parquet:4", "a5 a.parquet:5", "b1 b.csv:1", "b3 b.csv:3"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
