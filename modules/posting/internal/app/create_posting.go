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
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/egress"
	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/tracing"
)

// DefaultIdempotencyRetention is how long an idempotency key answers with
// its posting unless WithIdempotencyRetention says otherwise (the default
// of posting.idempotency_retention).
const DefaultIdempotencyRetention = 24 * time.Hour

// Limits of a posting request.
const (
	// MaxTemplateContextBytes bounds the JSON size of a template context.
	MaxTemplateContextBytes = 64 << 10
	maxKeyLength            = 256
	maxFromLength           = 256
	maxReceiversLength      = 2048
)

var notificationTypePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// channels are the channels a posting may name.
var channels = []string{posting.ChannelEmail, posting.ChannelSMS, posting.ChannelInApp, posting.ChannelWebhook}

// TemplateCatalog tells which templates exist (*templating.Renderer).
type TemplateCatalog interface {
	// Exists reports whether name is a template with a file for every
	// recipient.
	Exists(name string) bool
	// VariantOf tells whether name is the name of one locale's file of a
	// template ("email/welcome.en.md"), and if so returns the template's
	// name and the locale.
	VariantOf(name string) (template, locale string, ok bool)
}

// URLPolicy tells which URLs may be fetched (*upstream.Client).
type URLPolicy interface {
	Allowed(rawURL string) bool
}

// CreatePostingHandler creates postings, from the posting.CreatePosting
// command and from HTTP.
type CreatePostingHandler struct {
	store     domain.Store
	tx        TxRunner
	commands  CommandSender
	events    EventPublisher
	templates TemplateCatalog
	urls      URLPolicy
	clock     clock.Clock
	log       *slog.Logger
	retention time.Duration
	// webhookHosts judges the hosts of webhook URLs (WithWebhookHosts).
	webhookHosts WebhookHosts
}

// CreatePostingOption tunes a CreatePostingHandler.
type CreatePostingOption func(*CreatePostingHandler) error

// WithIdempotencyRetention sets how long an idempotency key answers with
// the posting it made (posting.idempotency_retention); it must be positive.
func WithIdempotencyRetention(d time.Duration) CreatePostingOption {
	return func(h *CreatePostingHandler) error {
		if d <= 0 {
			return fmt.Errorf("idempotency retention %s: must be positive", d)
		}
		h.retention = d
		return nil
	}
}

// NewCreatePostingHandler returns the handler; every dependency is required.
func NewCreatePostingHandler(store domain.Store, tx TxRunner, commands CommandSender, events EventPublisher, templates TemplateCatalog,
	urls URLPolicy, clk clock.Clock, logger *slog.Logger, opts ...CreatePostingOption,
) (*CreatePostingHandler, error) {
	if store == nil || tx == nil || commands == nil || events == nil || templates == nil || urls == nil || clk == nil || logger == nil {
		return nil, errors.New("new create posting handler: nil dependency")
	}
	h := &CreatePostingHandler{store: store, tx: tx, commands: commands, events: events, templates: templates, urls: urls, clock: clk,
		log: logger, retention: DefaultIdempotencyRetention, webhookHosts: egress.Policy{}}
	for _, o := range opts {
		if err := o(h); err != nil {
			return nil, fmt.Errorf("new create posting handler: %w", err)
		}
	}
	return h, nil
}

// Handle validates cmd and stores it as a new posting: expired when it is
// already past its expiry, scheduled when its send_at is in the future,
// accepted otherwise, in which case it asks for the first page of its
// audience. The posting and that command are written in one transaction,
// so neither exists without the other; a posting expired on arrival is
// written with posting.PostingFinished instead.
//
// It is idempotent on cmd.IdempotencyKey, or, when that is empty, on the
// request's fingerprint (cmd.RequestFingerprint, else computed from cmd: see
// domain.Request), for the handler's idempotency retention: a repeat of the
// same request returns the existing posting with created false and sends
// nothing. After the retention the key makes a new posting.
//
// It returns an *Error with CodeInvalid naming the field for a bad request,
// and one with CodeKeyReused when the key already made a posting for a
// different request.
func (h *CreatePostingHandler) Handle(ctx context.Context, cmd posting.CreatePosting) (domain.Posting, bool, error) {
	return h.HandleFor(ctx, "", cmd)
}

// HandleFor is Handle for a caller whose idempotency keys live in scope
// (the HTTP API's "api:<role>"): the key stored is "<scope>:<key>", or
// "<scope>:<fingerprint>" without a key, so that two scopes never share a
// posting. An empty scope keeps keys as they are, for senders that scope
// their keys themselves (the intake's "event:<event key>:<handler>").
func (h *CreatePostingHandler) HandleFor(ctx context.Context, scope string, cmd posting.CreatePosting) (p domain.Posting, created bool, err error) {
	spec, err := h.validate(cmd)
	if err != nil {
		return domain.Posting{}, false, err
	}
	if spec.RequestFingerprint == "" {
		if spec.RequestFingerprint, err = requestOf(cmd).Fingerprint(); err != nil {
			return domain.Posting{}, false, invalid("template_context", "is not a JSON object")
		}
	}
	if spec.IdempotencyKey == "" {
		spec.IdempotencyKey = spec.RequestFingerprint
	}
	if scope != "" {
		spec.IdempotencyKey = scope + ":" + spec.IdempotencyKey
	}
	now := h.clock.Now()
	// A code is written on its lane's own database connections (unless
	// the caller's unit of work is already open, on its message's lane).
	err = h.tx.InTx(lane.With(ctx, string(spec.Priority)), func(ctx context.Context) error {
		p, created, err = h.store.Create(ctx, domain.New(uuid.New(), spec, now), now.Add(h.retention))
		if err != nil {
			return fmt.Errorf("create posting: %w", err)
		}
		if !created && !p.SameRequest(spec.RequestFingerprint) {
			return &Error{Code: CodeKeyReused, Field: "idempotency_key",
				Message: "was already used with a different request; a new request needs a new key"}
		}
		if created && p.Status.Terminal() { // expired on arrival
			return publishFinished(ctx, h.events, p)
		}
		if !created || p.Status != domain.StatusAccepted {
			return nil
		}
		if err := h.commands.Send(ctx, ExpandAudience{PostingID: p.ID.String(), Page: 1, Priority: p.Priority}); err != nil {
			return fmt.Errorf("send expand audience: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Posting{}, false, err
	}
	// The span of the request or the message that made it names it.
	tracing.SetPostingID(ctx, p.ID.String())
	if created {
		h.log.InfoContext(ctx, "posting created", "posting_id", p.ID, "status", p.Status,
			"notification_type", p.NotificationType, "priority", p.Priority, "from_event", p.FromEvent)
	}
	return p, created, nil
}

// requestOf returns what cmd asks for, as its fingerprint covers it.
func requestOf(cmd posting.CreatePosting) domain.Request {
	return domain.Request{
		FromEvent:        cmd.FromEvent,
		FromService:      cmd.FromService,
		NotificationType: cmd.NotificationType,
		Receivers:        cmd.Receivers,
		Template:         cmd.Template,
		Channels:         cmd.DeliveryType,
		TemplateContext:  cmd.TemplateContext,
		Priority:         string(cmd.Priority),
		SendAt:           cmd.SendAt,
		ExpiresAt:        cmd.ExpiresAt,
		WebhookURL:       cmd.WebhookURL,
	}
}

// validate checks cmd and fills in its defaults, but for the idempotency
// key, which stays empty when cmd has none.
func (h *CreatePostingHandler) validate(cmd posting.CreatePosting) (domain.Spec, error) {
	spec := domain.Spec{
		IdempotencyKey:     strings.TrimSpace(cmd.IdempotencyKey),
		RequestFingerprint: strings.TrimSpace(cmd.RequestFingerprint),
		FromEvent:          cmd.FromEvent,
		FromService:        cmd.FromService,
		NotificationType:   strings.TrimSpace(cmd.NotificationType),
		Receivers:          strings.TrimSpace(cmd.Receivers),
		Template:           strings.TrimSpace(cmd.Template),
		TemplateContext:    cmd.TemplateContext,
		Priority:           cmd.Priority,
		ExpiresAt:          cmd.ExpiresAt,
		SendAt:             cmd.SendAt,
		WebhookURL:         strings.TrimSpace(cmd.WebhookURL),
	}
	switch {
	case len(spec.IdempotencyKey) > maxKeyLength:
		return spec, invalid("idempotency_key", "longer than %d characters", maxKeyLength)
	case len(spec.RequestFingerprint) > maxKeyLength:
		return spec, invalid("request_fingerprint", "longer than %d characters", maxKeyLength)
	case len(spec.FromEvent) > maxFromLength:
		return spec, invalid("from_event", "longer than %d characters", maxFromLength)
	case len(spec.FromService) > maxFromLength:
		return spec, invalid("from_service", "longer than %d characters", maxFromLength)
	}
	for _, f := range []struct{ name, value string }{
		{"idempotency_key", spec.IdempotencyKey}, {"request_fingerprint", spec.RequestFingerprint},
		{"from_event", spec.FromEvent}, {"from_service", spec.FromService},
	} {
		if !isText(f.value) {
			return spec, invalid(f.name, "must be UTF-8 text without NUL characters")
		}
	}

	switch {
	case spec.Receivers == "":
		return spec, invalid("receivers", "is required")
	case len(spec.Receivers) > maxReceiversLength:
		return spec, invalid("receivers", "longer than %d characters", maxReceiversLength)
	case !h.urls.Allowed(spec.Receivers):
		return spec, invalid("receivers", "must be an http(s) URL of a configured upstream")
	case !readableQuery(spec.Receivers):
		return spec, invalid("receivers", "has a query that does not parse (a stray %% or a ; between parameters)")
	}

	if len(cmd.DeliveryType) == 0 {
		return spec, invalid("delivery_type", "at least one channel is required (email, sms, inapp, webhook)")
	}
	for _, ch := range cmd.DeliveryType {
		if !slices.Contains(channels, ch) {
			return spec, invalid("delivery_type", "unknown channel %q (email, sms, inapp, webhook)", ch)
		}
		if !slices.Contains(spec.Channels, ch) {
			spec.Channels = append(spec.Channels, ch)
		}
	}
	if spec.WebhookURL != "" {
		if !slices.Contains(spec.Channels, posting.ChannelWebhook) {
			return spec, invalid("webhook_url", "is for the webhook channel, which delivery_type does not name")
		}
		if err := checkWebhookURL(spec.WebhookURL, h.webhookHosts); err != nil {
			return spec, err
		}
	}

	if spec.Template == "" {
		return spec, invalid("template", "is required")
	}
	if base, locale, ok := h.templates.VariantOf(spec.Template); ok {
		// A posting goes to recipients of every language: each gets the
		// file of their locale.
		return spec, invalid("template", "%q is the %s file of %q: name %q, each recipient gets the file of their locale",
			spec.Template, locale, base, base)
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
		if !isTextValue(spec.TemplateContext) {
			return spec, invalid("template_context", "must hold UTF-8 text without NUL characters")
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
	return spec, nil
}

// isText reports whether s is valid UTF-8 without NUL characters, which
// PostgreSQL cannot store in text or JSONB.
func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// isTextValue reports whether every key and string in a JSON-like value
// passes isText.
func isTextValue(v any) bool {
	switch v := v.(type) {
	case string:
		return isText(v)
	case map[string]any:
		for k, e := range v {
			if !isText(k) || !isTextValue(e) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !isTextValue(e) {
				return false
			}
		}
	case []string:
		for _, e := range v {
			if !isText(e) {
				return false
			}
		}
	}
	return true
}
