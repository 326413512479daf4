// Package model holds retain's LSTM: a Gorgonia graph over the weekly member
// sequences of package features that predicts each member's next course and
// churn probability, and the model bundle that carries its weights.
//
// It may import datasets and features; it must not import train, serve or cmd.
//
// # The network
//
// One or two stacked LSTM layers (Config.Layers, hidden size Config.Hidden)
// read a member's T weeks of F features, left-padded: the weeks before the
// member joined come first with mask 0, and while the mask is 0 the state
// carries through unchanged (h = m·h' + (1-m)·h, likewise c). The top
// layer's last hidden state, joined to S static features, feeds one linear
// layer that gives C next-course logits (a softmax) and one churn logit (a
// sigmoid). Params documents the weight layout.
//
// The loss of a batch is the weighted mean over its rows of
//
//	CE(next course)                      (0 for rows whose Next is -1)
//	+ ChurnWeight · (PosWeight·y·softplus(-z) + (1-y)·softplus(z))
//
// where z is the churn logit and y the churn label: PyTorch's
// BCEWithLogitsLoss with pos_weight, which the trainer sets from the class
// balance. Rows of weight 0 (the padding of a short last batch) add
// nothing.
//
// # Training engines
//
// Trainer builds, per worker, one Gorgonia graph for a fixed batch size
// (shorter batches are padded with weight-0 rows), reuses it for every batch
// (G.Let feeds the inputs, the tape machine is reset before each run) and
// applies clipping and Adam in Go, so that State and Restore can checkpoint a
// run and a resumed run is bit-identical to an uninterrupted one.
// EngineGorgonia, the default, is the reference: its gradients are Gorgonia's
// symbolic ones and the tests hold them to finite differences of an
// independent float64 implementation.
//
// EngineNative is the documented escape hatch for speed: the same forward
// pass and backpropagation through time written out in Go, over AVX2/FMA
// matrix kernels in assembly (kernel_amd64.s, act_amd64.s; gonum's BLAS on
// other CPUs or with the purego build tag). The tests hold its loss and
// gradients to Gorgonia's and to finite differences. It is about ten times
// faster than the Gorgonia graph, whose per-run allocations, per-node
// dispatch and float64 activation functions dominate at these sizes, and it
// skips the work of masked weeks; bench/compare.sh measures both against
// PyTorch (bench/README.md has figures).
//
// Reproducibility: NewParams gives the same weights for a seed everywhere.
// A training run is bit-for-bit reproducible for the same engine, Workers
// and kind of CPU; the matrix kernels differ between CPUs with and without
// AVX-512 (and the purego build), so runs on different kinds of CPU agree
// only to float32 rounding.
//
// Building a graph makes Gorgonia use this package's float32 GEMM kernels
// (gorgonia.Use): Gorgonia's BLAS is process-wide, and only Sgemm differs
// from gonum's.
//
// # Inference
//
// Params.Forward is the plain Go forward pass that the server and batch
// scoring use: safe for concurrent use, allocation-free with a reused
// Workspace (ForwardWith), and equal to the Gorgonia forward graph
// (Trainer.Predict) within 1e-5, which a test checks.
package model
