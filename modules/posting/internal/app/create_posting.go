package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// Limits of a posting request.
const (
	// MaxTemplateContextBytes bounds the JSON size of a template context.
	MaxTemplateContextBytes = 64 << 10
	maxKeyLength            = 256
	maxFromLength           = 256
	maxReceiversLength      = 2048
)

var notificationTypePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// TemplateCatalog tells which templates exist (*templating.Renderer).
type TemplateCatalog interface {
	Exists(name string) bool
}

// URLPolicy tells which URLs may be fetched (*upstream.Client).
type URLPolicy interface {
	Allowed(rawURL string) bool
}

// CreatePostingHandler creates postings, from the posting.CreatePosting
// command and from HTTP.
type CreatePostingHandler struct {
	store     domain.Store
	commands  CommandSender
	templates TemplateCatalog
	urls      URLPolicy
	clock     clock.Clock
	log       *slog.Logger
}

// NewCreatePostingHandler returns the handler; every dependency is required.
func NewCreatePostingHandler(store domain.Store, commands CommandSender, templates TemplateCatalog,
	urls URLPolicy, clk clock.Clock, logger *slog.Logger,
) (*CreatePostingHandler, error) {
	if store == nil || commands == nil || templates == nil || urls == nil || clk == nil || logger == nil {
		return nil, errors.New("new create posting handler: nil dependency")
	}
	return &CreatePostingHandler{store: store, commands: commands, templates: templates, urls: urls, clock: clk, log: logger}, nil
}

// Handle validates cmd and stores it as a new posting: expired when it is
// already past its expiry, scheduled when its send_at is in the future,
// accepted otherwise, in which case it starts the audience walk. It is
// idempotent on cmd.IdempotencyKey (derived from the request when empty):
// a repeat returns the existing posting with created false and sends
// nothing, unless the first attempt stored the posting but could not start
// its walk.
//
// It returns an *Error with CodeInvalid naming the field for a bad request.
func (h *CreatePostingHandler) Handle(ctx context.Context, cmd posting.CreatePosting) (p domain.Posting, created bool, err error) {
	spec, err := h.validate(cmd)
	if err != nil {
		return domain.Posting{}, false, err
	}
	p, created, err = h.store.Create(ctx, domain.New(uuid.New(), spec, h.clock.Now()))
	if err != nil {
		return domain.Posting{}, false, fmt.Errorf("create posting: %w", err)
	}
	if created {
		h.log.InfoContext(ctx, "posting created", "posting_id", p.ID, "status", p.Status,
			"notification_type", p.NotificationType, "priority", p.Priority, "from_event", p.FromEvent)
	}
	if p.Status == domain.StatusAccepted && !p.ExpansionQueued {
		if p, err = startWalk(ctx, h.store, h.commands, p.ID); err != nil {
			return domain.Posting{}, false, err
		}
	}
	return p, created, nil
}

// startWalk sends the first ExpandAudience of an accepted posting, once:
// the sender first claims the posting's ExpansionQueued flag in one atomic
// update, so that concurrent duplicates of a request send one command, and
// gives the claim back when the command cannot be sent.
func startWalk(ctx context.Context, store domain.Store, commands CommandSender, id uuid.UUID) (domain.Posting, error) {
	p, err := store.Update(ctx, id, func(p *domain.Posting) error {
		if p.Status != domain.StatusAccepted || p.ExpansionQueued {
			return errStop
		}
		p.ExpansionQueued = true
		return nil
	})
	if errors.Is(err, errStop) {
		if p, err = store.Get(ctx, id); err != nil {
			return domain.Posting{}, fmt.Errorf("get posting: %w", err)
		}
		return p, nil
	}
	if err != nil {
		return domain.Posting{}, fmt.Errorf("claim expansion: %w", err)
	}
	if err := commands.Send(ctx, ExpandAudience{PostingID: id.String(), Page: 1}); err != nil {
		_, rerr := store.Update(context.WithoutCancel(ctx), id, func(p *domain.Posting) error {
			p.ExpansionQueued = false
			return nil
		})
		return domain.Posting{}, errors.Join(fmt.Errorf("send expand audience: %w", err), rerr)
	}
	return p, nil
}

// validate checks cmd and fills in its defaults.
func (h *CreatePostingHandler) validate(cmd posting.CreatePosting) (domain.Spec, error) {
	spec := domain.Spec{
		IdempotencyKey:   strings.TrimSpace(cmd.IdempotencyKey),
		FromEvent:        cmd.FromEvent,
		FromService:      cmd.FromService,
		NotificationType: strings.TrimSpace(cmd.NotificationType),
		Receivers:        strings.TrimSpace(cmd.Receivers),
		Template:         strings.TrimSpace(cmd.Template),
		TemplateContext:  cmd.TemplateContext,
		Priority:         cmd.Priority,
		ExpiresAt:        cmd.ExpiresAt,
		SendAt:           cmd.SendAt,
	}
	switch {
	case len(spec.IdempotencyKey) > maxKeyLength:
		return spec, invalid("idempotency_key", "longer than %d characters", maxKeyLength)
	case len(spec.FromEvent) > maxFromLength:
		return spec, invalid("from_event", "longer than %d characters", maxFromLength)
	case len(spec.FromService) > maxFromLength:
		return spec, invalid("from_service", "longer than %d characters", maxFromLength)
	}

	switch {
	case spec.Receivers == "":
		return spec, invalid("receivers", "is required")
	case len(spec.Receivers) > maxReceiversLength:
		return spec, invalid("receivers", "longer than %d characters", maxReceiversLength)
	case !h.urls.Allowed(spec.Receivers):
		return spec, invalid("receivers", "must be an http(s) URL of a configured upstream")
	}

	if len(cmd.DeliveryType) == 0 {
		return spec, invalid("delivery_type", "at least one channel is required (email, sms)")
	}
	for _, ch := range cmd.DeliveryType {
		if ch != posting.ChannelEmail && ch != posting.ChannelSMS {
			return spec, invalid("delivery_type", "unknown channel %q (email, sms)", ch)
		}
		if !slices.Contains(spec.Channels, ch) {
			spec.Channels = append(spec.Channels, ch)
		}
	}

	if spec.Template == "" {
		return spec, invalid("template", "is required")
	}
	if !h.templates.Exists(spec.Template) {
		return spec, invalid("template", "unknown template %q", spec.Template)
	}
	for _, ch := range spec.Channels {
		if name := domain.TemplateFor(spec.Template, ch); !h.templates.Exists(name) {
			return spec, invalid("template", "no template %q for channel %s", name, ch)
		}
	}

	if spec.TemplateContext != nil {
		raw, err := json.Marshal(spec.TemplateContext)
		if err != nil {
			return spec, invalid("template_context", "is not a JSON object")
		}
		if len(raw) > MaxTemplateContextBytes {
			return spec, invalid("template_context", "is larger than %d bytes", MaxTemplateContextBytes)
		}
	}

	if spec.NotificationType == "" {
		spec.NotificationType = domain.DefaultNotificationType(spec.Template)
	}
	if !notificationTypePattern.MatchString(spec.NotificationType) {
		return spec, invalid("notification_type", "%q is not a lowercase name such as new_movies", spec.NotificationType)
	}

	switch spec.Priority {
	case "":
		spec.Priority = domain.DefaultPriority(spec.Receivers)
	case posting.PriorityTransactional, posting.PriorityBulk:
	default:
		return spec, invalid("priority", "unknown priority %q (transactional, bulk)", spec.Priority)
	}

	if spec.SendAt != nil && spec.ExpiresAt != nil && !spec.SendAt.Before(*spec.ExpiresAt) {
		return spec, invalid("send_at", "must be before the posting expires")
	}
	if spec.IdempotencyKey == "" {
		spec.IdempotencyKey = domain.DefaultIdempotencyKey(spec.FromEvent, spec.Template, spec.Receivers, spec.Channels)
	}
	return spec, nil
}
