package httpsender_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/webhooks/internal/adapters/httpsender"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/platform/egress"
)

type resolver struct{ addrs []netip.Addr }

func (r resolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r.addrs, nil
}

func sender(t *testing.T, allowed []string, r egress.Resolver) *httpsender.Sender {
	t.Helper()
	p, err := egress.NewPolicy(allowed)
	require.NoError(t, err)
	s, err := httpsender.New(egress.NewDialer(p, r, time.Second), 2*time.Second, 2)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func TestACallIsAPostWithTheStandardWebhooksHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan *http.Request, 1)
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		got <- r
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	at := time.Unix(1_772_366_400, 0)

	status, err := sender(t, []string{"127.0.0.1"}, nil).Send(context.Background(), app.Request{
		URL: srv.URL + "/hooks?token=s3cret", WebhookID: "msg_1", Timestamp: at, Signature: "v1,abc= v1,def=", Body: []byte(`{"type":"x"}`),
	})

	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)
	r := <-got
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/hooks?token=s3cret", r.URL.RequestURI())
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "msg_1", r.Header.Get("webhook-id"))
	require.Equal(t, "1772366400", r.Header.Get("webhook-timestamp"))
	require.Equal(t, "v1,abc= v1,def=", r.Header.Get("webhook-signature"))
	require.Equal(t, httpsender.UserAgent, r.Header.Get("User-Agent"))
	require.Equal(t, `{"type":"x"}`, string(body))
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	followed := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/inside" {
			followed <- struct{}{}
			return
		}
		http.Redirect(w, r, "/inside", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()

	status, err := sender(t, []string{"127.0.0.1"}, nil).Send(context.Background(), app.Request{URL: srv.URL + "/hook", Body: []byte(`{}`)})

	require.NoError(t, err)
	require.Equal(t, http.StatusTemporaryRedirect, status)
	require.Empty(t, followed)
}

func TestAHostThatResolvesInsideIsNeverCalled(t *testing.T) {
	t.Parallel()
	called := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called <- struct{}{} }))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	evil := "http://" + net.JoinHostPort("hooks.example.com", u.Port()) + "/hook?token=s3cret"

	// No list: public addresses only; the DNS answer is the test server's.
	_, err = sender(t, nil, resolver{[]netip.Addr{netip.MustParseAddr("127.0.0.1")}}).Send(context.Background(),
		app.Request{URL: evil, Body: []byte(`{}`)})

	require.ErrorIs(t, err, egress.ErrForbidden)
	require.Empty(t, called)
	require.NotContains(t, err.Error(), "s3cret", "the error never holds the URL")
	require.NotContains(t, err.Error(), "/hook")
}

func TestErrorsSayWhatWentWrongWithoutTheURL(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	s := sender(t, []string{"127.0.0.1"}, nil)

	_, err = s.Send(context.Background(), app.Request{URL: "http://" + addr + "/hook?token=s3cret", Body: []byte(`{}`)})
	require.EqualError(t, err, "connection refused")

	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-release
	}))
	defer hang.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = s.Send(ctx, app.Request{URL: hang.URL + "/hook?token=s3cret", Body: []byte(`{}`)})
	require.EqualError(t, err, "timed out")
}
