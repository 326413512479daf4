package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"retain/datasets"
	"retain/features"
	"retain/serve"
	"retain/serve/playbook"
	"retain/serve/report"
)

func init() {
	register(command{name: "report", summary: "write the HTML retention report of a club and month (one self-contained file)", run: runReport})
}

// runReport scores a dataset's members with a model bundle and writes the
// report page of package serve/report (docs/report.md).
func runReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	data := fs.String("data", "", "dataset directory (required)")
	bundle := fs.String("model", "", "model bundle, .rtmb (required)")
	out := fs.String("out", "", "HTML file to write (required)")
	club := fs.String("club", "all", "club id, or all")
	month := fs.String("month", "", "month in focus, YYYY-MM (default: the month of --as-of)")
	asOfStr := fs.String("as-of", "", "score members as of this RFC 3339 instant or date YYYY-MM-DD (default: the start of the month after --month, or the data's end when earlier)")
	top := fs.Int("top", 25, "rows of the at-risk table")
	check := fs.Bool("check", true, "check every row as retain validate does (the first bad row stops the command); --check=false skips it for a dataset that passed retain validate (rows the readers cannot decode still stop it)")
	listRows := fs.Int("list-rows", report.DefaultListRows, "rows each list shows on the page; its CSV download has all rows")
	def := serve.DefaultOptions().Risk
	medium := fs.Float64("risk-medium", def.Medium, "churn probability from which the risk is medium")
	high := fs.Float64("risk-high", def.High, "churn probability from which the risk is high (and a retention offer is made)")
	pbPath := fs.String("playbook", "", "action playbook file, YAML or JSON (docs/playbook.md; default: the embedded playbook, as in retain serve)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" || *bundle == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "retain report: give --data, --model and --out (and no arguments)")
		fs.Usage()
		return errUsage
	}
	if *top < 1 {
		fmt.Fprintln(stderr, "retain report: --top must be at least 1")
		return errUsage
	}
	if *listRows < 1 {
		fmt.Fprintln(stderr, "retain report: --list-rows must be at least 1")
		return errUsage
	}
	var asOf time.Time
	if *asOfStr != "" {
		var err error
		if asOf, err = parseAsOf(*asOfStr); err != nil {
			return err
		}
	}
	t0 := time.Now()
	bopts := serve.BundleOptions{HighRisk: *high, MediumRisk: *medium}
	if *pbPath != "" {
		var err error
		if bopts.Playbook, err = playbook.Load(*pbPath); err != nil {
			return err
		}
	}
	sc, err := serve.NewBundleScorer(*bundle, &bopts)
	if err != nil {
		return err
	}
	var src features.Source
	var man datasets.Manifest
	if *check {
		src, man, err = report.OpenDir(*data)
	} else {
		var d *datasets.Dir
		if d, err = datasets.OpenDir(*data); err == nil {
			src, man = features.DirSource(d, nil), d.Manifest()
		}
	}
	if err != nil {
		return err
	}
	if man.End.IsZero() {
		return fmt.Errorf("%s: the manifest (dataset.json) has no end: cannot tell when the data ends", *data)
	}
	in, err := report.BuildFrom(context.Background(), src, serve.ReportBatchScoreFunc(sc), report.Options{
		Club: *club, Month: *month, AsOf: asOf, DataStart: man.Start, DataEnd: man.End,
		Spec: sc.Bundle().Spec, Model: serve.ReportModel(sc.Info()),
		Risk: report.RiskThresholds{Medium: *medium, High: *high}, TopN: *top, ListRows: *listRows,
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := report.Render(f, in); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s (club %s, month %s, as of %s: %d members scored, %d departed, %d not yet joined; %.1fs)\n",
		*out, in.Club, in.Month, in.AsOf.UTC().Format(time.RFC3339), len(in.Members), in.Departed, in.NotJoined, time.Since(t0).Seconds())
	return nil
}
