package app

import (
	"context"
	"errors"

	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/config"
)

// AnnounceEpisodeOnNewEpisodeName is the handler name of
// AnnounceEpisodeOnNewEpisode.
const AnnounceEpisodeOnNewEpisodeName = "eventintake.AnnounceEpisodeOnNewEpisode"

// AnnounceEpisodeOnNewEpisode asks for one posting per series of the event,
// to that series' subscribers: the receivers template's {series_id} is the
// last path segment of the series URL. A series listed twice makes one
// posting.
type AnnounceEpisodeOnNewEpisode struct {
	flow     flow
	commands CommandSender
}

// NewAnnounceEpisodeOnNewEpisode returns the handler of the new_episode
// flow in flows. It fails when the flow is missing or broken (its receivers
// must hold {series_id}) or commands is nil.
func NewAnnounceEpisodeOnNewEpisode(flows map[string]config.Flow, commands CommandSender) (*AnnounceEpisodeOnNewEpisode, error) {
	if commands == nil {
		return nil, errors.New("new episode handler: nil command sender")
	}
	f, err := newFlow(eventintake.EventNewEpisode, flows, "series_id")
	if err != nil {
		return nil, err
	}
	return &AnnounceEpisodeOnNewEpisode{flow: f, commands: commands}, nil
}

// HandlerName implements EventHandler.
func (*AnnounceEpisodeOnNewEpisode) HandlerName() string { return AnnounceEpisodeOnNewEpisodeName }

// EventType implements EventHandler.
func (*AnnounceEpisodeOnNewEpisode) EventType() string { return eventintake.EventNewEpisode }

// Priority implements EventHandler.
func (h *AnnounceEpisodeOnNewEpisode) Priority() posting.Priority { return h.flow.priority }

// Handle implements EventHandler.
func (h *AnnounceEpisodeOnNewEpisode) Handle(ctx context.Context, key string, ev domain.Event) error {
	d, err := detailsOf[domain.NewEpisode](AnnounceEpisodeOnNewEpisodeName, ev)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(d.Series))
	cmds := make([]posting.CreatePosting, 0, len(d.Series))
	for _, s := range d.Series {
		if seen[s.ID] {
			continue
		}
		seen[s.ID] = true
		cmds = append(cmds, h.flow.posting(key, AnnounceEpisodeOnNewEpisodeName, s.ID, ev.FromService, s.ID, map[string]any{
			"series":     s.URL,
			"series_url": s.URL,
		}))
	}
	return sendAll(ctx, h.commands, cmds)
}
