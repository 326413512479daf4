package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	retainv1 "retain/proto/retain/v1"
)

// Options configures Dial. A nil *Options means defaults.
type Options struct {
	// Token is the bearer token sent with every call. Default "": no
	// token (only health and reflection answer then).
	Token string

	// Insecure dials without TLS, for a server started without
	// certificates. The token is then sent in the clear. Default false.
	Insecure bool
	// TLS is the TLS configuration. Default nil: built from CAFile,
	// CertFile and KeyFile, or the system roots when they are empty.
	TLS *tls.Config
	// CAFile is a PEM bundle of the CAs trusted to sign the server's
	// certificate, instead of the system roots. Default "".
	CAFile string
	// CertFile and KeyFile are the client's certificate and key, for a
	// server that requires mutual TLS. Default "".
	CertFile, KeyFile string

	// DialOptions are added to the client's own, last.
	DialOptions []grpc.DialOption
}

// The flow-control windows Dial sets, per stream and per connection (what
// gRPC's bandwidth-delay estimation grows a window to at most), and the
// largest response it accepts: the server's default MaxSendMsgBytes
// (gRPC's own default for a client is 4 MiB).
const (
	streamWindow = 16 << 20
	connWindow   = 16 << 20
	maxRecvBytes = 16 << 20
)

// Client is a connection to the server. Its embedded RetainServiceClient
// makes the calls; it is safe for concurrent use.
type Client struct {
	retainv1.RetainServiceClient
	Health healthpb.HealthClient

	conn *grpc.ClientConn
}

// Dial returns a Client of the server at addr ("host:port"). It does not
// wait for the connection: the first call does.
func Dial(addr string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	var dopts []grpc.DialOption
	if o.Insecure {
		if o.TLS != nil || o.CAFile != "" || o.CertFile != "" {
			return nil, errors.New("client: Insecure with TLS settings")
		}
		dopts = append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		cfg, err := tlsConfig(&o)
		if err != nil {
			return nil, err
		}
		dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	if o.Token != "" {
		dopts = append(dopts, grpc.WithPerRPCCredentials(tokenCreds{token: o.Token, secure: !o.Insecure}))
	}
	// Static flow-control windows instead of gRPC's bandwidth-delay
	// estimation, which pings the server after every response: one more
	// write, read and wake-up per call on both sides (docs/benchmarks.md).
	// A window that does not grow only slows a transfer of more than the
	// window per round trip.
	dopts = append(dopts, grpc.WithStaticStreamWindowSize(streamWindow), grpc.WithStaticConnWindowSize(connWindow),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)))
	dopts = append(dopts, o.DialOptions...)
	conn, err := grpc.NewClient(addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	return &Client{
		RetainServiceClient: retainv1.NewRetainServiceClient(conn),
		Health:              healthpb.NewHealthClient(conn),
		conn:                conn,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn returns the underlying connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Serving reports whether the server's health service says SERVING for
// the retain.v1 service: a model is loaded and checked.
func (c *Client) Serving(ctx context.Context) (bool, error) {
	r, err := c.Health.Check(ctx, &healthpb.HealthCheckRequest{Service: retainv1.RetainService_ServiceDesc.ServiceName})
	if err != nil {
		return false, err
	}
	return r.GetStatus() == healthpb.HealthCheckResponse_SERVING, nil
}

func tlsConfig(o *Options) (*tls.Config, error) {
	if o.TLS != nil {
		return o.TLS.Clone(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("client: CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: CA %s: no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("client: CertFile and KeyFile go together")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client: certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// tokenCreds sends the bearer token as "authorization" metadata.
type tokenCreds struct {
	token  string
	secure bool
}

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

// RequireTransportSecurity is true unless the client dials with Insecure,
// so that grpc never sends the token over plaintext by accident.
func (t tokenCreds) RequireTransportSecurity() bool { return t.secure }
