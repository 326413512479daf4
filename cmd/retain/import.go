package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"retain/datasets/mapping"
)

func init() {
	register(command{name: "import", summary: "import a POS/booking/CRM export into a canonical dataset", run: runImport})
}

func runImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import", stderr)
	mapName := fs.String("mapping", "", "mapping file, or a built-in mapping name ("+strings.Join(mapping.BuiltinNames(), ", ")+")")
	out := fs.String("out", "", "output dataset directory (must be absent or empty)")
	onBad := fs.String("on-bad-row", "fail", "what to do with a bad row: fail (stop, write nothing) or skip (quarantine it)")
	quarantine := fs.String("quarantine", "", "quarantine file for skipped rows (default OUT/quarantine.csv)")
	format := fs.String("format", "parquet", "output table format: parquet or csv")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: retain import --mapping FILE|NAME --out DIR [flags] INPUT...")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	var missing []string
	if *mapName == "" {
		missing = append(missing, "--mapping")
	}
	if *out == "" {
		missing = append(missing, "--out")
	}
	if fs.NArg() == 0 {
		missing = append(missing, "an input file")
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "retain import: give %s\n", strings.Join(missing, " and "))
		fs.Usage()
		return errUsage
	}
	for _, in := range fs.Args() {
		if _, err := os.Stat(in); err != nil && strings.HasPrefix(in, "-") {
			fmt.Fprintf(stderr, "retain import: input %q: %v; it looks like a flag placed after \"--\", which ends the flags\n", in, errors.Unwrap(err))
			return errUsage
		}
	}
	policy, err := mapping.ParsePolicy(*onBad)
	if err != nil {
		return fmt.Errorf("--on-bad-row: %w", err)
	}
	m, err := mapping.LoadNamed(*mapName)
	if err != nil {
		return err
	}
	rep, err := mapping.Import(m, fs.Args(), *out, &mapping.Options{
		OnBadRow:       policy,
		QuarantinePath: *quarantine,
		Format:         *format,
	})
	// A failed import's report says what was read before it stopped and
	// that nothing was written; an import that failed before reading a
	// row (a usage error: the output directory, the quarantine file) has
	// nothing to report.
	if rep != nil && (err == nil || rep.Rows > 0) {
		if werr := rep.WriteText(stdout); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
