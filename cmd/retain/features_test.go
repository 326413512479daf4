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
