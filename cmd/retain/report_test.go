package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportCLI generates a small gym, trains a tiny model and writes the
// report of one club and month; then checks the usage and option errors.
func TestReportCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := runCLI(t, "generate", "--members", "200", "--weeks", "40", "--seed", "3", "--truth-sims", "0", "--quiet", "--out", data); code != 0 {
		t.Fatalf("generate exited %d: %s", code, stderr)
	}
	bundle := filepath.Join(dir, "m.rtmb")
	if code, stdout, stderr := runCLI(t, "train", "--data", data, "--out", bundle, "--epochs", "1", "--hidden", "8", "--quiet",
		"--weeks", "8", "--horizon", "4", "--cutoff-every", "2"); code != 0 {
		t.Fatalf("train exited %d:\n%s\n%s", code, stdout, stderr)
	}
	out := filepath.Join(dir, "out", "report.html")
	// The generator starts on 2024-01-01; 40 weeks end in October.
	code, stdout, stderr := runCLI(t, "report", "--data", data, "--model", bundle, "--month", "2024-08", "--out", out)
	if code != 0 {
		t.Fatalf("report exited %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "report: "+out) || !strings.Contains(stdout, "month 2024-08, as of 2024-09-01T00:00:00Z") {
		t.Errorf("stdout %q", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if !strings.Contains(page, "<title>Retention report: all clubs, 2024-08</title>") || strings.Count(page, "<svg") != 5 {
		t.Errorf("page lacks its title or five charts")
	}

	// --check=false reads the same rows unchecked: the same page.
	unchecked := filepath.Join(dir, "unchecked.html")
	if code, _, stderr := runCLI(t, "report", "--data", data, "--model", bundle, "--month", "2024-08", "--check=false", "--out", unchecked); code != 0 {
		t.Fatalf("report --check=false exited %d: %s", code, stderr)
	}
	if b2, err := os.ReadFile(unchecked); err != nil || string(b2) != page {
		t.Errorf("the page with --check=false differs from the checked one (err %v)", err)
	}

	// --list-rows 3: each list shows 3 rows; the CSV (data-csv) has all.
	short := filepath.Join(dir, "short.html")
	if code, _, stderr := runCLI(t, "report", "--data", data, "--model", bundle, "--month", "2024-08", "--top", "10", "--list-rows", "3", "--out", short); code != 0 {
		t.Fatalf("report --list-rows 3 exited %d: %s", code, stderr)
	}
	b, err = os.ReadFile(short)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	atrisk := s[strings.Index(s, `<table class="sortable" id="atrisk"`):]
	atrisk = atrisk[:strings.Index(atrisk, "</table>")]
	if n := strings.Count(atrisk, "<tr>"); n != 4 || !strings.Contains(atrisk, "data-csv=") || !strings.Contains(s, "7 more: ") {
		t.Errorf("at-risk table with --top 10 --list-rows 3: %d rows (with the header), want 4, a data-csv attribute and 7 more", n)
	}

	// --playbook: the at-risk table's actions come from the file.
	pb := filepath.Join(dir, "pb.yaml")
	if err := os.WriteFile(pb, []byte("version: 1\ncurrency: EUR\nrules:\n  - name: all\n    action:\n      kind: test_call\n      offer_text: \"offer from the test playbook\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	withPB := filepath.Join(dir, "pb.html")
	if code, _, stderr := runCLI(t, "report", "--data", data, "--model", bundle, "--month", "2024-08", "--playbook", pb, "--out", withPB); code != 0 {
		t.Fatalf("report --playbook exited %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(withPB); err != nil || !strings.Contains(string(b), "offer from the test playbook") || strings.Contains(page, "offer from the test playbook") {
		t.Errorf("the page with --playbook lacks the playbook's offer, or the default page has it (err %v)", err)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--data", data, "--model", bundle}, 2, "give --data, --model and --out"},
		{[]string{"--data", data, "--model", bundle, "--out", out, "--playbook", filepath.Join(dir, "none.yaml")}, 1, "none.yaml"},
		{[]string{"--data", data, "--model", bundle, "--out", out, "--month", "August"}, 1, `month: "August" is not YYYY-MM`},
		{[]string{"--data", data, "--model", bundle, "--out", out, "--club", "atlantis"}, 1, `unknown club "atlantis"`},
		{[]string{"--data", data, "--model", bundle, "--out", out, "--as-of", "soon"}, 1, "--as-of"},
		{[]string{"--data", data, "--model", bundle, "--out", out, "--list-rows", "0"}, 2, "--list-rows must be at least 1"},
		{[]string{"--data", data, "--model", filepath.Join(dir, "none.rtmb"), "--out", out}, 1, "none.rtmb"},
	} {
		code, _, stderr := runCLI(t, append([]string{"report"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("report %v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}
