package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"retain/serve"
)

// TestLoadCLI generates a small gym, loads it into a store, and checks
// the printed counts against the store and the dataset; a second load
// finds every event a duplicate.
func TestLoadCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "gym")
	if code, _, errs := runCLI(t, "generate", "--members", "40", "--weeks", "30", "--clubs", "1", "--truth-sims", "-1",
		"--format", "csv", "--quiet", "--out", data); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errs)
	}
	storePath := filepath.Join(dir, "state.db")
	code, out, errs := runCLI(t, "load", "--store", storePath, "--data", data)
	if code != 0 {
		t.Fatalf("load: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "members       40\n") || !strings.Contains(out, "bad rows      0\n") {
		t.Errorf("load printed:\n%s", out)
	}
	code, out2, errs := runCLI(t, "load", "--store", storePath, "--data", data)
	if code != 0 {
		t.Fatalf("second load: exit %d: %s", code, errs)
	}
	if !strings.Contains(out2, "attendance    0\n") || strings.Contains(out2, "duplicates    0\n") {
		t.Errorf("second load printed:\n%s", out2)
	}
	// A third load with one visit's duration changed under its event_id:
	// not stored, counted as a conflict, and the load fails naming it.
	attPath := filepath.Join(data, "attendance.csv")
	raw, err := os.ReadFile(attPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(raw), "\n", 3) // header, first visit, the rest
	f := strings.Split(lines[1], ",")             // event_id,member_id,ts,course_id,duration_min,source
	d, err := strconv.Atoi(f[4])
	if err != nil {
		t.Fatalf("duration %q: %v", f[4], err)
	}
	f[4] = strconv.Itoa(d + 1)
	if err := os.WriteFile(attPath, []byte(lines[0]+"\n"+strings.Join(f, ",")+"\n"+lines[2]), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out3, errs := runCLI(t, "load", "--store", storePath, "--data", data)
	if code == 0 || !strings.Contains(out3, "conflicts     1\n") || !strings.Contains(errs, `attendance event_id "`+f[0]+`"`) {
		t.Errorf("load of a changed visit: exit %d, printed:\n%s\nstderr: %s", code, out3, errs)
	}
	if err := os.WriteFile(attPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := serve.OpenStore(storePath, &serve.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Members != 40 {
		t.Errorf("store holds %d members, want 40", st.Members)
	}
	att, err := os.ReadFile(filepath.Join(data, "attendance.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// One header line, one line per visit.
	visits := strings.Count(string(att), "\n") - 1
	if !strings.Contains(out, "attendance    "+strconv.Itoa(visits)+"\n") {
		t.Errorf("load printed:\n%s\nwant attendance %d (lines of attendance.csv)", out, visits)
	}
}

func TestLoadCLIQuarantine(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "gym")
	if code, _, errs := runCLI(t, "generate", "--members", "10", "--weeks", "20", "--clubs", "1", "--truth-sims", "-1",
		"--format", "csv", "--quiet", "--out", data); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errs)
	}
	// A visit of an unknown member.
	f, err := os.OpenFile(filepath.Join(data, "attendance.csv"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	att, _ := os.ReadFile(filepath.Join(data, "attendance.csv"))
	lines := strings.Split(strings.TrimSpace(string(att)), "\n")
	bad := strings.Replace(lines[1], strings.Split(lines[1], ",")[0], "bad-event", 1)
	bad = strings.Replace(bad, strings.Split(lines[1], ",")[1], "nobody", 1)
	if _, err := f.WriteString(bad + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	storePath := filepath.Join(dir, "state.db")
	if code, _, _ := runCLI(t, "load", "--store", storePath, "--data", data); code != 1 {
		t.Errorf("load with a bad row and no quarantine: exit %d, want 1", code)
	}
	q := filepath.Join(dir, "q.csv")
	code, out, errs := runCLI(t, "load", "--store", storePath, "--data", data, "--quarantine", q)
	if code != 0 {
		t.Fatalf("load: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "bad rows      1\n") {
		t.Errorf("load printed:\n%s", out)
	}
	if b, err := os.ReadFile(q); err != nil || !strings.Contains(string(b), "nobody") {
		t.Errorf("quarantine: %q, %v", b, err)
	}
}
