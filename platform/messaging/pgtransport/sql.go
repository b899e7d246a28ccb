package pgtransport

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/messaging"
)

// SQLConfig tunes the SQL transport.
type SQLConfig struct {
	// PollInterval is how often an idle subscriber looks for new rows.
	PollInterval time.Duration
	// PoisonTTL is how long a row of the poison topic is kept (see
	// ExpirePoisoned). Zero means messaging.DefaultPoisonTTL.
	PoisonTTL time.Duration
}

// SQL is the messaging transport on PostgreSQL: one table per topic,
// one consumer group (with its offset) per handler. A message published
// inside a unit of work is inserted in that transaction, so it exists only
// if the state change that caused it commits.
type SQL struct {
	pool   *pgxpool.Pool
	cfg    SQLConfig
	logger watermill.LoggerAdapter
	schema wsql.DefaultPostgreSQLSchema
	offset wsql.DefaultPostgreSQLOffsetsAdapter
	direct *wsql.Publisher

	mu   sync.Mutex
	subs map[string]*wsql.Subscriber
	// groups lists, by topic, the handlers (consumer groups) subscribed
	// to it, for Prune.
	groups map[string][]string
}

// NewSQL returns the SQL transport on pool.
func NewSQL(pool *pgxpool.Pool, cfg SQLConfig, logger watermill.LoggerAdapter) (*SQL, error) {
	if pool == nil {
		return nil, errors.New("sql transport: nil pool")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.PoisonTTL < 0 {
		return nil, fmt.Errorf("sql transport: negative poison TTL %s", cfg.PoisonTTL)
	}
	if cfg.PoisonTTL == 0 {
		cfg.PoisonTTL = messaging.DefaultPoisonTTL
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	t := &SQL{
		pool:   pool,
		cfg:    cfg,
		logger: logger,
		schema: wsql.DefaultPostgreSQLSchema{GenerateMessagesTableName: messagesTable, GeneratePayloadType: bytea},
		offset: wsql.DefaultPostgreSQLOffsetsAdapter{GenerateMessagesOffsetsTableName: offsetsTable},
		subs:   map[string]*wsql.Subscriber{},
		groups: map[string][]string{},
	}
	direct, err := wsql.NewPublisher(wsql.BeginnerFromPgx(pool), wsql.PublisherConfig{SchemaAdapter: t.schema, AutoInitializeSchema: true}, logger)
	if err != nil {
		return nil, fmt.Errorf("sql publisher: %w", err)
	}
	t.direct = direct
	return t, nil
}

// Publisher implements messaging.Transport: it publishes in the message's
// unit of work when there is one, else on its own.
func (t *SQL) Publisher() message.Publisher { return sqlPublisher{t} }

type sqlPublisher struct{ t *SQL }

func (p sqlPublisher) Publish(topic string, msgs ...*message.Message) error {
	exec, inTx, err := txOf(msgs)
	if err != nil {
		return err
	}
	if !inTx {
		return p.t.direct.Publish(topic, msgs...)
	}
	// The topic's table exists: every subscribed topic is initialized at
	// start (creating tables inside this transaction is not allowed).
	pub, err := wsql.NewPublisher(exec, wsql.PublisherConfig{SchemaAdapter: p.t.schema}, p.t.logger)
	if err != nil {
		return err
	}
	return pub.Publish(topic, msgs...)
}

func (sqlPublisher) Close() error { return nil }

// Subscriber implements messaging.Transport: the handler's consumer group.
func (t *SQL) Subscriber(handlerName string) (message.Subscriber, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.subs[handlerName]; ok {
		return s, nil
	}
	s, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(t.pool), wsql.SubscriberConfig{
		ConsumerGroup:    handlerName,
		PollInterval:     t.cfg.PollInterval,
		ResendInterval:   t.cfg.PollInterval,
		RetryInterval:    time.Second,
		SchemaAdapter:    t.schema,
		OffsetsAdapter:   t.offset,
		InitializeSchema: true,
	}, t.logger)
	if err != nil {
		return nil, fmt.Errorf("sql subscriber %s: %w", handlerName, err)
	}
	t.subs[handlerName] = s
	return s, nil
}

// Initialize implements messaging.Initializer: it creates the topic's
// tables, so a message published in a transaction finds them.
func (t *SQL) Initialize(topic, handlerName string) error {
	s, err := t.Subscriber(handlerName)
	if err != nil {
		return err
	}
	if err := s.(*wsql.Subscriber).SubscribeInitialize(topic); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.groups[topic], handlerName) {
		t.groups[topic] = append(t.groups[topic], handlerName)
	}
	return nil
}

// Close implements messaging.Transport.
func (t *SQL) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	errs := []error{t.direct.Close()}
	for _, s := range t.subs {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
