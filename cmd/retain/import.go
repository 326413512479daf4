package main

import (
	"fmt"
	"io"
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
	if *mapName == "" || *out == "" || fs.NArg() == 0 {
		fs.Usage()
		return errUsage
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
	if rep != nil {
		if werr := rep.WriteText(stdout); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
