package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLIWithin is runCLI that fails the test when the command has not
// returned after d: a command that would loop fails fast instead of
// hanging the test run (the goroutine is left behind).
func runCLIWithin(t *testing.T, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		c, o, e := runCLI(t, args...)
		done <- result{c, o, e}
	}()
	select {
	case r := <-done:
		return r.code, r.stdout, r.stderr
	case <-time.After(d):
		t.Fatalf("retain %s did not return within %s", strings.Join(args, " "), d)
		return 0, "", ""
	}
}

// writeFiles writes name -> body into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFeaturesNoEvents: a dataset without events (and without a manifest
// range) is a clear error naming the directory, for every split mode and
// for train --data, returned at once; it once looped until memory ran
// out.
func TestFeaturesNoEvents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "empty")
	writeFiles(t, dir, map[string]string{
		"members.csv":    "member_id,joined_at,home_club,contract_type,contract_start\nM1,2025-01-01T00:00:00Z,north,monthly,2025-01-01\n",
		"attendance.csv": "event_id,member_id,ts,duration_min,source\n",
	})
	out := filepath.Join(t.TempDir(), "x.rtfs")
	for _, args := range [][]string{
		{"features", "--data", dir, "--out", out},
		{"features", "--data", dir, "--out", out, "--split", "member"},
		{"features", "--data", dir, "--out", out, "--split", "last-week"},
		{"train", "--data", dir, "--out", filepath.Join(t.TempDir(), "m.rtmb"), "--quiet"},
	} {
		code, _, stderr := runCLIWithin(t, 30*time.Second, args...)
		if code != 1 || !strings.Contains(stderr, "dataset "+dir+": features: no events: nothing to build (1 members; 0 event rows read") {
			t.Errorf("retain %s: exit %d, stderr %q; want 1 and the no-events error naming the directory", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestFeaturesRejectsBadRows: retain features and retain score --data
// reject the rows that retain validate finds (the reviewer's list: a
// negative retail amount, an absurd amount, durations -5 and 99999, a
// visit before the member joined, a timestamp in 2031), print them with
// file, row and column, and stop at the first with --on-bad-row fail.
func TestFeaturesRejectsBadRows(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, stderr := runCLI(t, "generate", "--members", "200", "--weeks", "44", "--seed", "3", "--truth-sims", "0", "--format", "csv", "--quiet", "--out", dir); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	appendFile := func(name, rows string) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(rows); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Events of the first member a week after it joined, one a day before.
	b, err := os.ReadFile(filepath.Join(dir, "members.csv"))
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Split(strings.Split(string(b), "\n")[1], ",")
	id := first[0]
	joined, err := time.Parse(time.RFC3339, first[1])
	if err != nil {
		t.Fatal(err)
	}
	after, before := joined.AddDate(0, 0, 7).Format(time.RFC3339), joined.AddDate(0, 0, -1).Format(time.RFC3339)
	appendFile("transactions.csv", "tbad1,"+id+","+after+",-500,retail\ntbad2,"+id+","+after+",999999999999,retail\n")
	appendFile("attendance.csv", "abad1,"+id+","+after+",,-5,app\nabad2,"+id+","+after+",,99999,app\n"+
		"abad3,"+id+","+before+",,60,app\nabad4,"+id+",2031-01-01T10:00:00Z,,60,app\n")
	if code, stdout, _ := runCLI(t, "validate", dir); code != 1 || !strings.Contains(stdout, "4 bad") || !strings.Contains(stdout, "2 bad") {
		t.Fatalf("validate: exit %d, want 4 bad attendance and 2 bad transaction rows:\n%s", code, stdout)
	}
	out := filepath.Join(t.TempDir(), "x.rtfs")
	code, stdout, stderr := runCLI(t, "features", "--data", dir, "--out", out)
	if code != 0 {
		t.Fatalf("features: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"rejected 6\n", "warning: 6 bad rows rejected",
		"attendance.csv: row ", "column duration_min", `(value "-5")`, `(value "99999")`, "event before member joined", "timestamp in the future",
		"transactions.csv: row ", "column amount", `(value "-500")`, `(value "999999999999")`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("features output lacks %q:\n%s", want, stdout)
		}
	}
	code, _, stderr = runCLI(t, "features", "--data", dir, "--out", out, "--on-bad-row", "fail")
	if code != 1 || !strings.Contains(stderr, "attendance.csv: row ") || !strings.Contains(stderr, "column duration_min") {
		t.Errorf("--on-bad-row fail: exit %d, stderr %q; want 1 and the first bad row", code, stderr)
	}
	code, _, stderr = runCLI(t, "features", "--data", dir, "--out", out, "--on-bad-row", "drop")
	if code != 2 || !strings.Contains(stderr, `--on-bad-row "drop": want skip or fail`) {
		t.Errorf("--on-bad-row drop: exit %d, stderr %q; want 2 naming the valid values", code, stderr)
	}

	// train --data and score --data read the same way.
	bundle := filepath.Join(t.TempDir(), "m.rtmb")
	code, stdout, stderr = runCLI(t, "train", "--data", dir, "--out", bundle, "--epochs", "1", "--hidden", "8", "--quiet",
		"--weeks", "8", "--horizon", "4", "--cutoff-every", "2")
	if code != 0 || !strings.Contains(stdout, "warning: 6 bad rows rejected") {
		t.Fatalf("train --data: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	scores := filepath.Join(t.TempDir(), "s.csv")
	code, stdout, stderr = runCLI(t, "score", "--model", bundle, "--data", dir, "--out", scores, "--format", "csv", "--quiet")
	if code != 0 || !strings.Contains(stdout, "6 rows rejected") || !strings.Contains(stdout, `(value "999999999999")`) {
		t.Errorf("score --data: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	code, _, stderr = runCLI(t, "score", "--model", bundle, "--data", dir, "--out", scores, "--quiet", "--on-bad-row", "fail")
	if code != 1 || !strings.Contains(stderr, "attendance.csv: row ") {
		t.Errorf("score --on-bad-row fail: exit %d, stderr %q; want 1 and the first bad row", code, stderr)
	}
}
