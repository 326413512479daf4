package mapping

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"retain/datasets"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// fixedNow is "now" in the tests, so that the future timestamp of the
// fixture (2031) is in the future and the rest is not.
var fixedNow = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

var posInputs = []string{
	"testdata/pos/mitglieder.csv",
	"testdata/pos/kurse.csv",
	"testdata/pos/kasse_2024-03.csv",
	"testdata/pos/checkins.tsv",
}

func loadPOS(t *testing.T) *Mapping {
	t.Helper()
	m, err := Load("testdata/pos/studio_nord.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// golden compares got with the golden file testdata/pos/golden/name, or
// rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "pos", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func checkInvariant(t *testing.T, r *Report) {
	t.Helper()
	if r.Rows != r.Imported+r.Rejected+r.Cancelled+r.Duplicates {
		t.Errorf("rows %d != imported %d + rejected %d + cancelled %d + duplicates %d", r.Rows, r.Imported, r.Rejected, r.Cancelled, r.Duplicates)
	}
	n := 0
	for _, c := range r.ByReason {
		n += c
	}
	if n != r.Rejected {
		t.Errorf("ByReason sums to %d, Rejected is %d", n, r.Rejected)
	}
}

// TestImportPOSSkip imports the messy Studio Nord export with the skip
// policy. The expected counts were worked out by hand from the fixture:
//
//	mitglieder.csv   6 rows, all good
//	kurse.csv        3 rows, all good
//	kasse_2024-03    22 rows: 8 imported (rows 1 2 4 7 9 12 17 21);
//	                 11 rejected: 3 blank member id, 5 negative quantity,
//	                 10 future date, 11 unknown article "Gutschein",
//	                 13 unknown member K099, 14 K006 before joining,
//	                 16 third date layout, 18 price "abc",
//	                 19 1.234.567,00 absurd, 20 event B1001 again,
//	                 22 price NaN; 2 cancelled (6 STORNIERT, 15 VOID);
//	                 1 duplicate (8 = 7)
//	checkins.tsv     10 rows: 6 imported (1 2 3 4 7 9); 3 rejected:
//	                 5 K006 before joining, 6 duration "abc",
//	                 8 unknown course C-BOX; 1 duplicate (10 = 9)
//
// Amounts: 49,90 + 2*2,50 + 450,00 + 120,00 + 3*3,90 - 8,00 (return)
// + 3,895 (389.5 cents, rounded half away from zero to 390) + 2*3,90
// = 4990 + 500 + 45000 + 12000 + 1170 - 800 + 390 + 780 = 64030 cents.
func TestImportPOSSkip(t *testing.T) {
	m := loadPOS(t)
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Import(m, posInputs, out, &Options{OnBadRow: Skip, Now: fixedNow, Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, rep)
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"rows", rep.Rows, 41},
		{"imported", rep.Imported, 23},
		{"members", rep.Members, 6},
		{"courses", rep.Courses, 3},
		{"visits", rep.Visits, 6},
		{"transactions", rep.Transactions, 8},
		{"rejected", rep.Rejected, 14},
		{"cancelled", rep.Cancelled, 2},
		{"duplicates", rep.Duplicates, 2},
		{"duplicates kept", rep.DuplicatesKept, 0},
		{"bad number", rep.ByReason["bad number"], 4},
		{"unknown value", rep.ByReason["unknown value"], 2},
		{"before join", rep.ByReason["event before member joined"], 2},
		{"missing", rep.ByReason["required value missing"], 1},
		{"future", rep.ByReason["timestamp in the future"], 1},
		{"bad timestamp", rep.ByReason["bad timestamp"], 1},
		{"absurd", rep.ByReason["absurd amount"], 1},
		{"unknown member", rep.ByReason["unknown member_id"], 1},
		{"duplicate event", rep.ByReason["duplicate event_id"], 1},
		{"listed", len(rep.Dropped), 4},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if rep.AmountTotal != 64030 {
		t.Errorf("amount total %d, want 64030", rep.AmountTotal)
	}
	if want := filepath.Join(out, "quarantine.csv"); rep.Quarantine != want {
		t.Errorf("quarantine %q, want %q", rep.Quarantine, want)
	}
	for _, f := range []string{"members.csv", "courses.csv", "attendance.csv", "transactions.csv", "quarantine.csv", "dataset.json"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, f, b)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", bytes.ReplaceAll(buf.Bytes(), []byte(out), []byte("OUT")))

	// The output is a valid dataset that the datasets package reads back.
	d, err := datasets.OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if man := d.Manifest(); man.Currency != "EUR" || man.MinorUnits != 2 {
		t.Errorf("manifest %+v", man)
	}
	p, err := d.Path(datasets.TableTransactions)
	if err != nil {
		t.Fatal(err)
	}
	txs, err := datasets.ReadAll[datasets.Transaction](p)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, x := range txs {
		sum += x.Amount
	}
	if len(txs) != 8 || sum != 64030 {
		t.Errorf("read back %d transactions summing to %d, want 8 and 64030", len(txs), sum)
	}
}

// TestImportPOSFail: with the fail policy the first bad row (in the order
// members, courses, then events) ends the import and nothing is written.
func TestImportPOSFail(t *testing.T) {
	m := loadPOS(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	rep, err := Import(m, posInputs, out, &Options{Now: fixedNow})
	var re *datasets.RowError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a *datasets.RowError", err)
	}
	// Row 3 of the sales export, its line 4 (line 1 is the header, after a
	// UTF-8 byte order mark), has a blank customer number.
	if re.File != "testdata/pos/kasse_2024-03.csv" || re.Row != 3 || re.Line != 4 || re.Column != "Kunden-Nr" || !errors.Is(err, datasets.ErrMissing) {
		t.Errorf("got %s (file %q row %d line %d column %q), want kasse_2024-03.csv row 3 line 4 column Kunden-Nr, ErrMissing", err, re.File, re.Row, re.Line, re.Column)
	}
	if rep == nil || rep.Rejected != 0 {
		t.Errorf("report %+v", rep)
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestImportOutDir(t *testing.T) {
	m := loadPOS(t)
	// An existing empty directory is fine.
	out := t.TempDir()
	qpath := filepath.Join(t.TempDir(), "bad.csv")
	rep, err := Import(m, posInputs, out, &Options{OnBadRow: Skip, Now: fixedNow, QuarantinePath: qpath})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Quarantine != qpath {
		t.Errorf("report names quarantine %q, want %q", rep.Quarantine, qpath)
	}
	for _, f := range []string{"members.parquet", "courses.parquet", "attendance.parquet", "transactions.parquet", "dataset.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "quarantine.csv")); err == nil {
		t.Error("quarantine written into the dataset despite QuarantinePath")
	}
	if b, err := os.ReadFile(qpath); err != nil || bytes.Count(b, []byte("\n")) != 1+18 {
		t.Errorf("quarantine at %s: %v, %d lines; want a header and 18 rows", qpath, err, bytes.Count(b, []byte("\n")))
	}
	// A second import into the now full directory is refused.
	if _, err := Import(m, posInputs, out, &Options{OnBadRow: Skip, Now: fixedNow}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("import into a full directory: %v", err)
	}
	// An input that matches no source is refused before anything is read.
	if _, err := Import(m, append(posInputs, "testdata/pos/studio_nord.yaml"), filepath.Join(t.TempDir(), "o"), nil); err == nil || !strings.Contains(err.Error(), "matches no source") {
		t.Errorf("unmatched input: %v", err)
	}
	// So is a source without input.
	if _, err := Import(m, posInputs[:3], filepath.Join(t.TempDir(), "o"), nil); !errors.Is(err, ErrNoInput) {
		t.Errorf("source without input: %v", err)
	}
}
