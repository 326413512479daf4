// Package proto holds retain's versioned gRPC API definitions and the
// generated Go code committed beside them.
package proto
