package serve_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	retainv1 "retain/proto/retain/v1"
	"retain/serve"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestCallLogNamesClient checks that the per-call log line names the client
// whose token authorised the call, also when its scope is refused.
func TestCallLogNamesClient(t *testing.T) {
	store, err := serve.OpenStore(t.TempDir()+"/state.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := serve.New(serve.Options{Tokens: testTokens(t)}, nil, store, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-done
	}()
	ts := &testServer{srv: srv, store: store, addr: lis.Addr().String()}
	// The coach app may not ingest: PermissionDenied, logged with its name.
	if _, err := ts.dial(t, tokCoach).IngestEvents(ctxT(t), &retainv1.IngestEventsRequest{}); err == nil {
		t.Fatal("coach token could ingest")
	}
	// The admin may read the model info (UNAVAILABLE without a model, but
	// authorised).
	ts.dial(t, tokAdmin).GetModelInfo(ctxT(t), &retainv1.GetModelInfoRequest{})
	out := logs.String()
	for _, want := range []string{`"client":"coach-app"`, `"client":"admin"`} {
		if !strings.Contains(out, want) {
			t.Errorf("call log lacks %s:\n%s", want, out)
		}
	}
}
