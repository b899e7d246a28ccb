package ports_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/adapters/directory"
	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
	"github.com/notifier/notifier/templates"
)

func TestMessagesNoRetryCanFixArePermanentFailures(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, bus, clk := memory.New(), &recordingBus{}, clock.NewFake(start)
	// Nothing listens on port 1: the directory is down.
	client, err := upstream.New(upstream.Config{Attempts: 1, Upstreams: map[string]string{"auth": "http://127.0.0.1:1"}}, logger)
	require.NoError(t, err)
	renderer, err := templating.New(templates.FS, "ru")
	require.NoError(t, err)
	dir, err := directory.New(client)
	require.NoError(t, err)

	create, err := app.NewCreatePostingHandler(store, db.NoTx{}, bus, bus, renderer, client, clk, logger)
	require.NoError(t, err)
	expand, err := app.NewExpandAudienceHandler(store, db.NoTx{}, dir, client, bus, bus, clk, 0, 0, logger)
	require.NoError(t, err)
	apply, err := app.NewApplyDeliveryOutcomesHandler(store, db.NoTx{}, bus, bus, clk, 0, logger)
	require.NoError(t, err)

	createH, err := ports.NewCreatePostingCommandHandler(create)
	require.NoError(t, err)
	expandH, err := ports.NewExpandAudienceCommandHandler(expand)
	require.NoError(t, err)
	applyH, err := ports.NewApplyOutcomesEventHandler(apply)
	require.NoError(t, err)
	require.Equal(t, "posting.CreatePosting", createH.HandlerName())
	require.Equal(t, "posting.ExpandAudience", expandH.HandlerName())
	require.Equal(t, "posting.ApplyOutcomesOnDeliveryOutcomes", applyH.HandlerName())
	ctx := context.Background()

	err = createH.Handle(ctx, &posting.CreatePosting{Receivers: "http://auth/api/v1/users/", Template: "email/nope.md", DeliveryType: []string{"email"}})
	require.True(t, messaging.IsPermanent(err), "unknown template: %v", err)
	err = expandH.Handle(ctx, &app.ExpandAudience{PostingID: uuid.NewString(), Page: 1})
	require.True(t, messaging.IsPermanent(err), "unknown posting: %v", err)
	err = applyH.Handle(ctx, &delivery.DeliveryOutcomes{PostingID: "garbage"})
	require.True(t, messaging.IsPermanent(err), "malformed posting id: %v", err)

	require.NoError(t, createH.Handle(ctx, &posting.CreatePosting{
		IdempotencyKey: "k", Receivers: "http://auth/api/v1/users/", Template: "email/welcome.md", DeliveryType: []string{"email"},
	}))
	err = createH.Handle(ctx, &posting.CreatePosting{
		IdempotencyKey: "k", Receivers: "http://auth/api/v1/users/", Template: "email/welcome.md", DeliveryType: []string{"email"},
		TemplateContext: map[string]any{"username": "someone else"},
	})
	require.True(t, messaging.IsPermanent(err), "a key used again for a different request: %v", err)
	require.Len(t, bus.all(), 1, "the reuse sent nothing")
	cmd := bus.all()[0].(app.ExpandAudience)
	err = expandH.Handle(ctx, &cmd)
	require.Error(t, err)
	require.False(t, messaging.IsPermanent(err), "a transient failure is retried: %v", err)
}
