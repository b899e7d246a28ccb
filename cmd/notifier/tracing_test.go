package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP endpoint that keeps the names of the spans it
// is sent, by service.
type collector struct {
	mu    sync.Mutex
	spans map[string][]string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans[service] = append(c.spans[service], s.GetName())
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (c *collector) names(service string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans[service]...)
}

func TestWithAnOTLPEndpointTheSpansReachTheCollectorByTheTimeServeExits(t *testing.T) {
	t.Parallel()
	sink := &collector{spans: map[string][]string{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	addr := freeAddr(t)

	cmd := exec.Command(binary, "serve")
	cmd.Env = processEnv(map[string]string{"NOTIFIER_HTTP_ADDR": addr, "OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL})
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz") //nolint:noctx // a probe
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "notifier did not start: %s", &logs)

	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+addr+"/api/v1/events", strings.NewReader(
		`{"from_service": "auth", "event": "user_signed_up", "details": {"username": "anna", "user": "https://auth/api/v1/users/1c5e2d4a-6b8f-4a1e-9d3c-5f7a8b9c0d11/"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer dev-service-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "message captured") }, 30*time.Second, 20*time.Millisecond)

	// The batch is still buffered (5 s); stopping flushes it.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("notifier did not stop")
	}
	names := sink.names("notifier")
	require.Contains(t, names, "POST /api/v1/events")
	require.Contains(t, names, "delivery.DeliverBatch.transactional")
	require.Contains(t, names, "capture.send")
	require.Contains(t, logs.String(), "trace_id=", "the log names the traces")
}
