// Package bench is the load generator of retain's scoring server and its
// benchmarks.
//
// Run drives a call at a constant arrival rate (open loop): request i is
// scheduled at start + i/rate whatever the state of the earlier requests,
// and its latency is measured from that scheduled instant, not from the
// moment it was sent, so a server that falls behind shows the backlog in
// its latencies instead of hiding it by slowing the generator down
// (coordinated omission). A run is bounded by a request count and a
// duration and stops by itself.
//
// The benchmarks (bench_test.go) start a real server on 127.0.0.1:0 with a
// BundleScorer over a generated data set and measure ScoreMember and
// RecommendClasses; run them with
//
//	go test -run '^$' -bench Serve -benchtime 1x ./serve/bench
//
// or make bench-serve. docs/benchmarks.md holds the figures. They do not
// run under plain go test.
package bench
