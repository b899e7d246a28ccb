package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/platform/claimcheck"
	"github.com/notifier/notifier/platform/messaging"
)

func isGone(err error) bool { return errors.Is(err, claimcheck.ErrNotFound) }

func TestABatchCarryingAContextReferenceRendersTheStoredContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	claims := claimcheck.NewMemory(nil)
	require.NoError(t, claims.Put(context.Background(), "posting:p1:template_context",
		[]byte(`{"note": "Новинки по ссылке", "code": "9876"}`), time.Now().Add(time.Hour)))
	handler := mustHandlerWithSleep(t, h, nil, app.WithClaims(claims, isGone))
	batch := emailBatch("p1", recipient("u1", "Анна"))
	batch.TemplateContext, batch.TemplateContextRef = nil, "posting:p1:template_context"

	require.NoError(t, handler.Handle(context.Background(), batch))

	msgs := h.email.messages()
	require.Len(t, msgs, 1)
	require.Contains(t, msgs[0].Text, "Новинки по ссылке")
	require.Equal(t, []string{"u1/email=sent"}, h.outcomes())
}

func TestAContextReferenceThatIsGoneIsRefusedPermanentlyAndSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	handler := mustHandlerWithSleep(t, h, nil, app.WithClaims(claimcheck.NewMemory(nil), isGone))
	batch := emailBatch("p1", recipient("u1", "Анна"))
	batch.TemplateContext, batch.TemplateContextRef = nil, "posting:p1:template_context"

	err := handler.Handle(context.Background(), batch)

	require.True(t, messaging.IsPermanent(err), "%v", err)
	require.ErrorContains(t, err, "posting:p1:template_context is no longer stored")
	require.Empty(t, h.email.messages())
}

// unreachableClaims fails every read as a database outage would.
type unreachableClaims struct{}

func (unreachableClaims) Get(context.Context, string) ([]byte, error) {
	return nil, errors.New("connection refused")
}

func TestAContextThatCannotBeReadNowIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	handler := mustHandlerWithSleep(t, h, nil, app.WithClaims(unreachableClaims{}, isGone))
	batch := emailBatch("p1", recipient("u1", "Анна"))
	batch.TemplateContext, batch.TemplateContextRef = nil, "posting:p1:template_context"

	err := handler.Handle(context.Background(), batch)

	require.Error(t, err)
	require.False(t, messaging.IsPermanent(err), "a retry may read it")
	require.Empty(t, h.email.messages())
	require.Empty(t, h.rows(t, "p1"), "nothing recorded before the context is there")
}

func TestAContextReferenceWithoutAClaimStoreIsRefusedPermanently(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	batch := emailBatch("p1", recipient("u1", "Анна"))
	batch.TemplateContext, batch.TemplateContextRef = nil, "posting:p1:template_context"

	err := h.handler.Handle(context.Background(), batch)

	require.True(t, messaging.IsPermanent(err), "%v", err)
	require.Empty(t, h.email.messages())
}
