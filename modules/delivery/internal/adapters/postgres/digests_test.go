package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

func TestPostgresDigestsPassTheDigestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunDigests(t, func(t *testing.T) app.DigestStore {
		s, err := postgres.NewDigests(testenv.Postgres(t))
		require.NoError(t, err)
		return s
	})
}

func TestNewDigestsRequiresAPool(t *testing.T) {
	t.Parallel()
	_, err := postgres.NewDigests(nil)
	require.Error(t, err)
}
