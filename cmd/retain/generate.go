package main

import (
	"fmt"
	"io"
	"time"

	"retain/datasets/synth"
)

func init() {
	register(command{name: "generate", summary: "generate a synthetic gym dataset with ground truth", run: runGenerate})
}

func runGenerate(args []string, stdout, stderr io.Writer) error {
	cfg := synth.DefaultConfig()
	fs := newFlags("generate", stderr)
	fs.IntVar(&cfg.Members, "members", cfg.Members, "number of members")
	fs.IntVar(&cfg.Weeks, "weeks", cfg.Weeks, "weeks of history")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed; the same seed gives identical files")
	fs.IntVar(&cfg.Clubs, "clubs", cfg.Clubs, "number of clubs")
	fs.IntVar(&cfg.TruthSims, "truth-sims", cfg.TruthSims, "Monte Carlo re-simulations per member and cutoff for the ground truth (0 or negative: no ground truth)")
	start := fs.String("start", cfg.Start.Format(time.DateOnly), "first day of the data (YYYY-MM-DD, UTC)")
	out := fs.String("out", "", "output dataset directory (required)")
	quiet := fs.Bool("quiet", false, "do not print the summary")
	overwrite := fs.Bool("overwrite", false, "replace an existing non-empty output directory")
	format := fs.String("format", "parquet", "table format: parquet or csv")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "retain generate: --out is required")
		fs.Usage()
		return errUsage
	}
	// synth.Config reads a zero count as "the default" (5000 members,
	// 104 weeks, 4 clubs, 200 simulations): on the command line a count
	// given is the count.
	for _, f := range []struct {
		name   string
		v, max int
	}{{"--members", cfg.Members, 0}, {"--weeks", cfg.Weeks, 520}, {"--clubs", cfg.Clubs, 64}} {
		switch {
		case f.v < 1 && f.max == 0:
			fmt.Fprintf(stderr, "retain generate: %s %d: want at least 1\n", f.name, f.v)
			return errUsage
		case f.v < 1 || (f.max > 0 && f.v > f.max):
			fmt.Fprintf(stderr, "retain generate: %s %d: want 1 to %d\n", f.name, f.v, f.max)
			return errUsage
		}
	}
	if cfg.TruthSims <= 0 {
		cfg.TruthSims = -1 // none; 0 would be synth's default of 200
	}
	t, err := time.Parse(time.DateOnly, *start)
	if err != nil {
		return fmt.Errorf("--start: %w", err)
	}
	cfg.Start = t
	began := time.Now()
	sum, err := synth.WriteDir(cfg, *out, &synth.WriteOptions{Format: *format, Overwrite: *overwrite})
	if err != nil {
		return err
	}
	if !*quiet {
		if err := sum.WriteText(stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %s in %s\n", *out, time.Since(began).Round(time.Millisecond))
	return nil
}
