package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/webhooks/internal/domain"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func policy() domain.RetryPolicy {
	return domain.RetryPolicy{Backoff: 5 * time.Second, MaxBackoff: time.Hour, MaxAge: 24 * time.Hour, Jitter: func() float64 { return 1 }}
}

func TestTheBackoffDoublesUpToItsCapWithJitter(t *testing.T) {
	t.Parallel()
	p := policy()
	var got []time.Duration
	for n := 1; n <= 12; n++ {
		got = append(got, p.Delay(n))
	}
	require.Equal(t, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 640 * time.Second, 1280 * time.Second, 2560 * time.Second, time.Hour, time.Hour}, got)

	p.Jitter = nil
	for range 100 {
		d := p.Delay(1)
		require.GreaterOrEqual(t, d, 4*time.Second)
		require.Less(t, d, 6*time.Second)
	}
}

func message(attempts int) domain.Message {
	return domain.Message{ID: uuid.New(), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), Attempts: attempts}
}

func TestTheVerdictOfATry(t *testing.T) {
	t.Parallel()
	p := policy()
	e := domain.Endpoint{}

	for _, s := range []int{200, 201, 202, 204, 299} {
		require.Equal(t, domain.Delivered, p.Judge(message(1), e, s, nil, now).Verdict, s)
	}
	gone := p.Judge(message(1), e, 410, nil, now)
	require.Equal(t, domain.Gone, gone.Verdict)
	require.NotEmpty(t, gone.DisableReason)
	for _, s := range []int{301, 400, 404, 429, 500, 503} {
		o := p.Judge(message(2), e, s, nil, now)
		require.Equal(t, domain.Retry, o.Verdict, s)
		require.Equal(t, now.Add(10*time.Second), o.NextAttemptAt)
	}
	o := p.Judge(message(1), e, 0, errors.New("timed out"), now)
	require.Equal(t, domain.Retry, o.Verdict, "no answer: tried again")

	late := now.Add(24*time.Hour - time.Minute)
	o = p.Judge(message(30), e, 503, nil, late)
	require.Equal(t, domain.Retry, o.Verdict)
	require.Equal(t, now.Add(24*time.Hour), o.NextAttemptAt, "one last try at the end, not after it")

	o = p.Judge(message(31), e, 503, nil, now.Add(24*time.Hour))
	require.Equal(t, domain.GiveUp, o.Verdict)
	require.Contains(t, o.DisableReason, "no call succeeded for 24h0m0s (31 tries")
	require.Contains(t, o.DisableReason, "last: HTTP 503")

	took := now.Add(time.Hour)
	o = p.Judge(message(31), domain.Endpoint{LastSuccessAt: &took}, 0, errors.New("timed out"), now.Add(24*time.Hour))
	require.Equal(t, domain.GiveUp, o.Verdict)
	require.Empty(t, o.DisableReason, "it took a message since: alive")
}

func TestARotationSignsWithBothSecretsForItsGrace(t *testing.T) {
	t.Parallel()
	e := domain.Endpoint{Secret: "whsec_old"}
	e.Rotate("whsec_new", time.Hour, now)
	require.Equal(t, []string{"whsec_new", "whsec_old"}, e.SigningSecrets(now.Add(59*time.Minute)))
	require.Equal(t, []string{"whsec_new"}, e.SigningSecrets(now.Add(time.Hour)))

	e.Rotate("whsec_newer", time.Hour, now)
	require.Equal(t, []string{"whsec_newer", "whsec_new"}, e.SigningSecrets(now), "the oldest stops at once")
	e.Rotate("whsec_newest", 0, now)
	require.Equal(t, []string{"whsec_newest"}, e.SigningSecrets(now), "no grace")
}

func TestASecretIsWhsecAndThirtyTwoRandomBytes(t *testing.T) {
	t.Parallel()
	a, err := domain.NewSecret()
	require.NoError(t, err)
	b, err := domain.NewSecret()
	require.NoError(t, err)
	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, a)
	require.NotEqual(t, a, b)
}
