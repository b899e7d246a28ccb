package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
)

// ConsumeEvent handles one event from the intake exchange: it checks its
// size, decodes and validates the envelope and hands the event to the
// handler of its type.
type ConsumeEvent struct {
	handlers map[string]EventHandler
	maxBody  int64
	logger   *slog.Logger
}

// NewConsumeEvent returns a ConsumeEvent refusing bodies over maxBody bytes
// (intake.max_body; at least 1) and dispatching to handlers, which must
// cover every known event type exactly once.
func NewConsumeEvent(logger *slog.Logger, maxBody int64, handlers ...EventHandler) (*ConsumeEvent, error) {
	if logger == nil {
		return nil, errors.New("new consume event: nil logger")
	}
	if maxBody < 1 {
		return nil, fmt.Errorf("new consume event: body cap %d: must be at least 1", maxBody)
	}
	byType := make(map[string]EventHandler, len(handlers))
	for _, h := range handlers {
		if h == nil {
			return nil, errors.New("new consume event: nil handler")
		}
		if prev, dup := byType[h.EventType()]; dup {
			return nil, fmt.Errorf("new consume event: %s and %s both handle %s", prev.HandlerName(), h.HandlerName(), h.EventType())
		}
		byType[h.EventType()] = h
	}
	var errs []error
	for _, t := range domain.KnownTypes() {
		if _, ok := byType[t]; !ok {
			errs = append(errs, fmt.Errorf("new consume event: no handler for %s", t))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &ConsumeEvent{handlers: byType, maxBody: maxBody, logger: logger}, nil
}

// NewEventHandlers returns the handler of every known event type, built
// from the configured flows (config.Intake.Flows). It names every flow
// that is missing or broken.
func NewEventHandlers(flows map[string]config.Flow, commands CommandSender) ([]EventHandler, error) {
	welcome, err1 := NewWelcomeOnUserSignedUp(flows, commands)
	movies, err2 := NewAnnounceMoviesOnNewMovies(flows, commands)
	episode, err3 := NewAnnounceEpisodeOnNewEpisode(flows, commands)
	reactions, err4 := NewReportReactionsOnReactionsSummary(flows, commands)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	return []EventHandler{welcome, movies, episode, reactions}, nil
}

// Lane returns the lane of the event in payload: the transactional lane
// for a well-formed event whose flow asks for transactional postings (the
// transactional intake handles it at once, whatever the backlog of
// mailings' events), the bulk lane for any other, bad input included.
func (c *ConsumeEvent) Lane(payload []byte) string {
	if domain.CheckSize(payload, c.maxBody) != nil {
		return lane.Bulk
	}
	ev, err := domain.DecodeEvent(payload)
	if err != nil {
		return lane.Bulk
	}
	if h, ok := c.handlers[ev.Type]; ok && h.Priority() == posting.PriorityTransactional {
		return lane.Transactional
	}
	return lane.Bulk
}

// Key returns the event key of payload, which arrived with messageID (see
// domain.EventKey); a payload over the body cap is not read for its
// event_id (domain.UnreadEventKey).
func (c *ConsumeEvent) Key(payload []byte, messageID string) string {
	if domain.CheckSize(payload, c.maxBody) != nil {
		return domain.UnreadEventKey(payload, messageID)
	}
	return domain.EventKey(payload, messageID)
}

// Handle processes the event in payload, which arrived with messageID (the
// transport's message_id; may be empty). A payload over the body cap is
// rejected, unread, with a messaging.Permanent error naming its size and
// the cap; a payload that is not a valid event, or a known event whose
// details break its rules, with one naming the field; so the router puts
// it on the poison queue with that reason, without retrying. An event from
// a service other than the one that publishes its type is accepted with a
// warning: publishers are trusted, and the payload alone decides what it
// means. A failure to send the commands is returned as it is, to be
// retried.
func (c *ConsumeEvent) Handle(ctx context.Context, payload []byte, messageID string) error {
	key := c.Key(payload, messageID)
	if err := domain.CheckSize(payload, c.maxBody); err != nil {
		c.logger.WarnContext(ctx, "event rejected", "event_key", key, "reason", err.Error())
		return messaging.Permanent(fmt.Errorf("reject event %s: %w", key, err))
	}
	ev, err := domain.DecodeEvent(payload)
	if err != nil {
		c.logger.WarnContext(ctx, "event rejected", "event_key", key, "reason", err.Error())
		return messaging.Permanent(fmt.Errorf("reject event %s: %w", key, err))
	}
	if want := domain.ExpectedService(ev.Type); ev.FromService != want {
		c.logger.WarnContext(ctx, "event from an unexpected service; handling it anyway",
			"event", ev.Type, "event_key", key, "from_service", ev.FromService, "expected_service", want)
	}
	h := c.handlers[ev.Type]
	if err := h.Handle(ctx, key, ev); err != nil {
		return fmt.Errorf("%s on event %s: %w", h.HandlerName(), key, err)
	}
	c.logger.InfoContext(ctx, "event handled", "event", ev.Type, "event_key", key, "handler", h.HandlerName())
	return nil
}
