package serve_test

import (
	"strings"
	"testing"

	"retain/serve"
)

func TestParseTokens(t *testing.T) {
	if tok := testTokens(t); tok.Len() != 4 {
		t.Errorf("test tokens: %d clients, want 4", tok.Len())
	}
	// JSON is YAML.
	tok, err := serve.ParseTokens([]byte(`{"clients": [{"name": "crm", "token": "0123456789abcdef", "scopes": ["score"]}]}`))
	if err != nil || tok.Len() != 1 {
		t.Errorf("JSON: %v", err)
	}
	t.Setenv("RETAIN_TEST_TOKENS", tokensYAML)
	if tok, err := serve.TokensFromEnv("RETAIN_TEST_TOKENS"); err != nil || tok.Len() != 4 {
		t.Errorf("TokensFromEnv: %v", err)
	}
	if _, err := serve.TokensFromEnv("RETAIN_TEST_TOKENS_UNSET"); err == nil {
		t.Error("TokensFromEnv of an unset variable succeeded")
	}

	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown field", "clients:\n  - name: a\n    token: 0123456789abcdef\n    scope: [score]\n", "field scope not found"},
		{"no name", "clients:\n  - token: 0123456789abcdef\n    scopes: [score]\n", "name is required"},
		{"repeated name", "clients:\n  - {name: a, token: 0123456789abcdef, scopes: [score]}\n  - {name: a, token: 0123456789abcdeg, scopes: [score]}\n", "name repeats"},
		{"both", "clients:\n  - {name: a, token: 0123456789abcdef, sha256: " + strings.Repeat("0", 64) + ", scopes: [score]}\n", "exactly one"},
		{"neither", "clients:\n  - {name: a, scopes: [score]}\n", "exactly one"},
		{"short token", "clients:\n  - {name: a, token: short, scopes: [score]}\n", "shorter than 16"},
		{"bad hash", "clients:\n  - {name: a, sha256: abc, scopes: [score]}\n", "64 hex digits"},
		{"no scopes", "clients:\n  - {name: a, token: 0123456789abcdef}\n", "no scopes"},
		{"unknown scope", "clients:\n  - {name: a, token: 0123456789abcdef, scopes: [root]}\n", `unknown scope "root"`},
		// b22f... is the sha256 of the raw token of b: one token, two clients.
		{"shared token", "clients:\n  - {name: a, sha256: b22fd458dbe2426bebe59cfafe4c46e013df3efd439e4d91cda767ac3052ddd0, scopes: [score]}\n  - {name: b, token: hashed-token-0123456789, scopes: [admin]}\n", "same token as client a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := serve.ParseTokens([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNewRefusesNoTokens(t *testing.T) {
	s, err := serve.OpenStore(t.TempDir()+"/s.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, o := range []serve.Options{
		{},
		{Tokens: &serve.Tokens{}},
		{NoAuth: true, Tokens: testTokens(t)},
		{NoAuth: true, Risk: serve.RiskThresholds{Medium: 0.7, High: 0.5}},
		{NoAuth: true, TLSCertFile: "cert.pem"},
		{NoAuth: true, TimeZone: "Mars/Olympus"},
	} {
		if srv, err := serve.New(o, nil, s, nil, nil); err == nil {
			srv.Shutdown(t.Context())
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
