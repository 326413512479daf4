// Package serve is retain's gRPC scoring server. It may import model,
// features, datasets and proto; nothing imports serve except cmd/retain.
package serve
