package messaging

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
)

// PublishedAtKey is the metadata key of the time a command or event was
// handed to its bus (RFC 3339, UTC). It travels with the message through
// every transport, the outbox and broker redeliveries included, so that a
// handler can tell how long the message waited.
const PublishedAtKey = "published_at"

// PublishedAt returns when the command or event a CQRS handler is handling
// was published, read from the message ctx carries; false when ctx holds no
// message or the message no valid stamp (a message from an older version,
// or a raw one).
func PublishedAt(ctx context.Context) (time.Time, bool) {
	msg := cqrs.OriginalMessageFromCtx(ctx)
	if msg == nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(PublishedAtKey))
	if err != nil {
		return time.Time{}, false
	}
	return at, true
}
