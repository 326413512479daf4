package features

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/klauspost/compress/s2"
)

// The training file ("RTFS", retain training feature sequences) is
// documented in docs/features.md. In short, all integers little-endian:
//
//	"RTFS" | uint32 version | uint32 n | n bytes of JSON FileHeader
//	frames: uint32 rawLen | uint32 storedLen | uint32 codec | storedLen
//	  bytes: codec 1 is an S2 block (github.com/klauspost/compress/s2,
//	  Snappy-compatible), codec 0 the bytes as they are; either gives
//	  rawLen bytes of whole member blocks:
//	    uint32 member | int32 firstDay | uint32 rows | uint32 examples
//	    float32 Rows[rows*F] | float32 Mask[rows]
//	    examples times: int32 cutoffDay | uint8 split | uint8 flags |
//	      int8 churn | uint8 0 | int32 nextCategory | int32 nextCourse |
//	      float32 Static[S] | float64 Indicators[K]
//	uint32 0 | uint32 0 | uint32 0 (end of frames)
//	JSON FileFooter | uint32 its length | "RTFE"

const (
	fileMagic    = "RTFS"
	fileEndMagic = "RTFE"
	// FileVersion is the version of the training file format.
	FileVersion = 1
	frameHead   = 12
	codecRaw    = 0
	codecS2     = 1
	blockHead   = 16
	exampleHead = 16
	// frameTarget is the raw size at which a writer closes a frame;
	// maxFrame bounds a frame's raw size when reading (a frame holds whole
	// blocks, so it can exceed frameTarget by one block).
	frameTarget = 4 << 20
	maxFrame    = 64 << 20
)

// Label flag bits in an example record.
const (
	recCensored = 1 << 0
	recExcluded = 1 << 1
)

// FileHeader is the JSON header of a training file.
type FileHeader struct {
	Spec FeatureSpec
	// Members are the member ids; a block's member field indexes them.
	Members []string
	// Cutoffs are the cutoffs written (SplitGap ones included) with their
	// splits.
	Cutoffs []time.Time
	Splits  []Split
	// DataStart and DataEnd are the observed range of the data.
	DataStart, DataEnd time.Time
	// Source describes where the data came from (the manifest's Source).
	Source string
}

// SplitCounts counts the examples of one split in a training file.
type SplitCounts struct {
	Examples  int64
	Positives int64 // Churn == 1
	Censored  int64
	Excluded  int64
	NextClass int64 // examples with a NextCategory
}

// FileFooter is the JSON footer of a training file, written after all
// blocks.
type FileFooter struct {
	Blocks int64
	// Splits counts the examples by split name.
	Splits map[string]SplitCounts
	// Normalizer is fitted on the training split (Split == SplitTrain,
	// not Excluded).
	Normalizer *Normalizer
}

// ErrFormat reports a malformed training file; checked with errors.Is.
var ErrFormat = errors.New("features: malformed training file")

// A FileWriter writes a training file. Nothing appears at the path until
// Close succeeds.
type FileWriter struct {
	path, tmp string
	f         *os.File
	w         *bufio.Writer
	hdr       FileHeader
	F, S, K   int
	footer    FileFooter
	fit       *NormalizerFitter
	pending   []byte // encoded blocks not yet in a frame
	comp      []byte
	codec     uint32
	err       error
}

// FileOptions tunes a FileWriter. A nil *FileOptions means defaults.
type FileOptions struct {
	// NoCompression stores frames as they are instead of S2-compressed
	// (about five times larger, a little cheaper to write and read).
	// Default false: compressed.
	NoCompression bool
}

// CreateFile starts a training file at path with header hdr.
func CreateFile(path string, hdr *FileHeader, opts *FileOptions) (*FileWriter, error) {
	if err := hdr.Spec.Check(); err != nil {
		return nil, err
	}
	if len(hdr.Cutoffs) != len(hdr.Splits) {
		return nil, fmt.Errorf("features: header has %d cutoffs but %d splits", len(hdr.Cutoffs), len(hdr.Splits))
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("features: encode header: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("features: create %s: %w", path, err)
	}
	w := &FileWriter{
		path: path, tmp: f.Name(), f: f, w: bufio.NewWriterSize(f, 1<<20), hdr: *hdr,
		F: len(hdr.Spec.Sequence), S: len(hdr.Spec.Static), K: len(hdr.Spec.Indicators),
		footer: FileFooter{Splits: map[string]SplitCounts{}},
		fit:    NewNormalizerFitter(&hdr.Spec),
		codec:  codecS2,
	}
	if opts != nil && opts.NoCompression {
		w.codec = codecRaw
	}
	var head [12]byte
	copy(head[:], fileMagic)
	binary.LittleEndian.PutUint32(head[4:], FileVersion)
	binary.LittleEndian.PutUint32(head[8:], uint32(len(js)))
	w.write(head[:])
	w.write(js)
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	return w, nil
}

func (w *FileWriter) write(b []byte) {
	if w.err == nil {
		if _, err := w.w.Write(b); err != nil {
			w.err = fmt.Errorf("features: write %s: %w", w.path, err)
		}
	}
}

// WriteBlock appends one member's block. Blocks must match the header's
// spec; a mismatch panics.
func (w *FileWriter) WriteBlock(blk *MemberBlock) error {
	w.pending = w.appendBlock(w.pending, blk)
	w.count(blk)
	if len(w.pending) >= frameTarget {
		w.flushPending()
	}
	return w.err
}

// flushPending writes the pending blocks as one frame.
func (w *FileWriter) flushPending() {
	if len(w.pending) == 0 {
		return
	}
	w.writeFrame(w.encodeFrame(w.pending, &w.comp))
	w.pending = w.pending[:0]
}

// frame is encoded blocks, as stored in a frame.
type frame struct {
	rawLen int
	codec  uint32
	stored []byte
}

// encodeFrame returns raw as a frame in the writer's codec, compressing into
// *buf (grown as needed); the frame may alias raw or *buf.
func (w *FileWriter) encodeFrame(raw []byte, buf *[]byte) frame {
	if w.codec == codecRaw {
		return frame{len(raw), codecRaw, raw}
	}
	*buf = s2.Encode((*buf)[:0], raw)
	return frame{len(raw), codecS2, *buf}
}

// writeFrame writes one frame.
func (w *FileWriter) writeFrame(f frame) {
	var head [frameHead]byte
	binary.LittleEndian.PutUint32(head[0:], uint32(f.rawLen))
	binary.LittleEndian.PutUint32(head[4:], uint32(len(f.stored)))
	binary.LittleEndian.PutUint32(head[8:], f.codec)
	w.write(head[:])
	w.write(f.stored)
}

// count adds a written block to the footer's counts and the normalizer.
func (w *FileWriter) count(blk *MemberBlock) {
	w.footer.Blocks++
	for k := range blk.Examples {
		e := &blk.Examples[k]
		name := e.Split.String()
		c := w.footer.Splits[name]
		c.Examples++
		if e.Label.Churn == 1 {
			c.Positives++
		}
		if e.Label.Censored {
			c.Censored++
		}
		if e.Label.Excluded {
			c.Excluded++
		}
		if e.Label.NextCategory >= 0 {
			c.NextClass++
		}
		w.footer.Splits[name] = c
	}
	w.fit.addBlock(blk, w.hdr.Spec.Config.Weeks)
}

// blockSize returns the encoded size of blk.
func (w *FileWriter) blockSize(blk *MemberBlock) int {
	return blockHead + 4*len(blk.Rows) + 4*len(blk.Mask) + len(blk.Examples)*(exampleHead+4*w.S+8*w.K)
}

// appendBlock encodes blk.
func (w *FileWriter) appendBlock(buf []byte, blk *MemberBlock) []byte {
	F, S := w.F, w.S
	n := len(blk.Mask)
	if len(blk.Rows) != n*F || blk.Member < 0 || blk.Member >= len(w.hdr.Members) {
		panic(fmt.Sprintf("features: block of member %d with %d values for %d rows of %d features", blk.Member, len(blk.Rows), n, F))
	}
	le := binary.LittleEndian
	start := len(buf)
	buf = slices.Grow(buf, w.blockSize(blk))[:start+w.blockSize(blk)]
	p := buf[start:]
	le.PutUint32(p[0:], uint32(blk.Member))
	le.PutUint32(p[4:], uint32(blk.FirstDay))
	le.PutUint32(p[8:], uint32(n))
	le.PutUint32(p[12:], uint32(len(blk.Examples)))
	p = p[blockHead:]
	putF32s(p, blk.Rows)
	p = p[4*len(blk.Rows):]
	putF32s(p, blk.Mask)
	p = p[4*n:]
	var ind [64]float64
	for k := range blk.Examples {
		e := &blk.Examples[k]
		if len(e.Static) != S {
			panic(fmt.Sprintf("features: example with %d static values, want %d", len(e.Static), S))
		}
		le.PutUint32(p[0:], uint32(e.CutoffDay))
		var flags byte
		if e.Label.Censored {
			flags |= recCensored
		}
		if e.Label.Excluded {
			flags |= recExcluded
		}
		p[4], p[5], p[6], p[7] = byte(e.Split), flags, byte(e.Label.Churn), 0
		le.PutUint32(p[8:], uint32(e.Label.NextCategory))
		le.PutUint32(p[12:], uint32(e.Label.NextCourse))
		p = p[exampleHead:]
		putF32s(p, e.Static)
		p = p[4*S:]
		for i, v := range e.Indicators.Vector(ind[:0]) {
			le.PutUint64(p[8*i:], math.Float64bits(v))
		}
		p = p[8*w.K:]
	}
	return buf
}

// Footer returns the footer as it stands (final after Close).
func (w *FileWriter) Footer() *FileFooter {
	ft := w.footer
	ft.Normalizer = w.fit.Normalizer()
	return &ft
}

// Close writes the footer and moves the file into place.
func (w *FileWriter) Close() error {
	if w.f == nil {
		return nil
	}
	w.flushPending()
	w.writeFrame(frame{}) // end of frames
	var end [4]byte
	js, err := json.Marshal(w.Footer())
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("features: encode footer: %w", err)
	}
	w.write(js)
	binary.LittleEndian.PutUint32(end[:], uint32(len(js)))
	w.write(end[:])
	w.write([]byte(fileEndMagic))
	if w.err == nil {
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("features: write %s: %w", w.path, err)
		}
	}
	if w.err == nil {
		if err := w.f.Close(); err != nil {
			w.err = fmt.Errorf("features: close %s: %w", w.path, err)
		}
		w.f = nil
	}
	if w.err == nil {
		if err := os.Rename(w.tmp, w.path); err != nil {
			w.err = fmt.Errorf("features: %w", err)
		}
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		return err
	}
	return nil
}

// Abort discards the file; Close after Abort is a no-op.
func (w *FileWriter) Abort() error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.tmp != "" {
		os.Remove(w.tmp)
		w.tmp = ""
	}
	return nil
}

// A FileReader reads a training file sequentially.
type FileReader struct {
	path    string
	f       *os.File
	r       *bufio.Reader
	hdr     FileHeader
	footer  FileFooter
	loc     *time.Location
	F, S, K int
	blk     MemberBlock
	k       int    // next example of blk
	remain  int64  // file bytes left before the footer
	frame   []byte // the decoded frame
	pos     int    // next block in frame
	comp    []byte
	vec     []float64
	done    bool
}

// OpenFile opens a training file and reads its header and footer.
func OpenFile(path string) (*FileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	r := &FileReader{path: path, f: f}
	if err := r.open(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func (r *FileReader) bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrFormat, r.path, fmt.Sprintf(format, args...))
}

func (r *FileReader) open() error {
	st, err := r.f.Stat()
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	size := st.Size()
	var tail [8]byte
	if size < 12+8 {
		return r.bad("too short (%d bytes)", size)
	}
	if _, err := r.f.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("features: read %s: %w", r.path, err)
	}
	if string(tail[4:]) != fileEndMagic {
		return r.bad("no end marker (truncated?)")
	}
	flen := int64(binary.LittleEndian.Uint32(tail[:4]))
	if flen > size-20 {
		return r.bad("footer length %d", flen)
	}
	fb := make([]byte, flen)
	if _, err := r.f.ReadAt(fb, size-8-flen); err != nil {
		return fmt.Errorf("features: read %s: %w", r.path, err)
	}
	if err := json.Unmarshal(fb, &r.footer); err != nil {
		return r.bad("footer: %v", err)
	}
	r.remain = size - 8 - flen
	r.r = bufio.NewReaderSize(io.NewSectionReader(r.f, 0, r.remain), 1<<20)
	var head [12]byte
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		return r.bad("header: %v", err)
	}
	if string(head[:4]) != fileMagic {
		return r.bad("not a training file (magic %q)", head[:4])
	}
	if v := binary.LittleEndian.Uint32(head[4:]); v != FileVersion {
		return r.bad("version %d, this package reads version %d", v, FileVersion)
	}
	hlen := int64(binary.LittleEndian.Uint32(head[8:]))
	r.remain -= 12 + hlen
	if r.remain < frameHead {
		return r.bad("header length %d", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r.r, hb); err != nil {
		return r.bad("header: %v", err)
	}
	if err := json.Unmarshal(hb, &r.hdr); err != nil {
		return r.bad("header: %v", err)
	}
	if err := r.hdr.Spec.Check(); err != nil {
		return fmt.Errorf("features: %s: %w", r.path, err)
	}
	r.loc, err = time.LoadLocation(r.hdr.Spec.Config.TimeZone)
	if err != nil {
		return fmt.Errorf("features: %s: %w", r.path, err)
	}
	r.F, r.S, r.K = len(r.hdr.Spec.Sequence), len(r.hdr.Spec.Static), len(r.hdr.Spec.Indicators)
	return nil
}

// Header returns the file's header.
func (r *FileReader) Header() *FileHeader { return &r.hdr }

// Footer returns the file's footer.
func (r *FileReader) Footer() *FileFooter { return &r.footer }

// NextBlock reads the next member block, or returns io.EOF after the last.
// The block is reused by the next call.
func (r *FileReader) NextBlock() (*MemberBlock, error) {
	if r.done {
		return nil, io.EOF
	}
	le := binary.LittleEndian
	if r.pos == len(r.frame) {
		if err := r.nextFrame(); err != nil {
			return nil, err
		}
		if r.done {
			return nil, io.EOF
		}
	}
	buf := r.frame[r.pos:]
	if len(buf) < blockHead {
		return nil, r.bad("frame ends inside a block header")
	}
	b := &r.blk
	b.Member = int(le.Uint32(buf[0:]))
	b.FirstDay = int32(le.Uint32(buf[4:]))
	n := int64(le.Uint32(buf[8:]))
	ne := int64(le.Uint32(buf[12:]))
	if b.Member >= len(r.hdr.Members) {
		return nil, r.bad("block of member %d, header has %d members", b.Member, len(r.hdr.Members))
	}
	exSize := int64(exampleHead + 4*r.S + 8*r.K)
	size := n*int64(4*(r.F+1)) + ne*exSize
	if size > int64(len(buf)-blockHead) {
		return nil, r.bad("block of member %d: %d rows and %d examples need %d bytes, the frame has %d", b.Member, n, ne, size, len(buf)-blockHead)
	}
	r.pos += blockHead + int(size)
	buf = buf[blockHead:]
	b.Rows = growF32(b.Rows, int(n)*r.F)
	getF32s(b.Rows, buf)
	buf = buf[4*int(n)*r.F:]
	b.Mask = growF32(b.Mask, int(n))
	getF32s(b.Mask, buf)
	buf = buf[4*n:]
	if int64(cap(b.Examples)) < ne {
		b.Examples = make([]BlockExample, ne)
	}
	b.Examples = b.Examples[:ne]
	if len(r.vec) != r.K {
		r.vec = make([]float64, r.K)
	}
	for k := range b.Examples {
		e := &b.Examples[k]
		rec := buf[int64(k)*exSize : int64(k+1)*exSize]
		e.CutoffDay = int32(le.Uint32(rec))
		e.Split = Split(rec[4])
		e.Label = Label{
			Censored:     rec[5]&recCensored != 0,
			Excluded:     rec[5]&recExcluded != 0,
			Churn:        int8(rec[6]),
			NextCategory: int32(le.Uint32(rec[8:])),
			NextCourse:   int32(le.Uint32(rec[12:])),
		}
		if d := int64(e.CutoffDay) - int64(b.FirstDay); d < 0 || d%7 != 0 || d/7 > n {
			return nil, r.bad("member %d: cutoff day %d outside its %d rows from day %d", b.Member, e.CutoffDay, n, b.FirstDay)
		}
		e.Static = growF32(e.Static, r.S)
		p := rec[exampleHead:]
		getF32s(e.Static, p)
		p = p[4*r.S:]
		for i := range r.vec {
			r.vec[i] = math.Float64frombits(le.Uint64(p[8*i:]))
		}
		e.Indicators.SetVector(r.vec)
	}
	r.k = 0
	return b, nil
}

// nextFrame reads and decodes the next frame, or sets r.done at the end
// marker.
func (r *FileReader) nextFrame() error {
	var head [frameHead]byte
	if r.remain < frameHead {
		return r.bad("missing end of frames")
	}
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		return r.bad("frame: %v", err)
	}
	r.remain -= frameHead
	rawLen := int64(binary.LittleEndian.Uint32(head[0:]))
	storedLen := int64(binary.LittleEndian.Uint32(head[4:]))
	codec := binary.LittleEndian.Uint32(head[8:])
	if rawLen == 0 && storedLen == 0 && codec == 0 {
		if r.remain != 0 {
			return r.bad("%d bytes between the end of frames and the footer", r.remain)
		}
		r.done = true
		return nil
	}
	if storedLen > r.remain || rawLen > maxFrame || rawLen == 0 || codec > codecS2 || (codec == codecRaw && storedLen != rawLen) {
		return r.bad("frame of %d bytes (%d stored, codec %d), %d left", rawLen, storedLen, codec, r.remain)
	}
	r.remain -= storedLen
	if codec == codecRaw {
		if int64(cap(r.frame)) < rawLen {
			r.frame = make([]byte, rawLen)
		}
		r.frame = r.frame[:rawLen]
		if _, err := io.ReadFull(r.r, r.frame); err != nil {
			return r.bad("frame: %v", err)
		}
		r.pos = 0
		return nil
	}
	if int64(cap(r.comp)) < storedLen {
		r.comp = make([]byte, storedLen)
	}
	comp := r.comp[:storedLen]
	if _, err := io.ReadFull(r.r, comp); err != nil {
		return r.bad("frame: %v", err)
	}
	if n, err := s2.DecodedLen(comp); err != nil || int64(n) != rawLen {
		return r.bad("frame decodes to %d bytes (%v), header says %d", n, err, rawLen)
	}
	if int64(cap(r.frame)) < rawLen {
		r.frame = make([]byte, rawLen)
	}
	frame, err := s2.Decode(r.frame[:rawLen], comp)
	if err != nil || int64(len(frame)) != rawLen {
		return r.bad("frame: %v", err)
	}
	r.frame, r.pos = frame, 0
	return nil
}

func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// Next reads the next example into ex (reusing its slices), with its window
// of Weeks rows materialised, or returns io.EOF after the last.
func (r *FileReader) Next(ex *Example) error {
	for r.blk.Examples == nil || r.k >= len(r.blk.Examples) {
		if _, err := r.NextBlock(); err != nil {
			return err
		}
	}
	r.blk.Window(r.k, &r.hdr.Spec, r.hdr.Members[r.blk.Member], r.loc, ex)
	r.k++
	return nil
}

// Close closes the file.
func (r *FileReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
