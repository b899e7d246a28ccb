package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	mail "github.com/wneessen/go-mail"

	"github.com/notifier/notifier/platform/smtptx"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

// sinkCeiling is how fast the notifier's SMTP client alone fills a discard
// sink of one kind: go-mail builds each message and opens the connections,
// and smtptx.SendMsg runs each transaction (four round trips without
// extension, two with PIPELINING, one with CHUNKING as well). It is the
// best this client and this sink do together.
type sinkCeiling struct {
	Extensions  sinkKind      `json:"extensions"`
	Messages    int           `json:"messages"`
	Connections int           `json:"connections"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Rate        float64       `json:"per_second"`
	Received    sinkCounts    `json:"sink"`
	// Cores is the CPU the bench used meanwhile (the SMTP clients and the
	// sink are both in it).
	Cores float64 `json:"bench_cores"`
}

// measureSinkCeiling sends n messages to a fresh discard sink offering the
// extensions of kind over conns connections, each kept open for all its
// messages, and times it. It sends
// as the notifier's SMTP sender does: a go-mail client dials (EHLO), and
// smtptx.SendMsg sends each message, built like the notifier's: the
// new_movies template rendered once, a multipart text + HTML body, a
// Message-ID and a date.
func measureSinkCeiling(ctx context.Context, n, conns int, kind sinkKind) (sinkCeiling, error) {
	renderer, err := templating.New(templates.FS, "ru")
	if err != nil {
		return sinkCeiling{}, err
	}
	rendered, err := renderer.Render("email/new_movies.md", map[string]any{
		"user":   map[string]any{"first_name": "Анна", "username": "user1"},
		"movies": mailingMovies,
	})
	if err != nil {
		return sinkCeiling{}, fmt.Errorf("render the sample email: %w", err)
	}
	sink, err := startDiscardSink(n, kind)
	if err != nil {
		return sinkCeiling{}, err
	}
	defer sink.close()
	host, port, err := splitHostPort(sink.addr())
	if err != nil {
		return sinkCeiling{}, err
	}

	var next atomic.Int64
	errs := make([]error, conns)
	var wg sync.WaitGroup
	_, cpuBefore, _ := procCPU(os.Getpid())
	start := time.Now()
	for w := range conns {
		wg.Go(func() {
			errs[w] = func() error {
				client, err := mail.NewClient(host, mail.WithPort(port), mail.WithTLSPolicy(mail.NoTLS))
				if err != nil {
					return err
				}
				conn, err := client.DialToSMTPClientWithContext(ctx)
				if err != nil {
					return err
				}
				defer client.CloseWithSMTPClient(conn)
				for {
					i := int(next.Add(1))
					if i > n {
						return nil
					}
					if err := ctx.Err(); err != nil {
						return err
					}
					m := mail.NewMsg()
					if err := m.From("Notifier <noreply@cinema.example>"); err != nil {
						return err
					}
					if err := m.To(fmt.Sprintf("u%d@bench.example", i)); err != nil {
						return err
					}
					m.Subject(rendered.Subject)
					m.SetMessageIDWithValue(fmt.Sprintf("ceiling-%d@bench.example", i))
					m.SetDate()
					m.SetBodyString(mail.TypeTextPlain, rendered.Text)
					m.AddAlternativeString(mail.TypeTextHTML, rendered.HTML)
					if err := smtptx.SendMsg(conn, m, mail.DefaultTimeout); err != nil {
						return err
					}
				}
			}()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	_, cpuAfter, _ := procCPU(os.Getpid())
	if err := errors.Join(errs...); err != nil {
		return sinkCeiling{}, fmt.Errorf("sink ceiling: %w", err)
	}
	return sinkCeiling{
		Extensions: kind, Messages: n, Connections: conns, Elapsed: elapsed, Rate: float64(n) / elapsed.Seconds(), Received: sink.counts(),
		Cores: (cpuAfter - cpuBefore).Seconds() / elapsed.Seconds(),
	}, nil
}

// brokerCeiling is how fast RabbitMQ alone takes and hands out persistent
// messages.
type brokerCeiling struct {
	Messages    int           `json:"messages"`
	Channels    int           `json:"publish_channels"`
	Prefetch    int           `json:"prefetch"`
	Publish     time.Duration `json:"publish_ns"`
	Consume     time.Duration `json:"consume_ns"`
	PublishRate float64       `json:"publish_per_second"`
	ConsumeRate float64       `json:"consume_per_second"`
	// Rate is n over publish + consume: each message in and out once.
	Rate float64 `json:"per_second"`
}

// brokerMessageSize is about the size of a notifier command.
const brokerMessageSize = 1024

// measureBrokerCeiling publishes n persistent ~1 KB messages with publisher
// confirms from channels channels to a throwaway durable queue, then
// consumes them with the given prefetch, acking each, and deletes the
// queue.
func measureBrokerCeiling(ctx context.Context, amqpURL, queue string, n, channels, prefetch int) (brokerCeiling, error) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return brokerCeiling{}, fmt.Errorf("RabbitMQ: %w", err)
	}
	defer conn.Close()
	admin, err := conn.Channel()
	if err != nil {
		return brokerCeiling{}, err
	}
	defer admin.Close()
	if _, err := admin.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		return brokerCeiling{}, fmt.Errorf("declare %s: %w", queue, err)
	}
	defer func() { _, _ = admin.QueueDelete(queue, false, false, false) }()

	body := make([]byte, brokerMessageSize)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}

	// Publish: each channel keeps up to window messages unconfirmed.
	const window = 256
	var next atomic.Int64
	errs := make([]error, channels)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range channels {
		wg.Go(func() {
			errs[c] = func() error {
				ch, err := conn.Channel()
				if err != nil {
					return err
				}
				defer ch.Close()
				if err := ch.Confirm(false); err != nil {
					return err
				}
				pending := make([]*amqp.DeferredConfirmation, 0, window)
				wait := func(confirms []*amqp.DeferredConfirmation) error {
					for _, dc := range confirms {
						ok, err := dc.WaitContext(ctx)
						if err != nil {
							return err
						}
						if !ok {
							return errors.New("the broker nacked a message")
						}
					}
					return nil
				}
				for next.Add(1) <= int64(n) {
					dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
						DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: body,
					})
					if err != nil {
						return err
					}
					pending = append(pending, dc)
					if len(pending) == window {
						if err := wait(pending[:window/2]); err != nil {
							return err
						}
						pending = append(pending[:0], pending[window/2:]...)
					}
				}
				return wait(pending)
			}()
		})
	}
	wg.Wait()
	publish := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return brokerCeiling{}, fmt.Errorf("broker ceiling: publish: %w", err)
	}

	// Consume: one consumer, prefetch as the notifier's, an ack per message.
	ch, err := conn.Channel()
	if err != nil {
		return brokerCeiling{}, err
	}
	defer ch.Close()
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return brokerCeiling{}, err
	}
	start = time.Now()
	deliveries, err := ch.ConsumeWithContext(ctx, queue, "", false, false, false, false, nil)
	if err != nil {
		return brokerCeiling{}, err
	}
	for got := 0; got < n; got++ {
		d, ok := <-deliveries
		if !ok {
			return brokerCeiling{}, fmt.Errorf("broker ceiling: consumer closed after %d of %d", got, n)
		}
		if err := d.Ack(false); err != nil {
			return brokerCeiling{}, err
		}
	}
	consume := time.Since(start)
	return brokerCeiling{
		Messages: n, Channels: channels, Prefetch: prefetch, Publish: publish, Consume: consume,
		PublishRate: float64(n) / publish.Seconds(), ConsumeRate: float64(n) / consume.Seconds(),
		Rate: float64(n) / (publish + consume).Seconds(),
	}, nil
}
