package serve

import (
	"errors"
	"fmt"
	"math"
	"time"

	"retain/datasets"
	"retain/serve/report"
)

// Options configures a Server. A zero field takes its default, stated in
// its comment; DefaultOptions returns every default filled in. Flags that
// set these live in cmd/retain.
type Options struct {
	// Addr is the gRPC listen address used by ListenAndServe.
	// Default "127.0.0.1:7070".
	Addr string
	// MetricsAddr is the HTTP listen address of /metrics used by
	// ListenAndServe; "-" serves no metrics. Default "127.0.0.1:9090".
	MetricsAddr string
	// HTTPAddr is the listen address of the JSON/HTTP face of the API
	// (see HTTPHandler) used by ListenAndServe, with the same TLS as gRPC.
	// Default "": no JSON/HTTP face.
	HTTPAddr string

	// TLSCertFile and TLSKeyFile are a PEM certificate chain and key for
	// TLS. Both empty (the default) serves plaintext, which sends tokens
	// in the clear: use it only on a trusted network or behind a proxy
	// that terminates TLS.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates. When set, every client must present a certificate
	// they sign (mutual TLS), in addition to its token. Needs TLSCertFile.
	// Default "": no client certificates.
	ClientCAFile string

	// Tokens are the API clients and their scopes (see ParseTokens,
	// ReadTokensFile, TokensFromEnv). Required, with at least one client,
	// unless NoAuth. Default nil.
	Tokens *Tokens
	// NoAuth serves without tokens: every caller has every scope. For
	// tests and local experiments only. Default false.
	NoAuth bool
	// NoReflection turns off the gRPC server reflection service, which is
	// on by default and needs no token (it tells only what docs/api.md
	// tells).
	NoReflection bool

	// Risk holds the churn probabilities at which the risk level turns
	// MEDIUM and HIGH. Default {Medium: 0.3, High: 0.6}.
	Risk RiskThresholds
	// TimeZone is the IANA zone of the timetable's start times, used to
	// place a course's next sessions. Default "UTC".
	TimeZone string
	// DefaultTopK is the number of next-course suggestions when a request
	// asks for 0. Default 3.
	DefaultTopK int
	// MaxTopK is the most suggestions a request may ask for. Default 50.
	MaxTopK int
	// SessionsPerCourse is the number of upcoming sessions given with each
	// suggested course. Default 2.
	SessionsPerCourse int

	// MaxRecvMsgBytes bounds a request message. 4 MiB holds an inline
	// history of some 40,000 events; larger requests fail with
	// RESOURCE_EXHAUSTED before they are decoded. Default 4 MiB.
	MaxRecvMsgBytes int
	// MaxSendMsgBytes bounds a response message; a ScoreMembers response
	// of 1000 members is about 1 MiB. Default 16 MiB.
	MaxSendMsgBytes int
	// MaxConcurrentStreams bounds the calls in flight on one client
	// connection. Default 128.
	MaxConcurrentStreams uint32
	// MaxBatchMembers is the most member ids in a ScoreMembers call.
	// Default 1000.
	MaxBatchMembers int
	// MaxStreamMembers is the most member ids listed in a StreamScores
	// call (an empty list streams every member). Default 100,000.
	MaxStreamMembers int
	// MaxIngestRecords is the most members, courses, attendance and
	// transactions together in an IngestEvents call. Default 10,000.
	MaxIngestRecords int
	// MaxHistoryEvents is the most events in an inline history.
	// Default 20,000.
	MaxHistoryEvents int
	// MaxAmount is the largest absolute transaction amount accepted, in
	// minor units, as in datasets.CheckOptions. Default 10,000,000
	// (datasets.DefaultMaxAmount).
	MaxAmount int64
	// MaxClockSkew is how far past the server's clock a timestamp may be
	// before it counts as in the future. Default 5 minutes.
	MaxClockSkew time.Duration

	// RequestTimeout caps every unary call, whatever deadline the client
	// sets (a shorter client deadline wins). Default 30 seconds.
	RequestTimeout time.Duration
	// ShutdownTimeout is how long Shutdown waits for calls in flight
	// before it cancels them. Default 10 seconds.
	ShutdownTimeout time.Duration
	// CheckTimeout bounds the check of a new Scorer in SetScorer.
	// Default 30 seconds.
	CheckTimeout time.Duration
	// HTTPReadTimeout bounds the reading of a whole request, body
	// included, on the JSON/HTTP face and the metrics port: a client that
	// trickles a body (before any token is checked) holds a connection no
	// longer. Default 30 seconds.
	HTTPReadTimeout time.Duration
	// HTTPIdleTimeout closes a kept-alive HTTP connection idle this long.
	// Default 2 minutes.
	HTTPIdleTimeout time.Duration

	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// RiskThresholds are the churn probabilities at which the risk level turns
// MEDIUM and HIGH: p < Medium is LOW, Medium <= p < High is MEDIUM, and
// p >= High is HIGH. 0 < Medium <= High <= 1. It is the report's type, so
// that the server, batch scoring, the report and the playbook's risk
// condition share one Level.
type RiskThresholds = report.RiskThresholds

// DefaultOptions returns the default Options.
func DefaultOptions() Options {
	return Options{
		Addr:                 "127.0.0.1:7070",
		MetricsAddr:          "127.0.0.1:9090",
		Risk:                 RiskThresholds{Medium: 0.3, High: 0.6},
		TimeZone:             "UTC",
		DefaultTopK:          3,
		MaxTopK:              50,
		SessionsPerCourse:    2,
		MaxRecvMsgBytes:      4 << 20,
		MaxSendMsgBytes:      16 << 20,
		MaxConcurrentStreams: 128,
		MaxBatchMembers:      1000,
		MaxStreamMembers:     100_000,
		MaxIngestRecords:     10_000,
		MaxHistoryEvents:     20_000,
		MaxAmount:            datasets.DefaultMaxAmount,
		MaxClockSkew:         5 * time.Minute,
		RequestTimeout:       30 * time.Second,
		ShutdownTimeout:      10 * time.Second,
		CheckTimeout:         30 * time.Second,
		HTTPReadTimeout:      30 * time.Second,
		HTTPIdleTimeout:      2 * time.Minute,
		Now:                  time.Now,
	}
}

// withDefaults returns o with every zero field set to its default, or an
// error naming the first field that is out of range.
func (o Options) withDefaults() (Options, error) {
	d := DefaultOptions()
	setStr := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setStr(&o.Addr, d.Addr)
	setStr(&o.MetricsAddr, d.MetricsAddr)
	setStr(&o.TimeZone, d.TimeZone)
	if o.Risk == (RiskThresholds{}) {
		o.Risk = d.Risk
	}
	setInt(&o.DefaultTopK, d.DefaultTopK)
	setInt(&o.MaxTopK, d.MaxTopK)
	setInt(&o.SessionsPerCourse, d.SessionsPerCourse)
	setInt(&o.MaxRecvMsgBytes, d.MaxRecvMsgBytes)
	setInt(&o.MaxSendMsgBytes, d.MaxSendMsgBytes)
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = d.MaxConcurrentStreams
	}
	setInt(&o.MaxBatchMembers, d.MaxBatchMembers)
	setInt(&o.MaxStreamMembers, d.MaxStreamMembers)
	setInt(&o.MaxIngestRecords, d.MaxIngestRecords)
	setInt(&o.MaxHistoryEvents, d.MaxHistoryEvents)
	if o.MaxAmount == 0 {
		o.MaxAmount = d.MaxAmount
	}
	setDur(&o.MaxClockSkew, d.MaxClockSkew)
	setDur(&o.RequestTimeout, d.RequestTimeout)
	setDur(&o.ShutdownTimeout, d.ShutdownTimeout)
	setDur(&o.CheckTimeout, d.CheckTimeout)
	setDur(&o.HTTPReadTimeout, d.HTTPReadTimeout)
	setDur(&o.HTTPIdleTimeout, d.HTTPIdleTimeout)
	if o.Now == nil {
		o.Now = d.Now
	}

	r := o.Risk
	if !(r.Medium > 0 && r.Medium <= r.High && r.High <= 1) || math.IsNaN(r.Medium) || math.IsNaN(r.High) {
		return o, fmt.Errorf("serve: options: Risk %+v: want 0 < Medium <= High <= 1", r)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"DefaultTopK", o.DefaultTopK}, {"MaxTopK", o.MaxTopK}, {"SessionsPerCourse", o.SessionsPerCourse},
		{"MaxRecvMsgBytes", o.MaxRecvMsgBytes}, {"MaxSendMsgBytes", o.MaxSendMsgBytes},
		{"MaxBatchMembers", o.MaxBatchMembers}, {"MaxStreamMembers", o.MaxStreamMembers},
		{"MaxIngestRecords", o.MaxIngestRecords}, {"MaxHistoryEvents", o.MaxHistoryEvents},
	} {
		if f.v < 0 {
			return o, fmt.Errorf("serve: options: %s %d is negative", f.name, f.v)
		}
	}
	if o.DefaultTopK > o.MaxTopK {
		return o, fmt.Errorf("serve: options: DefaultTopK %d above MaxTopK %d", o.DefaultTopK, o.MaxTopK)
	}
	if o.MaxAmount < 0 {
		return o, fmt.Errorf("serve: options: MaxAmount %d is negative", o.MaxAmount)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"MaxClockSkew", o.MaxClockSkew}, {"RequestTimeout", o.RequestTimeout},
		{"ShutdownTimeout", o.ShutdownTimeout}, {"CheckTimeout", o.CheckTimeout},
		{"HTTPReadTimeout", o.HTTPReadTimeout}, {"HTTPIdleTimeout", o.HTTPIdleTimeout},
	} {
		if f.v < 0 {
			return o, fmt.Errorf("serve: options: %s %v is negative", f.name, f.v)
		}
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return o, errors.New("serve: options: TLSCertFile and TLSKeyFile go together")
	}
	if o.ClientCAFile != "" && o.TLSCertFile == "" {
		return o, errors.New("serve: options: ClientCAFile needs TLSCertFile and TLSKeyFile")
	}
	if o.NoAuth && o.Tokens != nil {
		return o, errors.New("serve: options: NoAuth with Tokens set")
	}
	if !o.NoAuth && (o.Tokens == nil || o.Tokens.Len() == 0) {
		return o, errNoTokens
	}
	return o, nil
}
