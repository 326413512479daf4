package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Config is a load generator run. Rate and one of Requests or Duration are
// required; a zero field otherwise takes the default in its comment.
type Config struct {
	// Rate is the arrival rate in requests per second. Required (> 0).
	Rate float64
	// Requests is the most requests sent. Default 0: Rate*Duration.
	Requests int
	// Duration bounds the schedule: no request is scheduled at or after
	// start + Duration. Default 0: Requests/Rate.
	Duration time.Duration
	// MaxInFlight bounds the requests outstanding at once. When it is
	// reached the generator waits for one to finish; the waiting shows in
	// the latencies, which still count from the scheduled instant.
	// Default 1024.
	MaxInFlight int
	// Timeout bounds each call; a call past it counts as an error.
	// Default 10 seconds.
	Timeout time.Duration
}

// Result is what a run measured.
type Result struct {
	Rate      float64         // the configured arrival rate
	Sent      int             // requests sent
	Errors    int             // calls that returned an error
	FirstErr  error           // the first error, nil when Errors is 0
	Latencies []time.Duration // of the calls that succeeded, ascending
	Elapsed   time.Duration   // from the start to the last call's end
	// SendLags are, for every request sent, how late its call started
	// after its scheduled instant (the generator's own delay: timer
	// wake-up, goroutine start), ascending. They are part of Latencies.
	SendLags []time.Duration
	// CallTimes are the durations of the calls that succeeded, from the
	// call's start rather than its scheduled instant (Latencies minus the
	// send lag): what a generator that times each request from its send,
	// such as ghz, reports. Ascending.
	CallTimes []time.Duration
}

// Quantile returns the q-quantile (0 <= q <= 1) of the latencies by the
// nearest-rank method: the smallest latency with at least q of them at or
// below it. It returns 0 when no call succeeded.
func (r *Result) Quantile(q float64) time.Duration { return quantile(r.Latencies, q) }

// quantile returns the q-quantile of the ascending durations ds by the
// nearest-rank method, 0 when there are none.
func quantile(ds []time.Duration, q float64) time.Duration {
	n := len(ds)
	if n == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(n))) - 1
	k = min(max(k, 0), n-1)
	return ds[k]
}

// SendLagQuantile is Quantile of SendLags.
func (r *Result) SendLagQuantile(q float64) time.Duration {
	return quantile(r.SendLags, q)
}

// CallTimeQuantile is Quantile of CallTimes.
func (r *Result) CallTimeQuantile(q float64) time.Duration {
	return quantile(r.CallTimes, q)
}

// Max returns the largest latency, 0 when no call succeeded.
func (r *Result) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[len(r.Latencies)-1]
}

// Throughput returns the calls completed per second of Elapsed.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// String gives the result in one line, in milliseconds.
func (r *Result) String() string {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return fmt.Sprintf("rate %.0f/s: %d sent, %d errors, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, %.0f/s done; send lag p50 %.3f ms, p99 %.3f ms; from the send p50 %.3f ms, p99 %.3f ms",
		r.Rate, r.Sent, r.Errors, ms(r.Quantile(0.5)), ms(r.Quantile(0.9)), ms(r.Quantile(0.99)), ms(r.Max()), r.Throughput(),
		ms(r.SendLagQuantile(0.5)), ms(r.SendLagQuantile(0.99)), ms(r.CallTimeQuantile(0.5)), ms(r.CallTimeQuantile(0.99)))
}

// Run calls call(ctx, i) for i = 0, 1, ... at start + i/cfg.Rate each, each
// in its own goroutine, and returns when every call has returned. It stops
// scheduling early when ctx is done; the calls in flight then see ctx's
// cancellation. The error is for a bad Config or a failed wait for an
// instant (after the calls in flight have returned); the calls' errors are
// counted in the Result.
//
// On Linux the instants are waited for on a timerfd, which the kernel
// fires at the instant (a call then starts ~0.08 ms late at the median on
// the 2-core VM of docs/benchmarks.md, the goroutine start included);
// elsewhere, and when no timerfd can be had, on a time.Timer, which the Go
// runtime rounds to the millisecond. Either way Result.SendLags says how
// late the calls started.
func Run(ctx context.Context, cfg Config, call func(ctx context.Context, i int) error) (*Result, error) {
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("bench: Rate %v: want a finite rate > 0", cfg.Rate)
	}
	if cfg.Requests < 0 || cfg.Duration < 0 {
		return nil, errors.New("bench: negative Requests or Duration")
	}
	if cfg.Requests == 0 && cfg.Duration == 0 {
		return nil, errors.New("bench: neither Requests nor Duration set")
	}
	n := cfg.Requests
	if cfg.Duration > 0 {
		// Requests scheduled before start + Duration: i/Rate < Duration.
		byTime := int(math.Ceil(cfg.Duration.Seconds() * cfg.Rate))
		if n == 0 || byTime < n {
			n = byTime
		}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}

	var (
		mu    sync.Mutex
		res   = &Result{Rate: cfg.Rate, Latencies: make([]time.Duration, 0, n), SendLags: make([]time.Duration, 0, n), CallTimes: make([]time.Duration, 0, n)}
		wg    sync.WaitGroup
		slots = make(chan struct{}, cfg.MaxInFlight)
	)
	interval := float64(time.Second) / cfg.Rate
	pace := newPacer()
	defer pace.close()
	var paceErr error
	start := time.Now()
schedule:
	for i := range n {
		due := start.Add(time.Duration(float64(i) * interval))
		if err := pace.wait(ctx, due); err != nil {
			if ctx.Err() == nil {
				paceErr = err
			}
			break schedule
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break schedule
		}
		res.Sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			lag := sent.Sub(due)
			cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			err := call(cctx, i)
			cancel()
			done := time.Now()
			lat := done.Sub(due)
			<-slots
			mu.Lock()
			res.SendLags = append(res.SendLags, lag)
			if err != nil {
				if res.Errors == 0 {
					res.FirstErr = fmt.Errorf("request %d: %w", i, err)
				}
				res.Errors++
			} else {
				res.Latencies = append(res.Latencies, lat)
				res.CallTimes = append(res.CallTimes, done.Sub(sent))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if paceErr != nil {
		return nil, paceErr
	}
	res.Elapsed = time.Since(start)
	slices.Sort(res.Latencies)
	slices.Sort(res.SendLags)
	slices.Sort(res.CallTimes)
	return res, nil
}

// Step is one rate of a Ramp and its result.
type Step struct {
	Rate   float64
	Result *Result
}

// Ramp runs cfg at rates first, 2*first, 4*first, ... up to at most last,
// and stops after the first run whose p99 latency is at least limit or
// that had an error. It returns every run and the highest rate that held:
// p99 under limit with no error (0 when none did).
func Ramp(ctx context.Context, cfg Config, first, last float64, limit time.Duration, call func(ctx context.Context, i int) error) ([]Step, float64, error) {
	if !(first > 0) || last < first {
		return nil, 0, fmt.Errorf("bench: ramp %v to %v: want 0 < first <= last", first, last)
	}
	var (
		steps []Step
		held  float64
	)
	for rate := first; rate <= last; rate *= 2 {
		c := cfg
		c.Rate = rate
		res, err := Run(ctx, c, call)
		if err != nil {
			return steps, held, err
		}
		steps = append(steps, Step{Rate: rate, Result: res})
		if res.Errors > 0 || res.Quantile(0.99) >= limit || ctx.Err() != nil {
			break
		}
		held = rate
	}
	return steps, held, nil
}
