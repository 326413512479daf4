package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"

	"retain/serve/playbook"
)

// ModelFiles are the files the model of a server is loaded from.
type ModelFiles struct {
	// Bundle is the model bundle written by `retain train`. Required.
	Bundle string
	// Playbook is the action playbook file (docs/playbook.md). Empty:
	// Options.Playbook, or the default playbook when that is nil too.
	Playbook string
	// Options are the options of the BundleScorer; with a Playbook file,
	// Options.Playbook is replaced by the file's.
	Options BundleOptions
}

// LoadModel loads the playbook file (when named) and the model bundle of
// files as a BundleScorer and makes it the server's Scorer (see
// SetScorer). A playbook or bundle that does not load, or a Scorer that
// fails its check, is refused: the current Scorer keeps serving, the error
// is logged and returned, and retain_model_reloads_total{result="refused"}
// counts it (result="ok" counts the others). This is the hot reload of
// `retain serve` on SIGHUP and on a change of the files (WatchModel).
func (s *Server) LoadModel(ctx context.Context, files ModelFiles) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	err := s.loadModel(ctx, files)
	if err != nil {
		s.metrics.reloads.WithLabelValues("refused").Inc()
		s.log.Error("model refused; keeping the current model", "bundle", files.Bundle, "playbook", files.Playbook, "err", err)
		return err
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	return nil
}

func (s *Server) loadModel(ctx context.Context, files ModelFiles) error {
	opts := files.Options
	if files.Playbook != "" {
		pb, err := playbook.Load(files.Playbook)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		opts.Playbook = pb
	}
	sc, err := NewBundleScorer(files.Bundle, &opts)
	if err != nil {
		return err
	}
	if err := s.SetScorer(ctx, sc); err != nil {
		return err
	}
	pb := sc.Playbook()
	s.log.Info("model loaded", "bundle", files.Bundle, "version", sc.Info().Version,
		"playbook", pb.Name(), "playbook_sha256", pb.Digest())
	return nil
}

// WatchOptions tune WatchModel. A nil *WatchOptions means defaults.
type WatchOptions struct {
	// Debounce is how long the files must be left alone after a change
	// before they are loaded, so that a file written in several steps is
	// loaded once it is whole. Default 500 ms.
	Debounce time.Duration
	// Poll, when positive, looks at the files every Poll (their size and
	// modification time; on a change, once they are still for a whole
	// Poll, their contents) instead of waiting for file-system events: for
	// file systems without change events, such as NFS. Default 0: events
	// (fsnotify), or polling every 2 seconds when events cannot be had.
	Poll time.Duration
}

// defaultPoll is the polling period when file-system events cannot be had.
const defaultPoll = 2 * time.Second

// WatchModel reloads the model with LoadModel whenever the contents of the
// bundle file or of the playbook file change, until ctx is done; it then
// returns nil. It watches the files' directories, so that a file replaced
// by renaming a new one over it (the atomic way to publish a file) is seen
// as well as a file rewritten in place. Any event in those directories,
// once they have been quiet for Debounce, makes it compare the SHA-256 of
// the files with those of the last load it made or tried: only a change of
// contents reloads, and a refused load (a half-written or corrupt file) is
// tried again only when the contents change again.
//
// The caller loads the model first; WatchModel takes the files as they are
// when it starts as the ones serving.
func (s *Server) WatchModel(ctx context.Context, files ModelFiles, opts *WatchOptions) error {
	var o WatchOptions
	if opts != nil {
		o = *opts
	}
	if o.Debounce <= 0 {
		o.Debounce = 500 * time.Millisecond
	}
	paths := []string{files.Bundle}
	if files.Playbook != "" {
		paths = append(paths, files.Playbook)
	}
	w := &watcher{s: s, files: files, paths: paths, last: contentSum(paths)}
	if o.Poll > 0 {
		return w.poll(ctx, o.Poll)
	}
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		for _, d := range w.dirs() {
			if err = fw.Add(d); err != nil {
				err = fmt.Errorf("watch %s: %w", d, err)
				break
			}
		}
		if err != nil {
			fw.Close()
		}
	}
	if err != nil {
		s.log.Warn("file-system events unavailable; polling the model files", "every", defaultPoll, "err", err)
		return w.poll(ctx, defaultPoll)
	}
	defer fw.Close()
	s.log.Info("watching the model files", "files", paths, "debounce", o.Debounce)
	timer := time.NewTimer(o.Debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(o.Debounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			// An overflow may have dropped the event of a change: look.
			s.log.Warn("file watch", "err", err)
			timer.Reset(o.Debounce)
		case <-timer.C:
			w.check(ctx)
		}
	}
}

type watcher struct {
	s     *Server
	files ModelFiles
	paths []string
	last  string // contentSum of the last load made or tried
}

// dirs returns the directories of the watched files, without repeats.
func (w *watcher) dirs() []string {
	var out []string
	for _, p := range w.paths {
		if d := filepath.Dir(p); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// check reloads when the contents of the files changed.
func (w *watcher) check(ctx context.Context) {
	sum := contentSum(w.paths)
	if sum == w.last {
		return
	}
	w.last = sum
	w.s.log.Info("model files changed: reloading", "files", w.paths)
	w.s.LoadModel(ctx, w.files) // logs and counts a refusal
}

// poll checks the files every period: a change of size or modification
// time that then holds for a whole period leads to check.
func (w *watcher) poll(ctx context.Context, period time.Duration) error {
	w.s.log.Info("polling the model files", "files", w.paths, "every", period)
	t := time.NewTicker(period)
	defer t.Stop()
	lastStat, pending := statSum(w.paths), false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st := statSum(w.paths)
		switch {
		case st != lastStat:
			lastStat, pending = st, true
		case pending:
			pending = false
			w.check(ctx)
		}
	}
}

// contentSum returns the SHA-256 of each file (or why it cannot be read),
// together.
func contentSum(paths []string) string {
	var out string
	for _, p := range paths {
		out += fileSum(p) + ";"
	}
	return out
}

func fileSum(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "error: " + err.Error()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "error: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// statSum returns the size and modification time of each file, together.
func statSum(paths []string) string {
	var out string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			out += "missing;"
			continue
		}
		out += fmt.Sprintf("%d@%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return out
}
