package serve_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	retainv1 "retain/proto/retain/v1"
	"retain/serve"
	"retain/serve/client"
)

// helperEnv, set to a store path, makes the test binary a server over that
// store (see TestMain): the process that TestIngestSurvivesKill kills.
const helperEnv = "RETAIN_SERVE_TEST_HELPER_STORE"

// runHelperServer serves the store named by helperEnv on 127.0.0.1:0,
// prints "ADDR host:port" on stdout, and serves until killed.
func runHelperServer() int {
	store, err := serve.OpenStore(os.Getenv(helperEnv), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := serve.New(serve.Options{NoAuth: true}, nil, store, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestIngestSurvivesKill ingests over gRPC into a server in another
// process, kills it with SIGKILL right after the last acknowledgement, and
// finds every acknowledged event in the store.
func TestIngestSurvivesKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addrc <- a
				return
			}
		}
		close(addrc)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatal("the helper server did not start")
	}
	if addr == "" {
		t.Fatal("the helper server exited before serving")
	}

	c, err := client.Dial(addr, &client.Options{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const batches, perBatch = 20, 50
	for b := range batches {
		req := &retainv1.IngestEventsRequest{}
		if b == 0 {
			req.Members = []*retainv1.Member{memberPB("k1", day(2024, 1, 1, 0, 0))}
		}
		for i := range perBatch {
			req.Attendance = append(req.Attendance,
				visitPB(fmt.Sprintf("k-%02d-%02d", b, i), "k1", day(2024, 2, 1, 0, 0).Add(time.Duration(b*perBatch+i)*time.Hour), ""))
		}
		resp, err := c.IngestEvents(ctx, req)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		if resp.GetAccepted() != perBatch {
			t.Fatalf("batch %d: accepted %d, want %d", b, resp.GetAccepted(), perBatch)
		}
	}
	// Acknowledged: now kill, with no chance to flush or close anything.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	if err := cmd.Wait(); err == nil {
		t.Fatal("the helper exited cleanly; it should have been killed")
	}

	store, err := serve.OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h, err := store.History("k1")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Attendance) != batches*perBatch {
		t.Fatalf("%d events after the kill, want %d", len(h.Attendance), batches*perBatch)
	}
	for i, a := range h.Attendance {
		if want := fmt.Sprintf("k-%02d-%02d", i/perBatch, i%perBatch); a.EventID != want {
			t.Fatalf("event %d is %s, want %s", i, a.EventID, want)
		}
	}
}
