package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/modules/posting/internal/domain"
)

var now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func twoChannelPosting(t *testing.T) domain.Posting {
	t.Helper()
	p := domain.New(uuid.New(), domain.Spec{
		IdempotencyKey: "k", Receivers: "http://auth/api/v1/users/", Template: "email/welcome.md",
		Channels: []string{posting.ChannelEmail, posting.ChannelSMS},
	}, now)
	p.FreezeContext(map[string]any{}, now)
	require.Equal(t, domain.StatusDispatching, p.Status)
	return p
}

func TestPostingCompletesWhenEveryRecipientIsFinalOnEveryChannel(t *testing.T) {
	t.Parallel()
	p := twoChannelPosting(t)
	require.NoError(t, p.RecordPage(1, 3, true, now))

	p.AddOutcomes(domain.Counters{Sent: 3, Skipped: 2}, now)
	require.Equal(t, domain.StatusDispatching, p.Status, "5 of 3 users × 2 channels")

	later := now.Add(time.Minute)
	p.AddOutcomes(domain.Counters{Failed: 1}, later)
	require.Equal(t, domain.StatusCompleted, p.Status)
	require.Equal(t, later, *p.CompletedAt)
}

func TestPostingEndsExpiredWhenNothingWasSentAndSomethingExpired(t *testing.T) {
	t.Parallel()
	p := twoChannelPosting(t)
	require.NoError(t, p.RecordPage(1, 1, true, now))
	p.AddOutcomes(domain.Counters{Expired: 1, Cancelled: 1}, now)
	require.Equal(t, domain.StatusExpired, p.Status)
}

func TestPostingIsNotCompleteBeforeItsWalkEnds(t *testing.T) {
	t.Parallel()
	p := twoChannelPosting(t)
	require.NoError(t, p.RecordPage(1, 1, false, now))
	p.AddOutcomes(domain.Counters{Sent: 2}, now)
	require.Equal(t, domain.StatusDispatching, p.Status)

	require.NoError(t, p.RecordPage(2, 0, true, now))
	require.Equal(t, domain.StatusCompleted, p.Status)
}

func TestEachPageIsRecordedOnce(t *testing.T) {
	t.Parallel()
	p := twoChannelPosting(t)
	require.NoError(t, p.RecordPage(1, 500, false, now))
	require.ErrorIs(t, p.RecordPage(1, 500, false, now), domain.ErrStalePage)
	require.ErrorIs(t, p.RecordPage(3, 500, false, now), domain.ErrStalePage)
	require.Equal(t, 500, p.Counters.Recipients)
	require.Equal(t, 2, p.NextPage)
}

func TestFinishedPostingsStayFinished(t *testing.T) {
	t.Parallel()
	p := twoChannelPosting(t)
	require.NoError(t, p.Cancel(now))
	require.ErrorIs(t, p.Cancel(now), domain.ErrNotCancellable)
	p.Fail("boom", now)
	p.Expire(now)
	p.AddOutcomes(domain.Counters{Sent: 100}, now)
	require.NoError(t, p.RecordPage(1, 0, true, now))
	require.Equal(t, domain.StatusCancelled, p.Status)
	require.Empty(t, p.Error)
}

func TestFrozenContextIsNotReplaced(t *testing.T) {
	t.Parallel()
	p := twoChannelPosting(t)
	p.FreezeContext(map[string]any{"movies": "again"}, now)
	require.Equal(t, map[string]any{}, p.ResolvedContext)
}

func TestNewPostingStatusDependsOnItsTimes(t *testing.T) {
	t.Parallel()
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	tests := []struct {
		name              string
		expiresAt, sendAt *time.Time
		want              domain.Status
	}{
		{"now", nil, nil, domain.StatusAccepted},
		{"send_at passed", nil, &past, domain.StatusAccepted},
		{"send_at later", nil, &future, domain.StatusScheduled},
		{"already stale", &past, nil, domain.StatusExpired},
		{"expires exactly now", &now, nil, domain.StatusExpired},
	}
	for _, tc := range tests {
		p := domain.New(uuid.New(), domain.Spec{IdempotencyKey: "k", ExpiresAt: tc.expiresAt, SendAt: tc.sendAt}, now)
		require.Equal(t, tc.want, p.Status, tc.name)
	}
}

func TestWalkWindowCountsDeliveriesOnEveryChannel(t *testing.T) {
	t.Parallel()
	p := twoChannelPosting(t)
	p.FreezeContext(nil, now)
	require.NoError(t, p.RecordPage(1, 100, false, now))
	require.Equal(t, 200, p.Outstanding(), "100 users on two channels")
	require.False(t, p.PauseWalkIfAhead(200, 100), "another page of 100 still fits 200 recipients per channel")

	require.NoError(t, p.RecordPage(2, 100, false, now))
	require.True(t, p.PauseWalkIfAhead(200, 100), "a third page would put 300 recipients ahead")
	require.True(t, p.WalkPaused)

	p.AddOutcomes(domain.Counters{Sent: 199}, now)
	require.False(t, p.ResumeWalk(200, now), "201 deliveries outstanding: above half the window (200)")
	p.AddOutcomes(domain.Counters{Failed: 1}, now)
	require.True(t, p.ResumeWalk(200, now))
	require.False(t, p.WalkPaused)
	require.False(t, p.ResumeWalk(200, now), "a walk resumes once")
}

func TestFinishedOrLastPageWalksNeverPauseOrResume(t *testing.T) {
	t.Parallel()
	p := twoChannelPosting(t)
	p.FreezeContext(nil, now)
	require.NoError(t, p.RecordPage(1, 1000, true, now))
	require.False(t, p.PauseWalkIfAhead(10, 100), "the walk is done")

	q := twoChannelPosting(t)
	q.FreezeContext(nil, now)
	require.NoError(t, q.RecordPage(1, 1000, false, now))
	require.True(t, q.PauseWalkIfAhead(10, 100))
	require.NoError(t, q.Cancel(now))
	q.AddOutcomes(domain.Counters{Cancelled: 2000}, now)
	require.False(t, q.ResumeWalk(10, now), "a cancelled posting never resumes")
}
