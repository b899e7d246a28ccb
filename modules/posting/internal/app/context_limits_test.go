package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/platform/claimcheck"
	"github.com/notifier/notifier/platform/demodirectory"
)

// catalogue answers /api/v1/movies/ with n movies of about 100 bytes each.
func catalogue(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		items := make([]map[string]any, n)
		for i := range items {
			items[i] = map[string]any{"id": fmt.Sprintf("m-%d", i), "title": strings.Repeat("Фильм ", 10)}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
	})
}

// worldWithCatalogue is a world whose fastapi host serves n movies and
// whose walk has the given context limits.
func worldWithCatalogue(t *testing.T, users, movies int, limits app.ContextLimits) *world {
	t.Helper()
	auth, _ := demoUpstreams(demodirectory.GenerateUsers(users))
	w := newWorldWith(t, auth, catalogue(movies))
	w.withLimits(t, limits)
	return w
}

// withLimits rebuilds the walk's handler with limits.
func (w *world) withLimits(t *testing.T, limits app.ContextLimits) {
	t.Helper()
	var err error
	w.expand, err = app.NewExpandAudienceHandler(w.store, w.tx, w.dir, w.client, w.commands, w.events, w.clock,
		500, app.DefaultMaxAhead, w.logger, app.WithContextLimits(limits))
	require.NoError(t, err)
}

func TestAContextOverTheLimitOnceFetchedFailsThePostingSayingSo(t *testing.T) {
	t.Parallel()
	w := worldWithCatalogue(t, 3, 200, app.ContextLimits{MaxResolved: 10_000}) // ~20 KB of movies
	p := w.mustCreate(t, newMoviesCmd("k"))

	w.walk(t) // nothing to retry

	got := w.get(t, p.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.Contains(t, got.Error, "the template context is")
	require.Contains(t, got.Error, "more than the 10000 allowed (posting.max_resolved_context)")
	require.Empty(t, w.events.batches(), "no batch was published")
	w.events.requireFinished(t, got, posting.StatusFailed)
}

func TestTheDefaultLimitIs256KiB(t *testing.T) {
	t.Parallel()
	w := worldWithCatalogue(t, 3, 3000, app.ContextLimits{}) // ~300 KB of movies
	p := w.mustCreate(t, newMoviesCmd("k"))

	w.walk(t)

	got := w.get(t, p.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.Contains(t, got.Error, "more than the 262144 allowed")
}

func TestALargeContextIsStoredOnceAndEveryBatchCarriesItsReference(t *testing.T) {
	t.Parallel()
	var claims *claimcheck.Memory
	w := worldWithCatalogue(t, 1234, 100, app.ContextLimits{InlineMax: 1000}) // ~10 KB > 1000
	claims = claimcheck.NewMemory(w.clock.Now)
	w.withLimits(t, app.ContextLimits{InlineMax: 1000, Claims: claims})
	p := w.mustCreate(t, newMoviesCmd("k"))

	w.walk(t)

	batches := w.events.batches()
	require.Len(t, batches, 3)
	for _, b := range batches {
		require.Nil(t, b.TemplateContext, "batch %d", b.BatchNo)
		require.Equal(t, "posting:"+p.ID.String()+":template_context", b.TemplateContextRef)
	}
	raw, err := claims.Get(context.Background(), batches[0].TemplateContextRef)
	require.NoError(t, err)
	var stored map[string]any
	require.NoError(t, json.Unmarshal(raw, &stored))
	require.Equal(t, w.get(t, p.ID).ResolvedContext, stored, "the claim is the frozen context")
	require.Len(t, stored["movies"], 100)
}

func TestASmallContextTravelsInTheBatchItself(t *testing.T) {
	t.Parallel()
	w := worldWithCatalogue(t, 3, 2, app.ContextLimits{})
	claims := claimcheck.NewMemory(w.clock.Now)
	w.withLimits(t, app.ContextLimits{Claims: claims})
	w.mustCreate(t, newMoviesCmd("k"))

	w.walk(t)

	batches := w.events.batches()
	require.Len(t, batches, 1)
	require.Empty(t, batches[0].TemplateContextRef)
	require.Len(t, batches[0].TemplateContext["movies"], 2)
}

// failingClaims refuses every write.
type failingClaims struct{}

func (failingClaims) Put(context.Context, string, []byte, time.Time) error {
	return fmt.Errorf("database unavailable")
}

func TestAClaimThatCannotBeStoredIsRetriedAndPublishesNothing(t *testing.T) {
	t.Parallel()
	w := worldWithCatalogue(t, 3, 100, app.ContextLimits{InlineMax: 1000, Claims: failingClaims{}})
	p := w.mustCreate(t, newMoviesCmd("k"))
	cmds := w.commands.take()
	require.Len(t, cmds, 1)

	err := w.expand.Handle(context.Background(), cmds[0].(app.ExpandAudience))

	require.ErrorContains(t, err, "store template context")
	require.Empty(t, w.events.all())
	require.NotEqual(t, domain.StatusFailed, w.get(t, p.ID).Status, "a retry may succeed")
}
