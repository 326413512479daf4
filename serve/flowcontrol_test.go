package serve_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"retain/serve"
	"retain/serve/client"
)

// pingCounter counts the HTTP/2 PING frames (not acknowledgements) that
// one direction of a connection carries, parsing the frames as they pass.
type pingCounter struct {
	mu    sync.Mutex
	skip  int // bytes of the client preface still to skip
	buf   []byte
	pings int
}

func (p *pingCounter) add(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := min(p.skip, len(b)); n > 0 {
		b, p.skip = b[n:], p.skip-n
	}
	p.buf = append(p.buf, b...)
	for len(p.buf) >= 9 {
		// Frame header: length (24 bits), type, flags, stream id.
		n := 9 + int(binary.BigEndian.Uint32(append([]byte{0}, p.buf[:3]...)))
		if len(p.buf) < n {
			return
		}
		if typ, flags := p.buf[3], p.buf[4]; typ == 0x6 && flags&0x1 == 0 {
			p.pings++
		}
		p.buf = p.buf[n:]
	}
}

func (p *pingCounter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pings
}

// countingConn passes a client connection through two pingCounters.
type countingConn struct {
	net.Conn
	in, out *pingCounter
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.add(b[:n])
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.add(b[:n])
	return n, err
}

// TestNoPingPerCall: neither the server nor serve/client pings the other
// after every call. gRPC's bandwidth-delay estimation does so when the
// flow-control windows are not static, which cost each call a write and a
// wake-up on both sides (docs/benchmarks.md, "one write per call").
func TestNoPingPerCall(t *testing.T) {
	ts := startServer(t, serve.Options{}, nil, nil)
	in, out := &pingCounter{}, &pingCounter{skip: len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, in: in, out: out}, nil
	}
	c, err := client.Dial(ts.addr, &client.Options{Insecure: true, DialOptions: []grpc.DialOption{grpc.WithContextDialer(dial)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxT(t)
	const calls = 20
	for i := range calls {
		if _, err := c.Health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := in.count(); got != 0 {
		t.Errorf("the server sent %d pings in %d calls, want 0", got, calls)
	}
	if got := out.count(); got != 0 {
		t.Errorf("the client sent %d pings in %d calls, want 0", got, calls)
	}
}
