// Package metrics measures the webhooks module in the application's
// Prometheus registry (docs/OPERATIONS.md, "Webhooks").
package metrics

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

// Metrics implements app.Metrics.
type Metrics struct {
	attempts *prometheus.CounterVec
	duration prometheus.Histogram
}

var _ app.Metrics = (*Metrics)(nil)

// New registers notifier_webhook_attempts_total{result} (both results
// present from the start, at 0) and
// notifier_webhook_attempt_duration_seconds in reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("new webhook metrics: nil registerer")
	}
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_webhook_attempts_total",
			Help: "Webhook calls made, by result (success: a 2xx answer; failure: anything else).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "notifier_webhook_attempt_duration_seconds",
			Help:    "How long a webhook call took, answer or failure.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	m.attempts.WithLabelValues(domain.ResultSuccess)
	m.attempts.WithLabelValues(domain.ResultFailure)
	return m, nil
}

// Attempt implements app.Metrics.
func (m *Metrics) Attempt(result string, d time.Duration) {
	if result != domain.ResultSuccess {
		result = domain.ResultFailure
	}
	m.attempts.WithLabelValues(result).Inc()
	m.duration.Observe(d.Seconds())
}
