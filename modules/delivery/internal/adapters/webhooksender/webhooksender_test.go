package webhooksender_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/webhooksender"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/egress"
)

const (
	secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZwYxBc8Rm0="
	older  = "whsec_dGhlIG9sZGVyIHNlY3JldCBvZiAzMiBieXRlcyEhIQ=="
)

var expires = time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)

func message(to string) app.Message {
	return app.Message{
		ID: "0f8fad5bd9cb469fa165706a3b0f5c1e@notifier", IdempotencyKey: "0f8fad5bd9cb469fa165706a3b0f5c1e",
		PostingID: "p1", UserID: "u1", Channel: "webhook", NotificationType: "new_movies", ExpiresAt: &expires,
		Template: "webhook/new_movies.md", Locale: "ru", To: to, Subject: "Новые фильмы", Text: "- [Сталкер](https://cinema.example/1)",
	}
}

type resolver struct{ addrs []netip.Addr }

func (r resolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r.addrs, nil
}

// newSender returns a sender allowed to reach the hosts of allowed (the
// test servers listen on loopback, which an empty list refuses).
func newSender(t *testing.T, allowed []string, opts ...func(*webhooksender.Config)) *webhooksender.Sender {
	t.Helper()
	p, err := egress.NewPolicyOf("webhook_channel.allowed_hosts", allowed)
	require.NoError(t, err)
	cfg := webhooksender.Config{Secrets: []string{secret}, Policy: p, Timeout: 2 * time.Second,
		Clock: clock.NewFake(time.Now())}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := webhooksender.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var loopback = []string{"127.0.0.1"}

type call struct {
	header http.Header
	uri    string
	method string
	body   []byte
}

func recorder(t *testing.T, status int) (*httptest.Server, <-chan call) {
	t.Helper()
	calls := make(chan call, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls <- call{header: r.Header.Clone(), uri: r.URL.RequestURI(), method: r.Method, body: body}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

func TestACallIsASignedPostOfTheRenderedMessage(t *testing.T) {
	t.Parallel()
	srv, calls := recorder(t, http.StatusNoContent)

	require.NoError(t, newSender(t, loopback).Send(context.Background(), message(srv.URL+"/hooks/anna?token=s3cret")))

	c := <-calls
	require.Equal(t, http.MethodPost, c.method)
	require.Equal(t, "/hooks/anna?token=s3cret", c.uri)
	require.Equal(t, "application/json", c.header.Get("Content-Type"))
	require.Equal(t, webhooksender.UserAgent, c.header.Get("User-Agent"))
	require.Equal(t, "0f8fad5bd9cb469fa165706a3b0f5c1e", c.header.Get("webhook-id"), "the delivery's idempotency key")
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(c.body, c.header), "the library verifies the signature and the timestamp")

	var body map[string]any
	require.NoError(t, json.Unmarshal(c.body, &body))
	ts := body["timestamp"].(string)
	require.Equal(t, map[string]any{
		"type": "notification", "timestamp": ts,
		"data": map[string]any{
			"message_id": "0f8fad5bd9cb469fa165706a3b0f5c1e", "posting_id": "p1", "user_id": "u1",
			"notification_type": "new_movies", "template": "webhook/new_movies.md", "locale": "ru",
			"subject": "Новые фильмы", "text": "- [Сталкер](https://cinema.example/1)", "expires_at": "2026-03-01T13:00:00Z",
		},
	}, body, "the recipient's message and nothing else: no address")
	at, err := time.Parse(time.RFC3339, ts)
	require.NoError(t, err)
	require.Equal(t, c.header.Get("webhook-timestamp"), strconvUnix(at))
}

func strconvUnix(t time.Time) string {
	b, _ := json.Marshal(t.Unix())
	return string(b)
}

func TestEverySecretSignsSoAReceiverCanRotate(t *testing.T) {
	t.Parallel()
	srv, calls := recorder(t, http.StatusOK)
	s := newSender(t, loopback, func(c *webhooksender.Config) { c.Secrets = []string{secret, older} })

	require.NoError(t, s.Send(context.Background(), message(srv.URL)))

	c := <-calls
	require.Len(t, strings.Fields(c.header.Get("webhook-signature")), 2)
	for _, sec := range []string{secret, older} {
		wh, err := standardwebhooks.NewWebhook(sec)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(c.body, c.header), sec)
	}
	other, err := standardwebhooks.NewWebhook("whsec_" + strings.Repeat("A", 43) + "=")
	require.NoError(t, err)
	require.Error(t, other.Verify(c.body, c.header), "another secret does not verify it")
}

func TestTheSameDeliveryHasTheSameWebhookIDOnEveryTry(t *testing.T) {
	t.Parallel()
	srv, calls := recorder(t, http.StatusServiceUnavailable)
	s := newSender(t, loopback)

	require.Error(t, s.Send(context.Background(), message(srv.URL)))
	require.Error(t, s.Send(context.Background(), message(srv.URL)))

	first, second := <-calls, <-calls
	require.Equal(t, first.header.Get("webhook-id"), second.header.Get("webhook-id"))
}

func TestAnswersAreClassifiedTransientOrPermanent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status    int
		ok        bool
		transient bool
		class     app.RetryClass
		err       string
	}{
		{http.StatusOK, true, false, "", ""},
		{http.StatusAccepted, true, false, "", ""},
		{http.StatusNoContent, true, false, "", ""},
		{http.StatusFound, false, false, "", "webhook: status 302: redirects are not followed"},
		{http.StatusBadRequest, false, false, "", "webhook: status 400"},
		{http.StatusUnauthorized, false, false, "", "webhook: status 401"},
		{http.StatusNotFound, false, false, "", "webhook: status 404"},
		{http.StatusGone, false, false, "", "webhook: status 410: the endpoint is gone"},
		{http.StatusUnprocessableEntity, false, false, "", "webhook: status 422"},
		{http.StatusRequestTimeout, false, true, app.RetryTimeout, "webhook: status 408"},
		{http.StatusTooManyRequests, false, true, app.RetryThrottled, "webhook: status 429"},
		{http.StatusInternalServerError, false, true, app.RetryServer, "webhook: status 500"},
		{http.StatusBadGateway, false, true, app.RetryServer, "webhook: status 502"},
		{http.StatusServiceUnavailable, false, true, app.RetryServer, "webhook: status 503"},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status >= 300 && tc.status < 400 {
					w.Header().Set("Location", "http://169.254.169.254/latest/meta-data/")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"error":"token s3cret is not valid"}`))
			}))
			t.Cleanup(srv.Close)

			err := newSender(t, loopback).Send(context.Background(), message(srv.URL+"/hook?token=s3cret"))

			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.err)
			require.Equal(t, tc.transient, app.IsTransient(err))
			require.Equal(t, tc.class, app.RetryClassOf(err))
			require.False(t, app.IsRecipientRefused(err), "a URL never goes on the suppression list")
		})
	}
}

func TestARedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/inside" {
			followed.Store(true)
			return
		}
		http.Redirect(w, r, "/inside", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)

	err := newSender(t, loopback).Send(context.Background(), message(srv.URL+"/hook"))

	require.EqualError(t, err, "webhook: status 307: redirects are not followed")
	require.False(t, app.IsTransient(err))
	require.False(t, followed.Load())
}

func TestAnOversizedAnswerIsNotReadToItsEnd(t *testing.T) {
	t.Parallel()
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for range 64 << 10 { // 2 GiB, if it were all read
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)

	require.NoError(t, newSender(t, loopback).Send(context.Background(), message(srv.URL)))
	require.Less(t, written.Load(), int64(64<<20), "the sender stopped reading long before the end")
}

func TestTimeoutsAndUnreachableEndpointsAreTransientWithoutTheURL(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	err = newSender(t, loopback).Send(context.Background(), message("http://"+addr+"/hook?token=s3cret"))
	require.EqualError(t, err, "webhook: connection refused")
	require.Equal(t, app.RetryConnection, app.RetryClassOf(err))

	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-release
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the handler end
	s := newSender(t, loopback, func(c *webhooksender.Config) { c.Timeout = 50 * time.Millisecond })
	err = s.Send(context.Background(), message(hang.URL+"/hook?token=s3cret"))
	require.EqualError(t, err, "webhook: timed out")
	require.Equal(t, app.RetryTimeout, app.RetryClassOf(err))
}

func TestURLsInsideOrMalformedAreRefusedForGoodWithoutACall(t *testing.T) {
	t.Parallel()
	srv, calls := recorder(t, http.StatusOK)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	port := u.Port()
	cases := map[string]struct{ url, err string }{
		"loopback":          {srv.URL + "/hook?token=s3cret", "webhook url refused: 127.0.0.1 is a loopback address"},
		"localhost":         {"http://localhost:" + port + "/hook", `webhook url refused: host "localhost" is this machine`},
		"private":           {"http://10.0.0.8/hook", "webhook url refused: 10.0.0.8 is a private address"},
		"metadata service":  {"http://169.254.169.254/latest/meta-data/", "webhook url refused: 169.254.169.254 is a link-local address"},
		"IPv6 loopback":     {"http://[::1]:" + port + "/hook", "webhook url refused: ::1 is a loopback address"},
		"mapped loopback":   {"http://[::ffff:127.0.0.1]:" + port + "/", "webhook url refused: ::ffff:127.0.0.1 is a loopback address"},
		"not http":          {"ftp://hooks.example.com/hook", "webhook url refused: want an absolute http:// or https:// URL"},
		"file":              {"file:///etc/passwd", "webhook url refused: want an absolute http:// or https:// URL"},
		"relative":          {"/hook", "webhook url refused: want an absolute http:// or https:// URL"},
		"user information":  {"https://anna:pa55@hooks.example.com/hook", "webhook url refused: a user name or password in the URL"},
		"no host":           {"https:///hook", "webhook url refused: no host"},
		"not a URL":         {"http://[::1", "webhook url refused: not a valid URL"},
		"resolves to local": {"http://" + net.JoinHostPort("hooks.example.com", port) + "/hook?token=s3cret", "webhook url refused: hooks.example.com resolves to 127.0.0.1, a loopback address"},
	}
	// No list: public addresses only; hooks.example.com "resolves" to the
	// test server's loopback address (DNS rebinding).
	s := newSender(t, nil, func(c *webhooksender.Config) {
		c.Resolver = resolver{[]netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	})
	for name, tc := range cases {
		err := s.Send(context.Background(), message(tc.url))
		require.EqualError(t, err, tc.err, name)
		require.False(t, app.IsTransient(err), name)
		require.NotContains(t, err.Error(), "s3cret", name)
		require.NotContains(t, err.Error(), "pa55", name)
	}
	require.Empty(t, calls, "nothing was called")

	listed := newSender(t, []string{"hooks.example.com"})
	require.EqualError(t, listed.Send(context.Background(), message(srv.URL)),
		`webhook url refused: host "127.0.0.1" is not on webhook_channel.allowed_hosts`)
}

func TestSecretsMustBeStandardWebhooksSecrets(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "s3cret", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ=", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZwYxBc8Rm0="} {
		_, err := webhooksender.ParseSecret(bad)
		require.Error(t, err, "%q", bad)
		_, err = webhooksender.New(webhooksender.Config{Secrets: []string{bad}, Clock: clock.System{}})
		require.Error(t, err, "%q", bad)
	}
	_, err := webhooksender.ParseSecret(secret)
	require.NoError(t, err)
	_, err = webhooksender.New(webhooksender.Config{Clock: clock.System{}})
	require.Error(t, err, "a secret is required")
}

func TestTheChannelWithoutASecretSendsNothing(t *testing.T) {
	t.Parallel()
	err := webhooksender.Off{}.Send(context.Background(), message("https://hooks.example.com/"))
	require.ErrorIs(t, err, webhooksender.ErrOff)
	require.False(t, app.IsTransient(err))
}
