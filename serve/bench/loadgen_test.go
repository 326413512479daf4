package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ms := time.Millisecond
	// 1..10 ms: nearest rank of q is ceil(10q): 0.5 -> 5th (5 ms),
	// 0.9 -> 9th (9 ms), 0.99 -> ceil(9.9) = 10th (10 ms), 0 -> 1st.
	r := &Result{Latencies: []time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms, 6 * ms, 7 * ms, 8 * ms, 9 * ms, 10 * ms}}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1 * ms}, {0.5, 5 * ms}, {0.9, 9 * ms}, {0.99, 10 * ms}, {1, 10 * ms}} {
		if got := r.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := r.Max(); got != 10*ms {
		t.Errorf("Max = %v, want 10ms", got)
	}
	if got := (&Result{}).Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile = %v, want 0", got)
	}
}

func TestRunCountsAndErrors(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	seen := make([]atomic.Bool, 100)
	res, err := Run(context.Background(), Config{Rate: 20000, Requests: 100}, func(_ context.Context, i int) error {
		calls.Add(1)
		seen[i].Store(true)
		if i%10 == 0 {
			return boom
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 100 || calls.Load() != 100 {
		t.Fatalf("sent %d, called %d, want 100", res.Sent, calls.Load())
	}
	for i := range seen {
		if !seen[i].Load() {
			t.Fatalf("request %d never called", i)
		}
	}
	// i = 0, 10, ..., 90 fail.
	if res.Errors != 10 || len(res.Latencies) != 90 || !errors.Is(res.FirstErr, boom) {
		t.Fatalf("errors %d (%v), latencies %d; want 10 errors, 90 latencies", res.Errors, res.FirstErr, len(res.Latencies))
	}
	if len(res.SendLags) != 100 || len(res.CallTimes) != 90 {
		t.Fatalf("%d send lags, %d call times; want one per request sent and one per success", len(res.SendLags), len(res.CallTimes))
	}
}

func TestRunDurationBound(t *testing.T) {
	// 1000/s for 20 ms schedules i/1000 s < 20 ms: i = 0..19.
	res, err := Run(context.Background(), Config{Rate: 1000, Requests: 1000, Duration: 20 * time.Millisecond},
		func(context.Context, int) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 20 {
		t.Fatalf("sent %d, want 20", res.Sent)
	}
}

// TestRunOpenLoop checks that latency counts from the scheduled instant:
// with one call in flight at a time and calls of 10 ms scheduled every
// 1 ms, request 9 is scheduled at 9 ms but can start only after the nine
// before it, at >= 90 ms, so its latency is >= 90 - 9 + 10 = 91 ms. A
// closed-loop generator would report about 10 ms for every call.
func TestRunOpenLoop(t *testing.T) {
	res, err := Run(context.Background(), Config{Rate: 1000, Requests: 10, MaxInFlight: 1},
		func(context.Context, int) error { time.Sleep(10 * time.Millisecond); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Max(); got < 91*time.Millisecond {
		t.Fatalf("max latency %v, want >= 91ms (latency must count from the scheduled time)", got)
	}
	if got := res.Quantile(0); got < 10*time.Millisecond {
		t.Fatalf("min latency %v, want >= 10ms", got)
	}
	// The wait for the one slot is the generator's, not the call's:
	// request 9 starts >= 81 ms late, and every call takes ~10 ms from
	// its start.
	if got := res.SendLagQuantile(1); got < 81*time.Millisecond {
		t.Fatalf("max send lag %v, want >= 81ms", got)
	}
	if lo, hi := res.CallTimeQuantile(0), res.CallTimeQuantile(1); lo < 10*time.Millisecond || hi >= 81*time.Millisecond {
		t.Fatalf("call times %v..%v, want >= 10ms and well under the 91ms latency", lo, hi)
	}
}

// TestPacers: both pacers (the timerfd one on Linux, the time.Timer one
// everywhere) return at or after every instant, return at once for an
// instant already past, and return ctx's error when it is cancelled while
// they wait for an instant an hour away.
func TestPacers(t *testing.T) {
	for _, c := range []struct {
		name string
		p    pacer
	}{{"default", newPacer()}, {"timer", newTimerPacer()}} {
		t.Run(c.name, func(t *testing.T) {
			defer c.p.close()
			ctx := context.Background()
			start := time.Now()
			for i := range 20 {
				due := start.Add(time.Duration(i) * 500 * time.Microsecond)
				if err := c.p.wait(ctx, due); err != nil {
					t.Fatalf("instant %d: %v", i, err)
				}
				if now := time.Now(); now.Before(due) {
					t.Fatalf("instant %d: returned %v early", i, due.Sub(now))
				}
			}
			if err := c.p.wait(ctx, start); err != nil {
				t.Fatalf("instant in the past: %v", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(20*time.Millisecond, cancel)
			if err := c.p.wait(cctx, time.Now().Add(time.Hour)); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled wait: %v, want context.Canceled", err)
			}
			// A cancelled wait leaves nothing behind for the next one.
			due := time.Now().Add(20 * time.Millisecond)
			if err := c.p.wait(ctx, due); err != nil {
				t.Fatalf("wait after a cancelled one: %v", err)
			}
			if now := time.Now(); now.Before(due) {
				t.Fatalf("wait after a cancelled one returned %v early", due.Sub(now))
			}
		})
	}
}

func TestRunBadConfig(t *testing.T) {
	nop := func(context.Context, int) error { return nil }
	for _, c := range []Config{{}, {Rate: 100}, {Rate: -1, Requests: 1}, {Rate: 100, Requests: -1}} {
		if _, err := Run(context.Background(), c, nop); err == nil {
			t.Errorf("Run(%+v): no error", c)
		}
	}
}

func TestRamp(t *testing.T) {
	// Runs are sequential, 20 requests each: calls 1-40 are the runs at
	// 1000 and 2000/s, and the run at 4000/s fails from its first call, so
	// the ramp stops there and holds 2000.
	var calls atomic.Int64
	call := func(context.Context, int) error {
		if calls.Add(1) > 40 {
			return errors.New("overloaded")
		}
		return nil
	}
	steps, held, err := Ramp(context.Background(), Config{Requests: 20}, 1000, 64000, time.Second, call)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 || held != 2000 || steps[2].Rate != 4000 || steps[2].Result.Errors != 20 {
		t.Fatalf("%d steps, held %v; want 3 steps ending at 4000/s with 20 errors, held 2000", len(steps), held)
	}
	// A limit of 0 is missed by every run: one step, nothing held.
	steps, held, err = Ramp(context.Background(), Config{Requests: 5}, 1000, 64000, 0,
		func(context.Context, int) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || held != 0 {
		t.Fatalf("%d steps, held %v; want 1 step, held 0", len(steps), held)
	}
}
