package serve

// The JSON/HTTP face: grpc-gateway v2, generated with
// generate_unbound_methods, serves each call at
// POST /retain.v1.RetainService/<Call> with the request as JSON (protojson)
// and answers JSON; StreamScores answers newline-delimited JSON objects.
//
// The gateway does not call the handlers directly, which would skip the
// interceptors: it is a gRPC client of a second grpc.Server that has the
// same services, limits and interceptors (metrics, logs, recovery, tokens,
// deadlines) but no TLS, listening on an in-memory pipe (bufconn). The
// HTTP request's Authorization header becomes the call's authorization
// metadata, so tokens and scopes work as on gRPC.

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"

	retainv1 "retain/proto/retain/v1"
)

// gateway is the HTTP face and the in-memory gRPC server behind it.
type gateway struct {
	srv  *grpc.Server
	lis  *bufconn.Listener
	conn *grpc.ClientConn
	mux  *runtime.ServeMux
	max  int64 // request body limit, Options.MaxRecvMsgBytes
	dash *dashboard
}

func (s *Server) newGateway(sopts []grpc.ServerOption) (*gateway, error) {
	g := &gateway{srv: grpc.NewServer(sopts...), lis: bufconn.Listen(1 << 20), max: int64(s.opts.MaxRecvMsgBytes), dash: s.newDashboard()}
	retainv1.RegisterRetainServiceServer(g.srv, s)
	go g.srv.Serve(g.lis)
	conn, err := grpc.NewClient("passthrough:///retain-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return g.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.opts.MaxSendMsgBytes), grpc.MaxCallSendMsgSize(s.opts.MaxRecvMsgBytes)),
	)
	if err != nil {
		g.srv.Stop()
		return nil, fmt.Errorf("serve: gateway: %w", err)
	}
	g.conn = conn
	// Unknown JSON fields are errors, not silently dropped: a misspelt
	// field must not pass for an absent one.
	g.mux = runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}),
		// The HTTP client's address, for the call's log line (whose gRPC
		// peer is the in-memory pipe). An annotator's value replaces any
		// the request's headers give under the same key.
		runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
			return metadata.Pairs(httpPeerKey, r.RemoteAddr)
		}))
	if err := retainv1.RegisterRetainServiceHandlerClient(context.Background(), g.mux, retainv1.NewRetainServiceClient(conn)); err != nil {
		g.close()
		return nil, fmt.Errorf("serve: gateway: %w", err)
	}
	return g, nil
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == DashboardPath {
		g.dash.ServeHTTP(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, g.max)
	g.mux.ServeHTTP(w, r)
}

// httpPeerKey is the metadata key under which the gateway passes the HTTP
// client's address to the in-memory server's interceptors.
const httpPeerKey = "retain-http-peer"

// callPeer is the address of the client of the call in ctx: the gRPC peer,
// or, for a call of the JSON/HTTP face (whose gRPC peer is the in-memory
// pipe), the HTTP client's address the gateway passed. The metadata key is
// trusted only from the pipe, where the gateway set it.
func callPeer(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if p.Addr.Network() == "bufconn" {
		if v := metadata.ValueFromIncomingContext(ctx, httpPeerKey); len(v) == 1 {
			return "http:" + v[0]
		}
	}
	return p.Addr.String()
}

// gracefulStop drains the in-memory server's calls.
func (g *gateway) gracefulStop() { g.srv.GracefulStop() }

func (g *gateway) close() {
	g.srv.Stop()
	g.conn.Close()
}

// HTTPHandler returns the JSON/HTTP face of the API: POST
// /retain.v1.RetainService/<Call> with the request as JSON and the token in
// the Authorization header ("Bearer <token>"). Errors come back as JSON
// ({"code", "message", "details"}) with the HTTP status of the gRPC code
// (400 for INVALID_ARGUMENT, 401, 403, 404, 503...). It goes through the
// same interceptors as gRPC calls. Serve it over TLS (ListenAndServe does
// when Options.HTTPAddr is set). It also serves the HTML dashboard at
// DashboardPath (dashboard.go).
func (s *Server) HTTPHandler() http.Handler { return s.gw }
