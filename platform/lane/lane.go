// Package lane names the two lanes work travels on, so that a phone code
// never waits behind a mailing: transactional (single recipients, codes,
// mandatory types) and bulk (mailings). Every hop gives each lane its own
// share of what it has: topics and queues, handler concurrency, outbox
// forwarder, broker publishing channels, PostgreSQL connections and
// delivery workers. The lane travels with a message in its metadata and
// with a call in its context.
package lane

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// The lanes.
const (
	Transactional = "transactional"
	Bulk          = "bulk"
)

// MetadataKey is the message metadata that carries a message's lane. A
// message without it (sent by a version before lanes reached every hop)
// is bulk.
const MetadataKey = "lane"

// Of returns the lane named by s: Transactional for "transactional",
// Bulk for anything else (including "").
func Of(s string) string {
	if s == Transactional {
		return Transactional
	}
	return Bulk
}

type ctxKey struct{}

// With returns ctx carrying lane l.
func With(ctx context.Context, l string) context.Context {
	return context.WithValue(ctx, ctxKey{}, Of(l))
}

// From returns the lane ctx carries, Bulk when none.
func From(ctx context.Context) string {
	if l, ok := ctx.Value(ctxKey{}).(string); ok {
		return l
	}
	return Bulk
}

// OfMessage returns the lane of msg, from its metadata.
func OfMessage(msg *message.Message) string { return Of(msg.Metadata.Get(MetadataKey)) }
