package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/demodirectory"
)

func TestScheduledMailingStartsWhenItsSendAtComes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, demodirectory.GenerateUsers(3))
	ctx := context.Background()
	cmd := newMoviesCmd("k")
	at := start.Add(10 * time.Minute)
	cmd.SendAt = &at
	p := w.mustCreate(t, cmd)

	w.clock.Advance(10*time.Minute - time.Second)
	require.NoError(t, w.sched.Tick(ctx))
	require.Empty(t, w.commands.all(), "not yet")
	require.Equal(t, domain.StatusScheduled, w.get(t, p.ID).Status)

	w.clock.Advance(time.Second)
	require.NoError(t, w.sched.Tick(ctx))
	require.Equal(t, []app.ExpandAudience{{PostingID: p.ID.String(), Page: 1, Priority: p.Priority}}, w.commands.expandCommands())
	require.Equal(t, domain.StatusAccepted, w.get(t, p.ID).Status)

	require.NoError(t, w.sched.Tick(ctx))
	require.Len(t, w.commands.all(), 1, "released once")

	w.walk(t)
	require.Len(t, w.events.batches(), 1)
}

func TestTwoSchedulersTickingTogetherReleaseEachPostingOnce(t *testing.T) {
	t.Parallel()
	eachWorld(t, nil, func(t *testing.T, w *world) {
		at := start.Add(time.Minute)
		for _, key := range []string{"a", "b", "c", "d", "e"} {
			cmd := newMoviesCmd(key)
			cmd.SendAt = &at
			w.mustCreate(t, cmd)
		}
		w.clock.Advance(time.Minute)
		other, err := app.NewScheduler(w.store, w.tx, w.commands, w.clock, discardLogger())
		require.NoError(t, err)

		var wg sync.WaitGroup
		for _, s := range []*app.Scheduler{w.sched, other, w.sched, other} {
			wg.Go(func() { assert.NoError(t, s.Tick(context.Background())) })
		}
		wg.Wait()

		seen := map[string]int{}
		for _, c := range w.commands.expandCommands() {
			seen[c.PostingID]++
		}
		require.Len(t, seen, 5)
		for id, n := range seen {
			require.Equal(t, 1, n, id)
		}
	})
}
