// Package batch scores every active member of a dataset directory with a
// model bundle, without a server, and writes one row per member to a
// Parquet or CSV file: `retain score --model --data --out` (docs/batch.md).
//
// The scores are serve.BundleScorer's: the dataset is read once into
// member state at the as-of time (features.ReadAsOf, the same code as
// features.Featurizer.Compute), and members are scored in batches by
// serve.BundleScorer.ScoreBatch, which runs the network once per batch for
// the members and their occluded copies, sharing the weeks the copies have
// in common (model.Params.ForwardPrefix). The tests hold every row equal to
// BundleScorer.Score of the member's history before the as-of time.
//
// A member is active, and scored, when it joined before the as-of time and
// is not already churned then by the bundle's label definition
// (docs/labels.md); the others are counted by reason in the Report, never
// dropped silently. --shard i/n keeps the members whose FNV-1a 64 hash of
// the member id is i modulo n, so that n runs, on any machines, split the
// members between them with no overlap; the union of their rows is the
// unsharded run's.
package batch
