package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"retain/features"
	"retain/model"
	"retain/train"
)

func init() {
	register(command{name: "evaluate", summary: "evaluate a model bundle against baselines and the oracle on the test split", run: runEvaluate})
}

func runEvaluate(args []string, stdout, stderr io.Writer) error {
	var o train.EvalOptions
	fs := newFlags("evaluate", stderr)
	bundlePath := fs.String("model", "", "model bundle to evaluate (omit for baselines and oracle only)")
	featPath := fs.String("features", "", "training file whose test split is evaluated (the one the model was trained on)")
	data := fs.String("data", "", "dataset directory: its ground truth (truth/truth.csv) is the oracle; without --features its training file is built with the model's feature config")
	truthPath := fs.String("truth", "", "ground-truth file (instead of the one in --data)")
	out := fs.String("out", "", "directory for report.md, report.json and the plots (required)")
	noTruth := fs.Bool("no-truth", false, "do not look for ground truth in --data")
	fs.IntVar(&o.MaxLogisticRows, "logistic-rows", 500000, "at most this many training rows for the logistic-regression baseline (sampled beyond)")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of that sample and of the bootstrap")
	fs.IntVar(&o.Bootstrap, "bootstrap", train.DefaultBootstrap, "member-bootstrap resamples behind the intervals of the metrics and the bars' margins (0: none)")
	var compare []string
	fs.Func("compare", "another model bundle to score beside --model on the same examples, with paired bootstrap differences (repeatable; named by its file name)", func(v string) error {
		if v == "" {
			return errors.New("want a model bundle path")
		}
		compare = append(compare, v)
		return nil
	})
	protocol := fs.String("protocol", "split", "split: the test split of --features against the baselines (and the oracle); holdout: the calibration/holdout protocol of a member-split file (--features built with --split member, --data its dataset) against BG/NBD, logistic regressions and the recency rule (docs/evaluation.md, Real data: CDNOW); folds: combine the holdout.json files of the K folds of a --folds K split, given as arguments, into mean ± sd per method and metric (folds.md, folds.json in --out)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case o.Bootstrap < 0:
		fmt.Fprintf(stderr, "retain evaluate: --bootstrap %d: want a count of resamples, or 0 for none\n", o.Bootstrap)
		return errUsage
	case o.Bootstrap == 0:
		o.Bootstrap = -1 // EvalOptions: negative is none
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *protocol != "split" && (set["compare"] || set["bootstrap"]) {
		fmt.Fprintf(stderr, "retain evaluate: --compare and --bootstrap are for --protocol split, not %s\n", *protocol)
		return errUsage
	}
	if len(compare) > 0 && *bundlePath == "" {
		fmt.Fprintln(stderr, "retain evaluate: --compare needs --model")
		return errUsage
	}
	names, err := candidateNames(compare)
	if err != nil {
		fmt.Fprintf(stderr, "retain evaluate: %v\n", err)
		return errUsage
	}
	switch *protocol {
	case "split":
	case "holdout":
		return runHoldout(*bundlePath, *featPath, *data, *out, stdout, stderr)
	case "folds":
		return runFolds(fs.Args(), *out, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "retain evaluate: --protocol %q: want split, holdout or folds\n", *protocol)
		return errUsage
	}
	if *out == "" || (*featPath == "" && *data == "") {
		fmt.Fprintln(stderr, "retain evaluate: give --out and --features or --data")
		fs.Usage()
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var pred train.Predictor
	var bundle *model.Bundle
	cfg := features.DefaultConfig()
	if *bundlePath != "" {
		b, err := model.Load(*bundlePath)
		if err != nil {
			return err
		}
		bundle, cfg = b, b.Spec.Config
		o.ModelFingerprint = b.DataFingerprint
		o.History = bundleHistory(b)
		if !b.NextBlend.Identity() {
			o.NextBlend = &b.NextBlend
		}
	} else {
		fmt.Fprintln(stderr, "retain evaluate: no --model: baselines and oracle only")
	}

	path := *featPath
	if path == "" {
		tmp, err := os.MkdirTemp("", "retain-evaluate-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		path = filepath.Join(tmp, "features.rtfs")
		rep, err := features.BuildDataset(*data, cfg, path)
		if err != nil {
			return err
		}
		writeBuildReport(stderr, rep)
	}
	if bundle != nil {
		if err := checkEvalFile(bundle, path); err != nil {
			return err
		}
		pred = train.BundlePredictor(bundle)
	}
	for i, c := range compare {
		b, err := model.Load(c)
		if err != nil {
			return err
		}
		if err := checkEvalFile(b, path); err != nil {
			return fmt.Errorf("--compare %s: %w", c, err)
		}
		o.Compare = append(o.Compare, train.Candidate{Name: names[i], Predictor: train.BundlePredictor(b), Fingerprint: b.DataFingerprint})
	}

	tp := *truthPath
	if tp == "" && *data != "" && !*noTruth {
		p, err := train.TruthPath(*data)
		if err != nil {
			return fmt.Errorf("%w (give --no-truth to evaluate without the oracle)", err)
		}
		tp = p
	}

	began := time.Now()
	rep, err := train.Evaluate(ctx, path, pred, tp, &o)
	if err != nil {
		return err
	}
	if err := rep.WriteDir(*out); err != nil {
		return err
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	for _, n := range rep.PlotNotes {
		fmt.Fprintln(stdout, n)
	}
	fmt.Fprintf(stdout, "\nwrote %s, %s and %d plots to %s in %.1fs\n", train.ReportMarkdown, train.ReportJSON, len(rep.Plots), *out, time.Since(began).Seconds())
	return nil
}

// candidateNames names the --compare bundles in the report: each by its
// file name, or by its path as given where the file name is taken (by an
// earlier bundle or one of the report's own methods).
func candidateNames(paths []string) ([]string, error) {
	taken := map[string]bool{}
	for _, n := range train.MethodNames() {
		taken[n] = true
	}
	var names []string
	for _, p := range paths {
		name := filepath.Base(p)
		if taken[name] {
			name = p
		}
		if taken[name] {
			return nil, fmt.Errorf("--compare %s: the name %q is taken (given twice, or a method of the report); give the path another way, e.g. ./%s", p, name, p)
		}
		taken[name] = true
		names = append(names, name)
	}
	return names, nil
}

// runHoldout runs the holdout protocol (train.EvaluateHoldout).
func runHoldout(bundlePath, featPath, data, out string, stdout, stderr io.Writer) error {
	if featPath == "" || data == "" || out == "" {
		fmt.Fprintln(stderr, "retain evaluate --protocol holdout: give --features, --data and --out (and --model)")
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var pred train.Predictor
	if bundlePath != "" {
		b, err := model.Load(bundlePath)
		if err != nil {
			return err
		}
		if err := checkEvalFile(b, featPath); err != nil {
			return err
		}
		pred = train.BundlePredictor(b)
	} else {
		fmt.Fprintln(stderr, "retain evaluate: no --model: baselines only")
	}
	rep, err := train.EvaluateHoldout(ctx, featPath, data, pred, nil)
	if err != nil {
		return err
	}
	if err := rep.WriteDir(out); err != nil {
		return err
	}
	if err := rep.WriteMarkdown(stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s to %s\n", train.HoldoutReportFile, train.HoldoutJSONFile, out)
	return nil
}

// runFolds combines the folds' holdout reports (train.SummarizeFolds).
func runFolds(paths []string, out string, stdout, stderr io.Writer) error {
	if out == "" || len(paths) == 0 {
		fmt.Fprintln(stderr, "retain evaluate --protocol folds: give --out and the folds' holdout.json files as arguments")
		return errUsage
	}
	reps := make([]*train.HoldoutReport, len(paths))
	for i, p := range paths {
		r, err := train.ReadHoldoutReport(p)
		if err != nil {
			return err
		}
		reps[i] = r
	}
	s, err := train.SummarizeFolds(reps)
	if err != nil {
		return err
	}
	if err := s.WriteDir(out); err != nil {
		return err
	}
	if err := s.WriteMarkdown(stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s to %s\n", train.FoldsReportFile, train.FoldsJSONFile, out)
	return nil
}

// checkEvalFile checks that the training file at path can be scored by b
// and labels churn as b was trained to predict it.
func checkEvalFile(b *model.Bundle, path string) error {
	fr, err := features.OpenFile(path)
	if err != nil {
		return err
	}
	defer fr.Close()
	spec := &fr.Header().Spec
	if err := b.CheckCompatible(spec); err != nil {
		return err
	}
	bl, fl := b.Spec.Config, spec.Config
	if bl.Label.Kind != fl.Label.Kind || bl.HorizonWeeks != fl.HorizonWeeks {
		return fmt.Errorf("%s labels churn as %q over %d weeks; the model was trained for %q over %d weeks",
			path, fl.Label.Kind, fl.HorizonWeeks, bl.Label.Kind, bl.HorizonWeeks)
	}
	return nil
}

// bundleHistory returns the training history stored in the bundle: the
// "History" list of its Training record, when train put one there; nil
// otherwise (the report then leaves out the loss plot and says so).
func bundleHistory(b *model.Bundle) []train.EpochStats {
	if len(b.Training) == 0 {
		return nil
	}
	var rec struct{ History []train.EpochStats }
	if json.Unmarshal(b.Training, &rec) != nil {
		return nil
	}
	return rec.History
}
