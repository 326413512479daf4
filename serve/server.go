package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"retain/datasets"
	"retain/features"
	retainv1 "retain/proto/retain/v1"
	"retain/serve/report"
)

// ServiceName is the gRPC service of the retain.v1 API, as the health
// service knows it.
const ServiceName = "retain.v1.RetainService"

// Server serves the retain.v1 API. Create it with New, start it with Serve
// or ListenAndServe, stop it with Shutdown.
type Server struct {
	retainv1.UnimplementedRetainServiceServer

	opts    Options
	store   *Store
	log     *slog.Logger
	metrics *metrics
	gather  prometheus.Gatherer // nil when the Registerer is not one
	loc     *time.Location
	tls     *tls.Config // nil without TLS
	health  *health.Server
	grpc    *grpc.Server
	gw      *gateway

	scorer atomic.Pointer[liveScorer]
	setMu  sync.Mutex // serializes SetScorer
	loadMu sync.Mutex // serializes LoadModel (SIGHUP and the file watch)

	alerts atomic.Pointer[Alerts] // nil unless StartAlerts (alerts.go)

	stopOnce sync.Once
	stopErr  error
}

var _ retainv1.RetainServiceServer = (*Server)(nil)

// liveScorer is the Scorer that scores and its Info, read once.
type liveScorer struct {
	s    Scorer
	info ModelInfo
}

// The flow-control windows of the server's connections, per stream and per
// connection. A stream's window takes a request of the default
// MaxRecvMsgBytes but for its 5-byte prefix (gRPC grants more window for a
// message that needs it); 16 MiB is what gRPC's bandwidth-delay estimation
// grows a window to at most.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// New returns a Server over store, scoring with scorer. scorer may be nil:
// the server then reports NOT_SERVING and scoring calls answer UNAVAILABLE
// until SetScorer gives it one. A non-nil scorer is checked as by
// SetScorer. logger nil discards logs; reg nil registers the metrics in a
// new private registry. When reg is also a prometheus.Gatherer (a
// *prometheus.Registry is), MetricsHandler serves it.
func New(opts Options, scorer Scorer, store *Store, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("serve: New: nil store")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	loc, err := time.LoadLocation(o.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("serve: options: TimeZone: %w", err)
	}
	var tlsCfg *tls.Config
	if o.TLSCertFile != "" {
		if tlsCfg, err = serverTLS(&o); err != nil {
			return nil, err
		}
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, store: store, log: logger, metrics: m, loc: loc, tls: tlsCfg}
	s.gather, _ = reg.(prometheus.Gatherer)

	common := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.MaxRecvMsgBytes),
		grpc.MaxSendMsgSize(o.MaxSendMsgBytes),
		grpc.MaxConcurrentStreams(o.MaxConcurrentStreams),
		// Streams run on a fixed set of worker goroutines (more are
		// started only when all are busy): a new goroutine per call grew
		// its stack on every call, about 10 % of the CPU of a small call.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Static flow-control windows: gRPC's bandwidth-delay estimation
		// pings the client after every request it reads, which costs the
		// client a write and a wake-up per call (docs/benchmarks.md).
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
		// observe sees the final status; recover turns a panic anywhere
		// below it, auth and handlers included, into INTERNAL.
		grpc.ChainUnaryInterceptor(s.observeUnary, s.recoverUnary, s.authUnary, s.deadlineUnary),
		grpc.ChainStreamInterceptor(s.observeStream, s.recoverStream, s.authStream),
	}
	sopts := common
	if tlsCfg != nil {
		sopts = append(slices.Clip(sopts), grpc.Creds(credentials.NewTLS(tlsCfg)))
	} else {
		logger.Warn("serving without TLS: tokens travel in the clear")
	}
	s.grpc = grpc.NewServer(sopts...)
	retainv1.RegisterRetainServiceServer(s.grpc, s)
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if !o.NoReflection {
		reflection.Register(s.grpc)
	}
	if s.gw, err = s.newGateway(common); err != nil {
		return nil, err
	}
	if scorer != nil {
		if err := s.SetScorer(context.Background(), scorer); err != nil {
			s.gw.close()
			return nil, err
		}
	}
	return s, nil
}

// SetScorer checks sc and, when it passes, makes it the Scorer of every
// call that starts afterwards; calls in flight finish with the Scorer they
// started with. The health service turns SERVING. When the check fails the
// current Scorer stays and the error says why: the hot reload of a model
// bundle calls SetScorer and keeps serving the old model if the new one is
// bad.
//
// The check: Info().Version is not empty; Check passes when sc is a
// Checker; and when the store holds members, sc scores the first of them
// (by member_id) who had joined before today as of now, and the Score is
// valid (see Score). The check
// is bounded by Options.CheckTimeout.
//
// SetScorer(ctx, nil) unloads the Scorer: NOT_SERVING, scoring calls
// answer UNAVAILABLE.
func (s *Server) SetScorer(ctx context.Context, sc Scorer) error {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	if sc == nil {
		s.scorer.Store(nil)
		s.metrics.model.Reset()
		s.setHealth(healthpb.HealthCheckResponse_NOT_SERVING)
		s.log.Warn("model unloaded")
		return nil
	}
	info := sc.Info()
	if err := s.checkScorer(ctx, sc, &info); err != nil {
		s.log.Error("model check failed; keeping the current model", "version", info.Version, "err", err)
		return fmt.Errorf("serve: model %q failed its check: %w", info.Version, err)
	}
	s.scorer.Store(&liveScorer{s: sc, info: info})
	s.metrics.model.Reset()
	s.metrics.model.WithLabelValues(info.Version).Set(1)
	s.setHealth(healthpb.HealthCheckResponse_SERVING)
	s.log.Info("model live", "version", info.Version, "trained_at", info.TrainedAt)
	return nil
}

func (s *Server) setHealth(st healthpb.HealthCheckResponse_ServingStatus) {
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(ServiceName, st)
}

func (s *Server) checkScorer(ctx context.Context, sc Scorer, info *ModelInfo) (err error) {
	defer func() {
		// A model that panics in its check is refused, like one that fails
		// it: the reload goroutines have no interceptor to recover.
		if r := recover(); r != nil {
			s.metrics.panics.Inc()
			s.log.Error("panic in the model check", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	if info.Version == "" || len(info.Version) > MaxIDBytes || !utf8.ValidString(info.Version) {
		return fmt.Errorf("version %q: want 1 to %d bytes of UTF-8", info.Version, MaxIDBytes)
	}
	for name, v := range info.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("metric %s is %v", name, v)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.CheckTimeout)
	defer cancel()
	if c, ok := sc.(Checker); ok {
		if err := c.Check(ctx); err != nil {
			return fmt.Errorf("self-check: %w", err)
		}
	}
	// The trial score: the first member (by id) who had joined before
	// today; a sign-up of today cannot be scored until tomorrow, and must
	// not keep a model from loading.
	ids, err := s.store.MemberIDs("", trialMembers)
	if err != nil {
		return fmt.Errorf("trial score: %w", err)
	}
	asOf := s.opts.Now()
	for _, id := range ids {
		h, err := s.store.HistoryBefore(id, asOf)
		if err != nil {
			return fmt.Errorf("trial score: %w", err)
		}
		score, err := sc.Score(ctx, h, asOf)
		if errors.Is(err, features.ErrNotJoined) {
			continue
		}
		if err != nil {
			return fmt.Errorf("trial score of member %q: %w", id, err)
		}
		if err := checkScore(score); err != nil {
			return fmt.Errorf("trial score of member %q: %w", id, err)
		}
		return nil
	}
	if len(ids) > 0 {
		s.log.Warn("no trial score: the first members joined today", "members", len(ids))
	}
	return nil
}

// trialMembers is the number of members (the first by id) the model check
// tries for its trial score before giving up on one.
const trialMembers = 64

// checkScore checks a Scorer's output.
func checkScore(sc *Score) error {
	if sc == nil {
		return errors.New("nil score")
	}
	// The error messages are built only on failure: this runs on every
	// scoring call.
	inUnit := func(p float64) bool { return p >= 0 && p <= 1 }
	if !inUnit(sc.ChurnProbability) {
		return fmt.Errorf("churn probability %v outside [0, 1]", sc.ChurnProbability)
	}
	for i, c := range sc.NextCourses {
		if c.CourseID == "" {
			return fmt.Errorf("next course %d has no course id", i)
		}
		if !inUnit(c.Probability) {
			return fmt.Errorf("probability of course %s %v outside [0, 1]", c.CourseID, c.Probability)
		}
	}
	for _, r := range sc.Reasons {
		if math.IsNaN(r.Contribution) || math.IsInf(r.Contribution, 0) {
			return fmt.Errorf("reason %s: contribution %v", r.Name, r.Contribution)
		}
	}
	badUTF8 := func(x string) error {
		if !utf8.ValidString(x) {
			return fmt.Errorf("string %q is not valid UTF-8", x)
		}
		return nil
	}
	for _, x := range [...]string{sc.Tier, sc.Action.Kind, sc.Action.Stage, sc.Action.OfferText} {
		if err := badUTF8(x); err != nil {
			return err
		}
	}
	for _, x := range sc.Flags {
		if err := badUTF8(x); err != nil {
			return err
		}
	}
	for _, r := range sc.Reasons {
		if err := badUTF8(r.Name); err != nil {
			return err
		}
		if err := badUTF8(r.Description); err != nil {
			return err
		}
	}
	for _, c := range sc.NextCourses {
		if err := badUTF8(c.CourseID); err != nil {
			return err
		}
	}
	return nil
}

// Serve accepts gRPC connections on lis until Shutdown, after which it
// returns nil.
func (s *Server) Serve(lis net.Listener) error {
	if err := s.grpc.Serve(lis); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// MetricsHandler returns the HTTP handler of the Prometheus metrics, to be
// served on its own port (ListenAndServe does) at /metrics. It answers 500
// when the Registerer given to New is not a prometheus.Gatherer.
func (s *Server) MetricsHandler() http.Handler {
	if s.gather == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "serve: the metrics registry cannot be gathered", http.StatusInternalServerError)
		})
	}
	return promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{})
}

// ListenAndServe serves gRPC on Options.Addr, the metrics on
// Options.MetricsAddr (at /metrics) and, when Options.HTTPAddr is set, the
// JSON/HTTP face there, until ctx is done or a listener fails; then it
// shuts everything down as Shutdown does.
func (s *Server) ListenAndServe(ctx context.Context) error {
	lis, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	errc := make(chan error, 3)
	running := 1
	go func() { errc <- s.Serve(lis) }()
	s.log.Info("serving gRPC", "addr", lis.Addr().String(), "tls", s.tls != nil)

	var https []*http.Server
	serveHTTP := func(what, addr string, h http.Handler, cfg *tls.Config) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("serve: %s: %w", what, err)
		}
		if cfg != nil {
			l = tls.NewListener(l, cfg)
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: min(10*time.Second, s.opts.HTTPReadTimeout),
			ReadTimeout: s.opts.HTTPReadTimeout, IdleTimeout: s.opts.HTTPIdleTimeout}
		https = append(https, hs)
		running++
		go func() {
			err := hs.Serve(l)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("serve: %s: %w", what, err)
			}
			errc <- err
		}()
		s.log.Info("serving "+what, "addr", l.Addr().String(), "tls", cfg != nil)
		return nil
	}
	var errs []error
	if s.opts.MetricsAddr != "-" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.MetricsHandler())
		if err := serveHTTP("metrics", s.opts.MetricsAddr, mux, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if s.opts.HTTPAddr != "" && len(errs) == 0 {
		var cfg *tls.Config
		if s.tls != nil {
			cfg = s.tls.Clone()
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		if err := serveHTTP("JSON/HTTP", s.opts.HTTPAddr, s.HTTPHandler(), cfg); err != nil {
			errs = append(errs, err)
		}
	}

	if len(errs) == 0 {
		select {
		case <-ctx.Done():
		case err := <-errc:
			running--
			errs = append(errs, err)
		}
	}
	// The HTTP servers drain their requests while the gRPC servers drain
	// theirs (the JSON/HTTP face's calls among them).
	var wg sync.WaitGroup
	for _, hs := range https {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				hs.Close()
			}
		}()
	}
	errs = append(errs, s.Shutdown(context.Background()))
	wg.Wait()
	for ; running > 0; running-- {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// Shutdown stops the server gracefully: the health service turns
// NOT_SERVING, listeners close, new calls are refused, and the calls in
// flight run to their end for up to Options.ShutdownTimeout or until ctx
// is done, after which they are cancelled and Shutdown returns an error
// saying so. Later calls return the first call's result. Shutdown does not
// close the Store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.health.Shutdown()
		done := make(chan struct{})
		go func() {
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); s.grpc.GracefulStop() }()
			go func() { defer wg.Done(); s.gw.gracefulStop() }()
			wg.Wait()
			close(done)
		}()
		t := time.NewTimer(s.opts.ShutdownTimeout)
		defer t.Stop()
		defer s.gw.close()
		select {
		case <-done:
			return
		case <-t.C:
		case <-ctx.Done():
		}
		s.grpc.Stop()
		s.gw.srv.Stop()
		<-done
		s.stopErr = errors.New("serve: shutdown: calls still in flight were cancelled")
		s.log.Warn("shutdown cancelled calls in flight", "after", s.opts.ShutdownTimeout)
	})
	return s.stopErr
}

// live returns the current Scorer or UNAVAILABLE.
func (s *Server) live() (*liveScorer, error) {
	ls := s.scorer.Load()
	if ls == nil {
		return nil, status.Error(codes.Unavailable, "no model loaded")
	}
	return ls, nil
}

// asOf returns the instant of a request: t, or now when unset.
func (s *Server) asOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return s.opts.Now().UTC()
	}
	return t.AsTime()
}

func (s *Server) topK(k int32) int {
	if k == 0 {
		return s.opts.DefaultTopK
	}
	return int(k)
}

// ctxErr turns a context error into its status.
func ctxErr(err error) error {
	return status.FromContextError(err).Err()
}

// storedHistory returns the history of a member of the store before asOf.
func (s *Server) storedHistory(id string, asOf time.Time) (*History, error) {
	h, err := s.store.HistoryBefore(id, asOf)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "member %q not found", id)
	case err != nil:
		s.log.Error("read history", "member", id, "err", err)
		return nil, status.Error(codes.Internal, "reading the member state failed")
	}
	return h, nil
}

// inlineHistory converts a validated inline history, checks its course ids
// against the store, and keeps the events before asOf, sorted by time.
func (s *Server) inlineHistory(pb *retainv1.MemberHistory, asOf time.Time) (*History, error) {
	h := historyFromPB(pb)
	var ids []string
	for _, a := range h.Attendance {
		if a.CourseID != "" {
			ids = append(ids, a.CourseID)
		}
	}
	if len(ids) > 0 {
		known, err := s.store.Courses(ids)
		if err != nil {
			s.log.Error("read courses", "err", err)
			return nil, status.Error(codes.Internal, "reading the timetable failed")
		}
		v := &violations{lim: s.opts.limits()}
		for i, a := range h.Attendance {
			if _, ok := known[a.CourseID]; a.CourseID != "" && !ok {
				v.add(fmt.Sprintf("history.attendance[%d].course_id", i), "unknown course %q", shorten(a.CourseID))
			}
		}
		if err := v.err(); err != nil {
			return nil, err
		}
	}
	h.Attendance = slices.DeleteFunc(h.Attendance, func(a datasets.Attendance) bool { return !a.TS.Before(asOf) })
	h.Transactions = slices.DeleteFunc(h.Transactions, func(t datasets.Transaction) bool { return !t.TS.Before(asOf) })
	slices.SortStableFunc(h.Attendance, func(a, b datasets.Attendance) int {
		return cmpEvent(a.TS, b.TS, a.EventID, b.EventID)
	})
	slices.SortStableFunc(h.Transactions, func(a, b datasets.Transaction) int {
		return cmpEvent(a.TS, b.TS, a.EventID, b.EventID)
	})
	return h, nil
}

func cmpEvent(ta, tb time.Time, ia, ib string) int {
	if c := ta.Compare(tb); c != 0 {
		return c
	}
	return strings.Compare(ia, ib)
}

// history returns the history of a scoring request's subject.
func (s *Server) history(memberID *string, inline *retainv1.MemberHistory, asOf time.Time) (*History, error) {
	if memberID != nil {
		return s.storedHistory(*memberID, asOf)
	}
	return s.inlineHistory(inline, asOf)
}

// score scores h with ls and builds the MemberScore.
func (s *Server) score(ctx context.Context, ls *liveScorer, h *History, asOf time.Time, topK int) (*retainv1.MemberScore, error) {
	sc, err := ls.s.Score(ctx, h, asOf)
	if err != nil {
		return nil, s.scoringErr(ctx, ls, h, err, asOf)
	}
	return s.memberScore(ls, h, sc, asOf, topK)
}

// memberScore checks ls's Score sc of h and builds the MemberScore.
func (s *Server) memberScore(ls *liveScorer, h *History, sc *Score, asOf time.Time, topK int) (*retainv1.MemberScore, error) {
	if err := checkScore(sc); err != nil {
		s.log.Error("model returned an invalid score", "member", h.Member.MemberID, "version", ls.info.Version, "err", err)
		return nil, status.Error(codes.Internal, "the model returned an invalid score")
	}
	courses, err := s.suggestions(sc.NextCourses, topK, asOf)
	if err != nil {
		return nil, err
	}
	s.metrics.churn.Observe(sc.ChurnProbability)
	ms := &retainv1.MemberScore{
		MemberId:         h.Member.MemberID,
		ChurnProbability: sc.ChurnProbability,
		RiskLevel:        s.risk(sc.ChurnProbability),
		Flags:            slices.Clone(sc.Flags),
		Tier:             sc.Tier,
		NextCourses:      courses,
		ModelVersion:     ls.info.Version,
		ScoredAt:         timestamppb.New(s.opts.Now()),
		AsOf:             timestamppb.New(asOf),
		AlreadyChurned:   sc.AlreadyChurned,
	}
	for _, r := range sc.Reasons {
		ms.Reasons = append(ms.Reasons, &retainv1.Reason{Name: r.Name, Description: r.Description, Contribution: r.Contribution})
	}
	if sc.Action != (Action{}) {
		ms.RecommendedAction = &retainv1.Action{Kind: sc.Action.Kind, Stage: sc.Action.Stage, OfferText: sc.Action.OfferText}
	}
	return ms, nil
}

// scoringErr turns a Scorer's error scoring h as of asOf into the status
// the client sees: context errors keep their meaning; a member who had not
// joined by as_of's day (features.ErrNotJoined: a sign-up of today, or an
// as_of before the join) is FAILED_PRECONDITION, with a
// google.rpc.PreconditionFailure naming the member; anything else is
// logged and INTERNAL.
func (s *Server) scoringErr(ctx context.Context, ls *liveScorer, h *History, err error, asOf time.Time) error {
	if ctx.Err() != nil {
		return ctxErr(ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ctxErr(err)
	}
	if errors.Is(err, features.ErrNotJoined) {
		return notJoinedErr(h, asOf)
	}
	s.log.Error("scoring failed", "member", h.Member.MemberID, "version", ls.info.Version, "err", err)
	return status.Error(codes.Internal, "scoring failed")
}

// NotJoinedViolation is the google.rpc.PreconditionFailure violation type
// of a scoring call's FAILED_PRECONDITION for a member who had not joined
// by as_of's day; the violation's subject is "member/<member_id>".
const NotJoinedViolation = "NOT_JOINED"

// notJoinedErr is the status of scoring h as of asOf before or on h's
// join day (features.ErrNotJoined): the features of a member start the day
// after the join, so a sign-up of today is scored from tomorrow.
func notJoinedErr(h *History, asOf time.Time) error {
	id := shorten(h.Member.MemberID)
	desc := fmt.Sprintf("member %q joined %s; as_of %s must fall on a later day (days in the model's time zone)",
		id, h.Member.JoinedAt.UTC().Format(time.RFC3339), asOf.UTC().Format(time.RFC3339))
	st := status.New(codes.FailedPrecondition, "member not joined by as_of: "+desc)
	if d, err := st.WithDetails(&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
		Type: NotJoinedViolation, Subject: "member/" + id, Description: desc,
	}}}); err == nil {
		st = d
	}
	return st.Err()
}

// isNotJoined reports whether st is notJoinedErr's status.
func isNotJoined(st *status.Status) bool {
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.GetViolations() {
				if v.GetType() == NotJoinedViolation {
					return true
				}
			}
		}
	}
	return false
}

// recommend gives h's next-class suggestions through the Scorer's cheap
// Recommender path; ok is false when the Scorer has none.
func (s *Server) recommend(ctx context.Context, ls *liveScorer, h *History, asOf time.Time, topK int) (_ []*retainv1.CourseSuggestion, ok bool, _ error) {
	r, ok := ls.s.(Recommender)
	if !ok {
		return nil, false, nil
	}
	next, err := r.Recommend(ctx, h, asOf)
	if err != nil {
		return nil, true, s.scoringErr(ctx, ls, h, err, asOf)
	}
	if err := checkScore(&Score{NextCourses: next}); err != nil {
		s.log.Error("model returned invalid suggestions", "member", h.Member.MemberID, "version", ls.info.Version, "err", err)
		return nil, true, status.Error(codes.Internal, "the model returned an invalid score")
	}
	courses, err := s.suggestions(next, topK, asOf)
	return courses, true, err
}

// risk buckets a churn probability by Options.Risk.
func (s *Server) risk(p float64) retainv1.RiskLevel {
	switch s.opts.Risk.Level(p) {
	case report.RiskHigh:
		return retainv1.RiskLevel_RISK_LEVEL_HIGH
	case report.RiskMedium:
		return retainv1.RiskLevel_RISK_LEVEL_MEDIUM
	}
	return retainv1.RiskLevel_RISK_LEVEL_LOW
}

// suggestions turns the first topK course probabilities into suggestions
// with the courses' names and next sessions from the store's timetable.
func (s *Server) suggestions(next []CourseProbability, topK int, asOf time.Time) ([]*retainv1.CourseSuggestion, error) {
	next = next[:min(topK, len(next))]
	if len(next) == 0 {
		return nil, nil
	}
	ids := make([]string, len(next))
	for i, c := range next {
		ids[i] = c.CourseID
	}
	known, err := s.store.Courses(ids)
	if err != nil {
		s.log.Error("read courses", "err", err)
		return nil, status.Error(codes.Internal, "reading the timetable failed")
	}
	out := make([]*retainv1.CourseSuggestion, len(next))
	for i, c := range next {
		cs := &retainv1.CourseSuggestion{CourseId: c.CourseID, Probability: c.Probability}
		if co, ok := known[c.CourseID]; ok {
			cs.Name, cs.Category = co.Name, co.Category
			for _, t := range nextSessions(&co, asOf, s.loc, s.opts.SessionsPerCourse) {
				cs.NextSessions = append(cs.NextSessions, &retainv1.Session{
					CourseId: co.CourseID, StartsAt: timestamppb.New(t), Club: co.Club, Coach: co.Coach,
				})
			}
		}
		out[i] = cs
	}
	return out, nil
}

// ScoreMember implements retainv1.RetainServiceServer.
func (s *Server) ScoreMember(ctx context.Context, req *retainv1.ScoreMemberRequest) (*retainv1.ScoreMemberResponse, error) {
	if err := validateScore(req, s.opts.limits()); err != nil {
		return nil, err
	}
	var id *string
	if x, ok := req.GetSubject().(*retainv1.ScoreMemberRequest_MemberId); ok {
		id = &x.MemberId
	}
	ms, err := s.scoreSubject(ctx, id, req.GetHistory(), req.GetAsOf(), req.GetTopK())
	if err != nil {
		return nil, err
	}
	return &retainv1.ScoreMemberResponse{Score: ms}, nil
}

// scoreSubject scores one member, named by id (from the store) or given
// inline, as of asOf (nil = now), with the current model.
func (s *Server) scoreSubject(ctx context.Context, id *string, inline *retainv1.MemberHistory, asOf *timestamppb.Timestamp, topK int32) (*retainv1.MemberScore, error) {
	ls, err := s.live()
	if err != nil {
		return nil, err
	}
	t := s.asOf(asOf)
	h, err := s.history(id, inline, t)
	if err != nil {
		return nil, err
	}
	return s.score(ctx, ls, h, t, s.topK(topK))
}

// scoreStored scores a member of the store; a member-level failure comes
// back in the result's err, a call-level one (the context) as an error. A
// member skip leaves out gives neither a score nor an error (with
// notJoined set when it had not joined by asOf).
func (s *Server) scoreStored(ctx context.Context, ls *liveScorer, id string, asOf time.Time, topK int, skip storedSkips) (storedResult, error) {
	if err := ctx.Err(); err != nil {
		return storedResult{}, ctxErr(err)
	}
	h, err := s.storedHistory(id, asOf)
	if err == nil {
		var ms *retainv1.MemberScore
		var skipped bool
		if ms, skipped, err = s.scoreOrSkip(ctx, ls, h, asOf, topK, skip.churned); err == nil {
			if skipped {
				s.metrics.skipped.Inc()
				return storedResult{}, nil
			}
			return storedResult{score: ms}, nil
		}
	}
	if ctx.Err() != nil {
		return storedResult{}, ctxErr(ctx.Err())
	}
	st := status.Convert(err)
	if skip.notJoined && st.Code() == codes.FailedPrecondition && isNotJoined(st) {
		return storedResult{notJoined: true}, nil
	}
	return storedResult{err: &retainv1.ScoreError{MemberId: id, Code: int32(st.Code()), Message: st.Message()}}, nil
}

// scoreOrSkip scores h; with skipChurned, a member who had already
// churned at asOf is skipped instead (true, no score).
func (s *Server) scoreOrSkip(ctx context.Context, ls *liveScorer, h *History, asOf time.Time, topK int, skipChurned bool) (*retainv1.MemberScore, bool, error) {
	if skipChurned {
		// The cheap test first, when the Scorer has one: no forward pass
		// for a member who is skipped. (A manyScorer, BundleScorer, does
		// not come here: scoreStoredMany skips within scoreMany.)
		if ct, ok := ls.s.(ChurnTester); ok {
			churned, err := ct.AlreadyChurned(ctx, h, asOf)
			switch {
			case err != nil:
				return nil, false, s.scoringErr(ctx, ls, h, err, asOf)
			case churned:
				return nil, true, nil
			}
		}
	}
	ms, err := s.score(ctx, ls, h, asOf, topK)
	if err != nil {
		return nil, false, err
	}
	return ms, skipChurned && ms.GetAlreadyChurned(), nil
}

// ScoreMembers implements retainv1.RetainServiceServer.
func (s *Server) ScoreMembers(ctx context.Context, req *retainv1.ScoreMembersRequest) (*retainv1.ScoreMembersResponse, error) {
	if err := validateScoreMembers(req, s.opts.limits()); err != nil {
		return nil, err
	}
	ls, err := s.live()
	if err != nil {
		return nil, err
	}
	asOf, topK := s.asOf(req.GetAsOf()), s.topK(req.GetTopK())
	rs, err := s.scoreStoredMany(ctx, ls, req.GetMemberIds(), asOf, topK, storedSkips{})
	if err != nil {
		return nil, err
	}
	resp := &retainv1.ScoreMembersResponse{}
	for _, r := range rs {
		if r.err != nil {
			resp.Errors = append(resp.Errors, r.err)
			continue
		}
		resp.Scores = append(resp.Scores, r.score)
	}
	return resp, nil
}

// streamPage is the number of member ids StreamScores reads from the store
// at a time, each page in its own short read transaction.
const streamPage = 256

// SkippedChurnedTrailer is the trailer metadata key of StreamScores that
// holds the number of members a whole-store pull left out because they
// had already churned at as_of (decimal; "0" when none).
const SkippedChurnedTrailer = "retain-skipped-churned"

// SkippedNotJoinedTrailer is the trailer metadata key of StreamScores that
// holds the number of members a whole-store pull left out because they
// had not joined by as_of's day (decimal; "0" when none).
const SkippedNotJoinedTrailer = "retain-skipped-not-joined"

// StreamScores implements retainv1.RetainServiceServer. One model version
// scores a whole stream. A whole-store pull (no member_ids) skips the
// members who had already churned at as_of (Score.AlreadyChurned) unless
// include_churned, and those who had not joined by as_of's day, and says
// how many in the SkippedChurnedTrailer and SkippedNotJoinedTrailer
// trailers; listed members are always scored (one not yet joined gets
// its FAILED_PRECONDITION error entry).
func (s *Server) StreamScores(req *retainv1.StreamScoresRequest, stream grpc.ServerStreamingServer[retainv1.StreamScoresResponse]) error {
	if err := validateStream(req, s.opts.limits()); err != nil {
		return err
	}
	ls, err := s.live()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	asOf, topK := s.asOf(req.GetAsOf()), s.topK(req.GetTopK())
	skipped, notJoined := 0, 0
	// send scores ids and sends the results in order, manyChunk members
	// at a time (one network run each).
	send := func(ids []string, skip storedSkips) error {
		for lo := 0; lo < len(ids); lo += manyChunk {
			rs, err := s.scoreStoredMany(ctx, ls, ids[lo:min(lo+manyChunk, len(ids))], asOf, topK, skip)
			if err != nil {
				return err
			}
			for _, r := range rs {
				resp := &retainv1.StreamScoresResponse{}
				switch {
				case r.err != nil:
					resp.Result = &retainv1.StreamScoresResponse_Error{Error: r.err}
				case r.score != nil:
					resp.Result = &retainv1.StreamScoresResponse_Score{Score: r.score}
				case r.notJoined:
					notJoined++
					s.metrics.notJoined.Inc()
					continue
				default:
					skipped++
					continue
				}
				if err := stream.Send(resp); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if ids := req.GetMemberIds(); len(ids) > 0 {
		return send(ids, storedSkips{})
	}
	defer func() {
		stream.SetTrailer(metadata.Pairs(SkippedChurnedTrailer, strconv.Itoa(skipped),
			SkippedNotJoinedTrailer, strconv.Itoa(notJoined)))
	}()
	skip := storedSkips{churned: !req.GetIncludeChurned(), notJoined: true}
	after := req.GetStartAfter()
	for {
		ids, err := s.store.MemberIDs(after, streamPage)
		if err != nil {
			s.log.Error("list members", "err", err)
			return status.Error(codes.Internal, "reading the member state failed")
		}
		if err := send(ids, skip); err != nil {
			return err
		}
		if len(ids) < streamPage {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// RecommendClasses implements retainv1.RetainServiceServer.
func (s *Server) RecommendClasses(ctx context.Context, req *retainv1.RecommendClassesRequest) (*retainv1.RecommendClassesResponse, error) {
	if err := validateRecommend(req, s.opts.limits()); err != nil {
		return nil, err
	}
	var id *string
	if x, ok := req.GetSubject().(*retainv1.RecommendClassesRequest_MemberId); ok {
		id = &x.MemberId
	}
	ls, err := s.live()
	if err != nil {
		return nil, err
	}
	asOf := s.asOf(req.GetAsOf())
	h, err := s.history(id, req.GetHistory(), asOf)
	if err != nil {
		return nil, err
	}
	if courses, ok, err := s.recommend(ctx, ls, h, asOf, s.topK(req.GetTopK())); ok {
		if err != nil {
			return nil, err
		}
		return &retainv1.RecommendClassesResponse{
			MemberId: h.Member.MemberID, Courses: courses, ModelVersion: ls.info.Version, ScoredAt: timestamppb.New(s.opts.Now()),
		}, nil
	}
	ms, err := s.score(ctx, ls, h, asOf, s.topK(req.GetTopK()))
	if err != nil {
		return nil, err
	}
	return &retainv1.RecommendClassesResponse{
		MemberId: ms.MemberId, Courses: ms.NextCourses, ModelVersion: ms.ModelVersion, ScoredAt: ms.ScoredAt,
	}, nil
}

// IngestEvents implements retainv1.RetainServiceServer. The response is
// sent only after the store committed and fsynced the batch. A call whose
// client gave up may still have been committed; retrying it is safe, since
// events are idempotent by event_id.
func (s *Server) IngestEvents(ctx context.Context, req *retainv1.IngestEventsRequest) (*retainv1.IngestEventsResponse, error) {
	if err := validateIngest(req, s.opts.limits()); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(err)
	}
	batch := batchFromPB(req)
	res, err := s.store.AppendEvents(batch)
	if err != nil {
		var re *RefError
		if errors.As(err, &re) {
			code := codes.InvalidArgument
			switch {
			case errors.Is(err, datasets.ErrUnknownMember):
				code = codes.NotFound
			case errors.Is(err, ErrEventConflict):
				code = codes.AlreadyExists
			}
			st := status.New(code, strings.TrimPrefix(re.Error(), "serve: "))
			if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: re.Field, Description: re.Description()},
			}}); derr == nil {
				st = d
			}
			return nil, st.Err()
		}
		s.log.Error("append events", "err", err)
		return nil, status.Error(codes.Internal, "storing the events failed")
	}
	s.metrics.events.WithLabelValues("accepted").Add(float64(res.Attendance + res.Transactions))
	s.metrics.events.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	s.noteIngested(batch) // risk alerts: rescore in the background
	return &retainv1.IngestEventsResponse{
		Accepted:        int32(res.Attendance + res.Transactions),
		Duplicates:      int32(res.Duplicates),
		MembersUpserted: int32(res.Members),
		CoursesUpserted: int32(res.Courses),
	}, nil
}

// GetModelInfo implements retainv1.RetainServiceServer.
func (s *Server) GetModelInfo(ctx context.Context, req *retainv1.GetModelInfoRequest) (*retainv1.GetModelInfoResponse, error) {
	ls, err := s.live()
	if err != nil {
		return nil, err
	}
	info := ls.info
	resp := &retainv1.GetModelInfoResponse{
		Version:        info.Version,
		TrainedAt:      pbTime(info.TrainedAt),
		FeatureNames:   slices.Clone(info.FeatureNames),
		RiskThresholds: &retainv1.RiskThresholds{Medium: s.opts.Risk.Medium, High: s.opts.Risk.High},
	}
	if len(info.Metrics) > 0 {
		resp.Metrics = make(map[string]float64, len(info.Metrics))
		for k, v := range info.Metrics {
			resp.Metrics[k] = v
		}
	}
	return resp, nil
}
