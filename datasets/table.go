package datasets

// This file declares the streaming table API. The bodies live in parquet.go,
// csv.go, partition.go and dir.go.

import (
	"errors"
	"time"
)

// A Reader streams the rows of one table.
//
// Read reads up to len(rows) rows into rows and returns the number read. At
// the end of the table it returns 0, io.EOF. A value that cannot be decoded
// is returned as a *RowError (the rows before it in the same call are
// returned with it); the reader can continue after a *RowError, so a caller
// that quarantines bad rows calls Read again. Any other error is fatal.
type Reader[T Record] interface {
	Read(rows []T) (int, error)
	Close() error
}

// A Writer writes the rows of one table. Nothing is visible at the final path
// until Close returns nil: files are written to a temporary name and renamed,
// so a failed run leaves nothing partial behind.
type Writer[T Record] interface {
	Write(rows []T) (int, error)
	Close() error
	// Abort discards everything written; Close after Abort is a no-op.
	Abort() error
}

// ReadOptions tunes a reader. A nil *ReadOptions means defaults.
type ReadOptions struct {
	// BatchRows is how many rows a Parquet reader decodes at a time and a
	// CSV reader buffers. Default 4096.
	BatchRows int
}

// WriteOptions tunes a writer. A nil *WriteOptions means defaults.
type WriteOptions struct {
	// RowGroupRows is the number of rows per Parquet row group.
	// Default 128 * 1024.
	RowGroupRows int
}

// CheckOptions sets the limits of a Checker. A nil *CheckOptions means
// defaults.
type CheckOptions struct {
	// Now is the reference instant for "timestamp in the future".
	// Default time.Now().
	Now time.Time
	// MaxAmount is the largest absolute transaction amount accepted, in
	// minor units. Default 10,000,000 (100,000.00 in a two-decimal currency).
	MaxAmount int64
	// MaxDurationMin is the longest visit accepted, in minutes. Default 1440.
	MaxDurationMin int
	// MinTime is the earliest timestamp accepted. Default 1990-01-01 UTC.
	MinTime time.Time
}

var errNotImplemented = errors.New("datasets: not implemented")
