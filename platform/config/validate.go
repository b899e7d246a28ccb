package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/apitokens"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/platform/upstream"
)

// DevTokens are the tokens of the default configuration, refused outside
// the memory transport.
const DevTokens = "admin:dev-admin-token,manager:dev-manager-token,service:dev-service-token"

// maxPageSize is the largest directory page Notifier asks for.
const maxPageSize = 5000

// Validate fails closed: it returns an *Error naming every setting that is
// missing or wrong, with what it needs. The settings of the modules'
// own sections that only a module can judge (delivery lanes, preference
// defaults, intake flows) and the templates' syntax are judged by the
// Checks the composition root passes to Load.
func (c Config) Validate() error {
	p := &problems{c: c}
	c.validateHTTP(p)
	c.validateTransport(p)
	c.validateDirectory(p)
	c.validateTokens(p)
	c.validateChannels(p)
	if c.Templates.Dir != "" {
		if info, err := os.Stat(c.Templates.Dir); err != nil {
			p.add("templates.dir", "%s", pathProblem(err))
		} else if !info.IsDir() {
			p.add("templates.dir", "%s is not a directory", c.Templates.Dir)
		}
	}
	if c.Templates.DefaultLocale == "" {
		p.missing("templates.default_locale", "empty, want a BCP 47 language tag such as ru or en")
	} else if _, err := templating.ParseLocale(c.Templates.DefaultLocale); err != nil {
		p.add("templates.default_locale", "%v", err)
	}
	if c.Delivery.MaxAttempts < 1 {
		p.add("delivery.max_attempts", "%d, at least 1 needed", c.Delivery.MaxAttempts)
	}
	positive(p, "delivery.backoff", c.Delivery.Backoff)
	if c.Delivery.MaxBackoff < c.Delivery.Backoff {
		p.add("delivery.max_backoff", "%s is below delivery.backoff (%s)", c.Delivery.MaxBackoff, c.Delivery.Backoff)
	}
	if c.Messaging.MaxRetries < 0 {
		p.add("messaging.max_retries", "%d is negative", c.Messaging.MaxRetries)
	}
	if c.Messaging.RetryInterval < 0 {
		p.add("messaging.retry_interval", "%s is negative", c.Messaging.RetryInterval)
	}
	positive(p, "messaging.dedup_retention", c.Messaging.DedupRetention)
	if c.Intake.MaxBody < 1 {
		p.add("intake.max_body", "%d, at least 1 byte needed", c.Intake.MaxBody)
	}
	positive(p, "posting.idempotency_retention", c.Posting.IdempotencyRetention)
	if c.Posting.MaxResolvedContext < 1 {
		p.add("posting.max_resolved_context", "%d, at least 1 byte needed", c.Posting.MaxResolvedContext)
	}
	if c.Posting.InlineContextMax < 1 {
		p.add("posting.inline_context_max", "%d, at least 1 byte needed", c.Posting.InlineContextMax)
	} else if c.Posting.MaxResolvedContext >= 1 && c.Posting.MaxResolvedContext < c.Posting.InlineContextMax {
		p.add("posting.max_resolved_context", "%d is below posting.inline_context_max (%d)",
			c.Posting.MaxResolvedContext, c.Posting.InlineContextMax)
	}
	c.validateLog(p)
	if c.Debug.PprofAddr != "" {
		if err := checkAddr(c.Debug.PprofAddr); err != nil {
			p.add("debug.pprof_addr", "%v", err)
		}
	}
	return p.err()
}

// ValidateForMigrate judges only what a command using just the database
// and the log needs (notifier migrate): database.url set and well formed,
// and the log settings. It returns an *Error.
func (c Config) ValidateForMigrate() error {
	p := &problems{c: c}
	if c.Database.URL == "" {
		p.missing("database.url", "required by migrate")
	} else {
		c.validateDatabaseURL(p)
	}
	c.validateLog(p)
	return p.err()
}

func (c Config) validateHTTP(p *problems) {
	if c.HTTP.Addr == "" {
		p.missing("http.addr", "empty, want host:port such as :8080")
	} else if err := checkAddr(c.HTTP.Addr); err != nil {
		p.add("http.addr", "%v", err)
	}
	if c.HTTP.MaxBodyBytes < 1 {
		p.add("http.max_body_bytes", "%d, at least 1 byte needed", c.HTTP.MaxBodyBytes)
	}
	positive(p, "http.read_timeout", c.HTTP.ReadTimeout)
	positive(p, "http.write_timeout", c.HTTP.WriteTimeout)
	positive(p, "http.idle_timeout", c.HTTP.IdleTimeout)
}

func (c Config) validateTransport(p *problems) {
	switch c.Transport {
	case TransportMemory:
		if c.Database.URL != "" {
			p.add("database.url", "the memory transport keeps state in memory; use transport amqp or sql with a database")
		}
	case TransportAMQP:
		if c.AMQP.URL == "" {
			p.missing("amqp.url", "required with transport amqp")
		} else if err := checkURL(c.AMQP.URL, "amqp", "amqps"); err != nil {
			p.add("amqp.url", "%v", err)
		}
		if c.Database.URL == "" {
			p.missing("database.url", "required with transport amqp")
		} else {
			c.validateDatabaseURL(p)
		}
		for _, s := range []struct {
			key string
			n   int
		}{
			{"amqp.publish_channels", c.AMQP.PublishChannels},
			{"amqp.prefetch", c.AMQP.Prefetch},
			{"amqp.handler_concurrency", c.AMQP.HandlerConcurrency},
			{"amqp.transactional_publish_channels", c.AMQP.TransactionalPublishChannels},
			{"amqp.transactional_handler_concurrency", c.AMQP.TransactionalHandlerConcurrency},
		} {
			if s.n < 1 {
				p.add(s.key, "%d, at least 1 needed", s.n)
			}
		}
		positive(p, "amqp.outbox_poll_interval", c.AMQP.OutboxPollInterval)
		positive(p, "amqp.transactional_outbox_poll_interval", c.AMQP.TransactionalOutboxPollInterval)
	case TransportSQL:
		if c.Database.URL == "" {
			p.missing("database.url", "required with transport sql")
		} else {
			c.validateDatabaseURL(p)
		}
		positive(p, "sql.poll_interval", c.SQL.PollInterval)
		if c.SQL.SubscriberConns < 1 {
			p.add("sql.subscriber_conns", "%d, at least 1 needed (more than the handlers: 32 by default)", c.SQL.SubscriberConns)
		}
	default:
		p.add("transport", "unknown transport %q (memory, amqp, sql)", c.Transport)
	}
	if slices.Contains(c.AMQP.Exchanges, "") {
		p.add("amqp.exchanges", "an exchange name is empty")
	}
	if c.AMQP.PoisonTTL < time.Millisecond {
		p.add("amqp.poison_ttl", "%s, want at least 1ms (RabbitMQ counts message TTLs in milliseconds)", c.AMQP.PoisonTTL)
	}
}

// pgxErrorPrefix is how pgx starts a parse error: with the whole
// connection string, which is not repeated.
var pgxErrorPrefix = regexp.MustCompile("^cannot parse `[^`]*`: ")

// goFuncPrefix is a Go function name some errors start with
// ("strconv.ParseInt: ").
var goFuncPrefix = regexp.MustCompile(`\b[a-z]+\.[A-Z]\w*: `)

func (c Config) validateDatabaseURL(p *problems) {
	if _, err := pgxpool.ParseConfig(c.Database.URL); err != nil {
		reason := goFuncPrefix.ReplaceAllString(pgxErrorPrefix.ReplaceAllString(err.Error(), ""), "")
		p.add("database.url", "not a PostgreSQL URL or key=value string: %s", reason)
	}
	if c.Database.TransactionalConns < 1 {
		p.add("database.transactional_conns", "%d, at least 1 needed (the transactional lane's own connections)", c.Database.TransactionalConns)
	}
}

func (c Config) validateDirectory(p *problems) {
	if c.production() && len(c.Upstreams) == 0 && !c.Directory.Demo {
		p.missing("upstreams", "required outside the memory transport (or NOTIFIER_DEMO_DIRECTORY=true to try the demo directory)")
	}
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Upstreams)) {
		key := "upstreams." + name
		if err := upstream.CheckUpstream(name, c.Upstreams[name]); err != nil {
			p.add(key, "%v", err)
			continue
		}
		norm := strings.ToLower(strings.TrimSpace(name))
		if other, dup := seen[norm]; dup {
			p.add(key, "configured twice (also as %s)", other)
		}
		seen[norm] = name
	}
	if c.Directory.PageSize < 1 || c.Directory.PageSize > maxPageSize {
		p.add("directory.page_size", "%d is outside 1..%d", c.Directory.PageSize, maxPageSize)
	}
	positive(p, "directory.timeout", c.Directory.Timeout)
	if c.Directory.Attempts < 1 {
		p.add("directory.attempts", "%d, at least 1 needed", c.Directory.Attempts)
	}
}

func (c Config) validateTokens(p *problems) {
	tokens, err := apitokens.Parse(c.API.Tokens)
	for _, line := range problemLines(err) {
		p.add("api.tokens", "%s", line)
	}
	switch {
	case err == nil && len(tokens) == 0:
		p.missing("api.tokens", "at least one token is required (role:token,…)")
	case c.production() && c.API.Tokens == DevTokens:
		p.add("api.tokens", "the development tokens are refused outside the memory transport")
	}
}

func (c Config) validateChannels(p *problems) {
	switch c.SMTP.TLS {
	case "none", "starttls", "tls":
	default:
		p.add("smtp.tls", "%q is not none, starttls or tls", c.SMTP.TLS)
	}
	if c.SMTP.Addr != "" {
		if err := checkAddr(c.SMTP.Addr); err != nil {
			p.add("smtp.addr", "%v", err)
		}
		if c.SMTP.From == "" {
			p.add("smtp.from", "required with smtp.addr")
		}
	}
	if c.SMS.URL != "" {
		if err := checkURL(c.SMS.URL, "http", "https"); err != nil {
			p.add("sms.url", "%v", err)
		}
	}
	positive(p, "sms.timeout", c.SMS.Timeout)
}

func (c Config) validateLog(p *problems) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		p.add("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", "%q is not text or json", c.Log.Format)
	}
}

// production reports whether c names a transport other than memory (an
// unknown one is reported alone, not with what production needs).
func (c Config) production() bool {
	return c.Transport == TransportAMQP || c.Transport == TransportSQL
}

// positive records a problem when d is not more than zero.
func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "%s, want a duration above zero", d)
	}
}

// checkAddr checks a listen or dial address, host:port.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("%q: %s, want host:port such as 127.0.0.1:8080 or :8080", addr, ae.Err)
		}
		return fmt.Errorf("%q: want host:port", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: unknown port %q", addr, port)
	}
	return nil
}

// checkURL checks an absolute URL of one of schemes without repeating it:
// it may hold a password.
func checkURL(s string, schemes ...string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("not a valid URL: %v", ue.Err)
		}
		return errors.New("not a valid URL")
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("want a %s:// URL", strings.Join(schemes, ":// or "))
	}
	if u.Host == "" {
		return errors.New("the URL has no host")
	}
	return nil
}

// pathProblem says what is wrong with a path without Go's "stat" prefix.
func pathProblem(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("%s does not exist", pe.Path)
		}
		return fmt.Sprintf("%s: %v", pe.Path, pe.Err)
	}
	return err.Error()
}
