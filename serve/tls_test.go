package serve_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	retainv1 "retain/proto/retain/v1"
	"retain/serve"
	"retain/serve/client"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	notBefore := time.Now().Add(-time.Hour)
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "retain test CA"},
		NotBefore: notBefore, NotAfter: notBefore.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: notBefore, NotAfter: notBefore.Add(48 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	p := testPKI{caFile: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

func modelInfo(t *testing.T, addr string, o *client.Options) error {
	t.Helper()
	c, err := client.Dial(addr, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
	return err
}

func TestTLS(t *testing.T) {
	checkNoLeak(t)
	pki := newTestPKI(t)
	ts := startServer(t, serve.Options{TLSCertFile: pki.serverCert, TLSKeyFile: pki.serverKey}, &fakeScorer{version: "v1"}, nil)
	if err := modelInfo(t, ts.addr, &client.Options{Token: tokAdmin, CAFile: pki.caFile}); err != nil {
		t.Errorf("TLS client: %v", err)
	}
	// The system roots do not know the test CA.
	if err := modelInfo(t, ts.addr, &client.Options{Token: tokAdmin}); status.Code(err) != codes.Unavailable {
		t.Errorf("client without the CA: %v, want UNAVAILABLE", err)
	}
	if err := modelInfo(t, ts.addr, &client.Options{Token: tokAdmin, Insecure: true}); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext client: %v, want UNAVAILABLE", err)
	}
}

func TestMutualTLS(t *testing.T) {
	checkNoLeak(t)
	pki := newTestPKI(t)
	ts := startServer(t, serve.Options{TLSCertFile: pki.serverCert, TLSKeyFile: pki.serverKey, ClientCAFile: pki.caFile},
		&fakeScorer{version: "v1"}, nil)
	if err := modelInfo(t, ts.addr, &client.Options{Token: tokAdmin, CAFile: pki.caFile,
		CertFile: pki.clientCert, KeyFile: pki.clientKey}); err != nil {
		t.Errorf("client with a certificate: %v", err)
	}
	if err := modelInfo(t, ts.addr, &client.Options{Token: tokAdmin, CAFile: pki.caFile}); err == nil {
		t.Error("client without a certificate was served")
	}
	// A certificate does not replace the token.
	if err := modelInfo(t, ts.addr, &client.Options{CAFile: pki.caFile,
		CertFile: pki.clientCert, KeyFile: pki.clientKey}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("client with a certificate, no token: %v, want UNAUTHENTICATED", err)
	}
}
