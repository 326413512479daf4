// Package features turns a dataset's attendance and spend histories into what
// retain's model trains on and what staff act on: weekly member sequences,
// static member features, churn and next-course labels, business indicators
// with rule flags, and monthly KPIs.
//
// Everything is computed "as of" a cutoff instant t. Nothing at or after t
// enters the features, static features or indicators of cutoff t; only the
// labels look past t. Each weekly row depends only on the events before the
// end of its own week, so a row is the same whichever cutoff's window it
// appears in.
//
// There is one implementation of the features. A Featurizer computes them for
// one member held in memory (History, used by the scoring server), and a
// Builder streams whole tables into compact per-member state (weekly buckets,
// not events) and emits every member's examples at rolling cutoffs through the
// same code. BuildDataset reads a dataset directory once and writes the
// training file that package train reads (format in docs/features.md). Its
// examples are split by time, by a hash of the member id (optionally into K
// folds: MemberSplit, MemberFold), or, with BuildLastWeekOut, at a test
// cutoff per member (leave-last-week-out, for next-item evaluation).
//
// The definitions of every feature, label, indicator, flag and KPI are in
// docs/features.md and docs/labels.md.
//
// This package imports only datasets from retain; it must not import model,
// train, serve or cmd.
package features
