package smsgateway_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/smsgateway"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

var code = app.Message{
	ID: "k@notifier", IdempotencyKey: "k", PostingID: "p1", UserID: "u1",
	Channel: "sms", To: "+79001234567", Text: "Код подтверждения: 1234. Никому не сообщайте его.",
}

func TestGatewayReceivesNumberTextAndIdempotencyKeyAsJSON(t *testing.T) {
	t.Parallel()
	type received struct {
		method, contentType, header string
		body                        map[string]string
	}
	got := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- received{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"), body}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	s, err := smsgateway.New(smsgateway.Config{URL: srv.URL + "/send"})
	require.NoError(t, err)

	require.NoError(t, s.Send(context.Background(), code))
	r := <-got
	require.Equal(t, http.MethodPost, r.method)
	require.Equal(t, "application/json", r.contentType)
	require.Equal(t, "k", r.header)
	require.Equal(t, map[string]string{"to": "+79001234567", "text": code.Text, "idempotency_key": "k"}, r.body)
}

func TestGatewayAnswersAreClassifiedTransientOrPermanent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status    int
		ok        bool
		transient bool
		class     app.RetryClass
	}{
		{http.StatusOK, true, false, ""},
		{http.StatusNoContent, true, false, ""},
		{http.StatusBadRequest, false, false, ""},
		{http.StatusUnauthorized, false, false, ""},
		{http.StatusNotFound, false, false, ""},
		{http.StatusUnprocessableEntity, false, false, ""},
		{http.StatusRequestTimeout, false, true, app.RetryTimeout},
		{http.StatusTooManyRequests, false, true, app.RetryThrottled},
		{http.StatusInternalServerError, false, true, app.RetryServer},
		{http.StatusBadGateway, false, true, app.RetryServer},
		{http.StatusServiceUnavailable, false, true, app.RetryServer},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"error":"number +79001234567 is blocked"}`))
			}))
			t.Cleanup(srv.Close)
			s, err := smsgateway.New(smsgateway.Config{URL: srv.URL})
			require.NoError(t, err)

			err = s.Send(context.Background(), code)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.transient, app.IsTransient(err))
			require.Equal(t, tc.class, app.RetryClassOf(err))
			require.NotContains(t, err.Error(), "+7900", "no phone number in the stored error")
		})
	}
}

func TestUnreachableOrSlowGatewayIsTransient(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	s, err := smsgateway.New(smsgateway.Config{URL: closed.URL + "/send?token=secret"})
	require.NoError(t, err)
	err = s.Send(context.Background(), code)
	require.True(t, app.IsTransient(err), "%v", err)
	require.Equal(t, app.RetryConnection, app.RetryClassOf(err))
	require.NotContains(t, err.Error(), "secret", "the URL stays out of the error")

	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the handler end
	s, err = smsgateway.New(smsgateway.Config{URL: stuck.URL, Timeout: 20 * time.Millisecond})
	require.NoError(t, err)
	err = s.Send(context.Background(), code)
	require.True(t, app.IsTransient(err), "%v", err)
	require.Equal(t, app.RetryTimeout, app.RetryClassOf(err))
	require.EqualError(t, err, "sms gateway: timeout")
}

func TestNewRefusesAURLThatIsNotHTTP(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "gateway", "ftp://gw/send", "http://"} {
		_, err := smsgateway.New(smsgateway.Config{URL: u})
		require.Error(t, err, u)
	}
}

func TestEachSenderKeepsItsOwnConnectionAliveAndClosesItAtClose(t *testing.T) {
	t.Parallel()
	var (
		mu          sync.Mutex
		opened      int
		closedConns int
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch state {
		case http.StateNew:
			opened++
		case http.StateClosed:
			closedConns++
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	counts := func() (int, int) { mu.Lock(); defer mu.Unlock(); return opened, closedConns }

	a, err := smsgateway.New(smsgateway.Config{URL: srv.URL})
	require.NoError(t, err)
	b, err := smsgateway.New(smsgateway.Config{URL: srv.URL})
	require.NoError(t, err)
	for range 5 {
		require.NoError(t, a.Send(context.Background(), code))
		require.NoError(t, b.Send(context.Background(), code))
	}
	o, _ := counts()
	require.Equal(t, 2, o, "one kept-alive connection per sender")

	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { _, c := counts(); return c == 2 }, 10*time.Second, time.Millisecond)
}

func TestOnlyTheGatewaysInvalidNumberAnswerMarksTheRecipientRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		status  int
		body    string
		refused bool
	}{
		{"422 invalid number", http.StatusUnprocessableEntity, `{"code":"invalid_number","message":"+79001234567 does not exist"}`, true},
		{"400 invalid number", http.StatusBadRequest, `{"code": "invalid_number"}`, true},
		{"400 for our request", http.StatusBadRequest, `{"code":"missing_text"}`, false},
		{"400 without a body", http.StatusBadRequest, ``, false},
		{"400 not JSON", http.StatusBadRequest, `invalid_number`, false},
		{"400 code not a string", http.StatusBadRequest, `{"code": 21211}`, false},
		{"403 invalid number", http.StatusForbidden, `{"code":"invalid_number"}`, false}, // our credentials, not the number
		{"404 invalid number", http.StatusNotFound, `{"code":"invalid_number"}`, false},  // a wrong URL
		{"503 invalid number", http.StatusServiceUnavailable, `{"code":"invalid_number"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			s, err := smsgateway.New(smsgateway.Config{URL: srv.URL})
			require.NoError(t, err)

			err = s.Send(context.Background(), code)
			require.Error(t, err)
			require.Equal(t, tc.refused, app.IsRecipientRefused(err), "%v", err)
			require.NotContains(t, err.Error(), "+7900", "no phone number in the stored error")
			if tc.refused {
				require.False(t, app.IsTransient(err))
				require.Equal(t, "sms gateway: status "+strconv.Itoa(tc.status)+": invalid_number", err.Error())
			}
		})
	}
}
