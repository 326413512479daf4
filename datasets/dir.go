package datasets

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ManifestFile is the name of the manifest in a dataset directory.
const ManifestFile = "dataset.json"

// Manifest describes a dataset directory. It is stored as indented JSON in
// DIR/dataset.json; a directory without one has the zero Manifest
// (Version 0).
type Manifest struct {
	// Version is the version of the dataset layout; 0 when there is no
	// manifest.
	Version int `json:"version"`
	// Currency is the ISO 4217 code of Transaction.Amount, such as "EUR".
	Currency string `json:"currency,omitempty"`
	// MinorUnits is the number of decimals of the currency: an Amount of
	// 1999 is 19.99 when MinorUnits is 2.
	MinorUnits int `json:"minor_units"`
	// Start and End bound the event timestamps of the dataset; zero when
	// not recorded.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Source says where the data came from, such as "synth seed=1" or the
	// name of an export.
	Source string `json:"source,omitempty"`
	// Notes holds free-form key-value annotations.
	Notes map[string]string `json:"notes,omitempty"`
}

// Dir is a dataset directory: a manifest and one file or folder per table.
type Dir struct {
	dir      string
	manifest Manifest
	paths    map[Table]string
}

// OpenDir opens the dataset directory dir. Each table NAME is found as
// NAME.parquet, NAME.csv or a folder NAME/ of partitions; members and
// attendance must be there (else the error wraps ErrTableNotFound), courses
// and transactions may be absent (Path reports it). Two candidates for one
// table, such as members.parquet and members.csv, are an error, and so is
// any other entry named NAME or NAME.* (any case) that is not one of them,
// such as transactions.csv.gz or Members.CSV (ErrUnsupportedFile): such a
// file is never passed over as if the table were absent. The manifest is
// read from dataset.json when present.
func OpenDir(dir string) (*Dir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("datasets: open dataset: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("datasets: open dataset %s: not a directory", dir)
	}
	d := &Dir{dir: dir, paths: make(map[Table]string)}
	if d.manifest, err = readManifest(dir); err != nil {
		return nil, err
	}
	if err := checkTableNames(dir); err != nil {
		return nil, err
	}
	for _, t := range Tables {
		var found []string
		for _, p := range []string{
			filepath.Join(dir, string(t)+".parquet"),
			filepath.Join(dir, string(t)+".csv"),
			filepath.Join(dir, string(t)),
		} {
			st, err := os.Stat(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue
			case err != nil:
				return nil, fmt.Errorf("datasets: open dataset %s: %w", dir, err)
			case st.IsDir() != (filepath.Ext(p) == ""):
				continue // a folder members.csv/ or a file named members: rejected by checkTableNames
			}
			found = append(found, p)
		}
		switch len(found) {
		case 0:
			if t == TableMembers || t == TableAttendance {
				return nil, d.notFound(t)
			}
		case 1:
			d.paths[t] = found[0]
		default:
			return nil, fmt.Errorf("datasets: open dataset %s: table %s is ambiguous: %q", dir, t, found)
		}
	}
	return d, nil
}

// checkTableNames returns an error wrapping ErrUnsupportedFile for the first
// entry of dir that is named like a table (NAME or NAME.*, any case, NAME a
// table) but is not one of its three forms: a transactions.csv.gz, a
// Members.CSV or a folder members.csv/ would otherwise be passed over, the
// table read as absent.
func checkTableNames(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("datasets: open dataset %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		lower := strings.ToLower(name)
		for _, t := range Tables {
			if lower != string(t) && !strings.HasPrefix(lower, string(t)+".") {
				continue
			}
			p := filepath.Join(dir, name)
			st, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("datasets: open dataset %s: %w", dir, err)
			}
			switch {
			case st.IsDir() && name == string(t):
				continue
			case !st.IsDir() && (name == string(t)+".parquet" || name == string(t)+".csv"):
				continue
			}
			msg := fmt.Sprintf("not read as table %s, which is read only from %s.parquet, %s.csv or a folder %s/", t, t, t, t)
			switch ext := strings.ToLower(filepath.Ext(name)); {
			case st.IsDir():
				msg += "; this is a folder"
			case name == string(t):
				msg += "; this is a file without extension"
			case ext == ".gz" || ext == ".gzip" || ext == ".bz2" || ext == ".xz" || ext == ".zst" || ext == ".zstd" || ext == ".zip":
				msg += "; compressed files are not read: decompress it"
			case lower != name:
				msg += " (lower case)"
			default:
				msg += "; convert it, or move it out of the dataset"
			}
			return &fileError{op: "open dataset", path: p, kind: ErrUnsupportedFile, msg: msg}
		}
	}
	return nil
}

func (d *Dir) notFound(t Table) error {
	return fmt.Errorf("datasets: dataset %s: %w: no %s.parquet, %s.csv or %s/", d.dir, ErrTableNotFound, t, t, t)
}

// Path returns the file or folder holding table t, or an error wrapping
// ErrTableNotFound when the dataset has none.
func (d *Dir) Path(t Table) (string, error) {
	if p, ok := d.paths[t]; ok {
		return p, nil
	}
	return "", d.notFound(t)
}

// Manifest returns the dataset's manifest; the zero Manifest when there is
// no dataset.json.
func (d *Dir) Manifest() Manifest {
	m := d.manifest
	if m.Notes != nil {
		notes := make(map[string]string, len(m.Notes))
		for k, v := range m.Notes {
			notes[k] = v
		}
		m.Notes = notes
	}
	return m
}

// OpenDirTable opens the table of type T in d (see OpenTable). The error
// wraps ErrTableNotFound when d has no such table.
func OpenDirTable[T Record](d *Dir, opts *ReadOptions) (Reader[T], error) {
	p, err := d.Path(TableOf[T]())
	if err != nil {
		return nil, err
	}
	return OpenTable[T](p, opts)
}

func readManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, nil
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("datasets: read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("datasets: read manifest %s: %w", path, err)
	}
	return m, nil
}

// WriteManifest writes m as indented JSON to dir/dataset.json, atomically.
func WriteManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("datasets: write manifest: %w", err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, ManifestFile)
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("datasets: write manifest: %w", err)
	}
	return nil
}

// atomicFile is a file written under a temporary name in the directory of
// its final path and renamed there by Commit. The temporary name starts with
// "." so that readers of a folder of partitions skip it.
// fileEnd is the end of a file writer's life, shared by the CSV and Parquet
// writers: a sticky error, and a Close that commits the atomic file only
// when nothing failed.
type fileEnd struct {
	path   string
	af     *atomicFile // nil for a writer on a plain io.Writer
	err    error       // sticky: a writer that failed cannot be committed
	closed bool
}

// end finishes the file with finish and commits it; on any failure the
// file is discarded.
func (e *fileEnd) end(finish func() error) error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.err != nil {
		e.abortFile()
		return e.err
	}
	if err := finish(); err != nil {
		e.abortFile()
		return fmt.Errorf("datasets: write %s: %w", e.path, err)
	}
	if e.af == nil {
		return nil
	}
	if err := e.af.Commit(); err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	return nil
}

// Abort discards everything written.
func (e *fileEnd) Abort() error {
	if e.closed {
		return nil
	}
	e.closed = true
	return e.abortFile()
}

func (e *fileEnd) abortFile() error {
	if e.af == nil {
		return nil
	}
	return e.af.Abort()
}

type atomicFile struct {
	*os.File
	path string
	done bool
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &atomicFile{File: f, path: path}, nil
}

// Commit flushes the file to stable storage, renames it to its final path
// and syncs the directory. On error the temporary file is removed.
func (f *atomicFile) Commit() error {
	if f.done {
		return nil
	}
	f.done = true
	tmp := f.Name()
	err := f.Chmod(0o644)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("commit %s: %w", f.path, err)
	}
	return syncDir(filepath.Dir(f.path))
}

// Abort closes and removes the temporary file.
func (f *atomicFile) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// syncDir flushes a directory's entries (a rename in it) to stable storage.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic writes b to path atomically.
func writeFileAtomic(path string, b []byte) error {
	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return errors.Join(err, f.Abort())
	}
	return f.Commit()
}
