package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/migrations"
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
	p, _, err := s.Create(context.Background(), mailing("k", time.Now()), time.Now().Add(time.Hour))
	require.NoError(t, err)

	ctx, finish := db.Begin(context.Background(), pool)
	_, err = s.Update(ctx, p.ID, func(p *domain.Posting) error { return p.Cancel(time.Now()) })
	require.NoError(t, err)
	_, _, err = s.AddOutcomes(ctx, p.ID, domain.Counters{Sent: 3}, time.Now())
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
	p, created, err := s.Create(ctx, mailing("k", time.Now()), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.True(t, created)
	require.Error(t, finish(errors.New("the command could not be written")))

	_, err = s.Get(context.Background(), p.ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, created, err = s.Create(context.Background(), mailing("k", time.Now()), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.True(t, created, "the key is free again")
}

func TestCursorOfAStoredPostingIsWhatTheDatabaseKeeps(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC) // finer than PostgreSQL keeps
	older, _, err := s.Create(ctx, mailing("older", at.Add(-time.Second)), at.Add(time.Hour))
	require.NoError(t, err)
	p, _, err := s.Create(ctx, mailing("k", at), at.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, at.Truncate(time.Microsecond), p.CreatedAt, "Create returns the stored row")

	after := domain.CursorOf(p)
	next, err := s.List(ctx, domain.ListQuery{Limit: 10, After: &after})
	require.NoError(t, err)
	require.Len(t, next, 1)
	require.Equal(t, older.ID, next[0].ID)
}

func TestMigration00008MovesTheKeysOfExistingPostingsWithADayToLive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL, _ := testenv.Schema(t)
	pool, err := db.Open(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	require.NoError(t, err)
	_, err = provider.UpTo(ctx, 7)
	require.NoError(t, err)
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := uuid.New()
	testenv.MustExec(t, pool, `
		INSERT INTO postings (id, idempotency_key, notification_type, receivers, template, channels, priority,
		                      status, created_at, updated_at)
		VALUES ($1, 'api-key', 'new_movies', 'http://auth/api/v1/users/', 'email/new_movies.md', '{email}', 'bulk',
		        'completed', $2, $2)`, old, created)
	_, err = provider.Up(ctx) // 00008 and the ones after it, which the store needs
	require.NoError(t, err)
	s, err := postgres.New(pool)
	require.NoError(t, err)

	p, err := s.Get(ctx, old)
	require.NoError(t, err)
	require.Empty(t, p.RequestFingerprint, "made before fingerprints")
	require.True(t, p.SameRequest("sha256:anything"), "so any repeat matches it")
	held := mailing("api-key", created.Add(24*time.Hour-time.Second))
	got, isNew, err := s.Create(ctx, held, held.CreatedAt.Add(time.Hour))
	require.NoError(t, err)
	require.False(t, isNew, "the key still answers within the day")
	require.Equal(t, old, got.ID)
	free := mailing("api-key", created.Add(24*time.Hour))
	got, isNew, err = s.Create(ctx, free, free.CreatedAt.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, isNew, "a day after its posting the key is free")
	require.Equal(t, free.ID, got.ID)
}
