package batch_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retain/datasets/synth"
	"retain/serve/batch"
)

// TestRejectedRowsCounted writes the fixture's gym as CSV with one
// malformed attendance row added: the run succeeds, counts the row as
// rejected with a sample naming its line, and scores the same members.
func TestRejectedRowsCounted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := synth.WriteDir(fix.cfg, dir, &synth.WriteOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "attendance.csv"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("bad1," + fix.sink.MemberRows[0].MemberID + ",not-a-time,,60,pos\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rep, rows := run(t, batch.Options{Data: dir, Format: "csv"})
	_, want := run(t, batch.Options{Format: "csv"})
	if rep.Read.Rejected != 1 || len(rep.Read.RejectedSamples) != 1 || !strings.Contains(rep.Read.RejectedSamples[0], "ts") {
		t.Fatalf("rejected %d, samples %q", rep.Read.Rejected, rep.Read.RejectedSamples)
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, %d from the Parquet copy", len(rows), len(want))
	}
}

// TestProgressLog: without a terminal, progress is plain log lines.
func TestProgressLog(t *testing.T) {
	var buf bytes.Buffer
	run(t, batch.Options{Progress: &buf, BatchMembers: 8})
	out := buf.String()
	for _, want := range []string{"reading " + fix.dir, "read 150 members", "processed"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
}

// TestCanceled: a canceled run fails with the context's error and leaves
// no file.
func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "x.parquet")
	_, err := batch.Run(ctx, batch.Options{Model: fix.bundle, Data: fix.dir, Out: out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

// FuzzParseShard: ParseShard never panics and accepts exactly i/n with
// 0 <= i < n.
func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"0/1", "3/2", "0/0", "1/2", "-1/3", "a/b", "", "/", "9999999999999999999/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		i, n, err := batch.ParseShard(s)
		if err == nil && !(0 <= i && i < n) {
			t.Fatalf("ParseShard(%q) = %d, %d", s, i, n)
		}
	})
}

// FuzzReadCSV: ReadCSV never panics on any file content.
func FuzzReadCSV(f *testing.F) {
	f.Add("member_id,club\nM1,x\n")
	f.Add("")
	f.Add("\"unterminated")
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		batch.ReadCSV(p) //nolint:errcheck // only panics matter
	})
}
