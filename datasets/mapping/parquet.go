package mapping

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"retain/datasets"
)

// Go layouts of the strings a typed Parquet time column is turned into.
const (
	layoutUTC   = time.RFC3339Nano
	layoutLocal = "2006-01-02T15:04:05.999999999"
	layoutDate  = "2006-01-02"
)

// Kinds of Parquet column, as far as an import cares.
type pqKind uint8

const (
	pqUnsupported pqKind = iota
	pqString             // BYTE_ARRAY (string, enum, JSON or plain bytes that are UTF-8)
	pqInt                // INT32 / INT64 without a time annotation
	pqFloat              // FLOAT / DOUBLE
	pqDecimal            // DECIMAL on INT32, INT64, BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY
	pqBool               // BOOLEAN
	pqTimestamp          // INT64 TIMESTAMP
	pqDate               // INT32 DATE
	pqUUID               // FIXED_LEN_BYTE_ARRAY(16) UUID
)

var pqKindNames = [...]string{"unsupported", "string", "integer", "floating point", "decimal", "boolean", "timestamp", "date", "UUID"}

func (k pqKind) String() string { return pqKindNames[k] }

// pqColumn is one top-level column of a Parquet export.
type pqColumn struct {
	name   string
	index  int // leaf column index; -1 when the field is not a flat leaf
	kind   pqKind
	typ    string // the Parquet type, for messages
	scale  int    // decimals
	unit   time.Duration
	utc    bool // timestamps: isAdjustedToUTC
	layout string
}

// parquetInput reads a Parquet export generically: any flat schema, values
// turned into strings by their type.
type parquetInput struct {
	path   string
	f      *os.File
	pf     *parquet.File
	cols   []pqColumn
	names  []string
	byLeaf map[int]int // leaf column index -> position in cols
	groups []parquet.RowGroup
	g      int
	rows   parquet.Rows
	buf    []parquet.Row
	bufN   int
	bufI   int
	row    int64
}

func openParquet(path string) (in *parquetInput, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, fmt.Errorf("mapping: %s: %w: corrupt file: %v", path, datasets.ErrNotParquet, r)
		}
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("mapping: %s: %w: %v", path, datasets.ErrNotParquet, err)
	}
	in = &parquetInput{path: path, f: f, pf: pf, byLeaf: map[int]int{}, groups: pf.RowGroups()}
	schema := pf.Schema()
	for _, fld := range schema.Fields() {
		c := pqColumn{name: fld.Name(), index: -1}
		if fld.Leaf() && !fld.Repeated() {
			if leaf, ok := schema.Lookup(fld.Name()); ok {
				c.index = leaf.ColumnIndex
				classify(&c, fld.Type())
				in.byLeaf[c.index] = len(in.cols)
			}
		} else {
			c.typ = "group or repeated field"
		}
		in.cols = append(in.cols, c)
		in.names = append(in.names, c.name)
	}
	return in, nil
}

// classify sets the kind of c from its Parquet type.
func classify(c *pqColumn, t parquet.Type) {
	c.typ = t.String()
	lt := t.LogicalType()
	var ltv format.LogicalTypeValue
	if lt != nil {
		ltv = lt.Value
	}
	ct := t.ConvertedType()
	switch t.Kind() {
	case parquet.Boolean:
		c.kind = pqBool
	case parquet.Int32, parquet.Int64:
		switch v := ltv.(type) {
		case *format.DateType:
			c.kind, c.layout = pqDate, layoutDate
		case *format.TimestampType:
			c.kind, c.utc = pqTimestamp, v.IsAdjustedToUTC
			c.unit = time.Millisecond
			if v.Unit.Value != nil {
				c.unit = v.Unit.Value.Duration()
			}
			c.layout = layoutLocal
			if c.utc {
				c.layout = layoutUTC
			}
		case *format.DecimalType:
			c.kind, c.scale = pqDecimal, int(v.Scale)
		case *format.TimeType:
			c.kind = pqUnsupported
		case nil:
			switch {
			case ct != nil && *ct == deprecated.Date:
				c.kind, c.layout = pqDate, layoutDate
			case ct != nil && (*ct == deprecated.TimestampMillis || *ct == deprecated.TimestampMicros):
				c.kind, c.utc, c.layout = pqTimestamp, true, layoutUTC
				c.unit = time.Millisecond
				if *ct == deprecated.TimestampMicros {
					c.unit = time.Microsecond
				}
			case ct != nil && (*ct == deprecated.Decimal || *ct == deprecated.TimeMillis || *ct == deprecated.TimeMicros):
				c.kind = pqUnsupported
			default:
				c.kind = pqInt
			}
		default:
			c.kind = pqInt
		}
	case parquet.Float, parquet.Double:
		c.kind = pqFloat
	case parquet.ByteArray:
		switch v := ltv.(type) {
		case *format.DecimalType:
			c.kind, c.scale = pqDecimal, int(v.Scale)
		default:
			if ct != nil && *ct == deprecated.Decimal {
				c.kind = pqUnsupported
			} else {
				c.kind = pqString
			}
		}
	case parquet.FixedLenByteArray:
		switch v := ltv.(type) {
		case *format.DecimalType:
			c.kind, c.scale = pqDecimal, int(v.Scale)
		case *format.UUIDType:
			c.kind = pqUUID
		default:
			c.kind = pqUnsupported
		}
	default: // INT96 and anything newer
		c.kind = pqUnsupported
	}
}

func (in *parquetInput) columns() []string { return in.names }

func (in *parquetInput) timeLayout(i int) string { return in.cols[i].layout }

func (in *parquetInput) close() error { return in.f.Close() }

// use says how a mapping uses a column, for type checks.
type use uint8

const (
	useText   use = 1 << iota // an id, a name, an enum
	useNumber                 // in the amount formula, a quantity, an integer field
	useTime                   // a timestamp or date
)

// checkUse checks that column i of the file can serve as uses, returning an
// error wrapping datasets.ErrSchema that names the column.
func (in *parquetInput) checkUse(i int, u use, unixLayout bool) error {
	c := in.cols[i]
	bad := func(want string) error {
		return fmt.Errorf("mapping: %s: %w: column %q is %s (%s); %s", in.path, datasets.ErrSchema, c.name, c.kind, c.typ, want)
	}
	if c.index < 0 || c.kind == pqUnsupported {
		return bad("want a flat column of a string, integer, floating point, decimal, boolean, date or timestamp type")
	}
	if u&useTime != 0 {
		switch c.kind {
		case pqTimestamp, pqDate, pqString:
		case pqInt:
			if !unixLayout {
				return bad("a timestamp needs a TIMESTAMP, DATE or string column, or layouts: [unix] for epoch seconds")
			}
		default:
			return bad("a timestamp needs a TIMESTAMP, DATE or string column")
		}
	}
	if u&useNumber != 0 {
		switch c.kind {
		case pqInt, pqFloat, pqDecimal, pqString:
		default:
			return bad("a number needs an integer, floating point, decimal or string column")
		}
	}
	if u&useText != 0 {
		switch c.kind {
		case pqString, pqInt, pqDecimal, pqBool, pqUUID:
		default:
			return bad("an id or a name needs a string or integer column")
		}
	}
	return nil
}

func (in *parquetInput) next() (rec *record, err error) {
	defer func() {
		if r := recover(); r != nil {
			rec, err = nil, fmt.Errorf("mapping: read %s: %w: corrupt file: %v", in.path, datasets.ErrNotParquet, r)
		}
	}()
	for in.bufI >= in.bufN {
		if err := in.fill(); err != nil {
			return nil, err
		}
	}
	r := in.buf[in.bufI]
	in.bufI++
	in.row++
	vals := make([]string, len(in.cols))
	for _, v := range r {
		pos, ok := in.byLeaf[v.Column()]
		if !ok {
			continue
		}
		s, err := in.cols[pos].format(v)
		if err != nil {
			return &record{row: in.row, vals: vals}, &datasets.RowError{File: in.path, Row: in.row, Column: in.cols[pos].name, Err: err}
		}
		vals[pos] = s
	}
	return &record{row: in.row, vals: vals}, nil
}

// fill reads the next batch of rows, moving on to the next row group when
// needed.
func (in *parquetInput) fill() error {
	if in.buf == nil {
		in.buf = make([]parquet.Row, 256)
	}
	for {
		if in.rows == nil {
			if in.g >= len(in.groups) {
				return io.EOF
			}
			in.rows = in.groups[in.g].Rows()
			in.g++
		}
		n, err := in.rows.ReadRows(in.buf)
		in.bufN, in.bufI = n, 0
		if err == io.EOF {
			in.rows.Close()
			in.rows = nil
			err = nil
		}
		if err != nil {
			return fmt.Errorf("mapping: read %s: %w", in.path, err)
		}
		if n > 0 {
			return nil
		}
	}
}

// format turns a value of the column into the string the mapping parses.
func (c *pqColumn) format(v parquet.Value) (string, error) {
	if v.IsNull() {
		return "", nil
	}
	switch c.kind {
	case pqString:
		// Trimmed like the values of text exports.
		return strings.TrimSpace(string(v.ByteArray())), nil
	case pqBool:
		return strconv.FormatBool(v.Boolean()), nil
	case pqInt:
		if v.Kind() == parquet.Int32 {
			return strconv.FormatInt(int64(v.Int32()), 10), nil
		}
		return strconv.FormatInt(v.Int64(), 10), nil
	case pqFloat:
		if v.Kind() == parquet.Float {
			return strconv.FormatFloat(float64(v.Float()), 'g', -1, 32), nil
		}
		// NaN and ±Inf come out as "NaN" and "+Inf", which the number
		// parser rejects.
		return strconv.FormatFloat(v.Double(), 'g', -1, 64), nil
	case pqDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(layoutDate), nil
	case pqTimestamp:
		n := v.Int64()
		var t time.Time
		switch c.unit {
		case time.Nanosecond:
			t = time.Unix(0, n)
		case time.Microsecond:
			t = time.UnixMicro(n)
		default:
			t = time.UnixMilli(n)
		}
		return t.UTC().Format(c.layout), nil
	case pqDecimal:
		var unscaled *big.Int
		switch v.Kind() {
		case parquet.Int32:
			unscaled = big.NewInt(int64(v.Int32()))
		case parquet.Int64:
			unscaled = big.NewInt(v.Int64())
		default:
			b := v.ByteArray()
			if len(b) > 64 {
				return "", fmt.Errorf("%w: decimal of %d bytes", datasets.ErrAbsurdAmount, len(b))
			}
			unscaled = new(big.Int).SetBytes(b)
			if len(b) > 0 && b[0]&0x80 != 0 { // two's complement
				unscaled.Sub(unscaled, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			}
		}
		if c.scale < 0 || c.scale > 38 {
			return "", fmt.Errorf("%w: decimal scale %d", datasets.ErrSchema, c.scale)
		}
		r := new(big.Rat).SetFrac(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.scale)), nil))
		return r.FloatString(c.scale), nil
	case pqUUID:
		b := v.ByteArray()
		if len(b) != 16 {
			return hex.EncodeToString(b), nil
		}
		h := hex.EncodeToString(b)
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
	}
	return "", errors.New("mapping: unsupported column type")
}
