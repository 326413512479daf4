package mapping

import (
	"bufio"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"retain/datasets"
)

// cdnowDir returns the shared CDNOW folder (shared/datasets/cdnow beside
// the repository), found by walking up from the package directory, or skips
// the test. RETAIN_SHARED_DATASETS overrides the search with the folder
// holding cdnow/.
func cdnowDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("RETAIN_SHARED_DATASETS"); d != "" {
		p := filepath.Join(d, "cdnow")
		if _, err := os.Stat(filepath.Join(p, "CDNOW_master.txt")); err != nil {
			t.Skipf("shared CDNOW data not found at %s (RETAIN_SHARED_DATASETS)", p)
		}
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "datasets", "cdnow")
		if _, err := os.Stat(filepath.Join(p, "CDNOW_master.txt")); err == nil {
			return p
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Skipf("shared CDNOW data not found at ../shared/datasets/cdnow above %s", wd)
	return ""
}

// cdnowFacts reads a CDNOW file independently of the importer: whitespace
// fields, the dollar value exactly as a rational, the first date of each
// customer.
type cdnowFacts struct {
	rows      int
	customers map[string]string // customer -> first date YYYYMMDD
	dollars   *big.Rat
}

func readCDNOW(t *testing.T, path string, header bool, idCol, dateCol, dollarCol int) cdnowFacts {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	facts := cdnowFacts{customers: map[string]string{}, dollars: new(big.Rat)}
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if first && header {
			first = false
			continue
		}
		if len(fields) == 0 {
			continue
		}
		facts.rows++
		id, date := fields[idCol], fields[dateCol]
		if d, ok := facts.customers[id]; !ok || date < d {
			facts.customers[id] = date
		}
		v, ok := new(big.Rat).SetString(fields[dollarCol])
		if !ok {
			t.Fatalf("bad dollar value %q", fields[dollarCol])
		}
		facts.dollars.Add(facts.dollars, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return facts
}

func TestCDNOW(t *testing.T) {
	dir := cdnowDir(t)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mapping, file             string
		header                    bool
		idCol, dateCol, dollarCol int
		rows, customers, kept     int // from the data's README; kept: lines repeating an earlier line (sort | uniq)
	}{
		{"cdnow", "CDNOW_master.txt", true, 0, 1, 3, 69659, 23570, 255},
		{"cdnow_sample", "CDNOW_sample.txt", false, 0, 2, 4, 6919, 2357, 21},
	} {
		t.Run(tc.mapping, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			facts := readCDNOW(t, path, tc.header, tc.idCol, tc.dateCol, tc.dollarCol)
			if facts.rows != tc.rows || len(facts.customers) != tc.customers {
				t.Fatalf("independent read: %d rows, %d customers; the README says %d and %d", facts.rows, len(facts.customers), tc.rows, tc.customers)
			}
			cents := new(big.Rat).Mul(facts.dollars, big.NewRat(100, 1))
			if !cents.IsInt() {
				t.Fatalf("dollar sum %s is not whole cents", facts.dollars.FloatString(4))
			}
			wantCents := cents.Num().Int64()

			m, err := Builtin(tc.mapping)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			rep, err := Import(m, []string{path}, out, nil) // defaults: fail policy, Parquet, now
			if err != nil {
				t.Fatal(err)
			}
			checkInvariant(t, rep)
			if rep.Rows != tc.rows || rep.Imported != tc.rows || rep.Visits != tc.rows || rep.Transactions != tc.rows || rep.Members != tc.customers || rep.DuplicatesKept != tc.kept {
				t.Errorf("report: rows %d imported %d visits %d transactions %d members %d kept %d", rep.Rows, rep.Imported, rep.Visits, rep.Transactions, rep.Members, rep.DuplicatesKept)
			}

			// Read the dataset back and check it against the independent read.
			d, err := datasets.OpenDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if man := d.Manifest(); man.Currency != "USD" || man.MinorUnits != 2 {
				t.Errorf("manifest %+v", man)
			}
			members, err := datasets.ReadAll[datasets.Member](filepath.Join(out, "members.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			visits, err := datasets.ReadAll[datasets.Attendance](filepath.Join(out, "attendance.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			txs, err := datasets.ReadAll[datasets.Transaction](filepath.Join(out, "transactions.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			if len(members) != tc.customers || len(visits) != tc.rows || len(txs) != tc.rows {
				t.Errorf("read back %d members, %d visits, %d transactions", len(members), len(visits), len(txs))
			}
			var sum int64
			zero := 0
			for _, x := range txs {
				sum += x.Amount
				if x.Amount == 0 {
					zero++
				}
				if x.Kind != datasets.TxRetail {
					t.Fatalf("transaction %+v is not retail", x)
				}
			}
			if sum != wantCents || sum != rep.AmountTotal {
				t.Errorf("amounts sum to %d cents (report %d), the file to %d", sum, rep.AmountTotal, wantCents)
			}
			if zero == 0 {
				t.Error("no zero-dollar purchase kept")
			}
			for _, v := range visits {
				if v.CourseID != "" || v.Source != datasets.SourceApp {
					t.Fatalf("visit %+v: want no course, source app", v)
				}
			}
			// joined_at is the first purchase: midnight in New York.
			for _, mem := range members {
				first, ok := facts.customers[mem.MemberID]
				if !ok {
					t.Fatalf("member %q not in the file", mem.MemberID)
				}
				day, err := time.ParseInLocation("20060102", first, ny)
				if err != nil {
					t.Fatal(err)
				}
				if !mem.JoinedAt.Equal(day) || mem.ContractType != datasets.ContractPayAsYouGo || mem.HomeClub != "cdnow" {
					t.Fatalf("member %+v: want joined %s (first purchase %s), pay_as_you_go, cdnow", mem, day.UTC(), first)
				}
			}
		})
	}
}
