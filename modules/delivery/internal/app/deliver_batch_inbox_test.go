package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/inboxsender"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// inboxHarness is the harness with the inapp channel's real sender on a
// memory inbox.
type inboxHarness struct {
	*harness
	inbox *memory.Inbox
	hub   *app.InboxHub
}

func newInboxHarness(t *testing.T) *inboxHarness {
	t.Helper()
	h := &harness{store: memory.New(), suppressions: memory.NewSuppressions(), email: &sender{}, sms: &sender{}, events: &events{},
		clock: clock.NewFake(start), policy: defaultPolicy}
	ih := &inboxHarness{harness: h, inbox: memory.NewInbox(), hub: app.NewInboxHub()}
	s, err := inboxsender.New(ih.inbox, ih.hub, h.clock)
	require.NoError(t, err)
	h.workers = startWorkers(t, 1, func() (app.Senders, error) {
		return app.Senders{"email": h.email, "sms": h.sms, "inapp": s}, nil
	})
	h.handler = mustHandlerWithSleep(t, h, nil)
	return ih
}

func inappBatch(postingID string, expiresAt *time.Time, recipients ...string) delivery.DeliverBatch {
	b := emailBatch(postingID)
	b.ExpiresAt = expiresAt
	for _, id := range recipients {
		b.Items = append(b.Items, delivery.Item{Channel: "inapp", Recipient: delivery.Recipient{UserID: id, FirstName: "Анна", Locale: "ru"}})
	}
	return b
}

func (h *inboxHarness) list(t *testing.T, user string) app.InboxPage {
	t.Helper()
	page, err := h.inbox.List(context.Background(), app.InboxQuery{UserID: user, Limit: 100, Now: h.clock.Now()})
	require.NoError(t, err)
	return page
}

func TestInAppMessageIsStoredInTheUsersInboxAndIsSent(t *testing.T) {
	t.Parallel()
	h := newInboxHarness(t)
	expires := start.Add(time.Hour)
	wake, stop := h.hub.Subscribe("u1")
	defer stop()

	require.NoError(t, h.handler.Handle(context.Background(), inappBatch("p1", &expires, "u1")))

	page := h.list(t, "u1")
	require.Len(t, page.Items, 1)
	assert.Equal(t, domain.InboxMessage{
		ID:     domain.Key{PostingID: "p1", UserID: "u1", Channel: "inapp"}.IdempotencyKey(),
		UserID: "u1", PostingID: "p1", NotificationType: "new_movies",
		Title: "Привет, Анна!", Body: "**Новинки недели**", CreatedAt: start, ExpiresAt: &expires,
	}, page.Items[0])
	assert.Equal(t, 1, page.Unread)
	assert.Equal(t, []string{"u1/inapp=sent"}, h.outcomes())
	assert.Empty(t, h.email.messages(), "the inbox is its own channel")
	select {
	case <-wake:
	default:
		t.Fatal("the hub was not told of the new message")
	}
}

func TestARedeliveredInAppBatchStoresOneMessage(t *testing.T) {
	t.Parallel()
	h := newInboxHarness(t)
	batch := inappBatch("p1", nil, "u1", "u2")

	require.NoError(t, h.handler.Handle(context.Background(), batch))
	h.clock.Advance(time.Minute)
	require.NoError(t, h.handler.Handle(context.Background(), batch))
	// Even a delivery whose row was lost stores nothing twice: the id is
	// the delivery key's.
	s, err := inboxsender.New(h.inbox, h.hub, h.clock)
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), app.Message{
		IdempotencyKey: domain.Key{PostingID: "p1", UserID: "u1", Channel: "inapp"}.IdempotencyKey(), UserID: "u1", PostingID: "p1",
	}))

	assert.Len(t, h.list(t, "u1").Items, 1)
	assert.Len(t, h.list(t, "u2").Items, 1)
	assert.True(t, h.list(t, "u1").Items[0].CreatedAt.Equal(start), "the first copy stays")
}

func TestExpiredInAppMessagesAreHiddenThenSwept(t *testing.T) {
	t.Parallel()
	h := newInboxHarness(t)
	expires := start.Add(time.Hour)
	require.NoError(t, h.handler.Handle(context.Background(), inappBatch("p1", &expires, "u1")))
	require.NoError(t, h.handler.Handle(context.Background(), inappBatch("p2", nil, "u1")))
	sweep, err := app.NewSweepExpiredInboxMessages(h.inbox, h.clock, discard())
	require.NoError(t, err)

	h.clock.Advance(time.Hour)

	page := h.list(t, "u1")
	require.Len(t, page.Items, 1)
	assert.Equal(t, "p2", page.Items[0].PostingID)
	assert.Equal(t, 1, page.Unread)
	n, err := sweep.Tick(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// failingInbox is an inbox whose writes fail.
type failingInbox struct{ *memory.Inbox }

func (failingInbox) Add(context.Context, domain.InboxMessage) (bool, error) {
	return false, errors.New("connection reset")
}

func TestAFailedInboxWriteIsTransient(t *testing.T) {
	t.Parallel()
	s, err := inboxsender.New(failingInbox{memory.NewInbox()}, app.NewInboxHub(), clock.NewFake(start))
	require.NoError(t, err)

	err = s.Send(context.Background(), app.Message{
		IdempotencyKey: domain.Key{PostingID: "p1", UserID: "u1", Channel: "inapp"}.IdempotencyKey(), UserID: "u1",
	})

	require.Error(t, err)
	assert.True(t, app.IsTransient(err))
	_, err = inboxsender.New(nil, app.NewInboxHub(), clock.NewFake(start))
	assert.Error(t, err)
}
