package bootstrap

import (
	"log/slog"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/platform/db"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/poisonqueue"
)

// poisonQueue is the poison queue as operators see it in the console: the
// store every poisoned message is recorded in for amqp.poison_ttl (in
// memory, or table poison_messages), its admin API, and with PostgreSQL
// the janitor's clean-up of it (the memory store forgets on its own).
type poisonQueue struct {
	record  *poisonqueue.RecordPoisoned
	routes  *poisonqueue.HTTP
	sweeper *db.Sweeper
}

func newPoisonQueue(cfg config.Config, in *infra, c clock.Clock, m *messaging.Messaging, logger *slog.Logger) (*poisonQueue, error) {
	pq := &poisonQueue{}
	var store poisonqueue.Store
	if in.pools.Bulk == nil {
		mem, err := poisonqueue.NewMemory(c, cfg.AMQP.PoisonTTL)
		if err != nil {
			return nil, err
		}
		store = mem
	} else {
		pg, err := poisonqueue.NewPostgres(in.pools.Bulk, c, cfg.AMQP.PoisonTTL)
		if err != nil {
			return nil, err
		}
		store = pg
		pq.sweeper = &db.Sweeper{What: "poisoned messages older than amqp.poison_ttl (console)", Sweep: pg.Sweep}
	}
	logger = logger.With("module", "poisonqueue")
	var err error
	if pq.record, err = poisonqueue.NewRecordPoisoned(store, c); err != nil {
		return nil, err
	}
	list, err := poisonqueue.NewListPoisonedHandler(store)
	if err != nil {
		return nil, err
	}
	get, err := poisonqueue.NewGetPoisonedHandler(store)
	if err != nil {
		return nil, err
	}
	requeue, err := poisonqueue.NewRequeuePoisonedHandler(store, m.Publisher(), m, c, logger)
	if err != nil {
		return nil, err
	}
	discard, err := poisonqueue.NewDiscardPoisonedHandler(store, logger)
	if err != nil {
		return nil, err
	}
	if pq.routes, err = poisonqueue.NewHTTP(list, get, requeue, discard); err != nil {
		return nil, err
	}
	return pq, nil
}
