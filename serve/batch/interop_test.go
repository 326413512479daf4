package batch_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"retain/serve/batch"
)

// TestInterop reads the Parquet output with two independent
// implementations, as datasets' TestInterop does (the same script,
// datasets/testdata/interop.mjs): hyparquet (JavaScript) and DuckDB. Every
// row must read back with the same member, as-of instant, probability,
// flags list, tier, first course and action, and DuckDB must type the
// columns as a data scientist expects (flags VARCHAR[], as_of TIMESTAMP
// WITH TIME ZONE, probabilities DOUBLE). It needs node and the npm
// packages:
//
//	npm i --prefix /tmp/interop hyparquet @duckdb/node-api
//	RETAIN_NODE_MODULES=/tmp/interop go test -run TestInterop -v ./serve/batch
func TestInterop(t *testing.T) {
	base := os.Getenv("RETAIN_NODE_MODULES")
	node, err := exec.LookPath("node")
	if base == "" || err != nil {
		t.Skip("set RETAIN_NODE_MODULES to a folder with node_modules/hyparquet and node_modules/@duckdb/node-api (needs node)")
	}
	has := func(pkg string) bool {
		_, err := os.Stat(filepath.Join(base, "node_modules", pkg, "package.json"))
		return err == nil
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "datasets", "testdata", "interop.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	nodeRun := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(node, append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "RETAIN_NODE_MODULES="+base)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "scores.parquet")
	if _, err := batch.Run(context.Background(), batch.Options{Model: fix.bundle, Data: fix.dir, Out: p}); err != nil {
		t.Fatal(err)
	}
	rows, err := batch.ReadParquet(p)
	if err != nil {
		t.Fatal(err)
	}
	flagRows := 0
	for _, r := range rows {
		if len(r.Flags) > 0 {
			flagRows++
		}
	}
	if flagRows == 0 {
		t.Fatal("no row has flags: the list column is not exercised")
	}
	ran := false
	if has("hyparquet") {
		ran = true
		var got []map[string]any
		if err := json.Unmarshal(nodeRun("hyparquet", p), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(rows) {
			t.Fatalf("hyparquet: %d rows, want %d", len(got), len(rows))
		}
		for i, r := range rows {
			g := got[i]
			var flags []string
			for _, f := range g["flags"].([]any) {
				flags = append(flags, f.(string))
			}
			if g["member_id"] != r.MemberID || g["as_of"] != r.AsOfTime().Format("2006-01-02T15:04:05.000Z") ||
				g["churn_probability"] != r.ChurnProbability || !slices.Equal(flags, r.Flags) ||
				g["tier"] != r.Tier || g["next_course_1"] != r.NextCourse1 || g["action_kind"] != r.ActionKind {
				t.Fatalf("hyparquet row %d: %v\nwant %+v", i, g, r)
			}
		}
	}
	if has("@duckdb/node-api") {
		ran = true
		var types [][2]string
		if err := json.Unmarshal(nodeRun("duckdb-types", p), &types); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"member_id": "VARCHAR", "as_of": "TIMESTAMP WITH TIME ZONE", "churn_probability": "DOUBLE",
			"flags": "VARCHAR[]", "reason_1_contribution": "DOUBLE", "risk_level": "VARCHAR"}
		for _, c := range types {
			if w, ok := want[c[0]]; ok && c[1] != w {
				t.Errorf("duckdb: column %s is %s, want %s", c[0], c[1], w)
			}
		}
		out := filepath.Join(dir, "duck.csv")
		nodeRun("duckdb-csv", p, out)
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		if len(recs)-1 != len(rows) {
			t.Fatalf("duckdb: %d rows, want %d", len(recs)-1, len(rows))
		}
		for i, r := range rows {
			rec := recs[i+1]
			p, err := strconv.ParseFloat(rec[col["churn_probability"]], 64)
			if err != nil {
				t.Fatal(err)
			}
			asOf, err := time.Parse("2006-01-02 15:04:05-07", rec[col["as_of"]])
			if err != nil {
				t.Fatal(err)
			}
			flags := "[" + strings.Join(r.Flags, ", ") + "]"
			if rec[col["member_id"]] != r.MemberID || math.Abs(p-r.ChurnProbability) > 1e-15 || !asOf.Equal(r.AsOfTime()) ||
				rec[col["flags"]] != flags || rec[col["reason_1"]] != r.Reason1 {
				t.Fatalf("duckdb row %d: %v\nwant %+v", i, rec, r)
			}
		}
	}
	if !ran {
		t.Skipf("neither hyparquet nor @duckdb/node-api under %s/node_modules", base)
	}
}
