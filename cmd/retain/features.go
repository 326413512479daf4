package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"retain/datasets"
	"retain/features"
)

func init() {
	register(command{name: "features", summary: "build the training file (sequences, labels, splits) of a dataset", run: runFeatures})
}

// featureFlags maps flags onto a features.Config; train reuses it for
// --data.
func featureFlags(fs *flag.FlagSet, cfg *features.Config) {
	fs.IntVar(&cfg.Weeks, "weeks", cfg.Weeks, "weeks per sequence")
	fs.IntVar(&cfg.HorizonWeeks, "horizon", cfg.HorizonWeeks, "label horizon in weeks")
	fs.IntVar(&cfg.CutoffEveryWeeks, "cutoff-every", cfg.CutoffEveryWeeks, "weeks between rolling cutoffs")
	fs.StringVar(&cfg.Label.Kind, "label", cfg.Label.Kind, "churn label: inactivity, cancellation or absence")
	fs.IntVar(&cfg.Label.AbsenceDays, "absence-days", cfg.Label.AbsenceDays, "absence that counts as churn for --label absence")
	fs.StringVar(&cfg.TimeZone, "tz", cfg.TimeZone, "IANA time zone in which days and weeks begin")
	fs.Float64Var(&cfg.Split.ValidationFraction, "val-fraction", cfg.Split.ValidationFraction, "share of cutoffs for validation")
	fs.Float64Var(&cfg.Split.TestFraction, "test-fraction", cfg.Split.TestFraction, "share of cutoffs for test (the latest); with --split member, share of members")
	fs.StringVar(&cfg.Split.Mode, "split", cfg.Split.Mode, "split: time (default: latest cutoffs are test), member (a seeded hash of the member id; test members at the last cutoff only) or last-week (leave-last-week-out: every member's test example at the start of the week of their last visit, training examples at the cutoffs before it; --val-fraction of the members validate; docs/labels.md)")
	fs.Uint64Var(&cfg.Split.Seed, "split-seed", cfg.Split.Seed, "seed of the member hash of --split member")
	fs.IntVar(&cfg.Split.Folds, "folds", cfg.Split.Folds, "with --split member: K-fold cross-validation, members hashed into K disjoint folds (--test-fraction is then ignored; 0: one --test-fraction share)")
	fs.IntVar(&cfg.Split.Fold, "fold", cfg.Split.Fold, "with --folds K: the test fold, 0 .. K-1 (validation members come from the other folds)")
	fs.Func("week-start", "first day of a week of the cutoff grid (Monday .. Sunday; default Monday)", func(v string) error {
		for d := time.Sunday; d <= time.Saturday; d++ {
			if strings.EqualFold(v, d.String()) {
				cfg.WeekStart = d
				return nil
			}
		}
		return fmt.Errorf("not a weekday: %q", v)
	})
	dateFlag := func(name, usage string, dst *time.Time) {
		fs.Func(name, usage+" (YYYY-MM-DD, midnight in --tz)", func(v string) error {
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return err
			}
			loc, err := time.LoadLocation(cfg.TimeZone)
			if err != nil {
				return fmt.Errorf("--tz %q: %v (give --tz before %s)", cfg.TimeZone, err, name)
			}
			*dst = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
			return nil
		})
	}
	dateFlag("first-cutoff", "first rolling cutoff (default: Weeks after the start of the data)", &cfg.FirstCutoff)
	dateFlag("last-cutoff", "last rolling cutoff (default: the last whose horizon fits the data)", &cfg.LastCutoff)
	dateFlag("data-end", "end of observation, exclusive (default: the manifest's end)", &cfg.DataEnd)
}

// configFlags names the flag of each Config field that featureFlags sets.
var configFlags = map[string]string{
	"Weeks":                    "--weeks",
	"HorizonWeeks":             "--horizon",
	"CutoffEveryWeeks":         "--cutoff-every",
	"WeekStart":                "--week-start",
	"TimeZone":                 "--tz",
	"Label.Kind":               "--label",
	"Label.AbsenceDays":        "--absence-days",
	"Split.ValidationFraction": "--val-fraction",
	"Split.TestFraction":       "--test-fraction",
	"Split.Mode":               "--split",
	"Split.Seed":               "--split-seed",
	"Split.Folds":              "--folds",
	"Split.Fold":               "--fold",
}

// configFlagNames replaces the Config fields in a ConfigError's Want by
// their flags, longer names first (Split.Folds before Split.Fold).
var configFlagNames = func() *strings.Replacer {
	fields := slices.Collect(maps.Keys(configFlags))
	slices.SortFunc(fields, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	var pairs []string
	for _, f := range fields {
		pairs = append(pairs, f, configFlags[f])
	}
	return strings.NewReplacer(pairs...)
}()

// checkFeatureConfig validates cfg as set by featureFlags; an invalid field
// is a usage error that names its flag and the valid values.
func checkFeatureConfig(cmd string, cfg *features.Config, stderr io.Writer) error {
	err := cfg.Validate()
	var ce *features.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	name, ok := configFlags[ce.Field]
	if !ok {
		name = "config field " + ce.Field
	}
	fmt.Fprintf(stderr, "retain %s: %s %v: want %s\n", cmd, name, ce.Value, configFlagNames.Replace(ce.Want))
	return errUsage
}

func runFeatures(args []string, stdout, stderr io.Writer) error {
	cfg := features.DefaultConfig()
	fs := newFlags("features", stderr)
	data := fs.String("data", "", "dataset directory (required)")
	out := fs.String("out", "", "training file to write (required)")
	featureFlags(fs, &cfg)
	onBad := onBadRowFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		fmt.Fprintln(stderr, "retain features: --data and --out are required")
		fs.Usage()
		return errUsage
	}
	if err := checkFeatureConfig("features", &cfg, stderr); err != nil {
		return err
	}
	bopts, err := buildOptions("features", *onBad, stderr)
	if err != nil {
		return err
	}
	if cfg.Split.Mode == features.SplitModeLastWeek {
		d, err := datasets.OpenDir(*data)
		if err != nil {
			return err
		}
		rep, err := features.BuildLastWeekOut(features.CheckedDirSource(d, nil, nil), cfg, *out, bopts)
		if errors.Is(err, features.ErrNoEvents) {
			return fmt.Errorf("dataset %s: %w", *data, err)
		}
		if err != nil {
			return err
		}
		writeLastWeekReport(stdout, rep)
		return nil
	}
	rep, err := features.BuildDir(*data, cfg, *out, bopts)
	if err != nil {
		return err
	}
	writeBuildReport(stdout, rep)
	return nil
}

// onBadRowFlag defines --on-bad-row for the commands that read a dataset
// directory into features (features, train --data, score --data): its
// rows are checked as retain validate checks them, and a bad row is
// skipped and counted, or, as in retain import, fails the command.
func onBadRowFlag(fs *flag.FlagSet) *string {
	return fs.String("on-bad-row", "skip", "what to do with a row that breaks a rule of 'retain validate': skip (count it, print the first few, go on) or fail (stop at it)")
}

// badRowStrict maps an --on-bad-row value onto Strict, or says what is
// valid.
func badRowStrict(cmd, v string, stderr io.Writer) (bool, error) {
	switch v {
	case "skip":
		return false, nil
	case "fail":
		return true, nil
	}
	fmt.Fprintf(stderr, "retain %s: --on-bad-row %q: want skip or fail\n", cmd, v)
	return false, errUsage
}

// buildOptions returns the BuildOptions of an --on-bad-row value.
func buildOptions(cmd, onBad string, stderr io.Writer) (*features.BuildOptions, error) {
	strict, err := badRowStrict(cmd, onBad, stderr)
	if err != nil {
		return nil, err
	}
	return &features.BuildOptions{Strict: strict}, nil
}

// writeRejected prints the rows a build or read rejected: the count, the
// first few errors (file, row, column, reason) and where to see them all.
func writeRejected(w io.Writer, rejected int64, samples []string) {
	if rejected == 0 {
		return
	}
	fmt.Fprintf(w, "warning: %d bad rows rejected (skipped); the first %d:\n", rejected, len(samples))
	for _, s := range samples {
		fmt.Fprintf(w, "  rejected: %s\n", s)
	}
	fmt.Fprintln(w, "  ('retain validate' lists them all; --on-bad-row fail stops at the first)")
}

// writeLastWeekReport prints the summary of a leave-last-week-out build.
func writeLastWeekReport(w io.Writer, rep *features.LastWeekReport) {
	fmt.Fprintf(w, "wrote %s (%d bytes) in %.1fs: leave-last-week-out\n", rep.Output, rep.Bytes, rep.Seconds)
	fmt.Fprintf(w, "members %d, courses %d, attendance %d, transactions %d, rejected %d, events of unknown members %d\n",
		rep.Members, rep.Courses, rep.Attendance, rep.Transactions, rep.Rejected, rep.UnknownMember)
	writeRejected(w, int64(rep.Rejected), rep.RejectedSamples)
	fmt.Fprintf(w, "data %s .. %s; %d test members (not tested: %d without visits, %d with visits in one week only); %d training cutoffs\n",
		rep.DataStart.Format(time.DateOnly), rep.DataEnd.Format(time.DateOnly), rep.Test, rep.NoVisits, rep.OneWeek, len(rep.TrainCutoffs))
	writeLTV(w, &rep.LTV)
	names := make([]string, 0, len(rep.Examples))
	for n := range rep.Examples {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-11s %9s %9s %9s %9s\n", "split", "examples", "positive", "censored", "nextclass")
	for _, n := range names {
		c := rep.Examples[n]
		fmt.Fprintf(w, "%-11s %9d %9d %9d %9d\n", n, c.Examples, c.Positives, c.Censored, c.NextClass)
	}
}

// writeBuildReport prints the summary of a feature build.
func writeBuildReport(w io.Writer, rep *features.BuildReport) {
	fmt.Fprintf(w, "wrote %s (%d bytes) in %.1fs (%.0f events/s)\n", rep.Output, rep.Bytes, rep.Seconds, rep.EventsPerSecond)
	fmt.Fprintf(w, "members %d, courses %d, attendance %d, transactions %d, rejected %d\n",
		rep.Members, rep.Courses, rep.Attendance, rep.Transactions, rep.Rejected)
	if rep.UnknownMember > 0 || rep.UnknownCourse > 0 {
		fmt.Fprintf(w, "skipped events of unknown members %d; visits of unknown courses %d\n", rep.UnknownMember, rep.UnknownCourse)
	}
	writeRejected(w, rep.Rejected, rep.RejectedSamples)
	fmt.Fprintf(w, "data %s .. %s, %d cutoffs\n", rep.DataStart.Format(time.DateOnly), rep.DataEnd.Format(time.DateOnly), len(rep.Cutoffs))
	writeLTV(w, &rep.LTV)
	names := make([]string, 0, len(rep.Examples))
	for n := range rep.Examples {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-11s %9s %9s %7s %9s %9s %9s\n", "split", "examples", "positive", "rate", "censored", "excluded", "nextclass")
	for _, n := range names {
		c := rep.Examples[n]
		rate := 0.0
		if lab := c.Examples - c.Censored - c.Excluded; lab > 0 {
			rate = float64(c.Positives) / float64(lab)
		}
		fmt.Fprintf(w, "%-11s %9d %9d %7.3f %9d %9d %9d\n", n, c.Examples, c.Positives, rate, c.Censored, c.Excluded, c.NextClass)
	}
}

// writeLTV prints the LTV model of a build, or why it is the naive formula.
func writeLTV(w io.Writer, l *features.LTVModel) {
	if l.Model != features.LTVBTYD {
		fmt.Fprintf(w, "warning: the ltv indicator falls back to the naive formula: %s\n", l.Reason)
		return
	}
	fmt.Fprintf(w, "%s\n", l.String())
}
