package amqptransport_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/messaging/amqptransport"
)

// The benchmarks measure the throughput the defaults were chosen from,
// with 1 KB persistent messages on a durable queue. Run them with
//
//	go test -run XXX -bench . -benchtime 5000x ./platform/messaging/amqptransport/
//
// and read the msg/s column.

var kilobyte = bytes.Repeat([]byte("x"), 1024)

// BenchmarkPublishWithConfirms publishes from 16 goroutines, as the
// handlers and HTTP requests of one process do, for several pool sizes.
func BenchmarkPublishWithConfirms(b *testing.B) {
	for _, channels := range []int{1, 8, 16} {
		b.Run(fmt.Sprintf("channels=%d", channels), func(b *testing.B) {
			br := newBroker(b)
			tr := br.transport(b, amqptransport.Config{PublishChannels: channels})
			const topic, handler = "bench.publish", "amqptest.Keep"
			br.removeAtEnd(b, tr, topic, handler)
			require.NoError(b, tr.Initialize(topic, handler))

			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := tr.Publisher().Publish(topic, message.NewMessage(watermill.NewUUID(), kilobyte)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
		})
	}
}

// BenchmarkConsume drains a queue of b.N messages through one subscriber,
// acking each, for several prefetch counts.
func BenchmarkConsume(b *testing.B) {
	for _, prefetch := range []int{1, 20, 50, 200} {
		b.Run(fmt.Sprintf("prefetch=%d", prefetch), func(b *testing.B) {
			br := newBroker(b)
			tr := br.transport(b, amqptransport.Config{Prefetch: prefetch})
			const topic, handler = "bench.consume", "amqptest.Drain"
			br.removeAtEnd(b, tr, topic, handler)
			require.NoError(b, tr.Initialize(topic, handler))
			fill(b, tr, topic, b.N)

			sub, err := tr.Subscriber(handler)
			require.NoError(b, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := time.Now()
			b.ResetTimer()
			msgs, err := sub.Subscribe(ctx, topic)
			require.NoError(b, err)
			for range b.N {
				select {
				case msg := <-msgs:
					msg.Ack()
				case <-time.After(wait):
					b.Fatal("the queue ran dry")
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
			b.StopTimer()
			require.NoError(b, sub.Close())
		})
	}
}

// fill publishes n 1 KB messages to topic.
func fill(b *testing.B, tr *amqptransport.Transport, topic string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	for range 16 {
		wg.Go(func() {
			for range work {
				if err := tr.Publisher().Publish(topic, message.NewMessage(watermill.NewUUID(), kilobyte)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
