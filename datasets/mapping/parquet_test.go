package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"retain/datasets"
)

// pqSale is a row of a booking system's Parquet export, with the system's
// own column names and types.
type pqSale struct {
	Receipt  string    `parquet:"Beleg"`
	Customer int64     `parquet:"Kunde"`                                 // integer ids
	At       time.Time `parquet:"Zeit,timestamp(millisecond)"`           // an instant (isAdjustedToUTC)
	Local    int64     `parquet:"Ortszeit,timestamp(millisecond:local)"` // wall clock, no zone
	Day      int32     `parquet:"Tag,date"`                              // days since 1970-01-01
	Qty      int32     `parquet:"Menge"`
	Price    int64     `parquet:"Preis,decimal(2:18)"` // 399 is 3.99
	Net      float64   `parquet:"Netto"`
	Item     *string   `parquet:"Artikel,optional"`
	Paid     bool      `parquet:"Bezahlt"`
}

const pqMapping = `currency: EUR
timezone: Europe/Berlin
sources:
  - format: parquet
    transactions:
      event_id: Beleg
      member_id: Kunde
      ts: Zeit
      amount: Menge * Preis
      quantity: Menge
      kind: {column: Artikel, map: {Fee: membership_fee, "": retail}, default: retail}
    attendance:
      member_id: Kunde
      ts: Ortszeit
    members:
      contract_type: {const: class_pack}
      home_club: {const: main}
      contract_start: Tag
`

func writeParquet(t *testing.T, rows []pqSale) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sales.parquet")
	if err := parquet.WriteFile(p, rows); err != nil {
		t.Fatal(err)
	}
	return p
}

func strp(s string) *string { return &s }

func TestImportParquet(t *testing.T) {
	at := time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)
	// Ortszeit 2024-03-01 10:30 on the wall clock is 09:30 UTC in Berlin.
	local := time.Date(2024, 3, 1, 10, 30, 0, 0, time.UTC).UnixMilli()
	day := time.Date(2024, 2, 15, 0, 0, 0, 0, time.UTC)
	days := int32(day.Unix() / 86400)
	in := writeParquet(t, []pqSale{
		{"P1", 1001, at, local, days, 2, 399, 3.35, strp("Shake"), true},
		{"P2", 1002, at.Add(time.Hour), local + 3600_000, days, 1, 4990, 41.93, strp("Fee"), true},
		{"P3", 1001, at.Add(2 * time.Hour), local + 7200_000, days, 1, 250, 2.1, nil, false}, // no article: mapped from "" to retail
		{"P4", 1003, at, local, days, -1, 399, 0, strp("Shake"), true},                       // negative quantity
	})
	m, err := Parse([]byte(pqMapping), "pq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Import(m, []string{in}, out, &Options{Now: fixedNow, OnBadRow: Skip})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, rep)
	if rep.Rows != 4 || rep.Transactions != 3 || rep.Visits != 3 || rep.Members != 2 || rep.Rejected != 1 {
		b, _ := os.ReadFile(filepath.Join(out, "quarantine.csv"))
		t.Fatalf("rows %d transactions %d visits %d members %d rejected %d\n%s", rep.Rows, rep.Transactions, rep.Visits, rep.Members, rep.Rejected, b)
	}
	txs, err := datasets.ReadAll[datasets.Transaction](filepath.Join(out, "transactions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	// 2 * 3.99 = 798; 49.90 = 4990; 2.50 = 250.
	want := []datasets.Transaction{
		{EventID: "P1", MemberID: "1001", TS: at, Amount: 798, Kind: datasets.TxRetail},
		{EventID: "P2", MemberID: "1002", TS: at.Add(time.Hour), Amount: 4990, Kind: datasets.TxMembershipFee},
		{EventID: "P3", MemberID: "1001", TS: at.Add(2 * time.Hour), Amount: 250, Kind: datasets.TxRetail},
	}
	for i := range want {
		if i >= len(txs) || txs[i].EventID != want[i].EventID || txs[i].MemberID != want[i].MemberID || !txs[i].TS.Equal(want[i].TS) || txs[i].Amount != want[i].Amount || txs[i].Kind != want[i].Kind {
			t.Errorf("transaction %d = %+v, want %+v", i, txs[i], want[i])
		}
	}
	visits, err := datasets.ReadAll[datasets.Attendance](filepath.Join(out, "attendance.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(visits) != 3 || !visits[0].TS.Equal(at) || visits[0].EventID != "sales.parquet:1" {
		t.Errorf("visits %+v; want the first at %s (local 10:30 in Berlin), id sales.parquet:1", visits, at)
	}
	members, err := datasets.ReadAll[datasets.Member](filepath.Join(out, "members.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 2 || members[0].MemberID != "1001" || !members[0].JoinedAt.Equal(at) || !members[0].ContractStart.Equal(day) {
		t.Errorf("members %+v; want 1001 joined %s, contract from %s", members, at, day)
	}
}

// TestParquetTrims: text values of a Parquet export are trimmed like those
// of a text export.
func TestParquetTrims(t *testing.T) {
	at := time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)
	in := writeParquet(t, []pqSale{{" P1\t", 1001, at, at.UnixMilli(), int32(at.Unix() / 86400), 1, 4990, 0, strp(" Fee "), true}})
	m, err := Parse([]byte(pqMapping), "pq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Import(m, []string{in}, out, &Options{Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	txs, err := datasets.ReadAll[datasets.Transaction](filepath.Join(out, "transactions.parquet"))
	if err != nil || len(txs) != 1 || txs[0].EventID != "P1" || txs[0].Kind != datasets.TxMembershipFee {
		t.Errorf("got %+v, %v; want P1, a membership fee", txs, err)
	}
}

// TestParquetWrongTypes: a column of the wrong type is a schema error that
// names it, found before any row is read.
func TestParquetWrongTypes(t *testing.T) {
	in := writeParquet(t, []pqSale{{"P1", 1001, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), 0, 0, 1, 100, 1, nil, true}})
	for _, tc := range []struct{ old, new, column string }{
		{"ts: Zeit", "ts: Netto", "Netto"},                                                // a DOUBLE as a timestamp
		{"ts: Zeit", "ts: Kunde", "Kunde"},                                                // an INT64 as a timestamp without layouts: [unix]
		{"amount: Menge * Preis", "amount: Menge * Bezahlt", "Bezahlt"},                   // a BOOLEAN in the formula
		{"member_id: Kunde\n      ts: Zeit", "member_id: Netto\n      ts: Zeit", "Netto"}, // a DOUBLE as an id
		{"member_id: Kunde\n      ts: Zeit", "member_id: Zeit\n      ts: Zeit", "Zeit"},   // a TIMESTAMP as an id
		{"event_id: Beleg", "event_id: Belegnummer", "Belegnummer"},                       // no such column
	} {
		src := strings.Replace(pqMapping, tc.old, tc.new, 1)
		m, err := Parse([]byte(src), "pq.yaml")
		if err != nil {
			t.Fatal(err)
		}
		parent := t.TempDir()
		_, err = Import(m, []string{in}, filepath.Join(parent, "out"), &Options{Now: fixedNow, OnBadRow: Skip})
		t.Log(err)
		if !errors.Is(err, datasets.ErrSchema) || !strings.Contains(err.Error(), `"`+tc.column+`"`) {
			t.Errorf("%s: got %v, want ErrSchema naming %q", tc.new, err, tc.column)
		}
		if ents, _ := os.ReadDir(parent); len(ents) != 0 {
			t.Errorf("left %v", ents)
		}
	}
	// layouts: [unix] makes an integer column a timestamp.
	src := strings.Replace(pqMapping, "ts: Zeit", "ts: {column: Kunde, layouts: [unix]}", 1)
	m, err := Parse([]byte(src), "pq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(m, []string{in}, filepath.Join(t.TempDir(), "out"), &Options{Now: fixedNow, OnBadRow: Skip}); errors.Is(err, datasets.ErrSchema) {
		t.Errorf("unix layout: %v", err)
	}
}

// TestParquetCorrupt: a file that is not Parquet, or is cut short, is an
// error, never a panic.
func TestParquetCorrupt(t *testing.T) {
	good := writeParquet(t, []pqSale{{"P1", 1001, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), 0, 0, 1, 100, 1, nil, true}})
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse([]byte(pqMapping), "pq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := map[string][]byte{
		"text.parquet":  []byte("customer_id,date\n1,2024\n"),
		"empty.parquet": nil,
		"head.parquet":  data[:len(data)/2],
	}
	// Flip bytes in the middle of the file, where the pages are.
	flipped := append([]byte(nil), data...)
	for i := 8; i < len(flipped)/2; i += 7 {
		flipped[i] ^= 0x5a
	}
	cases["flipped.parquet"] = flipped
	for name, b := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Import(m, []string{p}, filepath.Join(t.TempDir(), "out"), &Options{Now: fixedNow, OnBadRow: Skip})
		if err == nil {
			t.Errorf("%s: imported without error", name)
		}
		t.Logf("%s: %v", name, err)
	}
}
