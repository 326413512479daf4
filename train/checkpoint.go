package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"retain/model"
)

// CheckpointFile is the name of the checkpoint in Options.CheckpointDir.
const CheckpointFile = "checkpoint.rtck"

// ErrCheckpoint reports a checkpoint that cannot be resumed: malformed, or
// made by a run with other options or data. Checked with errors.Is.
var ErrCheckpoint = errors.New("train: bad checkpoint")

// The checkpoint file, all integers little-endian:
//
//	"RTCK" | uint32 version | uint64 m | m bytes of JSON checkpointMeta
//	| uint64 n | float32 weights[n] | Adam M[n] | Adam V[n] | best weights[n]
//	| [moving average of the weights[n], when checkpointMeta.Averaged]
//	| 32 bytes SHA-256 of everything before them
//
// Version 2 added the moving average (Options.EMA).
const (
	checkpointMagic   = "RTCK"
	checkpointVersion = 2
)

// checkpoint is the state of a run after a finished epoch: enough to go on
// as if the process had never stopped.
type checkpoint struct {
	checkpointMeta
	State *model.TrainerState
	Best  []float32 // weights of the best epoch so far
	EMA   []float32 // moving average of the weights, not bias-corrected (Options.EMA); nil when off
}

// checkpointMeta is the JSON part of a checkpoint.
type checkpointMeta struct {
	// Epoch is the number of finished epochs.
	Epoch int
	// Run holds the options that fix the sequence of weights (runKey);
	// a resumed run must have the same.
	Run json.RawMessage
	// DataFingerprint is the training file's fingerprint.
	DataFingerprint string
	// Shuffle is the state of the shuffling PCG (rand.PCG.MarshalBinary).
	Shuffle []byte
	// BestEpoch and BestLoss are the best validation loss so far and its
	// epoch; Bad counts the epochs since.
	BestEpoch int
	BestLoss  float64
	Bad       int
	// Stopped is "early" when early stopping ended the run.
	Stopped string
	// AdamStep is the optimizer's step count.
	AdamStep int64
	// Averaged says that the moving average of the weights follows the
	// best weights.
	Averaged bool
	History  []EpochStats
}

// encode returns the checkpoint in its file format.
func (c *checkpoint) encode() ([]byte, error) {
	m := c.checkpointMeta
	m.AdamStep = c.State.Adam.Step
	m.Averaged = c.EMA != nil
	js, err := json.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("train: encode checkpoint: %w", err)
	}
	n := len(c.State.Params)
	arrays := [][]float32{c.State.Params, c.State.Adam.M, c.State.Adam.V, c.Best}
	if c.EMA != nil {
		arrays = append(arrays, c.EMA)
	}
	for _, a := range arrays {
		if len(a) != n {
			return nil, fmt.Errorf("train: encode checkpoint: arrays of %d and %d values", n, len(a))
		}
	}
	le := binary.LittleEndian
	buf := make([]byte, 0, 16+len(js)+8+4*len(arrays)*n+sha256.Size)
	buf = append(buf, checkpointMagic...)
	buf = le.AppendUint32(buf, checkpointVersion)
	buf = le.AppendUint64(buf, uint64(len(js)))
	buf = append(buf, js...)
	buf = le.AppendUint64(buf, uint64(n))
	for _, s := range arrays {
		for _, v := range s {
			buf = le.AppendUint32(buf, math.Float32bits(v))
		}
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...), nil
}

// decodeCheckpoint parses a checkpoint file's bytes. Errors wrap
// ErrCheckpoint.
func decodeCheckpoint(data []byte) (*checkpoint, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCheckpoint, fmt.Sprintf(format, args...))
	}
	const head = 16
	if len(data) < head+8+sha256.Size {
		return nil, bad("truncated (%d bytes)", len(data))
	}
	if string(data[:4]) != checkpointMagic {
		return nil, bad("not a checkpoint (magic %q)", data[:4])
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[4:]); v != checkpointVersion {
		return nil, bad("version %d, this build reads version %d", v, checkpointVersion)
	}
	body := data[:len(data)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], data[len(body):]) {
		return nil, bad("SHA-256 checksum mismatch")
	}
	mlen := le.Uint64(data[8:])
	if mlen > uint64(len(body)-head-8) {
		return nil, bad("metadata of %d bytes in %d", mlen, len(body))
	}
	c := &checkpoint{State: &model.TrainerState{}}
	if err := json.Unmarshal(body[head:head+int(mlen)], &c.checkpointMeta); err != nil {
		return nil, bad("metadata: %v", err)
	}
	rest := body[head+int(mlen):]
	n := le.Uint64(rest)
	rest = rest[8:]
	k := uint64(4)
	if c.Averaged {
		k = 5
	}
	if n > uint64(len(rest)) || uint64(len(rest)) != 4*k*n {
		return nil, bad("%d arrays of %d weights announced, %d bytes of arrays", k, n, len(rest))
	}
	read := func() []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = math.Float32frombits(le.Uint32(rest[4*i:]))
		}
		rest = rest[4*n:]
		return s
	}
	c.State.Params = read()
	c.State.Adam.M = read()
	c.State.Adam.V = read()
	c.State.Adam.Step = c.AdamStep
	c.Best = read()
	if c.Averaged {
		c.EMA = read()
	}
	if c.Epoch < 1 || c.AdamStep < 0 || c.BestEpoch < 1 || c.BestEpoch > c.Epoch || len(c.History) != c.Epoch {
		return nil, bad("epoch %d, best epoch %d, step %d, %d history entries", c.Epoch, c.BestEpoch, c.AdamStep, len(c.History))
	}
	return c, nil
}

// save writes the checkpoint into dir atomically (a crash leaves the
// previous checkpoint or this one, never a mixture).
func (c *checkpoint) save(dir string) error {
	data, err := c.encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: checkpoint dir: %w", err)
	}
	if err := model.WriteFileAtomic(filepath.Join(dir, CheckpointFile), data); err != nil {
		return fmt.Errorf("train: save checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint reads the checkpoint in dir; it returns nil, nil when
// there is none.
func loadCheckpoint(dir string) (*checkpoint, error) {
	path := filepath.Join(dir, CheckpointFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("train: read checkpoint: %w", err)
	}
	c, err := decodeCheckpoint(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
