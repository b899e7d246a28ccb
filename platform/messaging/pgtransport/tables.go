// Package pgtransport carries messages through PostgreSQL with
// watermill-sql: the SQL transport (every topic a table, no broker) and the
// outbox that makes a state change and the messages it causes one
// transaction before they are forwarded to the broker.
package pgtransport

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/notifier/notifier/platform/db"
)

// tableName turns a topic such as "commands.delivery.DeliverBatch.v1.bulk"
// into a quoted identifier short enough for PostgreSQL (63 bytes), so two
// topics never collide through silent truncation.
func tableName(prefix, topic string) string {
	name := strings.ReplaceAll(strings.ToLower(topic), ".", "_")
	if len(prefix)+len(name) > 60 {
		sum := sha256.Sum256([]byte(topic))
		keep := 60 - len(prefix) - 9
		name = name[:keep] + "_" + hex.EncodeToString(sum[:4])
	}
	return `"` + prefix + name + `"`
}

func messagesTable(topic string) string { return tableName("wm_", topic) }
func offsetsTable(topic string) string  { return tableName("wm_off_", topic) }

// bytea keeps payloads as bytes: a malformed event on its way to the poison
// queue is not JSON, and must not be refused by a JSON column.
func bytea(string) string { return "BYTEA" }

// txOf returns the unit of work a message was published in, if any.
func txOf(msgs []*message.Message) (wsql.ContextExecutor, bool, error) {
	if len(msgs) == 0 {
		return nil, false, nil
	}
	tx, ok, err := db.TxFrom(msgs[0].Context())
	if err != nil || !ok {
		return nil, false, err
	}
	return wsql.TxFromPgx(tx), true, nil
}
