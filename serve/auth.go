package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	retainv1 "retain/proto/retain/v1"
)

// Scope is a permission of an API client.
type Scope string

// The scopes. Admin allows every call.
const (
	ScopeScore     Scope = "score"     // ScoreMember, ScoreMembers, StreamScores
	ScopeRecommend Scope = "recommend" // RecommendClasses
	ScopeIngest    Scope = "ingest"    // IngestEvents
	ScopeReport    Scope = "report"    // the dashboard, GET /dashboard (dashboard.go)
	ScopeAdmin     Scope = "admin"     // everything
)

// Scopes lists the scopes.
var Scopes = []Scope{ScopeScore, ScopeRecommend, ScopeIngest, ScopeReport, ScopeAdmin}

// anyScope marks a method that any authenticated client may call.
const anyScope Scope = ""

// methodScopes is the scope each method needs. A method not listed here
// and not public is refused: new methods are closed until given a scope.
var methodScopes = map[string]Scope{
	retainv1.RetainService_ScoreMember_FullMethodName:      ScopeScore,
	retainv1.RetainService_ScoreMembers_FullMethodName:     ScopeScore,
	retainv1.RetainService_StreamScores_FullMethodName:     ScopeScore,
	retainv1.RetainService_RecommendClasses_FullMethodName: ScopeRecommend,
	retainv1.RetainService_IngestEvents_FullMethodName:     ScopeIngest,
	retainv1.RetainService_GetModelInfo_FullMethodName:     anyScope,
}

// publicMethod reports whether a method needs no token: the health
// service, for load balancers and orchestrators, and server reflection.
func publicMethod(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}

// Tokens are the API clients that may call the server: for each, a name
// (for logs), the SHA-256 of its bearer token, and its scopes. Tokens are
// compared in constant time. The zero Tokens admits no one.
type Tokens struct {
	clients []tokenClient
}

type tokenClient struct {
	name   string
	hash   [sha256.Size]byte
	scopes []Scope
}

// tokenFile is the token file's format (docs/api.md).
type tokenFile struct {
	Clients []struct {
		Name   string   `yaml:"name"`
		SHA256 string   `yaml:"sha256"`
		Token  string   `yaml:"token"`
		Scopes []string `yaml:"scopes"`
	} `yaml:"clients"`
}

// minTokenBytes is the shortest raw token accepted in a token file.
const minTokenBytes = 16

// ParseTokens parses a token file, in YAML or JSON:
//
//	clients:
//	  - name: crm
//	    sha256: 3690a4a2ed3b26b46a696e9ab873a300d9da3ae56bc84352e2bf724885c91dfd
//	    scopes: [score, ingest]
//	  - name: coach-app
//	    token: a-long-random-string   # raw, at least 16 bytes; prefer sha256
//	    scopes: [recommend]
//
// Each client has a unique name, exactly one of sha256 (the hex SHA-256 of
// the token) and token (the token itself), and at least one scope. Two
// clients may not share a token.
func ParseTokens(data []byte) (*Tokens, error) {
	var f tokenFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("serve: tokens: %w", err)
	}
	t := &Tokens{}
	names := make(map[string]bool)
	for i, c := range f.Clients {
		where := fmt.Sprintf("serve: tokens: clients[%d]", i)
		if c.Name == "" {
			return nil, fmt.Errorf("%s: name is required", where)
		}
		where += " (" + c.Name + ")"
		if names[c.Name] {
			return nil, fmt.Errorf("%s: name repeats", where)
		}
		names[c.Name] = true
		tc := tokenClient{name: c.Name}
		switch {
		case (c.SHA256 == "") == (c.Token == ""):
			return nil, fmt.Errorf("%s: want exactly one of sha256 and token", where)
		case c.SHA256 != "":
			h, err := hex.DecodeString(c.SHA256)
			if err != nil || len(h) != sha256.Size {
				return nil, fmt.Errorf("%s: sha256 is not 64 hex digits", where)
			}
			copy(tc.hash[:], h)
		default:
			if len(c.Token) < minTokenBytes {
				return nil, fmt.Errorf("%s: token shorter than %d bytes", where, minTokenBytes)
			}
			tc.hash = sha256.Sum256([]byte(c.Token))
		}
		if len(c.Scopes) == 0 {
			return nil, fmt.Errorf("%s: no scopes", where)
		}
		for _, s := range c.Scopes {
			if !slices.Contains(Scopes, Scope(s)) {
				return nil, fmt.Errorf("%s: unknown scope %q (want one of %v)", where, s, Scopes)
			}
			tc.scopes = append(tc.scopes, Scope(s))
		}
		for _, o := range t.clients {
			if o.hash == tc.hash {
				return nil, fmt.Errorf("%s: same token as client %s", where, o.name)
			}
		}
		t.clients = append(t.clients, tc)
	}
	return t, nil
}

// ReadTokensFile reads a token file (see ParseTokens).
func ReadTokensFile(path string) (*Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("serve: tokens: %w", err)
	}
	t, err := ParseTokens(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return t, nil
}

// TokensFromEnv parses the token document held by the environment
// variable name (see ParseTokens); an unset or empty variable is an error.
func TokensFromEnv(name string) (*Tokens, error) {
	v := os.Getenv(name)
	if v == "" {
		return nil, fmt.Errorf("serve: tokens: environment variable %s is empty", name)
	}
	t, err := ParseTokens([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("%w (in $%s)", err, name)
	}
	return t, nil
}

// Len returns the number of clients.
func (t *Tokens) Len() int { return len(t.clients) }

// lookup returns the client whose token is tok. It hashes tok and compares
// the hash with every client's, in constant time, whatever matches. A nil
// *Tokens knows no token.
func (t *Tokens) lookup(tok string) (*tokenClient, bool) {
	if t == nil {
		return nil, false
	}
	h := sha256.Sum256([]byte(tok))
	found := -1
	for i := range t.clients {
		if subtle.ConstantTimeCompare(h[:], t.clients[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, false
	}
	return &t.clients[found], true
}

func (c *tokenClient) allows(s Scope) bool {
	return s == anyScope || slices.Contains(c.scopes, ScopeAdmin) || slices.Contains(c.scopes, s)
}

var (
	errNoToken      = status.Error(codes.Unauthenticated, "missing bearer token (metadata authorization: Bearer <token>)")
	errUnknownToken = status.Error(codes.Unauthenticated, "unknown token")
)

// authorize checks the bearer token of ctx for fullMethod and tells the
// observing interceptor the client's name (see setClient) for its log line.
func (s *Server) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	if publicMethod(fullMethod) {
		return ctx, nil
	}
	scope, known := methodScopes[fullMethod]
	if !known {
		return ctx, status.Errorf(codes.PermissionDenied, "method %s has no scope", fullMethod)
	}
	if s.opts.NoAuth {
		setClient(ctx, "(no auth)")
		return ctx, nil
	}
	tok, err := bearer(ctx)
	if err != nil {
		return ctx, err
	}
	c, ok := s.opts.Tokens.lookup(tok)
	if !ok {
		return ctx, errUnknownToken
	}
	setClient(ctx, c.name)
	if !c.allows(scope) {
		return ctx, status.Errorf(codes.PermissionDenied, "client %s lacks scope %s for %s", c.name, scope, fullMethod)
	}
	return ctx, nil
}

// bearer returns the token of the authorization metadata of ctx.
func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", errNoToken
	}
	if len(vals) > 1 {
		return "", status.Error(codes.Unauthenticated, "more than one authorization header")
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return "", errNoToken
	}
	return strings.TrimSpace(tok), nil
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if _, err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// ctxStream is a ServerStream with another context (the observing
// interceptor's, carrying the callInfo).
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// errNoTokens is returned by New when no client could ever be admitted.
var errNoTokens = errors.New("serve: options: no Tokens and NoAuth is false: every call would be refused")
