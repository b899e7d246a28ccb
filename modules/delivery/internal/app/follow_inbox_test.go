package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/app"
	"github.com/notifier/notifier/modules/delivery/internal/domain"
	"github.com/notifier/notifier/platform/clock"
)

// sink records the messages a stream sends.
type sink struct {
	mu   sync.Mutex
	got  []string
	idle int
}

func (s *sink) Message(m domain.InboxMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, m.ID)
	return nil
}

func (s *sink) Idle() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idle++
	return nil
}

func (s *sink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func inboxMsg(n int, at time.Time) domain.InboxMessage {
	return domain.InboxMessage{ID: fmt.Sprintf("%032x", n), UserID: "u1", PostingID: fmt.Sprintf("p%d", n), Title: "t", CreatedAt: at}
}

// follow runs a stream of u1 in the background until the test ends.
func follow(t *testing.T, store app.InboxStore, hub *app.InboxHub, clk clock.Clock, lastEventID string) *sink {
	t.Helper()
	h, err := app.NewFollowInboxHandler(store, hub, clk, 10*time.Millisecond)
	require.NoError(t, err)
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Handle(ctx, app.FollowInbox{UserID: "u1", LastEventID: lastEventID}, s) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done, "a stream ends without error when its context does")
	})
	// The stream has looked once when it reports idle.
	require.Eventually(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.idle > 0 || len(s.got) > 0 }, 5*time.Second, time.Millisecond)
	return s
}

func TestAStreamSendsAMessageStoredByAnotherInstanceOnce(t *testing.T) {
	t.Parallel()
	store, clk := memory.NewInbox(), clock.NewFake(start)
	_, err := store.Add(context.Background(), inboxMsg(1, start.Add(-time.Minute)))
	require.NoError(t, err)
	s := follow(t, store, app.NewInboxHub(), clk, "")

	// No hub signal: another instance stored it; its clock is a little
	// behind ours.
	_, err = store.Add(context.Background(), inboxMsg(2, start.Add(-2*time.Second)))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(s.ids()) == 1 }, 5*time.Second, time.Millisecond)
	_, err = store.Add(context.Background(), inboxMsg(3, start.Add(-3*time.Second)))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(s.ids()) == 2 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // a few more polls

	assert.Equal(t, []string{inboxMsg(2, start).ID, inboxMsg(3, start).ID}, s.ids(),
		"what was there before the stream is not sent; what arrived is sent once")
}

func TestAStreamResumesAfterTheLastEventIDAndIgnoresAnUnknownOne(t *testing.T) {
	t.Parallel()
	store, clk := memory.NewInbox(), clock.NewFake(start)
	for n := 1; n <= 3; n++ {
		_, err := store.Add(context.Background(), inboxMsg(n, start.Add(time.Duration(n)*time.Hour)))
		require.NoError(t, err)
	}
	clk.Advance(4 * time.Hour)

	resumed := follow(t, store, app.NewInboxHub(), clk, inboxMsg(1, start).ID)
	require.Eventually(t, func() bool { return len(resumed.ids()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{inboxMsg(2, start).ID, inboxMsg(3, start).ID}, resumed.ids())

	unknown := follow(t, store, app.NewInboxHub(), clk, fmt.Sprintf("%032x", 99))
	time.Sleep(30 * time.Millisecond)
	assert.Empty(t, unknown.ids(), "an id the inbox does not hold starts with what arrives next")
}

func TestAStreamRefusesMalformedInput(t *testing.T) {
	t.Parallel()
	h, err := app.NewFollowInboxHandler(memory.NewInbox(), app.NewInboxHub(), clock.NewFake(start), 0)
	require.NoError(t, err)
	var inv *app.InvalidInputError
	require.ErrorAs(t, h.Handle(context.Background(), app.FollowInbox{UserID: "u1", LastEventID: "nope"}, &sink{}), &inv)
	assert.Equal(t, "Last-Event-ID", inv.Field)
	require.ErrorAs(t, h.Validate(app.FollowInbox{UserID: "a/b"}), &inv)
	assert.Equal(t, "user_id", inv.Field)
	_, err = app.NewFollowInboxHandler(nil, app.NewInboxHub(), clock.NewFake(start), 0)
	assert.Error(t, err)
}
