package datasets

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestQuarantineGolden quarantines the row errors of a small dirty CSV
// table and of a Checker, and compares the file with
// testdata/quarantine.golden.csv (go test -run TestQuarantineGolden -update
// rewrites it).
func TestQuarantineGolden(t *testing.T) {
	const text = "event_id,member_id,ts,course_id,duration_min,source\n" +
		"e1,m1,2025-03-01T10:00:00Z,c1,60,pos\n" +
		"e2,m1,2025-03-01 10:00,c1,60,pos\n" + // bad timestamp
		"e3,\"m\n1\",2025-03-01T10:00:00Z,,sixty,app\n" + // bad number after a two-line field
		"e4,m404,2025-03-02T10:00:00Z,,30,app\n" + // unknown member
		"e1,m1,2025-03-03T10:00:00Z,,30,manual\n" + // duplicate event
		"e5,m1,2025-03-03T10:00:00Z,,30,kiosk\n" // unknown source
	r, err := newCSVReader[Attendance]("attendance.csv", strings.NewReader(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(&CheckOptions{Now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err := c.Member("members.csv", 1, &sampleMembers()[0]); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "quarantine.csv")
	q, err := NewQuarantine(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]Attendance, 4)
	for {
		n, err := r.Read(buf)
		file, first := Position[Attendance](r)
		for i := range n {
			if err := c.Attendance(file, first+int64(i), &buf[i]); err != nil {
				var re *RowError
				if !errors.As(err, &re) {
					t.Fatal(err)
				}
				if err := q.Add(re); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err == io.EOF {
			break
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			t.Fatal(err)
		}
		if re != nil {
			if err := q.Add(re); err != nil {
				t.Fatal(err)
			}
		}
	}
	if q.Count() != 5 {
		t.Errorf("Count() = %d, want 5", q.Count())
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("quarantine visible before Close")
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "quarantine.golden.csv")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("quarantine file differs from %s:\n%s\nwant\n%s", golden, got, want)
	}
}

func TestQuarantineAbort(t *testing.T) {
	dir := t.TempDir()
	q, err := NewQuarantine(filepath.Join(dir, "q.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Add(&RowError{File: "f", Row: 1, Err: ErrMissing}); err != nil {
		t.Fatal(err)
	}
	if err := q.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, dir)
}
