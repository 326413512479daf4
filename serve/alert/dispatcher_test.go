package alert_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"retain/serve/alert"
)

// memOutbox is an Outbox in memory.
type memOutbox struct {
	mu  sync.Mutex
	seq uint64
	m   map[uint64]alert.Entry
}

func newMemOutbox() *memOutbox { return &memOutbox{m: map[uint64]alert.Entry{}} }

func (o *memOutbox) add(e alert.Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	e.Seq = o.seq
	o.m[e.Seq] = e
}

func (o *memOutbox) List(after uint64, max int) ([]alert.Entry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []alert.Entry
	for _, e := range o.m {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b alert.Entry) int { return int(a.Seq) - int(b.Seq) })
	return out[:min(max, len(out))], nil
}

func (o *memOutbox) Update(e alert.Entry) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.m[e.Seq]; ok {
		o.m[e.Seq] = e
	}
	return nil
}

func (o *memOutbox) Delete(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, seq)
	return nil
}

func (o *memOutbox) Len() (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.m), nil
}

// receiver is a webhook receiver that verifies every post and answers
// with the status that answer returns for the n-th post (1-based).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(n int64) int

	posts    atomic.Int64
	badSig   atomic.Int64
	mu       sync.Mutex
	accepted map[string]int    // event id -> 2xx answers
	bodies   map[string][]byte // event id -> body
}

func newReceiver(t *testing.T, answer func(n int64) int) *receiver {
	r := &receiver{t: t, answer: answer, accepted: map[string]int{}, bodies: map[string][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.posts.Add(1)
		body, err := io.ReadAll(req.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := alert.Verify(secret, req.Header.Get(alert.SignatureHeader), body, time.Now(), 0); err != nil {
			r.badSig.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev alert.Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID != req.Header.Get(alert.EventIDHeader) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		code := r.answer(n)
		if code/100 == 2 {
			r.mu.Lock()
			r.accepted[ev.ID]++
			r.bodies[ev.ID] = body
			r.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) acceptedCopy() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps(r.accepted)
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// fill adds n events to o and returns their ids.
func fill(o *memOutbox, n int, created time.Time) []string {
	var ids []string
	for i := range n {
		ev := alert.Event{
			ID: alert.NewEventID(), Type: alert.TypeRiskLevelRaised, CreatedAt: created,
			MemberID: fmt.Sprintf("m%d", i), PreviousLevel: "low", NewLevel: "high", ChurnProbability: 0.7,
		}
		body, _ := json.Marshal(ev)
		o.add(alert.Entry{ID: ev.ID, Body: body, CreatedAt: created})
		ids = append(ids, ev.ID)
	}
	return ids
}

// fastConfig retries within milliseconds.
func fastConfig(t *testing.T, url string) alert.Config {
	return alert.Config{
		URL: url, Secret: secret, DeadLetterPath: filepath.Join(t.TempDir(), "dead.jsonl"),
		Timeout: 2 * time.Second, MinBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		MaxAttempts: 1000, Poll: 50 * time.Millisecond, Batch: 7,
	}
}

// drain runs a Dispatcher with cfg on o until o is empty (10 s at most),
// then stops it.
func drain(t *testing.T, cfg alert.Config, o alert.Outbox) {
	t.Helper()
	d, err := alert.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	defer stop()
	waitEmpty(t, o, 10*time.Second)
}

// run runs d until stop is called.
func run(t *testing.T, d *alert.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitEmpty(t *testing.T, o alert.Outbox, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, _ := o.Len()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d events after %v", n, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readDead(t *testing.T, path string) []alert.DeadEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []alert.DeadEvent
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var d alert.DeadEvent
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		out = append(out, d)
	}
	return out
}

// TestDeliveredOnceAfterOutage: the receiver answers 500 to its first 60
// posts, then 200. Every event is delivered exactly once (one 2xx per
// event id), every post verifies, and the metrics count what happened.
func TestDeliveredOnceAfterOutage(t *testing.T) {
	rcv := newReceiver(t, func(n int64) int {
		if n <= 60 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	o := newMemOutbox()
	ids := fill(o, 20, time.Now())
	reg := prometheus.NewRegistry()
	cfg := fastConfig(t, rcv.srv.URL)
	cfg.Registerer = reg
	drain(t, cfg, o) // stops the dispatcher: the metrics move after the removal from the outbox

	got := rcv.acceptedCopy()
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("event %s accepted %d times, want 1", id, got[id])
		}
	}
	if len(got) != len(ids) {
		t.Errorf("receiver accepted %d distinct events, want %d", len(got), len(ids))
	}
	if n := rcv.badSig.Load(); n != 0 {
		t.Errorf("%d posts failed signature verification", n)
	}
	// 60 failed posts, each retried: 60 retries; 20 deliveries.
	if v := metricValue(t, reg, "retain_webhook_delivered_total"); v != 20 {
		t.Errorf("delivered metric %v, want 20", v)
	}
	if v := metricValue(t, reg, "retain_webhook_retries_total"); v != 60 {
		t.Errorf("retries metric %v, want 60", v)
	}
	if _, err := os.Stat(cfg.DeadLetterPath); !os.IsNotExist(err) {
		t.Errorf("dead-letter file exists (%v), want none", err)
	}
}

// metricValue is the sum of the series of metric name in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var v float64
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return v
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestDeadLetterWhenReceiverNeverRecovers: with a receiver that always
// answers 503, each event is tried MaxAttempts times and then lands in
// the dead-letter file with its payload, and leaves the outbox.
func TestDeadLetterWhenReceiverNeverRecovers(t *testing.T) {
	rcv := newReceiver(t, func(int64) int { return http.StatusServiceUnavailable })
	o := newMemOutbox()
	created := time.Now().UTC().Truncate(time.Second)
	ids := fill(o, 5, created)
	bodies := map[string][]byte{}
	es, _ := o.List(0, 100)
	for _, e := range es {
		bodies[e.ID] = e.Body
	}
	reg := prometheus.NewRegistry()
	cfg := fastConfig(t, rcv.srv.URL)
	cfg.MaxAttempts = 3
	cfg.Registerer = reg
	drain(t, cfg, o) // stops the dispatcher: the metrics move after the removal from the outbox

	if n := rcv.posts.Load(); n != 15 {
		t.Errorf("receiver saw %d posts, want 5 events x 3 attempts = 15", n)
	}
	dead := readDead(t, cfg.DeadLetterPath)
	if len(dead) != len(ids) {
		t.Fatalf("%d dead-letter lines, want %d", len(dead), len(ids))
	}
	// The order of the lines depends on the jittered backoff: compare
	// the ids as a set.
	seen := map[string]bool{}
	for i, de := range dead {
		seen[de.ID] = true
		if _, ok := bodies[de.ID]; !ok || de.Reason != "attempts" || de.Attempts != 3 || de.LastStatus != 503 || !de.CreatedAt.Equal(created) {
			t.Errorf("dead-letter line %d: %+v", i+1, de)
		}
		if string(de.Event) != string(bodies[de.ID]) {
			t.Errorf("dead-letter line %d: event %s, want the posted body %s", i+1, de.Event, bodies[de.ID])
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("event %s is not in the dead-letter file", id)
		}
	}
	if v := metricValue(t, reg, "retain_webhook_dead_lettered_total"); v != 5 {
		t.Errorf("dead-lettered metric %v, want 5", v)
	}
	if v := metricValue(t, reg, "retain_webhook_outbox_events"); v != 0 {
		t.Errorf("outbox metric %v, want 0", v)
	}
}

// TestStatusClasses: which answers are retried and which are final. Each
// case posts one event to a receiver that always gives the status, with
// MaxAttempts 3: a retried status is posted 3 times, a final one once.
func TestStatusClasses(t *testing.T) {
	cases := []struct {
		status     int
		posts      int64
		deadReason string // "" = delivered
	}{
		{200, 1, ""},
		{204, 1, ""},
		{302, 1, "rejected"}, // redirects are not followed
		{400, 1, "rejected"},
		{401, 1, "rejected"},
		{404, 1, "rejected"},
		{408, 3, "attempts"},
		{410, 1, "rejected"},
		{429, 3, "attempts"},
		{500, 3, "attempts"},
		{502, 3, "attempts"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			rcv := newReceiver(t, func(int64) int { return c.status })
			o := newMemOutbox()
			fill(o, 1, time.Now())
			cfg := fastConfig(t, rcv.srv.URL)
			cfg.MaxAttempts = 3
			drain(t, cfg, o)
			if n := rcv.posts.Load(); n != c.posts {
				t.Errorf("%d posts, want %d", n, c.posts)
			}
			if c.deadReason == "" {
				if _, err := os.Stat(cfg.DeadLetterPath); !os.IsNotExist(err) {
					t.Errorf("dead-letter file exists (%v)", err)
				}
				return
			}
			dead := readDead(t, cfg.DeadLetterPath)
			if len(dead) != 1 || dead[0].Reason != c.deadReason || dead[0].LastStatus != c.status {
				t.Errorf("dead letters %+v, want one with reason %s", dead, c.deadReason)
			}
		})
	}
}

// TestTransportFailuresRetry: a receiver that does not answer within the
// timeout, and an address where nothing listens, are retried.
func TestTransportFailuresRetry(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		var posts atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			posts.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		o := newMemOutbox()
		fill(o, 1, time.Now())
		cfg := fastConfig(t, srv.URL)
		cfg.Timeout = 50 * time.Millisecond
		cfg.MaxAttempts = 2
		drain(t, cfg, o)
		dead := readDead(t, cfg.DeadLetterPath)
		if posts.Load() != 2 || len(dead) != 1 || dead[0].Reason != "attempts" || dead[0].LastStatus != 0 {
			t.Errorf("posts %d, dead letters %+v; want 2 posts and one dead letter after 2 attempts", posts.Load(), dead)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close()
		o := newMemOutbox()
		fill(o, 1, time.Now())
		cfg := fastConfig(t, "http://"+addr+"/hook")
		cfg.MaxAttempts = 3
		drain(t, cfg, o)
		dead := readDead(t, cfg.DeadLetterPath)
		if len(dead) != 1 || dead[0].Attempts != 3 || dead[0].LastError == "" {
			t.Errorf("dead letters %+v; want one after 3 attempts", dead)
		}
	})
}

// TestMaxAge: an event older than MaxAge is dead-lettered at its first
// failure, whatever MaxAttempts says. The clock is fake.
func TestMaxAge(t *testing.T) {
	rcv := newReceiver(t, func(int64) int { return 500 })
	o := newMemOutbox()
	fill(o, 1, time.Now().Add(-25*time.Hour))
	cfg := fastConfig(t, rcv.srv.URL)
	cfg.MaxAge = 24 * time.Hour
	drain(t, cfg, o)
	dead := readDead(t, cfg.DeadLetterPath)
	if rcv.posts.Load() != 1 || len(dead) != 1 || dead[0].Reason != "age" {
		t.Errorf("posts %d, dead letters %+v; want 1 post and one dead letter for age", rcv.posts.Load(), dead)
	}
}

// TestBackoff: the delay doubles from MinBackoff, is capped at MaxBackoff,
// and the jitter keeps it in [d/2, d).
func TestBackoff(t *testing.T) {
	for _, j := range []struct {
		jitter float64
		scale  float64 // 0.5 + jitter/2
	}{{0, 0.5}, {0.5, 0.75}, {0.999, 0.9995}} {
		cfg := alert.Config{
			URL: "http://127.0.0.1:1/", Secret: secret, DeadLetterPath: "x",
			MinBackoff: time.Second, MaxBackoff: time.Minute, Jitter: func() float64 { return j.jitter },
		}
		d, err := alert.New(cfg, newMemOutbox())
		if err != nil {
			t.Fatal(err)
		}
		// Before jitter: 1s, 2s, 4s, ..., 32s, then the 1-minute cap.
		for n, base := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60} {
			want := time.Duration(float64(base*time.Second) * j.scale)
			if got := d.Backoff(n + 1); got != want {
				t.Errorf("jitter %v: Backoff(%d) = %v, want %v", j.jitter, n+1, got, want)
			}
		}
		if got := d.Backoff(500); got != time.Duration(float64(time.Minute)*j.scale) {
			t.Errorf("Backoff(500) = %v, want the cap", got)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := alert.Config{URL: "https://example.com/hook", Secret: secret, DeadLetterPath: "dead.jsonl"}
	cases := []struct {
		name string
		edit func(*alert.Config)
	}{
		{"no URL", func(c *alert.Config) { c.URL = "" }},
		{"relative URL", func(c *alert.Config) { c.URL = "/hook" }},
		{"ftp URL", func(c *alert.Config) { c.URL = "ftp://example.com/" }},
		{"short secret", func(c *alert.Config) { c.Secret = []byte("short") }},
		{"no dead-letter path", func(c *alert.Config) { c.DeadLetterPath = "" }},
		{"max below min backoff", func(c *alert.Config) { c.MinBackoff, c.MaxBackoff = time.Minute, time.Second }},
		{"negative timeout", func(c *alert.Config) { c.Timeout = -1 }},
	}
	if _, err := alert.New(good, newMemOutbox()); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, c := range cases {
		cfg := good
		c.edit(&cfg)
		if _, err := alert.New(cfg, newMemOutbox()); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}
