// Package ports is the preferences module's HTTP port:
// GET and PUT /api/v1/users/{user_id}/preferences.
package ports

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/httpapi"
)

// PreferencesGetter answers app.GetPreferences.
type PreferencesGetter interface {
	Handle(ctx context.Context, q app.GetPreferences) (domain.View, error)
}

// PreferencesUpdater handles app.UpdatePreferences.
type PreferencesUpdater interface {
	Handle(ctx context.Context, cmd app.UpdatePreferences) (domain.View, error)
}

// HTTP serves users' preferences. It implements httpapi.Routes.
type HTTP struct {
	get    PreferencesGetter
	update PreferencesUpdater
}

// NewHTTP returns the port; both use cases are required.
func NewHTTP(get PreferencesGetter, update PreferencesUpdater) (*HTTP, error) {
	if get == nil || update == nil {
		return nil, errors.New("new preferences http port: get and update use cases are required")
	}
	return &HTTP{get: get, update: update}, nil
}

// PreferencesResource is a user's effective preferences.
type PreferencesResource struct {
	UserID    string          `json:"user_id" doc:"The user." example:"3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"`
	Channels  map[string]bool `json:"channels" doc:"Whether the user receives notifications on each channel: every supported channel (email, sms), the user's choice or else the default." example:"{\"email\":true,\"sms\":false}"`
	Types     map[string]bool `json:"types" doc:"Whether the user receives each notification type: every configured and mandatory type and every type the user chose, the user's choice or else the default. Mandatory types are always true." example:"{\"new_movies\":false,\"new_episode\":true,\"reactions\":true,\"welcome\":true,\"email_confirmation\":true,\"phone_confirmation\":true}"`
	Mandatory []string        `json:"mandatory" doc:"The types delivered whatever the user opted out of (channels included), as long as there is an address." example:"[\"email_confirmation\",\"phone_confirmation\"]"`
	UpdatedAt *time.Time      `json:"updated_at,omitempty" doc:"When the user last replaced their choices; absent if they never did."`
}

// preferencesOutput is the response of both operations.
type preferencesOutput struct {
	Body PreferencesResource
}

type getPreferencesInput struct {
	UserID string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"`
}

// PreferencesChoices is the body of PUT: the user's choices, replacing the
// previous ones. It accepts everything GET answers with, so a client can
// read the resource, change one switch and write it back: user_id must be
// the path's, and the read-only mandatory and updated_at are ignored.
type PreferencesChoices struct {
	UserID    string          `json:"user_id,omitempty" maxLength:"128" doc:"Optional; when present it must be the user of the path." example:"3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"`
	Channels  map[string]bool `json:"channels,omitempty" maxProperties:"16" doc:"Opt-in per channel; keys are email and sms. A channel left out follows its default." example:"{\"sms\":false}"`
	Types     map[string]bool `json:"types,omitempty" maxProperties:"256" doc:"Opt-in per notification type; keys match ^[a-z][a-z0-9_]{0,63}$. A type left out follows its default." example:"{\"new_movies\":false}"`
	Mandatory []string        `json:"mandatory,omitempty" maxItems:"256" readOnly:"true" doc:"Read-only: accepted so that a GET body can be sent back, and ignored."`
	UpdatedAt *time.Time      `json:"updated_at,omitempty" readOnly:"true" doc:"Read-only: accepted so that a GET body can be sent back, and ignored."`
}

type putPreferencesInput struct {
	UserID string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"`
	Body   PreferencesChoices
}

// Resolve checks what the schema cannot express: channel keys are supported
// channels, type keys are well-formed names.
func (in *putPreferencesInput) Resolve(huma.Context) []error {
	fieldErrs := domain.ValidateOverrides(domain.Overrides{Channels: in.Body.Channels, Types: in.Body.Types})
	errs := make([]error, 0, len(fieldErrs)+1)
	if in.Body.UserID != "" && in.Body.UserID != in.UserID {
		errs = append(errs, &huma.ErrorDetail{Location: "body.user_id", Value: in.Body.UserID,
			Message: "does not match the user of the path"})
	}
	for _, fe := range fieldErrs {
		errs = append(errs, detail(fe))
	}
	return errs
}

// RegisterRoutes implements httpapi.Routes. Every operation takes a
// manager's token for any user, or a user's own token (a JWT) for that
// user alone (httpapi.OrSelf on the path's user_id).
func (h *HTTP) RegisterRoutes(api huma.API) {
	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "get-user-preferences",
		Method:      http.MethodGet,
		Path:        "/api/v1/users/{user_id}/preferences",
		Summary:     "Get a user's notification preferences",
		Description: "Returns the user's effective opt-ins: every supported channel and every known notification type, " +
			"each the user's own choice or else the configured default. A user who never chose gets the defaults.",
		Tags: []string{"Preferences"},
	}, httpapi.RoleManager, httpapi.OrSelf("user_id")), h.getPreferences)

	huma.Register(api, httpapi.Secure(huma.Operation{
		OperationID: "put-user-preferences",
		Method:      http.MethodPut,
		Path:        "/api/v1/users/{user_id}/preferences",
		Summary:     "Replace a user's notification preferences",
		Description: "Replaces the user's choices with the body: a channel or type left out returns to its default " +
			"(send `{}` to reset everything). The body of a GET is accepted as it is (its `user_id` must be the " +
			"path's; `mandatory` and `updated_at` are read-only and ignored), so reading, changing one switch and " +
			"writing back works; note that it then stores every switch it lists as the user's own choice. Notifications are delivered only on a channel and of a type the user " +
			"has enabled.\n\nOpting out of a mandatory type (listed in `mandatory`, such as `email_confirmation` and " +
			"`phone_confirmation`) is accepted and stored but has no effect: mandatory notifications are always " +
			"delivered, whatever the channel and type choices, as long as the user has an address. " +
			"Answers with the resulting effective preferences.",
		Tags: []string{"Preferences"},
	}, httpapi.RoleManager, httpapi.OrSelf("user_id")), h.putPreferences)
}

func (h *HTTP) getPreferences(ctx context.Context, in *getPreferencesInput) (*preferencesOutput, error) {
	v, err := h.get.Handle(ctx, app.GetPreferences{UserID: in.UserID})
	if err != nil {
		return nil, toProblem(err, "get preferences")
	}
	return &preferencesOutput{Body: toResource(v)}, nil
}

func (h *HTTP) putPreferences(ctx context.Context, in *putPreferencesInput) (*preferencesOutput, error) {
	v, err := h.update.Handle(ctx, app.UpdatePreferences{
		UserID:   in.UserID,
		Channels: in.Body.Channels,
		Types:    in.Body.Types,
	})
	if err != nil {
		return nil, toProblem(err, "update preferences")
	}
	return &preferencesOutput{Body: toResource(v)}, nil
}

func toResource(v domain.View) PreferencesResource {
	r := PreferencesResource{
		UserID:    v.UserID,
		Channels:  v.Channels,
		Types:     v.Types,
		Mandatory: v.Mandatory,
	}
	if r.Mandatory == nil {
		r.Mandatory = []string{}
	}
	if !v.UpdatedAt.IsZero() {
		at := v.UpdatedAt.UTC()
		r.UpdatedAt = &at
	}
	return r
}

// toProblem maps a use case error to a problem: invalid input is a 422
// naming each field; anything else is a 500 whose cause the server logs and
// hides.
func toProblem(err error, action string) error {
	var invalid *domain.InvalidInputError
	if errors.As(err, &invalid) {
		details := make([]error, 0, len(invalid.Fields))
		for _, fe := range invalid.Fields {
			details = append(details, detail(fe))
		}
		return huma.Error422UnprocessableEntity("validation failed", details...)
	}
	return huma.Error500InternalServerError(action+" failed", err)
}

// detail turns a domain field error into a Huma error detail located in the
// request: the user id is in the path, everything else in the body.
func detail(fe domain.FieldError) *huma.ErrorDetail {
	loc := "body." + fe.Field
	if fe.Field == "user_id" {
		loc = "path.user_id"
	}
	return &huma.ErrorDetail{Location: loc, Message: fe.Message, Value: fe.Value}
}
