// Package ports adapts the webhooks use cases to their transports: the
// HTTP API of the endpoints, the Watermill handlers of the events the
// module watches, and its gauges.
package ports

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/httpapi"
)

// HTTPHandlers are the use cases the HTTP port serves.
type HTTPHandlers struct {
	Create   *app.CreateEndpointHandler
	List     *app.ListEndpointsHandler
	Get      *app.GetEndpointHandler
	Delete   *app.DeleteEndpointHandler
	Rotate   *app.RotateSecretHandler
	Enable   *app.EnableEndpointHandler
	Attempts *app.ListAttemptsHandler
	Patch    *app.PatchEndpointHandler
}

// HTTP serves /api/v1/webhooks; it implements httpapi.Routes.
type HTTP struct {
	h     HTTPHandlers
	clock clock.Clock
}

var _ httpapi.Routes = (*HTTP)(nil)

// NewHTTP returns the port; every handler and the clock (which says
// whether a rotation's grace is over) are required.
func NewHTTP(h HTTPHandlers, clk clock.Clock) (*HTTP, error) {
	if h.Create == nil || h.List == nil || h.Get == nil || h.Delete == nil || h.Rotate == nil || h.Enable == nil || h.Attempts == nil ||
		h.Patch == nil || clk == nil {
		return nil, errors.New("new webhooks http port: every handler and the clock are required")
	}
	return &HTTP{h: h, clock: clk}, nil
}

// RegisterRoutes adds the operations to api, all for the admin role.
func (p *HTTP) RegisterRoutes(api huma.API) {
	tags := []string{"Webhooks"}
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "create-webhook",
		Method:      http.MethodPost,
		Path:        "/api/v1/webhooks",
		Summary:     "Register a webhook endpoint",
		Description: "The endpoint receives a POST of each event of the types it subscribes to that happens from now on, " +
			"signed per Standard Webhooks (headers webhook-id, webhook-timestamp, webhook-signature). The answer holds " +
			"the signing secret (whsec_…): it is shown now and after a rotation only. Only hosts on " +
			"webhooks.allowed_hosts may be registered, or, when that list is empty, any host but loopback, private " +
			"and link-local addresses (checked again on every call, after DNS resolution).",
		Tags:          tags,
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusUnprocessableEntity},
	}, httpapi.RoleAdmin), p.create)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-webhooks",
		Method:      http.MethodGet,
		Path:        "/api/v1/webhooks",
		Summary:     "List the webhook endpoints",
		Description: "Oldest first, without their secrets.",
		Tags:        tags,
	}, httpapi.RoleAdmin), p.list)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "get-webhook",
		Method:      http.MethodGet,
		Path:        "/api/v1/webhooks/{id}",
		Summary:     "Read a webhook endpoint",
		Description: "Without its secret. A disabled endpoint says since when and why.",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, httpapi.RoleAdmin), p.get)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID:   "delete-webhook",
		Method:        http.MethodDelete,
		Path:          "/api/v1/webhooks/{id}",
		Summary:       "Delete a webhook endpoint",
		Description:   "With the messages waiting for it and its history. 204; 404 when there is no such endpoint.",
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound},
	}, httpapi.RoleAdmin), p.delete)

	p.registerPatch(api, tags)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "rotate-webhook-secret",
		Method:      http.MethodPost,
		Path:        "/api/v1/webhooks/{id}/rotate",
		Summary:     "Give a webhook endpoint a new signing secret",
		Description: "The answer holds the new secret. For webhooks.rotation_grace (24 h by default) every call carries " +
			"two signatures, the new secret's and the old one's (webhook-signature: \"v1,<new> v1,<old>\"), so that the " +
			"receiver may switch when it likes; previous_secret_expires_at says until when. A secret replaced by an " +
			"earlier rotation stops signing at once.",
		Tags:   tags,
		Errors: []int{http.StatusNotFound},
	}, httpapi.RoleAdmin), p.rotate)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "enable-webhook",
		Method:      http.MethodPost,
		Path:        "/api/v1/webhooks/{id}/enable",
		Summary:     "Enable a disabled webhook endpoint again",
		Description: "It receives new events again, and the messages that waited for it are sent at once, each retried " +
			"for webhooks.max_age from now. Enabling an enabled endpoint changes nothing but that.",
		Tags:   tags,
		Errors: []int{http.StatusNotFound},
	}, httpapi.RoleAdmin), p.enable)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-webhook-attempts",
		Method:      http.MethodGet,
		Path:        "/api/v1/webhooks/{id}/attempts",
		Summary:     "List a webhook endpoint's last calls",
		Description: "The last 100 calls to the endpoint, the most recent first: when, which event and webhook-id, the " +
			"answer's status code or why no answer came, how long it took, and when the message is tried again. " +
			"Pass next_cursor back as cursor for the next page; it is absent on the last page.",
		Tags:   tags,
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, httpapi.RoleAdmin), p.attempts)
}

// Webhook is an endpoint as the API shows it.
type Webhook struct {
	ID          string   `json:"id" format:"uuid" doc:"Endpoint ID" example:"0e8c1d55-7d3c-4a43-9a4e-3f7c8f9b2a10"`
	URL         string   `json:"url" doc:"Where the events are POSTed" example:"https://crm.example.com/hooks/notifier"`
	Description string   `json:"description,omitempty" doc:"What it is for" example:"CRM delivery reports"`
	Events      []string `json:"events" doc:"The event types it receives" example:"[\"delivery.sent\",\"posting.completed\"]"`
	Enabled     bool     `json:"enabled" doc:"Whether calls are made to it" example:"true"`
	// Pointers, so that an endpoint without them leaves them out.
	DisabledAt      *time.Time `json:"disabled_at,omitempty" doc:"When it was disabled" example:"2026-03-02T12:00:00Z"`
	DisabledReason  string     `json:"disabled_reason,omitempty" doc:"Why it was disabled: every call of a message failed for webhooks.max_age, or it answered 410 Gone" example:"no call succeeded for 24h0m0s (34 tries of message msg_01957a2c9f1e7b3d8a4c5e6f7a8b9c0d; last: HTTP 503)"`
	PendingMessages int        `json:"pending_messages" doc:"Messages waiting to be sent to it" example:"0"`
	LastSuccessAt   *time.Time `json:"last_success_at,omitempty" doc:"When it last answered 2xx" example:"2026-03-01T12:00:05Z"`
	// PreviousSecretExpiresAt is set during a rotation's grace period.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty" doc:"Until when the secret replaced by the last rotation signs too" example:"2026-03-02T12:00:00Z"`
	CreatedAt               time.Time  `json:"created_at" doc:"When it was registered" example:"2026-03-01T12:00:00Z"`
	UpdatedAt               time.Time  `json:"updated_at" doc:"When it last changed" example:"2026-03-01T12:00:00Z"`
}

// WebhookWithSecret is an endpoint with its signing secret, as create and
// rotate answer.
type WebhookWithSecret struct {
	Webhook
	Secret string `json:"secret" doc:"The signing secret: whsec_ and the key in base64. Shown only now: keep it" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZwYxBc8Rm0="`
}

func webhookOf(e domain.Endpoint, pending int, now time.Time) Webhook {
	w := Webhook{
		ID: e.ID.String(), URL: e.URL, Description: e.Description, Events: append([]string{}, e.Events...),
		Enabled: e.Enabled(), DisabledAt: e.DisabledAt, DisabledReason: e.DisabledReason, PendingMessages: pending,
		LastSuccessAt: e.LastSuccessAt, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
	if e.PreviousSecretExpiresAt != nil && now.Before(*e.PreviousSecretExpiresAt) {
		w.PreviousSecretExpiresAt = e.PreviousSecretExpiresAt
	}
	return w
}

// CreateWebhookInput is the request of create-webhook.
type CreateWebhookInput struct {
	Body struct {
		URL         string   `json:"url" minLength:"1" maxLength:"2048" doc:"An absolute http or https URL, without user name, password or fragment; its host must be on webhooks.allowed_hosts when that is set, else public" example:"https://crm.example.com/hooks/notifier"`
		Events      []string `json:"events" minItems:"1" maxItems:"8" enum:"delivery.sent,delivery.failed,delivery.expired,delivery.skipped,posting.completed,posting.failed,posting.expired,posting.cancelled" doc:"The event types to receive" example:"[\"delivery.sent\",\"delivery.failed\",\"posting.completed\"]"`
		Description string   `json:"description,omitempty" maxLength:"500" doc:"What it is for (at most 500 characters)" example:"CRM delivery reports"`
	}
}

// WebhookWithSecretOutput answers create-webhook and rotate-webhook-secret.
type WebhookWithSecretOutput struct {
	Body WebhookWithSecret
}

func (p *HTTP) create(ctx context.Context, in *CreateWebhookInput) (*WebhookWithSecretOutput, error) {
	e, err := p.h.Create.Handle(ctx, app.CreateEndpoint{URL: in.Body.URL, Events: in.Body.Events, Description: in.Body.Description})
	if err != nil {
		return nil, problem(err, inBody)
	}
	return &WebhookWithSecretOutput{Body: WebhookWithSecret{Webhook: webhookOf(e, 0, e.CreatedAt), Secret: e.Secret}}, nil
}

// ListWebhooksOutput is the response of list-webhooks.
type ListWebhooksOutput struct {
	Body struct {
		Items []Webhook `json:"items" doc:"The endpoints, oldest first"`
	}
}

func (p *HTTP) list(ctx context.Context, _ *struct{}) (*ListWebhooksOutput, error) {
	views, err := p.h.List.Handle(ctx)
	if err != nil {
		return nil, err
	}
	out := &ListWebhooksOutput{}
	out.Body.Items = make([]Webhook, 0, len(views))
	now := p.clock.Now()
	for _, v := range views {
		out.Body.Items = append(out.Body.Items, webhookOf(v.Endpoint, v.Pending, now))
	}
	return out, nil
}

// WebhookIDInput names an endpoint in the path.
type WebhookIDInput struct {
	ID string `path:"id" maxLength:"64" doc:"Endpoint ID (a UUID)" example:"0e8c1d55-7d3c-4a43-9a4e-3f7c8f9b2a10"`
}

// WebhookOutput is one endpoint.
type WebhookOutput struct {
	Body Webhook
}

func (p *HTTP) get(ctx context.Context, in *WebhookIDInput) (*WebhookOutput, error) {
	v, err := p.h.Get.Handle(ctx, in.ID)
	if err != nil {
		return nil, problem(err, inBody)
	}
	return &WebhookOutput{Body: webhookOf(v.Endpoint, v.Pending, p.clock.Now())}, nil
}

func (p *HTTP) delete(ctx context.Context, in *WebhookIDInput) (*struct{}, error) {
	if err := p.h.Delete.Handle(ctx, in.ID); err != nil {
		return nil, problem(err, inBody)
	}
	return nil, nil
}

func (p *HTTP) rotate(ctx context.Context, in *WebhookIDInput) (*WebhookWithSecretOutput, error) {
	e, err := p.h.Rotate.Handle(ctx, in.ID)
	if err != nil {
		return nil, problem(err, inBody)
	}
	v, err := p.h.Get.Handle(ctx, in.ID)
	pending := 0
	if err == nil {
		pending = v.Pending
	}
	return &WebhookWithSecretOutput{Body: WebhookWithSecret{Webhook: webhookOf(e, pending, e.UpdatedAt), Secret: e.Secret}}, nil
}

func (p *HTTP) enable(ctx context.Context, in *WebhookIDInput) (*WebhookOutput, error) {
	v, err := p.h.Enable.Handle(ctx, in.ID)
	if err != nil {
		return nil, problem(err, inBody)
	}
	return &WebhookOutput{Body: webhookOf(v.Endpoint, v.Pending, p.clock.Now())}, nil
}

// ListAttemptsInput is the request of list-webhook-attempts.
type ListAttemptsInput struct {
	WebhookIDInput
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size" example:"20"`
	Cursor string `query:"cursor" maxLength:"100" doc:"The next_cursor of the previous page" example:"YTgx"`
}

// Attempt is one call to an endpoint.
type Attempt struct {
	At         time.Time `json:"at" doc:"When the call was made (its webhook-timestamp)" example:"2026-03-01T12:00:05Z"`
	EventType  string    `json:"event_type" doc:"The event's type" example:"delivery.sent"`
	WebhookID  string    `json:"webhook_id" doc:"The message's webhook-id, the same on every try" example:"msg_01957a2c9f1e7b3d8a4c5e6f7a8b9c0d"`
	Attempt    int       `json:"attempt" doc:"The try's number for its message, from 1" example:"1"`
	Result     string    `json:"result" enum:"success,failure" doc:"success: a 2xx answer; failure: anything else" example:"failure"`
	StatusCode int       `json:"status_code,omitempty" doc:"The endpoint's answer; absent when none came" example:"503"`
	Error      string    `json:"error,omitempty" doc:"Why no answer came (timed out, connection refused, address not allowed…), or what an answer meant" example:"timed out"`
	DurationMS int64     `json:"duration_ms" doc:"How long the call took, in whole milliseconds (rounded)" example:"12"`
	// NextAttemptAt is set when the message is tried again.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty" doc:"When the message is tried again; absent when it is not (sent, given up, endpoint disabled)" example:"2026-03-01T12:00:15Z"`
}

// ListAttemptsOutput is the response of list-webhook-attempts.
type ListAttemptsOutput struct {
	Body struct {
		Items      []Attempt `json:"items" doc:"The calls, the most recent first"`
		NextCursor string    `json:"next_cursor,omitempty" doc:"Cursor of the next page; absent on the last page" example:"YTgx"`
	}
}

func (p *HTTP) attempts(ctx context.Context, in *ListAttemptsInput) (*ListAttemptsOutput, error) {
	page, err := p.h.Attempts.Handle(ctx, app.ListAttempts{EndpointID: in.ID, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, problem(err, inQuery)
	}
	out := &ListAttemptsOutput{}
	out.Body.Items = make([]Attempt, 0, len(page.Items))
	out.Body.NextCursor = page.NextCursor
	for _, a := range page.Items {
		out.Body.Items = append(out.Body.Items, Attempt{
			At: a.At, EventType: a.EventType, WebhookID: a.WebhookID(), Attempt: a.Attempt, Result: a.Result,
			StatusCode: a.StatusCode, Error: a.Error, DurationMS: a.Duration.Round(time.Millisecond).Milliseconds(),
			NextAttemptAt: a.NextAttemptAt,
		})
	}
	return out, nil
}

// problem maps the use cases' errors to problems: 404 for an unknown
// endpoint, 422 naming the field (where locates it) for bad input;
// anything else is a 500.
func problem(err error, where func(field string) string) error {
	if errors.Is(err, domain.ErrNotFound) {
		return huma.Error404NotFound("no webhook endpoint has this id")
	}
	var inv *app.InvalidInputError
	if !errors.As(err, &inv) {
		return err
	}
	return huma.Error422UnprocessableEntity(inv.Error(), &huma.ErrorDetail{Location: where(inv.Field), Message: inv.Message})
}

func inBody(field string) string  { return "body." + field }
func inQuery(field string) string { return "query." + field }
