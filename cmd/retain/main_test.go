package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the binary's entry point in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestGenerateValidate runs the demo's first steps end to end on a small
// gym: generate writes a dataset whose every row passes validate, and the
// same seed gives byte-identical tables.
func TestGenerateValidate(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, out := range []string{a, b} {
		code, stdout, stderr := runCLI(t, "generate", "--members", "300", "--weeks", "60", "--seed", "7", "--truth-sims", "20", "--out", out)
		if code != 0 {
			t.Fatalf("generate exited %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "tiers") {
			t.Errorf("generate printed no summary:\n%s", stdout)
		}
	}
	code, stdout, stderr := runCLI(t, "validate", a)
	if code != 0 || !strings.Contains(stdout, "ok: every row") {
		t.Fatalf("validate exited %d:\n%s\n%s", code, stdout, stderr)
	}
	for _, name := range []string{"members.parquet", "courses.parquet", "attendance.parquet", "transactions.parquet"} {
		x, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
}

// TestValidateReportsBadRow checks that validate names file, row and column
// of a bad row and exits non-zero.
func TestValidateReportsBadRow(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("members.csv", "member_id,joined_at,home_club,contract_type,contract_start\nM1,2025-01-01T00:00:00Z,north,monthly,2025-01-01\n")
	write("attendance.csv", "event_id,member_id,ts,duration_min,source\nA1,M1,2025-02-01T10:00:00Z,60,pos\nA2,M1,2025-02-02T10:00:00Z,60,kiosk\n")
	code, stdout, _ := runCLI(t, "validate", "--now", "2026-01-01T00:00:00Z", dir)
	if code != 1 {
		t.Errorf("validate exited %d, want 1", code)
	}
	for _, want := range []string{"attendance.csv: row 2", "column source", "kiosk"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestImportCLI imports the messy POS fixture of package mapping through the
// command line with the skip policy.
func TestImportCLI(t *testing.T) {
	fx := filepath.Join("..", "..", "datasets", "mapping", "testdata", "pos")
	inputs, err := filepath.Glob(filepath.Join(fx, "*.[ct]sv"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("fixture inputs not found under %s: %v", fx, err)
	}
	out := filepath.Join(t.TempDir(), "ds")
	args := append([]string{"import", "--mapping", filepath.Join(fx, "studio_nord.yaml"), "--on-bad-row", "skip", "--out", out}, inputs...)
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("import exited %d:\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "quarantine.csv")); err != nil {
		t.Errorf("no quarantine file: %v", err)
	}
	// The default policy stops at the first bad row and writes nothing.
	out2 := filepath.Join(t.TempDir(), "ds")
	args = append([]string{"import", "--mapping", filepath.Join(fx, "studio_nord.yaml"), "--out", out2}, inputs...)
	if code, _, stderr = runCLI(t, args...); code != 1 || !strings.Contains(stderr, "row") {
		t.Errorf("import with bad rows exited %d, stderr %q; want 1 and a row number", code, stderr)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("failed import left %s behind (stat: %v)", out2, err)
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := runCLI(t); code != 2 {
		t.Errorf("no args: exit %d, want 2", code)
	}
	if code, _, stderr := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "generate"); code != 2 {
		t.Errorf("generate without --out: exit %d, want 2", code)
	}
}
