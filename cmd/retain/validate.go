package main

import (
	"fmt"
	"io"
	"time"

	"retain/datasets"
)

func init() {
	register(command{name: "validate", summary: "check every row of a dataset and report each bad row", run: runValidate})
}

func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	maxShown := fs.Int("max-errors", 50, "print at most this many bad rows (all are counted)")
	now := fs.String("now", "", "reference time for 'in the future' checks (RFC 3339; default the current time)")
	quarantine := fs.String("quarantine", "", "also write every bad row to this CSV file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: retain validate [flags] DIR")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	opts := &datasets.CheckOptions{}
	if *now != "" {
		t, err := time.Parse(time.RFC3339, *now)
		if err != nil {
			return fmt.Errorf("--now: %w", err)
		}
		opts.Now = t
	}
	d, err := datasets.OpenDir(fs.Arg(0))
	if err != nil {
		return err
	}
	var q *datasets.Quarantine
	if *quarantine != "" {
		if q, err = datasets.NewQuarantine(*quarantine); err != nil {
			return err
		}
		defer q.Abort()
	}
	shown := 0
	counts, err := datasets.CheckDir(d, opts, func(e *datasets.RowError) error {
		if shown < *maxShown {
			fmt.Fprintln(stdout, e)
		}
		shown++
		if q != nil {
			return q.Add(e)
		}
		return nil
	})
	var bad int64
	for _, c := range counts {
		if c.Path == "" {
			fmt.Fprintf(stdout, "%-13s absent (optional)\n", c.Table)
			continue
		}
		fmt.Fprintf(stdout, "%-13s %9d rows, %d bad  (%s)\n", c.Table, c.Rows, c.Bad, c.Path)
		bad += c.Bad
	}
	if err != nil {
		return err
	}
	if q != nil {
		if err := q.Close(); err != nil {
			return err
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d bad rows in %s", bad, fs.Arg(0))
	}
	fmt.Fprintf(stdout, "ok: every row of %s passed the checks\n", fs.Arg(0))
	return nil
}
