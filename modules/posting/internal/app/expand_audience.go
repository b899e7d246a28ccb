package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/upstream"
)

// DefaultPageSize is the directory page size when none is configured.
const DefaultPageSize = 500

// DefaultMaxAhead is the walk's window (directory.max_ahead) when none is
// configured: the most recipients of one posting, per channel, resolved
// but without a delivery outcome yet.
const DefaultMaxAhead = 5000

// DirectoryUser is one user as the directory answered.
type DirectoryUser struct {
	ID        string
	Email     string
	Phone     string
	Username  string
	FirstName string
	Locale    string
	Timezone  string
	// WebhookURL is the user's own URL for the webhook channel.
	WebhookURL string
}

// AudiencePage is one page of the users a receivers URL names.
type AudiencePage struct {
	Users []DirectoryUser
	// Last is set when no page follows.
	Last bool
}

// Directory fetches the audience of a receivers URL page by page.
type Directory interface {
	// Page returns page number (from 1) of size users. Transient failures
	// satisfy upstream.IsTransient; any other error is permanent.
	Page(ctx context.Context, receivers string, number, size int) (AudiencePage, error)
}

// errStop ends an update that found nothing to do.
var errStop = errors.New("nothing to do")

// ExpandAudienceHandler walks a posting's audience one directory page per
// ExpandAudience command and publishes each page as
// posting.AudienceBatchResolved.
type ExpandAudienceHandler struct {
	store     domain.Store
	tx        TxRunner
	directory Directory
	fetcher   JSONFetcher
	commands  CommandSender
	events    EventPublisher
	clock     clock.Clock
	pageSize  int
	maxAhead  int
	limits    ContextLimits
	log       *slog.Logger
}

// ExpandAudienceOption configures an ExpandAudienceHandler.
type ExpandAudienceOption func(*ExpandAudienceHandler)

// WithContextLimits bounds the resolved template context and stores a large
// one once instead of copying it into every batch (default: the limits'
// defaults, every context copied).
func WithContextLimits(l ContextLimits) ExpandAudienceOption {
	return func(h *ExpandAudienceHandler) { h.limits = l.withDefaults() }
}

// NewExpandAudienceHandler returns the handler; every dependency is
// required, a pageSize below 1 means DefaultPageSize and a maxAhead below
// 1 means DefaultMaxAhead.
func NewExpandAudienceHandler(store domain.Store, tx TxRunner, directory Directory, fetcher JSONFetcher, commands CommandSender,
	events EventPublisher, clk clock.Clock, pageSize, maxAhead int, logger *slog.Logger, opts ...ExpandAudienceOption,
) (*ExpandAudienceHandler, error) {
	if store == nil || tx == nil || directory == nil || fetcher == nil || commands == nil || events == nil || clk == nil || logger == nil {
		return nil, errors.New("new expand audience handler: nil dependency")
	}
	if pageSize < 1 {
		pageSize = DefaultPageSize
	}
	if maxAhead < 1 {
		maxAhead = DefaultMaxAhead
	}
	h := &ExpandAudienceHandler{
		store: store, tx: tx, directory: directory, fetcher: fetcher, commands: commands,
		events: events, clock: clk, pageSize: pageSize, maxAhead: maxAhead, limits: ContextLimits{}.withDefaults(), log: logger,
	}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Handle fetches page cmd.Page of the posting's audience, then, in one
// transaction, records it (the persisted cursor), publishes its users as
// posting.AudienceBatchResolved and asks for the next page, unless the
// walk is ahead of delivery: when one more page would take the posting's
// outstanding deliveries above the window (maxAhead recipients per
// channel), it marks the walk paused instead, and
// ApplyDeliveryOutcomesHandler asks for the next page once half the
// window has been delivered. On the first
// page it resolves the template context and freezes it with the page. It
// does nothing for a finished posting or a page already recorded, and
// marks an expired posting expired instead. Whatever the audience, a page
// costs the same few statements: the posting's row is all it reads. (In
// memory mode there is no transaction: a bus refusing the batch after the
// page was recorded would lose it, which the in-memory bus never does
// short of shutting down.)
//
// A transient fetch failure is returned, to be retried; a permanent one
// fails the posting with a public reason and returns nil. It returns an
// *Error (CodeInvalid or CodeNotFound) for a command that can never
// succeed.
func (h *ExpandAudienceHandler) Handle(ctx context.Context, cmd ExpandAudience) error {
	id, err := uuid.Parse(cmd.PostingID)
	if err != nil {
		return invalid("posting_id", "%q is not a uuid", cmd.PostingID)
	}
	if cmd.Page < 1 {
		return invalid("page", "must be at least 1, got %d", cmd.Page)
	}
	p, err := h.store.Get(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return notFound(cmd.PostingID)
	}
	if err != nil {
		return fmt.Errorf("get posting: %w", err)
	}
	log := h.log.With("posting_id", p.ID, "page", cmd.Page)
	now := h.clock.Now()

	switch {
	case p.Status.Terminal():
		log.DebugContext(ctx, "audience page skipped: posting finished", "status", p.Status)
		return nil
	case p.Status == domain.StatusScheduled:
		log.DebugContext(ctx, "audience page skipped: posting still scheduled")
		return nil
	case p.ExpiredAt(now):
		return h.expire(ctx, log, id, now)
	case cmd.Page < p.NextPage:
		return h.resumeAfter(ctx, log, p, cmd.Page)
	case cmd.Page > p.NextPage:
		log.WarnContext(ctx, "audience page skipped: ahead of the walk", "next_page", p.NextPage)
		return nil
	case p.WalkPaused:
		// Only a resume asks for the next page of a paused walk, and it
		// clears the pause with the same write: this is a stray copy.
		log.DebugContext(ctx, "audience page skipped: walk paused for delivery")
		return nil
	}

	resolved := p.ResolvedContext
	if !p.ContextResolved {
		if resolved, err = resolveTemplateContext(ctx, h.fetcher, p.TemplateContext); err != nil {
			return h.failOrRetry(ctx, log, id, err)
		}
		if _, err := h.limits.checkResolvedSize(resolved); err != nil {
			return h.failOrRetry(ctx, log, id, err)
		}
	}
	page, err := h.directory.Page(ctx, p.Receivers, cmd.Page, h.pageSize)
	if err != nil {
		return h.failOrRetry(ctx, log, id, fmt.Errorf("directory page %d: %w", cmd.Page, err))
	}
	if now := h.clock.Now(); p.ExpiredAt(now) { // the fetch took that long
		return h.expire(ctx, log, id, now)
	}
	recipients := recipientsOf(page.Users)

	err = h.tx.InTx(ctx, func(ctx context.Context) error {
		// Recording first takes the posting's lock: a duplicate of this
		// page waits, then finds it recorded and publishes nothing.
		var err error
		finished := false
		p, err = h.store.Update(ctx, id, finishing(&finished, func(p *domain.Posting) error {
			if p.Status.Terminal() {
				return errStop
			}
			now := h.clock.Now()
			p.FreezeContext(resolved, now) // keeps a context frozen before
			if err := p.RecordPage(cmd.Page, len(recipients), page.Last, now); err != nil {
				return err
			}
			p.PauseWalkIfAhead(h.maxAhead, h.pageSize)
			return nil
		}))
		if err != nil {
			return err
		}
		if finished { // an empty audience, or every outcome already in
			if err := publishFinished(ctx, h.events, p); err != nil {
				return err
			}
		}
		if len(recipients) > 0 {
			tc, ref, err := h.limits.batchContext(ctx, p.ID.String(), p.ResolvedContext, h.clock.Now())
			if err != nil {
				return err
			}
			if err := h.events.Publish(ctx, posting.AudienceBatchResolved{
				PostingID:          p.ID.String(),
				BatchNo:            cmd.Page,
				NotificationType:   p.NotificationType,
				Priority:           p.Priority,
				Channels:           p.Channels,
				Template:           p.Template,
				TemplateContext:    tc,
				TemplateContextRef: ref,
				ExpiresAt:          p.ExpiresAt,
				WebhookURL:         p.WebhookURL,
				Recipients:         recipients,
			}); err != nil {
				return fmt.Errorf("publish audience batch %d: %w", cmd.Page, err)
			}
		}
		if p.WalkDone || p.WalkPaused || p.Status.Terminal() {
			return nil
		}
		if err := h.commands.Send(ctx, ExpandAudience{PostingID: cmd.PostingID, Page: cmd.Page + 1, Priority: p.Priority}); err != nil {
			return fmt.Errorf("send expand audience page %d: %w", cmd.Page+1, err)
		}
		return nil
	})
	switch {
	case errors.Is(err, errStop):
		log.DebugContext(ctx, "audience page skipped: posting finished meanwhile")
		return nil
	case errors.Is(err, domain.ErrStalePage):
		log.DebugContext(ctx, "audience page recorded concurrently")
		return nil
	case err != nil:
		return fmt.Errorf("record audience page %d: %w", cmd.Page, err)
	}
	log.InfoContext(ctx, "audience page resolved", "recipients", len(recipients),
		"users", len(page.Users), "last", page.Last, "status", p.Status, "paused", p.WalkPaused)
	return nil
}

// resumeAfter handles a page that is already recorded. The next page's
// command is written with the page, so with PostgreSQL it cannot be
// missing; in memory mode a bus that refused it after the page was
// recorded makes the router redeliver this page, which asks for the next
// one again (a duplicate is harmless: the next page's handler is
// idempotent too). A paused walk asked for no next page: outcomes resume
// it.
func (h *ExpandAudienceHandler) resumeAfter(ctx context.Context, log *slog.Logger, p domain.Posting, page int) error {
	if page != p.NextPage-1 || p.WalkDone || p.WalkPaused {
		log.DebugContext(ctx, "audience page skipped: already recorded", "next_page", p.NextPage)
		return nil
	}
	log.DebugContext(ctx, "audience page already recorded; asking for the next one again", "next_page", p.NextPage)
	if err := h.commands.Send(ctx, ExpandAudience{PostingID: p.ID.String(), Page: p.NextPage, Priority: p.Priority}); err != nil {
		return fmt.Errorf("send expand audience page %d: %w", p.NextPage, err)
	}
	return nil
}

func (h *ExpandAudienceHandler) expire(ctx context.Context, log *slog.Logger, id uuid.UUID, now time.Time) error {
	if err := h.finish(ctx, id, func(p *domain.Posting) { p.Expire(now) }); err != nil {
		return fmt.Errorf("expire posting: %w", err)
	}
	log.InfoContext(ctx, "posting expired before its audience was resolved")
	return nil
}

// failOrRetry returns a transient error for a retry, and fails the posting
// for a permanent one.
func (h *ExpandAudienceHandler) failOrRetry(ctx context.Context, log *slog.Logger, id uuid.UUID, err error) error {
	if upstream.IsTransient(err) {
		return err
	}
	reason := publicReason(err)
	log.WarnContext(ctx, "posting failed", "reason", reason, "error", err)
	if ferr := h.finish(ctx, id, func(p *domain.Posting) { p.Fail(reason, h.clock.Now()) }); ferr != nil {
		return fmt.Errorf("fail posting: %w", ferr)
	}
	return nil
}

// finish applies end (Expire or Fail: a no-op on a posting already
// finished) to the posting with id and, when it finished the posting,
// publishes posting.PostingFinished in the same transaction.
func (h *ExpandAudienceHandler) finish(ctx context.Context, id uuid.UUID, end func(p *domain.Posting)) error {
	return h.tx.InTx(ctx, func(ctx context.Context) error {
		finished := false
		p, err := h.store.Update(ctx, id, finishing(&finished, func(p *domain.Posting) error {
			end(p)
			return nil
		}))
		if err != nil || !finished {
			return err
		}
		return publishFinished(ctx, h.events, p)
	})
}

// publicReason describes a permanent failure without internals.
func publicReason(err error) string {
	var cause string
	var status *upstream.StatusError
	switch {
	case errors.Is(err, upstream.ErrNotFound):
		cause = "not found"
	case errors.Is(err, upstream.ErrHostNotAllowed):
		cause = "host not allowed"
	case errors.Is(err, upstream.ErrInvalidURL):
		cause = "invalid URL"
	case errors.Is(err, upstream.ErrResponseTooLarge):
		cause = "answer too large"
	case errors.Is(err, upstream.ErrInvalidResponse):
		cause = "answer is not the expected JSON"
	case errors.Is(err, errTooManyURLs):
		cause = errTooManyURLs.Error()
	case errors.As(err, &status):
		cause = fmt.Sprintf("answered HTTP %d", status.Code)
	default:
		cause = "request failed"
	}
	var tooLarge *errContextTooLarge
	if errors.As(err, &tooLarge) {
		return tooLarge.Error()
	}
	if ce, ok := isContextFetchError(err); ok {
		return fmt.Sprintf("could not fetch template context %q: %s", ce.Key, cause)
	}
	return "could not fetch the audience from the directory: " + cause
}

// recipientsOf turns the directory's users into recipients. The receivers
// URL alone decides who is in the audience: mailings ask the directory for
// is_active=True, and a user addressed by id is a recipient even when not
// active yet (an email confirmation goes precisely to such users). Users
// without an id cannot be recorded and are left out.
func recipientsOf(users []DirectoryUser) []posting.Recipient {
	out := make([]posting.Recipient, 0, len(users))
	for _, u := range users {
		if u.ID == "" {
			continue
		}
		out = append(out, posting.Recipient{
			UserID: u.ID, Email: u.Email, Phone: u.Phone, Username: u.Username,
			FirstName: u.FirstName, Locale: u.Locale, Timezone: u.Timezone, WebhookURL: u.WebhookURL,
		})
	}
	return out
}
