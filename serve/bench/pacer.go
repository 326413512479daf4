package bench

import (
	"context"
	"time"
)

// A pacer waits for the scheduled instants of a run, in order.
type pacer interface {
	// wait returns at or after due, or early with ctx's error.
	wait(ctx context.Context, due time.Time) error
	close()
}

// timerPacer waits with a time.Timer. The Go runtime sleeps for a timer
// in epoll_wait with a timeout in whole milliseconds (rounded up to 1 ms
// below 1 ms), so on an otherwise idle process a wake-up is up to about
// 1 ms late: half a millisecond at the median, measured as the send lag
// (docs/benchmarks.md).
type timerPacer struct{ t *time.Timer }

func newTimerPacer() *timerPacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &timerPacer{t: t}
}

func (p *timerPacer) wait(ctx context.Context, due time.Time) error {
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	p.t.Reset(d)
	select {
	case <-p.t.C:
		return nil
	case <-ctx.Done():
		p.t.Stop()
		return ctx.Err()
	}
}

func (p *timerPacer) close() { p.t.Stop() }
