package datasets

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestCheckDir checks that CheckDir reports each bad row with the file and
// row it came from, also when the table is a folder of partitions, and that
// it counts every row.
func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	day := func(m, d int) time.Time { return time.Date(2025, time.Month(m), d, 10, 0, 0, 0, time.UTC) }
	members := []Member{
		{MemberID: "M1", JoinedAt: day(1, 5), HomeClub: "north", ContractType: ContractMonthly, ContractStart: Date(day(1, 5))},
		{MemberID: "M2", JoinedAt: day(2, 1), HomeClub: "north", ContractType: ContractAnnual, ContractStart: Date(day(2, 1))},
	}
	if err := WriteAll(filepath.Join(dir, "members.parquet"), members); err != nil {
		t.Fatal(err)
	}
	// January and March partitions. Bad rows: M9 is unknown (March file,
	// row 1); M2 visits before joining (January file, row 2); A1 repeats in
	// March (row 2).
	att := []Attendance{
		{EventID: "A1", MemberID: "M1", TS: day(1, 10), DurationMin: 60, Source: SourcePOS},
		{EventID: "A2", MemberID: "M2", TS: day(1, 20), DurationMin: 60, Source: SourcePOS},
		{EventID: "A3", MemberID: "M9", TS: day(3, 2), DurationMin: 60, Source: SourceApp},
		{EventID: "A1", MemberID: "M1", TS: day(3, 3), DurationMin: 60, Source: SourceApp},
		{EventID: "A4", MemberID: "M1", TS: day(3, 4), DurationMin: 60, Source: SourceApp},
	}
	w, err := CreateTable[Attendance](filepath.Join(dir, "attendance"), &WriteOptions{PartitionBy: "month"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(att); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []*RowError
	counts, err := CheckDir(d, &CheckOptions{Now: day(12, 31)}, func(e *RowError) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("CheckDir: %v", err)
	}
	want := []struct {
		file string
		row  int64
		err  error
	}{
		{filepath.Join("year=2025", "month=01"), 2, ErrBeforeJoin},
		{filepath.Join("year=2025", "month=03"), 1, ErrUnknownMember},
		{filepath.Join("year=2025", "month=03"), 2, ErrDuplicateEvent},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d bad rows, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if filepath.Base(filepath.Dir(g.File)) != filepath.Base(w.file) || g.Row != w.row || !errors.Is(g, w.err) {
			t.Errorf("bad row %d = %v, want file under %s, row %d, %v", i, g, w.file, w.row, w.err)
		}
	}
	var rows, bad int64
	for _, c := range counts {
		rows += c.Rows
		bad += c.Bad
	}
	if rows != 7 || bad != 3 {
		t.Errorf("counted %d rows, %d bad; want 7 rows (2 members + 5 visits), 3 bad", rows, bad)
	}
}

// TestCheckDirStops checks that an error from onBad stops the check.
func TestCheckDirStops(t *testing.T) {
	dir := t.TempDir()
	if err := WriteAll(filepath.Join(dir, "members.csv"), []Member{{MemberID: "M1", JoinedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), HomeClub: "x", ContractType: ContractMonthly, ContractStart: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(filepath.Join(dir, "attendance.csv"), []Attendance{
		{EventID: "A1", MemberID: "nobody", TS: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), DurationMin: 5, Source: SourcePOS},
		{EventID: "A2", MemberID: "nobody", TS: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), DurationMin: 5, Source: SourcePOS},
	}); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	_, err = CheckDir(d, nil, func(*RowError) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("CheckDir = %v after %d calls, want stop after 1", err, calls)
	}
}

// TestCheckTableKeep checks that CheckTable hands the good rows of each
// batch to keep, in order and without the rejected ones, that a missing
// table is ErrTableNotFound, and that an error from keep stops it.
func TestCheckTableKeep(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var members []Member
	// Row 3 has no member_id (the CSV reader rejects it); row 5 has a
	// birth year before 1900 (the Checker rejects it).
	for i, id := range []string{"M1", "M2", "", "M4", "M5", "M6"} {
		m := Member{MemberID: id, JoinedAt: day, HomeClub: "x", ContractType: ContractMonthly, ContractStart: day}
		if i == 4 {
			m.BirthYear = 1800
		}
		members = append(members, m)
	}
	if err := WriteAll(filepath.Join(dir, "members.csv"), members); err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(filepath.Join(dir, "attendance.csv"), []Attendance{}); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(&CheckOptions{Now: day.AddDate(1, 0, 0)})
	var batches [][]string
	var bad []int64
	tc, err := CheckTable(d, nil, 2, c.Member,
		func(e *RowError) error { bad = append(bad, e.Row); return nil },
		func(rows []Member) error {
			var ids []string
			for _, m := range rows {
				ids = append(ids, m.MemberID)
			}
			batches = append(batches, ids)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	// Reads of 2 rows: M1 M2; the reader's error on row 3 (no rows kept);
	// M4 and M5, of which M5 fails; M6.
	if fmt.Sprint(batches) != "[[M1 M2] [M4] [M6]]" || fmt.Sprint(bad) != "[3 5]" || tc.Rows != 6 || tc.Bad != 2 {
		t.Errorf("batches %v, bad rows %v, count %+v; want [[M1 M2] [M4] [M6]], [3 5], 6 rows 2 bad", batches, bad, tc)
	}

	if _, err := CheckTable(d, nil, 0, NewChecker(nil).Course, func(*RowError) error { return nil }, nil); !errors.Is(err, ErrTableNotFound) {
		t.Errorf("CheckTable of a missing courses table = %v, want ErrTableNotFound", err)
	}

	stop := errors.New("stop")
	calls := 0
	_, err = CheckTable(d, nil, 2, NewChecker(&CheckOptions{Now: day.AddDate(1, 0, 0)}).Member,
		func(*RowError) error { return nil },
		func([]Member) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("CheckTable = %v after %d keeps, want stop after 1", err, calls)
	}
}
