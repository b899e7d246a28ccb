package ports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/httpapi"
)

// FromServiceAPI is the from_service of postings created over HTTP.
const FromServiceAPI = "api"

// HTTP is the posting module's HTTP API (DESIGN §6): create, read, list and
// cancel postings. It implements httpapi.Routes.
type HTTP struct {
	create *app.CreatePostingHandler
	get    *app.GetPostingHandler
	list   *app.ListPostingsHandler
	cancel *app.CancelPostingHandler
	clock  clock.Clock
	log    *slog.Logger
}

var _ httpapi.Routes = (*HTTP)(nil)

// NewHTTP returns the HTTP port; every dependency is required.
func NewHTTP(create *app.CreatePostingHandler, get *app.GetPostingHandler, list *app.ListPostingsHandler,
	cancel *app.CancelPostingHandler, clk clock.Clock, logger *slog.Logger,
) (*HTTP, error) {
	if create == nil || get == nil || list == nil || cancel == nil || clk == nil || logger == nil {
		return nil, errors.New("new posting http port: nil dependency")
	}
	return &HTTP{create: create, get: get, list: list, cancel: cancel, clock: clk, log: logger}, nil
}

// RegisterRoutes adds the posting operations to api.
func (h *HTTP) RegisterRoutes(api huma.API) {
	tags := []string{"postings"}
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "create-posting",
		Method:      http.MethodPost,
		Path:        "/api/v1/postings",
		Summary:     "Create a posting",
		Description: "Creates a posting (201), or returns the existing one (200) for a repeat of the same request " +
			"with the same idempotency key (by default, the same body) within posting.idempotency_retention. " +
			"The same key with a different body is 422. Keys are scoped to the caller's role. " +
			"Channels (delivery_type): email, sms, inapp (the user's in-app inbox) and webhook (the rendered message " +
			"POSTed as JSON, signed per Standard Webhooks, to webhook_url when the posting has one, else to the " +
			"webhook_url of each user's directory record; a user without one is skipped).",
		Tags:          tags,
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusUnprocessableEntity},
	}, httpapi.RoleService), h.createPosting)
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "get-posting",
		Method:      http.MethodGet,
		Path:        "/api/v1/postings/{id}",
		Summary:     "Get a posting with its progress",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, httpapi.RoleService), h.getPosting)
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "list-postings",
		Method:      http.MethodGet,
		Path:        "/api/v1/postings",
		Summary:     "List postings, newest first",
		Tags:        tags,
		Errors:      []int{http.StatusUnprocessableEntity},
	}, httpapi.RoleService), h.listPostings)
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "cancel-posting",
		Method:      http.MethodPost,
		Path:        "/api/v1/postings/{id}/cancel",
		Summary:     "Cancel a posting",
		Description: "Nothing of a cancelled posting that is not sent yet is sent.",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, httpapi.RoleManager), h.cancelPosting)
}

// ExpiresIn is the seed's expires_in: a number of seconds, or a string
// such as "120 sec", "2 min", "120s", "1h" or "90".
type ExpiresIn struct {
	raw json.RawMessage
}

// UnmarshalJSON keeps the raw value for Duration.
func (e *ExpiresIn) UnmarshalJSON(b []byte) error {
	e.raw = bytes.Clone(b)
	return nil
}

// Schema documents expires_in as a string or a number.
func (ExpiresIn) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: `How long the posting stays valid from its acceptance: seconds, or "120 sec", "2 min", "120s", "1h".`,
		OneOf: []*huma.Schema{
			{Type: huma.TypeString, Examples: []any{"120 sec"}},
			{Type: huma.TypeNumber, Examples: []any{120}},
		},
	}
}

// set reports whether the request carried expires_in.
func (e ExpiresIn) set() bool { return len(e.raw) > 0 }

// Duration parses the value.
func (e ExpiresIn) Duration() (time.Duration, error) {
	var s string
	if err := json.Unmarshal(e.raw, &s); err == nil {
		return domain.ParseExpiresIn(s)
	}
	var n float64
	if err := json.Unmarshal(e.raw, &n); err != nil {
		return 0, errors.New("want a string or a number of seconds")
	}
	return domain.ExpiresInSeconds(n)
}

type createPostingBody struct {
	FromEvent        string         `json:"from_event,omitempty" maxLength:"256" doc:"The event this posting answers (its event_id)"`
	Receivers        string         `json:"receivers" minLength:"1" maxLength:"2048" doc:"Directory URL of the recipients, on a configured upstream" example:"http://auth/api/v1/users/?is_active=True&email_notifications=True"`
	Template         string         `json:"template" minLength:"1" maxLength:"256" doc:"Template name; other channels use <channel>/<basename>" example:"email/new_movies.md"`
	DeliveryType     []string       `json:"delivery_type" minItems:"1" maxItems:"4" enum:"email,sms,inapp,webhook" doc:"Channels"`
	WebhookURL       string         `json:"webhook_url,omitempty" maxLength:"2048" doc:"For the webhook channel: the URL every recipient's message is POSTed to (signed per Standard Webhooks), in place of the webhook_url of each user's directory record. An absolute http(s) URL without user name, password or fragment, on a host of webhook_channel.allowed_hosts when that is set, else public. Write-only: never shown again (it may hold the receiver's credential)" example:"https://crm.example.com/hooks/notifier?token=s3cret"`
	TemplateContext  map[string]any `json:"template_context,omitempty" doc:"Template context; string URLs of upstream /api/ resources are fetched once, when the posting starts"`
	ExpiresIn        ExpiresIn      `json:"expires_in,omitempty"`
	NotificationType string         `json:"notification_type,omitempty" maxLength:"64" doc:"Category users opt in or out of; default: the template's base name"`
	Priority         string         `json:"priority,omitempty" enum:"transactional,bulk" doc:"Delivery lane; default: transactional for one user, bulk otherwise"`
	SendAt           *time.Time     `json:"send_at,omitempty" doc:"When to start sending (RFC 3339); default: now"`
	IdempotencyKey   string         `json:"idempotency_key,omitempty" maxLength:"256" doc:"Repeats of the same body with the same key return the first posting; the Idempotency-Key header wins"`
}

type createPostingInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"256" doc:"Idempotency key; wins over the body's idempotency_key. Default: the body's fingerprint"`
	Body           createPostingBody
}

// keyScope is the scope of the idempotency keys of an API caller with
// role: "api:<role>", so that callers of different roles never share a
// posting and API keys never meet the intake's "event:" keys.
func keyScope(role httpapi.Role) string { return FromServiceAPI + ":" + string(role) }

type createPostingOutput struct {
	Status   int
	Location string `header:"Location"`
	Body     postingResource
}

func (h *HTTP) createPosting(ctx context.Context, in *createPostingInput) (*createPostingOutput, error) {
	b := in.Body
	cmd := posting.CreatePosting{
		IdempotencyKey:   b.IdempotencyKey,
		FromEvent:        b.FromEvent,
		FromService:      FromServiceAPI,
		NotificationType: b.NotificationType,
		Receivers:        b.Receivers,
		Template:         b.Template,
		DeliveryType:     b.DeliveryType,
		TemplateContext:  b.TemplateContext,
		Priority:         posting.Priority(b.Priority),
		SendAt:           b.SendAt,
		WebhookURL:       b.WebhookURL,
	}
	keyField := "body.idempotency_key"
	if in.IdempotencyKey != "" {
		cmd.IdempotencyKey = in.IdempotencyKey
		keyField = "header.Idempotency-Key"
	}
	var expiresIn time.Duration
	if b.ExpiresIn.set() {
		d, err := b.ExpiresIn.Duration()
		if err != nil {
			return nil, huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
				Location: "body.expires_in", Message: err.Error(), Value: string(b.ExpiresIn.raw),
			})
		}
		expiresIn = d
		at := h.clock.Now().Add(d)
		cmd.ExpiresAt = &at
	}
	// The fingerprint covers the body as sent, expires_in and not the
	// expires_at it gives now, so that a repeat is the same request.
	fingerprint, err := domain.Request{
		FromEvent: cmd.FromEvent, FromService: cmd.FromService, NotificationType: cmd.NotificationType,
		Receivers: cmd.Receivers, Template: cmd.Template, Channels: cmd.DeliveryType,
		TemplateContext: cmd.TemplateContext, Priority: string(cmd.Priority), SendAt: cmd.SendAt, ExpiresIn: expiresIn,
		WebhookURL: cmd.WebhookURL,
	}.Fingerprint()
	if err != nil {
		return nil, huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
			Location: "body.template_context", Message: "is not a JSON object",
		})
	}
	cmd.RequestFingerprint = fingerprint
	role, _ := httpapi.RoleFromContext(ctx)
	p, created, err := h.create.HandleFor(ctx, keyScope(role), cmd)
	if err != nil {
		var e *app.Error
		if errors.As(err, &e) && e.Code == app.CodeKeyReused {
			return nil, huma.Error422UnprocessableEntity("idempotency key already used with a different request",
				&huma.ErrorDetail{Location: keyField, Message: e.Message})
		}
		if errors.As(err, &e) && e.Field == "idempotency_key" {
			return nil, huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{Location: keyField, Message: e.Message})
		}
		return nil, h.problem(ctx, err, "body")
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return &createPostingOutput{Status: status, Location: "/api/v1/postings/" + p.ID.String(), Body: resourceOf(p)}, nil
}

type postingIDInput struct {
	ID string `path:"id" maxLength:"64" doc:"Posting ID (a UUID)"`
}

type postingOutput struct {
	Body postingResource
}

func (h *HTTP) getPosting(ctx context.Context, in *postingIDInput) (*postingOutput, error) {
	p, err := h.get.Handle(ctx, in.ID)
	if err != nil {
		return nil, h.problem(ctx, err, "path")
	}
	return &postingOutput{Body: resourceOf(p)}, nil
}

func (h *HTTP) cancelPosting(ctx context.Context, in *postingIDInput) (*postingOutput, error) {
	p, err := h.cancel.Handle(ctx, in.ID)
	if err != nil {
		return nil, h.problem(ctx, err, "path")
	}
	return &postingOutput{Body: resourceOf(p)}, nil
}

type listPostingsInput struct {
	FromEvent        string `query:"from_event" maxLength:"256" doc:"Only postings made from this event"`
	Status           string `query:"status" enum:"accepted,scheduled,dispatching,completed,cancelled,expired,failed" doc:"Only postings in this status"`
	NotificationType string `query:"notification_type" maxLength:"64" doc:"Only postings of this notification type"`
	Limit            int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Page size"`
	Cursor           string `query:"cursor" maxLength:"256" doc:"next_cursor of the previous page"`
}

type listPostingsOutput struct {
	Body struct {
		Items      []postingResource `json:"items"`
		NextCursor string            `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page"`
	}
}

func (h *HTTP) listPostings(ctx context.Context, in *listPostingsInput) (*listPostingsOutput, error) {
	page, err := h.list.Handle(ctx, app.ListPostings{
		FromEvent: in.FromEvent, Status: in.Status, NotificationType: in.NotificationType,
		Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, h.problem(ctx, err, "query")
	}
	out := &listPostingsOutput{}
	out.Body.Items = make([]postingResource, 0, len(page.Items))
	for _, p := range page.Items {
		out.Body.Items = append(out.Body.Items, resourceOf(p))
	}
	out.Body.NextCursor = page.NextCursor
	return out, nil
}

// problem maps a use-case error to a problem response; fields are located
// under where (body, query, path).
func (h *HTTP) problem(ctx context.Context, err error, where string) error {
	var e *app.Error
	if errors.As(err, &e) {
		switch e.Code {
		case app.CodeInvalid:
			return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{Location: where + "." + e.Field, Message: e.Message})
		case app.CodeNotFound:
			return huma.Error404NotFound(e.Message)
		case app.CodeConflict:
			return huma.Error409Conflict(e.Message)
		}
	}
	h.log.ErrorContext(ctx, "posting request failed", "error", err)
	return huma.Error500InternalServerError("an internal error occurred; it has been logged")
}

type countersResource struct {
	Recipients int `json:"recipients" doc:"Users the audience walk resolved so far"`
	Skipped    int `json:"skipped" doc:"(user, channel) deliveries skipped (opt-outs, no address)"`
	Sent       int `json:"sent"`
	Failed     int `json:"failed"`
	Expired    int `json:"expired"`
	Cancelled  int `json:"cancelled"`
}

type postingResource struct {
	ID               string           `json:"id" format:"uuid"`
	Status           string           `json:"status" enum:"accepted,scheduled,dispatching,completed,cancelled,expired,failed"`
	FromEvent        string           `json:"from_event"`
	FromService      string           `json:"from_service"`
	NotificationType string           `json:"notification_type"`
	Template         string           `json:"template"`
	DeliveryType     []string         `json:"delivery_type"`
	Priority         string           `json:"priority" enum:"transactional,bulk"`
	Receivers        string           `json:"receivers"`
	ExpiresAt        *time.Time       `json:"expires_at" nullable:"true"`
	SendAt           *time.Time       `json:"send_at" nullable:"true"`
	CreatedAt        time.Time        `json:"created_at"`
	UpdatedAt        time.Time        `json:"updated_at"`
	CompletedAt      *time.Time       `json:"completed_at" nullable:"true" doc:"When the posting reached a final status"`
	Error            *string          `json:"error" nullable:"true" doc:"Why the posting failed"`
	Counters         countersResource `json:"counters" doc:"Progress; deliveries count (user, channel) pairs"`
}

func resourceOf(p domain.Posting) postingResource {
	r := postingResource{
		ID:               p.ID.String(),
		Status:           string(p.Status),
		FromEvent:        p.FromEvent,
		FromService:      p.FromService,
		NotificationType: p.NotificationType,
		Template:         p.Template,
		DeliveryType:     append([]string{}, p.Channels...),
		Priority:         string(p.Priority),
		Receivers:        p.Receivers,
		ExpiresAt:        p.ExpiresAt,
		SendAt:           p.SendAt,
		CreatedAt:        p.CreatedAt,
		UpdatedAt:        p.UpdatedAt,
		CompletedAt:      p.CompletedAt,
		Counters: countersResource{
			Recipients: p.Counters.Recipients, Skipped: p.Counters.Skipped, Sent: p.Counters.Sent,
			Failed: p.Counters.Failed, Expired: p.Counters.Expired, Cancelled: p.Counters.Cancelled,
		},
	}
	if p.Error != "" {
		reason := p.Error
		r.Error = &reason
	}
	return r
}
