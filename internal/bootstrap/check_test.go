package bootstrap_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/notifier/notifier/internal/bootstrap"
	"github.com/notifier/notifier/platform/config"
	"github.com/notifier/notifier/templates"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
}

// problems returns the problems LoadConfig finds, failing if there are none.
func problems(t *testing.T, vars map[string]string) []string {
	t.Helper()
	_, err := bootstrap.LoadConfig(env(vars))
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	return cerr.Problems
}

func TestTheDefaultConfigurationPassesEveryCheck(t *testing.T) {
	_, err := bootstrap.LoadConfig(env(nil))
	require.NoError(t, err)
}

func TestTheModulesSettingsAreJudgedWithConfigsOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifier.yaml")
	writeFile(t, path, `delivery:
  workers:
    bulk: 0
preferences:
  channels: {fax: true}
intake:
  flows:
    new_episode:
      notification_type: new_episode
      template: email/new_episode.md
      channels: [email]
      priority: bulk
      receivers: "http://auth/api/v1/users/?subscribed_series={series}"
    user_signup:
      notification_type: welcome
      template: email/welcome.md
      channels: [email]
      receivers: "{user}"
`)
	assert.Equal(t, []string{
		`NOTIFIER_TRANSPORT: unknown transport "kafka" (memory, amqp, sql)`,
		`delivery.workers.bulk: 0, at least 1 needed`,
		`preferences.channels: unknown channel "fax" (supported: email, sms, inapp, webhook)`,
		`intake.flows.new_episode.receivers: unknown placeholder {series} (allowed: {series_id})`,
		`intake.flows.new_episode.receivers: must contain {series_id}`,
		`intake.flows.user_signup: no such event (user_signed_up, new_movies, new_episode, reactions_summary)`,
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": path, "NOTIFIER_TRANSPORT": "kafka"}))
}

// copyTemplates copies the built-in templates to a folder and returns it.
func copyTemplates(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, fs.WalkDir(templates.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(name) == ".go" {
			return err
		}
		raw, err := fs.ReadFile(templates.FS, name)
		if err != nil {
			return err
		}
		writeFile(t, filepath.Join(dir, name), string(raw))
		return nil
	}))
	return dir
}

func TestBrokenTemplatesAndFlowsWithoutTheirTemplateAreNamed(t *testing.T) {
	dir := copyTemplates(t)
	_, err := bootstrap.LoadConfig(env(map[string]string{"NOTIFIER_TEMPLATES_DIR": dir}))
	require.NoError(t, err, "a copy of the built-in templates is fine")

	writeFile(t, filepath.Join(dir, "email", "broken.md"), "---\nsubject: Hi\n---\n{% if %}\n")
	require.NoError(t, os.Remove(filepath.Join(dir, "email", "welcome.ru.md")))
	require.NoError(t, os.Remove(filepath.Join(dir, "email", "welcome.en.md")))
	got := problems(t, map[string]string{"NOTIFIER_TEMPLATES_DIR": dir})
	require.Len(t, got, 2, got)
	assert.Regexp(t, `^NOTIFIER_TEMPLATES_DIR: email/broken\.md:4: `, got[0])
	assert.Equal(t, `intake.flows.user_signed_up.template: no template "email/welcome.md"`, got[1])

	require.NoError(t, os.Remove(filepath.Join(dir, "layouts", "email.ru.html")))
	got = problems(t, map[string]string{"NOTIFIER_TEMPLATES_DIR": dir})
	require.Len(t, got, 1, got)
	assert.Contains(t, got[0], "NOTIFIER_TEMPLATES_DIR: read layout: ")
}

func TestABrokenLocaleFileStopsTheStartNamingItsFileAndLine(t *testing.T) {
	dir := copyTemplates(t)
	writeFile(t, filepath.Join(dir, "email", "new_movies.en.md"), "---\nsubject: New movies\n---\nHi!\n\n{% for m in movies %}\n")
	writeFile(t, filepath.Join(dir, "sms", "phone_confirmation.de.md"), "Ihr Code: {{ secret_code|nosuchfilter }}")
	writeFile(t, filepath.Join(dir, "email", "welcome.en_GB.md"), "---\nsubject: Welcome\n---\nWelcome!")

	got := problems(t, map[string]string{"NOTIFIER_TEMPLATES_DIR": dir})

	require.Len(t, got, 3, got)
	assert.Regexp(t, `^NOTIFIER_TEMPLATES_DIR: email/new_movies\.en\.md:6: `, got[0])
	assert.Regexp(t, `^NOTIFIER_TEMPLATES_DIR: email/welcome\.en_GB\.md: .*rename it email/welcome\.en-GB\.md`, got[1])
	assert.Regexp(t, `^NOTIFIER_TEMPLATES_DIR: sms/phone_confirmation\.de\.md:1: .*nosuchfilter`, got[2])
}

func TestATemplateWithoutAFileForTheDefaultLocaleStopsTheStart(t *testing.T) {
	dir := copyTemplates(t)
	require.NoError(t, os.Remove(filepath.Join(dir, "email", "reactions_summary.ru.md")))

	got := problems(t, map[string]string{"NOTIFIER_TEMPLATES_DIR": dir})

	assert.Equal(t, []string{
		`NOTIFIER_TEMPLATES_DIR: template not found: "email/reactions_summary.md" has no file for the default locale ru ` +
			`(email/reactions_summary.ru.md) and no email/reactions_summary.md (it has en)`,
		`intake.flows.reactions_summary.template: no template "email/reactions_summary.md"`,
	}, got)

	_, err := bootstrap.LoadConfig(env(map[string]string{"NOTIFIER_TEMPLATES_DIR": dir, "NOTIFIER_TEMPLATES_DEFAULT_LOCALE": "en"}))
	require.NoError(t, err, "with English as the default, every template has its file")
}

func TestTheDefaultLocaleIsJudged(t *testing.T) {
	for value, want := range map[string]string{
		"ru_RU.UTF-8": "",
		"en-GB":       "",
		"EN":          "",
		"Russian":     `NOTIFIER_TEMPLATES_DEFAULT_LOCALE: "Russian" is not a BCP 47 language tag such as ru or en-GB`,
		"und":         `NOTIFIER_TEMPLATES_DEFAULT_LOCALE: "und" names no language`,
		"de":          `NOTIFIER_TEMPLATES_DIR: read layout: no layouts/email.html nor layouts/email.de.html: file does not exist`,
	} {
		vars := map[string]string{"NOTIFIER_TEMPLATES_DEFAULT_LOCALE": value}
		if value == "de" {
			vars["NOTIFIER_TEMPLATES_DIR"] = copyTemplates(t) // named by its variable
		}
		_, err := bootstrap.LoadConfig(env(vars))
		if want == "" {
			require.NoError(t, err, value)
			continue
		}
		assert.Equal(t, []string{want}, problems(t, vars), value)
	}

	path := filepath.Join(t.TempDir(), "notifier.yaml")
	writeFile(t, path, "templates:\n  default_locale: \"\"\n")
	assert.Equal(t, []string{"templates.default_locale: empty, want a BCP 47 language tag such as ru or en (or set NOTIFIER_TEMPLATES_DEFAULT_LOCALE)"},
		problems(t, map[string]string{"NOTIFIER_CONFIG": path}))
}

func TestAFlowNamingALocaleFileIsRefusedWithTheTemplatesName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifier.yaml")
	writeFile(t, path, `intake:
  flows:
    user_signed_up:
      notification_type: welcome
      template: email/welcome.en.md
      channels: [email]
      priority: transactional
      receivers: "{user}"
`)
	assert.Equal(t, []string{
		`intake.flows.user_signed_up.template: "email/welcome.en.md" is the en file of "email/welcome.md": name "email/welcome.md", each recipient's locale picks its file`,
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": path}))
}

type piece struct{}

func quietApp(opts ...fx.Option) *fx.App {
	return fx.New(append(opts, fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }))...)
}

func TestCauseIsTheFailingConstructorsErrorWithoutGoNames(t *testing.T) {
	refused := errors.New("ping database: connection refused")
	app := quietApp(
		fx.Provide(func() (*piece, error) { return nil, refused }),
		fx.Invoke(func(*piece) {}),
	)
	err := app.Start(context.Background())
	require.Error(t, err)
	assert.Regexp(t, `\.go:\d+|func\d+`, err.Error(), "what fx says names Go functions")
	assert.Equal(t, refused, bootstrap.Cause(err))
}

func TestCauseOfAFailedStartHookIsItsError(t *testing.T) {
	inUse := errors.New("http server: listen tcp 127.0.0.1:8080: bind: address already in use")
	app := quietApp(fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.Hook{OnStart: func(context.Context) error { return inUse }})
	}))
	assert.Equal(t, inUse, bootstrap.Cause(app.Start(context.Background())))
}

func TestCauseOfAGraphThatDoesNotFitHidesItsGoNames(t *testing.T) {
	app := quietApp(fx.Invoke(func(*piece) {}))
	err := bootstrap.Cause(app.Start(context.Background()))
	require.Error(t, err)
	assert.NotRegexp(t, `\.go:\d+|func\d+|github\.com/|fx\.|dig\.|bootstrap_test`, err.Error())
	assert.Contains(t, err.Error(), "NOTIFIER_LOG_LEVEL=debug")
	assert.NoError(t, bootstrap.Cause(nil))
}

func TestTheWebhookChannelsSettingsAreJudged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifier.yaml")
	writeFile(t, path, `webhook_channel:
  allowed_hosts: ["https://hooks.example.com"]
  timeout: 0s
`)
	assert.Equal(t, []string{
		`NOTIFIER_WEBHOOK_CHANNEL_SECRET: secret 2: want "whsec_" and base64`,
		`webhook_channel.allowed_hosts: entry 1 ("https://hooks.example.com"): want a host name or an IP address, without scheme, port or path`,
		`webhook_channel.timeout: 0s, want a duration above zero`,
	}, problems(t, map[string]string{
		"NOTIFIER_CONFIG":                 path,
		"NOTIFIER_WEBHOOK_CHANNEL_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZwYxBc8Rm0=,s3cret",
	}))
}
