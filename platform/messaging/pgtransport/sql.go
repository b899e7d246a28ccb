package pgtransport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/lane"
	"github.com/notifier/notifier/platform/messaging"
)

// SQLConfig tunes the SQL transport.
type SQLConfig struct {
	// PollInterval is how often an idle subscriber looks for new rows.
	PollInterval time.Duration
	// PoisonTTL is how long a row of the poison topic is kept (see
	// ExpirePoisoned). Zero means messaging.DefaultPoisonTTL.
	PoisonTTL time.Duration
	// TransactionalPool, when set, is where the handlers of the
	// transactional lane (LaneSubscriber) poll and acknowledge, so that
	// bulk handlers holding every connection of the main pool never keep a
	// code waiting.
	TransactionalPool *pgxpool.Pool
	// SubscriberPool, when set, is where every subscriber polls and holds
	// its transaction while its handler runs, apart from the pools of the
	// handlers' own work: sharing one, as many subscribers as it has
	// connections, each waiting for another connection for its handler,
	// stop every handler for good. It needs more connections than there
	// are handlers.
	SubscriberPool *pgxpool.Pool
}

// SQL is the messaging transport on PostgreSQL: one table per topic,
// one consumer group (with its offset) per handler. A message published
// inside a unit of work is inserted in that transaction, so it exists only
// if the state change that caused it commits.
//
// watermill-sql's tables with consumer groups hand a message over only
// once every transaction older than it has ended (transaction_id <
// pg_snapshot_xmin): a handler in the middle of a long transaction, such as
// a bulk batch sending its emails, holds back every message committed
// after it began, on every topic (the horizon is the whole server's). The
// topics of the transactional lane (named "<topic>.transactional", one
// handler each) are therefore queues instead (watermill-sql's
// PostgreSQLQueueSchema): a message is handed over as soon as it is
// committed, and deleted once handled. A queue hands each message to one
// consumer, so an observer of such a topic (messaging.Observer) gets a
// queue of its own, "<topic>:<handler>", into which every message of the
// topic is inserted too, in the same transaction.
type SQL struct {
	pool   *pgxpool.Pool
	cfg    SQLConfig
	logger watermill.LoggerAdapter
	schema wsql.DefaultPostgreSQLSchema
	offset wsql.DefaultPostgreSQLOffsetsAdapter
	queue  skipLockedQueue
	direct *wsql.Publisher
	// directMu keeps Close from closing direct under a Publish in flight:
	// watermill-sql's Publisher reads its closed flag without a lock (a
	// data race the race detector saw at shutdown).
	directMu sync.RWMutex

	mu   sync.Mutex
	subs map[string]*wsql.Subscriber
	// pools holds the pool of each handler's lane.
	pools map[string]*pgxpool.Pool
	// groups lists, by topic, the handlers (consumer groups) subscribed
	// to it, for Prune.
	groups map[string][]string
	// observers lists, by queue topic, the observers that consume copies
	// of its messages from queues of their own.
	observers map[string][]string
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
		pool:      pool,
		cfg:       cfg,
		logger:    logger,
		schema:    wsql.DefaultPostgreSQLSchema{GenerateMessagesTableName: messagesTable, GeneratePayloadType: bytea},
		offset:    wsql.DefaultPostgreSQLOffsetsAdapter{GenerateMessagesOffsetsTableName: offsetsTable},
		queue:     skipLockedQueue{wsql.PostgreSQLQueueSchema{GenerateMessagesTableName: messagesTable, GeneratePayloadType: bytea}},
		subs:      map[string]*wsql.Subscriber{},
		pools:     map[string]*pgxpool.Pool{},
		groups:    map[string][]string{},
		observers: map[string][]string{},
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
	if !inTx && !isQueue(topic) {
		p.t.directMu.RLock()
		defer p.t.directMu.RUnlock()
		return p.t.direct.Publish(topic, msgs...)
	}
	var schema wsql.SchemaAdapter = p.t.schema
	if isQueue(topic) {
		schema = p.t.queue
	}
	copies := p.t.copiesOf(topic)
	if !inTx && len(copies) > 0 {
		// The queue and its observers' copies, all or none.
		return p.publishInNewTx(topic, copies, msgs)
	}
	if !inTx {
		exec = wsql.BeginnerFromPgx(p.t.pool)
	}
	// The topic's table exists: every subscribed topic is initialized at
	// start (creating tables inside this transaction is not allowed).
	pub, err := wsql.NewPublisher(exec, wsql.PublisherConfig{SchemaAdapter: schema}, p.t.logger)
	if err != nil {
		return err
	}
	for _, to := range append([]string{topic}, copies...) {
		if err := pub.Publish(to, msgs...); err != nil {
			return err
		}
	}
	return nil
}

// publishInNewTx inserts msgs into queue topic and its copies in one
// transaction of its own.
func (p sqlPublisher) publishInNewTx(topic string, copies []string, msgs []*message.Message) error {
	ctx := context.Background()
	if len(msgs) > 0 {
		ctx = msgs[0].Context()
	}
	tx, err := p.t.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	pub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: p.t.queue}, p.t.logger)
	if err != nil {
		return err
	}
	for _, to := range append([]string{topic}, copies...) {
		if err := pub.Publish(to, msgs...); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (sqlPublisher) Close() error { return nil }

// skipLockedQueue is watermill-sql's queue schema whose consumers skip the
// rows another consumer holds instead of waiting for them: with several
// instances, a poll never keeps a connection waiting on another instance's
// message in flight (waits that, with every connection of a pool taken
// by them, could stop the instance holding the lock from finishing).
type skipLockedQueue struct{ wsql.PostgreSQLQueueSchema }

func (s skipLockedQueue) SelectQuery(p wsql.SelectQueryParams) (wsql.Query, error) {
	q, err := s.PostgreSQLQueueSchema.SelectQuery(p)
	if err != nil {
		return q, err
	}
	q.Query += " SKIP LOCKED"
	return q, nil
}

// isQueue reports whether topic is a queue: a topic of the transactional
// lane (its name ends with ".transactional"), which one handler consumes,
// or an observer's copy of one.
func isQueue(topic string) bool {
	base, _, _ := strings.Cut(topic, ":")
	return strings.HasSuffix(base, "."+lane.Transactional)
}

// copyTopic is the queue of the copies observer consumes of queue topic.
func copyTopic(topic, observer string) string { return topic + ":" + observer }

// Observe implements messaging.Observing: an observer of a queue gets the
// copies of its messages from a queue of its own (see SQL). An observer of
// any other topic needs nothing: it has its own consumer group.
func (t *SQL) Observe(topic, handlerName string) error {
	if !isQueue(topic) {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.observers[topic], handlerName) {
		t.observers[topic] = append(t.observers[topic], handlerName)
	}
	return nil
}

// copiesOf returns the observers' queues a message of topic is copied to.
func (t *SQL) copiesOf(topic string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.observers[topic]))
	for _, o := range t.observers[topic] {
		out = append(out, copyTopic(topic, o))
	}
	return out
}

// topicFor returns the topic handlerName consumes for topic: its copy
// queue when it observes topic, else topic.
func (t *SQL) topicFor(handlerName, topic string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.Contains(t.observers[topic], handlerName) {
		return copyTopic(topic, handlerName)
	}
	return topic
}

// Subscriber implements messaging.Transport: the handler's consumer group.
func (t *SQL) Subscriber(handlerName string) (message.Subscriber, error) {
	return t.LaneSubscriber(handlerName, lane.Bulk)
}

// LaneSubscriber implements messaging.LaneSubscriber: Subscriber on
// SQLConfig.SubscriberPool, else, for a handler of the transactional lane,
// on SQLConfig.TransactionalPool (when set). A topic of the transactional
// lane is consumed as a queue (see SQL).
func (t *SQL) LaneSubscriber(handlerName, l string) (message.Subscriber, error) {
	pool := t.pool
	switch {
	case t.cfg.SubscriberPool != nil:
		pool = t.cfg.SubscriberPool
	case l == lane.Transactional && t.cfg.TransactionalPool != nil:
		pool = t.cfg.TransactionalPool
	}
	t.mu.Lock()
	t.pools[handlerName] = pool
	t.mu.Unlock()
	return &sqlSubscriber{t: t, handler: handlerName}, nil
}

// sqlSubscriber is the subscriber of one handler; its watermill-sql
// subscriber, made on first use, depends on the topic (a queue or not).
type sqlSubscriber struct {
	t       *SQL
	handler string
}

func (s *sqlSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	topic = s.t.topicFor(s.handler, topic)
	sub, err := s.t.subscriber(s.handler, topic)
	if err != nil {
		return nil, err
	}
	return sub.Subscribe(ctx, topic)
}

func (s *sqlSubscriber) SubscribeInitialize(topic string) error {
	return s.t.Initialize(topic, s.handler)
}

// Close does nothing: the transport closes the subscribers it made.
func (s *sqlSubscriber) Close() error { return nil }

func (t *SQL) subscriber(handlerName, topic string) (*wsql.Subscriber, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.subs[handlerName]; ok {
		return s, nil
	}
	pool := t.pools[handlerName]
	if pool == nil {
		pool = t.pool
	}
	cfg := wsql.SubscriberConfig{
		ConsumerGroup:    handlerName,
		PollInterval:     t.cfg.PollInterval,
		ResendInterval:   t.cfg.PollInterval,
		RetryInterval:    time.Second,
		SchemaAdapter:    t.schema,
		OffsetsAdapter:   t.offset,
		InitializeSchema: true,
	}
	if isQueue(topic) {
		cfg.ConsumerGroup = "" // a queue has one consumer: its handler
		cfg.SchemaAdapter = t.queue
		cfg.OffsetsAdapter = wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true, GenerateMessagesTableName: messagesTable}
	}
	s, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), cfg, t.logger)
	if err != nil {
		return nil, fmt.Errorf("sql subscriber %s: %w", handlerName, err)
	}
	t.subs[handlerName] = s
	return s, nil
}

// Initialize implements messaging.Initializer: it creates the topic's
// tables, so a message published in a transaction finds them. The
// handler's subscriber must have been made by LaneSubscriber first, or it
// is the bulk lane's.
func (t *SQL) Initialize(topic, handlerName string) error {
	topic = t.topicFor(handlerName, topic)
	s, err := t.subscriber(handlerName, topic)
	if err != nil {
		return err
	}
	if err := s.SubscribeInitialize(topic); err != nil {
		return err
	}
	if isQueue(topic) {
		return nil // its rows are deleted once handled: nothing to prune
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
	t.directMu.Lock()
	closeErr := t.direct.Close()
	t.directMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	errs := []error{closeErr}
	for _, s := range t.subs {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
