package mapping

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImportNothingImported: inputs of which no row becomes a canonical
// row (only headers; every row rejected or cancelled) are
// ErrNothingImported and write nothing: the empty dataset they made was
// accepted and then sent retain features into an endless loop.
func TestImportNothingImported(t *testing.T) {
	cdnow, err := Builtin("cdnow")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hdr := filepath.Join(dir, "HDR_ONLY.txt")
	if err := os.WriteFile(hdr, []byte(" customer_id  date number_of_cds  dollar_value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "BAD.txt")
	if err := os.WriteFile(bad, []byte(" customer_id  date number_of_cds  dollar_value\n 00001 19970101  1  -11.77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		input  string
		policy Policy
		want   string
	}{
		{"header only", hdr, Fail, "the input file(s) " + hdr + " have no data rows"},
		{"header only, skip", hdr, Skip, "have no data rows"},
		{"every row rejected", bad, Skip, "all 1 data rows of " + bad + " were left out (1 rejected, 0 cancelled, 0 duplicates)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "o")
			rep, err := Import(cdnow, []string{tc.input}, out, &Options{OnBadRow: tc.policy, Now: now})
			if !errors.Is(err, ErrNothingImported) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Import: %v, want ErrNothingImported with %q", err, tc.want)
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("output directory: %v, want none written", serr)
			}
			if rep == nil || rep.Written {
				t.Fatalf("report %+v, want one with Written false", rep)
			}
			var buf bytes.Buffer
			if err := rep.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			if s := buf.String(); !strings.Contains(s, "nothing written") || strings.Contains(s, "written:") {
				t.Errorf("report of a failed import:\n%s\nwant \"nothing written\" and no \"written:\" line", s)
			}
		})
	}
}
