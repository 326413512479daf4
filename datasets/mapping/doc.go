// Package mapping imports real exports (a POS, booking or CRM export whose
// columns are named differently) into retain's canonical dataset, following
// a small YAML mapping file; docs/import.md documents the format.
//
// An import streams CSV, TSV, whitespace-separated or Parquet files, turns
// each row into canonical members, courses, attendance and transaction rows,
// checks every one (datasets.Checker) and writes the dataset directory only
// when the whole import succeeds. Every row that is not imported is
// accounted for: rejected rows as *datasets.RowError (file, row, line,
// column, reason), cancellation rows and duplicate rows counted and listed.
//
// Amounts are computed exactly: a formula over columns (quantity *
// unit_price) is evaluated with math/big.Rat and rounded half away from
// zero to minor units.
//
// Mappings for the public CDNOW data set are built in (Builtin).
//
// This package must import no retain package but datasets.
package mapping
