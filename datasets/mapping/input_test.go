package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retain/datasets"
)

// TestTextInputs reads the same three rows written in several text
// dialects; each must give the same values.
func TestTextInputs(t *testing.T) {
	want := [][]string{{"K1", "Müller", "19.99"}, {"K2", "Öz", "5"}, {"K3", "Nuñez", "0.5"}}
	for _, tc := range []struct {
		name   string
		source string // YAML of the source, without the tables
		data   []byte
	}{
		{"csv with BOM and CRLF", "format: csv", []byte("\ufeffid,name,amount\r\nK1,Müller,19.99\r\nK2,Öz,5\r\nK3,Nuñez,0.5\r\n")},
		{"semicolon, spaces, trailing delimiter", "format: csv\ndelimiter: \";\"", []byte(" id ; name ; amount ;\nK1 ; Müller ;19.99;\nK2;Öz;5;\n\nK3;Nuñez;0.5;\n")},
		{"quoted fields", "format: csv", []byte("id,name,amount\n\"K1\",\"Müller\",\"19.99\"\nK2,Öz,5\nK3,\"Nuñez\",0.5\n")},
		{"tsv", "format: tsv", []byte("id\tname\tamount\nK1\tMüller\t19.99\nK2\tÖz\t5\nK3\tNuñez\t0.5\n")},
		{"whitespace, no header", "format: whitespace\nheader: false\ncolumns: [id, name, amount]", []byte("  K1   Müller  19.99\r\n K2 Öz 5\r\n\r\n K3 Nuñez 0.5\r\n")},
		{"latin1 with preamble", "format: csv\nencoding: latin1\nskip_lines: 2", []byte("Export vom 01.03.2024\nKasse 1\nid,name,amount\nK1,M\xfcller,19.99\nK2,\xd6z,5\nK3,Nu\xf1ez,0.5\n")},
		{"header renamed", "format: csv\nheader: true\ncolumns: [id, name, amount]", []byte("Kunde,Name,Betrag\nK1,Müller,19.99\nK2,Öz,5\nK3,Nuñez,0.5\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Source
			src := "currency: EUR\nsources:\n  - " + strings.ReplaceAll(tc.source, "\n", "\n    ") + `
    transactions: {member_id: id, ts: {const: "2024-01-01"}, amount: amount, kind: {const: retail}}
    members: {contract_type: {const: monthly}, home_club: name}
`
			m, err := Parse([]byte(src), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			s = m.Sources[0]
			p := filepath.Join(t.TempDir(), "in.txt")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			in, err := openInput(p, &s)
			if err != nil {
				t.Fatal(err)
			}
			defer in.close()
			if got := strings.Join(in.columns(), ","); got != "id,name,amount" {
				t.Errorf("columns %q", got)
			}
			for i := 0; ; i++ {
				rec, err := in.next()
				if err != nil {
					if i != len(want) || err.Error() != "EOF" {
						t.Errorf("after %d rows: %v", i, err)
					}
					break
				}
				if i >= len(want) || strings.Join(rec.vals, "|") != strings.Join(want[i], "|") || rec.row != int64(i+1) {
					t.Errorf("row %d = %q (row number %d)", i+1, rec.vals, rec.row)
				}
			}
		})
	}
}

func TestTextInputErrors(t *testing.T) {
	m, err := Parse([]byte(baseMapping), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.csv")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Import(m, []string{empty}, filepath.Join(dir, "out"), nil); !errors.Is(err, datasets.ErrSchema) {
		t.Errorf("empty file: %v", err)
	}
	// The mapping's columns must be in the header.
	wrong := filepath.Join(dir, "wrong.csv")
	os.WriteFile(wrong, []byte("customer,date,quantity,price\n"), 0o644)
	_, err = Import(m, []string{wrong}, filepath.Join(dir, "out"), nil)
	if !errors.Is(err, datasets.ErrSchema) || !strings.Contains(err.Error(), `no column "qty"`) {
		t.Errorf("missing column: %v", err)
	}
	// A line longer than 1 MiB in a line-based format is an error.
	long := filepath.Join(dir, "long.txt")
	os.WriteFile(long, []byte("customer date qty price\n"+strings.Repeat("x", maxLineBytes+10)+"\n"), 0o644)
	ws, err := Parse([]byte(strings.Replace(baseMapping, "format: csv", "format: whitespace", 1)), "ws.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ws, []string{long}, filepath.Join(dir, "out"), &Options{OnBadRow: Skip}); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long line: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("left behind: %v", ents)
	}
}
