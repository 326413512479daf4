package synth

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrTruthFormat is wrapped by the errors of ReadTruth; checked with
// errors.Is.
var ErrTruthFormat = errors.New("synth: bad truth file")

// TruthError reports a bad truth-file line.
type TruthError struct {
	Line   int    // 1-based physical line; the header is line 1
	Column string // empty when the line as a whole is at fault
	Value  string
	Err    error
}

func (e *TruthError) Error() string {
	s := fmt.Sprintf("synth: truth line %d", e.Line)
	if e.Column != "" {
		s += ", column " + e.Column
	}
	s += ": " + e.Err.Error()
	if e.Value != "" {
		s += fmt.Sprintf(" (value %q)", shorten(e.Value, 60))
	}
	return s
}

func (e *TruthError) Unwrap() error { return e.Err }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ReadTruthFile reads a truth file written by WriteDir (truth/truth.csv, or
// truth/truth.csv.gz: a name ending in .gz is decompressed).
func ReadTruthFile(path string) ([]Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("synth: read truth: %w", err)
	}
	defer f.Close()
	var src io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("synth: read truth %s: %w", path, err)
		}
		defer gz.Close()
		src = gz
	}
	rows, err := ReadTruth(src)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rows, nil
}

// ReadTruth parses a truth CSV (see TruthColumns). The header must match
// TruthColumns exactly. Errors are *TruthError values wrapping
// ErrTruthFormat.
func ReadTruth(r io.Reader) ([]Truth, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	want := TruthColumns()
	hdr, err := cr.Read()
	if err == io.EOF {
		return nil, &TruthError{Line: 1, Err: fmt.Errorf("%w: empty file, want header", ErrTruthFormat)}
	}
	if err != nil {
		return nil, &TruthError{Line: 1, Err: fmt.Errorf("%w: %v", ErrTruthFormat, err)}
	}
	if !slices.Equal(hdr, want) {
		return nil, &TruthError{Line: 1, Value: fmt.Sprint(hdr), Err: fmt.Errorf("%w: header does not match %v", ErrTruthFormat, want)}
	}
	var out []Truth
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			return nil, &TruthError{Line: line, Err: fmt.Errorf("%w: %v", ErrTruthFormat, err)}
		}
		line, _ := cr.FieldPos(0)
		t, err := parseTruth(rec, want, line)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
}

func parseTruth(rec, cols []string, line int) (Truth, error) {
	fail := func(i int, format string, a ...any) (Truth, error) {
		return Truth{}, &TruthError{Line: line, Column: cols[i], Value: rec[i], Err: fmt.Errorf("%w: "+format, append([]any{ErrTruthFormat}, a...)...)}
	}
	var t Truth
	if rec[0] == "" {
		return fail(0, "empty member_id")
	}
	t.MemberID = rec[0]
	c, err := time.Parse(time.RFC3339, rec[1])
	if err != nil {
		return fail(1, "not an RFC 3339 instant")
	}
	t.Cutoff = c.UTC()
	if t.Alive, err = strconv.ParseBool(rec[2]); err != nil {
		return fail(2, "not a boolean")
	}
	if t.Churned, err = strconv.ParseBool(rec[3]); err != nil {
		return fail(3, "not a boolean")
	}
	if t.Sims, err = strconv.Atoi(rec[4]); err != nil || t.Sims < 0 {
		return fail(4, "not a count")
	}
	prob := func(i int) (float64, bool) {
		v, err := strconv.ParseFloat(rec[i], 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
			return 0, false
		}
		return v, true
	}
	if !t.Alive {
		for i := 5; i < len(rec); i++ {
			if rec[i] != "" {
				return fail(i, "set for a member that is not alive")
			}
		}
		return t, nil
	}
	var ok bool
	for i, dst := range []*float64{&t.ChurnProb, &t.ChurnSE, &t.PNoClass} {
		if *dst, ok = prob(5 + i); !ok {
			return fail(5+i, "not a probability")
		}
	}
	if rec[8] == "" {
		for i := 9; i < len(rec); i++ {
			if rec[i] != "" {
				return fail(i, "next-category probabilities partly empty")
			}
		}
		return t, nil
	}
	t.NextCategory = make([]float64, numCats)
	var sum float64
	for k := range numCats {
		if t.NextCategory[k], ok = prob(8 + k); !ok {
			return fail(8+k, "not a probability")
		}
		sum += t.NextCategory[k]
	}
	if math.Abs(sum-1) > 2e-3 { // 14 values of 4 significant digits

		return Truth{}, &TruthError{Line: line, Err: fmt.Errorf("%w: next-category probabilities sum to %g", ErrTruthFormat, sum)}
	}
	return t, nil
}
