package synth

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"retain/datasets"
)

// TruthDir is the folder of a generated dataset that holds the ground truth,
// apart from the data; TruthFile (or TruthFile + ".gz") and TruthMetaFile
// are its files.
const (
	TruthDir      = "truth"
	TruthFile     = "truth.csv"
	TruthMetaFile = "truth.json"
)

// WriteOptions tunes WriteDir. A nil *WriteOptions means defaults.
type WriteOptions struct {
	// Format is the table file format, "parquet" or "csv". Default
	// "parquet".
	Format string
	// Table is passed to datasets.CreateTable for every table (row group
	// size, partitioning of attendance and transactions: with PartitionBy
	// set those two tables become folders). Default nil.
	Table *datasets.WriteOptions
	// Overwrite allows replacing an existing non-empty directory. Default
	// false: such a directory is an error and is left alone.
	Overwrite bool
	// GzipTruth writes the truth as truth/truth.csv.gz instead of
	// truth/truth.csv (about 6 times smaller; the 100,000-member default
	// truth is about 150 MB as plain CSV). Default false.
	GzipTruth bool
}

// TruthMeta is the content of truth/truth.json: what the truth rows mean.
type TruthMeta struct {
	File          string      `json:"file"` // the truth file, relative to the truth folder
	Seed          uint64      `json:"seed"`
	Members       int         `json:"members"`
	Start         time.Time   `json:"start"`
	End           time.Time   `json:"end"`
	HorizonWeeks  int         `json:"horizon_weeks"`
	ActivityWeeks int         `json:"activity_weeks"`
	Sims          int         `json:"sims"`
	Cutoffs       []time.Time `json:"cutoffs"`
	Categories    []string    `json:"categories"`
	Label         string      `json:"label"`
}

const labelText = "alive at t: joined_at <= t and a visit or a transaction with amount > 0 with ts in [t-8w, t]; " +
	"label 1: no visit and no transaction with amount > 0 with ts in (t, t+H], or contract_type annual with an " +
	"anniversary of contract_start on one of the 7H days starting at the date of t and no renewal transaction in (t, t+H]"

// WriteDir generates the data set of cfg into the dataset directory dir:
// dataset.json, members, courses, attendance and transactions (Parquet by
// default), and the ground truth in dir/truth/ (truth.csv and truth.json),
// apart from the data. Everything is written into a temporary sibling
// directory that is renamed to dir at the end, so an error leaves nothing
// behind and an existing dir is untouched until the new one is complete.
func WriteDir(cfg Config, dir string, opts *WriteOptions) (*Summary, error) {
	var o WriteOptions
	if opts != nil {
		o = *opts
	}
	if o.Format == "" {
		o.Format = "parquet"
	}
	if o.Format != "parquet" && o.Format != "csv" {
		return nil, fmt.Errorf("synth: write %s: unknown format %q (want parquet or csv)", dir, o.Format)
	}
	if _, err := cfg.normalize(); err != nil {
		return nil, err
	}
	exists := false
	if ents, err := os.ReadDir(dir); err == nil {
		exists = true
		if len(ents) > 0 && !o.Overwrite {
			return nil, fmt.Errorf("synth: write %s: directory not empty (set Overwrite to replace it)", dir)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("synth: write %s: %w", dir, err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("synth: write %s: %w", dir, err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("synth: write %s: %w", dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(stage)
		}
	}()
	if err := os.Chmod(stage, 0o755); err != nil {
		return nil, fmt.Errorf("synth: write %s: %w", dir, err)
	}

	fs, err := newFileSink(stage, &o)
	if err != nil {
		return nil, err
	}
	var sink Sink = fs
	if testHookSink != nil {
		sink = testHookSink(sink)
	}
	sum, err := Generate(cfg, sink)
	if err != nil {
		fs.abort()
		return nil, err
	}
	if err := fs.close(); err != nil {
		return nil, err
	}
	truthName := TruthFile
	if o.GzipTruth {
		truthName += ".gz"
	}
	meta := TruthMeta{File: truthName, Seed: cfg.Seed, Members: cfg.Members, Start: cfg.Start, End: cfg.End(),
		HorizonWeeks: cfg.HorizonWeeks, ActivityWeeks: activityWeeks, Sims: max(cfg.TruthSims, 0),
		Cutoffs: sum.TruthCutoffs, Categories: Categories(), Label: labelText}
	if meta.Cutoffs == nil {
		meta.Cutoffs = []time.Time{}
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("synth: write truth meta: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stage, TruthDir, TruthMetaFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("synth: write truth meta: %w", err)
	}
	m := datasets.Manifest{
		Version: 1, Currency: cfg.Currency, MinorUnits: 2, Start: cfg.Start, End: cfg.End(),
		Source: fmt.Sprintf("synth seed=%d members=%d weeks=%d clubs=%d", cfg.Seed, cfg.Members, cfg.Weeks, cfg.Clubs),
		Notes: map[string]string{
			"generator":     "retain/datasets/synth",
			"truth":         TruthDir + "/" + truthName,
			"tier_core":     strconv.FormatInt(cfg.TierThresholds.Core, 10),
			"tier_active":   strconv.FormatInt(cfg.TierThresholds.Active, 10),
			"horizon_weeks": strconv.Itoa(cfg.HorizonWeeks),
			"timezone":      "UTC (club local time)",
		},
	}
	if err := datasets.WriteManifest(stage, m); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}

	// Swap the finished directory in.
	if exists {
		old := stage + ".old"
		if err := os.Rename(dir, old); err != nil {
			return nil, fmt.Errorf("synth: write %s: %w", dir, err)
		}
		if err := os.Rename(stage, dir); err != nil {
			os.Rename(old, dir)
			return nil, fmt.Errorf("synth: write %s: %w", dir, err)
		}
		os.RemoveAll(old)
	} else if err := os.Rename(stage, dir); err != nil {
		return nil, fmt.Errorf("synth: write %s: %w", dir, err)
	}
	ok = true
	return sum, nil
}

// testHookSink, when set by a test, wraps the sink of WriteDir.
var testHookSink func(Sink) Sink

// fileSink writes the tables of a dataset directory.
type fileSink struct {
	dir   string
	ext   string
	topts *datasets.WriteOptions
	mem   datasets.Writer[datasets.Member]
	att   datasets.Writer[datasets.Attendance]
	tx    datasets.Writer[datasets.Transaction]
	tf    *os.File
	gz    *gzip.Writer
	truth *truthWriter
}

func newFileSink(dir string, o *WriteOptions) (*fileSink, error) {
	s := &fileSink{dir: dir, ext: "." + o.Format, topts: o.Table}
	var err error
	fail := func(e error) (*fileSink, error) { s.abort(); return nil, fmt.Errorf("synth: %w", e) }
	if s.mem, err = datasets.CreateTable[datasets.Member](s.path(datasets.TableMembers, false), o.Table); err != nil {
		return fail(err)
	}
	if s.att, err = datasets.CreateTable[datasets.Attendance](s.path(datasets.TableAttendance, true), o.Table); err != nil {
		return fail(err)
	}
	if s.tx, err = datasets.CreateTable[datasets.Transaction](s.path(datasets.TableTransactions, true), o.Table); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(filepath.Join(dir, TruthDir), 0o755); err != nil {
		return fail(err)
	}
	name := TruthFile
	if o.GzipTruth {
		name += ".gz"
	}
	if s.tf, err = os.Create(filepath.Join(dir, TruthDir, name)); err != nil {
		return fail(err)
	}
	var w io.Writer = s.tf
	if o.GzipTruth {
		s.gz = gzip.NewWriter(s.tf)
		w = s.gz
	}
	s.truth = newTruthWriter(w)
	return s, nil
}

// path returns the file (or partition folder) of table t.
func (s *fileSink) path(t datasets.Table, partitionable bool) string {
	if partitionable && s.topts != nil && s.topts.PartitionBy != "" {
		return filepath.Join(s.dir, string(t))
	}
	return filepath.Join(s.dir, string(t)+s.ext)
}

func (s *fileSink) Courses(rows []datasets.Course) error {
	w, err := datasets.CreateTable[datasets.Course](s.path(datasets.TableCourses, false), s.topts)
	if err != nil {
		return err
	}
	if _, err := w.Write(rows); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

func (s *fileSink) Members(rows []datasets.Member) error {
	_, err := s.mem.Write(rows)
	return err
}

func (s *fileSink) Attendance(rows []datasets.Attendance) error {
	_, err := s.att.Write(rows)
	return err
}

func (s *fileSink) Transactions(rows []datasets.Transaction) error {
	_, err := s.tx.Write(rows)
	return err
}

func (s *fileSink) Truth(rows []Truth) error { return s.truth.write(rows) }

func (s *fileSink) abort() {
	if s.mem != nil {
		s.mem.Abort()
	}
	if s.att != nil {
		s.att.Abort()
	}
	if s.tx != nil {
		s.tx.Abort()
	}
	if s.tf != nil {
		s.tf.Close()
	}
}

func (s *fileSink) close() error {
	var errs []error
	if err := s.truth.flush(); err != nil {
		errs = append(errs, fmt.Errorf("write truth: %w", err))
	}
	if s.gz != nil {
		if err := s.gz.Close(); err != nil {
			errs = append(errs, fmt.Errorf("write truth: %w", err))
		}
	}
	if err := s.tf.Close(); err != nil {
		errs = append(errs, fmt.Errorf("write truth: %w", err))
	}
	if err := s.mem.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.att.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.tx.Close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		s.abort()
		return fmt.Errorf("synth: %w", errors.Join(errs...))
	}
	return nil
}

// TruthColumns returns the columns of the truth file, in order:
//
//	member_id     the member
//	cutoff        the cutoff t, RFC 3339 UTC (a Monday 00:00)
//	alive         true/false: the label population (see Truth)
//	churned       true/false: the generator had already ended the membership
//	sims          re-simulations behind the estimates (0: none needed)
//	churn_prob    P(label = 1 | hidden state at t); empty when not alive
//	churn_se      its Monte Carlo standard error; empty when not alive
//	p_no_class    P(no class in (t, t+H]); empty when not alive
//	next_<cat>    P(first class after t is of category cat | a class in the horizon),
//	              one column per category in Categories() order; empty when not alive or p_no_class = 1
func TruthColumns() []string {
	cols := []string{"member_id", "cutoff", "alive", "churned", "sims", "churn_prob", "churn_se", "p_no_class"}
	for _, c := range Categories() {
		cols = append(cols, "next_"+c)
	}
	return cols
}

type truthWriter struct {
	w   *bufio.Writer
	buf []byte
	hdr bool
}

func newTruthWriter(w io.Writer) *truthWriter {
	return &truthWriter{w: bufio.NewWriterSize(w, 1<<16)}
}

func (tw *truthWriter) write(rows []Truth) error {
	if !tw.hdr {
		tw.hdr = true
		for i, c := range TruthColumns() {
			if i > 0 {
				tw.w.WriteByte(',')
			}
			tw.w.WriteString(c)
		}
		tw.w.WriteByte('\n')
	}
	for i := range rows {
		t := &rows[i]
		if len(t.NextCategory) != 0 && len(t.NextCategory) != numCats {
			return fmt.Errorf("synth: truth row %s: %d next-category probabilities, want %d", t.MemberID, len(t.NextCategory), numCats)
		}
		b := tw.buf[:0]
		b = append(b, t.MemberID...) // member ids never need CSV quoting
		b = append(b, ',')
		b = t.Cutoff.UTC().AppendFormat(b, time.RFC3339)
		b = append(b, ',')
		b = strconv.AppendBool(b, t.Alive)
		b = append(b, ',')
		b = strconv.AppendBool(b, t.Churned)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(t.Sims), 10)
		// ChurnProb and PNoClass are multiples of 1/Sims, written exactly
		// (shortest round-trip form); ChurnSE and the next-category
		// probabilities to 4 significant digits, far below their Monte
		// Carlo error.
		for i, v := range []float64{t.ChurnProb, t.ChurnSE, t.PNoClass} {
			b = append(b, ',')
			if t.Alive {
				prec := -1
				if i == 1 {
					prec = 4
				}
				b = strconv.AppendFloat(b, v, 'g', prec, 64)
			}
		}
		for k := range numCats {
			b = append(b, ',')
			if t.Alive && t.NextCategory != nil {
				b = strconv.AppendFloat(b, t.NextCategory[k], 'g', 4, 64)
			}
		}
		b = append(b, '\n')
		tw.buf = b
		if _, err := tw.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (tw *truthWriter) flush() error {
	if !tw.hdr {
		if err := tw.write(nil); err != nil {
			return err
		}
	}
	return tw.w.Flush()
}

// WriteTruth writes rows as a truth CSV file (header included) to w.
func WriteTruth(w io.Writer, rows []Truth) error {
	tw := newTruthWriter(w)
	if err := tw.write(rows); err != nil {
		return err
	}
	return tw.flush()
}
