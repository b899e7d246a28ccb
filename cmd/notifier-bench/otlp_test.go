package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestTheOTLPSinkCountsTheSpansOfEachExport(t *testing.T) {
	t.Parallel()
	sink := &otlpSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	export := &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracev1.ResourceSpans{{
		ScopeSpans: []*tracev1.ScopeSpans{{Spans: []*tracev1.Span{{Name: "smtp.send"}, {Name: "smtp.send"}, {Name: "delivery.DeliverBatch.bulk"}}}},
	}}}
	raw, err := proto.Marshal(export)
	require.NoError(t, err)
	resp, err := http.Post(srv.URL+"/v1/traces", "application/x-protobuf", bytes.NewReader(raw)) //nolint:noctx // a test
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Post(srv.URL+"/v1/traces", "application/x-protobuf", bytes.NewReader([]byte("not protobuf"))) //nolint:noctx // a test
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, traceCounts{Requests: 1, Bytes: int64(len(raw)), Spans: 3, Sends: 2, Bad: 1}, sink.counts())
}
