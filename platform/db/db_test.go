package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/migrations"
	"github.com/notifier/notifier/platform/db"
)

func count(t *testing.T, q db.Querier) int {
	t.Helper()
	var n int
	require.NoError(t, q.QueryRow(context.Background(), "SELECT count(*) FROM processed_messages").Scan(&n))
	return n
}

func TestUnitOfWorkCommitsOnSuccessAndRollsBackOnError(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	insert := func(ctx context.Context, key string) error {
		q, err := db.Q(ctx, pool)
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, "INSERT INTO processed_messages (key, expires_at) VALUES ($1, now())", key)
		return err
	}

	ctx, finish := db.Begin(context.Background(), pool)
	require.NoError(t, insert(ctx, "kept"))
	require.Equal(t, 0, count(t, pool), "not visible before commit")
	require.NoError(t, finish(nil))
	require.Equal(t, 1, count(t, pool))

	boom := errors.New("handler failed")
	ctx, finish = db.Begin(context.Background(), pool)
	require.NoError(t, insert(ctx, "dropped"))
	require.ErrorIs(t, finish(boom), boom)
	require.Equal(t, 1, count(t, pool))

	// InTx joins the caller's unit of work instead of committing alone.
	ctx, finish = db.Begin(context.Background(), pool)
	require.NoError(t, db.InTx(ctx, pool, func(ctx context.Context) error { return insert(ctx, "joined") }))
	require.Equal(t, 1, count(t, pool))
	require.Error(t, finish(boom))
	require.Equal(t, 1, count(t, pool))

	// Without a unit of work, InTx commits on its own.
	require.NoError(t, db.InTx(context.Background(), pool, func(ctx context.Context) error { return insert(ctx, "alone") }))
	require.Equal(t, 2, count(t, pool))
}

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t) // already migrated once
	require.NoError(t, db.Migrate(context.Background(), pool, migrations.FS, nil))
}

func TestEveryMigrationGoesDownAndUpAgain(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t) // migrated to the last version
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	require.NoError(t, err)
	ctx := context.Background()
	down, err := provider.DownTo(ctx, 0)
	require.NoError(t, err)
	require.NotEmpty(t, down)
	var tables int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'goose_db_version'`).Scan(&tables))
	require.Zero(t, tables, "every table dropped")
	require.NoError(t, db.Migrate(ctx, pool, migrations.FS, nil))
}

func TestSessionsPlanEachStatementWithItsParametersUnlessTheURLSaysOtherwise(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mode string
	require.NoError(t, testenv.Postgres(t).QueryRow(ctx, `SHOW plan_cache_mode`).Scan(&mode))
	require.Equal(t, "force_custom_plan", mode)

	dbURL, _ := testenv.Schema(t)
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	pool, err := db.Open(ctx, dbURL+sep+"plan_cache_mode=auto")
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, pool.QueryRow(ctx, `SHOW plan_cache_mode`).Scan(&mode))
	require.Equal(t, "auto", mode)
}
