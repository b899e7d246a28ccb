package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSMTPConnsKeyFollowsTheDeliveryWorkers(t *testing.T) {
	t.Parallel()
	for yaml, want := range map[string][]string{
		"delivery:\n  workers:\n    transactional: 2\n    bulk: 10\n":         {"delivery", "workers", "bulk"},
		"delivery:\n  workers:\n    bulk: 20\n  connections:\n    bulk: 10\n": {"delivery", "connections", "bulk"},
		"delivery:\n  workers: 4\n":                                           {"delivery", "workers"},
		"delivery:\n  max_attempts: 4\n":                                      nil,
		"log:\n  level: info\n":                                               nil,
	} {
		key, err := smtpConnsKey([]byte(yaml))
		require.NoError(t, err)
		require.Equal(t, want, key, yaml)
	}
}

func TestOverlaySetsTheSMTPConnectionsInTheNotifiersConfiguration(t *testing.T) {
	t.Parallel()
	defaults, err := defaultConfigYAML()
	require.NoError(t, err)
	key, err := smtpConnsKey(defaults)
	require.NoError(t, err)
	if key == nil {
		t.Skip("this tree's notifier has no setting for its SMTP connections")
	}
	overlay, err := overlayYAML(defaults, key, 7)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "bench.yaml")
	require.NoError(t, os.WriteFile(path, overlay, 0o644))

	settings, err := deliverySettings(map[string]string{"NOTIFIER_CONFIG": path})
	require.NoError(t, err)
	require.Contains(t, settings, keyName(key[1:])+"=7")
	require.True(t, slices.IsSorted(settings))
}

func TestMoreConnectionsThanTheDefaultWorkersRaiseTheWorkers(t *testing.T) {
	t.Parallel()
	defaults := []byte("delivery:\n  workers:\n    bulk: 20\n  connections:\n    bulk: 10\n")
	key := []string{"delivery", "connections", "bulk"}
	small, err := overlayYAML(defaults, key, 5)
	require.NoError(t, err)
	require.Equal(t, "delivery:\n    connections:\n        bulk: 5\n", string(small))
	big, err := overlayYAML(defaults, key, 30)
	require.NoError(t, err)
	require.Equal(t, "delivery:\n    connections:\n        bulk: 30\n    workers:\n        bulk: 30\n", string(big))
}
