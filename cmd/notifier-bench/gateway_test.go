package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSMSGatewayRecordsTheFirstArrivalOfEachCode(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	g := newSMSGateway(func() time.Time { return now })
	post := func(body string) int {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
		return rec.Code
	}

	require.Equal(t, http.StatusOK, post(`{"to":"+79000000001","text":"Код подтверждения: 100001. Никому не сообщайте его.","idempotency_key":"k1"}`))
	first := now
	now = now.Add(time.Second)
	require.Equal(t, http.StatusOK, post(`{"to":"+79000000001","text":"Код подтверждения: 100001. Никому не сообщайте его.","idempotency_key":"k1"}`))
	require.Equal(t, http.StatusOK, post(`{"to":"+79000000002","text":"Код подтверждения: 100002.","idempotency_key":"k2"}`))
	require.Equal(t, http.StatusBadRequest, post(`{"text":"no phone"}`))

	at, ok := g.arrival("100001")
	require.True(t, ok)
	require.Equal(t, first, at, "a redelivery does not move the arrival")
	at, ok = g.arrival("100002")
	require.True(t, ok)
	require.Equal(t, now, at)
	_, ok = g.arrival("100003")
	require.False(t, ok)
	require.Equal(t, gatewayCounts{Requests: 3, Repeats: 1, Bad: 1}, g.counts())
}
