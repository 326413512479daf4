package serve

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callInfo is what the inner interceptors tell the outer one about a call.
type callInfo struct {
	client string // set by authorize
}

type callInfoKey struct{}

func setClient(ctx context.Context, name string) {
	if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		ci.client = name
	}
}

// observeUnary records metrics and a log line for every call, and makes
// sure every error leaving the server is a status.
func (s *Server) observeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ci := &callInfo{}
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	resp, err := handler(context.WithValue(ctx, callInfoKey{}, ci), req)
	err = s.observe(ctx, info.FullMethod, start, ci, err)
	return resp, err
}

func (s *Server) observeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	ci := &callInfo{}
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	err := handler(srv, &ctxStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), callInfoKey{}, ci)})
	return s.observe(ss.Context(), info.FullMethod, start, ci, err)
}

// observe records a finished call and returns its error as a status error.
func (s *Server) observe(ctx context.Context, method string, start time.Time, ci *callInfo, err error) error {
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				err = ctxErr(err)
			} else {
				s.log.Error("handler returned a non-status error", "method", method, "err", err)
				err = status.Error(codes.Internal, "internal error")
			}
		}
	}
	code := status.Code(err)
	d := time.Since(start)
	s.metrics.requests.WithLabelValues(method, code.String()).Inc()
	if code != codes.OK {
		s.metrics.errors.WithLabelValues(method, code.String()).Inc()
	}
	s.metrics.latency.WithLabelValues(method).Observe(d.Seconds())

	level := slog.LevelDebug
	switch code {
	case codes.OK:
	case codes.Internal, codes.Unknown, codes.DataLoss:
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	if s.log.Enabled(ctx, level) {
		attrs := []slog.Attr{
			slog.String("method", method), slog.String("code", code.String()),
			slog.Duration("duration", d), slog.String("client", ci.client),
		}
		if p := callPeer(ctx); p != "" {
			attrs = append(attrs, slog.String("peer", p))
		}
		if err != nil {
			attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
		}
		s.log.LogAttrs(ctx, level, "call", attrs...)
	}
	return err
}

// recoverUnary turns a panic below it into INTERNAL: a bad request never
// takes the server down.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, s.recovered(info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.recovered(info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

func (s *Server) recovered(method string, r any) error {
	s.metrics.panics.Inc()
	s.log.Error("panic in handler", "method", method, "panic", r, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

// deadlineUnary caps a unary call at Options.RequestTimeout; a shorter
// deadline of the client's stays.
func (s *Server) deadlineUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	return handler(ctx, req)
}
