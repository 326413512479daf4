package features

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"retain/datasets"
	"retain/datasets/mapping"
)

// TestCDNOW imports the CDNOW master file (../shared/datasets/cdnow, see
// its README) with the built-in mapping and builds the training file from
// it: every purchase is a visit and a retail transaction, customers are
// pay-as-you-go members who join at their first purchase.
func TestCDNOW(t *testing.T) {
	src := filepath.Join("..", "..", "shared", "datasets", "cdnow", "CDNOW_master.txt")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("CDNOW data not available (%v); it lives in ../shared/datasets/cdnow next to the repository", err)
	}
	m, err := mapping.Builtin("cdnow")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cdnow")
	if _, err := mapping.Import(m, []string{src}, dir, nil); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.TimeZone = "America/New_York" // as the mapping says
	out := filepath.Join(t.TempDir(), "cdnow.rtfs")
	rep, err := BuildDataset(dir, cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	// 69,659 purchases by 23,570 customers (README), each a visit and a
	// transaction.
	if rep.Members != 23570 || rep.Attendance != 69659 || rep.Transactions != 69659 || rep.Rejected != 0 || rep.UnknownMember != 0 {
		t.Fatalf("read %d members, %d visits, %d transactions, %d rejected", rep.Members, rep.Attendance, rep.Transactions, rep.Rejected)
	}
	// 1997-01-01 .. 1998-06-30 is 78 weeks: cutoffs from week 26 to the
	// last one with 8 weeks of horizon left.
	if len(rep.Cutoffs) < 10 {
		t.Fatalf("%d cutoffs", len(rep.Cutoffs))
	}
	train := rep.Examples["train"]
	if train.Examples == 0 || train.Positives == 0 || train.Positives == train.Examples {
		t.Fatalf("train split %+v", train)
	}
	// Most CDNOW customers buy once or twice: among those who bought in
	// the 8 weeks before a cutoff, most do not buy in the 8 after.
	if share := float64(train.Positives) / float64(train.Examples); share < 0.4 || share > 0.95 {
		t.Errorf("churn share %.2f in train", share)
	}
	t.Logf("CDNOW: %d cutoffs, splits %+v, %.0f events/s", len(rep.Cutoffs), rep.Examples, rep.EventsPerSecond)

	// Spot-check batch == single on the first examples.
	r, err := OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := NewFeaturizer(&r.Header().Spec)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := datasets.OpenDir(dir)
	hs := map[string]*History{}
	members, _ := datasets.ReadAll[datasets.Member](mustPath(t, d, datasets.TableMembers))
	for _, m := range members {
		hs[m.MemberID] = &History{Member: m}
	}
	atts, _ := datasets.ReadAll[datasets.Attendance](mustPath(t, d, datasets.TableAttendance))
	for _, a := range atts {
		hs[a.MemberID].Attendance = append(hs[a.MemberID].Attendance, a)
	}
	txs, _ := datasets.ReadAll[datasets.Transaction](mustPath(t, d, datasets.TableTransactions))
	for _, x := range txs {
		hs[x.MemberID].Transactions = append(hs[x.MemberID].Transactions, x)
	}
	var ex Example
	for i := 0; i < 2000; i++ {
		if err := r.Next(&ex); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		one, err := f.Compute(hs[ex.MemberID], ex.Cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameFeatures(&ex, one); err != nil {
			t.Fatalf("%s at %s: %v", ex.MemberID, ex.Cutoff.Format(time.RFC3339), err)
		}
	}
}

func mustPath(t *testing.T, d *datasets.Dir, tb datasets.Table) string {
	t.Helper()
	p, err := d.Path(tb)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
