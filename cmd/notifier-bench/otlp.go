package main

import (
	"compress/gzip"
	"io"
	"net/http"
	"sync"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSink is the trace collector of a -traces run: an OTLP/HTTP endpoint
// (POST /v1/traces, protobuf) that decodes each export, as a collector
// would, keeps only counts and answers 200, so that the notifier pays the
// whole cost of exporting its spans.
type otlpSink struct {
	mu       sync.Mutex
	requests int
	bytes    int64
	spans    int
	sends    int // spans named smtp.send
	bad      int
}

// traceCounts is a snapshot of the sink's counters.
type traceCounts struct {
	Requests int   `json:"requests"`
	Bytes    int64 `json:"bytes"`
	Spans    int   `json:"spans"`
	// Sends is the spans named smtp.send: one per email the notifier
	// sent, when none was dropped.
	Sends int `json:"smtp_send_spans"`
	Bad   int `json:"bad_requests"`
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			s.fail(w)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(io.LimitReader(body, 64<<20))
	var req collectortrace.ExportTraceServiceRequest
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || proto.Unmarshal(raw, &req) != nil {
		s.fail(w)
		return
	}
	spans, sends := 0, 0
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, span := range ss.GetSpans() {
				spans++
				if span.GetName() == "smtp.send" {
					sends++
				}
			}
		}
	}
	s.mu.Lock()
	s.requests++
	s.bytes += int64(len(raw))
	s.spans += spans
	s.sends += sends
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (s *otlpSink) fail(w http.ResponseWriter) {
	s.mu.Lock()
	s.bad++
	s.mu.Unlock()
	http.Error(w, "want an OTLP/HTTP protobuf export at /v1/traces", http.StatusBadRequest)
}

func (s *otlpSink) counts() traceCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return traceCounts{Requests: s.requests, Bytes: s.bytes, Spans: s.spans, Sends: s.sends, Bad: s.bad}
}
