package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"retain/datasets"
	"retain/serve/playbook"
)

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address with a port that was free a moment
// ago: serve takes fixed addresses, so the test picks them this way.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestServeScoreCLI runs the serving path as a user does, through the
// command line: generate a small gym, train a small bundle, load the
// store, start 'retain serve' with a tokens file, score members with
// 'retain score --addr', and stop the server as SIGTERM does; it must exit
// cleanly and log that it stopped.
func TestServeScoreCLI(t *testing.T) {
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
	storePath := filepath.Join(dir, "store.db")
	if code, _, stderr := runCLI(t, "load", "--store", storePath, "--data", data); code != 0 {
		t.Fatalf("load exited %d: %s", code, stderr)
	}
	members, err := datasets.ReadAll[datasets.Member](filepath.Join(data, "members.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(members) < 2 {
		t.Fatalf("generated %d members", len(members))
	}
	ids := []string{members[0].MemberID, members[1].MemberID}

	const token = "serve-test-token-0123456789"
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("clients:\n  - name: test\n    token: "+token+"\n    scopes: [score]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serveOut, serveErr syncBuffer
	done := make(chan error, 1)
	gogc0 := gogc()
	go func() {
		done <- serveUntil(ctx, []string{"--store", storePath, "--model", bundle, "--tokens", tokens,
			"--addr", addr, "--metrics", "-", "--log-level", "info", "--gc-percent", "250"}, &serveOut, &serveErr)
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatalf("serve did not stop 15 s after its context was cancelled; log:\n%s", serveErr.String())
			return nil
		}
	}
	defer stop()

	base := []string{"score", "--addr", addr, "--insecure", "--token-file", tokenFile}
	code, stdout, stderr := runCLI(t, append(base, "--wait", "20s")...)
	if code != 0 || !strings.Contains(stdout, "SERVING") {
		t.Fatalf("score --wait exited %d:\n%s\n%s\nserver log:\n%s", code, stdout, stderr, serveErr.String())
	}
	if got := gogc(); got != 250 {
		t.Errorf("GC percent %d while serving with --gc-percent 250", got)
	}
	defer func() {
		if got := gogc(); got != gogc0 {
			t.Errorf("GC percent %d after serve returned, was %d before", got, gogc0)
		}
	}()

	// One member: ScoreMember.
	code, stdout, stderr = runCLI(t, append(base, ids[0])...)
	if code != 0 {
		t.Fatalf("score %s exited %d:\n%s\n%s", ids[0], code, stdout, stderr)
	}
	first := strings.SplitN(stdout, "\n", 2)[0]
	if !strings.HasPrefix(first, ids[0]+"  churn ") || !strings.Contains(first, "  risk ") || strings.Contains(first, "UNSPECIFIED") {
		t.Errorf("score printed:\n%s", stdout)
	}
	if !strings.Contains(stdout, "  next     1. ") {
		t.Errorf("score printed no next course:\n%s", stdout)
	}

	// Two members and protojson: ScoreMembers, one JSON object a line.
	code, stdout, stderr = runCLI(t, append(append(base, "--json"), ids...)...)
	if code != 0 {
		t.Fatalf("score --json exited %d:\n%s\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("score --json printed %d lines, want 2:\n%s", len(lines), stdout)
	}
	for i, l := range lines {
		var m struct {
			MemberID         string  `json:"memberId"`
			ChurnProbability float64 `json:"churnProbability"`
			RiskLevel        string  `json:"riskLevel"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		if m.MemberID != ids[i] || m.RiskLevel == "" || m.ChurnProbability < 0 || m.ChurnProbability > 1 {
			t.Errorf("line %d: %+v", i, m)
		}
	}

	// --top streams every member and keeps the most at risk, highest
	// first. As of the data's end, the members who had already churned are
	// left out by default.
	var manifest struct {
		End time.Time `json:"end"`
	}
	if b, err := os.ReadFile(filepath.Join(data, "dataset.json")); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	type topScore struct {
		MemberID         string  `json:"memberId"`
		ChurnProbability float64 `json:"churnProbability"`
		AlreadyChurned   bool    `json:"alreadyChurned"`
	}
	topOf := func(args ...string) ([]topScore, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append(append(base, "--top", "3", "--json"), args...)...)
		if code != 0 {
			t.Fatalf("score --top %v exited %d:\n%s\n%s", args, code, stdout, stderr)
		}
		var out []topScore
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if l == "" {
				continue
			}
			var m topScore
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			if len(out) > 0 && m.ChurnProbability > out[len(out)-1].ChurnProbability {
				t.Errorf("--top %v not in descending churn order:\n%s", args, stdout)
			}
			out = append(out, m)
		}
		return out, stderr
	}
	atEnd := manifest.End.Add(time.Second).Format(time.RFC3339)
	top, _ := topOf("--as-of", atEnd)
	if len(top) != 3 {
		t.Fatalf("score --top 3 as of the data's end printed %d members", len(top))
	}
	for _, m := range top {
		if m.AlreadyChurned {
			t.Errorf("--top without --include-churned gave churned member %s", m.MemberID)
		}
	}
	// Now, long after the synthetic data ends, every member has churned
	// by the inactivity definition: none is left, and the CLI says so.
	if top, stderr := topOf(); len(top) != 0 || !strings.Contains(stderr, "200 members who had already churned were left out") {
		t.Errorf("score --top now: %d members, stderr %q; want none and 200 left out", len(top), stderr)
	}
	top, _ = topOf("--include-churned")
	if len(top) != 3 {
		t.Fatalf("score --top 3 --include-churned printed %d members", len(top))
	}
	for _, m := range top {
		if !m.AlreadyChurned {
			t.Errorf("member %s scored now is not marked already churned", m.MemberID)
		}
	}

	// Refusals: an unknown member, and a wrong token.
	if code, _, stderr := runCLI(t, append(base, "NO-SUCH-MEMBER")...); code != 1 || !strings.Contains(stderr, "NotFound") {
		t.Errorf("unknown member: exit %d: %s", code, stderr)
	}
	t.Setenv("RETAIN_TOKEN", "wrong-token-wrong-token")
	if code, _, stderr := runCLI(t, "score", "--addr", addr, "--insecure", ids[0]); code != 1 || !strings.Contains(stderr, "Unauthenticated") {
		t.Errorf("wrong token: exit %d: %s", code, stderr)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve returned %v; log:\n%s", err, serveErr.String())
	}
	if log := serveErr.String(); !strings.Contains(log, `"msg":"stopped"`) || strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("server log:\n%s", log)
	}
	// The port is free again.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("port of the stopped server still taken: %v", err)
	} else {
		l.Close()
	}
}

// TestServePlaybookFlags: --print-playbook prints the embedded default,
// and a bad --playbook stops serve before it listens, naming the file,
// line and field.
// gogc returns the garbage collector's percentage (GOGC) now.
func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

func TestServeGCPercentFlag(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"0", "-5"} {
		code, _, stderr := runCLI(t, "serve", "--store", filepath.Join(dir, "s.db"), "--model", filepath.Join(dir, "none.rtmb"),
			"--no-auth", "--metrics", "-", "--gc-percent", v)
		if code == 0 || !strings.Contains(stderr, "--gc-percent "+v+": want a positive percentage") {
			t.Errorf("--gc-percent %s: exit %d, stderr %s", v, code, stderr)
		}
	}
}

func TestServePlaybookFlags(t *testing.T) {
	code, stdout, stderr := runCLI(t, "serve", "--print-playbook")
	if code != 0 || stdout != string(playbook.DefaultSource()) {
		t.Fatalf("--print-playbook: exit %d, stderr %s", code, stderr)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\ncurrency: EUR\nrules:\n  - name: r\n    action: {kind: k, offer_txt: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "serve", "--store", filepath.Join(dir, "s.db"), "--model", filepath.Join(dir, "none.rtmb"),
		"--no-auth", "--metrics", "-", "--playbook", bad)
	if code == 0 || !strings.Contains(stderr, "bad.yaml:5: rules[0].action.offer_txt: unknown field") {
		t.Errorf("bad playbook: exit %d, stderr %s", code, stderr)
	}
}
