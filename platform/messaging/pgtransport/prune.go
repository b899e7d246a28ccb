package pgtransport

import (
	"context"
	"fmt"
	"slices"

	"github.com/notifier/notifier/platform/messaging"
)

// Prune deletes, from every topic this transport initialized, the messages
// that every handler subscribed to the topic has consumed: a topic's table
// would otherwise keep every message ever published. A message is consumed
// by a consumer group once the group's position — its last transaction id,
// then its last offset, the order watermill-sql reads in — is at or past
// it; a topic with a handler that has no position yet loses nothing. It
// returns how many messages it deleted.
func (t *SQL) Prune(ctx context.Context) (int64, error) {
	t.mu.Lock()
	topics := make(map[string][]string, len(t.groups))
	for topic, groups := range t.groups {
		topics[topic] = slices.Clone(groups)
	}
	t.mu.Unlock()

	var total int64
	for topic, groups := range topics {
		tag, err := t.pool.Exec(ctx, `
			WITH positions AS (
				SELECT last_processed_transaction_id AS tx, offset_acked AS off
				FROM `+offsetsTable(topic)+`
				WHERE consumer_group = ANY($1) AND offset_acked IS NOT NULL
			), slowest AS (
				SELECT tx, off FROM positions ORDER BY tx, off LIMIT 1
			)
			DELETE FROM `+messagesTable(topic)+` m
			USING slowest
			WHERE (SELECT count(*) FROM positions) = $2
			  AND (m.transaction_id, m."offset") <= (slowest.tx, slowest.off)`,
			groups, len(groups))
		if err != nil {
			return total, fmt.Errorf("prune topic %s: %w", topic, err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

// ExpirePoisoned deletes the messages of the poison topic older than the
// poison TTL (SQLConfig.PoisonTTL), consumed or not: Prune never deletes
// them, since the retained group (Messaging.RetainPoisoned) never consumes,
// and they can hold emails and phone numbers. It returns how many it
// deleted; nothing when the poison topic was not initialized.
func (t *SQL) ExpirePoisoned(ctx context.Context) (int64, error) {
	t.mu.Lock()
	_, initialized := t.groups[messaging.PoisonTopic]
	t.mu.Unlock()
	if !initialized {
		return 0, nil
	}
	// created_at is a timestamp without time zone, the inserting session's
	// CURRENT_TIMESTAMP; LOCALTIMESTAMP is on the same footing.
	tag, err := t.pool.Exec(ctx, `DELETE FROM `+messagesTable(messaging.PoisonTopic)+`
		WHERE created_at < LOCALTIMESTAMP - $1::bigint * interval '1 microsecond'`,
		t.cfg.PoisonTTL.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("expire poisoned messages: %w", err)
	}
	return tag.RowsAffected(), nil
}
