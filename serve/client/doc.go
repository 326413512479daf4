// Package client is a small Go client of retain's scoring server (the
// retain.v1 API, docs/api.md): it dials the server over TLS, or plaintext
// when asked, and sends the bearer token with every call. `retain score
// --addr` uses it.
//
// It imports only the generated API (retain/proto/retain/v1); it must not
// import serve.
package client
