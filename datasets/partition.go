package datasets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A folder of partitions is read as one table: every *.parquet and *.csv
// file under it, recursively, in lexicographic order of path. As Spark and
// DuckDB do, files and folders whose name starts with "_" or "." (_SUCCESS,
// _temporary, .part-0.parquet.crc, temporary files of writers) are skipped;
// any other file is an error wrapping ErrUnsupportedFile (a compressed
// part-0.csv.gz, a Hive 000000_0, a README), never skipped silently.
// Partition keys in folder names (year=2025/month=03) are not read: they
// repeat what the timestamp column holds.

// partitionFiles lists the data files under dir in read order; a file that
// is neither a data file nor a marker skipped by name is an error.
func partitionFiles(dir string) ([]string, error) {
	var files, unsupported []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		if name := d.Name(); strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".parquet", ".csv":
			files = append(files, path)
			return nil
		}
		unsupported = append(unsupported, path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("datasets: list %s: %w", dir, err)
	}
	if len(unsupported) > 0 {
		slices.Sort(unsupported)
		return nil, unsupportedPart(dir, unsupported)
	}
	slices.Sort(files)
	return files, nil
}

// unsupportedPart is the error for the files paths (sorted, at least one)
// in the folder dir of a partitioned table that are neither Parquet nor
// CSV. It names the first and counts the others.
func unsupportedPart(dir string, paths []string) error {
	path := paths[0]
	msg := fmt.Sprintf("in the folder of partitioned table %s only *.parquet and *.csv files are read, "+
		"and only names starting with \"_\" or \".\" (_SUCCESS, .crc files) are skipped", dir)
	if len(paths) > 1 {
		msg = fmt.Sprintf("%s (and %d other unsupported file(s), such as %s)", msg, len(paths)-1, paths[1])
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".gz", ".gzip", ".bz2", ".xz", ".zst", ".zstd", ".lz4", ".snappy", ".zip":
		msg += "; compressed files are not read: decompress it (or write Parquet, which compresses)"
	case "":
		msg += "; a file without an extension (a Hive 000000_0 part?) is not read: write Parquet or CSV"
	default:
		msg += "; convert it, or move it out of the folder"
	}
	return &fileError{op: "read", path: path, kind: ErrUnsupportedFile, msg: msg}
}

// multiReader reads a sequence of files as one table.
type multiReader[T Record] struct {
	files []string
	next  int // index of the next file to open
	opts  ReadOptions
	cur   Reader[T]
	file  string // Position of the last Read
	row   int64
	err   error // sticky
}

func openPartitioned[T Record](dir string, o ReadOptions) (Reader[T], error) {
	files, err := partitionFiles(dir)
	if err != nil {
		return nil, err
	}
	r := &multiReader[T]{files: files, opts: o}
	// Open the first file now so that a bad schema shows up at once.
	if len(files) > 0 {
		if r.cur, err = openFile[T](files[0], o); err != nil {
			return nil, err
		}
		r.next = 1
	}
	return r, nil
}

func (r *multiReader[T]) Read(rows []T) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		if r.cur == nil {
			if r.next >= len(r.files) {
				return 0, io.EOF
			}
			cur, err := openFile[T](r.files[r.next], r.opts)
			if err != nil {
				r.err = err
				return 0, err
			}
			r.cur = cur
			r.next++
		}
		n, err := r.cur.Read(rows)
		if n > 0 {
			r.file, r.row = Position(r.cur)
		}
		if err == io.EOF {
			err = r.cur.Close()
			r.cur = nil
			if err != nil {
				r.err = err
				return n, err
			}
			if n == 0 {
				continue
			}
			return n, nil
		}
		return n, err
	}
}

// Position implements Positioner.
func (r *multiReader[T]) Position() (string, int64) { return r.file, r.row }

func (r *multiReader[T]) Close() error {
	r.err = errors.New("datasets: read after Close")
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}

// maxOpenPartitions bounds the partition files a partitioned writer keeps
// open. Each buffers up to a row group; rows that come back to a partition
// whose file was closed go to a new file part-N+1.parquet.
const maxOpenPartitions = 16

type partKey struct{ y, m, d int }

type partFile[T Record] struct {
	f    *os.File
	w    *pqWriter[T]
	used int64 // when last written, in rows written by the table writer
}

type partWriter[T Record] struct {
	path      string // final folder
	tmp       string // temporary folder, renamed to path by Close
	by        string
	ts        func(*T) time.Time
	groupRows int
	open      map[partKey]*partFile[T]
	parts     map[partKey]int // files created per partition so far
	dirs      []string        // folders created, for syncing
	rows      int64
	err       error
	closed    bool
}

func createPartitioned[T Record](path string, o WriteOptions) (Writer[T], error) {
	var ts func(*T) time.Time
	switch t := TableOf[T](); t {
	case TableAttendance:
		ts = any(func(r *Attendance) time.Time { return r.TS }).(func(*T) time.Time)
	case TableTransactions:
		ts = any(func(r *Transaction) time.Time { return r.TS }).(func(*T) time.Time)
	default:
		return nil, fmt.Errorf("datasets: create %s: table %s has no event time to partition by", path, t)
	}
	switch o.PartitionBy {
	case "year", "month", "day":
	default:
		return nil, fmt.Errorf("datasets: create %s: PartitionBy %q: want year, month or day", path, o.PartitionBy)
	}
	if ext := filepath.Ext(path); ext != "" {
		return nil, fmt.Errorf("datasets: create %s: a partitioned table is a folder: want a path without extension, not %q", path, ext)
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("datasets: create %s: exists and is not a folder", path)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("datasets: create %s: %w", path, err)
	}
	return &partWriter[T]{
		path:      path,
		tmp:       tmp,
		by:        o.PartitionBy,
		ts:        ts,
		groupRows: o.RowGroupRows,
		open:      make(map[partKey]*partFile[T]),
		parts:     make(map[partKey]int),
	}, nil
}

func (w *partWriter[T]) key(r *T) partKey {
	y, m, d := w.ts(r).UTC().Date()
	switch w.by {
	case "year":
		return partKey{y: y}
	case "month":
		return partKey{y: y, m: int(m)}
	}
	return partKey{y, int(m), d}
}

func (w *partWriter[T]) dir(k partKey) string {
	s := fmt.Sprintf("year=%04d", k.y)
	if k.m > 0 {
		s += fmt.Sprintf("/month=%02d", k.m)
	}
	if k.d > 0 {
		s += fmt.Sprintf("/day=%02d", k.d)
	}
	return filepath.Join(w.tmp, filepath.FromSlash(s))
}

func (w *partWriter[T]) Write(rows []T) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, fmt.Errorf("datasets: write %s: writer closed", w.path)
	}
	n := 0
	for n < len(rows) {
		k := w.key(&rows[n])
		end := n + 1
		for end < len(rows) && w.key(&rows[end]) == k {
			end++
		}
		p, err := w.file(k)
		if err != nil {
			w.err = fmt.Errorf("datasets: write %s: %w", w.path, err)
			return n, w.err
		}
		m, err := p.w.Write(rows[n:end])
		n += m
		w.rows += int64(m)
		p.used = w.rows
		if err != nil {
			w.err = err
			return n, err
		}
	}
	return n, nil
}

// file returns the open file of partition k, opening a new part (and
// closing the least recently used file if too many are open).
func (w *partWriter[T]) file(k partKey) (*partFile[T], error) {
	if p, ok := w.open[k]; ok {
		return p, nil
	}
	if len(w.open) >= maxOpenPartitions {
		var lru partKey
		first := true
		for k, p := range w.open {
			if first || p.used < w.open[lru].used {
				lru, first = k, false
			}
		}
		if err := w.closeFile(lru); err != nil {
			return nil, err
		}
	}
	dir := w.dir(k)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w.dirs = append(w.dirs, dir)
	name := filepath.Join(dir, fmt.Sprintf("part-%d.parquet", w.parts[k]))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	w.parts[k]++
	p := &partFile[T]{f: f, w: newPQWriter[T](name, f, w.groupRows)}
	w.open[k] = p
	return p, nil
}

func (w *partWriter[T]) closeFile(k partKey) error {
	p := w.open[k]
	delete(w.open, k)
	err := p.w.finish()
	if err == nil {
		err = p.f.Sync()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p.f.Name(), err)
	}
	return nil
}

func (w *partWriter[T]) Close() error {
	if w.closed {
		return nil
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	for k := range w.open {
		if err := w.closeFile(k); err != nil {
			w.Abort()
			return fmt.Errorf("datasets: %w", err)
		}
	}
	w.closed = true
	if err := w.commit(); err != nil {
		os.RemoveAll(w.tmp)
		return fmt.Errorf("datasets: commit %s: %w", w.path, err)
	}
	return nil
}

// commit syncs the temporary folder and puts it in place of w.path. An
// existing folder at w.path is moved aside first and removed after, so a
// crash between the two renames leaves the old table under a hidden name
// rather than a mix of old and new.
func (w *partWriter[T]) commit() error {
	slices.Sort(w.dirs)
	w.dirs = slices.Compact(w.dirs)
	for _, d := range w.dirs {
		for ; len(d) >= len(w.tmp); d = filepath.Dir(d) {
			if err := syncDir(d); err != nil {
				return err
			}
		}
	}
	if err := syncDir(w.tmp); err != nil {
		return err
	}
	parent := filepath.Dir(w.path)
	old := ""
	if _, err := os.Stat(w.path); err == nil {
		old = w.tmp + ".old"
		if err := os.Rename(w.path, old); err != nil {
			return err
		}
	}
	if err := os.Rename(w.tmp, w.path); err != nil {
		if old != "" {
			os.Rename(old, w.path)
		}
		return err
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return err
		}
	}
	return syncDir(parent)
}

func (w *partWriter[T]) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	for k, p := range w.open {
		p.f.Close()
		delete(w.open, k)
	}
	return os.RemoveAll(w.tmp)
}
