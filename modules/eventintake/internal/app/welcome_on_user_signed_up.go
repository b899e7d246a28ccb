package app

import (
	"context"
	"errors"

	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/config"
)

// WelcomeOnUserSignedUpName is the handler name of WelcomeOnUserSignedUp.
const WelcomeOnUserSignedUpName = "eventintake.WelcomeOnUserSignedUp"

// WelcomeOnUserSignedUp asks for a welcome posting to the user who signed
// up: the receivers template's {user} is details.user, and the template
// context carries the username and the user's URL.
type WelcomeOnUserSignedUp struct {
	flow     flow
	commands CommandSender
}

// NewWelcomeOnUserSignedUp returns the handler of the user_signed_up flow
// in flows. It fails when the flow is missing or broken (its receivers
// must hold {user}) or commands is nil.
func NewWelcomeOnUserSignedUp(flows map[string]config.Flow, commands CommandSender) (*WelcomeOnUserSignedUp, error) {
	if commands == nil {
		return nil, errors.New("new welcome handler: nil command sender")
	}
	f, err := newFlow(eventintake.EventUserSignedUp, flows, "user")
	if err != nil {
		return nil, err
	}
	return &WelcomeOnUserSignedUp{flow: f, commands: commands}, nil
}

// HandlerName implements EventHandler.
func (*WelcomeOnUserSignedUp) HandlerName() string { return WelcomeOnUserSignedUpName }

// EventType implements EventHandler.
func (*WelcomeOnUserSignedUp) EventType() string { return eventintake.EventUserSignedUp }

// Priority implements EventHandler.
func (h *WelcomeOnUserSignedUp) Priority() posting.Priority { return h.flow.priority }

// Handle implements EventHandler.
func (h *WelcomeOnUserSignedUp) Handle(ctx context.Context, key string, ev domain.Event) error {
	d, err := detailsOf[domain.UserSignedUp](WelcomeOnUserSignedUpName, ev)
	if err != nil {
		return err
	}
	cmd := h.flow.posting(key, WelcomeOnUserSignedUpName, "", ev.FromService, d.User, map[string]any{
		"username": d.Username,
		"user_url": d.User,
	})
	return sendAll(ctx, h.commands, []posting.CreatePosting{cmd})
}
