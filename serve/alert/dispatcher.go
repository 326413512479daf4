package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Dispatcher. A zero field takes the default stated in
// its comment.
type Config struct {
	// URL is the receiver, http or https. Required.
	URL string
	// Secret signs every post (see Sign); at least MinSecretBytes bytes.
	// Required.
	Secret []byte
	// DeadLetterPath is the JSONL file that receives the events given up
	// on (see DeadLetter). Required.
	DeadLetterPath string

	// Timeout bounds one post, connection and answer included.
	// Default 10 seconds.
	Timeout time.Duration
	// MinBackoff is the delay after the first failed attempt; each
	// further failure doubles it, up to MaxBackoff. The delay actually
	// waited is drawn uniformly from [d/2, d] (jitter), so receivers that
	// come back are not hit by every sender at once. Defaults 1 second
	// and 1 hour.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts is the number of attempts after which an event is
	// dead-lettered. Default 20: with the default backoff the 19 waits
	// add up to 1+2+...+2048 s + 7 h = 29,295 s before jitter, so an
	// event is retried for 4.1 to 8.1 hours.
	MaxAttempts int
	// MaxAge is the age (since Entry.CreatedAt) after which an event that
	// fails once more is dead-lettered, however few its attempts.
	// Default 24 hours.
	MaxAge time.Duration
	// Poll is how often the outbox is read when nothing is due and no
	// Notify came. Default 30 seconds.
	Poll time.Duration
	// Batch is the most entries read from the outbox at a time.
	// Default 100.
	Batch int

	// Client posts; its Timeout is ignored (Timeout applies). Default: a
	// client of its own that does not follow redirects.
	Client *http.Client
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics (see docs/alerts.md); nil uses a
	// private registry.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Jitter returns a number in [0, 1) for the backoff's jitter.
	// Default math/rand/v2.Float64.
	Jitter func() float64
}

func (c Config) withDefaults() (Config, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("alert: webhook URL %q: want an absolute http or https URL", c.URL)
	}
	if err := CheckSecret(c.Secret); err != nil {
		return c, err
	}
	if c.DeadLetterPath == "" {
		return c, errors.New("alert: no dead-letter path")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Timeout, 10*time.Second)
	def(&c.MinBackoff, time.Second)
	def(&c.MaxBackoff, time.Hour)
	def(&c.MaxAge, 24*time.Hour)
	def(&c.Poll, 30*time.Second)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 20
	}
	if c.Batch == 0 {
		c.Batch = 100
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Timeout", c.Timeout}, {"MinBackoff", c.MinBackoff}, {"MaxBackoff", c.MaxBackoff}, {"MaxAge", c.MaxAge}, {"Poll", c.Poll}} {
		if d.v < 0 {
			return c, fmt.Errorf("alert: %s %v is negative", d.name, d.v)
		}
	}
	if c.MaxBackoff < c.MinBackoff {
		return c, fmt.Errorf("alert: MaxBackoff %v below MinBackoff %v", c.MaxBackoff, c.MinBackoff)
	}
	if c.MaxAttempts < 0 || c.Batch < 0 {
		return c, fmt.Errorf("alert: MaxAttempts %d and Batch %d must not be negative", c.MaxAttempts, c.Batch)
	}
	if c.Client == nil {
		c.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	return c, nil
}

// Dispatcher delivers the events of an Outbox. Create it with New, run it
// with Run.
type Dispatcher struct {
	cfg    Config
	outbox Outbox
	dead   *DeadLetter
	wake   chan struct{}

	delivered prometheus.Counter
	retried   prometheus.Counter
	deadN     *prometheus.CounterVec // by reason
	latency   prometheus.Histogram
}

// New returns a Dispatcher of the events of outbox, and registers its
// metrics.
func New(cfg Config, outbox Outbox) (*Dispatcher, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if outbox == nil {
		return nil, errors.New("alert: nil outbox")
	}
	d := &Dispatcher{
		cfg: c, outbox: outbox, dead: &DeadLetter{Path: c.DeadLetterPath}, wake: make(chan struct{}, 1),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "retain_webhook_delivered_total",
			Help: "Webhook events delivered (answered 2xx) and removed from the outbox.",
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "retain_webhook_retries_total",
			Help: "Failed webhook attempts that were scheduled for another try.",
		}),
		deadN: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retain_webhook_dead_lettered_total",
			Help: "Webhook events given up on and written to the dead-letter file, by reason: rejected (4xx other than 408/429, or 3xx), attempts, age.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "retain_webhook_attempt_duration_seconds",
			Help:    "Duration of webhook posts, failed ones included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "retain_webhook_outbox_events",
		Help: "Webhook events waiting in the outbox (-1 when the outbox cannot be read).",
	}, func() float64 {
		n, err := outbox.Len()
		if err != nil {
			return -1
		}
		return float64(n)
	})
	var errs []error
	for _, col := range []prometheus.Collector{d.delivered, d.retried, d.deadN, d.latency, size} {
		if err := c.Registerer.Register(col); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("alert: register metrics: %w", err)
	}
	return d, nil
}

// Notify tells the Dispatcher that the outbox has new entries. It never
// blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then returns nil. Its first pass tries
// every event of the outbox at once, whatever its backoff: a restart often
// follows a fix (of the URL, of the receiver). An error reading or writing
// the outbox or the dead-letter file is logged and retried after Poll; it
// does not stop Run.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.cfg.Logger.Info("webhook dispatcher started", "url", redact(d.cfg.URL))
	for first := true; ; first = false {
		next, err := d.pass(ctx, first)
		if ctx.Err() != nil {
			return nil
		}
		wait := d.cfg.Poll
		if err != nil {
			d.cfg.Logger.Error("webhook outbox", "err", err)
		} else if !next.IsZero() {
			wait = min(wait, max(next.Sub(d.cfg.Now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// pass tries every due entry (every entry, with all) once, in Seq order,
// and returns when the earliest entry not due yet is due (zero if none).
func (d *Dispatcher) pass(ctx context.Context, all bool) (next time.Time, _ error) {
	var after uint64
	for {
		es, err := d.outbox.List(after, d.cfg.Batch)
		if err != nil {
			return time.Time{}, err
		}
		for i := range es {
			e := &es[i]
			after = e.Seq
			now := d.cfg.Now()
			if !all && e.NextAttempt.After(now) {
				if next.IsZero() || e.NextAttempt.Before(next) {
					next = e.NextAttempt
				}
				continue
			}
			if err := ctx.Err(); err != nil {
				return next, nil
			}
			retry, err := d.attempt(ctx, e)
			if err != nil {
				return time.Time{}, err
			}
			if ctx.Err() != nil {
				return next, nil
			}
			if !retry.IsZero() && (next.IsZero() || retry.Before(next)) {
				next = retry
			}
		}
		if len(es) < d.cfg.Batch {
			return next, nil
		}
	}
}

// outcome is what one post came to.
type outcome int

const (
	delivered outcome = iota
	retryable
	rejected
)

// attempt posts e once and updates the outbox; retry is when e is due
// again (zero when it left the outbox).
func (d *Dispatcher) attempt(ctx context.Context, e *Entry) (retry time.Time, _ error) {
	log := d.cfg.Logger.With("event_id", e.ID, "attempt", e.Attempts+1)
	res, status, wait, perr := d.post(ctx, e)
	if res == retryable && ctx.Err() != nil {
		// Stopping: the attempt does not count.
		return time.Time{}, nil
	}
	e.Attempts++
	now := d.cfg.Now()
	switch res {
	case delivered:
		if err := d.outbox.Delete(e.Seq); err != nil {
			return time.Time{}, fmt.Errorf("delete delivered event %s: %w", e.ID, err)
		}
		d.delivered.Inc()
		log.Info("webhook event delivered", "status", status)
		return time.Time{}, nil
	case rejected:
		e.LastError = perr.Error()
		return time.Time{}, d.deadLetter(e, "rejected", status, now, log)
	}
	e.LastError = perr.Error()
	switch {
	case e.Attempts >= d.cfg.MaxAttempts:
		return time.Time{}, d.deadLetter(e, "attempts", status, now, log)
	case now.Sub(e.CreatedAt) >= d.cfg.MaxAge:
		return time.Time{}, d.deadLetter(e, "age", status, now, log)
	}
	if wait <= 0 {
		wait = d.Backoff(e.Attempts)
	}
	e.NextAttempt = now.Add(wait)
	if err := d.outbox.Update(*e); err != nil {
		return time.Time{}, fmt.Errorf("update event %s: %w", e.ID, err)
	}
	d.retried.Inc()
	log.Warn("webhook attempt failed; will retry", "status", status, "err", perr, "retry_in", wait.Round(time.Millisecond))
	return e.NextAttempt, nil
}

func (d *Dispatcher) deadLetter(e *Entry, reason string, status int, now time.Time, log *slog.Logger) error {
	if err := d.dead.Append(DeadEvent{
		ID: e.ID, Reason: reason, Attempts: e.Attempts, LastStatus: status, LastError: e.LastError,
		CreatedAt: e.CreatedAt, DeadAt: now, Event: json.RawMessage(e.Body),
	}); err != nil {
		return fmt.Errorf("dead-letter event %s: %w", e.ID, err)
	}
	if err := d.outbox.Delete(e.Seq); err != nil {
		return fmt.Errorf("delete dead-lettered event %s: %w", e.ID, err)
	}
	d.deadN.WithLabelValues(reason).Inc()
	log.Error("webhook event dead-lettered", "reason", reason, "status", status, "err", e.LastError, "file", d.dead.Path)
	return nil
}

// Backoff returns the delay after the attempts-th failed attempt:
// MinBackoff doubled attempts-1 times, capped at MaxBackoff, times a
// jitter factor in [0.5, 1).
func (d *Dispatcher) Backoff(attempts int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < attempts && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return time.Duration(float64(b) * (0.5 + d.cfg.Jitter()/2))
}

// post sends e once. wait is the receiver's Retry-After, when it gave one
// with a retryable answer (capped at MaxBackoff).
func (d *Dispatcher) post(ctx context.Context, e *Entry) (res outcome, status int, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(e.Body))
	if err != nil {
		return rejected, 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "retain-webhook/1")
	req.Header.Set(EventIDHeader, e.ID)
	req.Header.Set(AttemptHeader, strconv.Itoa(e.Attempts+1))
	req.Header.Set(SignatureHeader, Sign(d.cfg.Secret, d.cfg.Now(), e.Body))
	start := time.Now()
	resp, err := d.cfg.Client.Do(req)
	d.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		return retryable, 0, 0, err
	}
	// Drain a little of the body so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	status = resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		return delivered, status, 0, nil
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = min(time.Duration(s)*time.Second, d.cfg.MaxBackoff)
		}
		return retryable, status, wait, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return rejected, status, 0, fmt.Errorf("receiver answered %s", resp.Status)
}

// redact drops the user info and query of a URL for logs: either may hold
// a token.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// DeadEvent is one line of the dead-letter file.
type DeadEvent struct {
	ID         string          `json:"id"`
	Reason     string          `json:"reason"` // rejected, attempts or age
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status,omitempty"` // HTTP status of the last attempt; 0 = none
	LastError  string          `json:"last_error"`
	CreatedAt  time.Time       `json:"created_at"`
	DeadAt     time.Time       `json:"dead_at"`
	Event      json.RawMessage `json:"event"` // the body, as it was posted
}

// DeadLetter is an append-only JSONL file of DeadEvents. Each Append
// writes one line and fsyncs before it returns.
type DeadLetter struct {
	Path string
	mu   sync.Mutex
}

// Append writes ev as one line and syncs the file.
func (dl *DeadLetter) Append(ev DeadEvent) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	dl.mu.Lock()
	defer dl.mu.Unlock()
	f, err := os.OpenFile(dl.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
