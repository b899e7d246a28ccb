package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/notifier/notifier/platform/db"
)

// The local servers, as internal/testenv finds them.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
)

// uniqueName returns prefix_<12 hex digits>, for schemas, queues and
// exchanges of this run only.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// createSchema creates a fresh schema on databaseURL and returns the URL
// with search_path set to it, for the notifier, and a function that drops
// it.
func createSchema(ctx context.Context, databaseURL string) (schemaURL, schema string, drop func() error, err error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", "", nil, fmt.Errorf("database url: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	admin, err := db.Open(ctx, databaseURL)
	if err != nil {
		return "", "", nil, fmt.Errorf("PostgreSQL at %s: %w", u.Redacted(), err)
	}
	defer admin.Close()
	schema = uniqueName("bench")
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", "", nil, fmt.Errorf("create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		admin, err := db.Open(ctx, databaseURL)
		if err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		defer admin.Close()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	return u.String(), schema, drop, nil
}

// schemaWrites returns the rows inserted, updated and deleted so far in
// each table of schema, from pg_stat_user_tables (updated within a second
// or so of each transaction), or nil.
func schemaWrites(ctx context.Context, databaseURL, schema string) map[string]int64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := db.Open(ctx, databaseURL)
	if err != nil {
		return nil
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT relname, n_tup_ins + n_tup_upd + n_tup_del
		FROM pg_stat_user_tables WHERE schemaname = $1`, schema)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var table string
		var n int64
		if err := rows.Scan(&table, &n); err != nil {
			return nil
		}
		if n > 0 {
			out[table] = n
		}
	}
	if rows.Err() != nil {
		return nil
	}
	return out
}

// postgresVersion returns PostgreSQL's version string, or "" when it cannot.
func postgresVersion(ctx context.Context, databaseURL string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := db.Open(ctx, databaseURL)
	if err != nil {
		return ""
	}
	defer pool.Close()
	var v string
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return ""
	}
	return v
}

// rabbitmqVersion returns the broker's version from its connection
// properties, or "" when it cannot.
func rabbitmqVersion(amqpURL string) string {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return ""
	}
	defer conn.Close()
	v, _ := conn.Properties["version"].(string)
	return v
}

// deleteAMQPNames deletes the queues and exchanges whose names start with
// prefix, as internal/testenv does after a test: the names come from
// rabbitmqctl (present where the broker runs locally).
func deleteAMQPNames(amqpURL, prefix string) error {
	list := func(what string) ([]string, error) {
		out, err := exec.Command("rabbitmqctl", "-q", "list_"+what, "name", "--no-table-headers").Output()
		if err != nil {
			return nil, fmt.Errorf("rabbitmqctl list_%s: %w", what, err)
		}
		var names []string
		for name := range strings.SplitSeq(string(out), "\n") {
			if name = strings.TrimSpace(name); strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		return names, nil
	}
	queues, err := list("queues")
	if err != nil {
		return err
	}
	exchanges, err := list("exchanges")
	if err != nil {
		return err
	}
	if len(queues)+len(exchanges) == 0 {
		return nil
	}
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	for _, q := range queues {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			return fmt.Errorf("delete queue %s: %w", q, err)
		}
	}
	for _, x := range exchanges {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			return fmt.Errorf("delete exchange %s: %w", x, err)
		}
	}
	return nil
}
