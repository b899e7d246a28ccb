package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/notifier/notifier/platform/upstream"
)

// envVar is a NOTIFIER_* environment variable and the YAML key it sets.
type envVar struct {
	name, key string
	// set stores v; its error says what v needs, without the variable's
	// name.
	set func(c *Config, v string) error
}

// envVars are the variables applied over the file, in this order; the
// README's configuration table lists the same.
var envVars = []envVar{
	{"NOTIFIER_HTTP_ADDR", "http.addr", text(func(c *Config) *string { return &c.HTTP.Addr })},
	{"NOTIFIER_TRANSPORT", "transport", text(func(c *Config) *string { return &c.Transport })},
	{"NOTIFIER_AMQP_URL", "amqp.url", text(func(c *Config) *string { return &c.AMQP.URL })},
	{"NOTIFIER_DATABASE_URL", "database.url", text(func(c *Config) *string { return &c.Database.URL })},
	{"NOTIFIER_AMQP_PREFIX", "amqp.prefix", text(func(c *Config) *string { return &c.AMQP.Prefix })},
	{"NOTIFIER_AUTO_MIGRATE", "database.auto_migrate", boolean(func(c *Config) *bool { return &c.Database.AutoMigrate })},
	{"NOTIFIER_SMTP_ADDR", "smtp.addr", text(func(c *Config) *string { return &c.SMTP.Addr })},
	{"NOTIFIER_SMTP_FROM", "smtp.from", text(func(c *Config) *string { return &c.SMTP.From })},
	{"NOTIFIER_SMTP_TLS", "smtp.tls", text(func(c *Config) *string { return &c.SMTP.TLS })},
	{"NOTIFIER_SMTP_USERNAME", "smtp.username", text(func(c *Config) *string { return &c.SMTP.Username })},
	{"NOTIFIER_SMTP_PASSWORD", "smtp.password", text(func(c *Config) *string { return &c.SMTP.Password })},
	{"NOTIFIER_SMS_URL", "sms.url", text(func(c *Config) *string { return &c.SMS.URL })},
	{"NOTIFIER_API_TOKENS", "api.tokens", text(func(c *Config) *string { return &c.API.Tokens })},
	{"NOTIFIER_CONSOLE_KEY", "console.key", text(func(c *Config) *string { return &c.Console.Key })},
	{"NOTIFIER_PUBLIC_URL", "http.public_url", text(func(c *Config) *string { return &c.HTTP.PublicURL })},
	{"NOTIFIER_UNSUBSCRIBE_KEY", "unsubscribe.keys", func(c *Config, v string) error {
		c.Unsubscribe.Keys = splitList(v)
		return nil
	}},
	{"NOTIFIER_JWT_JWKS_URL", "auth.jwt.jwks_url", text(func(c *Config) *string { return &c.Auth.JWT.JWKSURL })},
	{"NOTIFIER_JWT_SECRET", "auth.jwt.secret", text(func(c *Config) *string { return &c.Auth.JWT.Secret })},
	{"NOTIFIER_JWT_ISSUER", "auth.jwt.issuer", text(func(c *Config) *string { return &c.Auth.JWT.Issuer })},
	{"NOTIFIER_JWT_AUDIENCE", "auth.jwt.audience", text(func(c *Config) *string { return &c.Auth.JWT.Audience })},
	{"NOTIFIER_JWT_LEEWAY", "auth.jwt.leeway", duration(func(c *Config) *time.Duration { return &c.Auth.JWT.Leeway })},
	{"NOTIFIER_TEMPLATES_DIR", "templates.dir", text(func(c *Config) *string { return &c.Templates.Dir })},
	{"NOTIFIER_TEMPLATES_DEFAULT_LOCALE", "templates.default_locale", text(func(c *Config) *string { return &c.Templates.DefaultLocale })},
	{"NOTIFIER_LOG_LEVEL", "log.level", text(func(c *Config) *string { return &c.Log.Level })},
	{"NOTIFIER_LOG_FORMAT", "log.format", text(func(c *Config) *string { return &c.Log.Format })},
	{"NOTIFIER_PPROF_ADDR", "debug.pprof_addr", text(func(c *Config) *string { return &c.Debug.PprofAddr })},
	{"NOTIFIER_EXCHANGES", "amqp.exchanges", func(c *Config, v string) error {
		c.AMQP.Exchanges = splitList(v)
		return nil
	}},
	{"NOTIFIER_WEBHOOKS_ALLOWED_HOSTS", "webhooks.allowed_hosts", func(c *Config, v string) error {
		c.Webhooks.AllowedHosts = splitList(v)
		return nil
	}},
	{"NOTIFIER_WEBHOOK_CHANNEL_SECRET", "webhook_channel.secrets", func(c *Config, v string) error {
		c.WebhookChannel.Secrets = splitList(v)
		return nil
	}},
	{"NOTIFIER_WEBHOOK_CHANNEL_ALLOWED_HOSTS", "webhook_channel.allowed_hosts", func(c *Config, v string) error {
		c.WebhookChannel.AllowedHosts = splitList(v)
		return nil
	}},
	{"NOTIFIER_WEBHOOKS_MAX_AGE", "webhooks.max_age", duration(func(c *Config) *time.Duration { return &c.Webhooks.MaxAge })},
	{"NOTIFIER_DEMO_DIRECTORY", "directory.demo", boolean(func(c *Config) *bool { return &c.Directory.Demo })},
	{"NOTIFIER_DIRECTORY_PAGE_SIZE", "directory.page_size", whole(func(c *Config) *int { return &c.Directory.PageSize })},
	{"NOTIFIER_UPSTREAMS", "upstreams", func(c *Config, v string) error {
		ups, err := upstream.ParseUpstreams(v)
		if err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "upstreams: "))
		}
		c.Upstreams = ups
		return nil
	}},
}

func text(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}
}

func duration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration, such as 30s, 2m or 168h", v)
		}
		*field(c) = d
		return nil
	}
}

func whole(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}
}

// envName returns the variable that sets the YAML key, or "".
func envName(key string) string {
	for _, e := range envVars {
		if e.key == key {
			return e.name
		}
	}
	return ""
}

// applyEnv applies the variables getenv sets (an empty one is unset) and
// returns a problem for each it cannot read.
func (c *Config) applyEnv(getenv func(string) string) []string {
	var out []string
	for _, e := range envVars {
		v := getenv(e.name)
		if v == "" {
			continue
		}
		c.origin.env[e.key] = e.name
		if err := e.set(c, v); err != nil {
			c.origin.broken[e.key] = true
			out = append(out, e.name+": "+err.Error())
		}
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
