package serve_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"retain/serve"
)

// post sends body to the JSON/HTTP face and returns the status and the
// response body.
func post(t *testing.T, url, call, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/retain.v1.RetainService/"+call, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHTTPFace(t *testing.T) {
	checkNoLeak(t)
	ts := startServer(t, serve.Options{MaxRecvMsgBytes: 32 << 10}, &fakeScorer{version: "v1"}, nil)
	web := httptest.NewServer(ts.srv.HTTPHandler())
	t.Cleanup(web.Close)

	code, body := post(t, web.URL, "ScoreMember", tokCRM, `{"member_id": "m1", "top_k": 1}`)
	if code != http.StatusOK {
		t.Fatalf("ScoreMember: %d %s", code, body)
	}
	var got struct {
		Score struct {
			MemberID         string  `json:"memberId"`
			ChurnProbability float64 `json:"churnProbability"`
			RiskLevel        string  `json:"riskLevel"`
			NextCourses      []struct {
				CourseID string `json:"courseId"`
			} `json:"nextCourses"`
		} `json:"score"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	// As over gRPC (TestScoreMember): p = 1/6, LOW, yoga first.
	if got.Score.MemberID != "m1" || got.Score.ChurnProbability != 1.0/6 || got.Score.RiskLevel != "RISK_LEVEL_LOW" ||
		len(got.Score.NextCourses) != 1 || got.Score.NextCourses[0].CourseID != "yoga" {
		t.Errorf("ScoreMember: %s", body)
	}

	for _, tc := range []struct {
		name, call, token, body string
		code                    int
		contains                string
	}{
		{"no token", "ScoreMember", "", `{"member_id": "m1"}`, http.StatusUnauthorized, "bearer"},
		{"coach cannot ingest", "IngestEvents", tokCoach, `{"attendance": []}`, http.StatusForbidden, "lacks scope ingest"},
		{"coach recommends", "RecommendClasses", tokCoach, `{"member_id": "m1"}`, http.StatusOK, `"courseId":"yoga"`},
		{"field named", "ScoreMember", tokCRM, `{"member_id": "m1", "top_k": 99}`, http.StatusBadRequest, `"field":"top_k"`},
		{"unknown JSON field", "ScoreMember", tokCRM, `{"memberid": "m1"}`, http.StatusBadRequest, "memberid"},
		{"unknown member", "ScoreMember", tokCRM, `{"member_id": "nobody"}`, http.StatusNotFound, "nobody"},
		{"ingest", "IngestEvents", tokCRM, `{"attendance": [{"event_id": "h-1", "member_id": "m1",
			"ts": "2025-06-01T09:00:00Z", "source": "SOURCE_APP"}]}`, http.StatusOK, `"accepted":1`},
		{"too big", "ScoreMember", tokCRM, `{"member_id": "` + strings.Repeat("m", 40<<10) + `"}`, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, web.URL, tc.call, tc.token, tc.body)
			if code != tc.code || !strings.Contains(body, tc.contains) {
				t.Errorf("%d %s; want %d and %q", code, body, tc.code, tc.contains)
			}
		})
	}

	// StreamScores answers one JSON object a line.
	code, body = post(t, web.URL, "StreamScores", tokCRM, `{}`)
	if code != http.StatusOK {
		t.Fatalf("StreamScores: %d %s", code, body)
	}
	var members []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var line struct {
			Result struct {
				Score struct {
					MemberID string `json:"memberId"`
				} `json:"score"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		members = append(members, line.Result.Score.MemberID)
	}
	if strings.Join(members, " ") != "m1 m2 m3" {
		t.Errorf("StreamScores: %v, want m1 m2 m3", members)
	}
}

func TestListenAndServe(t *testing.T) {
	checkNoLeak(t)
	store, err := serve.OpenStore(t.TempDir()+"/s.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv, err := serve.New(serve.Options{Addr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", NoAuth: true},
		nil, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after its context was cancelled")
	}

	// A busy address is an error, not a hang.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv, err = serve.New(serve.Options{Addr: "127.0.0.1:0", MetricsAddr: l.Addr().String(), NoAuth: true}, nil, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenAndServe(context.Background()); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Errorf("ListenAndServe with a busy metrics address: %v", err)
	}
}

// startHTTPFace runs ListenAndServe with opts (Tokens filled in) over a
// store holding the fixture, scoring with sc, and returns the address of
// its JSON/HTTP face once it accepts connections. It stops at the end of
// the test.
func startHTTPFace(t *testing.T, opts serve.Options, sc serve.Scorer) string {
	t.Helper()
	store, err := serve.OpenStore(t.TempDir()+"/s.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.AppendEvents(fixture()); err != nil {
		t.Fatal(err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	opts.Addr, opts.MetricsAddr, opts.HTTPAddr, opts.Tokens = "127.0.0.1:0", "127.0.0.1:0", addr, testTokens(t)
	opts.Now = func() time.Time { return now }
	srv, err := serve.New(opts, sc, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	for range 100 { // until the face listens
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the HTTP face at %s does not listen", addr)
	return ""
}

// TestHTTPSlowBody: a client that sends the headers of a request and then
// trickles its body, without a token, loses the connection after
// Options.HTTPReadTimeout (a slow-loris guard for the JSON/HTTP face).
func TestHTTPSlowBody(t *testing.T) {
	checkNoLeak(t)
	const limit = 300 * time.Millisecond
	addr := startHTTPFace(t, serve.Options{HTTPReadTimeout: limit}, nil)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "POST /retain.v1.RetainService/ScoreMember HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	// Trickle a byte every 50 ms; the server must close the connection.
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn)
		closed <- err
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-closed:
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("after %v: %v, want the server to close the connection", time.Since(start), err)
			} // EOF, or a reset: the server closed it with the body unread
			if d := time.Since(start); d < limit {
				t.Errorf("closed after %v, before the %v read timeout", d, limit)
			}
			return
		case <-tick.C:
			conn.Write([]byte(" "))
		}
	}
}

// TestHTTPSlowCall: HTTPReadTimeout bounds reading the request, not the
// call: a call, unary or a stream, that takes longer than it once its body
// is read is answered in full (a WriteTimeout would cut it).
func TestHTTPSlowCall(t *testing.T) {
	checkNoLeak(t)
	const limit = 200 * time.Millisecond
	sc := &fakeScorer{version: "v1"}
	addr := startHTTPFace(t, serve.Options{HTTPReadTimeout: limit}, sc)
	gate := make(chan struct{})
	sc.set(func(h *hooks) { h.gate = gate })
	time.AfterFunc(3*limit, func() { close(gate) })
	for _, call := range []struct{ name, body string }{
		{"ScoreMember", `{"memberId":"m1"}`},
		{"StreamScores", `{"memberIds":["m1","m2"]}`},
	} {
		start := time.Now()
		code, body := post(t, "http://"+addr, call.name, tokAdmin, call.body)
		if code != http.StatusOK || !strings.Contains(body, `"m1"`) {
			t.Errorf("%s after %v: %d %s", call.name, time.Since(start), code, body)
		}
	}
}

// TestHTTPPeerLogged: a call of the JSON/HTTP face is logged with the HTTP
// client's address (its gRPC peer is the in-memory pipe), which a request
// header cannot spoof.
func TestHTTPPeerLogged(t *testing.T) {
	checkNoLeak(t)
	store, err := serve.OpenStore(t.TempDir()+"/s.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	lg := &syncLog{}
	srv, err := serve.New(serve.Options{Tokens: testTokens(t)}, nil, store, slog.New(slog.NewJSONHandler(lg, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	hs := httptest.NewServer(srv.HTTPHandler())
	defer hs.Close()
	req, err := http.NewRequest("POST", hs.URL+"/retain.v1.RetainService/GetModelInfo", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer wrong-token-0123456789") // logged at info level
	req.Header.Set("Grpc-Metadata-Retain-Http-Peer", "6.6.6.6:1")
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", resp.StatusCode)
	}
	var line struct{ Msg, Peer, Code string }
	for _, l := range strings.Split(strings.TrimSpace(lg.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if line.Msg == "call" {
			break
		}
	}
	if line.Msg != "call" || line.Code != "Unauthenticated" || !strings.HasPrefix(line.Peer, "http:127.0.0.1:") {
		t.Errorf("call logged as %+v, want peer http:127.0.0.1:<port>\nlog:\n%s", line, lg.String())
	}
}
