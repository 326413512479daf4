package main

import (
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
