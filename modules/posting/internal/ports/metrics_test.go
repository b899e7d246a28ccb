package ports_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/app"
	"github.com/notifier/notifier/modules/posting/internal/domain"
	"github.com/notifier/notifier/modules/posting/internal/ports"
	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/metrics"
)

func postingsGauge(t *testing.T, store domain.Store, fake *clock.Fake) *prometheus.Registry {
	t.Helper()
	count, err := app.NewCountPostingsHandler(store)
	require.NoError(t, err)
	g, err := ports.NewPostingsGauge(count, metrics.CachedGaugeOptions{TTL: 10 * time.Second, Clock: fake})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(g))
	return reg
}

func storePosting(t *testing.T, s domain.Store, key string, status domain.Status) {
	t.Helper()
	p := domain.New(uuid.New(), domain.Spec{
		IdempotencyKey: key, NotificationType: posting.TypeNewMovies, Receivers: "http://auth/api/v1/users/",
		Template: "email/new_movies.md", Channels: []string{posting.ChannelEmail}, Priority: posting.PriorityBulk,
	}, start)
	p.Status = status
	_, created, err := s.Create(context.Background(), p, start.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, created)
}

func TestPostingsGaugeShowsEveryStatusCountedInTheStore(t *testing.T) {
	t.Parallel()
	store := memory.New()
	fake := clock.NewFake(start)
	reg := postingsGauge(t, store, fake)
	storePosting(t, store, "a", domain.StatusDispatching)
	storePosting(t, store, "b", domain.StatusDispatching)
	storePosting(t, store, "c", domain.StatusCompleted)

	v, err := metrics.Gather(reg)
	require.NoError(t, err)
	require.Equal(t, metrics.Values{
		`notifier_postings{status="accepted"}`:    0,
		`notifier_postings{status="scheduled"}`:   0,
		`notifier_postings{status="dispatching"}`: 2,
		`notifier_postings{status="completed"}`:   1,
		`notifier_postings{status="cancelled"}`:   0,
		`notifier_postings{status="expired"}`:     0,
		`notifier_postings{status="failed"}`:      0,
	}, v)

	storePosting(t, store, "d", domain.StatusCompleted)
	fake.Advance(10 * time.Second)
	v, err = metrics.Gather(reg)
	require.NoError(t, err)
	require.Equal(t, 2.0, v[`notifier_postings{status="completed"}`], "counted again after the TTL")
}

// failingCounts is a store whose counting fails.
type failingCounts struct{ domain.Store }

func (failingCounts) CountByStatus(context.Context) (map[domain.Status]int, error) {
	return nil, errors.New("database unreachable")
}

func TestPostingsGaugeIsLeftOutWhenTheStoreCannotCount(t *testing.T) {
	t.Parallel()
	reg := postingsGauge(t, failingCounts{memory.New()}, clock.NewFake(start))
	v, err := metrics.Gather(reg)
	require.NoError(t, err, "the scrape goes on")
	require.Empty(t, v)

	_, err = ports.NewPostingsGauge(nil, metrics.CachedGaugeOptions{})
	require.Error(t, err)
	_, err = app.NewCountPostingsHandler(nil)
	require.Error(t, err)
}
