package train

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"retain/model"
)

func trCheckpoint() *checkpoint {
	n := 5
	f := func(off float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = off + float32(i)/8
		}
		return s
	}
	return &checkpoint{
		checkpointMeta: checkpointMeta{
			Epoch: 2, Run: []byte(`{"Hidden":8}`), DataFingerprint: "sha256:ab", Shuffle: []byte{1, 2, 3},
			BestEpoch: 1, BestLoss: 0.1 + 0.2, Bad: 1,
			History: []EpochStats{{Epoch: 1, TrainLoss: 1.5, ValLoss: 0.1 + 0.2}, {Epoch: 2, TrainLoss: 1.25, ValLoss: 0.5, ValChurnAUC: 2.0 / 3}},
		},
		State: &model.TrainerState{Params: f(1), Adam: model.AdamState{Step: 77, M: f(-1), V: f(3)}},
		Best:  f(9),
	}
}

// TestCheckpointRoundTrip: a checkpoint decodes to what was encoded, float64
// figures (0.1+0.2, 2/3) and float32 arrays bit for bit.
func TestCheckpointRoundTrip(t *testing.T) {
	c := trCheckpoint()
	dir := t.TempDir()
	if err := c.save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := loadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 2 || got.BestEpoch != 1 || got.BestLoss != 0.1+0.2 || got.Bad != 1 || got.AdamStep != 77 ||
		got.State.Adam.Step != 77 || string(got.Run) != `{"Hidden":8}` || string(got.Shuffle) != "\x01\x02\x03" ||
		got.History[1].ValChurnAUC != 2.0/3 || got.DataFingerprint != "sha256:ab" {
		t.Errorf("decoded %+v", got.checkpointMeta)
	}
	trSameBits(t, "params", got.State.Params, c.State.Params)
	trSameBits(t, "m", got.State.Adam.M, c.State.Adam.M)
	trSameBits(t, "v", got.State.Adam.V, c.State.Adam.V)
	trSameBits(t, "best", got.Best, c.Best)
	if got.EMA != nil {
		t.Errorf("a checkpoint without a moving average decodes with one")
	}
	// With the moving average (Options.EMA) it comes back too.
	c.EMA = []float32{0.5, -1, 2, 1e-9, 3}
	if err := c.save(dir); err != nil {
		t.Fatal(err)
	}
	if got, err = loadCheckpoint(dir); err != nil {
		t.Fatal(err)
	}
	trSameBits(t, "ema", got.EMA, c.EMA)
	trSameBits(t, "best with ema", got.Best, c.Best)
	c.EMA = nil
	// No temporary files are left beside it.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("checkpoint dir holds %d entries", len(ents))
	}
	if c, err := loadCheckpoint(t.TempDir()); c != nil || err != nil {
		t.Errorf("empty dir: %v, %v; want nil, nil", c, err)
	}
}

// TestCheckpointRefusesDamage: every flipped byte, every truncation and a
// wrong version are refused with ErrCheckpoint.
func TestCheckpointRefusesDamage(t *testing.T) {
	data, err := trCheckpoint().encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeCheckpoint(data); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		d := append([]byte(nil), data...)
		d[i] ^= 0x10
		if _, err := decodeCheckpoint(d); !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for n := 0; n < len(data); n++ {
		if _, err := decodeCheckpoint(data[:n]); !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	d := append([]byte(nil), data...)
	for _, v := range []uint32{checkpointVersion - 1, checkpointVersion + 1} { // version 1 had no moving average
		binary.LittleEndian.PutUint32(d[4:], v)
		if _, err := decodeCheckpoint(d); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("version %d: %v", v, err)
		}
	}
	// A checkpoint that is intact but inconsistent (history shorter than
	// its epochs) is refused too.
	c := trCheckpoint()
	c.History = c.History[:1]
	d, err = c.encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeCheckpoint(d); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("short history: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CheckpointFile), data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCheckpoint(dir); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("truncated file: %v", err)
	}
	// A NaN loss cannot be written as JSON: encode refuses rather than
	// writing a checkpoint that cannot be read.
	c = trCheckpoint()
	c.BestLoss = math.NaN()
	if _, err := c.encode(); err == nil {
		t.Error("NaN best loss encoded")
	}
}
