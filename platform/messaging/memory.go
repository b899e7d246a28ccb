package messaging

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// MemoryTransport runs every topic on one in-process Watermill gochannel.
// Messages are lost on exit; it is for `make run` and tests.
type MemoryTransport struct{ ps *gochannel.GoChannel }

// NewMemoryTransport returns a MemoryTransport.
func NewMemoryTransport(logger watermill.LoggerAdapter) *MemoryTransport {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return &MemoryTransport{ps: gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024}, logger)}
}

// Publisher implements Transport.
func (t *MemoryTransport) Publisher() message.Publisher { return t.ps }

// Subscriber implements Transport. On gochannel every subscription of a
// topic receives every message, which is what per-handler queues give on a
// broker.
func (t *MemoryTransport) Subscriber(string) (message.Subscriber, error) { return t.ps, nil }

// Close implements Transport.
func (t *MemoryTransport) Close() error { return t.ps.Close() }
