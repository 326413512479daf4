package serve

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics (docs/api.md lists them).
type metrics struct {
	requests  *prometheus.CounterVec   // by method and code
	errors    *prometheus.CounterVec   // by method and code, code != OK
	latency   *prometheus.HistogramVec // by method
	inFlight  prometheus.Gauge
	model     *prometheus.GaugeVec // 1 for the version that scores
	churn     prometheus.Histogram
	events    *prometheus.CounterVec // by result: accepted, duplicate
	panics    prometheus.Counter
	skipped   prometheus.Counter     // already-churned members left out of whole-store pulls
	notJoined prometheus.Counter     // members not yet joined at as_of, left out of whole-store pulls
	reloads   *prometheus.CounterVec // by result: ok, refused
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retain_grpc_requests_total",
			Help: "gRPC calls finished, by full method and status code.",
		}, []string{"method", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retain_grpc_errors_total",
			Help: "gRPC calls finished with a status other than OK, by full method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "retain_grpc_request_duration_seconds",
			Help:    "Duration of gRPC calls (of whole streams for streaming calls), by full method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "retain_grpc_requests_in_flight",
			Help: "gRPC calls in progress.",
		}),
		model: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "retain_model_version_info",
			Help: "1 for the version of the model that scores; no series while no model is loaded.",
		}, []string{"version"}),
		churn: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "retain_churn_probability",
			Help:    "Churn probabilities of the scores served.",
			Buckets: prometheus.LinearBuckets(0.05, 0.05, 19),
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retain_ingested_events_total",
			Help: "Events received by IngestEvents and committed, by result (accepted, duplicate).",
		}, []string{"result"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "retain_panics_recovered_total",
			Help: "Panics in handlers, recovered and answered with INTERNAL.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "retain_stream_skipped_churned_total",
			Help: "Members left out of whole-store StreamScores pulls because they had already churned at as_of.",
		}),
		notJoined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "retain_stream_skipped_not_joined_total",
			Help: "Members left out of whole-store StreamScores pulls because they had not joined by as_of's day.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retain_model_reloads_total",
			Help: "Reloads of the model bundle and playbook (LoadBundle, LoadModel: SIGHUP, file watch), by result (ok, refused).",
		}, []string{"result"}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.errors, m.latency, m.inFlight, m.model, m.churn, m.events, m.panics, m.skipped, m.notJoined, m.reloads} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("serve: register metrics: %w", err)
	}
	return m, nil
}
