package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/modules/posting"
)

var errNoSuchUser = app.RecipientRefused(errors.New("smtp: sending SMTP RCPT TO command: 550 5.1.1"))

// codeBatch is a batch of a mandatory type on the transactional lane.
func codeBatch(postingID string, r delivery.Recipient) delivery.DeliverBatch {
	b := emailBatch(postingID, r)
	b.Lane = delivery.LaneTransactional
	b.NotificationType = posting.TypeEmailConfirmation
	return b
}

// entries returns the suppression list by address.
func (h *harness) entries(t *testing.T) map[string]domain.Suppression {
	t.Helper()
	page, err := h.suppressions.ListSuppressions(context.Background(), app.SuppressionQuery{Limit: 100})
	require.NoError(t, err)
	out := map[string]domain.Suppression{}
	for _, e := range page.Items {
		out[e.Channel+":"+e.Value] = e
	}
	return out
}

func TestARefusedAddressIsSuppressedThenSkippedByEveryLaterPostingMandatoryOnesToo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	h.email.fail = func(m app.Message) error {
		if m.To == "u1@example.com" {
			return errNoSuchUser
		}
		return nil
	}
	ctx := context.Background()

	require.NoError(t, h.handler.Handle(ctx, emailBatch("p1", recipient("u1", "Анна"), recipient("u2", "Борис"))))
	require.Equal(t, []string{"u1/email=failed", "u2/email=sent"}, h.outcomes())
	require.Equal(t, "smtp: sending SMTP RCPT TO command: 550 5.1.1", h.rows(t, "p1")["u1/email"].Error)
	require.Equal(t, map[string]domain.Suppression{"email:u1@example.com": {
		Address: domain.Address{Channel: "email", Value: "u1@example.com"},
		Reason:  "smtp: sending SMTP RCPT TO command: 550 5.1.1", Source: domain.SourceDelivery, CreatedAt: start,
	}}, h.entries(t))

	// A code for the same mailbox, written otherwise by the directory.
	anna := recipient("u1", "Анна")
	anna.Email = "  U1@Example.COM "
	tries := h.email.tries()
	require.NoError(t, h.handler.Handle(ctx, codeBatch("p2", anna)))
	require.Equal(t, tries, h.email.tries(), "nothing is sent to a suppressed address")
	row := h.rows(t, "p2")["u1/email"]
	require.Equal(t, delivery.StatusSkipped, row.Status)
	require.Equal(t, "suppressed", row.Error)
	require.Zero(t, row.Attempts)
	last := h.events.published()[1]
	require.Equal(t, []delivery.Outcome{{UserID: "u1", Channel: "email", Status: "skipped", Error: "suppressed", At: start}}, last.Outcomes)
}

func TestAnAddressIsSuppressedPerChannel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	_, _, err := h.suppressions.Suppress(context.Background(), domain.Suppression{
		Address: domain.AddressOf("sms", "+79001234567"), Reason: "invalid_number", Source: domain.SourceAPI, CreatedAt: start,
	})
	require.NoError(t, err)
	anna := recipient("u1", "Анна")
	anna.Phone = "+7 (900) 123-45-67" // as the directory writes it
	batch := emailBatch("p1", anna)
	batch.Items = append(batch.Items, delivery.Item{Channel: "sms", Recipient: anna})

	require.NoError(t, h.handler.Handle(context.Background(), batch))
	require.ElementsMatch(t, []string{"u1/email=sent", "u1/sms=skipped"}, h.outcomes())
	require.Empty(t, h.sms.messages())
}

func TestOnlyARefusalOfTheAddressSuppressesIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.RetryPolicy{MaxAttempts: 2, Backoff: 1, MaxBackoff: 1, MaxWaiting: 1})
	h.email.fail = func(m app.Message) error {
		switch m.To {
		case "u1@example.com":
			return errors.New("smtp: sending message content: 552 5.3.4") // the message, not the address
		case "u2@example.com":
			return errBusy // transient, until the attempts run out
		case "u3@example.com":
			return app.Transient(app.RecipientRefused(errors.New("marked both ways"))) // transient wins
		}
		return nil
	}

	require.NoError(t, h.handler.Handle(context.Background(), emailBatch("p1", recipient("u1", "А"), recipient("u2", "Б"), recipient("u3", "В"))))
	require.Equal(t, []string{"u1/email=failed", "u2/email=failed", "u3/email=failed"}, h.outcomes())
	require.Empty(t, h.entries(t))
}

func TestAnAddressTakenOffTheListIsDeliveredAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	h.email.script = []error{errNoSuchUser}
	ctx := context.Background()
	require.NoError(t, h.handler.Handle(ctx, emailBatch("p1", recipient("u1", "Анна"))))
	require.Len(t, h.entries(t), 1)

	require.NoError(t, h.suppressions.Unsuppress(ctx, domain.AddressOf("email", "u1@example.com")))
	require.NoError(t, h.handler.Handle(ctx, emailBatch("p2", recipient("u1", "Анна"))))
	require.Equal(t, []string{"u1/email=failed", "u1/email=sent"}, h.outcomes())
	require.Len(t, h.email.messages(), 1)
}

// countingList is a SuppressionList that counts its lookups and can fail.
type countingList struct {
	app.SuppressionList
	mu                 sync.Mutex
	lookups, addresses int
	failLookup         error
	failSuppress       error
}

func (c *countingList) Suppressed(ctx context.Context, addrs []domain.Address) ([]domain.Address, error) {
	c.mu.Lock()
	c.lookups++
	c.addresses += len(addrs)
	err := c.failLookup
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.SuppressionList.Suppressed(ctx, addrs)
}

func (c *countingList) Suppress(ctx context.Context, s domain.Suppression) (domain.Suppression, bool, error) {
	c.mu.Lock()
	err := c.failSuppress
	c.mu.Unlock()
	if err != nil {
		return domain.Suppression{}, false, err
	}
	return c.SuppressionList.Suppress(ctx, s)
}

func (c *countingList) counts() (lookups, addresses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lookups, c.addresses
}

func TestABatchLooksItsAddressesUpInOneLookup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	list := &countingList{SuppressionList: h.suppressions}
	handler := mustHandlerWithSleep(t, h, nil, app.WithSuppressions(list))
	var rs []delivery.Recipient
	for i := range 50 {
		rs = append(rs, recipient(fmt.Sprintf("u%02d", i), "Имя"))
	}
	batch := emailBatch("p1", rs...)
	batch.Items = append(batch.Items, delivery.Item{Channel: "email", Recipient: delivery.Recipient{UserID: "nomail"}})
	batch.Skipped = []delivery.SkippedItem{{UserID: "u99", Channel: "email", Reason: "opted out"}}

	require.NoError(t, handler.Handle(context.Background(), batch))
	lookups, addresses := list.counts()
	require.Equal(t, 1, lookups, "one lookup for the batch")
	require.Equal(t, 50, addresses, "the addresses of the rows to send, not of the skipped ones or those without an address")
	require.Len(t, h.email.messages(), 50)

	require.NoError(t, handler.Handle(context.Background(), batch))
	lookups, _ = list.counts()
	require.Equal(t, 1, lookups, "a redelivered batch with nothing pending looks nothing up")
}

func TestAFailedLookupLeavesTheBatchPendingForItsRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	list := &countingList{SuppressionList: h.suppressions, failLookup: errors.New("connection refused")}
	handler := mustHandlerWithSleep(t, h, nil, app.WithSuppressions(list))
	batch := emailBatch("p1", recipient("u1", "Анна"))

	err := handler.Handle(context.Background(), batch)
	require.ErrorContains(t, err, "look up suppressed addresses")
	require.Zero(t, h.email.tries(), "nothing is sent unchecked")
	require.Equal(t, delivery.StatusPending, h.rows(t, "p1")["u1/email"].Status)

	list.mu.Lock()
	list.failLookup = nil
	list.mu.Unlock()
	require.NoError(t, handler.Handle(context.Background(), batch))
	require.Equal(t, []string{"u1/email=sent"}, h.outcomes())
}

func TestARefusalThatCannotBeRecordedLeavesTheRowPending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	list := &countingList{SuppressionList: h.suppressions, failSuppress: errors.New("connection refused")}
	handler := mustHandlerWithSleep(t, h, nil, app.WithSuppressions(list))
	h.email.fail = func(app.Message) error { return errNoSuchUser }
	batch := emailBatch("p1", recipient("u1", "Анна"))

	require.ErrorContains(t, handler.Handle(context.Background(), batch), "suppress refused address")
	require.Equal(t, delivery.StatusPending, h.rows(t, "p1")["u1/email"].Status, "not failed without its suppression")

	list.mu.Lock()
	list.failSuppress = nil
	list.mu.Unlock()
	require.NoError(t, handler.Handle(context.Background(), batch))
	require.Equal(t, []string{"u1/email=failed"}, h.outcomes())
	require.Len(t, h.entries(t), 1)
}

func TestSuppressionsAndSuppressedDeliveriesAreCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, defaultPolicy)
	m := newRecordedMetrics()
	handler := mustHandlerWithSleep(t, h, nil, app.WithMetrics(m))
	h.email.script = []error{errNoSuchUser}
	ctx := context.Background()

	require.NoError(t, handler.Handle(ctx, emailBatch("p1", recipient("u1", "Анна"))))
	require.NoError(t, handler.Handle(ctx, codeBatch("p2", recipient("u1", "Анна"))))
	require.NoError(t, handler.Handle(ctx, emailBatch("p3", recipient("u1", "Анна"), recipient("u2", "Борис"))))

	suppressed, added := m.suppressions()
	require.Equal(t, map[string]int{"delivery/email": 1}, added)
	require.Equal(t, map[string]int{"transactional/email": 1, "bulk/email": 1}, suppressed)
}
