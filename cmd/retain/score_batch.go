package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"retain/serve"
	"retain/serve/batch"
	"retain/serve/playbook"
)

// batchFlags are the flags that select the batch mode of retain score.
var batchFlags = []string{"model", "data", "out"}

// isBatchScore reports whether args ask for batch scoring (a dataset and a
// model bundle, no server): any of --model, --data or --out.
func isBatchScore(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name := strings.TrimLeft(a, "-")
		if name == a {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if slices.Contains(batchFlags, name) {
			return true
		}
	}
	return false
}

// scoreBatchArgs are the flags of batch scoring.
type scoreBatchArgs struct {
	o                            batch.Options
	asOf, shard, playbook, onBad *string
	quiet                        *bool
}

// scoreBatchFlags defines the flags of batch scoring; retain score -h
// prints them beside the client's.
func scoreBatchFlags(stderr io.Writer) (*flag.FlagSet, *scoreBatchArgs) {
	fs := newFlags("score", stderr)
	a := &scoreBatchArgs{}
	o := &a.o
	fs.StringVar(&o.Model, "model", "", "model bundle written by 'retain train' (required)")
	fs.StringVar(&o.Data, "data", "", "dataset directory (required)")
	fs.StringVar(&o.Out, "out", "", "output file, written atomically (required)")
	a.asOf = fs.String("as-of", "", "score as of this date (YYYY-MM-DD, midnight UTC) or RFC 3339 instant (default: the dataset's end from its manifest)")
	a.shard = fs.String("shard", "", "score only shard i of n (i/n, 0 <= i < n): members by FNV-1a hash of the member id")
	fs.StringVar(&o.Format, "format", "parquet", "output format: parquet or csv")
	fs.StringVar(&o.Club, "club", "", "score only the members of this home club")
	a.playbook = fs.String("playbook", "", "action playbook file, YAML or JSON (docs/playbook.md; default: the embedded playbook, as in retain serve)")
	def := serve.DefaultOptions().Risk
	fs.Float64Var(&o.Risk.Medium, "risk-medium", def.Medium, "churn probability from which the risk is medium")
	fs.Float64Var(&o.Risk.High, "risk-high", def.High, "churn probability from which the risk is high (and a retention offer is made)")
	fs.IntVar(&o.Workers, "workers", 0, "scoring goroutines (default min(2, GOMAXPROCS))")
	a.quiet = fs.Bool("quiet", false, "no progress output")
	a.onBad = onBadRowFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), scoreBatchUsage+"\n\nFlags:")
		fs.PrintDefaults()
	}
	return fs, a
}

// scoreBatchUsage is the synopsis of batch scoring.
const scoreBatchUsage = "Usage: retain score --model BUNDLE --data DIR --out FILE [--as-of DATE] [--shard i/n] [--format parquet|csv] [--club X] [--playbook FILE] [--risk-medium P] [--risk-high P] [--on-bad-row skip|fail]\n\nScores every active member of the dataset, without a server (docs/batch.md)."

// runScoreBatch is `retain score --model BUNDLE --data DIR --out FILE`:
// every active member of the dataset scored with the bundle, without a
// server (package serve/batch, docs/batch.md).
func runScoreBatch(args []string, stdout, stderr io.Writer) error {
	fs, a := scoreBatchFlags(stderr)
	o := &a.o
	asOfStr, shard, pbPath, quiet, onBad := a.asOf, a.shard, a.playbook, a.quiet, a.onBad
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if o.Strict, err = badRowStrict("score", *onBad, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "retain score: batch mode scores the whole dataset; unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--model", o.Model}, {"--data", o.Data}, {"--out", o.Out}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "retain score: batch mode needs %s\n", strings.Join(missing, ", "))
		fs.Usage()
		return errUsage
	}
	if *asOfStr != "" {
		t, err := parseAsOf(*asOfStr)
		if err != nil {
			return err
		}
		o.AsOf = t
	}
	if *pbPath != "" {
		pb, err := playbook.Load(*pbPath)
		if err != nil {
			return err
		}
		o.Playbook = pb
	}
	if *shard != "" {
		i, n, err := batch.ParseShard(*shard)
		if err != nil {
			return fmt.Errorf("--shard: %w", err)
		}
		o.Shard, o.Shards = i, n
	}
	if !*quiet {
		o.Progress = stderr
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			o.Bar = true
		}
	}
	rep, err := batch.Run(context.Background(), *o)
	if err != nil {
		return err
	}
	printBatchReport(stdout, rep)
	return nil
}

// printBatchReport prints what a batch run did: every member of the
// members table is in one of the counts.
func printBatchReport(w io.Writer, r *batch.Report) {
	fmt.Fprintf(w, "wrote %s: %d members scored as of %s (model %s)\n", r.Out, r.Scored, r.AsOf.Format(time.RFC3339), r.ModelVersion)
	counts := func(m map[string]int) string {
		if len(m) == 0 {
			return "none"
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "members: %d in the members table; not active (skipped): %s; not selected: %s\n", r.Members, counts(r.Skipped), counts(r.LeftOut))
	rd := &r.Read
	fmt.Fprintf(w, "events: %d attendance, %d transactions read; %d rows rejected, %d events of unknown members, %d visits of courses unknown to the model\n",
		rd.Attendance, rd.Transactions, rd.Rejected, rd.UnknownMember, rd.UnknownCourse)
	writeRejected(w, rd.Rejected, rd.RejectedSamples)
	fmt.Fprintf(w, "time: %.2fs (%.0f members/s): read %.2fs, features %.2f, scoring %.2f (forward %.2f) worker-seconds, write %.2fs\n",
		r.Seconds, r.MembersPerSecond, r.ReadSeconds, r.FeatureSeconds, r.ScoreSeconds, r.ForwardSeconds, r.WriteSeconds)
}

// parseAsOf parses an --as-of value (serve.ParseAsOf: a date YYYY-MM-DD,
// midnight UTC, or an RFC 3339 instant).
func parseAsOf(v string) (time.Time, error) {
	t, err := serve.ParseAsOf(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--as-of: %w", err)
	}
	return t, nil
}
