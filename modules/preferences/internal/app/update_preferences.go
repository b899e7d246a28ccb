package app

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// UpdatePreferences replaces a user's overrides: a channel or type left out
// returns to its default. Opting out of a mandatory type is stored but has
// no effect while the type stays mandatory.
type UpdatePreferences struct {
	UserID   string
	Channels map[string]bool
	Types    map[string]bool
	PerType  map[string]map[string]bool
	// QuietHours is the user's own window; nil: the configured one.
	QuietHours *domain.QuietHours
}

// PreferencesPutter replaces one user's stored preferences.
type PreferencesPutter interface {
	Put(ctx context.Context, prefs domain.UserPreferences) error
}

// UpdatePreferencesHandler handles UpdatePreferences.
type UpdatePreferencesHandler struct {
	store  PreferencesPutter
	policy *domain.Policy
	clock  clock.Clock
}

// NewUpdatePreferencesHandler returns the handler; every dependency is
// required.
func NewUpdatePreferencesHandler(store PreferencesPutter, policy *domain.Policy, clk clock.Clock) (*UpdatePreferencesHandler, error) {
	if store == nil || policy == nil || clk == nil {
		return nil, errors.New("new UpdatePreferencesHandler: store, policy and clock are required")
	}
	return &UpdatePreferencesHandler{store: store, policy: policy, clock: clk}, nil
}

// Handle stores the new overrides, stamped with the current time, and
// returns the resulting effective preferences. It returns a
// *domain.InvalidInputError naming every malformed field (user id, unknown
// channel, malformed type name) and stores nothing then.
func (h *UpdatePreferencesHandler) Handle(ctx context.Context, cmd UpdatePreferences) (domain.View, error) {
	overrides := domain.Overrides{Channels: cmd.Channels, Types: cmd.Types, PerType: cmd.PerType, QuietHours: cmd.QuietHours}.Clone()
	overrides.Compact()
	if errs := slices.Concat(domain.ValidateUserID(cmd.UserID), domain.ValidateOverrides(overrides)); len(errs) > 0 {
		return domain.View{}, &domain.InvalidInputError{Fields: errs}
	}
	prefs := domain.UserPreferences{
		UserID:    cmd.UserID,
		Overrides: overrides,
		UpdatedAt: h.clock.Now().UTC(),
	}
	if err := h.store.Put(ctx, prefs); err != nil {
		return domain.View{}, fmt.Errorf("update preferences: %w", err)
	}
	return h.policy.View(prefs), nil
}
