package batch

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Row is one scored member: the output file's schema (docs/batch.md).
// Strings that do not apply are empty ("" course when the model has fewer
// categories with courses than three, "" action kind when no action is
// recommended), probabilities and contributions of absent entries 0.
type Row struct {
	MemberID string `parquet:"member_id"`
	Club     string `parquet:"club,dict"`
	// AsOf is the as-of instant in microseconds since 1970-01-01 UTC
	// (Parquet TIMESTAMP(MICROS, UTC); RFC 3339 in CSV).
	AsOf             int64   `parquet:"as_of,timestamp(microsecond:utc)"`
	ChurnProbability float64 `parquet:"churn_probability"`
	// RiskLevel is "low", "medium" or "high", by the thresholds of retain
	// serve (serve.RiskThresholds).
	RiskLevel string `parquet:"risk_level,dict"`
	// Flags are the rule flags' names (features.Flags.Names): a
	// LIST<STRING> in Parquet, joined by ";" in CSV.
	Flags []string `parquet:"flags,list"`
	Tier  string   `parquet:"tier,dict"`

	NextCourse1            string  `parquet:"next_course_1,dict"`
	NextCourse1Probability float64 `parquet:"next_course_1_probability"`
	NextCourse2            string  `parquet:"next_course_2,dict"`
	NextCourse2Probability float64 `parquet:"next_course_2_probability"`
	NextCourse3            string  `parquet:"next_course_3,dict"`
	NextCourse3Probability float64 `parquet:"next_course_3_probability"`

	Reason1             string  `parquet:"reason_1,dict"`
	Reason1Contribution float64 `parquet:"reason_1_contribution"`
	Reason2             string  `parquet:"reason_2,dict"`
	Reason2Contribution float64 `parquet:"reason_2_contribution"`
	Reason3             string  `parquet:"reason_3,dict"`
	Reason3Contribution float64 `parquet:"reason_3_contribution"`

	ActionKind   string `parquet:"action_kind,dict"`
	ActionStage  string `parquet:"action_stage,dict"`
	ActionOffer  string `parquet:"action_offer,dict"`
	ModelVersion string `parquet:"model_version,dict"`
}

// AsOfTime returns AsOf as a time.Time in UTC.
func (r *Row) AsOfTime() time.Time { return time.UnixMicro(r.AsOf).UTC() }

// csvHeader is the CSV header: the Parquet column names, in order.
var csvHeader = []string{
	"member_id", "club", "as_of", "churn_probability", "risk_level", "flags", "tier",
	"next_course_1", "next_course_1_probability", "next_course_2", "next_course_2_probability",
	"next_course_3", "next_course_3_probability",
	"reason_1", "reason_1_contribution", "reason_2", "reason_2_contribution", "reason_3", "reason_3_contribution",
	"action_kind", "action_stage", "action_offer", "model_version",
}

// flagSep joins the flags in CSV; no flag name holds it.
const flagSep = ";"

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// record returns r as a CSV record (csvHeader's order). Floats are written
// in the shortest form that reads back to the same float64.
func (r *Row) record(dst []string) []string {
	return append(dst[:0], r.MemberID, r.Club, r.AsOfTime().Format(time.RFC3339Nano), ftoa(r.ChurnProbability),
		r.RiskLevel, strings.Join(r.Flags, flagSep), r.Tier,
		r.NextCourse1, ftoa(r.NextCourse1Probability), r.NextCourse2, ftoa(r.NextCourse2Probability),
		r.NextCourse3, ftoa(r.NextCourse3Probability),
		r.Reason1, ftoa(r.Reason1Contribution), r.Reason2, ftoa(r.Reason2Contribution), r.Reason3, ftoa(r.Reason3Contribution),
		r.ActionKind, r.ActionStage, r.ActionOffer, r.ModelVersion)
}

// rowWriter writes rows to a file.
type rowWriter interface {
	Write(rows []Row) error
	Close() error
}

// atomicFile is a temporary file beside path that Commit renames to path,
// so that readers never see a partial output.
type atomicFile struct {
	*os.File
	path string
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("batch: output: %w", err)
	}
	return &atomicFile{File: f, path: path}, nil
}

// Commit syncs, closes and renames the file into place.
func (f *atomicFile) Commit() error {
	if err := f.Sync(); err != nil {
		f.Abort()
		return fmt.Errorf("batch: output: %w", err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("batch: output: %w", err)
	}
	if err := os.Rename(f.Name(), f.path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("batch: output: %w", err)
	}
	return nil
}

// Abort closes and removes the temporary file.
func (f *atomicFile) Abort() {
	f.File.Close()
	os.Remove(f.Name())
}

type parquetWriter struct{ w *parquet.GenericWriter[Row] }

func newParquetWriter(w io.Writer) *parquetWriter {
	return &parquetWriter{parquet.NewGenericWriter[Row](w,
		parquet.Compression(&parquet.Snappy),
		parquet.CreatedBy("retain score", "", ""),
	)}
}

func (p *parquetWriter) Write(rows []Row) error {
	_, err := p.w.Write(rows)
	return err
}

func (p *parquetWriter) Close() error { return p.w.Close() }

type csvWriter struct {
	w   *csv.Writer
	rec []string
}

func newCSVWriter(w io.Writer) (*csvWriter, error) {
	c := &csvWriter{w: csv.NewWriter(w)}
	return c, c.w.Write(csvHeader)
}

func (c *csvWriter) Write(rows []Row) error {
	for i := range rows {
		c.rec = rows[i].record(c.rec)
		if err := c.w.Write(c.rec); err != nil {
			return err
		}
	}
	return nil
}

func (c *csvWriter) Close() error {
	c.w.Flush()
	return c.w.Error()
}

// ReadParquet reads an output file written with Format "parquet".
func ReadParquet(path string) ([]Row, error) {
	rows, err := parquet.ReadFile[Row](path)
	if err != nil {
		return nil, fmt.Errorf("batch: %s: %w", path, err)
	}
	return rows, nil
}

// ReadCSV reads an output file written with Format "csv". Errors name the
// line and column.
func ReadCSV(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = len(csvHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("batch: %s: header: %w", path, err)
	}
	for i, h := range csvHeader {
		if head[i] != h {
			return nil, fmt.Errorf("batch: %s: line 1: column %d is %q, want %q", path, i+1, head[i], h)
		}
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("batch: %s: %w", path, err)
		}
		var perr error
		num := func(col int) float64 {
			v, err := strconv.ParseFloat(rec[col], 64)
			if err != nil && perr == nil {
				perr = fmt.Errorf("batch: %s: line %d, column %s: %w", path, line, csvHeader[col], err)
			}
			return v
		}
		asOf, err := time.Parse(time.RFC3339Nano, rec[2])
		if err != nil {
			return nil, fmt.Errorf("batch: %s: line %d, column as_of: %w", path, line, err)
		}
		r := Row{
			MemberID: rec[0], Club: rec[1], AsOf: asOf.UnixMicro(), ChurnProbability: num(3), RiskLevel: rec[4], Tier: rec[6],
			NextCourse1: rec[7], NextCourse1Probability: num(8), NextCourse2: rec[9], NextCourse2Probability: num(10),
			NextCourse3: rec[11], NextCourse3Probability: num(12),
			Reason1: rec[13], Reason1Contribution: num(14), Reason2: rec[15], Reason2Contribution: num(16),
			Reason3: rec[17], Reason3Contribution: num(18),
			ActionKind: rec[19], ActionStage: rec[20], ActionOffer: rec[21], ModelVersion: rec[22],
		}
		if rec[5] != "" {
			r.Flags = strings.Split(rec[5], flagSep)
		}
		if perr != nil {
			return nil, perr
		}
		rows = append(rows, r)
	}
}
