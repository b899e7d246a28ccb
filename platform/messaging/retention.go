package messaging

import "time"

// DefaultPoisonTTL is how long the transports keep a poisoned message when
// not told otherwise: poisoned messages can hold emails and phone numbers,
// so the poison queue must not keep them forever (amqp.poison_ttl).
const DefaultPoisonTTL = 7 * 24 * time.Hour
