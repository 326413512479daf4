package main

import (
	"errors"
	"fmt"
	"io"

	"retain/datasets"
	"retain/serve"
)

func init() {
	register(command{name: "load", summary: "load a dataset into the serving store", run: runLoad})
}

func runLoad(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("load", stderr)
	storePath := fs.String("store", "", "serving store file, created when absent (required)")
	data := fs.String("data", "", "dataset directory (required)")
	quarantine := fs.String("quarantine", "", "write rejected rows to this CSV file and go on (default: the first bad row stops the load)")
	batch := fs.Int("batch", 10_000, "rows per write transaction")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *storePath == "" || *data == "" {
		fmt.Fprintln(stderr, "retain load: --store and --data are required")
		fs.Usage()
		return errUsage
	}
	store, err := serve.OpenStore(*storePath, nil)
	if err != nil {
		return err
	}
	opts := &serve.LoadOptions{BatchRows: *batch}
	var q *datasets.Quarantine
	if *quarantine != "" {
		if q, err = datasets.NewQuarantine(*quarantine); err != nil {
			store.Close()
			return err
		}
		opts.Quarantine = q
	}
	rep, lerr := store.Load(*data, opts)
	if rep != nil {
		fmt.Fprintf(stdout, "members       %d\ncourses       %d\nattendance    %d\ntransactions  %d\nduplicates    %d\nconflicts     %d\nbad rows      %d\n",
			rep.Members, rep.Courses, rep.Attendance, rep.Transactions, rep.Duplicates, rep.Conflicts, rep.Rejected)
		if rep.Rejected > 0 {
			fmt.Fprintf(stdout, "bad rows written to %s\n", *quarantine)
		}
	}
	var errs []error
	errs = append(errs, lerr)
	if rep != nil && rep.Conflicts > 0 {
		errs = append(errs, fmt.Errorf("%d events not loaded: their event_id is stored with other content (the first: %s); the stored events stay: give a corrected event a new id",
			rep.Conflicts, rep.FirstConflict))
	}
	if q != nil {
		errs = append(errs, q.Close())
	}
	errs = append(errs, store.Close())
	return errors.Join(errs...)
}
