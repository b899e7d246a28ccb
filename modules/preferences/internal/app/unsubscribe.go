package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/unsubscribe"
)

// Unsubscribe turns off what the token of a one-click unsubscribe link
// names: one notification type on one channel, for one user.
type Unsubscribe struct {
	Token string
}

// ErrInvalidToken is returned for a token that was forged, altered, or
// names something that is not a user, a type and a channel.
var ErrInvalidToken = errors.New("this unsubscribe link is not valid")

// TokenVerifier reads the subject of an unsubscribe token
// (*unsubscribe.Links).
type TokenVerifier interface {
	Verify(token string) (unsubscribe.Subject, error)
}

// UnsubscribeHandler handles Unsubscribe, and reads a token for the page
// that asks first (Subject).
type UnsubscribeHandler struct {
	tokens TokenVerifier
	store  PreferencesUpdater
	clock  clock.Clock
}

// NewUnsubscribeHandler returns the handler; every dependency is required.
func NewUnsubscribeHandler(tokens TokenVerifier, store PreferencesUpdater, clk clock.Clock) (*UnsubscribeHandler, error) {
	if tokens == nil || store == nil || clk == nil {
		return nil, errors.New("new UnsubscribeHandler: token verifier, store and clock are required")
	}
	return &UnsubscribeHandler{tokens: tokens, store: store, clock: clk}, nil
}

// Subject returns what token would turn off, changing nothing (the page a
// GET shows: link scanners fetch links, so a GET must never unsubscribe).
// It returns ErrInvalidToken for a token that is not valid.
func (h *UnsubscribeHandler) Subject(token string) (unsubscribe.Subject, error) {
	s, err := h.tokens.Verify(token)
	if err != nil {
		return unsubscribe.Subject{}, ErrInvalidToken
	}
	if len(domain.ValidateUserID(s.UserID)) > 0 || !domain.ValidTypeName(s.Type) || !domain.IsKnownChannel(s.Channel) {
		return unsubscribe.Subject{}, ErrInvalidToken
	}
	return s, nil
}

// Handle turns the token's type off on its channel for its user (the
// per-type switch, so that other types and channels keep going) and
// returns the subject. A repeat changes nothing more. It returns
// ErrInvalidToken for a token that is not valid, and stores nothing then.
func (h *UnsubscribeHandler) Handle(ctx context.Context, cmd Unsubscribe) (unsubscribe.Subject, error) {
	s, err := h.Subject(cmd.Token)
	if err != nil {
		return unsubscribe.Subject{}, err
	}
	_, err = h.store.Update(ctx, s.UserID, func(p domain.UserPreferences) (domain.UserPreferences, error) {
		if on, set := p.Overrides.TypeChannel(s.Type, s.Channel); set && !on {
			return p, nil // already off: keep its time
		}
		if p.Overrides.PerType == nil {
			p.Overrides.PerType = map[string]map[string]bool{}
		}
		if p.Overrides.PerType[s.Type] == nil {
			p.Overrides.PerType[s.Type] = map[string]bool{}
		}
		p.Overrides.PerType[s.Type][s.Channel] = false
		p.UpdatedAt = h.clock.Now().UTC()
		return p, nil
	})
	if err != nil {
		return unsubscribe.Subject{}, fmt.Errorf("unsubscribe: %w", err)
	}
	return s, nil
}
