package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagsAfterArguments: flags may follow the positional arguments;
// after "--" everything is positional.
func TestFlagsAfterArguments(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"members.csv":    "member_id,joined_at,home_club,contract_type,contract_start\nM1,2025-01-01T00:00:00Z,north,monthly,2025-01-01\n",
		"attendance.csv": "event_id,member_id,ts,duration_min,source\nA1,M1,2025-02-01T10:00:00Z,60,pos\nA2,M1,2025-02-02T10:00:00Z,60,kiosk\nA3,M1,2025-02-03T10:00:00Z,-5,pos\n",
	})
	code, stdout, stderr := runCLI(t, "validate", dir, "--max-errors", "1", "--now", "2026-01-01T00:00:00Z")
	if code != 1 || strings.Count(stdout, "attendance.csv: row") != 1 || !strings.Contains(stdout, "2 bad") {
		t.Errorf("validate DIR --max-errors 1: exit %d, stdout %q, stderr %q; want one bad row shown of 2", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "validate", "--", dir, "--max-errors"); code != 2 || !strings.Contains(stderr, "Usage: retain validate") {
		t.Errorf("validate -- DIR --max-errors: exit %d, stderr %q; want 2 and the usage (two arguments)", code, stderr)
	}
}

// TestImportCLIErrors: a usage error says what is wrong; a failed import
// says that nothing was written; a refused one prints no report.
func TestImportCLIErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "cdnow.txt")
	writeFiles(t, dir, map[string]string{"cdnow.txt": " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n 00002 19970101  1   -5.00\n"})
	full := filepath.Join(dir, "full")
	writeFiles(t, full, map[string]string{"x": ""})
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     string // "" : none expected
		stderrWant string
	}{
		{"no --out", []string{"import", "--mapping", "cdnow", in}, 2, "", "retain import: give --out\n"},
		{"nothing", []string{"import"}, 2, "", "retain import: give --mapping and --out and an input file\n"},
		{"flag after --", []string{"import", "--mapping", "cdnow", "--out", filepath.Join(dir, "o1"), "--", in, "--on-bad-row=skip"}, 2, "",
			`input "--on-bad-row=skip": no such file or directory; it looks like a flag placed after "--"`},
		{"output not empty", []string{"import", "--mapping", "cdnow", "--out", full, in}, 1, "", "output directory " + full + " is not empty"},
		{"bad row", []string{"import", "--mapping", "cdnow", "--out", filepath.Join(dir, "o2"), in}, 1, "2 rows read before the import stopped; nothing written", "bad row, nothing written"},
		{"flag after the inputs", []string{"import", "--mapping", "cdnow", "--out", filepath.Join(dir, "o3"), in, "--on-bad-row=skip"}, 0, "written: 1 members", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderrWant) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderrWant)
			}
			if tc.stdout == "" && stdout != "" {
				t.Errorf("stdout %q, want none", stdout)
			}
			if !strings.Contains(stdout, tc.stdout) || (tc.code != 0 && strings.Contains(stdout, "written:")) {
				t.Errorf("stdout %q, want %q and no \"written:\" line on failure", stdout, tc.stdout)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "o2")); !os.IsNotExist(err) {
		t.Errorf("failed import left %s: %v", filepath.Join(dir, "o2"), err)
	}
}

// TestFeatureFlagErrors: an invalid feature flag is a usage error naming
// the flag and the valid values, not a dump of the config struct.
func TestFeatureFlagErrors(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "x.rtfs")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--test-fraction", "1.5"}, "retain features: --test-fraction 1.5: want 0 <= fraction < 1\n"},
		{[]string{"--split", "bogus"}, `retain features: --split "bogus": want time, member or last-week` + "\n"},
		{[]string{"--val-fraction", "0.6", "--test-fraction", "0.5"}, "retain features: --test-fraction 0.5: want a sum with --val-fraction (0.6) below 1, so that some data is left to train on\n"},
		{[]string{"--split", "member", "--folds", "3", "--fold", "3"}, "retain features: --fold 3: want 0 to 2 (--folds - 1)\n"},
		{[]string{"--weeks", "0"}, "retain features: --weeks 0: want 1 to 520\n"},
	} {
		args := append([]string{"features", "--data", data, "--out", out}, tc.args...)
		code, _, stderr := runCLI(t, args...)
		if code != 2 || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	code, _, stderr := runCLI(t, "train", "--data", data, "--out", out, "--split", "bogus")
	if code != 2 || !strings.HasPrefix(stderr, `retain train: --split "bogus": want`) {
		t.Errorf("train --split bogus: exit %d, stderr %q", code, stderr)
	}
}

// TestGenerateCounts: a count of 0 or less is refused, not read as the
// library's default (--members 0 meant 5000).
func TestGenerateCounts(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g")
	for _, tc := range []struct{ args, want string }{
		{"--members 0", "retain generate: --members 0: want at least 1\n"},
		{"--members -5", "retain generate: --members -5: want at least 1\n"},
		{"--weeks 0", "retain generate: --weeks 0: want 1 to 520\n"},
		{"--clubs 0", "retain generate: --clubs 0: want 1 to 64\n"},
	} {
		code, _, stderr := runCLI(t, append([]string{"generate", "--out", out}, strings.Fields(tc.args)...)...)
		if code != 2 || stderr != tc.want {
			t.Errorf("generate %s: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestScoreHelpListsBatchFlags: retain score -h shows both modes' flags.
func TestScoreHelpListsBatchFlags(t *testing.T) {
	code, _, stderr := runCLI(t, "score", "-h")
	if code != 2 {
		t.Errorf("score -h: exit %d, want 2", code)
	}
	for _, want := range []string{"-addr", "Batch mode", "-model", "-data", "-out", "-shard", "-club", "-format", "-as-of", "-on-bad-row"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("score -h lacks %q:\n%s", want, stderr)
		}
	}
}
