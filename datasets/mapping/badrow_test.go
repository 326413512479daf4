package mapping

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retain/datasets"
)

// badRowMapping reads a member list and a sales export. Members m1 joined
// 2024-01-01 and m2 2024-03-01 (Berlin time).
const badRowMapping = `currency: EUR
timezone: Europe/Berlin
sources:
  - match: "members.csv"
    format: csv
    members:
      member_id: id
      joined_at: {column: joined, layouts: [YYYY-MM-DD]}
      home_club: {const: main}
      contract_type: {const: monthly}
  - match: "sales.csv"
    format: csv
    cancelled: {column: status, values: [VOID]}
    transactions:
      event_id: receipt
      member_id: customer
      ts: {column: date, layouts: ["YYYY-MM-DD HH:MM", DD.MM.YYYY]}
      amount: qty * "unit price"
      quantity: qty
      kind: {column: item, map: {Shake: retail, Fee: membership_fee}}
`

const salesHeader = "receipt,date,customer,item,qty,unit price,status\n"
const goodSale = "r1,2024-02-01 10:00,m1,Shake,2,3.90,OK\n"

// writeInputs writes members.csv and sales.csv (header, a good row, then
// the given rows) into a new directory.
func writeInputs(t *testing.T, rows string) []string {
	t.Helper()
	dir := t.TempDir()
	members := filepath.Join(dir, "members.csv")
	sales := filepath.Join(dir, "sales.csv")
	if err := os.WriteFile(members, []byte("id,joined\nm1,2024-01-01\nm2,2024-03-01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sales, []byte(salesHeader+goodSale+rows), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{members, sales}
}

// TestBadRows checks each kind of bad row: with the fail policy the import
// stops at it (row 2 of sales.csv, line 3) naming the sentinel and the
// column; with the skip policy it is the one quarantined row.
func TestBadRows(t *testing.T) {
	for _, tc := range []struct {
		name    string
		row     string
		mapping func(string) string // edits badRowMapping; nil for none
		err     error
		column  string
	}{
		{"blank member id", "r2,2024-02-01 10:00, ,Shake,1,3.90,OK", nil, datasets.ErrMissing, "customer"},
		{"blank event id", ",2024-02-01 10:00,m1,Shake,1,3.90,OK", nil, datasets.ErrMissing, "receipt"},
		{"negative quantity", "r2,2024-02-01 10:00,m1,Shake,-1,3.90,OK", nil, datasets.ErrBadNumber, "qty"},
		{"unparsable timestamp", "r2,2024/02/01,m1,Shake,1,3.90,OK", nil, datasets.ErrBadTimestamp, "date"},
		{"impossible date", "r2,30.02.2024,m1,Shake,1,3.90,OK", nil, datasets.ErrBadTimestamp, "date"},
		{"blank timestamp", "r2,,m1,Shake,1,3.90,OK", nil, datasets.ErrMissing, "date"},
		{"future timestamp", "r2,01.01.2031,m1,Shake,1,3.90,OK", nil, datasets.ErrFutureTime, "date"},
		{"timestamp before 1990", "r2,01.01.1989,m1,Shake,1,3.90,OK", nil, datasets.ErrBadTimestamp, "date"},
		{"NaN price", "r2,2024-02-01 10:00,m1,Shake,1,NaN,OK", nil, datasets.ErrBadNumber, "unit price"},
		{"Inf price", "r2,2024-02-01 10:00,m1,Shake,1,+Inf,OK", nil, datasets.ErrBadNumber, "unit price"},
		{"blank price", "r2,2024-02-01 10:00,m1,Shake,1,,OK", nil, datasets.ErrMissing, "unit price"},
		{"absurd amount", "r2,2024-02-01 10:00,m1,Shake,1000,1000,OK", nil, datasets.ErrAbsurdAmount, "amount"}, // 1,000,000.00 > 100,000.00
		{"absurd exponent", "r2,2024-02-01 10:00,m1,Shake,1,1e99,OK", nil, datasets.ErrAbsurdAmount, "unit price"},
		{"unknown kind", "r2,2024-02-01 10:00,m1,Gift card,1,3.90,OK", nil, datasets.ErrUnknownValue, "item"},
		{"duplicate event id", "r1,2024-02-02 10:00,m1,Shake,1,3.90,OK", nil, datasets.ErrDuplicateEvent, "receipt"},
		{"unknown member", "r2,2024-02-01 10:00,m9,Shake,1,3.90,OK", nil, datasets.ErrUnknownMember, "customer"},
		{"before joining", "r2,2024-02-01 10:00,m2,Shake,1,3.90,OK", nil, datasets.ErrBeforeJoin, "date"},
		{"too few fields", "r2,2024-02-01 10:00,m1,Shake,1", nil, ErrMalformed, ""},
		{"too many fields", "r2,2024-02-01 10:00,m1,Shake,1,3.90,OK,extra", nil, ErrMalformed, ""},
		{"bare quote", `r2,2024-02-01 10:00,m1,Sh"ake,1,3.90,OK`, nil, ErrMalformed, ""},
		{"invalid UTF-8", "r2,2024-02-01 10:00,m1,Sh\xffake,1,3.90,OK", nil, ErrMalformed, "item"},
		{"division by zero", "r2,2024-02-01 10:00,m1,Shake,0,3.90,OK",
			func(s string) string { return strings.Replace(s, `qty * "unit price"`, `'"unit price" / qty'`, 1) },
			datasets.ErrBadNumber, "amount"},
		{"negative amount", "r2,2024-02-01 10:00,m1,Shake,1,-3.90,OK", nil, datasets.ErrBadNumber, "amount"},
		{"unknown value without default", "r2,2024-02-01 10:00,m1,shake,1,3.90,OK", nil, datasets.ErrUnknownValue, "item"}, // maps are case sensitive
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := badRowMapping
			if tc.mapping != nil {
				src = tc.mapping(src)
			}
			m, err := Parse([]byte(src), "bad.yaml")
			if err != nil {
				t.Fatal(err)
			}
			in := writeInputs(t, tc.row+"\n")
			parent := t.TempDir()
			_, err = Import(m, in, filepath.Join(parent, "out"), &Options{Now: fixedNow})
			var re *datasets.RowError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *datasets.RowError", err)
			}
			if !errors.Is(err, tc.err) || re.File != in[1] || re.Row != 2 || re.Line != 3 || re.Column != tc.column {
				t.Errorf("got %v\n(file %q row %d line %d column %q), want %v at sales.csv row 2 line 3 column %q", err, filepath.Base(re.File), re.Row, re.Line, re.Column, tc.err, tc.column)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("fail policy left %v", ents)
			}
			// Skip: the row is the only one quarantined; the good row and
			// the members are imported.
			rep, err := Import(m, in, filepath.Join(parent, "out"), &Options{Now: fixedNow, OnBadRow: Skip})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariant(t, rep)
			if rep.Rejected != 1 || rep.ByReason[Reason(tc.err)] != 1 || rep.Transactions != 1 || rep.Members != 2 {
				t.Errorf("skip: rejected %d by reason %v, %d transactions, %d members", rep.Rejected, rep.ByReason, rep.Transactions, rep.Members)
			}
		})
	}
}

// TestRunawayQuote: a quoted field that runs over line ends into a quote
// error (an opening quote never closed) has taken in lines that may be
// rows. The import stops with a *datasets.QuoteError naming the lines,
// whatever the bad-row policy, and writes nothing: the rows are not lost
// silently, nor counted as one rejected row. A quote error within one line
// is an ordinary bad row (TestBadRows, "bare quote").
func TestRunawayQuote(t *testing.T) {
	sale := func(id string) string { return id + ",2024-02-01 10:00,m1,Shake,1,3.90,OK\n" }
	for _, tc := range []struct {
		name      string
		preamble  int // lines before the header (skip_lines)
		rows      string
		line, end int64
		eof       bool
	}{
		{"to the end of the file", 0, `"` + sale("r2") + sale("r3") + sale("r4"), 3, 5, true},
		{"after a preamble", 2, `"` + sale("r2") + sale("r3") + sale("r4"), 5, 7, true},
		{"to a stray quote", 0, `"` + sale("r2") + sale("r3") + `r4,2024-02-01 10:00,m1,Sh"ake,1,3.90,OK` + "\n" + sale("r5"), 3, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := badRowMapping
			if tc.preamble > 0 {
				src = strings.Replace(src, "  - match: \"sales.csv\"\n    format: csv\n", fmt.Sprintf("  - match: \"sales.csv\"\n    format: csv\n    skip_lines: %d\n", tc.preamble), 1)
			}
			m, err := Parse([]byte(src), "bad.yaml")
			if err != nil {
				t.Fatal(err)
			}
			in := writeInputs(t, tc.rows)
			if tc.preamble > 0 {
				b, _ := os.ReadFile(in[1])
				os.WriteFile(in[1], append([]byte(strings.Repeat("Export\n", tc.preamble)), b...), 0o644)
			}
			for _, policy := range []Policy{Fail, Skip} {
				parent := t.TempDir()
				_, err := Import(m, in, filepath.Join(parent, "out"), &Options{Now: fixedNow, OnBadRow: policy})
				var qe *datasets.QuoteError
				if !errors.As(err, &qe) || !errors.Is(err, datasets.ErrRunawayQuote) {
					t.Fatalf("policy %v: got %v, want a *datasets.QuoteError", policy, err)
				}
				if qe.File != in[1] || qe.Row != 2 || qe.Line != tc.line || qe.End != tc.end || qe.EOF != tc.eof {
					t.Errorf("policy %v: got %+v, want sales.csv row 2 line %d to %d, EOF %v", policy, *qe, tc.line, tc.end, tc.eof)
				}
				if want := fmt.Sprintf("taking in the %d line(s) after line %d", tc.end-tc.line, tc.line); !strings.Contains(err.Error(), want) {
					t.Errorf("policy %v: message %q lacks %q", policy, err, want)
				}
				if ents, _ := os.ReadDir(parent); len(ents) != 0 {
					t.Errorf("policy %v: left %v", policy, ents)
				}
			}
		})
	}
}

// TestNotBadRows: cancelled rows, refunds and exact duplicates are counted
// but are not errors, even with the fail policy.
func TestNotBadRows(t *testing.T) {
	src := strings.Replace(badRowMapping, "      quantity: qty\n", "      quantity: qty\n      refunds: {negative_quantity: true}\n", 1)
	m, err := Parse([]byte(src), "ok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := writeInputs(t, ""+
		"r2,2024-02-01 11:00,m1,Shake,1,3.90,VOID\n"+ // cancelled
		"r3,2024-02-02 11:00,m1,Shake,-2,3.90,OK\n"+ // refund: -7.80
		goodSale+ // duplicate of row 1
		"r4,01.03.2024,m2,Fee,1,49.90,OK\n") // second layout, joined that day
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Import(m, in, out, &Options{Now: fixedNow, Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, rep)
	if rep.Cancelled != 1 || rep.Duplicates != 1 || rep.Transactions != 3 || len(rep.Dropped) != 2 {
		t.Errorf("cancelled %d duplicates %d transactions %d dropped %d", rep.Cancelled, rep.Duplicates, rep.Transactions, len(rep.Dropped))
	}
	if !errors.Is(rep.Dropped[0], ErrCancelled) || rep.Dropped[0].Row != 2 || !errors.Is(rep.Dropped[1], ErrDuplicateRow) || rep.Dropped[1].Row != 4 {
		t.Errorf("dropped %v", rep.Dropped)
	}
	txs, err := datasets.ReadAll[datasets.Transaction](filepath.Join(out, "transactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// 2 * 3.90 = 780; refund -2 * 3.90 = -780; 49.90 = 4990.
	want := []struct {
		id     string
		amount int64
		kind   datasets.TxKind
	}{{"r1", 780, datasets.TxRetail}, {"r3", -780, datasets.TxRefund}, {"r4", 4990, datasets.TxMembershipFee}}
	if len(txs) != len(want) {
		t.Fatalf("got %d transactions", len(txs))
	}
	for i, w := range want {
		if txs[i].EventID != w.id || txs[i].Amount != w.amount || txs[i].Kind != w.kind {
			t.Errorf("transaction %d = %+v, want %+v", i, txs[i], w)
		}
	}
	// 01.03.2024 is midnight in Berlin: 2024-02-29T23:00Z.
	if got := txs[2].TS.Format("2006-01-02T15:04Z07:00"); got != "2024-02-29T23:00Z" {
		t.Errorf("r4 at %s", got)
	}
	if _, err := os.Stat(filepath.Join(out, "quarantine.csv")); err == nil {
		t.Error("fail policy wrote a quarantine file")
	}
	// A pure sales export: an empty attendance table, no courses table.
	if visits, err := datasets.ReadAll[datasets.Attendance](filepath.Join(out, "attendance.csv")); err != nil || len(visits) != 0 {
		t.Errorf("attendance: %d rows, %v", len(visits), err)
	}
	if _, err := os.Stat(filepath.Join(out, "courses.csv")); err == nil {
		t.Error("courses table written without a course list")
	}
}

// TestRefundNoVisit: in a source that makes a visit and a transaction of
// each row, a refund row makes only the (negative) transaction.
func TestRefundNoVisit(t *testing.T) {
	src := `currency: USD
sources:
  - format: whitespace
    header: false
    columns: [id, day, n, usd]
    attendance: {member_id: id, ts: {column: day, layouts: [YYYYMMDD]}}
    transactions:
      member_id: id
      ts: {column: day, layouts: [YYYYMMDD]}
      amount: usd
      quantity: n
      refunds: {negative_quantity: true}
      kind: {const: retail}
    members: {contract_type: {const: pay_as_you_go}, home_club: {const: shop}}
`
	m, err := Parse([]byte(src), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "orders.txt")
	// A purchase of 2 CDs for 25.98 and the return of one for 12.99.
	if err := os.WriteFile(p, []byte("7 19970101 2 25.98\n7 19970105 -1 12.99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Import(m, []string{p}, out, &Options{Now: fixedNow, Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Visits != 1 || rep.Transactions != 2 || rep.AmountTotal != 2598-1299 || rep.Members != 1 {
		t.Errorf("visits %d transactions %d total %d members %d; want 1, 2, 1299, 1", rep.Visits, rep.Transactions, rep.AmountTotal, rep.Members)
	}
}

// TestDerivedIDsSameBaseName: monthly exports in folders share a base name;
// their derived event ids must still differ.
func TestDerivedIDsSameBaseName(t *testing.T) {
	m, err := Parse([]byte(baseMapping), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var in []string
	for _, month := range []string{"jan", "feb"} {
		p := filepath.Join(dir, month, "sales.csv")
		os.MkdirAll(filepath.Dir(p), 0o755)
		day := map[string]string{"jan": "19970110", "feb": "19970210"}[month]
		if err := os.WriteFile(p, []byte("customer,date,qty,price\nc1,"+day+",1,2.50\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		in = append(in, p)
	}
	out := filepath.Join(dir, "out")
	rep, err := Import(m, in, out, &Options{Now: fixedNow, Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	txs, err := datasets.ReadAll[datasets.Transaction](filepath.Join(out, "transactions.csv"))
	if err != nil || rep.Transactions != 2 || len(txs) != 2 {
		t.Fatalf("%d transactions, %v", rep.Transactions, err)
	}
	if want := filepath.ToSlash(in[1]) + ":1"; txs[1].EventID != want {
		t.Errorf("event id %q, want %q", txs[1].EventID, want)
	}
}
