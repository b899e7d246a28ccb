package ports

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/platform/httpapi"
)

// EventAcceptor validates and queues an event of at most MaxBody bytes;
// *app.AcceptEvent is one.
type EventAcceptor interface {
	Handle(ctx context.Context, payload []byte) (string, error)
	MaxBody() int64
}

// HTTP is the intake's HTTP API: POST /api/v1/events.
type HTTP struct {
	accept EventAcceptor
	logger *slog.Logger
}

// NewHTTP returns the HTTP API over accept.
func NewHTTP(accept EventAcceptor, logger *slog.Logger) (*HTTP, error) {
	if accept == nil || logger == nil {
		return nil, errors.New("new events http api: nil acceptor or logger")
	}
	return &HTTP{accept: accept, logger: logger}, nil
}

// eventEnvelope documents the request body. The body itself is validated
// by domain.DecodeEvent, the consumer's own decoder, not by this schema.
type eventEnvelope struct {
	_           struct{}       `json:"-" additionalProperties:"true"`
	EventID     string         `json:"event_id,omitempty" maxLength:"256" doc:"The event's unique ID: the key that makes a repeat harmless. Default: the SHA-256 of the body."`
	FromService string         `json:"from_service" minLength:"1" doc:"The publishing service" example:"auth"`
	Event       string         `json:"event" enum:"user_signed_up,new_movies,new_episode,reactions_summary" doc:"The event type"`
	Details     map[string]any `json:"details" doc:"The event's details; their shape depends on the event type"`
	OccurredAt  string         `json:"occurred_at,omitempty" format:"date-time" doc:"When the event happened (RFC 3339)"`
}

type sendEventInput struct {
	// RawBody is the body exactly as sent: the event key of an event
	// without event_id is the SHA-256 of these bytes, as on the exchange.
	RawBody []byte
}

type sendEventOutput struct {
	Body struct {
		EventID string `json:"event_id" doc:"The event key: event_id, or the SHA-256 of the body. GET /api/v1/postings?from_event=<key> lists the postings made from it."`
	}
}

// RegisterRoutes implements httpapi.Routes.
func (h *HTTP) RegisterRoutes(api huma.API) {
	schema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[eventEnvelope](), true, "")
	op := httpapi.Secure(huma.Operation{
		OperationID:   "send-event",
		Method:        http.MethodPost,
		Path:          "/api/v1/events",
		Summary:       "Send an event",
		Description:   "Takes the same envelope as the notifier.events exchange and queues it there. It answers 202 with the event key; an event sent twice makes its postings once.",
		Tags:          []string{"Events"},
		DefaultStatus: http.StatusAccepted,
		// The body is checked by the intake's own decoder (the one the
		// consumer uses) so both ways in judge an event alike.
		SkipValidateBody: true,
		RequestBody: &huma.RequestBody{
			Required: true,
			Content: map[string]*huma.MediaType{"application/json": {Schema: schema, Example: map[string]any{
				"from_service": "auth",
				"event":        "user_signed_up",
				"details": map[string]any{
					"username": "user@mail.com",
					"user":     "https://auth/api/v1/users/6f1c2a57-3a0e-4d7b-9a51-0d3c1e7b2f44/",
				},
			}}},
		},
		// The consumer's cap (intake.max_body), so that an event the
		// exchange would refuse is refused here too, with 413, before it
		// is read any further; Huma refuses a body of MaxBodyBytes bytes
		// or more, hence the +1. The server caps it at
		// http.max_body_bytes when that is smaller.
		MaxBodyBytes: h.accept.MaxBody() + 1,
		Errors:       []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, httpapi.RoleService)
	huma.Register(api, op, h.sendEvent)
	httpapi.RawRequestBody(api, op) // the API takes JSON only
}

func (h *HTTP) sendEvent(ctx context.Context, in *sendEventInput) (*sendEventOutput, error) {
	key, err := h.accept.Handle(ctx, in.RawBody)
	var invalid *domain.InvalidEventError
	switch {
	case err == nil:
		out := &sendEventOutput{}
		out.Body.EventID = key
		return out, nil
	case errors.Is(err, domain.ErrTooLarge):
		return nil, huma.Error413RequestEntityTooLarge(err.Error())
	case errors.Is(err, domain.ErrMalformedJSON):
		return nil, huma.Error400BadRequest("the body is not valid JSON", &huma.ErrorDetail{Location: "body", Message: err.Error()})
	case errors.As(err, &invalid):
		location := "body"
		if invalid.Field != "" {
			location += "." + invalid.Field
		}
		return nil, huma.Error422UnprocessableEntity("invalid event", &huma.ErrorDetail{Location: location, Message: invalid.Reason})
	default:
		h.logger.ErrorContext(ctx, "queue event failed", "error", err)
		return nil, huma.Error503ServiceUnavailable("the event could not be queued; try again later")
	}
}
