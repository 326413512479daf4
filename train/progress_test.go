package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestProgressLines: with output that is not a terminal, Train writes one
// plain line per epoch (after one line about the data).
func TestProgressLines(t *testing.T) {
	path := trFixture(t, 200, 40, 8)
	var buf bytes.Buffer
	o := trOptions()
	o.Epochs, o.Progress = 3, &buf
	if _, err := Train(context.Background(), path, &o); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "training on ") {
		t.Fatalf("output:\n%s", buf.String())
	}
	re := regexp.MustCompile(`^epoch +[1-3]/3  train loss [0-9.]+  val loss [0-9.]+ \(churn [0-9.]+, next [0-9.]+\)  val churn AUC [0-9.]+  next HR@3 [0-9.]+  [0-9.]+s( \*)?$`)
	for _, l := range lines[1:] {
		if !re.MatchString(l) {
			t.Errorf("epoch line %q", l)
		}
	}
	if !strings.HasSuffix(lines[1], " *") {
		t.Errorf("first epoch not marked best: %q", lines[1])
	}
}

// TestReporterKinds: nil is silent, a file that is not a terminal gets
// lines, and the bar reporter (used on terminals) draws a bar with the
// running loss and leaves the epoch line.
func TestReporterKinds(t *testing.T) {
	if _, ok := newReporter(nil).(silent); !ok {
		t.Error("nil writer: not silent")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := newReporter(f).(*lineReporter); !ok {
		t.Error("regular file: not plain lines")
	}
	var buf bytes.Buffer
	r := &barReporter{w: &buf}
	r.startEpoch(1, 2, 10)
	for i := 1; i <= 10; i++ {
		r.batch(i, 0.5)
	}
	r.endEpoch(EpochStats{Epoch: 1, TrainLoss: 0.5, ValLoss: 0.6, ValChurnAUC: 0.7}, 2, true)
	out := buf.String()
	for _, want := range []string{"epoch 1/2 loss 0.5000", "/10)", "epoch  1/2  train loss 0.5000  val loss 0.6000"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%q", want, out)
		}
	}
}
