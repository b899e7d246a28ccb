package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/demodirectory"
)

// The walks below: 1,234 users, pages of 100, a window of 300 recipients
// on one channel (email). A page is asked for only while it fits in the
// window, so the walk pauses after page 3 (300 outstanding) and resumes
// when outcomes bring the backlog to 150 or below.
const (
	windowUsers    = 1234
	windowPageSize = 100
	windowMaxAhead = 300
)

// walkWithinWindow handles the queued ExpandAudience commands, and those
// they cause, checking after each that no more than the window is
// outstanding. It returns the pages handled.
func (w *world) walkWithinWindow(t *testing.T, p domain.Posting) int {
	t.Helper()
	pages := 0
	for range 100 {
		var pending []app.ExpandAudience
		for _, m := range w.commands.take() {
			if c, ok := m.(app.ExpandAudience); ok {
				pending = append(pending, c)
			}
		}
		if len(pending) == 0 {
			return pages
		}
		for _, c := range pending {
			require.NoError(t, w.expand.Handle(context.Background(), c))
			pages++
			require.LessOrEqual(t, w.get(t, p.ID).Outstanding(), windowMaxAhead, "after page %d", c.Page)
		}
	}
	t.Fatal("the walk did not end")
	return pages
}

// deliver reports every recipient of batch as sent.
func (w *world) deliver(t *testing.T, id string, batch posting.AudienceBatchResolved) {
	t.Helper()
	e := delivery.DeliveryOutcomes{PostingID: id}
	for _, r := range batch.Recipients {
		e.Outcomes = append(e.Outcomes, delivery.Outcome{UserID: r.UserID, Channel: posting.ChannelEmail, Status: delivery.StatusSent, At: start})
	}
	require.NoError(t, w.outcomes.Handle(context.Background(), e))
}

// pausedMailing creates the mailing and walks it until it pauses.
func pausedMailing(t *testing.T, w *world) domain.Posting {
	t.Helper()
	w.window(t, windowPageSize, windowMaxAhead)
	p := w.mustCreate(t, newMoviesCmd("k"))
	require.Equal(t, 3, w.walkWithinWindow(t, p))
	got := w.get(t, p.ID)
	require.True(t, got.WalkPaused)
	require.Equal(t, 4, got.NextPage)
	require.Equal(t, windowMaxAhead, got.Outstanding())
	require.Len(t, w.events.batches(), 3)
	return got
}

func TestWalkAsksForPagesOnlyAsOutcomesArrive(t *testing.T) {
	t.Parallel()
	eachWorld(t, demodirectory.GenerateUsers(windowUsers), func(t *testing.T, w *world) {
		p := pausedMailing(t, w)
		id := p.ID.String()
		ctx := context.Background()

		require.NoError(t, w.expand.Handle(ctx, app.ExpandAudience{PostingID: id, Page: 4}))
		require.Len(t, w.events.batches(), 3, "a stray command does not walk a paused posting")

		w.deliver(t, id, w.events.batches()[0])
		require.Empty(t, w.commands.all(), "200 outstanding: still above half the window")
		require.True(t, w.get(t, p.ID).WalkPaused)

		w.deliver(t, id, w.events.batches()[1])
		require.Equal(t, []app.ExpandAudience{{PostingID: id, Page: 4, Priority: p.Priority}}, w.commands.expandCommands(),
			"100 outstanding: the walk resumes with the next page")
		require.False(t, w.get(t, p.ID).WalkPaused)

		// Deliver the oldest batch whenever the walk waits, until done.
		delivered := 2
		for range 100 {
			w.walkWithinWindow(t, p)
			if got := w.get(t, p.ID); got.Status == domain.StatusCompleted {
				break
			}
			batches := w.events.batches()
			require.Less(t, delivered, len(batches), "the walk waits for nothing")
			w.deliver(t, id, batches[delivered])
			delivered++
		}

		got := w.get(t, p.ID)
		require.Equal(t, domain.StatusCompleted, got.Status)
		require.Equal(t, domain.Counters{Recipients: windowUsers, Sent: windowUsers}, got.Counters)
		require.Len(t, w.events.batches(), 13)
		require.Equal(t, 13, delivered)
	})
}

// barrierStore holds every AddOutcomes, once armed with n, until n of
// them have added their counts, so that the handlers all decide on a
// resume at once. Only for the memory store: with PostgreSQL the first
// one's row lock would keep the others from ever reaching the barrier.
type barrierStore struct {
	domain.Store
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (s *barrierStore) arm(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting, s.release = n, make(chan struct{})
}

func (s *barrierStore) AddOutcomes(ctx context.Context, id uuid.UUID, delta domain.Counters, now time.Time) (domain.Posting, bool, error) {
	p, settled, err := s.Store.AddOutcomes(ctx, id, delta, now)
	s.mu.Lock()
	release := s.release
	if release != nil {
		s.waiting--
		if s.waiting == 0 {
			close(release)
		}
	}
	s.mu.Unlock()
	if release != nil {
		<-release
	}
	return p, settled, err
}

func TestOnlyOneOfConcurrentOutcomeHandlersResumesTheWalk(t *testing.T) {
	t.Parallel()
	eachWorld(t, demodirectory.GenerateUsers(windowUsers), func(t *testing.T, w *world) {
		var barrier *barrierStore
		if w.pool == nil {
			barrier = &barrierStore{Store: w.store}
			w.store = barrier
		}
		p := pausedMailing(t, w)
		if barrier != nil {
			barrier.arm(10)
		}
		var recipients []posting.Recipient
		for _, b := range w.events.batches() {
			recipients = append(recipients, b.Recipients...)
		}

		// Ten handlers report 30 deliveries each at once: every one of
		// the last six may find the backlog at or below 150 (in memory,
		// all six do: the barrier lets none go on before all counted).
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				w.deliver(t, p.ID.String(), posting.AudienceBatchResolved{Recipients: recipients[i*30 : (i+1)*30]})
			})
		}
		wg.Wait()

		require.Equal(t, []app.ExpandAudience{{PostingID: p.ID.String(), Page: 4, Priority: p.Priority}}, w.commands.expandCommands())
		got := w.get(t, p.ID)
		require.False(t, got.WalkPaused)
		require.Equal(t, 300, got.Counters.Sent)
	})
}

func TestCancelledPausedPostingNeverResumes(t *testing.T) {
	t.Parallel()
	eachWorld(t, demodirectory.GenerateUsers(windowUsers), func(t *testing.T, w *world) {
		p := pausedMailing(t, w)
		_, err := w.cancel.Handle(context.Background(), p.ID.String())
		require.NoError(t, err)

		for _, b := range w.events.batches() {
			w.deliver(t, p.ID.String(), b)
		}

		require.Empty(t, w.commands.expandCommands())
		got := w.get(t, p.ID)
		require.Equal(t, domain.StatusCancelled, got.Status)
		require.Equal(t, 300, got.Counters.Sent)
	})
}

func TestPausedPostingPastItsExpiryExpiresInsteadOfResuming(t *testing.T) {
	t.Parallel()
	eachWorld(t, demodirectory.GenerateUsers(windowUsers), func(t *testing.T, w *world) {
		w.window(t, windowPageSize, windowMaxAhead)
		cmd := newMoviesCmd("k")
		expires := start.Add(time.Hour)
		cmd.ExpiresAt = &expires
		p := w.mustCreate(t, cmd)
		w.walkWithinWindow(t, p)
		require.True(t, w.get(t, p.ID).WalkPaused)

		w.clock.Advance(2 * time.Hour)
		for _, b := range w.events.batches() {
			w.deliver(t, p.ID.String(), b)
		}

		require.Empty(t, w.commands.expandCommands())
		require.Equal(t, domain.StatusExpired, w.get(t, p.ID).Status)
		w.events.requireFinished(t, p, posting.StatusExpired)
	})
}
