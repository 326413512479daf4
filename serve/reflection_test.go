package serve_test

import (
	"io"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"retain/serve"
)

// TestReflection: server reflection lists the services without a token
// (what grpcurl needs), and Options.NoReflection (retain serve
// --no-reflection) turns it off.
func TestReflection(t *testing.T) {
	checkNoLeak(t)
	for _, off := range []bool{false, true} {
		ts := startServer(t, serve.Options{NoReflection: off}, &fakeScorer{version: "v1"}, nil)
		conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		st, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		// Send reports io.EOF when the server has already ended the stream
		// (UNIMPLEMENTED with NoReflection can beat it); the status is
		// then Recv's.
		if err := st.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		resp, err := st.Recv()
		if off {
			if status.Code(err) != codes.Unimplemented {
				t.Errorf("NoReflection: %v, %v; want UNIMPLEMENTED", resp, err)
			}
		} else {
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range resp.GetListServicesResponse().GetService() {
				names = append(names, s.GetName())
			}
			if !slices.Contains(names, serve.ServiceName) || !slices.Contains(names, "grpc.health.v1.Health") {
				t.Errorf("reflection lists %v, want %s and grpc.health.v1.Health", names, serve.ServiceName)
			}
		}
		st.CloseSend()
		conn.Close()
	}
}
