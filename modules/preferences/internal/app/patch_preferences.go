package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// PatchPreferences changes some of a user's choices: Patch is a JSON merge
// patch (RFC 7396) of the preferences resource, such as
// {"per_type": {"new_movies": {"sms": false}}}. What it does not name
// stays as it was; a switch set to null returns to its default.
type PatchPreferences struct {
	UserID string
	Patch  []byte
}

// ErrMalformedPatch is returned (wrapped) for a patch that is not a JSON
// object.
var ErrMalformedPatch = errors.New("the body must be a JSON object (a JSON merge patch)")

// PreferencesUpdater changes one user's stored preferences atomically.
type PreferencesUpdater interface {
	Update(ctx context.Context, userID string, change func(domain.UserPreferences) (domain.UserPreferences, error)) (domain.UserPreferences, error)
}

// PatchPreferencesHandler handles PatchPreferences.
type PatchPreferencesHandler struct {
	store  PreferencesUpdater
	policy *domain.Policy
	clock  clock.Clock
}

// NewPatchPreferencesHandler returns the handler; every dependency is
// required.
func NewPatchPreferencesHandler(store PreferencesUpdater, policy *domain.Policy, clk clock.Clock) (*PatchPreferencesHandler, error) {
	if store == nil || policy == nil || clk == nil {
		return nil, errors.New("new PatchPreferencesHandler: store, policy and clock are required")
	}
	return &PatchPreferencesHandler{store: store, policy: policy, clock: clk}, nil
}

// Handle applies the patch to the user's stored choices (atomically: two
// patches of one user never lose either's change), stamps them with the
// current time and returns the resulting effective preferences. A patch
// that is not a JSON object is ErrMalformedPatch; one that names an
// unknown member, a switch that is not a boolean or null, an unsupported
// channel, a malformed type or another user (user_id) is a
// *domain.InvalidInputError naming each field, and nothing is stored.
func (h *PatchPreferencesHandler) Handle(ctx context.Context, cmd PatchPreferences) (domain.View, error) {
	if errs := domain.ValidateUserID(cmd.UserID); len(errs) > 0 {
		return domain.View{}, &domain.InvalidInputError{Fields: errs}
	}
	var patch map[string]any
	if err := json.Unmarshal(cmd.Patch, &patch); err != nil || patch == nil {
		return domain.View{}, ErrMalformedPatch
	}
	if id, present := patch["user_id"]; present && id != cmd.UserID {
		return domain.View{}, &domain.InvalidInputError{Fields: []domain.FieldError{{
			Field: "user_id", Message: "does not match the user of the path", Value: id,
		}}}
	}
	prefs, err := h.store.Update(ctx, cmd.UserID, func(p domain.UserPreferences) (domain.UserPreferences, error) {
		overrides, errs := domain.MergePatch(p.Overrides, patch)
		errs = slices.Concat(errs, domain.ValidateOverrides(overrides))
		if len(errs) > 0 {
			return p, &domain.InvalidInputError{Fields: errs}
		}
		p.Overrides = overrides
		p.UpdatedAt = h.clock.Now().UTC()
		return p, nil
	})
	if err != nil {
		var invalid *domain.InvalidInputError
		if errors.As(err, &invalid) {
			return domain.View{}, invalid
		}
		return domain.View{}, fmt.Errorf("patch preferences: %w", err)
	}
	return h.policy.View(prefs), nil
}
