// Package datasets defines retain's canonical tables (members, courses,
// attendance, transactions), reads and writes them as Parquet and CSV, checks
// them row by row, and locates the tables of a dataset directory.
//
// Readers stream: a table is read in bounded chunks, row group by row group
// for Parquet, so a file of ten million rows never has to fit in memory. A
// directory of Hive-style partitions (attendance/year=2025/month=03/part-0.parquet)
// reads as one table.
//
// Every rejected row is reported as a *RowError that names the file, the row,
// the column and the reason. Nothing here drops a row silently.
//
// Subpackages: synth generates synthetic gym data with ground truth; mapping
// imports real exports whose columns are named differently.
//
// This package must not import any other retain package.
package datasets
