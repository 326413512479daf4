package synth

import (
	"sync"
	"testing"
	"time"

	"retain/datasets"
)

// The shared test data set: 3000 members over 104 weeks, seed 1, truth at
// the default cutoffs with 200 re-simulations. Built once.
var (
	sharedOnce sync.Once
	sharedSink *MemorySink
	sharedSum  *Summary
	sharedCfg  Config
	sharedErr  error
)

func shared(t *testing.T) (Config, *MemorySink, *Summary) {
	t.Helper()
	sharedOnce.Do(func() {
		sharedCfg = DefaultConfig()
		sharedCfg.Members = 3000
		sharedSink = &MemorySink{}
		sharedSum, sharedErr = Generate(sharedCfg, sharedSink)
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedCfg, sharedSink, sharedSum
}

// history is one member's events as the data shows them, for the
// data-side label (an implementation independent of the generator's).
type history struct {
	m        datasets.Member
	visits   []time.Time
	classCat []string // category per visit, "" for open gym
	pays     []time.Time
	renewals []time.Time
}

func histories(s *MemorySink) map[string]*history {
	cat := map[string]string{}
	for _, c := range s.CourseRows {
		cat[c.CourseID] = c.Category
	}
	h := make(map[string]*history, len(s.MemberRows))
	for _, m := range s.MemberRows {
		h[m.MemberID] = &history{m: m}
	}
	for _, a := range s.AttendanceRows {
		x := h[a.MemberID]
		x.visits = append(x.visits, a.TS)
		x.classCat = append(x.classCat, cat[a.CourseID])
	}
	for _, tx := range s.TransactionRows {
		x := h[tx.MemberID]
		if tx.Amount > 0 {
			x.pays = append(x.pays, tx.TS)
		}
		if tx.Kind == datasets.TxRenewal {
			x.renewals = append(x.renewals, tx.TS)
		}
	}
	return h
}

func anyIn(ts []time.Time, lo, hi time.Time, loIncl bool) bool {
	for _, t := range ts {
		if (t.After(lo) || (loIncl && t.Equal(lo))) && !t.After(hi) {
			return true
		}
	}
	return false
}

// label evaluates the documented label at cutoff t with horizon h weeks:
// alive, the label, and the category of the first class in (t, t+h]
// ("" when none).
func (x *history) label(t time.Time, h int) (alive bool, churn bool, first string) {
	if x.m.JoinedAt.After(t) {
		return false, false, ""
	}
	from := t.AddDate(0, 0, -7*activityWeeks)
	alive = anyIn(x.visits, from, t, true) || anyIn(x.pays, from, t, true)
	end := t.AddDate(0, 0, 7*h)
	active := anyIn(x.visits, t, end, false) || anyIn(x.pays, t, end, false)
	churn = !active
	if x.m.ContractType == datasets.ContractAnnual && !anyIn(x.renewals, t, end, false) {
		for k := 1; ; k++ {
			a := x.m.ContractStart.AddDate(k, 0, 0)
			if !a.Before(end) {
				break
			}
			if !a.Before(datasets.Date(t)) {
				churn = true
				break
			}
		}
	}
	for i, v := range x.visits {
		if v.After(t) && !v.After(end) && x.classCat[i] != "" {
			first = x.classCat[i]
			break
		}
	}
	return alive, churn, first
}
