package features

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"retain/datasets"
)

// writeTable writes rows to dir/name (CSV or Parquet by the extension).
func writeTable[T datasets.Record](t *testing.T, dir, name string, rows []T) {
	t.Helper()
	w, err := datasets.CreateTable[T](filepath.Join(dir, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeSynthDir writes the small synthetic data set, with the extra rows
// appended to its tables, as a CSV dataset directory.
func writeSynthDir(t *testing.T, courses []datasets.Course, att []datasets.Attendance, tx []datasets.Transaction) string {
	t.Helper()
	s := loadSmallSynth(t)
	src := s.source()
	dir := t.TempDir()
	writeTable(t, dir, "members.csv", src.MemberRows)
	writeTable(t, dir, "courses.csv", append(slices.Clip(src.CourseRows), courses...))
	writeTable(t, dir, "attendance.csv", append(slices.Clip(src.AttendanceRows), att...))
	writeTable(t, dir, "transactions.csv", append(slices.Clip(src.TransactionRows), tx...))
	if err := datasets.WriteManifest(dir, src.Man); err != nil {
		t.Fatal(err)
	}
	return dir
}

// badRows returns rows that parse but break a rule of retain validate,
// each naming the column at fault, against member m of the synthetic set:
// the reviewer's list (a negative retail amount, an absurd amount, a
// negative and an absurd duration, an event before the member joined, a
// timestamp in 2031) and a course with weekday 9.
func badRows(m datasets.Member) (courses []datasets.Course, att []datasets.Attendance, tx []datasets.Transaction, cols []string) {
	ts := m.JoinedAt.AddDate(0, 0, 10)
	courses = []datasets.Course{{CourseID: "bad-course", Name: "Bad", Category: "yoga", Weekday: 9}}
	att = []datasets.Attendance{
		{EventID: "bad-a1", MemberID: m.MemberID, TS: ts, DurationMin: -5, Source: datasets.SourceApp},
		{EventID: "bad-a2", MemberID: m.MemberID, TS: ts, DurationMin: 99999, Source: datasets.SourceApp},
		{EventID: "bad-a3", MemberID: m.MemberID, TS: m.JoinedAt.AddDate(0, 0, -3), DurationMin: 60, Source: datasets.SourceApp},
		{EventID: "bad-a4", MemberID: m.MemberID, TS: time.Date(2031, 1, 1, 10, 0, 0, 0, time.UTC), DurationMin: 60, Source: datasets.SourceApp},
	}
	tx = []datasets.Transaction{
		{EventID: "bad-t1", MemberID: m.MemberID, TS: ts, Amount: -500, Kind: datasets.TxRetail},
		{EventID: "bad-t2", MemberID: m.MemberID, TS: ts, Amount: 999999999999, Kind: datasets.TxRetail},
	}
	cols = []string{"courses.csv: row ", ", column weekday",
		"attendance.csv: row ", ", column duration_min", ", column ts",
		"transactions.csv: row ", ", column amount"}
	return
}

// TestBuildChecksRows: Build over CheckedDirSource rejects the rows that
// retain validate rejects, counts them and names file, row and column in
// the samples; the training file is the one of the data without them.
// With Strict the first one fails the build. The rows once went into the
// features unchecked ("rejected 0").
func TestBuildChecksRows(t *testing.T) {
	s := loadSmallSynth(t)
	courses, att, tx, cols := badRows(s.sink.MemberRows[0])
	bad := writeSynthDir(t, courses, att, tx)
	clean := writeSynthDir(t, nil, nil, nil)

	d, err := datasets.OpenDir(bad)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := datasets.CheckDir(d, nil, func(*datasets.RowError) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	var validateBad int64
	for _, c := range counts {
		validateBad += c.Bad
	}
	want := int64(len(courses) + len(att) + len(tx))
	if validateBad != want {
		t.Fatalf("CheckDir finds %d bad rows, want %d", validateBad, want)
	}

	cfg := s.config()
	outBad, outClean := filepath.Join(t.TempDir(), "bad.rtfs"), filepath.Join(t.TempDir(), "clean.rtfs")
	rep, err := BuildDir(bad, cfg, outBad, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != validateBad || len(rep.RejectedSamples) != int(want) {
		t.Errorf("rejected %d, %d samples; want %d, as retain validate", rep.Rejected, len(rep.RejectedSamples), validateBad)
	}
	all := strings.Join(rep.RejectedSamples, "\n")
	for _, c := range cols {
		if !strings.Contains(all, c) {
			t.Errorf("samples lack %q:\n%s", c, all)
		}
	}
	if _, err := BuildDir(clean, cfg, outClean, nil); err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(outBad)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(outClean)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the training file with the bad rows rejected differs from the one without them")
	}

	_, err = BuildDir(bad, cfg, outBad, &BuildOptions{Strict: true})
	var re *datasets.RowError
	if !errors.As(err, &re) || re.Column == "" || re.Row == 0 {
		t.Errorf("strict build: %v, want a *datasets.RowError naming row and column", err)
	}

	// Leave-last-week-out reads the same checked source.
	lw := cfg
	lw.Split.Mode = SplitModeLastWeek
	lrep, err := BuildLastWeekOut(CheckedDirSource(d, nil, nil), lw, filepath.Join(t.TempDir(), "lw.rtfs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if int64(lrep.Rejected) != validateBad {
		t.Errorf("leave-last-week-out: rejected %d, want %d", lrep.Rejected, validateBad)
	}
}

// TestReadAsOfChecksRows: batch scoring's read (ReadAsOf, which reads no
// courses table) over CheckedDirSource skipping the source column rejects
// the same rows, the bad course included.
func TestReadAsOfChecksRows(t *testing.T) {
	s := loadSmallSynth(t)
	courses, att, tx, cols := badRows(s.sink.MemberRows[0])
	att = append(att, datasets.Attendance{EventID: "source-only", MemberID: s.sink.MemberRows[0].MemberID,
		TS: s.sink.MemberRows[0].JoinedAt.AddDate(0, 0, 11), DurationMin: 30, Source: 0}) // a fault in a skipped column
	d, err := datasets.OpenDir(writeSynthDir(t, courses, att, tx))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := NewSpec(s.config(), s.sink.CourseRows, []string{s.sink.MemberRows[0].HomeClub})
	if err != nil {
		t.Fatal(err)
	}
	end := s.cfg.End()
	src := CheckedDirSource(d, &datasets.ReadOptions{SkipColumns: []string{"source"}}, nil)
	a, err := ReadAsOf(src, spec, end, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := a.Report()
	if want := int64(len(courses) + len(att) - 1 + len(tx)); rep.Rejected != want {
		t.Errorf("rejected %d, want %d:\n%s", rep.Rejected, want, strings.Join(rep.RejectedSamples, "\n"))
	}
	all := strings.Join(rep.RejectedSamples, "\n")
	for _, c := range cols {
		if !strings.Contains(all, c) {
			t.Errorf("samples lack %q:\n%s", c, all)
		}
	}
	if _, err := ReadAsOf(src, spec, end, end, &AsOfOptions{Strict: true}); err == nil {
		t.Error("strict read: no error")
	}
}
