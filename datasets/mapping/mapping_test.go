package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// baseMapping is a valid mapping; the error cases below edit one line of it.
// Line numbers: 1 currency, 2 sources, 3 format, 4 transactions,
// 5 member_id, 6 ts, 7 amount, 8 kind, 9 members, 10 contract_type,
// 11 home_club.
const baseMapping = `currency: EUR
sources:
  - format: csv
    transactions:
      member_id: customer
      ts: {column: date, layouts: [YYYYMMDD]}
      amount: qty * price
      kind: {const: retail}
    members:
      contract_type: {const: monthly}
      home_club: {const: main}
`

func TestParseValid(t *testing.T) {
	m, err := Parse([]byte(baseMapping), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "base" || m.Minor() != 2 || m.Location().String() != "UTC" || m.Sources[0].Match != "*" || !m.Sources[0].derived {
		t.Errorf("defaults: name %q minor %d zone %s match %q derived %v", m.Name, m.Minor(), m.Location(), m.Sources[0].Match, m.Sources[0].derived)
	}
	if got := m.Sources[0].Transactions.amount.Columns(); strings.Join(got, ",") != "qty,price" {
		t.Errorf("amount columns %q", got)
	}
	if _, err := Load(filepath.Join("testdata", "pos", "studio_nord.yaml")); err != nil {
		t.Errorf("Load studio_nord.yaml: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(baseMapping, old) {
			panic("no " + old)
		}
		return strings.Replace(baseMapping, old, new, 1)
	}
	for _, tc := range []struct {
		name string
		yaml string
		key  string // MappingError.Key; "" when the YAML decoder reports it
		line int
		text string // in the message
	}{
		{"currency", edit("currency: EUR", "currency: euro"), "currency", 1, "ISO 4217"},
		{"unknown key", edit("currency: EUR", "currency: EUR\ncurrancy: EUR"), "", 2, "field currancy not found"},
		{"unknown kind", edit("{const: retail}", "{const: retial}"), "sources[0].transactions.kind.const", 8, `unknown value "retial"`},
		{"bad formula", edit("qty * price", "qty *"), "sources[0].transactions.amount", 7, "end of expression"},
		{"format", edit("format: csv", "format: xls"), "sources[0].format", 3, `unknown format "xls"`},
		{"time zone", edit("currency: EUR", "currency: EUR\ntimezone: Mars/Olympus"), "timezone", 2, "Mars/Olympus"},
		{"field key typo", edit("layouts: [YYYYMMDD]", "layout: [YYYYMMDD]"), "", 6, `unknown key "layout"`},
		{"map value", edit("{const: retail}", "{column: item, map: {Shake: retial}}"), "sources[0].transactions.kind.map.Shake", 8, `unknown value "retial"`},
		{"layout", edit("[YYYYMMDD]", "[HH:MM]"), "sources[0].transactions.ts.layouts", 6, "year, month and day"},
		{"delimiter", edit("format: csv", "format: whitespace\n    delimiter: \";\""), "sources[0].delimiter", 4, "only used with format csv"},
		{"header", edit("format: csv", "format: csv\n    header: false"), "sources[0].columns", 3, "header: false needs"},
		{"declared columns", edit("format: csv", "format: csv\n    columns: [customer, date, qty]"), "sources[0].transactions.amount", 8, `column "price" is not among`},
		{"derived member_id", edit("      contract_type:", "      member_id: customer\n      contract_type:"), "sources[0].members.member_id", 10, "remove this key"},
		{"refunds", edit("amount: qty * price", "amount: qty * price\n      refunds: {negative_quantity: true}"), "sources[0].transactions.refunds.negative_quantity", 8, "needs transactions.quantity"},
		{"minor units", edit("currency: EUR", "currency: EUR\nminor_units: 12"), "minor_units", 2, "out of range"},
		{"no members", strings.Split(baseMapping, "    members:")[0], "sources", 2, "no members mapping"},
		{"missing ts", edit("      ts: {column: date, layouts: [YYYYMMDD]}\n", ""), "sources[0].transactions.ts", 4, "missing"},
		{"two sources of a field", edit("{const: retail}", "{const: retail, column: item}"), "sources[0].transactions.kind", 8, "exactly one of"},
		{"default without map", edit("{const: retail}", "{column: item, default: retail}"), "sources[0].transactions.kind.default", 8, "default needs a map"},
		{"duplicates", edit("format: csv", "format: csv\n    duplicates: maybe"), "sources[0].duplicates", 4, "drop or keep"},
		{"empty", "", "", 0, "empty mapping"},
		{"syntax", "currency: [EUR", "", 1, "yaml"},
		{"not a mapping", "- a\n- b", "", 0, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "m.yaml")
			var me *MappingError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, want a *MappingError", err)
			}
			if me.File != "m.yaml" || me.Key != tc.key || tc.line != 0 && me.Line != tc.line {
				t.Errorf("got file %q key %q line %d, want m.yaml %q %d (%v)", me.File, me.Key, me.Line, tc.key, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("got %v", err)
	}
}

func TestBuiltin(t *testing.T) {
	names := BuiltinNames()
	if strings.Join(names, ",") != "cdnow,cdnow_sample,interactions,interactions_value" {
		t.Errorf("BuiltinNames() = %q", names)
	}
	zone := map[string]string{"cdnow": "America/New_York", "cdnow_sample": "America/New_York", "interactions": "UTC", "interactions_value": "UTC"}
	for _, n := range names {
		m, err := Builtin(n)
		if err != nil {
			t.Errorf("Builtin(%q): %v", n, err)
			continue
		}
		if m.Name != n || m.Currency != "USD" || m.Location().String() != zone[n] {
			t.Errorf("%s: name %q currency %q zone %s", n, m.Name, m.Currency, m.Location())
		}
		if m2, err := LoadNamed(n); err != nil || m2.Name != n {
			t.Errorf("LoadNamed(%q) = %v, %v", n, m2, err)
		}
	}
	for _, bad := range []string{"nope", "", "../mapping", "cdnow.yaml"} {
		if _, err := Builtin(bad); err == nil {
			t.Errorf("Builtin(%q) succeeded", bad)
		}
	}
}

func FuzzParseMapping(f *testing.F) {
	f.Add([]byte(baseMapping))
	for _, p := range []string{"mappings/cdnow.yaml", "mappings/cdnow_sample.yaml", "testdata/pos/studio_nord.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("currency: EUR\nsources: [{format: csv, transactions: {amount: '((('}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var me *MappingError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *MappingError", err)
			}
			return
		}
		// A mapping that parses is complete.
		if m.loc == nil || len(m.Sources) == 0 {
			t.Fatalf("incomplete mapping parsed: %+v", m)
		}
		for _, s := range m.Sources {
			if s.Transactions != nil && s.Transactions.amount == nil {
				t.Fatal("transactions without a parsed amount")
			}
		}
	})
}
