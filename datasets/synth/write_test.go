package synth

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"retain/datasets"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.Members = 300
	cfg.Weeks = 40
	cfg.TruthCutoffs = nil
	cfg.TruthEvery = 8
	cfg.TruthSims = 40
	return cfg
}

func readTable[T datasets.Record](t *testing.T, d *datasets.Dir) []T {
	t.Helper()
	r, err := datasets.OpenDirTable[T](d, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []T
	buf := make([]T, 1000)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteDirRoundTrip writes a small data set and reads it back through
// the datasets API: every table equals what Generate delivers, the manifest
// says what it should, and the truth file reads back to the same rows
// (probabilities to the written precision).
func TestWriteDirRoundTrip(t *testing.T) {
	for _, format := range []string{"parquet", "csv"} {
		t.Run(format, func(t *testing.T) {
			gz := format == "csv" // and a compressed truth file
			cfg := smallConfig()
			var mem MemorySink
			want, err := Generate(cfg, &mem)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "data")
			got, err := WriteDir(cfg, dir, &WriteOptions{Format: format, GzipTruth: gz})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("WriteDir summary differs from Generate's")
			}
			d, err := datasets.OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			m := d.Manifest()
			if m.Version != 1 || m.Currency != "EUR" || m.MinorUnits != 2 || !m.Start.Equal(cfg.Start) || !m.End.Equal(cfg.End()) ||
				!strings.HasPrefix(m.Source, "synth seed=1 ") {
				t.Errorf("manifest %+v", m)
			}
			eqRows(t, "members", readTable[datasets.Member](t, d), mem.MemberRows)
			eqRows(t, "courses", readTable[datasets.Course](t, d), mem.CourseRows)
			eqRows(t, "attendance", readTable[datasets.Attendance](t, d), mem.AttendanceRows)
			eqRows(t, "transactions", readTable[datasets.Transaction](t, d), mem.TransactionRows)

			name := TruthFile
			if gz {
				name += ".gz"
			}
			truth, err := ReadTruthFile(filepath.Join(dir, TruthDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(truth) != len(mem.TruthRows) || len(truth) == 0 {
				t.Fatalf("%d truth rows read, %d generated", len(truth), len(mem.TruthRows))
			}
			for i := range truth {
				if !truthClose(truth[i], mem.TruthRows[i]) {
					t.Fatalf("truth row %d: read %+v, generated %+v", i, truth[i], mem.TruthRows[i])
				}
			}
			if _, err := os.Stat(filepath.Join(dir, TruthDir, TruthMetaFile)); err != nil {
				t.Error(err)
			}
			// Nothing else next to dir: the staging directory is gone.
			ents, _ := os.ReadDir(filepath.Dir(dir))
			if len(ents) != 1 {
				t.Errorf("%d entries next to the data set, want 1", len(ents))
			}
		})
	}
}

func eqRows[T any](t *testing.T, name string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows read, %d generated", name, len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s row %d: read %+v, generated %+v", name, i, got[i], want[i])
		}
	}
}

func truthClose(a, b Truth) bool {
	// 4 significant digits are written for ChurnSE and NextCategory.
	close := func(x, y float64) bool { return x == y || math.Abs(x-y) <= 5e-4*math.Max(math.Abs(y), 1e-3) }
	if a.MemberID != b.MemberID || !a.Cutoff.Equal(b.Cutoff) || a.Alive != b.Alive || a.Churned != b.Churned || a.Sims != b.Sims ||
		!close(a.ChurnProb, b.ChurnProb) || !close(a.ChurnSE, b.ChurnSE) || !close(a.PNoClass, b.PNoClass) ||
		len(a.NextCategory) != len(b.NextCategory) {
		return false
	}
	for k := range a.NextCategory {
		if !close(a.NextCategory[k], b.NextCategory[k]) {
			return false
		}
	}
	return true
}

// TestWriteDirReproducible: the same Config writes byte-identical files,
// whatever the number of workers.
func TestWriteDirReproducible(t *testing.T) {
	tmp := t.TempDir()
	cfg := smallConfig()
	cfg.Workers = 1
	if _, err := WriteDir(cfg, filepath.Join(tmp, "a"), nil); err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 3
	if _, err := WriteDir(cfg, filepath.Join(tmp, "b"), nil); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(filepath.Join(tmp, "a"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(tmp, "a"), p)
			files = append(files, rel)
		}
		return err
	})
	if len(files) != 7 {
		t.Errorf("files %v, want the manifest, 4 tables and 2 truth files", files)
	}
	for _, f := range files {
		a, err1 := os.ReadFile(filepath.Join(tmp, "a", f))
		b, err2 := os.ReadFile(filepath.Join(tmp, "b", f))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", f)
		}
	}
}

// TestWriteDirAtomic: a failure in the middle leaves no trace, and an
// existing data set is neither touched by a refused nor by a failed run.
func TestWriteDirAtomic(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	cfg := smallConfig()
	cfg.Members = 3 * chunkSize

	testHookSink = func(s Sink) Sink { return &errSink{Sink: s, n: 1} }
	_, err := WriteDir(cfg, dir, nil)
	testHookSink = nil
	if !errors.Is(err, errBoom) {
		t.Fatalf("got %v, want the sink's error", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("a failed WriteDir left %v", ents)
	}

	if _, err := WriteDir(cfg, dir, nil); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	if _, err := WriteDir(cfg, dir, nil); err == nil {
		t.Error("WriteDir into a non-empty directory without Overwrite succeeded")
	}
	testHookSink = func(s Sink) Sink { return &errSink{Sink: s, n: 1} }
	_, err = WriteDir(cfg, dir, &WriteOptions{Overwrite: true})
	testHookSink = nil
	if err == nil {
		t.Fatal("the failing sink did not fail")
	}
	if after := snapshot(t, dir); !reflect.DeepEqual(before, after) {
		t.Error("a failed overwrite changed the existing data set")
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Errorf("entries %v left next to the data set", ents)
	}
	cfg.Seed = 2
	if _, err := WriteDir(cfg, dir, &WriteOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, dir); reflect.DeepEqual(before, after) {
		t.Error("an overwrite with another seed left the data set unchanged")
	}
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSummaryGolden pins the summary of a small data set. Any change to the
// simulation changes it; rerun with -update after a deliberate change and
// review the diff.
func TestSummaryGolden(t *testing.T) {
	cfg := smallConfig()
	sum, err := Generate(cfg, Discard)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := sum.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "summary_small.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("summary differs from %s (rerun with -update after a deliberate change):\ngot:\n%s\nwant:\n%s", golden, b.Bytes(), want)
	}
}

func TestTruthCSVRoundTrip(t *testing.T) {
	rows := []Truth{
		{MemberID: "M000001", Cutoff: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)},
		{MemberID: "M000002", Cutoff: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC), Alive: true, Churned: true, ChurnProb: 1, PNoClass: 1},
		{MemberID: "M000003", Cutoff: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC), Alive: true, Sims: 200, ChurnProb: 0.035,
			ChurnSE: 0.013, PNoClass: 0.5, NextCategory: []float64{0.5, 0.25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.125, 0.125}},
	}
	var b bytes.Buffer
	if err := WriteTruth(&b, rows); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTruth(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Errorf("read %+v\nwant %+v", got, rows)
	}
}

func TestReadTruthErrors(t *testing.T) {
	hdr := strings.Join(TruthColumns(), ",") + "\n"
	empty14 := strings.Repeat(",", 14)
	for _, tc := range []struct {
		name, in string
		line     int
		col      string
	}{
		{"empty", "", 1, ""},
		{"bad header", "member_id,cutoff\n", 1, ""},
		{"bad cutoff", hdr + "M1,2024-07-01,false,false,0,,," + empty14 + "\n", 2, "cutoff"},
		{"bad bool", hdr + "M1,2024-07-01T00:00:00Z,yes,false,0,,," + empty14 + "\n", 2, "alive"},
		{"prob > 1", hdr + "M1,2024-07-01T00:00:00Z,true,false,10,1.5,0,1" + empty14 + "\n", 2, "churn_prob"},
		{"dead with values", hdr + "M1,2024-07-01T00:00:00Z,false,false,0,0.5,," + empty14 + "\n", 2, "churn_prob"},
		{"sum not 1", hdr + "M1,2024-07-01T00:00:00Z,true,false,10,0.5,0.1,0.2,0.5" + strings.Repeat(",0", 13) + "\n", 2, ""},
		{"short row", hdr + "M1,2024-07-01T00:00:00Z\n", 2, ""},
	} {
		_, err := ReadTruth(strings.NewReader(tc.in))
		var te *TruthError
		if !errors.As(err, &te) || !errors.Is(err, ErrTruthFormat) {
			t.Errorf("%s: got %v, want a *TruthError wrapping ErrTruthFormat", tc.name, err)
			continue
		}
		if te.Line != tc.line || te.Column != tc.col {
			t.Errorf("%s: error at line %d column %q, want line %d column %q (%v)", tc.name, te.Line, te.Column, tc.line, tc.col, err)
		}
	}
}

func FuzzReadTruth(f *testing.F) {
	var b bytes.Buffer
	WriteTruth(&b, []Truth{{MemberID: "M000003", Cutoff: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC), Alive: true, Sims: 4,
		ChurnProb: 0.25, ChurnSE: 0.2165, PNoClass: 0.5, NextCategory: []float64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}})
	f.Add(b.String())
	f.Add(strings.Join(TruthColumns(), ",") + "\nM1,2024-07-01T00:00:00Z,false,false,0" + strings.Repeat(",", 17) + "\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := ReadTruth(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrTruthFormat) {
				t.Fatalf("error %v does not wrap ErrTruthFormat", err)
			}
			return
		}
		// What was read writes and reads back to the same rows.
		var out bytes.Buffer
		if err := WriteTruth(&out, rows); err != nil {
			t.Fatal(err)
		}
		again, err := ReadTruth(&out)
		if err != nil {
			t.Fatalf("rewritten file does not read: %v", err)
		}
		if len(again) != len(rows) {
			t.Fatalf("%d rows, then %d", len(rows), len(again))
		}
		for i := range rows {
			if !truthClose(rows[i], again[i]) {
				t.Fatalf("row %d: %+v, then %+v", i, rows[i], again[i])
			}
		}
	})
}
