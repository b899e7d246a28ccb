package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/notifier/notifier/platform/apitokens"
	"github.com/notifier/notifier/platform/jwtauth"
	"github.com/notifier/notifier/platform/quiethours"
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
	c.validateJWT(p)
	c.validateChannels(p)
	c.validateUnsubscribe(p)
	c.validateQuietHours(p)
	c.validateDigests(p)
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
	positive(p, "delivery.deferred_poll_interval", c.Delivery.DeferredPollInterval)
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

func (c Config) validateQuietHours(p *problems) {
	q := c.Preferences.QuietHours
	if q.Start != "" || q.End != "" {
		if _, err := quiethours.Parse(q.Start, q.End); err != nil {
			p.add("preferences.quiet_hours", "%v", err)
		}
	}
	if c.Preferences.DefaultTimezone == "" {
		p.missing("preferences.default_timezone", "an IANA time zone such as Europe/Moscow or UTC")
	} else if _, err := time.LoadLocation(c.Preferences.DefaultTimezone); err != nil || c.Preferences.DefaultTimezone == "Local" {
		p.add("preferences.default_timezone", "%q is not an IANA time zone (such as Europe/Moscow or UTC)", c.Preferences.DefaultTimezone)
	}
}

// fieldName is a template context field a digest may group by.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func (c Config) validateDigests(p *problems) {
	for _, typ := range slices.Sorted(maps.Keys(c.Delivery.Digests)) {
		d := c.Delivery.Digests[typ]
		key := "delivery.digests." + typ
		if slices.Contains(c.Preferences.Mandatory, typ) {
			p.add(key, "%s is mandatory (preferences.mandatory): it is never held", typ)
		}
		switch {
		case d.Window != 0 && d.At != "":
			p.add(key, "window and at both set; want one")
		case d.Window < 0:
			p.add(key+".window", "%s is negative", d.Window)
		case d.Window == 0 && d.At == "":
			p.missing(key, `want window (such as 1h) or at (such as "10:00")`)
		case d.At != "":
			if _, err := quiethours.ParseClock(d.At); err != nil {
				p.add(key+".at", "%v", err)
			}
		}
		for _, ch := range d.Channels {
			if _, known := c.Preferences.Channels[ch]; !known {
				p.add(key+".channels", "%q is not a channel of preferences.channels", ch)
			}
		}
		if d.Template != "" && (strings.ContainsAny(d.Template, `/\`) || !strings.HasSuffix(d.Template, ".md")) {
			p.add(key+".template", "%q: want a file name such as reactions_digest.md (it is looked for under each channel's directory)", d.Template)
		}
		if d.GroupBy != "" && !fieldName.MatchString(d.GroupBy) {
			p.add(key+".group_by", "%q is not a field name", d.GroupBy)
		}
		if d.MaxItems < 0 || d.MaxItems > MaxDigestMaxItems {
			p.add(key+".max_items", "%d, want 0 (default %d) to %d", d.MaxItems, DefaultDigestMaxItems, MaxDigestMaxItems)
		}
	}
}

// minUnsubscribeKey is unsubscribe.MinKeyLength (config does not import
// the packages it configures).
const minUnsubscribeKey = 32

func (c Config) validateUnsubscribe(p *problems) {
	if c.HTTP.PublicURL != "" {
		if err := checkURL(c.HTTP.PublicURL, "http", "https"); err != nil {
			p.add("http.public_url", "%v", err)
		} else if u, _ := url.Parse(c.HTTP.PublicURL); u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			p.add("http.public_url", "a base URL has no query, fragment or user")
		}
	} else if c.production() {
		p.missing("http.public_url", "required outside the memory transport: the base URL of the links in emails")
	}
	if len(c.Unsubscribe.Keys) == 0 && c.production() {
		p.missing("unsubscribe.keys", "required outside the memory transport: the key that signs unsubscribe links, %d bytes or more (a comma-separated list rotates keys)", minUnsubscribeKey)
	}
	for i, k := range c.Unsubscribe.Keys {
		if len(k) < minUnsubscribeKey {
			p.add("unsubscribe.keys", "key %d is %d bytes, at least %d needed", i+1, len(k), minUnsubscribeKey)
		}
	}
}

// validateJWT judges users' tokens: off unless a JWKS URL or a secret is
// set; then an issuer and an audience are required too, so that a token
// the auth service made for another service is never taken for one of
// Notifier's.
func (c Config) validateJWT(p *problems) {
	j := c.Auth.JWT
	if j.Leeway < 0 || j.Leeway > jwtauth.MaxLeeway {
		p.add("auth.jwt.leeway", "%s is outside 0s..%s (a little clock skew)", j.Leeway, jwtauth.MaxLeeway)
	}
	if j.JWKSURL != "" {
		if err := checkURL(j.JWKSURL, "http", "https"); err != nil {
			p.add("auth.jwt.jwks_url", "%v", err)
		}
	}
	if j.Secret != "" && len(j.Secret) < jwtauth.MinSecretLength {
		p.add("auth.jwt.secret", "shorter than %d bytes: HS256 needs a long random secret (such as the output of openssl rand -base64 48)",
			jwtauth.MinSecretLength)
	}
	if !j.Enabled() {
		if j.Issuer != "" || j.Audience != "" {
			p.add("auth.jwt.jwks_url", "empty, and so is %s: users' tokens are off although their issuer or audience is set; "+
				"set one of the two to accept them", c.Setting("auth.jwt.secret"))
		}
		return
	}
	const why = "required when users' tokens are accepted (a JWKS URL or a secret is set)"
	if j.Issuer == "" {
		p.missing("auth.jwt.issuer", why)
	}
	if j.Audience == "" {
		p.missing("auth.jwt.audience", why)
	}
}

func (c Config) validateChannels(p *problems) {
	checkTLS(p, "smtp.tls", c.SMTP.TLS)
	if c.SMTP.Addr == "" && (c.SMTP.Name != "" || c.SMTP.RateLimit != 0) {
		p.add("smtp.addr", "empty, so smtp.name and smtp.rate_limit name no server: set it, or name the first of smtp.providers")
	}
	if c.SMS.URL == "" && (c.SMS.Name != "" || c.SMS.RateLimit != 0) {
		p.add("sms.url", "empty, so sms.name and sms.rate_limit name no gateway: set it, or name the first of sms.providers")
	}
	servers := c.SMTP.Servers()
	names := map[string]string{}
	for _, s := range servers {
		k, v := s.Key, s.Value
		if k != "smtp" {
			if v.Addr == "" {
				p.missing(k+".addr", "every SMTP provider needs its host:port")
			}
			if s.Value.TLS != c.SMTP.TLS {
				checkTLS(p, k+".tls", v.TLS)
			}
		}
		if v.Addr != "" {
			if err := checkAddr(v.Addr); err != nil {
				p.add(k+".addr", "%v", err)
			}
		}
		if v.From == "" && k == "smtp" {
			p.add("smtp.from", "required with smtp.addr")
		} else if v.From == "" {
			p.add(k+".from", "required: the provider's sender address, or smtp.from for every provider")
		}
		checkProvider(p, k, v.Name, v.RateLimit, len(servers), names)
	}
	positive(p, "sms.timeout", c.SMS.Timeout)
	gateways := c.SMS.Gateways()
	names = map[string]string{}
	for _, g := range gateways {
		k, v := g.Key, g.Value
		if v.URL == "" {
			p.missing(k+".url", "every SMS provider needs its URL")
		} else if err := checkURL(v.URL, "http", "https"); err != nil {
			p.add(k+".url", "%v", err)
		}
		if k != "sms" && v.Timeout < 0 {
			p.add(k+".timeout", "%s, want a duration above zero (or none: sms.timeout)", v.Timeout)
		}
		checkProvider(p, k, v.Name, v.RateLimit, len(gateways), names)
	}
	if len(servers) > 1 || len(gateways) > 1 {
		b := c.Delivery.Breaker
		if b.Failures < 1 {
			p.add("delivery.breaker.failures", "%d, at least 1 needed", b.Failures)
		}
		positive(p, "delivery.breaker.open_for", b.OpenFor)
	}
}

func checkTLS(p *problems, key, tls string) {
	switch tls {
	case "none", "starttls", "tls":
	default:
		p.add(key, "%q is not none, starttls or tls", tls)
	}
}

// checkProvider checks what every provider of a channel has: a name, unique
// and required among several (names maps those seen to their key), and a
// rate limit.
func checkProvider(p *problems, key, name string, rate float64, providers int, names map[string]string) {
	switch {
	case name == "" && providers > 1:
		p.missing(key+".name", "required when a channel has several providers")
	case name != "" && !providerName.MatchString(name):
		p.add(key+".name", "%q: want 1 to 64 of a-z 0-9 _ . -", name)
	case names[name] != "":
		p.add(key+".name", "%q is the name of %s already: names must be unique", name, names[name])
	case name != "":
		names[name] = key
	}
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		p.add(key+".rate_limit", "%v, want messages per second, 0 for unlimited", rate)
	}
}

// providerName is what a provider may be named: it labels metrics.
var providerName = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

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
