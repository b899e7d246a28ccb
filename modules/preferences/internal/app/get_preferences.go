package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/preferences/internal/domain"
)

// GetPreferences asks for a user's effective preferences.
type GetPreferences struct {
	UserID string
}

// PreferencesGetter reads one user's stored preferences.
type PreferencesGetter interface {
	Get(ctx context.Context, userID string) (domain.UserPreferences, bool, error)
}

// GetPreferencesHandler answers GetPreferences.
type GetPreferencesHandler struct {
	store  PreferencesGetter
	policy *domain.Policy
}

// NewGetPreferencesHandler returns the handler; every dependency is required.
func NewGetPreferencesHandler(store PreferencesGetter, policy *domain.Policy) (*GetPreferencesHandler, error) {
	if store == nil || policy == nil {
		return nil, errors.New("new GetPreferencesHandler: store and policy are required")
	}
	return &GetPreferencesHandler{store: store, policy: policy}, nil
}

// Handle returns the user's effective preferences: their overrides over the
// defaults. A user who never stored any gets the defaults. It returns a
// *domain.InvalidInputError for a malformed user id.
func (h *GetPreferencesHandler) Handle(ctx context.Context, q GetPreferences) (domain.View, error) {
	if errs := domain.ValidateUserID(q.UserID); len(errs) > 0 {
		return domain.View{}, &domain.InvalidInputError{Fields: errs}
	}
	prefs, found, err := h.store.Get(ctx, q.UserID)
	if err != nil {
		return domain.View{}, fmt.Errorf("get preferences: %w", err)
	}
	if !found {
		prefs = domain.UserPreferences{UserID: q.UserID}
	}
	return h.policy.View(prefs), nil
}
