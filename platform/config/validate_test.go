package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/config"
)

// problems loads with env and returns the problems, failing if there are none.
func problems(t *testing.T, vars map[string]string, checks ...config.Check) []string {
	t.Helper()
	_, err := config.Load(env(vars), checks...)
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, strings.Join(cerr.Problems, "\n"), err.Error(), "one line per problem")
	return cerr.Problems
}

// writeFile writes a NOTIFIER_CONFIG file and returns its path.
func writeFile(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notifier.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

func TestEveryTokenEntryProblemIsNamedByPositionAndRole(t *testing.T) {
	got := problems(t, map[string]string{
		"NOTIFIER_API_TOKENS": "service:short,root:secret-token-1,admin:,secret-token-2,manager:secret-token-3,admin:secret-token-3",
	})
	assert.Equal(t, []string{
		"NOTIFIER_API_TOKENS: entry 1 (role service): token shorter than 8 characters",
		"NOTIFIER_API_TOKENS: entry 2: unknown role (want service, manager or admin)",
		"NOTIFIER_API_TOKENS: entry 3 (role admin): empty token",
		"NOTIFIER_API_TOKENS: entry 4: malformed, want role:token",
		"NOTIFIER_API_TOKENS: entry 6 (role admin): duplicate token, already in entry 5",
	}, got)
	assert.NotContains(t, strings.Join(got, "\n"), "secret-token")
}

func TestTokensFromTheFileAreNamedByTheirKey(t *testing.T) {
	path := writeFile(t, "api:\n  tokens: \"service:short\"\n")
	assert.Equal(t, []string{"api.tokens: entry 1 (role service): token shorter than 8 characters"},
		problems(t, map[string]string{"NOTIFIER_CONFIG": path}))

	empty := writeFile(t, "api:\n  tokens: \",\"\n")
	assert.Equal(t, []string{"api.tokens: at least one token is required (role:token,…) (or set NOTIFIER_API_TOKENS)"},
		problems(t, map[string]string{"NOTIFIER_CONFIG": empty}))
}

func TestFileProblemsNameTheKeyAndLine(t *testing.T) {
	path := writeFile(t, `http:
  read_timeout: soon
  raed_timeout: 1s
  max_body_bytes: lots
amqp:
  exchanges: notifier.events
delivery:
  workers:
    bulk: many
log: json
`)
	got := problems(t, map[string]string{"NOTIFIER_CONFIG": path})
	assert.Equal(t, []string{
		`http.read_timeout: "soon" is not a duration, such as 30s, 2m or 168h (` + path + `, line 2)`,
		`http.raed_timeout: unknown key (` + path + `, line 3)`,
		`http.max_body_bytes: "lots" is not a whole number (` + path + `, line 4)`,
		`amqp.exchanges: want a list, such as [a, b], not "notifier.events" (` + path + `, line 6)`,
		`delivery.workers.bulk: "many" is not a whole number (` + path + `, line 9)`,
		`log: want a mapping of keys, not "json" (` + path + `, line 10)`,
	}, got)
	for _, line := range got {
		assert.NotContains(t, line, "time.Duration", "no Go type names")
		assert.NotContains(t, line, "config.", "no Go type names")
	}
}

func TestAFileThatIsNotYAMLOrMissingIsNamed(t *testing.T) {
	assert.Equal(t, []string{"NOTIFIER_CONFIG: /nonexistent.yaml does not exist"},
		problems(t, map[string]string{"NOTIFIER_CONFIG": "/nonexistent.yaml"}))
	path := writeFile(t, "http:\n  addr: [\n")
	got := problems(t, map[string]string{"NOTIFIER_CONFIG": path})
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "NOTIFIER_CONFIG: "+path+" is not valid YAML: line")
}

func TestEnvironmentValuesThatDoNotParseAreNamedOnce(t *testing.T) {
	got := problems(t, map[string]string{
		"NOTIFIER_TRANSPORT":           "sql",
		"NOTIFIER_DATABASE_URL":        "postgres://postgres@127.0.0.1:5432/test",
		"NOTIFIER_API_TOKENS":          "service:abcdefgh12",
		"NOTIFIER_UPSTREAMS":           "auth",
		"NOTIFIER_PUBLIC_URL":          "https://notifier.example.com",
		"NOTIFIER_UNSUBSCRIBE_KEY":     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
		"NOTIFIER_AUTO_MIGRATE":        "perhaps",
		"NOTIFIER_DEMO_DIRECTORY":      "sometimes",
		"NOTIFIER_DIRECTORY_PAGE_SIZE": "lots",
	})
	assert.Equal(t, []string{
		`NOTIFIER_AUTO_MIGRATE: "perhaps" is not true or false`,
		`NOTIFIER_DEMO_DIRECTORY: "sometimes" is not true or false`,
		`NOTIFIER_DIRECTORY_PAGE_SIZE: "lots" is not a whole number`,
		`NOTIFIER_UPSTREAMS: entry "auth": want name=base_url`,
	}, got, "the upstreams that did not parse are not also reported missing")
}

func TestSeveralProblemsAreAllReported(t *testing.T) {
	got := problems(t, map[string]string{
		"NOTIFIER_TRANSPORT":     "kafka",
		"NOTIFIER_LOG_LEVEL":     "loud",
		"NOTIFIER_LOG_FORMAT":    "xml",
		"NOTIFIER_TEMPLATES_DIR": "/nonexistent-templates",
		"NOTIFIER_PPROF_ADDR":    "6060",
		"NOTIFIER_HTTP_ADDR":     "localhost:http-alt-nope",
		"NOTIFIER_SMTP_ADDR":     "mail.example",
		"NOTIFIER_SMTP_TLS":      "maybe",
		"NOTIFIER_SMS_URL":       "gateway.example/send",
	})
	assert.Equal(t, []string{
		`NOTIFIER_HTTP_ADDR: "localhost:http-alt-nope": unknown port "http-alt-nope"`,
		`NOTIFIER_TRANSPORT: unknown transport "kafka" (memory, amqp, sql)`,
		`NOTIFIER_SMTP_TLS: "maybe" is not none, starttls or tls`,
		`NOTIFIER_SMTP_ADDR: "mail.example": missing port in address, want host:port such as 127.0.0.1:8080 or :8080`,
		`NOTIFIER_SMS_URL: want a http:// or https:// URL`,
		`NOTIFIER_TEMPLATES_DIR: /nonexistent-templates does not exist`,
		`NOTIFIER_LOG_LEVEL: "loud" is not debug, info, warn or error`,
		`NOTIFIER_LOG_FORMAT: "xml" is not text or json`,
		`NOTIFIER_PPROF_ADDR: "6060": missing port in address, want host:port such as 127.0.0.1:8080 or :8080`,
	}, got)
}

func TestTemplatesDirMustBeADirectory(t *testing.T) {
	file := writeFile(t, "")
	assert.Equal(t, []string{"NOTIFIER_TEMPLATES_DIR: " + file + " is not a directory"},
		problems(t, map[string]string{"NOTIFIER_TEMPLATES_DIR": file}))
}

func TestURLsWithPasswordsAreJudgedWithoutBeingRepeated(t *testing.T) {
	got := problems(t, map[string]string{
		"NOTIFIER_TRANSPORT":       "amqp",
		"NOTIFIER_AMQP_URL":        "amqp://guest:s3cret@127.0.0.1:bad/",
		"NOTIFIER_DATABASE_URL":    "postgres://postgres:s3cret@127.0.0.1:5432/test?pool_max_conns=many",
		"NOTIFIER_API_TOKENS":      "service:abcdefgh12",
		"NOTIFIER_UPSTREAMS":       "auth=http://127.0.0.1:8001",
		"NOTIFIER_PUBLIC_URL":      "https://notifier.example.com",
		"NOTIFIER_UNSUBSCRIBE_KEY": "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
	})
	assert.Equal(t, []string{
		`NOTIFIER_AMQP_URL: not a valid URL: invalid port ":bad" after host`,
		`NOTIFIER_DATABASE_URL: not a PostgreSQL URL or key=value string: cannot parse pool_max_conns (parsing "many": invalid syntax)`,
	}, got)

	got = problems(t, map[string]string{
		"NOTIFIER_TRANSPORT":       "amqp",
		"NOTIFIER_AMQP_URL":        "http://guest:s3cret@127.0.0.1/",
		"NOTIFIER_DATABASE_URL":    "postgres://postgres@127.0.0.1:5432/test",
		"NOTIFIER_API_TOKENS":      "service:abcdefgh12",
		"NOTIFIER_UPSTREAMS":       "auth=http://127.0.0.1:8001",
		"NOTIFIER_PUBLIC_URL":      "https://notifier.example.com",
		"NOTIFIER_UNSUBSCRIBE_KEY": "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
	})
	assert.Equal(t, []string{"NOTIFIER_AMQP_URL: want a amqp:// or amqps:// URL"}, got)
}

func TestUpstreamsOfTheFileAreJudgedEntryByEntry(t *testing.T) {
	path := writeFile(t, "upstreams:\n  auth: ftp://auth.example\n  fastapi: \"http://user:pw@api.example\"\n  activity_api: http://activity.example\n")
	assert.Equal(t, []string{
		`upstreams.auth: base url "ftp://auth.example": want an absolute http or https url`,
		`upstreams.fastapi: base url: credentials are not supported`,
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": path}))
}

func TestDurationsAndSizesMustBeInRange(t *testing.T) {
	path := writeFile(t, `http:
  max_body_bytes: 0
  read_timeout: 0s
  write_timeout: -1s
  idle_timeout: 0s
amqp:
  poison_ttl: 0s
directory:
  timeout: 0s
  attempts: 0
sms:
  timeout: 0s
delivery:
  backoff: 2s
  max_backoff: 1s
messaging:
  max_retries: -1
  retry_interval: -1s
  dedup_retention: 0s
intake:
  max_body: 0
posting:
  idempotency_retention: 0s
  max_resolved_context: 0
  inline_context_max: 0
`)
	assert.Equal(t, []string{
		"http.max_body_bytes: 0, at least 1 byte needed",
		"http.read_timeout: 0s, want a duration above zero",
		"http.write_timeout: -1s, want a duration above zero",
		"http.idle_timeout: 0s, want a duration above zero",
		"amqp.poison_ttl: 0s, want at least 1ms (RabbitMQ counts message TTLs in milliseconds)",
		"directory.timeout: 0s, want a duration above zero",
		"directory.attempts: 0, at least 1 needed",
		"sms.timeout: 0s, want a duration above zero",
		"delivery.max_backoff: 1s is below delivery.backoff (2s)",
		"messaging.max_retries: -1 is negative",
		"messaging.retry_interval: -1s is negative",
		"messaging.dedup_retention: 0s, want a duration above zero",
		"intake.max_body: 0, at least 1 byte needed",
		"posting.idempotency_retention: 0s, want a duration above zero",
		"posting.max_resolved_context: 0, at least 1 byte needed",
		"posting.inline_context_max: 0, at least 1 byte needed",
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": path}))

	caps := writeFile(t, "posting:\n  max_resolved_context: 1000\n  inline_context_max: 2000\n")
	assert.Equal(t, []string{"posting.max_resolved_context: 1000 is below posting.inline_context_max (2000)"},
		problems(t, map[string]string{"NOTIFIER_CONFIG": caps}))
}

func TestTheAMQPSettingsAreJudgedWithTheAMQPTransport(t *testing.T) {
	path := writeFile(t, "amqp:\n  publish_channels: 0\n  prefetch: 0\n  outbox_poll_interval: 0s\n")
	assert.Equal(t, []string{
		"amqp.publish_channels: 0, at least 1 needed",
		"amqp.prefetch: 0, at least 1 needed",
		"amqp.outbox_poll_interval: 0s, want a duration above zero",
	}, problems(t, map[string]string{
		"NOTIFIER_CONFIG":          path,
		"NOTIFIER_TRANSPORT":       "amqp",
		"NOTIFIER_AMQP_URL":        "amqp://guest:guest@127.0.0.1:5672/",
		"NOTIFIER_DATABASE_URL":    "postgres://postgres@127.0.0.1:5432/test",
		"NOTIFIER_API_TOKENS":      "service:abcdefgh12",
		"NOTIFIER_UPSTREAMS":       "auth=http://127.0.0.1:8001",
		"NOTIFIER_PUBLIC_URL":      "https://notifier.example.com",
		"NOTIFIER_UNSUBSCRIBE_KEY": "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
	}))
}

func TestMissingSettingsNameTheVariableAndTheKey(t *testing.T) {
	assert.Equal(t, []string{
		"NOTIFIER_AMQP_URL (amqp.url): required with transport amqp",
		"NOTIFIER_DATABASE_URL (database.url): required with transport amqp",
		"NOTIFIER_UPSTREAMS (upstreams): required outside the memory transport (or NOTIFIER_DEMO_DIRECTORY=true to try the demo directory)",
		"NOTIFIER_API_TOKENS (api.tokens): the development tokens are refused outside the memory transport",
		"NOTIFIER_PUBLIC_URL (http.public_url): required outside the memory transport: the base URL of the links in emails",
		"NOTIFIER_UNSUBSCRIBE_KEY (unsubscribe.keys): required outside the memory transport: the key that signs unsubscribe links, 32 bytes or more (a comma-separated list rotates keys)",
	}, problems(t, map[string]string{"NOTIFIER_TRANSPORT": "amqp"}))
}

func TestChecksAddTheirProblemsToConfigs(t *testing.T) {
	check := func(c config.Config) error {
		return errors.Join(errors.New(c.Setting("delivery.workers.bulk")+": 0, at least 1 needed"),
			errors.New("preferences.channels: unknown channel \"fax\"\npreferences.types: malformed notification type \"a b\""))
	}
	assert.Equal(t, []string{
		`NOTIFIER_TRANSPORT: unknown transport "kafka" (memory, amqp, sql)`,
		`delivery.workers.bulk: 0, at least 1 needed`,
		`preferences.channels: unknown channel "fax"`,
		`preferences.types: malformed notification type "a b"`,
	}, problems(t, map[string]string{"NOTIFIER_TRANSPORT": "kafka"}, check))

	_, err := config.Load(env(nil), func(config.Config) error { return nil })
	require.NoError(t, err)
}

func TestMigrateNeedsOnlyAWellFormedDatabaseURL(t *testing.T) {
	_, err := config.LoadUnvalidated(env(map[string]string{"NOTIFIER_TRANSPORT": "kafka"}), config.Config.ValidateForMigrate)
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, []string{"NOTIFIER_DATABASE_URL (database.url): required by migrate"}, cerr.Problems,
		"the rest of the configuration is not judged")

	_, err = config.LoadUnvalidated(env(map[string]string{"NOTIFIER_DATABASE_URL": "mysql://x/y", "NOTIFIER_LOG_LEVEL": "loud"}),
		config.Config.ValidateForMigrate)
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, []string{
		"NOTIFIER_DATABASE_URL: not a PostgreSQL URL or key=value string: failed to parse as keyword/value (invalid keyword/value)",
		`NOTIFIER_LOG_LEVEL: "loud" is not debug, info, warn or error`,
	}, cerr.Problems)

	c, err := config.LoadUnvalidated(env(map[string]string{"NOTIFIER_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test"}),
		config.Config.ValidateForMigrate)
	require.NoError(t, err)
	assert.Equal(t, "postgres://postgres@127.0.0.1:5432/test", c.Database.URL)
}

func TestSettingNamesWhereTheValueCameFrom(t *testing.T) {
	path := writeFile(t, "http:\n  addr: \":9000\"\n")
	c, err := config.LoadUnvalidated(env(map[string]string{"NOTIFIER_CONFIG": path, "NOTIFIER_LOG_LEVEL": "debug"}))
	require.NoError(t, err)
	assert.Equal(t, "NOTIFIER_LOG_LEVEL", c.Setting("log.level"), "set by the environment")
	assert.Equal(t, "http.addr", c.Setting("http.addr"), "set by the file")
	assert.Equal(t, "NOTIFIER_SMTP_TLS (smtp.tls)", c.Setting("smtp.tls"), "a default a variable can set")
	assert.Equal(t, "delivery.backoff", c.Setting("delivery.backoff"), "a default only the file can set")
}

func TestAnEmptyFileChangesNothing(t *testing.T) {
	for _, text := range []string{"", "# nothing yet\n"} {
		c, err := config.Load(env(map[string]string{"NOTIFIER_CONFIG": writeFile(t, text)}))
		require.NoError(t, err)
		assert.Equal(t, ":8080", c.HTTP.Addr)
	}
	path := writeFile(t, "http\n")
	assert.Equal(t, []string{`NOTIFIER_CONFIG: want a mapping of keys, not "http" (` + path + `, line 1)`},
		problems(t, map[string]string{"NOTIFIER_CONFIG": path}))
}
