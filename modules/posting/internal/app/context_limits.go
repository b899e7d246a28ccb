package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Defaults of the limits on a resolved template context.
const (
	// DefaultMaxResolvedContext is posting.max_resolved_context's default:
	// the largest template context, as JSON, once its URLs are fetched.
	DefaultMaxResolvedContext = 256 << 10
	// DefaultInlineContextMax is posting.inline_context_max's default: the
	// largest resolved context copied into every batch message.
	DefaultInlineContextMax = 16 << 10
	// DefaultContextClaimRetention is how long a context stored once stays
	// readable: longer than any batch referencing it waits to be delivered.
	DefaultContextClaimRetention = 7 * 24 * time.Hour
)

// ClaimWriter stores a payload once under a reference that messages carry
// instead of it (*claimcheck.Postgres, *claimcheck.Memory). Put joins the
// caller's unit of work and keeps an existing reference as it is.
type ClaimWriter interface {
	Put(ctx context.Context, ref string, payload []byte, expiresAt time.Time) error
}

// ContextLimits bounds the resolved template context of a posting and says
// where a large one is kept.
type ContextLimits struct {
	// MaxResolved fails a posting whose context, once resolved, is larger
	// (bytes of JSON); below 1, DefaultMaxResolvedContext.
	MaxResolved int
	// InlineMax is the largest resolved context copied into each batch;
	// a larger one is stored once in Claims and the batches carry its
	// reference. Below 1, DefaultInlineContextMax. Without Claims every
	// context is copied.
	InlineMax int
	Claims    ClaimWriter
	// Retention is how long a stored context is kept; below 1,
	// DefaultContextClaimRetention.
	Retention time.Duration
}

func (l ContextLimits) withDefaults() ContextLimits {
	if l.MaxResolved < 1 {
		l.MaxResolved = DefaultMaxResolvedContext
	}
	if l.InlineMax < 1 {
		l.InlineMax = DefaultInlineContextMax
	}
	if l.Retention <= 0 {
		l.Retention = DefaultContextClaimRetention
	}
	return l
}

// errContextTooLarge is a resolved context over ContextLimits.MaxResolved:
// the posting fails with it as its public reason.
type errContextTooLarge struct{ size, limit int }

func (e *errContextTooLarge) Error() string {
	return fmt.Sprintf("the template context is %d bytes once its URLs are fetched, more than the %d allowed (posting.max_resolved_context)",
		e.size, e.limit)
}

// checkResolvedSize returns the resolved context as JSON, or an
// *errContextTooLarge.
func (l ContextLimits) checkResolvedSize(resolved map[string]any) ([]byte, error) {
	raw, err := json.Marshal(resolved)
	if err != nil {
		return nil, fmt.Errorf("encode resolved template context: %w", err)
	}
	if len(raw) > l.MaxResolved {
		return nil, &errContextTooLarge{size: len(raw), limit: l.MaxResolved}
	}
	return raw, nil
}

// contextRef is the claim check reference of a posting's resolved context.
func contextRef(postingID string) string { return "posting:" + postingID + ":template_context" }

// batchContext returns what a batch of the posting carries: the context
// itself when it is small (or nothing stores large ones), else its
// reference, having stored it (idempotently, in ctx's unit of work).
func (l ContextLimits) batchContext(ctx context.Context, postingID string, resolved map[string]any, now time.Time) (map[string]any, string, error) {
	if l.Claims == nil || len(resolved) == 0 {
		return resolved, "", nil
	}
	raw, err := json.Marshal(resolved)
	if err != nil {
		return nil, "", fmt.Errorf("encode resolved template context: %w", err)
	}
	if len(raw) <= l.InlineMax {
		return resolved, "", nil
	}
	ref := contextRef(postingID)
	if err := l.Claims.Put(ctx, ref, raw, now.Add(l.Retention)); err != nil {
		return nil, "", fmt.Errorf("store template context: %w", err)
	}
	return nil, ref, nil
}
