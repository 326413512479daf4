package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"retain/features"
	"retain/serve/alert"
)

// Triggers of a rescoring, as in alert.Event.Trigger.
const (
	TriggerIngest    = "ingest"
	TriggerScheduled = "scheduled"
	TriggerAdmin     = "admin"
)

// AlertOptions configures the risk alerts (see StartAlerts).
type AlertOptions struct {
	// Webhook is the receiver and its delivery (package alert). URL,
	// Secret and DeadLetterPath are required. Logger defaults to the
	// server's; Registerer, when nil, to a private registry.
	Webhook alert.Config
	// RescoreAt, "HH:MM" in Options.TimeZone, rescores every active
	// member once a day at that time. Default "": no daily rescoring.
	RescoreAt string
	// RescoreEvery rescores every active member at this interval, the
	// first time one interval after StartAlerts. Default 0: none. It
	// cannot be set with RescoreAt.
	RescoreEvery time.Duration
	// TopReasons is the number of reasons in an event. Default 3.
	TopReasons int
}

// Alerts tracks the members' risk levels and posts a webhook event when
// one rises. Start it with Server.StartAlerts, stop it with Close.
type Alerts struct {
	s       *Server
	o       AlertOptions
	d       *alert.Dispatcher
	log     *slog.Logger
	now     func() time.Time // the dispatcher's clock, for created_at
	daily   *time.Location   // non-nil with RescoreAt
	hh, mm  int
	ctx     context.Context // done on Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Once

	mu      sync.Mutex
	pending map[string]struct{} // members with new events, to rescore
	kick    chan struct{}
	all     chan allReq

	rescored *prometheus.CounterVec // by trigger
	raised   *prometheus.CounterVec // by new level
	failed   *prometheus.CounterVec // by trigger
}

type allReq struct {
	trigger string
	reply   chan allRes
}

type allRes struct {
	rep RescoreReport
	err error
}

// RescoreReport counts what a rescoring did.
type RescoreReport struct {
	Scored   int // members scored
	Skipped  int // members not on the books: already churned, gone, or joined today
	Failed   int // members whose scoring failed (logged)
	Baseline int // members recorded for the first time (no event)
	Changed  int // members whose recorded level changed
	Raised   int // events put in the outbox
}

// StartAlerts starts tracking the members' risk levels, in the store, and
// posting a signed webhook event (package alert) when one rises:
//
//   - after each IngestEvents call, once the batch is durable and the
//     call answered, the members of the batch are rescored in the
//     background (the call does not wait);
//   - at RescoreAt or every RescoreEvery, and on RescoreAll, every active
//     member (no contract end, or one after now) is rescored.
//
// Rescorings run one at a time, as of the server's clock, with the live
// model; without one they are skipped (and logged). A member's first
// recorded level is a baseline and raises no event. A rise is recorded
// and its event put in the store's outbox in one transaction; a
// dispatcher delivers the outbox (docs/alerts.md). Only one Alerts may
// run per Server.
func (s *Server) StartAlerts(o AlertOptions) (*Alerts, error) {
	if o.TopReasons == 0 {
		o.TopReasons = 3
	}
	if o.TopReasons < 0 {
		return nil, fmt.Errorf("serve: alerts: TopReasons %d is negative", o.TopReasons)
	}
	if o.RescoreEvery < 0 {
		return nil, fmt.Errorf("serve: alerts: RescoreEvery %v is negative", o.RescoreEvery)
	}
	if o.RescoreEvery > 0 && o.RescoreAt != "" {
		return nil, errors.New("serve: alerts: give RescoreAt or RescoreEvery, not both")
	}
	a := &Alerts{
		s: s, o: o, log: s.log.With("component", "alerts"),
		pending: map[string]struct{}{}, kick: make(chan struct{}, 1), all: make(chan allReq),
	}
	if o.RescoreAt != "" {
		t, err := time.Parse("15:04", o.RescoreAt)
		if err != nil {
			return nil, fmt.Errorf("serve: alerts: RescoreAt %q: want HH:MM", o.RescoreAt)
		}
		a.daily, a.hh, a.mm = s.loc, t.Hour(), t.Minute()
	}
	if o.Webhook.Logger == nil {
		o.Webhook.Logger = s.log.With("component", "webhook")
	}
	if o.Webhook.Registerer == nil {
		o.Webhook.Registerer = prometheus.NewRegistry()
	}
	a.now = o.Webhook.Now
	if a.now == nil {
		a.now = time.Now
	}
	var err error
	if a.d, err = alert.New(o.Webhook, s.store.Outbox()); err != nil {
		return nil, fmt.Errorf("serve: alerts: %w", err)
	}
	a.rescored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "retain_risk_rescored_members_total",
		Help: "Members rescored for the risk alerts, by trigger (ingest, scheduled, admin).",
	}, []string{"trigger"})
	a.raised = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "retain_risk_level_raised_total",
		Help: "Risk-level rises recorded, with their webhook event put in the outbox, by new level.",
	}, []string{"level"})
	a.failed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "retain_risk_rescore_failures_total",
		Help: "Members whose rescoring for the risk alerts failed, by trigger.",
	}, []string{"trigger"})
	for _, c := range []prometheus.Collector{a.rescored, a.raised, a.failed} {
		if err := o.Webhook.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("serve: alerts: register metrics: %w", err)
		}
	}
	if !s.alerts.CompareAndSwap(nil, a) {
		return nil, errors.New("serve: alerts: already started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.ctx, a.cancel = ctx, cancel
	a.wg.Add(2)
	go func() { defer a.wg.Done(); a.d.Run(ctx) }()
	go func() { defer a.wg.Done(); a.loop(ctx) }()
	a.log.Info("risk alerts started", "rescore_at", o.RescoreAt, "rescore_every", o.RescoreEvery)
	return a, nil
}

// Close stops the rescoring and the delivery and waits for them. Events
// not yet delivered stay in the outbox for the next StartAlerts; members
// waiting to be rescored after an ingest are dropped (the next scheduled
// rescoring covers them).
func (a *Alerts) Close() {
	a.closeMu.Do(func() {
		a.s.alerts.CompareAndSwap(a, nil)
		a.cancel()
		a.wg.Wait()
	})
}

// errAlertsClosed: RescoreAll after (or during) Close.
var errAlertsClosed = errors.New("serve: alerts: closed")

// RescoreAll rescores every active member now, with trigger "admin", and
// returns when done. It waits for a rescoring in progress to end first.
// When ctx ends first, the rescoring may still run to its end.
func (a *Alerts) RescoreAll(ctx context.Context) (RescoreReport, error) {
	r := allReq{trigger: TriggerAdmin, reply: make(chan allRes, 1)}
	select {
	case a.all <- r:
	case <-ctx.Done():
		return RescoreReport{}, ctx.Err()
	case <-a.ctx.Done():
		return RescoreReport{}, errAlertsClosed
	}
	select {
	case res := <-r.reply:
		return res.rep, res.err
	case <-ctx.Done():
		return RescoreReport{}, ctx.Err()
	}
}

// noteIngested is IngestEvents's hook: it queues the members of a
// committed batch for rescoring and returns at once.
func (s *Server) noteIngested(b *Batch) {
	a := s.alerts.Load()
	if a == nil {
		return
	}
	a.mu.Lock()
	for i := range b.Members {
		a.pending[b.Members[i].MemberID] = struct{}{}
	}
	for i := range b.Attendance {
		a.pending[b.Attendance[i].MemberID] = struct{}{}
	}
	for i := range b.Transactions {
		a.pending[b.Transactions[i].MemberID] = struct{}{}
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// loop runs the rescorings, one at a time.
func (a *Alerts) loop(ctx context.Context) {
	var tick <-chan time.Time
	var timer *time.Timer
	arm := func() {
		if next := a.nextScheduled(); !next.IsZero() {
			if timer == nil {
				timer = time.NewTimer(0)
				<-timer.C
			}
			timer.Reset(max(next.Sub(time.Now()), 0))
			tick = timer.C
		}
	}
	arm()
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-a.kick:
			a.mu.Lock()
			ids := make([]string, 0, len(a.pending))
			for id := range a.pending {
				ids = append(ids, id)
			}
			clear(a.pending)
			a.mu.Unlock()
			slices.Sort(ids)
			a.safely(TriggerIngest, func() (RescoreReport, error) { return a.rescore(ctx, ids, TriggerIngest) })
		case r := <-a.all:
			rep, err := a.safely(r.trigger, func() (RescoreReport, error) { return a.rescoreAll(ctx, r.trigger) })
			r.reply <- allRes{rep, err}
		case <-tick:
			a.safely(TriggerScheduled, func() (RescoreReport, error) { return a.rescoreAll(ctx, TriggerScheduled) })
			arm()
		}
	}
}

// safely runs a rescoring, turning a panic in it (the model's, say) into
// an error, logged and counted like a handler's: the loop and the server
// go on.
func (a *Alerts) safely(trigger string, f func() (RescoreReport, error)) (rep RescoreReport, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = a.s.recovered("alerts rescoring ("+trigger+")", r)
		}
	}()
	return f()
}

// nextScheduled is when the next scheduled rescoring is due, by the wall
// clock; zero for none.
func (a *Alerts) nextScheduled() time.Time {
	now := time.Now()
	switch {
	case a.o.RescoreEvery > 0:
		return now.Add(a.o.RescoreEvery)
	case a.daily != nil:
		return nextDaily(now, a.daily, a.hh, a.mm)
	}
	return time.Time{}
}

// nextDaily is the first hh:mm in loc strictly after now. On a day when
// hh:mm does not exist (a DST gap) time.Date normalizes it forward.
func nextDaily(now time.Time, loc *time.Location, hh, mm int) time.Time {
	l := now.In(loc)
	t := time.Date(l.Year(), l.Month(), l.Day(), hh, mm, 0, 0, loc)
	for !t.After(now) {
		l = l.AddDate(0, 0, 1)
		t = time.Date(l.Year(), l.Month(), l.Day(), hh, mm, 0, 0, loc)
	}
	return t
}

// rescoreAll rescores every member of the store, a page at a time.
func (a *Alerts) rescoreAll(ctx context.Context, trigger string) (RescoreReport, error) {
	start := time.Now()
	var total RescoreReport
	after := ""
	for {
		ids, err := a.s.store.MemberIDs(after, streamPage)
		if err != nil {
			a.log.Error("rescoring: list members", "err", err)
			return total, err
		}
		rep, err := a.rescore(ctx, ids, trigger)
		total.add(rep)
		if err != nil {
			return total, err
		}
		if len(ids) < streamPage {
			break
		}
		after = ids[len(ids)-1]
	}
	a.log.Info("rescored all members", "trigger", trigger, "scored", total.Scored, "skipped", total.Skipped,
		"failed", total.Failed, "baseline", total.Baseline, "changed", total.Changed, "raised", total.Raised, "took", time.Since(start).Round(time.Millisecond))
	return total, nil
}

func (r *RescoreReport) add(o RescoreReport) {
	r.Scored += o.Scored
	r.Skipped += o.Skipped
	r.Failed += o.Failed
	r.Baseline += o.Baseline
	r.Changed += o.Changed
	r.Raised += o.Raised
}

// errNoModel: a rescoring without a live model.
var errNoModel = errors.New("serve: alerts: no model loaded")

// rescore scores ids as of now and records their levels, putting an event
// in the outbox for each rise. A member that fails is logged and counted;
// an error is returned only when the rescoring as a whole cannot go on
// (no model, the store, ctx).
func (a *Alerts) rescore(ctx context.Context, ids []string, trigger string) (RescoreReport, error) {
	var rep RescoreReport
	if len(ids) == 0 {
		return rep, nil
	}
	ls := a.s.scorer.Load()
	if ls == nil {
		a.log.Warn("rescoring skipped: no model loaded", "trigger", trigger, "members", len(ids))
		return rep, errNoModel
	}
	asOf := a.s.opts.Now().UTC()
	many, _ := ls.s.(manyScorer)
	us := make([]riskUpdate, 0, len(ids))
	hs := make([]*History, 0, manyChunk)
	res := make([]manyResult, manyChunk)
	// A chunk of members at a time (ids may be every member with new
	// events): no more than manyChunk histories are held, and each chunk
	// has the time one call has.
	for lo := 0; lo < len(ids); lo += manyChunk {
		hs = hs[:0]
		for _, id := range ids[lo:min(lo+manyChunk, len(ids))] {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			h, err := a.s.store.HistoryBefore(id, asOf)
			if errors.Is(err, ErrNotFound) {
				rep.Skipped++
				continue
			}
			if err != nil {
				a.log.Error("rescoring: read history", "member", id, "err", err)
				return rep, err
			}
			hs = append(hs, h)
		}
		res := res[:len(hs)]
		if many != nil {
			// One network run for the chunk.
			sctx, cancel := context.WithTimeout(ctx, a.s.opts.RequestTimeout)
			err := many.scoreMany(sctx, hs, asOf, true, res)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				for i := range res {
					res[i] = manyResult{Err: err}
				}
			}
		} else {
			for i, h := range hs {
				sctx, cancel := context.WithTimeout(ctx, a.s.opts.RequestTimeout)
				sc, err := ls.s.Score(sctx, h, asOf)
				cancel()
				res[i] = manyResult{Score: sc, Err: err}
			}
		}
		for i, r := range res {
			id := hs[i].Member.MemberID
			err := r.Err
			if err == nil && !r.Churned {
				err = checkScore(r.Score)
			}
			if errors.Is(err, features.ErrNotJoined) {
				// A sign-up of today: not on the books until tomorrow.
				rep.Skipped++
				continue
			}
			if err != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				rep.Failed++
				a.failed.WithLabelValues(trigger).Inc()
				a.log.Error("rescoring failed", "member", id, "trigger", trigger, "version", ls.info.Version, "err", err)
				continue
			}
			if r.Churned || r.Score.AlreadyChurned {
				// No longer on the books (features.Featurizer.Status, the
				// rule of batch scoring, StreamScores and the report).
				rep.Skipped++
				continue
			}
			sc := r.Score
			rep.Scored++
			us = append(us, riskUpdate{memberID: id, score: sc, rec: riskRecord{
				Level: a.s.opts.Risk.Level(sc.ChurnProbability), ChurnProbability: sc.ChurnProbability,
				ModelVersion: ls.info.Version, AsOf: asOf,
			}})
		}
	}
	a.rescored.WithLabelValues(trigger).Add(float64(rep.Scored))
	created := a.now().UTC()
	events, baseline, changed, err := a.s.store.recordRisks(us, func(u *riskUpdate, prev string) alert.Event {
		return a.event(u, prev, trigger, created)
	}, created)
	if err != nil {
		a.log.Error("rescoring: record risk levels", "err", err)
		return rep, fmt.Errorf("serve: alerts: record risk levels: %w", err)
	}
	rep.Baseline, rep.Changed, rep.Raised = baseline, changed, len(events)
	for _, ev := range events {
		a.raised.WithLabelValues(ev.NewLevel).Inc()
		a.log.Info("risk level raised", "member", ev.MemberID, "from", ev.PreviousLevel, "to", ev.NewLevel,
			"churn_probability", ev.ChurnProbability, "event_id", ev.ID, "trigger", trigger)
	}
	if len(events) > 0 {
		a.d.Notify()
	}
	return rep, nil
}

// event builds the webhook event of a rise.
func (a *Alerts) event(u *riskUpdate, prev, trigger string, created time.Time) alert.Event {
	sc := u.score
	ev := alert.Event{
		ID: alert.NewEventID(), Type: alert.TypeRiskLevelRaised, CreatedAt: created,
		MemberID: u.memberID, PreviousLevel: prev, NewLevel: u.rec.Level,
		ChurnProbability: sc.ChurnProbability,
		Thresholds:       alert.Thresholds{Medium: a.s.opts.Risk.Medium, High: a.s.opts.Risk.High},
		Reasons:          []alert.Reason{},
		ModelVersion:     u.rec.ModelVersion, AsOf: u.rec.AsOf, Trigger: trigger,
	}
	for _, r := range sc.Reasons[:min(a.o.TopReasons, len(sc.Reasons))] {
		ev.Reasons = append(ev.Reasons, alert.Reason{Name: r.Name, Description: r.Description, Contribution: r.Contribution})
	}
	if sc.Action != (Action{}) {
		ev.RecommendedAction = &alert.Action{Kind: sc.Action.Kind, Stage: sc.Action.Stage, OfferText: sc.Action.OfferText}
	}
	return ev
}
