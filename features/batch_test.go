package features

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"retain/datasets"
)

// TestBatchEqualsSingle builds the training file of the small synthetic
// data set and checks every example read back against Featurizer.Compute
// on the member's in-memory history at the same cutoff: sequence, mask,
// static features, indicators and labels bit-identical. This is the
// guarantee the scoring server relies on.
func TestBatchEqualsSingle(t *testing.T) {
	s := loadSmallSynth(t)
	cfg := s.config()
	out := filepath.Join(t.TempDir(), "train.rtfs")
	rep, err := Build(s.source(), cfg, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := NewFeaturizer(&r.Header().Spec)
	if err != nil {
		t.Fatal(err)
	}
	var ex Example
	n := 0
	cutoffs := map[string]bool{}
	for {
		err := r.Next(&ex)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		one, err := f.Compute(s.hs[ex.MemberID], ex.Cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameFeatures(&ex, one); err != nil {
			t.Fatalf("%s at %s: batch and single-member features differ: %v", ex.MemberID, ex.Cutoff, err)
		}
		if ex.Label != one.Label {
			t.Fatalf("%s at %s: batch label %+v, single %+v", ex.MemberID, ex.Cutoff, ex.Label, one.Label)
		}
		n++
		cutoffs[ex.Cutoff.String()] = true
	}
	var want int64
	for _, c := range rep.Examples {
		want += c.Examples
	}
	if int64(n) != want || n < 1000 || len(cutoffs) < 5 {
		t.Errorf("read %d examples at %d cutoffs, report says %d", n, len(cutoffs), want)
	}
}

// TestBuildLabelKinds builds the small synthetic data set under each label
// definition: each gives training positives, the definitions disagree, and
// under cancellation only fixed-term (annual) members remain.
func TestBuildLabelKinds(t *testing.T) {
	s := loadSmallSynth(t)
	pos := map[string]SplitCounts{}
	for _, kind := range []string{LabelInactivity, LabelCancellation, LabelAbsence} {
		cfg := s.config()
		cfg.Label.Kind = kind
		out := filepath.Join(t.TempDir(), kind+".rtfs")
		rep, err := Build(s.source(), cfg, out, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr := rep.Examples["train"]
		if tr.Positives == 0 || tr.Positives == tr.Examples {
			t.Errorf("%s: train %+v", kind, tr)
		}
		pos[kind] = tr
		if kind == LabelCancellation {
			r, err := OpenFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var ex Example
			for r.Next(&ex) == nil {
				if ex.Indicators.ContractOpenEnded {
					t.Fatalf("cancellation label: open-ended member %s kept", ex.MemberID)
				}
			}
			r.Close()
		}
	}
	if pos[LabelInactivity] == pos[LabelAbsence] || pos[LabelInactivity].Examples <= pos[LabelCancellation].Examples {
		t.Errorf("label kinds: %+v", pos)
	}
}

// rowErrSource wraps a Source so that its attendance reader rejects one row.
type rowErrSource struct{ *MemorySource }

type rowErrReader struct {
	datasets.Reader[datasets.Attendance]
	done bool
}

func (r *rowErrReader) Read(rows []datasets.Attendance) (int, error) {
	if !r.done {
		r.done = true
		return 0, &datasets.RowError{File: "attendance.csv", Row: 7, Column: "ts", Err: datasets.ErrBadTimestamp}
	}
	return r.Reader.Read(rows)
}

func (s rowErrSource) Attendance() (datasets.Reader[datasets.Attendance], error) {
	r, err := s.MemorySource.Attendance()
	return &rowErrReader{Reader: r}, err
}

// TestBuildRejectedRows: a row a reader rejects is counted and skipped, or
// fails the build with Strict; events of unknown members are counted.
func TestBuildRejectedRows(t *testing.T) {
	s := loadSmallSynth(t)
	src := *s.source()
	src.AttendanceRows = append(append([]datasets.Attendance(nil), src.AttendanceRows...),
		datasets.Attendance{EventID: "ghost", MemberID: "nobody", TS: s.cfg.Start.AddDate(0, 0, 100)})
	out := filepath.Join(t.TempDir(), "x.rtfs")
	rep, err := Build(rowErrSource{&src}, s.config(), out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 1 || len(rep.RejectedSamples) != 1 || rep.UnknownMember != 1 {
		t.Errorf("rejected %d %q, unknown members %d", rep.Rejected, rep.RejectedSamples, rep.UnknownMember)
	}
	_, err = Build(rowErrSource{&src}, s.config(), out, &BuildOptions{Strict: true})
	if !errors.Is(err, datasets.ErrBadTimestamp) {
		t.Errorf("strict build: err %v, want one wrapping ErrBadTimestamp", err)
	}
}
