package ports_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/eventintake/internal/intaketest"
	"github.com/notifier/notifier/modules/eventintake/internal/ports"
)

// queue records what the HTTP port queues, or fails with err.
type queue struct {
	mu   sync.Mutex
	err  error
	msgs []*message.Message
}

func (q *queue) Publish(_ string, msgs ...*message.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.msgs = append(q.msgs, msgs...)
	return nil
}

func (q *queue) queued() []*message.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*message.Message(nil), q.msgs...)
}

func newEventsAPI(t *testing.T, q *queue) humatest.TestAPI {
	t.Helper()
	_, api := humatest.New(t)
	accept, err := app.NewAcceptEvent(q, eventintake.Exchange, maxBody)
	require.NoError(t, err)
	h, err := ports.NewHTTP(accept, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	h.RegisterRoutes(api)
	return api
}

func problemOf(t *testing.T, body string) huma.ErrorModel {
	t.Helper()
	var p huma.ErrorModel
	require.NoError(t, json.Unmarshal([]byte(body), &p), body)
	return p
}

func TestSendingAnEventOverHTTPQueuesItAndAnswersItsKey(t *testing.T) {
	t.Parallel()
	q := &queue{}
	api := newEventsAPI(t, q)
	payload := intaketest.Event(t, "user_signed_up")

	resp := api.Post("/api/v1/events", "Content-Type: application/json", strings.NewReader(string(payload)))

	require.Equal(t, http.StatusAccepted, resp.Code, resp.Body.String())
	var out struct {
		EventID string `json:"event_id"`
	}
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &out))
	require.Equal(t, domain.EventKey(payload, ""), out.EventID, "the SHA-256 of the body, as the consumer computes it")
	msgs := q.queued()
	require.Len(t, msgs, 1)
	require.Equal(t, payload, []byte(msgs[0].Payload), "queued byte for byte")
	require.Equal(t, out.EventID, msgs[0].Metadata.Get(app.MessageIDKey))
}

func TestEventIDOfAnHTTPEventIsItsKey(t *testing.T) {
	t.Parallel()
	api := newEventsAPI(t, &queue{})

	resp := api.Post("/api/v1/events", map[string]any{
		"event_id": "signup-77", "from_service": "auth", "event": "user_signed_up",
		"details": map[string]any{"user": intaketest.UserURL},
	})

	require.Equal(t, http.StatusAccepted, resp.Code, resp.Body.String())
	require.JSONEq(t, `{"event_id": "signup-77"}`, resp.Body.String())
}

func TestMalformedJSONIsABadRequest(t *testing.T) {
	t.Parallel()
	q := &queue{}
	api := newEventsAPI(t, q)

	resp := api.Post("/api/v1/events", "Content-Type: application/json", strings.NewReader(`{"from_service": "auth",`))

	require.Equal(t, http.StatusBadRequest, resp.Code, resp.Body.String())
	p := problemOf(t, resp.Body.String())
	require.Len(t, p.Errors, 1)
	require.Equal(t, "body", p.Errors[0].Location)
	require.Empty(t, q.queued())
}

func TestInvalidEventsAreUnprocessableNamingTheField(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body     map[string]any
		location string
		message  string
	}{
		"unknown event type": {
			map[string]any{"from_service": "auth", "event": "user_deleted", "details": map[string]any{}},
			"body.event", `unknown event type "user_deleted"`,
		},
		"missing event": {
			map[string]any{"from_service": "auth", "details": map[string]any{}},
			"body.event", "is required",
		},
		"missing details field": {
			map[string]any{"from_service": "auth", "event": "user_signed_up", "details": map[string]any{"username": "u"}},
			"body.details.user", "is required",
		},
		"details not an object": {
			map[string]any{"from_service": "auth", "event": "user_signed_up", "details": []string{intaketest.UserURL}},
			"body.details", "must be an object",
		},
		"bad stats item": {
			map[string]any{"from_service": "activity_api", "event": "reactions_summary", "details": map[string]any{
				"stats": []any{map[string]any{"type": "like", "total": -3, "target": intaketest.ReviewURL}},
			}},
			"body.details.stats[0].total", "must not be negative",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := &queue{}
			api := newEventsAPI(t, q)

			resp := api.Post("/api/v1/events", tc.body)

			require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
			p := problemOf(t, resp.Body.String())
			require.Len(t, p.Errors, 1)
			require.Equal(t, tc.location, p.Errors[0].Location)
			require.Contains(t, p.Errors[0].Message, tc.message)
			require.Empty(t, q.queued())
		})
	}
}

func TestUnknownTopLevelFieldsAreAcceptedAsOnTheExchange(t *testing.T) {
	t.Parallel()
	q := &queue{}
	api := newEventsAPI(t, q)

	resp := api.Post("/api/v1/events", map[string]any{
		"from_service": "cinema_scanner", "event": "new_movies", "trace_id": "4bf92f35",
		"details": map[string]any{"movies": []string{intaketest.MovieURL}},
	})

	require.Equal(t, http.StatusAccepted, resp.Code, resp.Body.String())
	require.Contains(t, string(q.queued()[0].Payload), `"trace_id"`, "forwarded untouched")
}

func TestAnUnavailableQueueIsAServiceUnavailableWithoutInternals(t *testing.T) {
	t.Parallel()
	api := newEventsAPI(t, &queue{err: errors.New("amqp: channel closed at 10.0.0.5")})

	resp := api.Post("/api/v1/events", "Content-Type: application/json", strings.NewReader(string(intaketest.Event(t, "new_movies"))))

	require.Equal(t, http.StatusServiceUnavailable, resp.Code, resp.Body.String())
	require.NotContains(t, resp.Body.String(), "10.0.0.5")
}

func TestAnEventOverTheIntakeCapIsRefusedWith413AndOneOfExactlyTheCapIsAccepted(t *testing.T) {
	t.Parallel()
	q := &queue{}
	api := newEventsAPI(t, q)
	payload := intaketest.Event(t, "user_signed_up")
	exact := string(payload) + strings.Repeat(" ", maxBody-len(payload))
	require.Len(t, exact, maxBody)

	resp := api.Post("/api/v1/events", "Content-Type: application/json", strings.NewReader(exact+" "))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.Code, resp.Body.String())
	require.Empty(t, q.queued())

	resp = api.Post("/api/v1/events", "Content-Type: application/json", strings.NewReader(exact))
	require.Equal(t, http.StatusAccepted, resp.Code, resp.Body.String())
	require.Len(t, q.queued(), 1)
	require.Equal(t, int64(maxBody+1), api.OpenAPI().Paths["/api/v1/events"].Post.MaxBodyBytes,
		"Huma refuses a body of MaxBodyBytes bytes or more")
}

// bigAcceptor answers every event with the error of one over the cap, as
// AcceptEvent does when the operation's own cap let it through.
type bigAcceptor struct{}

func (bigAcceptor) Handle(context.Context, []byte) (string, error) {
	return "", fmt.Errorf("%w: 5000 bytes, the cap is 4096", domain.ErrTooLarge)
}

func (bigAcceptor) MaxBody() int64 { return 1 << 30 }

func TestAnAcceptorRefusingTheSizeAnswers413(t *testing.T) {
	t.Parallel()
	_, api := humatest.New(t)
	h, err := ports.NewHTTP(bigAcceptor{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	h.RegisterRoutes(api)

	resp := api.Post("/api/v1/events", "Content-Type: application/json", strings.NewReader(string(intaketest.Event(t, "new_movies"))))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.Code, resp.Body.String())
	require.Contains(t, problemOf(t, resp.Body.String()).Detail, "intake.max_body")
}

func TestTheOperationIsDocumentedAsAServiceOnlyJSONEndpoint(t *testing.T) {
	t.Parallel()
	_, api := humatest.New(t)
	accept, err := app.NewAcceptEvent(&queue{}, eventintake.Exchange, maxBody)
	require.NoError(t, err)
	h, err := ports.NewHTTP(accept, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	h.RegisterRoutes(api)

	op := api.OpenAPI().Paths["/api/v1/events"].Post
	require.NotNil(t, op)
	require.Equal(t, "send-event", op.OperationID)
	require.NotEmpty(t, op.Security, "a bearer token is required")
	require.Contains(t, op.RequestBody.Content, "application/json")
	require.NotContains(t, op.RequestBody.Content, "application/octet-stream")
	_, ok := op.Responses["202"]
	require.True(t, ok, "202 is the documented success")
	schema := api.OpenAPI().Components.Schemas.Map()["EventEnvelope"]
	require.NotNil(t, schema)
	require.Contains(t, schema.Properties, "details")
	require.Contains(t, schema.Required, "event")
}
