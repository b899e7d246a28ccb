package ports

import (
	"context"
	"errors"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/platform/httpapi"
)

// maxPatchBytes bounds a PATCH body: a URL of 2048 characters, every
// event type and a description of 500 characters fit many times over.
const maxPatchBytes = 16 << 10

// WebhookPatch documents the body of patch-webhook: a JSON merge patch
// (RFC 7396) of the endpoint. The handler reads the body itself.
type WebhookPatch struct {
	URL         string   `json:"url,omitempty" maxLength:"2048" doc:"A new URL, checked as at registration (http or https, no user name, password or fragment, a host webhooks.allowed_hosts allows). The messages waiting for the endpoint go to it. null is refused." example:"https://crm.example.com/hooks/v2"`
	Events      []string `json:"events,omitempty" minItems:"1" maxItems:"8" enum:"delivery.sent,delivery.failed,delivery.expired,delivery.skipped,posting.completed,posting.failed,posting.expired,posting.cancelled" doc:"The event types to receive from now on, replacing the list (a merge patch replaces arrays whole); events that happened before are sent or not as the old list said. null is refused." example:"[\"delivery.failed\",\"posting.completed\"]"`
	Description *string  `json:"description,omitempty" maxLength:"500" doc:"A new description (at most 500 characters); null or an empty string removes it." example:"CRM delivery reports, v2"`
}

type patchWebhookInput struct {
	WebhookIDInput
	ContentType string `header:"Content-Type" doc:"application/merge-patch+json (or application/json)."`
	RawBody     []byte
}

func (p *HTTP) registerPatch(api huma.API, tags []string) {
	schema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[WebhookPatch](), true, "")
	example := map[string]any{"url": "https://crm.example.com/hooks/v2", "events": []string{"delivery.failed", "posting.completed"}}
	op := httpapi.Secure(huma.Operation{
		OperationID: "patch-webhook",
		Method:      http.MethodPatch,
		Path:        "/api/v1/webhooks/{id}",
		Summary:     "Change a webhook endpoint's URL, events or description",
		Description: "Applies a JSON merge patch (RFC 7396) to the endpoint: only the members it names change " +
			"(`url`, `events`, which it replaces whole, and `description`, which `null` removes); the endpoint keeps " +
			"its id, its secret, the messages waiting for it and its history. Those messages, and any retry, go to " +
			"the new URL (a call already under way finishes at the old one); the new `events` apply to events that " +
			"happen from now on. The URL is checked as at registration. What a GET answers is accepted back: its " +
			"read-only members are ignored, but `id` must be the endpoint's and `enabled` its current state (an " +
			"endpoint is disabled by its failures only, and enabled by POST …/enable, which also sends what waited). " +
			"A body that is not a JSON object is `400`; a bad value, `null` for `url` or `events`, `secret` or an " +
			"unknown member is `422` naming the field, and nothing changes. `{}` changes nothing (200, `updated_at` " +
			"as it was). Two patches at the same time both take effect. Answers with the endpoint, never its secret.",
		Tags:             tags,
		SkipValidateBody: true,
		MaxBodyBytes:     maxPatchBytes,
		RequestBody: &huma.RequestBody{
			Required: true,
			Content: map[string]*huma.MediaType{
				"application/merge-patch+json": {Schema: schema, Example: example},
				"application/json":             {Schema: schema, Example: example},
			},
		},
		Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
	}, httpapi.RoleAdmin)
	huma.Register(api, op, p.patch)
	httpapi.RawRequestBody(api, op) // the operation takes JSON only
}

func (p *HTTP) patch(ctx context.Context, in *patchWebhookInput) (*WebhookOutput, error) {
	if err := httpapi.CheckMergePatch(in.ContentType); err != nil {
		return nil, err
	}
	v, err := p.h.Patch.Handle(ctx, app.PatchEndpoint{ID: in.ID, Patch: in.RawBody})
	if errors.Is(err, app.ErrMalformedPatch) {
		return nil, huma.Error400BadRequest(err.Error())
	}
	if err != nil {
		return nil, problem(err, inBody)
	}
	return &WebhookOutput{Body: webhookOf(v.Endpoint, v.Pending, p.clock.Now())}, nil
}
