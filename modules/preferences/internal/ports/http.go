// Package ports is the preferences module's HTTP port:
// GET, PUT and PATCH /api/v1/users/{user_id}/preferences.
package ports

import (
	"context"
	"errors"
	"net/http"
	"reflect"
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

// PreferencesPatcher handles app.PatchPreferences.
type PreferencesPatcher interface {
	Handle(ctx context.Context, cmd app.PatchPreferences) (domain.View, error)
}

// HTTP serves users' preferences. It implements httpapi.Routes.
type HTTP struct {
	get    PreferencesGetter
	update PreferencesUpdater
	patch  PreferencesPatcher
}

// NewHTTP returns the port; every use case is required.
func NewHTTP(get PreferencesGetter, update PreferencesUpdater, patch PreferencesPatcher) (*HTTP, error) {
	if get == nil || update == nil || patch == nil {
		return nil, errors.New("new preferences http port: get, update and patch use cases are required")
	}
	return &HTTP{get: get, update: update, patch: patch}, nil
}

// maxPatchBytes bounds a PATCH body: every switch of 256 types on every
// channel fits many times over.
const maxPatchBytes = 64 << 10

// PreferencesResource is a user's effective preferences.
type PreferencesResource struct {
	UserID     string                     `json:"user_id" doc:"The user." example:"3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"`
	Channels   map[string]bool            `json:"channels" doc:"Whether the user receives notifications on each channel: every supported channel (email, sms, inapp, webhook), the user's choice or else the default." example:"{\"email\":true,\"sms\":false}"`
	Types      map[string]bool            `json:"types" doc:"Whether the user receives each notification type: every configured and mandatory type and every type the user chose, the user's choice or else the default. Mandatory types are always true." example:"{\"new_movies\":false,\"new_episode\":true,\"reactions\":true,\"welcome\":true,\"email_confirmation\":true,\"phone_confirmation\":true}"`
	PerType    map[string]map[string]bool `json:"per_type" doc:"The user's own switches of a type on one channel (an empty object when none is set): a delivery goes out when the channel, the type and (if set here) that type on that channel are all on, or when the type is mandatory. Keys are type names, then channels." example:"{\"new_movies\":{\"email\":true,\"sms\":false}}"`
	QuietHours *QuietHoursBody            `json:"quiet_hours" doc:"The daily window in which bulk notifications (not codes, not mandatory types) wait until it ends, in the user's time zone from the directory: the user's own, else the configured one; null when there is none. start equal to end means none for this user." example:"{\"start\":\"22:00\",\"end\":\"08:00\"}"`
	Mandatory  []string                   `json:"mandatory" doc:"The types delivered whatever the user opted out of (channels included), as long as there is an address." example:"[\"email_confirmation\",\"phone_confirmation\"]"`
	UpdatedAt  *time.Time                 `json:"updated_at,omitempty" doc:"When the user last changed their choices; absent if they never did."`
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
	UserID     string                     `json:"user_id,omitempty" maxLength:"128" doc:"Optional; when present it must be the user of the path." example:"3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"`
	Channels   map[string]bool            `json:"channels,omitempty" maxProperties:"16" doc:"Opt-in per channel; keys are email, sms, inapp and webhook. A channel left out follows its default." example:"{\"sms\":false}"`
	Types      map[string]bool            `json:"types,omitempty" maxProperties:"256" doc:"Opt-in per notification type; keys match ^[a-z][a-z0-9_]{0,63}$. A type left out follows its default." example:"{\"new_movies\":false}"`
	PerType    map[string]map[string]bool `json:"per_type,omitempty" maxProperties:"256" doc:"Opt-in of a type on one channel; keys are type names, then channels (email, sms, inapp, webhook). A switch left out says nothing: the channel's and the type's decide." example:"{\"new_movies\":{\"sms\":false}}"`
	QuietHours *QuietHoursBody            `json:"quiet_hours,omitempty" doc:"The user's own quiet hours (start equal to end: none); left out, the configured ones apply." example:"{\"start\":\"23:00\",\"end\":\"07:30\"}"`
	Mandatory  []string                   `json:"mandatory,omitempty" maxItems:"256" readOnly:"true" doc:"Read-only: accepted so that a GET body can be sent back, and ignored."`
	UpdatedAt  *time.Time                 `json:"updated_at,omitempty" readOnly:"true" doc:"Read-only: accepted so that a GET body can be sent back, and ignored."`
}

type putPreferencesInput struct {
	UserID string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"`
	Body   PreferencesChoices
}

// QuietHoursBody is a daily window of local time.
type QuietHoursBody struct {
	Start string `json:"start" doc:"When the window starts, \"HH:MM\" (24-hour clock)." example:"22:00"`
	End   string `json:"end" doc:"When it ends, \"HH:MM\"; before start, the window spans midnight." example:"08:00"`
}

func quietHoursOf(b *QuietHoursBody) *domain.QuietHours {
	if b == nil {
		return nil
	}
	return &domain.QuietHours{Start: b.Start, End: b.End}
}

// PreferencesPatch documents the body of PATCH: a JSON merge patch (RFC
// 7396) of the preferences resource. The handler reads the body itself.
type PreferencesPatch struct {
	UserID     string                      `json:"user_id,omitempty" doc:"Optional; when present it must be the user of the path."`
	Channels   map[string]*bool            `json:"channels,omitempty" doc:"Channel switches to change: true, false, or null for the default. null instead of the object clears every channel switch."`
	Types      map[string]*bool            `json:"types,omitempty" doc:"Type switches to change: true, false, or null for the default."`
	PerType    map[string]map[string]*bool `json:"per_type,omitempty" doc:"Switches of a type on one channel to change: true, false, or null to remove the switch; a type set to null removes all of its switches."`
	QuietHours *QuietHoursBody             `json:"quiet_hours,omitempty" doc:"The user's own quiet hours, merged into theirs (send only start to move the start); null returns to the configured ones."`
}

type patchPreferencesInput struct {
	UserID      string `path:"user_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"The user's id (1 to 128 of A-Z a-z 0-9 _ . : -)." example:"3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"`
	ContentType string `header:"Content-Type" doc:"application/merge-patch+json (or application/json)."`
	RawBody     []byte
}

// Resolve checks what the schema cannot express: channel keys are supported
// channels, type keys are well-formed names.
func (in *putPreferencesInput) Resolve(huma.Context) []error {
	fieldErrs := domain.ValidateOverrides(domain.Overrides{Channels: in.Body.Channels, Types: in.Body.Types, PerType: in.Body.PerType,
		QuietHours: quietHoursOf(in.Body.QuietHours)})
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
		Description: "Replaces the user's choices with the body: a channel, type or per-type switch left out returns to its default " +
			"(send `{}` to reset everything). The body of a GET is accepted as it is (its `user_id` must be the " +
			"path's; `mandatory` and `updated_at` are read-only and ignored), so reading, changing one switch and " +
			"writing back works; note that it then stores every switch it lists as the user's own choice. Notifications are delivered only on a channel and of a type the user " +
			"has enabled.\n\nOpting out of a mandatory type (listed in `mandatory`, such as `email_confirmation` and " +
			"`phone_confirmation`) is accepted and stored but has no effect: mandatory notifications are always " +
			"delivered, whatever the channel and type choices, as long as the user has an address. " +
			"Answers with the resulting effective preferences.",
		Tags: []string{"Preferences"},
	}, httpapi.RoleManager, httpapi.OrSelf("user_id")), h.putPreferences)

	patchSchema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[PreferencesPatch](), true, "")
	example := map[string]any{"per_type": map[string]any{"new_movies": map[string]any{"sms": false}}}
	op := httpapi.Secure(huma.Operation{
		OperationID: "patch-user-preferences",
		Method:      http.MethodPatch,
		Path:        "/api/v1/users/{user_id}/preferences",
		Summary:     "Change some of a user's notification preferences",
		Description: "Applies a JSON merge patch (RFC 7396) to the user's choices: only the switches it names change; " +
			"`null` returns a switch to its default (`{\"channels\": null}` clears every channel switch). " +
			"For example `{\"per_type\": {\"new_movies\": {\"sms\": false}}}` stops new-movie SMS and nothing else. " +
			"`user_id`, when present, must be the path's; `mandatory` and `updated_at` are ignored. Two patches of one " +
			"user at the same time both take effect. A body that is not a JSON object is `400`; an unknown member, a " +
			"switch that is not a boolean or null, an unsupported channel or a malformed type is `422` naming the field, " +
			"and nothing changes. Answers with the resulting effective preferences.",
		Tags:             []string{"Preferences"},
		SkipValidateBody: true,
		MaxBodyBytes:     maxPatchBytes,
		RequestBody: &huma.RequestBody{
			Required: true,
			Content: map[string]*huma.MediaType{
				"application/merge-patch+json": {Schema: patchSchema, Example: example},
				"application/json":             {Schema: patchSchema, Example: example},
			},
		},
		Errors: []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
	}, httpapi.RoleManager, httpapi.OrSelf("user_id"))
	huma.Register(api, op, h.patchPreferences)
	httpapi.RawRequestBody(api, op) // the operation takes JSON only
}

func (h *HTTP) patchPreferences(ctx context.Context, in *patchPreferencesInput) (*preferencesOutput, error) {
	if err := httpapi.CheckMergePatch(in.ContentType); err != nil {
		return nil, err
	}
	v, err := h.patch.Handle(ctx, app.PatchPreferences{UserID: in.UserID, Patch: in.RawBody})
	if errors.Is(err, app.ErrMalformedPatch) {
		return nil, huma.Error400BadRequest(err.Error())
	}
	if err != nil {
		// The path's user id passed the schema's pattern before the
		// handler ran: a user_id the use case names is the body's.
		return nil, toProblemIn(err, "patch preferences", "body.user_id")
	}
	return &preferencesOutput{Body: toResource(v)}, nil
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
		PerType:  in.Body.PerType,

		QuietHours: quietHoursOf(in.Body.QuietHours),
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
		PerType:   v.PerType,
		Mandatory: v.Mandatory,
	}
	if q := v.QuietHours; q != nil {
		r.QuietHours = &QuietHoursBody{Start: q.Start, End: q.End}
	}
	if r.PerType == nil {
		r.PerType = map[string]map[string]bool{}
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
	return toProblemIn(err, action, "path.user_id")
}

// toProblemIn is toProblem with the user_id field located at userIDLoc.
func toProblemIn(err error, action, userIDLoc string) error {
	var invalid *domain.InvalidInputError
	if errors.As(err, &invalid) {
		details := make([]error, 0, len(invalid.Fields))
		for _, fe := range invalid.Fields {
			d := detail(fe)
			if fe.Field == "user_id" {
				d.Location = userIDLoc
			}
			details = append(details, d)
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
