// Package serve is retain's gRPC scoring server: the retain.v1 API
// (proto/retain/v1), the durable member state it scores from (Store, a
// bbolt file), authentication by scoped bearer tokens, request validation,
// health, reflection and Prometheus metrics.
//
// The server does not compute features or run the model itself. It scores
// through a Scorer, a small interface that package features and the model
// bundle satisfy together; the server holds one Scorer at a time and swaps
// it atomically (SetScorer), which is how a new model bundle goes live.
// LoadModel builds the model bundle's Scorer (BundleScorer) with its
// action playbook (package serve/playbook) and swaps it in; WatchModel
// calls it when the files change. Until a Scorer is set and checked, the
// standard grpc.health.v1 service reports NOT_SERVING and the scoring
// calls answer UNAVAILABLE; ingestion works without a model.
//
// The same calls are served as JSON over HTTP (HTTPHandler, grpc-gateway)
// through the same interceptors.
//
// Errors leave the server as gRPC status codes; this is the only package of
// retain that makes them. docs/api.md describes the API, its limits, its
// error codes and the token file.
//
// serve may import model, features, datasets and proto; nothing imports
// serve except cmd/retain. The client in serve/client imports only proto.
package serve
