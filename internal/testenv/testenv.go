// Package testenv finds the real services integration tests run against:
// PostgreSQL at NOTIFIER_TEST_DATABASE_URL and RabbitMQ at
// NOTIFIER_TEST_AMQP_URL (defaults: the local servers on their standard
// ports). A missing service skips the test with a loud message, or fails
// it when NOTIFIER_REQUIRE_SERVICES=1 (as in CI).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/migrations"
	"github.com/notifier/notifier/platform/db"
)

// Defaults used when the variables are unset.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
)

// Unavailable skips t (or fails it when services are required) because
// what is missing.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("NOTIFIER_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is required (NOTIFIER_REQUIRE_SERVICES=1) but unavailable: %v", what, err)
	}
	t.Skipf("SKIPPED: %s unavailable (%v); set NOTIFIER_REQUIRE_SERVICES=1 to make this a failure", what, err)
}

// DatabaseURL returns the test database URL.
func DatabaseURL() string {
	if u := os.Getenv("NOTIFIER_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// AMQPURL returns the RabbitMQ URL for tests, skipping t when the broker
// does not answer.
func AMQPURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("NOTIFIER_TEST_AMQP_URL")
	if u == "" {
		u = DefaultAMQPURL
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatalf("NOTIFIER_TEST_AMQP_URL: %v", err)
	}
	host := parsed.Host
	if parsed.Port() == "" {
		host = net.JoinHostPort(parsed.Hostname(), "5672")
	}
	conn, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		Unavailable(t, "RabbitMQ", err)
	}
	_ = conn.Close()
	return u
}

// Name returns a name unique to this test run, such as "t_3fa9c2d1e0b4",
// for schemas, queues and exchanges.
func Name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Schema creates a fresh schema for t, migrated, and returns the URL of
// the test database with search_path set to it (for a process under test)
// and the schema name. The schema is dropped when t ends.
func Schema(t testing.TB) (dbURL, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := db.Open(ctx, DatabaseURL())
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
	}
	defer admin.Close()
	schema = Name("t")
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := db.Open(ctx, DatabaseURL())
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(DatabaseURL())
	if err != nil {
		t.Fatalf("NOTIFIER_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

// Postgres returns a pool on a fresh, migrated schema of its own, closed
// and dropped when t ends.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL, _ := Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("open test schema: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := db.Migrate(ctx, pool, migrations.FS, nil); err != nil {
		t.Fatalf("migrate test schema: %v", err)
	}
	return pool
}

// MustExec runs sql on pool or fails t.
func MustExec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}
