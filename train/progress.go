package train

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// reporter shows the progress of a training run.
type reporter interface {
	// startEpoch begins an epoch of the given number of batches.
	startEpoch(epoch, epochs, batches int)
	// batch reports that done batches of the epoch are finished and their
	// mean loss.
	batch(done int, meanLoss float64)
	// endEpoch reports a finished epoch; best marks a new best
	// validation loss.
	endEpoch(s EpochStats, epochs int, best bool)
	// logf prints one line of information.
	logf(format string, args ...any)
}

// newReporter returns a progress bar on w when w is a terminal, plain lines
// (one per epoch) otherwise, and nothing when w is nil.
func newReporter(w io.Writer) reporter {
	if w == nil {
		return silent{}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barReporter{w: w}
	}
	return &lineReporter{w: w}
}

type silent struct{}

func (silent) startEpoch(int, int, int)        {}
func (silent) batch(int, float64)              {}
func (silent) endEpoch(EpochStats, int, bool)  {}
func (silent) logf(format string, args ...any) {}

// lineReporter writes one line per epoch.
type lineReporter struct{ w io.Writer }

func (r *lineReporter) startEpoch(int, int, int) {}
func (r *lineReporter) batch(int, float64)       {}
func (r *lineReporter) endEpoch(s EpochStats, epochs int, best bool) {
	fmt.Fprintln(r.w, epochLine(s, epochs, best))
}
func (r *lineReporter) logf(format string, args ...any) {
	fmt.Fprintf(r.w, format+"\n", args...)
}

// epochLine formats an epoch's figures.
func epochLine(s EpochStats, epochs int, best bool) string {
	mark := ""
	if best {
		mark = " *"
	}
	return fmt.Sprintf("epoch %2d/%d  train loss %.4f  val loss %.4f (churn %.4f, next %.4f)  val churn AUC %.4f  next HR@3 %.4f  %.1fs%s",
		s.Epoch, epochs, s.TrainLoss, s.ValLoss, s.ValChurnLoss, s.ValNextCE, s.ValChurnAUC, s.ValNextHR3, s.Seconds, mark)
}

// barReporter draws a progress bar per epoch with its ETA and the running
// loss, and leaves one line per finished epoch above it.
type barReporter struct {
	w      io.Writer
	bar    *progressbar.ProgressBar
	epoch  int
	epochs int
	last   time.Time
}

func (r *barReporter) startEpoch(epoch, epochs, batches int) {
	r.epoch, r.epochs = epoch, epochs
	r.bar = progressbar.NewOptions(batches,
		progressbar.OptionSetWriter(r.w),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
}

func (r *barReporter) batch(done int, meanLoss float64) {
	if now := time.Now(); now.Sub(r.last) >= 100*time.Millisecond {
		r.last = now
		r.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f", r.epoch, r.epochs, meanLoss))
	}
	r.bar.Set(done)
}

func (r *barReporter) endEpoch(s EpochStats, epochs int, best bool) {
	if r.bar != nil {
		r.bar.Finish()
		r.bar.Clear()
		r.bar = nil
	}
	fmt.Fprintf(r.w, "\r%s\n", epochLine(s, epochs, best))
}

func (r *barReporter) logf(format string, args ...any) {
	fmt.Fprintf(r.w, format+"\n", args...)
}
