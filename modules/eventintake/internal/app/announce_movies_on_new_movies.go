package app

import (
	"context"
	"errors"
	"slices"

	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/config"
)

// AnnounceMoviesOnNewMoviesName is the handler name of
// AnnounceMoviesOnNewMovies.
const AnnounceMoviesOnNewMoviesName = "eventintake.AnnounceMoviesOnNewMovies"

// AnnounceMoviesOnNewMovies asks for one mailing about new movies to the
// configured receivers; the template context carries the movies' URLs,
// which the posting module fetches once.
type AnnounceMoviesOnNewMovies struct {
	flow     flow
	commands CommandSender
}

// NewAnnounceMoviesOnNewMovies returns the handler of the new_movies flow
// in flows. It fails when the flow is missing or broken (its receivers take
// no placeholder) or commands is nil.
func NewAnnounceMoviesOnNewMovies(flows map[string]config.Flow, commands CommandSender) (*AnnounceMoviesOnNewMovies, error) {
	if commands == nil {
		return nil, errors.New("new movies handler: nil command sender")
	}
	f, err := newFlow(eventintake.EventNewMovies, flows, "")
	if err != nil {
		return nil, err
	}
	return &AnnounceMoviesOnNewMovies{flow: f, commands: commands}, nil
}

// HandlerName implements EventHandler.
func (*AnnounceMoviesOnNewMovies) HandlerName() string { return AnnounceMoviesOnNewMoviesName }

// EventType implements EventHandler.
func (*AnnounceMoviesOnNewMovies) EventType() string { return eventintake.EventNewMovies }

// Priority implements EventHandler.
func (h *AnnounceMoviesOnNewMovies) Priority() posting.Priority { return h.flow.priority }

// Handle implements EventHandler.
func (h *AnnounceMoviesOnNewMovies) Handle(ctx context.Context, key string, ev domain.Event) error {
	d, err := detailsOf[domain.NewMovies](AnnounceMoviesOnNewMoviesName, ev)
	if err != nil {
		return err
	}
	cmd := h.flow.posting(key, AnnounceMoviesOnNewMoviesName, "", ev.FromService, "", map[string]any{
		"movies": slices.Clone(d.Movies),
	})
	return sendAll(ctx, h.commands, []posting.CreatePosting{cmd})
}
