package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting/internal/domain"
)

func testCountByStatus(t *testing.T, s domain.Store) {
	ctx := context.Background()
	counts, err := s.CountByStatus(ctx)
	require.NoError(t, err)
	require.Empty(t, counts, "an empty store counts nothing")

	statuses := map[domain.Status]int{
		domain.StatusAccepted:  3,
		domain.StatusScheduled: 1,
		domain.StatusCompleted: 2,
		domain.StatusCancelled: 1,
	}
	for status, n := range statuses {
		for i := range n {
			p := newPosting(fmt.Sprintf("%s-%d", status, i), base.Add(time.Duration(i)*time.Second))
			p.Status = status
			create(t, s, p)
		}
	}
	counts, err = s.CountByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, statuses, counts, "statuses no posting is in are left out")

	// A posting that moves on is counted in its new status only.
	moving := create(t, s, newPosting("moving", base))
	_, err = s.Update(ctx, moving.ID, func(p *domain.Posting) error { return p.Cancel(base.Add(time.Minute)) })
	require.NoError(t, err)
	counts, err = s.CountByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, counts[domain.StatusAccepted])
	require.Equal(t, 2, counts[domain.StatusCancelled])

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.CountByStatus(cancelled)
	require.Error(t, err, "an ended context is an error")
}
