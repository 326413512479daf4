package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	log := slog.New(slog.DiscardHandler)
	good := write("good", "0123456789abcdef0123\n")
	cases := []struct {
		name, file, env string
		want            string // "" = an error containing wantErr
		wantErr         string
	}{
		{"file, newline dropped", good, "", "0123456789abcdef0123", ""},
		{"file wins over env", good, "env-secret-0123456789", "0123456789abcdef0123", ""},
		{"env", "", "env-secret-0123456789", "env-secret-0123456789", ""},
		{"none", "", "", "", "needs a secret"},
		{"short file", write("short", "abc\n"), "", "", "shorter than 16 bytes"},
		{"short env", "", "abc", "", "RETAIN_WEBHOOK_SECRET"},
		{"missing file", filepath.Join(dir, "nope"), "", "", "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(secretEnv, c.env)
			got, err := readSecret(c.file, log)
			if c.want != "" {
				if err != nil || string(got) != c.want {
					t.Fatalf("readSecret = %q, %v; want %q", got, err, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("readSecret error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// TestAlertFlagsNeedWebhook: the alert flags without --webhook are a usage
// error, not silently ignored.
func TestAlertFlagsNeedWebhook(t *testing.T) {
	for _, args := range [][]string{
		{"--rescore-at", "03:00"},
		{"--rescore-every", "1h"},
		{"--webhook-secret-file", "x"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		af := addAlertFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if _, err := af.start(t.Context(), nil, "store.db", slog.New(slog.DiscardHandler), nil); !errors.Is(err, errUsage) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	af := addAlertFlags(fs)
	stop, err := af.start(t.Context(), nil, "store.db", nil, nil)
	if err != nil {
		t.Fatalf("no alert flags: %v", err)
	}
	stop()
}
