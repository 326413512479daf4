package client

import (
	"context"
	"strings"
	"testing"
)

func TestDialOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"insecure with TLS", Options{Insecure: true, CAFile: "ca.pem"}, "Insecure with TLS settings"},
		{"cert without key", Options{CertFile: "c.pem"}, "go together"},
		{"missing CA file", Options{CAFile: "/nonexistent/ca.pem"}, "client: CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial("127.0.0.1:1", &tc.o)
			if err == nil {
				c.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Dial error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestTokenCreds checks the metadata sent and that the token never goes
// over plaintext unless the client dials with Insecure.
func TestTokenCreds(t *testing.T) {
	md, err := tokenCreds{token: "abc"}.GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer abc" {
		t.Errorf("metadata %v, %v", md, err)
	}
	if !(tokenCreds{secure: true}).RequireTransportSecurity() || (tokenCreds{}).RequireTransportSecurity() {
		t.Error("RequireTransportSecurity does not follow secure")
	}
}
