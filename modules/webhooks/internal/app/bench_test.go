package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/postgres"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/db"
)

// BenchmarkAnOutcomeBatchWithNoEndpoint is what the webhooks module adds
// to each batch of 500 delivery outcomes when no endpoint is registered:
// decoding the event and the one read of the endpoints, in a unit of work
// that it never begins. Divide by 500 for the cost per recipient.
func BenchmarkAnOutcomeBatchWithNoEndpoint(b *testing.B) {
	pool := testenv.Postgres(b)
	store, err := postgres.New(db.Pools{Bulk: pool})
	if err != nil {
		b.Fatal(err)
	}
	h, err := app.NewEnqueueOnDeliveryOutcomes(store, 24*time.Hour, clock.System{}, logger())
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(batchOf(500, delivery.StatusSent, time.Now()))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var e delivery.DeliveryOutcomes
		if err := json.Unmarshal(body, &e); err != nil {
			b.Fatal(err)
		}
		uow, finish := db.Begin(context.Background(), pool)
		if err := finish(h.Handle(uow, e)); err != nil {
			b.Fatal(err)
		}
	}
}
