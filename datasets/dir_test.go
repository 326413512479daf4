package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOpenDir(t *testing.T) {
	dir := t.TempDir()
	if err := WriteAll(filepath.Join(dir, "members.csv"), sampleMembers()); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(dir); !errors.Is(err, ErrTableNotFound) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "attendance") {
		t.Fatalf("without attendance: got %v, want ErrTableNotFound naming %s and attendance", err, dir)
	}
	if err := writePartitioned(filepath.Join(dir, "attendance"), sampleAttendance(), "month"); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := d.Manifest(); !reflect.DeepEqual(m, Manifest{}) {
		t.Errorf("manifest without dataset.json: %+v, want zero", m)
	}
	if p, err := d.Path(TableAttendance); err != nil || p != filepath.Join(dir, "attendance") {
		t.Errorf("Path(attendance) = %q, %v", p, err)
	}
	if _, err := d.Path(TableCourses); !errors.Is(err, ErrTableNotFound) {
		t.Errorf("Path(courses): got %v, want ErrTableNotFound", err)
	}
	if _, err := OpenDirTable[Transaction](d, nil); !errors.Is(err, ErrTableNotFound) {
		t.Errorf("OpenDirTable[Transaction]: got %v, want ErrTableNotFound", err)
	}
	r, err := OpenDirTable[Member](d, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, errs := drain[Member](t, r)
	r.Close()
	if len(errs) > 0 || len(got) != len(sampleMembers()) {
		t.Errorf("members: %d rows, errors %v", len(got), errs)
	}

	// Two candidates for one table are ambiguous.
	if err := WriteAll(filepath.Join(dir, "members.parquet"), sampleMembers()); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("members.csv and members.parquet: got %v, want ambiguous", err)
	}
	if _, err := OpenDir(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing directory: no error")
	}
}

// TestOpenDirUnsupported: an entry named like a table that is not one of
// its forms is an error naming it, not a table passed over as absent.
func TestOpenDirUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  bool
		hint string
	}{
		{"transactions.csv.gz", false, "decompress it"},
		{"courses.json", false, "convert it"},
		{"Transactions.CSV", false, "lower case"},
		{"courses", false, "without extension"},
		{"courses.csv", true, "is a folder"},
		{"attendance.csv.gz", false, "decompress it"}, // next to attendance.csv
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteAll(filepath.Join(dir, "members.csv"), sampleMembers()); err != nil {
				t.Fatal(err)
			}
			if err := WriteAll(filepath.Join(dir, "attendance.csv"), sampleAttendance()); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, tc.name)
			var err error
			if tc.dir {
				err = os.Mkdir(p, 0o755)
			} else {
				err = os.WriteFile(p, []byte("data"), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = OpenDir(dir)
			if !errors.Is(err, ErrUnsupportedFile) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("got %v, want ErrUnsupportedFile naming %s and %q", err, p, tc.hint)
			}
		})
	}
	// Hidden files and other names are not tables.
	dir := t.TempDir()
	if err := WriteAll(filepath.Join(dir, "members.csv"), sampleMembers()); err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(filepath.Join(dir, "attendance.csv"), sampleAttendance()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".transactions.csv.gz", "_courses.json", "quarantine.csv", "members_old.csv", ManifestFile} {
		os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o644)
	}
	if _, err := OpenDir(dir); err != nil {
		t.Errorf("other names: %v", err)
	}
}

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	m := Manifest{Version: 1, Currency: "EUR", MinorUnits: 2, Start: day(2023, 1, 1), End: time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC),
		Source: "synth seed=1", Notes: map[string]string{"clubs": "3"}}
	if err := WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": 1,
  "currency": "EUR",
  "minor_units": 2,
  "start": "2023-01-01T00:00:00Z",
  "end": "2024-12-31T23:59:59Z",
  "source": "synth seed=1",
  "notes": {
    "clubs": "3"
  }
}
`
	if string(b) != want {
		t.Errorf("dataset.json:\n%s\nwant\n%s", b, want)
	}
	for _, name := range []string{"members.parquet", "attendance.parquet"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Manifest(); !reflect.DeepEqual(got, m) {
		t.Errorf("read back %+v, want %+v", got, m)
	}
	assertNoHidden(t, dir)

	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"version": "one"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ManifestFile)) {
		t.Errorf("malformed manifest: got %v, want an error naming the file", err)
	}
}

func TestAtomicWrite(t *testing.T) {
	for _, ext := range []string{".parquet", ".csv"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "attendance"+ext)
			// Abort leaves nothing.
			w, err := CreateTable[Attendance](p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(sampleAttendance()); err != nil {
				t.Fatal(err)
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Close after Abort: %v", err)
			}
			assertEmptyDir(t, dir)

			// An existing table is replaced only by a successful Close.
			if err := WriteAll(p, sampleAttendance()[:1]); err != nil {
				t.Fatal(err)
			}
			w, err = CreateTable[Attendance](p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(sampleAttendance()); err != nil {
				t.Fatal(err)
			}
			if got, err := ReadAll[Attendance](p); err != nil || len(got) != 1 {
				t.Errorf("before Close: %d rows, %v; want the old single row", len(got), err)
			}
			bad := sampleAttendance()[:1]
			bad[0].Source = 42
			if _, err := w.Write(bad); !errors.Is(err, ErrUnknownValue) {
				t.Errorf("writing source 42: got %v, want ErrUnknownValue", err)
			}
			if err := w.Close(); err == nil {
				t.Error("Close after a failed Write: no error")
			}
			if got, err := ReadAll[Attendance](p); err != nil || len(got) != 1 {
				t.Errorf("after failed write: %d rows, %v; want the old single row", len(got), err)
			}
			assertNoHidden(t, dir)
		})
	}
}
