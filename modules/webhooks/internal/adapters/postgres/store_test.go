package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/webhooks"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/modules/webhooks/internal/domain"
	"github.com/notifier/notifier/platform/db"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) app.Store {
		s, err := postgres.New(db.Pools{Bulk: testenv.Postgres(t)})
		require.NoError(t, err)
		return s
	})
}

func TestMessagesGoWithTheTransactionOfTheirEvent(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	s, err := postgres.New(db.Pools{Bulk: pool})
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := domain.Endpoint{ID: uuid.New(), URL: "https://hooks.example.com/", Events: []string{webhooks.EventDeliverySent},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, s.CreateEndpoint(ctx, e))
	msg := domain.Message{ID: uuid.New(), EndpointID: e.ID, EventKey: "delivery.sent:p:u:email", EventType: webhooks.EventDeliverySent,
		Payload: []byte(`{}`), CreatedAt: now, NextAttemptAt: now, ExpiresAt: now.Add(time.Hour)}

	uow, finish := db.Begin(ctx, pool)
	n, err := s.Enqueue(uow, []domain.Message{msg})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	boom := errors.New("the handler failed later")
	require.ErrorIs(t, finish(boom), boom)

	count, err := s.CountMessages(ctx)
	require.NoError(t, err)
	require.Zero(t, count, "rolled back with the event's transaction")

	uow, finish = db.Begin(ctx, pool)
	_, err = s.Enqueue(uow, []domain.Message{msg})
	require.NoError(t, err)
	require.NoError(t, finish(nil))
	count, err = s.CountMessages(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), count)
}
