package serve

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// FuzzHTTPAuth: no Authorization header makes httpAuth panic, and only a
// header that carries the known token (Basic password or Bearer) passes.
func FuzzHTTPAuth(f *testing.F) {
	const tok = "report-token-0123456789"
	tokens, err := ParseTokens([]byte("clients:\n  - name: r\n    token: " + tok + "\n    scopes: [report]\n"))
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{opts: Options{Tokens: tokens}}
	for _, seed := range []string{
		"", "Bearer " + tok, "bearer  " + tok + " ", "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+tok)),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(tok)), "Basic ", "Basic %%%", "Digest x", "Bearer", tok,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r, _ := http.NewRequest("GET", "http://x/dashboard", nil)
		r.Header.Set("Authorization", h)
		name, code, msg := s.httpAuth(r, ScopeReport)
		if code == 0 {
			if name != "r" {
				t.Fatalf("%q: admitted as %q", h, name)
			}
			raw := h
			if scheme, rest, _ := strings.Cut(h, " "); strings.EqualFold(scheme, "basic") {
				b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
				if err != nil {
					t.Fatalf("%q: admitted with malformed Basic credentials", h)
				}
				raw = string(b)
			}
			if !strings.Contains(raw, tok) {
				t.Fatalf("%q: admitted without the token", h)
			}
			return
		}
		if code != http.StatusUnauthorized || msg == "" {
			t.Fatalf("%q: code %d, message %q; want 401 with a reason (the only client has the scope)", h, code, msg)
		}
	})
}
