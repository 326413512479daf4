package synth

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"retain/datasets"
)

var calibN = flag.Int("calibn", 0, "")
var calibSims = flag.Int("calibsims", -1, "")
var calibSeed = flag.Uint64("calibseed", 1, "")

func TestZZCalib(t *testing.T) {
	if *calibN == 0 {
		t.Skip()
	}
	cfg := DefaultConfig()
	cfg.Members = *calibN
	cfg.TruthSims = *calibSims
	cfg.Seed = *calibSeed
	cfg.TruthCutoffs = nil
	t0 := time.Now()
	var ms MemorySink
	s, err := Generate(cfg, &ms)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("took %v", time.Since(t0))
	s.WriteText(os.Stdout)
	end := cfg.End()
	yago := end.AddDate(-1, 0, 0)
	spend := map[string]int64{}
	last := map[string]time.Time{}
	kinds := map[datasets.TxKind][2]int64{}
	for _, x := range ms.TransactionRows {
		if !x.TS.Before(yago) {
			spend[x.MemberID] += x.Amount
		}
		if x.Amount > 0 && x.TS.After(last[x.MemberID]) {
			last[x.MemberID] = x.TS
		}
		k := kinds[x.Kind]
		k[0]++
		k[1] += x.Amount
		kinds[x.Kind] = k
	}
	for _, a := range ms.AttendanceRows {
		if a.TS.After(last[a.MemberID]) {
			last[a.MemberID] = a.TS
		}
	}
	var sp []int64
	for _, m := range ms.MemberRows {
		if !last[m.MemberID].Before(end.AddDate(0, 0, -56)) {
			sp = append(sp, spend[m.MemberID])
		}
	}
	slices.Sort(sp)
	for _, q := range []float64{0.1, 0.25, 0.5, 0.6, 0.75, 0.85, 0.9, 0.95} {
		fmt.Printf("spend q%.2f = %d\n", q, sp[int(q*float64(len(sp)-1))])
	}
	for _, k := range datasets.TxKinds {
		fmt.Printf("%-15s n=%8d mean=%8.2f\n", k, kinds[k][0], float64(kinds[k][1])/float64(max(kinds[k][0], 1))/100)
	}
	var cls, open int
	catN := map[string]int{}
	cc := map[string]string{}
	for _, c := range ms.CourseRows {
		cc[c.CourseID] = c.Category
	}
	for _, a := range ms.AttendanceRows {
		if a.CourseID == "" {
			open++
		} else {
			cls++
			catN[cc[a.CourseID]]++
		}
	}
	fmt.Println("class", cls, "open", open, catN)
}
