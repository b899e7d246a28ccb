package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

func TestPostgresStorePassesTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) app.Store {
		s, _ := newStore(t)
		return s
	})
}

// newStore returns a store on a fresh schema, and the pool on it.
func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.Postgres(t)
	s, err := postgres.New(pool)
	require.NoError(t, err)
	return s, pool
}

func TestNewRequiresAPool(t *testing.T) {
	t.Parallel()
	_, err := postgres.New(nil)
	require.Error(t, err)
}

func TestPostgresSuppressionsPassTheSuppressionStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunSuppressions(t, func(t *testing.T) app.SuppressionStore {
		s, err := postgres.NewSuppressions(testenv.Postgres(t))
		require.NoError(t, err)
		return s
	})
}

func TestNewSuppressionsRequiresAPool(t *testing.T) {
	t.Parallel()
	_, err := postgres.NewSuppressions(nil)
	require.Error(t, err)
}

func TestPostgresInboxPassesTheInboxStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunInbox(t, func(t *testing.T) app.InboxStore {
		s, err := postgres.NewInbox(testenv.Postgres(t))
		require.NoError(t, err)
		return s
	})
}

func TestNewInboxRequiresAPool(t *testing.T) {
	t.Parallel()
	_, err := postgres.NewInbox(nil)
	require.Error(t, err)
}
