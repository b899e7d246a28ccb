package notifiertest

import (
	"net/http"
	"testing"

	"github.com/notifier/notifier/platform/metrics"
)

// Metrics scrapes GET /metrics and returns its values by series, such as
// `notifier_deliveries_total{channel="email",lane="bulk",result="sent"}`
// (see metrics.Series). The series of the application's own registry
// (deliveries, postings, outbox) are this Notifier's alone, even with
// several in one test binary.
func (n *Notifier) Metrics(t testing.TB) metrics.Values {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, n.URL+"/metrics", nil)
	if err != nil {
		t.Fatalf("notifiertest: %v", err)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("notifiertest: GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("notifiertest: GET /metrics: %d", resp.StatusCode)
	}
	v, err := metrics.ParseText(resp.Body)
	if err != nil {
		t.Fatalf("notifiertest: %v", err)
	}
	return v
}
