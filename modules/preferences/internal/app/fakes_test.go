package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery"
	"github.com/notifier/notifier/modules/preferences/internal/adapters/memory"
	"github.com/notifier/notifier/modules/preferences/internal/domain"
)

// recordingBus records every command sent; it fails when err is set.
type recordingBus struct {
	mu   sync.Mutex
	sent []any
	err  error
}

func (b *recordingBus) Send(_ context.Context, cmd any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	b.sent = append(b.sent, cmd)
	return nil
}

// only returns the one DeliverBatch sent, failing the test otherwise.
func (b *recordingBus) only(t *testing.T) delivery.DeliverBatch {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Len(t, b.sent, 1, "exactly one command per batch")
	cmd, ok := b.sent[0].(delivery.DeliverBatch)
	require.True(t, ok, "sent %T, want delivery.DeliverBatch", b.sent[0])
	return cmd
}

// countingStore wraps the memory store and counts the calls to GetMany;
// it fails them when err is set.
type countingStore struct {
	*memory.Store
	mu          sync.Mutex
	getManyArgs [][]string
	err         error
}

func newCountingStore() *countingStore { return &countingStore{Store: memory.NewStore()} }

func (s *countingStore) GetMany(ctx context.Context, ids []string) (map[string]domain.UserPreferences, error) {
	s.mu.Lock()
	s.getManyArgs = append(s.getManyArgs, append([]string(nil), ids...))
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.Store.GetMany(ctx, ids)
}

func (s *countingStore) calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getManyArgs
}

var errBroken = errors.New("connection reset")

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// configuredDefaults mirrors the preferences section of configs/default.yaml.
func configuredDefaults() domain.Defaults {
	return domain.Defaults{
		Channels:           map[string]bool{"email": true, "sms": true},
		Types:              map[string]bool{"welcome": true, "new_movies": true, "new_episode": true, "reactions": true},
		DefaultTypeEnabled: true,
		Mandatory:          []string{"email_confirmation", "phone_confirmation"},
	}
}

func newPolicy(t *testing.T, d domain.Defaults) *domain.Policy {
	t.Helper()
	p, err := domain.NewPolicy(d)
	require.NoError(t, err)
	return p
}
