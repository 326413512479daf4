package mapping

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// listedInText bounds the dropped rows WriteText prints.
const listedInText = 20

// WriteText writes the report for people: what was written, and every row
// that was not, counted by reason. The report of a failed import (Written
// false) says that nothing was written and counts the rows read before it
// stopped.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	if !r.Written {
		ew.printf("import %s: %d input file(s), %d rows read before the import stopped; nothing written\n", r.Mapping, len(r.Inputs), r.Rows)
	} else {
		ew.printf("import %s: %d input file(s), %d rows, %d imported\n", r.Mapping, len(r.Inputs), r.Rows, r.Imported)
		ew.printf("  written: %d members, %d courses, %d visits, %d transactions (total %s %s)\n",
			r.Members, r.Courses, r.Visits, r.Transactions, formatMinor(r.AmountTotal, r.MinorUnits), r.Currency)
		if !r.Start.IsZero() {
			ew.printf("  events from %s to %s\n", r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339))
		}
		if r.Visits+r.Transactions == 0 {
			ew.printf("  warning: no visits and no transactions: retain features has nothing to build from this dataset\n")
		}
	}
	ew.printf("  rejected: %d, cancelled: %d, duplicate rows dropped: %d", r.Rejected, r.Cancelled, r.Duplicates)
	if r.DuplicatesKept > 0 {
		ew.printf(", identical rows kept (duplicates: keep): %d", r.DuplicatesKept)
	}
	ew.printf("\n")
	if len(r.ByReason) > 0 {
		ew.printf("  rejected rows by reason:\n")
		reasons := make([]string, 0, len(r.ByReason))
		for k := range r.ByReason {
			reasons = append(reasons, k)
		}
		sort.Slice(reasons, func(i, j int) bool {
			a, b := reasons[i], reasons[j]
			if r.ByReason[a] != r.ByReason[b] {
				return r.ByReason[a] > r.ByReason[b]
			}
			return a < b
		})
		for _, k := range reasons {
			ew.printf("    %6d  %s\n", r.ByReason[k], k)
		}
	}
	if n := r.Cancelled + r.Duplicates; n > 0 {
		ew.printf("  cancelled and duplicate rows:\n")
		for i, d := range r.Dropped {
			if i == listedInText {
				break
			}
			ew.printf("    %s\n", d.Error())
		}
		if n > listedInText {
			ew.printf("    ... and %d more", n-min(listedInText, len(r.Dropped)))
			if r.Quarantine != "" {
				ew.printf(" (all in the quarantine file)")
			}
			ew.printf("\n")
		}
	}
	if r.Quarantine != "" {
		ew.printf("  quarantine: %s (%d rows)\n", r.Quarantine, r.Rejected+r.Cancelled+r.Duplicates)
	}
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
