package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"retain/serve/batch"
)

// TestScoreBatchCLI trains a tiny bundle on a small gym through the
// command line and scores the dataset with it, without a server: Parquet
// by default, CSV with --format, one shard, and the refusals of bad
// input.
func TestScoreBatchCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := runCLI(t, "generate", "--members", "150", "--weeks", "30", "--seed", "3", "--truth-sims", "0", "--quiet", "--out", data); code != 0 {
		t.Fatalf("generate exited %d: %s", code, stderr)
	}
	bundle := filepath.Join(dir, "m.rtmb")
	if code, _, stderr := runCLI(t, "train", "--data", data, "--out", bundle, "--epochs", "1", "--hidden", "8", "--quiet",
		"--weeks", "8", "--horizon", "4", "--cutoff-every", "2"); code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "scores.parquet")
	code, stdout, stderr := runCLI(t, "score", "--model", bundle, "--data", data, "--out", out)
	if code != 0 {
		t.Fatalf("score exited %d:\n%s\n%s", code, stdout, stderr)
	}
	rows, err := batch.ReadParquet(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, fmt.Sprintf("wrote %s: %d members scored", out, len(rows))) || !strings.Contains(stdout, "150 in the members table") {
		t.Errorf("stdout:\n%s", stdout)
	}
	csvOut := filepath.Join(dir, "shard.csv")
	code, stdout, stderr = runCLI(t, "score", "--model", bundle, "--data", data, "--out", csvOut, "--format", "csv", "--shard", "1/2", "--as-of", "2024-05-01", "--quiet")
	if code != 0 || stderr != "" {
		t.Fatalf("score --shard exited %d:\n%s\n%s", code, stdout, stderr)
	}
	shard, err := batch.ReadCSV(csvOut)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range shard {
		if batch.Shard(r.MemberID, 2) != 1 || r.AsOfTime().Format("2006-01-02") != "2024-05-01" {
			t.Fatalf("row %+v", r)
		}
	}
	if !strings.Contains(stdout, "other_shard") {
		t.Errorf("stdout lacks the other shard's count:\n%s", stdout)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--model", bundle, "--data", data}, 2, "--out"},
		{[]string{"--model", bundle, "--data", data, "--out", out, "--shard", "3/2"}, 1, "3/2"},
		{[]string{"--model", bundle, "--data", data, "--out", out, "--shard", "0/0"}, 1, "0/0"},
		{[]string{"--model", filepath.Join(dir, "none.rtmb"), "--data", data, "--out", out}, 1, "none.rtmb"},
		{[]string{"--model", bundle, "--data", filepath.Join(dir, "nodata"), "--out", out}, 1, "nodata"},
		{[]string{"--model", bundle, "--data", data, "--out", out, "--as-of", "soon"}, 1, "--as-of"},
		{[]string{"--model", bundle, "--data", data, "--out", out, "M1"}, 2, "unexpected"},
	} {
		code, _, stderr := runCLI(t, append([]string{"score"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("score %v: exit %d (want %d): %s", c.args, code, c.code, stderr)
		}
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the first output is gone after failed runs: %v", err)
	}

	// --playbook and the risk thresholds reach the scorer: a playbook that
	// sends every high-risk member to one action, and thresholds at the
	// terciles of the first run's probabilities (the tiny model's are all
	// low by the default thresholds), under which the level follows the
	// probability.
	ps := make([]float64, len(rows))
	for i, r := range rows {
		ps[i] = r.ChurnProbability
	}
	slices.Sort(ps)
	medium, high := ps[len(ps)/3], ps[2*len(ps)/3]
	if !(medium < high) {
		t.Fatalf("terciles %v, %v of the first run's probabilities: want distinct", medium, high)
	}
	pb := filepath.Join(dir, "pb.yaml")
	if err := os.WriteFile(pb, []byte("version: 1\ncurrency: EUR\nrules:\n  - name: high\n    when:\n      risk: [high]\n    action:\n      kind: test_call\n      offer_text: \"call {{.Tier}}\"\n  - name: rest\n    action:\n      kind: none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pbOut := filepath.Join(dir, "pb.csv")
	code, stdout, stderr = runCLI(t, "score", "--model", bundle, "--data", data, "--out", pbOut, "--format", "csv", "--quiet",
		"--playbook", pb, "--risk-medium", fmt.Sprint(medium), "--risk-high", fmt.Sprint(high))
	if code != 0 {
		t.Fatalf("score --playbook exited %d:\n%s\n%s", code, stdout, stderr)
	}
	pbRows, err := batch.ReadCSV(pbOut)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]int{}
	for _, r := range pbRows {
		want := "low"
		switch {
		case r.ChurnProbability >= high:
			want = "high"
		case r.ChurnProbability >= medium:
			want = "medium"
		}
		levels[want]++
		if r.RiskLevel != want {
			t.Errorf("%s: p %v: level %q, want %q under --risk-medium %v --risk-high %v", r.MemberID, r.ChurnProbability, r.RiskLevel, want, medium, high)
		}
		if wantKind := map[bool]string{true: "test_call", false: ""}[want == "high"]; r.ActionKind != wantKind {
			t.Errorf("%s: level %s: action %q, want %q from the --playbook file (kind none: no action)", r.MemberID, want, r.ActionKind, wantKind)
		}
		if r.ActionKind == "test_call" && r.ActionOffer != "call "+r.Tier {
			t.Errorf("%s: offer %q, want %q", r.MemberID, r.ActionOffer, "call "+r.Tier)
		}
	}
	if levels["low"] == 0 || levels["medium"] == 0 || levels["high"] == 0 {
		t.Errorf("levels %v under --risk-medium %v --risk-high %v: want all three", levels, medium, high)
	}
	if code, _, stderr := runCLI(t, "score", "--model", bundle, "--data", data, "--out", pbOut, "--playbook", filepath.Join(dir, "none.yaml")); code != 1 || !strings.Contains(stderr, "none.yaml") {
		t.Errorf("score --playbook of a missing file: exit %d: %s", code, stderr)
	}
}
