package serve_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"retain/datasets"
	"retain/serve"
	"retain/serve/alert"
)

// Set in the environment of the process that TestAlertsSurviveKill kills:
// the store and the receiver's URL.
const (
	crashStoreEnv = "RETAIN_ALERTS_CRASH_STORE"
	crashURLEnv   = "RETAIN_ALERTS_CRASH_URL"
)

const crashMembers = 40

// TestAlertsCrashHelper is the process that TestAlertsSurviveKill kills;
// it skips unless started by it. It records a low baseline for every
// member, raises every member to high (crashMembers events in the
// outbox), prints "RAISED" and delivers until killed.
func TestAlertsCrashHelper(t *testing.T) {
	path := os.Getenv(crashStoreEnv)
	if path == "" {
		t.Skip("run by TestAlertsSurviveKill")
	}
	st, err := serve.OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := &riskScorer{}
	srv, err := serve.New(serve.Options{NoAuth: true, Now: func() time.Time { return now }}, sc, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := alert.Config{
		URL: os.Getenv(crashURLEnv), Secret: hookSecret, DeadLetterPath: path + ".dead.jsonl",
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	}
	a, err := srv.StartAlerts(serve.AlertOptions{Webhook: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range crashMembers {
		sc.set(fmt.Sprintf("c%02d", i), 0.1)
	}
	if _, err := a.RescoreAll(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range crashMembers {
		sc.set(fmt.Sprintf("c%02d", i), 0.9)
	}
	if rep, err := a.RescoreAll(ctx); err != nil || rep.Raised != crashMembers {
		t.Fatalf("raise: %+v, %v", rep, err)
	}
	fmt.Println("RAISED")
	select {} // until killed
}

// TestAlertsSurviveKill kills (SIGKILL) a server while its dispatcher is
// delivering to a slow receiver, restarts over the same store, and finds
// every event delivered: each id at least once, and twice at most for the
// one post in flight at the kill (one worker posts at a time).
func TestAlertsSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := serve.OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var members []datasets.Member
	for i := range crashMembers {
		members = append(members, member(fmt.Sprintf("c%02d", i), day(2024, 1, 1, 0, 0)))
	}
	if _, err := st.AppendEvents(&serve.Batch{Members: members}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var mu sync.Mutex
	posts := map[string]int{} // event id -> posts received with a valid signature
	total := 0
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if alert.Verify(hookSecret, r.Header.Get(alert.SignatureHeader), body, time.Now(), 0) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev alert.Event
		if json.Unmarshal(body, &ev) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		posts[ev.ID]++
		total++
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // slow: the kill lands mid-delivery
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return total
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestAlertsCrashHelper$")
	cmd.Env = append(os.Environ(), crashStoreEnv+"="+path, crashURLEnv+"="+rcv.URL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "RAISED") {
	}
	go io.Copy(io.Discard, out)
	eventually(t, 10*time.Second, "a few deliveries", func() bool { return received() >= 5 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	atKill := received()
	if atKill >= crashMembers {
		t.Fatalf("all %d events delivered before the kill; the test proves nothing", atKill)
	}

	// Restart over the same store.
	st, err = serve.OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	scorer := &riskScorer{}
	for i := range crashMembers {
		scorer.set(fmt.Sprintf("c%02d", i), 0.9)
	}
	srv, err := serve.New(serve.Options{NoAuth: true, Now: func() time.Time { return now }}, scorer, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	a, err := srv.StartAlerts(serve.AlertOptions{Webhook: webhook(t, rcv.URL, prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	eventually(t, 10*time.Second, "an empty outbox", func() bool { n, _ := st.Outbox().Len(); return n == 0 })
	// The levels survived: the same scores raise nothing new.
	if rep, err := a.RescoreAll(ctxT(t)); err != nil || rep.Raised != 0 || rep.Changed != 0 || rep.Baseline != 0 {
		t.Errorf("rescoring after the restart: %+v, %v; want nothing changed", rep, err)
	}

	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for id, n := range posts {
		if n > 2 {
			t.Errorf("event %s posted %d times", id, n)
		}
		if n == 2 {
			twice++
		}
	}
	if len(posts) != crashMembers || twice > 1 {
		t.Errorf("%d distinct events (want %d), %d posted twice (want at most 1); %d posts before the kill", len(posts), crashMembers, twice, atKill)
	}
	t.Logf("%d posts before the kill; %d distinct events, %d posted twice", atKill, len(posts), twice)
}
