package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSkipColumns reads the sample attendance with event_id and source
// skipped, from Parquet, CSV and a partitioned folder: the skipped fields
// must read as zero values and every other field as written.
func TestSkipColumns(t *testing.T) {
	dir := t.TempDir()
	rows := sampleAttendance()
	// The expected rows are the written ones with the skipped fields
	// cleared by hand.
	want := sampleAttendance()
	for i := range want {
		want[i].EventID, want[i].Source = "", 0
	}
	opts := &ReadOptions{SkipColumns: []string{"event_id", "source", "no_such_column"}}
	paths := []string{filepath.Join(dir, "a.parquet"), filepath.Join(dir, "a.csv")}
	for _, p := range paths {
		if err := WriteAll(p, rows); err != nil {
			t.Fatal(err)
		}
	}
	part := filepath.Join(dir, "part")
	w, err := CreateTable[Attendance](part, &WriteOptions{PartitionBy: "month"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, part)
	for _, p := range paths {
		got := readAllRows[Attendance](t, p, opts)
		// The sample rows are in TS order, so the partitioned read keeps
		// their order.
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", filepath.Base(p), got, want)
		}
		if all := readAllRows[Attendance](t, p, nil); !reflect.DeepEqual(all, rows) {
			t.Errorf("%s without skip: got %+v, want %+v", filepath.Base(p), all, rows)
		}
	}
}

// TestSkipColumnsSchema checks that a skipped required column may be
// absent, and that a required column that is read must still be present.
func TestSkipColumnsSchema(t *testing.T) {
	dir := t.TempDir()
	// No event_id column: an error unless event_id is skipped.
	csvNoID := "member_id,ts,course_id,duration_min,source\nm1,2025-03-01T18:30:00Z,c1,55,pos\n"
	p := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(p, []byte(csvNoID), 0o644); err != nil {
		t.Fatal(err)
	}
	type pqNoID struct {
		MemberID    string `parquet:"member_id"`
		TS          int64  `parquet:"ts,timestamp(microsecond)"`
		DurationMin int64  `parquet:"duration_min"`
		Source      string `parquet:"source"`
	}
	q := filepath.Join(dir, "a.parquet")
	writeForeign(t, q, []pqNoID{{MemberID: "m1", TS: 1740853800000000, DurationMin: 55, Source: "pos"}})
	for _, path := range []string{p, q} {
		if _, err := OpenTable[Attendance](path, nil); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "event_id") {
			t.Errorf("%s without skip: got %v, want a missing event_id error wrapping ErrSchema", filepath.Base(path), err)
		}
		got := readAllRows[Attendance](t, path, &ReadOptions{SkipColumns: []string{"event_id"}})
		if len(got) != 1 || got[0].MemberID != "m1" || got[0].EventID != "" || got[0].TS.Unix() != 1740853800 || got[0].DurationMin != 55 || got[0].Source != SourcePOS {
			t.Errorf("%s with event_id skipped: got %+v", filepath.Base(path), got)
		}
		// The required columns that are read are still checked: amount
		// and kind are missing.
		_, err := OpenTable[Transaction](path, &ReadOptions{SkipColumns: []string{"event_id"}})
		if !errors.Is(err, ErrSchema) {
			t.Errorf("%s as transactions: got %v, want ErrSchema (amount, kind missing)", filepath.Base(path), err)
		}
	}
}
