package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/preferences/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/preferences/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/preferences/internal/app"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
	"github.com/notifier/notifier/platform/db"
)

func TestPostgresStorePassesTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) app.Store {
		s, err := postgres.NewStore(testenv.Postgres(t))
		require.NoError(t, err)
		return s
	})
}

func TestPutJoinsTheCallersUnitOfWork(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	s, err := postgres.NewStore(pool)
	require.NoError(t, err)
	prefs := domain.UserPreferences{UserID: "u1", Overrides: domain.Overrides{Types: map[string]bool{"new_movies": false}}, UpdatedAt: time.Now()}

	ctx, finish := db.Begin(context.Background(), pool)
	require.NoError(t, s.Put(ctx, prefs))
	_, found, err := s.Get(context.Background(), "u1")
	require.NoError(t, err)
	require.False(t, found, "not visible before the unit of work commits")
	require.Error(t, finish(context.Canceled))

	_, found, err = s.Get(context.Background(), "u1")
	require.NoError(t, err)
	require.False(t, found, "rolled back with the unit of work")
}

func TestNewStoreRequiresAPool(t *testing.T) {
	t.Parallel()
	_, err := postgres.NewStore(nil)
	require.Error(t, err)
}
