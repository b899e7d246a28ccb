package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/posting/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/db"
)

func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.Postgres(t)
	s, err := postgres.New(pool)
	require.NoError(t, err)
	return s, pool
}

func TestPostgresStoreKeepsTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) domain.Store {
		s, _ := newStore(t)
		return s
	})
}

func mailing(key string, created time.Time) domain.Posting {
	return domain.New(uuid.New(), domain.Spec{
		IdempotencyKey: key, NotificationType: posting.TypeNewMovies,
		Receivers: "http://auth/api/v1/users/", Template: "email/new_movies.md",
		Channels: []string{posting.ChannelEmail}, Priority: posting.PriorityBulk,
	}, created)
}

func TestUpdateInACallersTransactionIsUndoneWithIt(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	p, _, err := s.Create(context.Background(), mailing("k", time.Now()))
	require.NoError(t, err)

	ctx, finish := db.Begin(context.Background(), pool)
	_, err = s.Update(ctx, p.ID, func(p *domain.Posting) error { return p.Cancel(time.Now()) })
	require.NoError(t, err)
	_, err = s.AddOutcomes(ctx, p.ID, domain.Counters{Sent: 3}, time.Now())
	require.NoError(t, err)
	boom := errors.New("the handler failed later")
	require.ErrorIs(t, finish(boom), boom)

	got, err := s.Get(context.Background(), p.ID)
	require.NoError(t, err)
	require.Equal(t, domain.StatusAccepted, got.Status)
	require.Zero(t, got.Counters.Sent)
}

func TestCreateInACallersTransactionIsUndoneWithIt(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx, finish := db.Begin(context.Background(), pool)
	p, created, err := s.Create(ctx, mailing("k", time.Now()))
	require.NoError(t, err)
	require.True(t, created)
	require.Error(t, finish(errors.New("the command could not be written")))

	_, err = s.Get(context.Background(), p.ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, created, err = s.Create(context.Background(), mailing("k", time.Now()))
	require.NoError(t, err)
	require.True(t, created, "the key is free again")
}

func TestCursorOfAStoredPostingIsWhatTheDatabaseKeeps(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC) // finer than PostgreSQL keeps
	older, _, err := s.Create(ctx, mailing("older", at.Add(-time.Second)))
	require.NoError(t, err)
	p, _, err := s.Create(ctx, mailing("k", at))
	require.NoError(t, err)
	require.Equal(t, at.Truncate(time.Microsecond), p.CreatedAt, "Create returns the stored row")

	after := domain.CursorOf(p)
	next, err := s.List(ctx, domain.ListQuery{Limit: 10, After: &after})
	require.NoError(t, err)
	require.Len(t, next, 1)
	require.Equal(t, older.ID, next[0].ID)
}
