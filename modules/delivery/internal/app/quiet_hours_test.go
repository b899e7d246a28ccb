package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// handlerBus sends a resumed batch straight to the handler, as the command
// bus would.
type handlerBus struct {
	h    *app.DeliverBatchHandler
	sent int
	fail bool
}

func (b *handlerBus) Send(ctx context.Context, cmd any) error {
	if b.fail {
		return errors.New("bus down")
	}
	b.sent++
	return b.h.Handle(ctx, *cmd.(*delivery.DeliverBatch))
}

// quietBatch is a bulk mailing whose recipients have quiet hours 22:00 to
// 08:00 in zone.
func quietBatch(postingID, zone string, n int) delivery.DeliverBatch {
	b := emailBatch(postingID, users(n)...)
	for i := range b.Items {
		b.Items[i].QuietHours = &delivery.QuietHours{Start: "22:00", End: "08:00", Zone: zone}
	}
	return b
}

func quietHarness(t *testing.T) (*harness, *memory.Deferred, *app.ResumeDeferredBatches, *handlerBus) {
	t.Helper()
	h := newHarness(t, defaultPolicy)
	deferred := memory.NewDeferred()
	h.handler = mustHandlerWithSleep(t, h, nil, app.WithQuietHours(deferred))
	bus := &handlerBus{h: h.handler}
	resume, err := app.NewResumeDeferredBatches(deferred, bus, h.clock, discard())
	require.NoError(t, err)
	return h, deferred, resume, bus
}

func TestAMailingInQuietHoursWaitsInTheStoreAndGoesOutWhenTheyEnd(t *testing.T) {
	t.Parallel()
	h, deferred, resume, bus := quietHarness(t)
	ctx := context.Background()
	h.clock.Set(time.Date(2026, 12, 6, 19, 30, 0, 0, time.UTC)) // 22:30 in Moscow
	batch := quietBatch("p1", "Europe/Moscow", 3)
	batch.Items = append(batch.Items, delivery.Item{Channel: "email", Recipient: recipient("u09", "Без тишины")})

	require.NoError(t, h.handler.Handle(ctx, batch))

	require.Len(t, h.email.messages(), 1, "only the recipient without quiet hours")
	assert.Equal(t, 1, deferred.Len(), "one deferred batch: one window end")
	for _, r := range h.rows(t, "p1") {
		if r.Key.UserID != "u09" {
			assert.Equal(t, delivery.StatusPending, r.Status, "waiting: still pending, no worker held")
		}
	}
	n, err := resume.Tick(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is due before 08:00")

	// Redelivered before the end: deferred again, not twice.
	require.NoError(t, h.handler.Handle(ctx, batch))
	assert.Equal(t, 1, deferred.Len())
	require.Len(t, h.email.messages(), 1)

	h.clock.Set(time.Date(2026, 12, 7, 4, 59, 0, 0, time.UTC)) // 07:59 in Moscow
	n, err = resume.Tick(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	h.clock.Set(time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)) // 08:00 in Moscow
	n, err = resume.Tick(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, bus.sent)
	assert.Len(t, h.email.messages(), 4, "the three waiting ones went out")
	assert.Zero(t, deferred.Len())
	for _, r := range h.rows(t, "p1") {
		assert.Equal(t, delivery.StatusSent, r.Status, r.Key.UserID)
	}
}

func TestRecipientsInOtherZonesWaitForTheirOwnMorning(t *testing.T) {
	t.Parallel()
	h, deferred, resume, _ := quietHarness(t)
	ctx := context.Background()
	// 23:00 UTC: 02:00 in Moscow (quiet), 00:00 in Berlin (quiet), 18:00
	// in New York (not).
	h.clock.Set(time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC))
	batch := quietBatch("p1", "Europe/Moscow", 1)
	berlin := quietBatch("p1", "Europe/Berlin", 2).Items[1]
	newYork := quietBatch("p1", "America/New_York", 3).Items[2]
	batch.Items = append(batch.Items, berlin, newYork)

	require.NoError(t, h.handler.Handle(ctx, batch))

	require.Len(t, h.email.messages(), 1)
	assert.Equal(t, "u03", h.email.messages()[0].UserID, "evening in New York")
	assert.Equal(t, 2, deferred.Len(), "Moscow's morning and Berlin's")
	h.clock.Set(time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)) // 08:00 Moscow, 06:00 Berlin
	_, err := resume.Tick(ctx)
	require.NoError(t, err)
	require.Len(t, h.email.messages(), 2)
	assert.Equal(t, "u01", h.email.messages()[1].UserID)
	h.clock.Set(time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)) // 08:00 Berlin
	_, err = resume.Tick(ctx)
	require.NoError(t, err)
	require.Len(t, h.email.messages(), 3)
	assert.Equal(t, "u02", h.email.messages()[2].UserID)
}

func TestADeliveryWhoseExpiryComesBeforeTheEndOfQuietHoursExpiresAndIsNeverSentLate(t *testing.T) {
	t.Parallel()
	h, deferred, _, _ := quietHarness(t)
	now := time.Date(2026, 12, 6, 22, 30, 0, 0, time.UTC)
	h.clock.Set(now)
	batch := quietBatch("p1", "UTC", 2)
	expires := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC) // the window's end: too late
	batch.ExpiresAt = &expires

	require.NoError(t, h.handler.Handle(context.Background(), batch))

	assert.Empty(t, h.email.messages())
	assert.Zero(t, deferred.Len())
	for _, r := range h.rows(t, "p1") {
		assert.Equal(t, delivery.StatusExpired, r.Status)
		assert.Equal(t, "expired during quiet hours (until 2026-12-07T08:00:00Z)", r.Error)
	}
	assert.Len(t, h.events.published(), 1, "reported at once")
}

func TestAResumeThatCannotSendKeepsTheBatchForTheNextTick(t *testing.T) {
	t.Parallel()
	h, deferred, resume, bus := quietHarness(t)
	h.clock.Set(time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC))
	require.NoError(t, h.handler.Handle(context.Background(), quietBatch("p1", "UTC", 1)))
	h.clock.Set(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC))
	bus.fail = true
	_, err := resume.Tick(context.Background())
	require.Error(t, err)
	assert.Equal(t, 1, deferred.Len(), "kept")
	bus.fail = false
	_, err = resume.Tick(context.Background())
	require.NoError(t, err)
	assert.Len(t, h.email.messages(), 1)
}

// The night the clocks go back in Berlin, 08:00 comes an hour later in UTC
// than the night before: the mailing waits for the wall clock's 08:00.
func TestTheWaitEndsAtTheLocalMorningAcrossADaylightSavingChange(t *testing.T) {
	t.Parallel()
	h, _, resume, _ := quietHarness(t)
	ctx := context.Background()
	h.clock.Set(time.Date(2026, 10, 24, 21, 0, 0, 0, time.UTC)) // 23:00 CEST
	require.NoError(t, h.handler.Handle(ctx, quietBatch("p1", "Europe/Berlin", 1)))
	require.Empty(t, h.email.messages())

	h.clock.Set(time.Date(2026, 10, 25, 6, 0, 0, 0, time.UTC)) // 08:00 had it been CEST; 07:00 CET
	_, err := resume.Tick(ctx)
	require.NoError(t, err)
	require.Empty(t, h.email.messages(), "still 07:00 on the wall clock")

	h.clock.Set(time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC)) // 08:00 CET
	_, err = resume.Tick(ctx)
	require.NoError(t, err)
	require.Len(t, h.email.messages(), 1)
}
