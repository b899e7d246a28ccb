package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestNoConfigurationRunsInMemoryOnPort8080(t *testing.T) {
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, ":8080", c.HTTP.Addr)
	require.Equal(t, config.TransportMemory, c.Transport)
	require.Empty(t, c.Upstreams)
	require.Equal(t, 500, c.Directory.PageSize)
	require.Contains(t, c.Preferences.Mandatory, "phone_confirmation")
	require.Len(t, c.Intake.Flows, 4)
}

func TestEnvironmentOverridesFileOverridesDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.yaml")
	require.NoError(t, os.WriteFile(path, []byte("http:\n  addr: \":9000\"\ndirectory:\n  page_size: 100\n"), 0o600))
	c, err := config.Load(env(map[string]string{
		"NOTIFIER_CONFIG":          path,
		"NOTIFIER_HTTP_ADDR":       ":9100",
		"NOTIFIER_UPSTREAMS":       "auth=http://127.0.0.1:8001, fastapi=https://api.example/v2",
		"NOTIFIER_PUBLIC_URL":      "https://notifier.example.com",
		"NOTIFIER_UNSUBSCRIBE_KEY": "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
		"NOTIFIER_API_TOKENS":      "service:abcdefgh12",
	}))
	require.NoError(t, err)
	require.Equal(t, ":9100", c.HTTP.Addr)
	require.Equal(t, 100, c.Directory.PageSize)
	require.Equal(t, map[string]string{"auth": "http://127.0.0.1:8001", "fastapi": "https://api.example/v2"}, c.Upstreams)
	require.Equal(t, "service:abcdefgh12", c.API.Tokens)
}

func TestBadConfigurationFailsClosedNamingTheSetting(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown transport":        {map[string]string{"NOTIFIER_TRANSPORT": "kafka"}, "NOTIFIER_TRANSPORT"},
		"bad upstreams":            {map[string]string{"NOTIFIER_UPSTREAMS": "auth"}, "NOTIFIER_UPSTREAMS"},
		"upstream without http":    {map[string]string{"NOTIFIER_UPSTREAMS": "auth=ftp://x"}, "NOTIFIER_UPSTREAMS"},
		"bad tls":                  {map[string]string{"NOTIFIER_SMTP_TLS": "maybe"}, "NOTIFIER_SMTP_TLS"},
		"database with memory":     {map[string]string{"NOTIFIER_DATABASE_URL": "postgres://x"}, "NOTIFIER_DATABASE_URL"},
		"amqp without broker":      {map[string]string{"NOTIFIER_TRANSPORT": "amqp", "NOTIFIER_DATABASE_URL": "postgres://x", "NOTIFIER_API_TOKENS": "service:abcdefgh12"}, "NOTIFIER_AMQP_URL"},
		"amqp without database":    {map[string]string{"NOTIFIER_TRANSPORT": "amqp", "NOTIFIER_AMQP_URL": "amqp://x", "NOTIFIER_API_TOKENS": "service:abcdefgh12"}, "NOTIFIER_DATABASE_URL"},
		"sql without database":     {map[string]string{"NOTIFIER_TRANSPORT": "sql", "NOTIFIER_API_TOKENS": "service:abcdefgh12"}, "NOTIFIER_DATABASE_URL"},
		"bad auto migrate":         {map[string]string{"NOTIFIER_AUTO_MIGRATE": "perhaps"}, "NOTIFIER_AUTO_MIGRATE"},
		"production, no upstreams": {map[string]string{"NOTIFIER_TRANSPORT": "sql", "NOTIFIER_DATABASE_URL": "postgres://x", "NOTIFIER_API_TOKENS": "service:abcdefgh12"}, "NOTIFIER_UPSTREAMS"},
		"bad page size":            {map[string]string{"NOTIFIER_DIRECTORY_PAGE_SIZE": "lots"}, "NOTIFIER_DIRECTORY_PAGE_SIZE"},
		"missing config file":      {map[string]string{"NOTIFIER_CONFIG": "/nonexistent.yaml"}, "NOTIFIER_CONFIG"},
		"production, dev tokens":   {map[string]string{"NOTIFIER_TRANSPORT": "amqp"}, "NOTIFIER_API_TOKENS"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(env(tc.env))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestUnknownKeyInFileIsRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.yaml")
	require.NoError(t, os.WriteFile(path, []byte("htp:\n  addr: \":9000\"\n"), 0o600))
	_, err := config.Load(env(map[string]string{"NOTIFIER_CONFIG": path}))
	require.ErrorContains(t, err, "htp")
}

func TestProductionConfigurationIsAccepted(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"NOTIFIER_TRANSPORT":       "amqp",
		"NOTIFIER_AMQP_URL":        "amqp://guest:guest@127.0.0.1:5672/",
		"NOTIFIER_DATABASE_URL":    "postgres://postgres@127.0.0.1:5432/test",
		"NOTIFIER_API_TOKENS":      "service:abcdefgh12",
		"NOTIFIER_AUTO_MIGRATE":    "true",
		"NOTIFIER_UPSTREAMS":       "auth=http://127.0.0.1:8001",
		"NOTIFIER_PUBLIC_URL":      "https://notifier.example.com",
		"NOTIFIER_UNSUBSCRIBE_KEY": "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
	}))
	require.NoError(t, err)
	require.True(t, c.Database.AutoMigrate)
	require.Equal(t, 8, c.AMQP.PublishChannels)
	require.Equal(t, 2, c.AMQP.HandlerConcurrency)
}

func TestAnAMQPHandlerConcurrencyBelowOneIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.yaml")
	require.NoError(t, os.WriteFile(path, []byte("amqp:\n  handler_concurrency: 0\n"), 0o600))
	_, err := config.Load(env(map[string]string{
		"NOTIFIER_CONFIG":          path,
		"NOTIFIER_TRANSPORT":       "amqp",
		"NOTIFIER_AMQP_URL":        "amqp://guest:guest@127.0.0.1:5672/",
		"NOTIFIER_DATABASE_URL":    "postgres://postgres@127.0.0.1:5432/test",
		"NOTIFIER_API_TOKENS":      "service:abcdefgh12",
		"NOTIFIER_UPSTREAMS":       "auth=http://127.0.0.1:8001",
		"NOTIFIER_PUBLIC_URL":      "https://notifier.example.com",
		"NOTIFIER_UNSUBSCRIBE_KEY": "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
	}))
	require.ErrorContains(t, err, "amqp.handler_concurrency")
}

func TestTheLocalProductionConfigurationLoads(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"NOTIFIER_CONFIG":          "../../configs/local.yaml",
		"NOTIFIER_API_TOKENS":      "service:abcdefgh12",
		"NOTIFIER_UNSUBSCRIBE_KEY": "a-local-key-of-at-least-thirty-two-bytes",
	}))
	require.NoError(t, err)
	require.Equal(t, "http://localhost:8080", c.PublicBaseURL())
	require.True(t, c.UsesDemoDirectory(), "local.yaml tries things out with the demo directory")
	require.Equal(t, config.TransportAMQP, c.Transport)
	require.True(t, c.Database.AutoMigrate)
	require.Equal(t, "none", c.SMTP.TLS)

	_, err = config.Load(env(map[string]string{"NOTIFIER_CONFIG": "../../configs/local.yaml"}))
	require.ErrorContains(t, err, "NOTIFIER_API_TOKENS", "no token: it fails closed")
	require.ErrorContains(t, err, "NOTIFIER_UNSUBSCRIBE_KEY", "no key: it fails closed")
}

func TestThePublicURLAndTheUnsubscribeKeysAreChecked(t *testing.T) {
	prod := map[string]string{
		"NOTIFIER_TRANSPORT":    "amqp",
		"NOTIFIER_AMQP_URL":     "amqp://guest:guest@127.0.0.1:5672/",
		"NOTIFIER_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
		"NOTIFIER_API_TOKENS":   "service:abcdefgh12",
		"NOTIFIER_UPSTREAMS":    "auth=http://127.0.0.1:8001",
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range prod {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	key := strings.Repeat("k", 32)
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"public URL not http":      {with(map[string]string{"NOTIFIER_PUBLIC_URL": "ftp://x.example", "NOTIFIER_UNSUBSCRIBE_KEY": key}), "NOTIFIER_PUBLIC_URL: want a http://"},
		"public URL with a query":  {with(map[string]string{"NOTIFIER_PUBLIC_URL": "https://x.example/?a=b", "NOTIFIER_UNSUBSCRIBE_KEY": key}), "no query"},
		"public URL without host":  {with(map[string]string{"NOTIFIER_PUBLIC_URL": "https://", "NOTIFIER_UNSUBSCRIBE_KEY": key}), "NOTIFIER_PUBLIC_URL: the URL has no host"},
		"a short key":              {with(map[string]string{"NOTIFIER_PUBLIC_URL": "https://x.example", "NOTIFIER_UNSUBSCRIBE_KEY": key + ",short"}), "key 2 is 5 bytes"},
		"a short key in memory":    {map[string]string{"NOTIFIER_UNSUBSCRIBE_KEY": "short"}, "key 1 is 5 bytes"},
		"no key outside memory":    {with(map[string]string{"NOTIFIER_PUBLIC_URL": "https://x.example"}), "NOTIFIER_UNSUBSCRIBE_KEY"},
		"no public URL, but a key": {with(map[string]string{"NOTIFIER_UNSUBSCRIBE_KEY": key}), "NOTIFIER_PUBLIC_URL"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(env(tc.env))
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "short,", "a key is never shown")
		})
	}

	c, err := config.Load(env(with(map[string]string{"NOTIFIER_PUBLIC_URL": "https://notifier.example.com/", "NOTIFIER_UNSUBSCRIBE_KEY": key + "," + key + "2"})))
	require.NoError(t, err)
	require.Equal(t, "https://notifier.example.com", c.PublicBaseURL(), "without the trailing slash")
	require.Len(t, c.Unsubscribe.Keys, 2)

	c, err = config.Load(env(nil))
	require.NoError(t, err, "memory mode needs neither")
	require.Equal(t, "http://localhost:8080", c.PublicBaseURL())
}

func TestQuietHoursAndTheDefaultTimeZoneAreChecked(t *testing.T) {
	write := func(yaml string) string {
		path := filepath.Join(t.TempDir(), "n.yaml")
		require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
		return path
	}
	cases := map[string]struct{ yaml, want string }{
		"a start alone":        {"preferences:\n  quiet_hours: {start: \"22:00\"}\n", "preferences.quiet_hours"},
		"a malformed end":      {"preferences:\n  quiet_hours: {start: \"22:00\", end: \"8am\"}\n", "HH:MM"},
		"an hour out of range": {"preferences:\n  quiet_hours: {start: \"25:00\", end: \"08:00\"}\n", "preferences.quiet_hours"},
		"an unknown zone":      {"preferences:\n  default_timezone: Mars/Olympus\n", "preferences.default_timezone"},
		"no zone":              {"preferences:\n  default_timezone: \"\"\n", "preferences.default_timezone"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{"NOTIFIER_CONFIG": write(tc.yaml)}))
			require.ErrorContains(t, err, tc.want)
		})
	}
	c, err := config.Load(env(map[string]string{"NOTIFIER_CONFIG": write(
		"preferences:\n  quiet_hours: {start: \"22:00\", end: \"08:00\"}\n  default_timezone: Europe/Moscow\n")}))
	require.NoError(t, err)
	require.Equal(t, "22:00", c.Preferences.QuietHours.Start)
	c, err = config.Load(env(nil))
	require.NoError(t, err)
	require.Empty(t, c.Preferences.QuietHours.Start, "off by default")
	require.Equal(t, "UTC", c.Preferences.DefaultTimezone)
}

func TestDigestsAreChecked(t *testing.T) {
	write := func(yaml string) string {
		path := filepath.Join(t.TempDir(), "n.yaml")
		require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
		return path
	}
	cases := map[string]struct{ yaml, want string }{
		"neither":           {"delivery:\n  digests: {reactions: {}}\n", "delivery.digests.reactions: want window (such as 1h) or at"},
		"both":              {"delivery:\n  digests: {reactions: {window: 1h, at: \"10:00\"}}\n", "delivery.digests.reactions: window and at both set"},
		"a negative window": {"delivery:\n  digests: {reactions: {window: -1h}}\n", "delivery.digests.reactions.window: -1h0m0s is negative"},
		"a malformed at":    {"delivery:\n  digests: {reactions: {at: \"10am\"}}\n", "delivery.digests.reactions.at"},
		"a mandatory type":  {"delivery:\n  digests: {phone_confirmation: {window: 1h}}\n", "phone_confirmation is mandatory"},
		"an unknown channel": {"delivery:\n  digests: {reactions: {window: 1h, channels: [pigeon]}}\n",
			`delivery.digests.reactions.channels: "pigeon" is not a channel`},
		"a template path":     {"delivery:\n  digests: {reactions: {window: 1h, template: email/x.md}}\n", "delivery.digests.reactions.template"},
		"a bad group_by":      {"delivery:\n  digests: {reactions: {window: 1h, group_by: \"a.b\"}}\n", "delivery.digests.reactions.group_by"},
		"too many items":      {"delivery:\n  digests: {reactions: {window: 1h, max_items: 5000}}\n", "delivery.digests.reactions.max_items"},
		"an unknown key":      {"delivery:\n  digests: {reactions: {window: 1h, every: 2h}}\n", "every"},
		"a window not a time": {"delivery:\n  digests: {reactions: {window: soon}}\n", "delivery.digests.reactions.window"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{"NOTIFIER_CONFIG": write(tc.yaml)}))
			require.ErrorContains(t, err, tc.want)
		})
	}
	c, err := config.Load(env(map[string]string{"NOTIFIER_CONFIG": write(
		"delivery:\n  digests:\n    reactions: {window: 1h, group_by: reaction_type}\n    new_episode: {at: \"10:00\", channels: [email], max_items: 20}\n")}))
	require.NoError(t, err)
	require.Equal(t, config.Digest{Window: time.Hour, GroupBy: "reaction_type"}, c.Delivery.Digests["reactions"])
	require.Equal(t, config.Digest{At: "10:00", Channels: []string{"email"}, MaxItems: 20}, c.Delivery.Digests["new_episode"])
}
