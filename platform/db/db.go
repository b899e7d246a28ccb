// Package db is Notifier's PostgreSQL plumbing: the pgx pool, the
// transaction carried in a context (so that a handler's writes, its
// deduplication key and the messages it sends commit together), and the
// goose migrations.
package db

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/lane"
)

// Querier runs statements: a pgx.Tx or a *pgxpool.Pool.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Open connects a pool to url and checks it answers.
//
// Its sessions plan every statement with its parameters
// (plan_cache_mode = force_custom_plan, unless url sets it). pgx prepares
// and caches statements per connection, and PostgreSQL's default switches a
// prepared statement to a generic plan after five executions, for the
// connection's life: a plan made while a table was nearly empty (a fresh
// deployment's first mailing, a new schema) kept scanning the whole
// deliveries table to mark one row as it grew (1,700 recipients/s at 50,000
// instead of 3,300). Planning each time costs a fraction of that.
//
// Each of tune, if any, may change the pool's configuration before it
// connects.
func Open(ctx context.Context, url string, tune ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	for _, t := range tune {
		t(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return pool, nil
}

type txKey struct{}

// txHolder lets a middleware start a unit of work before the transaction
// exists (it is begun lazily, on first use).
type txHolder struct {
	mu   sync.Mutex
	pool *pgxpool.Pool
	tx   pgx.Tx
}

// WithTx returns ctx carrying tx: stores called with it write in tx.
func WithTx(ctx context.Context, tx pgx.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, &txHolder{tx: tx})
}

// TxFrom returns the transaction ctx carries, beginning it if a unit of
// work was opened lazily. ok is false when ctx carries none.
func TxFrom(ctx context.Context) (pgx.Tx, bool, error) {
	h, ok := ctx.Value(txKey{}).(*txHolder)
	if !ok {
		return nil, false, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tx == nil {
		tx, err := h.pool.Begin(ctx)
		if err != nil {
			return nil, true, fmt.Errorf("begin: %w", err)
		}
		h.tx = tx
	}
	return h.tx, true, nil
}

// Q returns the transaction in ctx, or pool when there is none. Every
// store statement goes through Q, so a store joins its caller's
// transaction without knowing it.
func Q(ctx context.Context, pool *pgxpool.Pool) (Querier, error) {
	tx, ok, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		return tx, nil
	}
	return pool, nil
}

// InTx runs fn in the transaction ctx carries or, when it carries none, in
// a new transaction committed when fn returns nil and rolled back
// otherwise.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*txHolder); ok {
		return fn(ctx)
	}
	ctx, finish := Begin(ctx, pool)
	return finish(fn(ctx))
}

// Begin opens a unit of work on pool: the transaction starts on first use
// and finish commits it when err is nil, or rolls it back, returning err
// joined with any commit or rollback failure. A unit of work that never
// touched the database costs nothing.
func Begin(ctx context.Context, pool *pgxpool.Pool) (context.Context, func(err error) error) {
	h := &txHolder{pool: pool}
	ctx = context.WithValue(ctx, txKey{}, h)
	return ctx, func(err error) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.tx == nil {
			return err
		}
		bg := context.WithoutCancel(ctx)
		if err != nil {
			if rerr := h.tx.Rollback(bg); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
				return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
			}
			return err
		}
		if cerr := h.tx.Commit(bg); cerr != nil {
			return fmt.Errorf("commit: %w", cerr)
		}
		return nil
	}
}

// TxRunner runs a function in one transaction; stores called with the
// context it passes join it. The memory variant just calls the function.
type TxRunner interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// PoolRunner is the PostgreSQL TxRunner. A new transaction for a context
// of the transactional lane (lane.With) is begun on Transactional when it
// is set, so that a code never waits for a connection a mailing holds.
type PoolRunner struct {
	Pool          *pgxpool.Pool
	Transactional *pgxpool.Pool
}

// InTx implements TxRunner.
func (r PoolRunner) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return InTx(ctx, Pools{Bulk: r.Pool, Transactional: r.Transactional}.For(lane.From(ctx)), fn)
}

// Pools are the connection pools of the lanes (package lane): the
// transactional lane has a share of connections of its own, so that no
// amount of bulk work can hold every connection a code waits for.
type Pools struct {
	Bulk *pgxpool.Pool
	// Transactional is nil when the lanes share Bulk.
	Transactional *pgxpool.Pool
}

// For returns the pool of lane l.
func (p Pools) For(l string) *pgxpool.Pool {
	if l == lane.Transactional && p.Transactional != nil {
		return p.Transactional
	}
	return p.Bulk
}

// OpenPools opens the pool of each lane on url: the bulk lane's as url
// says (pgx's pool_max_conns, else its default), the transactional lane's
// with transactionalConns connections of its own (none: the lanes share
// the bulk pool).
func OpenPools(ctx context.Context, url string, transactionalConns int) (Pools, error) {
	bulk, err := Open(ctx, url)
	if err != nil {
		return Pools{}, err
	}
	if transactionalConns <= 0 {
		return Pools{Bulk: bulk}, nil
	}
	tx, err := Open(ctx, url, MaxConns(transactionalConns))
	if err != nil {
		bulk.Close()
		return Pools{}, fmt.Errorf("transactional lane: %w", err)
	}
	return Pools{Bulk: bulk, Transactional: tx}, nil
}

// MaxConns is an Open option: a pool of n connections at most, none
// kept open while idle.
func MaxConns(n int) func(*pgxpool.Config) {
	return func(c *pgxpool.Config) {
		c.MaxConns = int32(n)
		c.MinConns = 0
	}
}

// Close closes every pool.
func (p Pools) Close() {
	if p.Transactional != nil {
		p.Transactional.Close()
	}
	if p.Bulk != nil {
		p.Bulk.Close()
	}
}

// Ping checks that every pool answers.
func (p Pools) Ping(ctx context.Context) error {
	if err := p.Bulk.Ping(ctx); err != nil {
		return err
	}
	if p.Transactional != nil {
		if err := p.Transactional.Ping(ctx); err != nil {
			return fmt.Errorf("transactional lane: %w", err)
		}
	}
	return nil
}

// NoTx is the TxRunner of in-memory mode.
type NoTx struct{}

// InTx implements TxRunner.
func (NoTx) InTx(ctx context.Context, fn func(ctx context.Context) error) error { return fn(ctx) }
