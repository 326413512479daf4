package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fdPacer waits on a Linux timerfd armed at each instant (CLOCK_MONOTONIC,
// absolute, nanosecond resolution). The file is non-blocking, so a read
// parks the goroutine in the runtime's network poller, which the timerfd
// wakes when it fires: the wake-up is not rounded to the millisecond like
// a time.Timer's, and nothing spins.
type fdPacer struct {
	f  *os.File
	fd int // f's descriptor (f.Fd would make f blocking)
	// mono0 is CLOCK_MONOTONIC at t0, read just after it, so that
	// instants map to the clock no earlier than they are.
	t0    time.Time
	mono0 int64
}

func newPacer() pacer {
	p, err := newFDPacer()
	if err != nil {
		return newTimerPacer()
	}
	return p
}

func newFDPacer() (*fdPacer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	p := &fdPacer{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd, t0: time.Now()}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		p.f.Close()
		return nil, fmt.Errorf("clock_gettime: %w", err)
	}
	p.mono0 = ts.Nano()
	return p, nil
}

// wait maps due to CLOCK_MONOTONIC through its monotonic clock reading,
// which the instants of Run have (they come from time.Now().Add); an
// instant without one is mapped by its wall clock.
func (p *fdPacer) wait(ctx context.Context, due time.Time) error {
	if !time.Now().Before(due) {
		return ctx.Err()
	}
	at := unix.ItimerSpec{Value: unix.NsecToTimespec(p.mono0 + int64(due.Sub(p.t0)))}
	if err := unix.TimerfdSettime(p.fd, unix.TFD_TIMER_ABSTIME, &at, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { p.f.SetReadDeadline(time.Now()) })
	defer stop()
	var b [8]byte
	for {
		_, err := p.f.Read(b[:])
		switch {
		case err == nil && binary.NativeEndian.Uint64(b[:]) > 0:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			if err := ctx.Err(); err != nil {
				return err
			}
			// Left by an earlier wait whose ctx was done (or whose
			// AfterFunc ran after its read): clear it and wait on.
			p.f.SetReadDeadline(time.Time{})
		case err != nil:
			return fmt.Errorf("timerfd read: %w", err)
		}
	}
}

func (p *fdPacer) close() { p.f.Close() }
