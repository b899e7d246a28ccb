// Package config loads Notifier's configuration: the embedded
// configs/default.yaml, then the YAML file named by NOTIFIER_CONFIG, then the
// NOTIFIER_* environment variables.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/notifier/notifier/configs"
)

// Config is the whole configuration.
type Config struct {
	HTTP        HTTP              `yaml:"http"`
	Transport   string            `yaml:"transport"`
	AMQP        AMQP              `yaml:"amqp"`
	Database    Database          `yaml:"database"`
	SQL         SQL               `yaml:"sql"`
	Upstreams   map[string]string `yaml:"upstreams"`
	Directory   Directory         `yaml:"directory"`
	API         API               `yaml:"api"`
	Auth        Auth              `yaml:"auth"`
	SMTP        SMTP              `yaml:"smtp"`
	SMS         SMS               `yaml:"sms"`
	Templates   Templates         `yaml:"templates"`
	Preferences Preferences       `yaml:"preferences"`
	Unsubscribe Unsubscribe       `yaml:"unsubscribe"`
	Console     Console           `yaml:"console"`
	Delivery    Delivery          `yaml:"delivery"`
	Messaging   Messaging         `yaml:"messaging"`
	Intake      Intake            `yaml:"intake"`
	Posting     Posting           `yaml:"posting"`
	Webhooks    Webhooks          `yaml:"webhooks"`
	// WebhookChannel configures the webhook channel (delivery).
	WebhookChannel WebhookChannel `yaml:"webhook_channel"`
	Log            Log            `yaml:"log"`
	Debug          Debug          `yaml:"debug"`

	// origin is where the settings came from, for Setting; nil in a
	// Config not made by Load.
	origin *origin
}

// Debug configures diagnostics.
type Debug struct {
	// PprofAddr, when set, serves net/http/pprof on its own listener
	// (keep it on loopback: it has no authentication).
	PprofAddr string `yaml:"pprof_addr"`
}

// HTTP configures the API server.
type HTTP struct {
	Addr         string `yaml:"addr"`
	MaxBodyBytes int64  `yaml:"max_body_bytes"`
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds a request from the end of its headers to the end
	// of the response.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection waits for its next
	// request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// PublicURL is the base URL people reach the API at, for the links in
	// emails (unsubscribe); required outside the memory transport. Empty in
	// memory mode means http://localhost with the port of Addr.
	PublicURL string `yaml:"public_url"`
}

// Console configures the web console at /console.
type Console struct {
	// Key seals the console's session cookies; empty: a random key of the
	// process (sign-ins end when it stops, and instances do not share
	// them).
	Key string `yaml:"key"`
}

// QuietHours is a daily window of local time; both empty means none.
type QuietHours struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// Unsubscribe configures one-click unsubscribe links.
type Unsubscribe struct {
	// Keys sign and verify the links' tokens: the first signs, all verify
	// (put a new key first and keep the old one while its mails are
	// read). Required outside the memory transport; in memory mode a
	// random key of the process is used when none is set.
	Keys []string `yaml:"keys"`
}

// PublicBaseURL returns HTTP.PublicURL without a trailing slash, or in its
// absence http://localhost (or Addr's host) with Addr's port.
func (c Config) PublicBaseURL() string {
	if c.HTTP.PublicURL != "" {
		return strings.TrimRight(c.HTTP.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(c.HTTP.Addr)
	if err != nil {
		return "http://localhost"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// AMQP configures RabbitMQ.
type AMQP struct {
	URL       string   `yaml:"url"`
	Exchanges []string `yaml:"exchanges"`
	// Prefix is prepended to the exchanges and queues Notifier creates
	// (not to the intake exchanges); tests use it to stay apart.
	Prefix string `yaml:"prefix"`
	// PublishChannels is the size of the publisher's channel pool
	// (publisher confirms are always on).
	PublishChannels int `yaml:"publish_channels"`
	// Prefetch is the consumers' QoS prefetch count.
	Prefetch int `yaml:"prefetch"`
	// HandlerConcurrency is how many messages each handler processes at
	// once in one process.
	HandlerConcurrency int `yaml:"handler_concurrency"`
	// TransactionalPublishChannels is the size of the channel pool of the
	// transactional lane's own publisher (a connection of its own), so
	// that a code never waits for a channel a mailing holds.
	TransactionalPublishChannels int `yaml:"transactional_publish_channels"`
	// TransactionalHandlerConcurrency is HandlerConcurrency for the
	// handlers of the transactional lane.
	TransactionalHandlerConcurrency int `yaml:"transactional_handler_concurrency"`
	// OutboxPollInterval is how often the outbox forwarder looks for
	// committed messages: the latency it adds to each hop when idle.
	OutboxPollInterval time.Duration `yaml:"outbox_poll_interval"`
	// TransactionalOutboxPollInterval is OutboxPollInterval for the
	// transactional lane's outbox table, mostly empty: a code waits for it
	// at every hop.
	TransactionalOutboxPollInterval time.Duration `yaml:"transactional_outbox_poll_interval"`
	// PoisonTTL is how long the poison queue keeps a message (its
	// x-message-ttl): poisoned messages can hold emails and phone numbers.
	PoisonTTL time.Duration `yaml:"poison_ttl"`
}

// Database configures PostgreSQL.
type Database struct {
	URL string `yaml:"url"`
	// AutoMigrate applies pending migrations at start.
	AutoMigrate bool `yaml:"auto_migrate"`
	// TransactionalConns is how many connections the transactional lane
	// has of its own, beside the pool the URL describes (pool_max_conns),
	// which the bulk lane and everything else use.
	TransactionalConns int `yaml:"transactional_conns"`
}

// SQL configures the SQL transport.
type SQL struct {
	PollInterval time.Duration `yaml:"poll_interval"`
	// SubscriberConns is the size of the pool the SQL transport's
	// subscribers poll on. Each holds one of its connections while its
	// handler runs, so they have a pool apart from the handlers' (which
	// need connections of their own meanwhile); it must exceed the number
	// of handlers.
	SubscriberConns int `yaml:"subscriber_conns"`
}

// Directory configures how audiences are fetched.
type Directory struct {
	// Demo serves the demo directory (configs/demo-directory.yaml) for
	// the hosts NOTIFIER_UPSTREAMS leaves out. Always on in memory mode;
	// elsewhere only when asked for, so that a forgotten
	// NOTIFIER_UPSTREAMS fails the start instead of mailing demo users.
	Demo     bool `yaml:"demo"`
	PageSize int  `yaml:"page_size"`
	// MaxAhead is the audience walk's window: the most recipients of one
	// posting (per channel) resolved but without a delivery outcome yet;
	// the walk pauses before a page that would exceed it and resumes once
	// half of it is delivered. Below 1: the posting module's default.
	MaxAhead int           `yaml:"max_ahead"`
	Timeout  time.Duration `yaml:"timeout"`
	Attempts int           `yaml:"attempts"`
}

// API configures authentication.
type API struct {
	// Tokens is "role:token,…" with roles service, manager, admin.
	Tokens string `yaml:"tokens"`
}

// Auth configures the tokens users bring themselves.
type Auth struct {
	JWT JWT `yaml:"jwt"`
}

// JWT configures users' own tokens, the JWTs the auth service issues: a
// user's token may read and change only that user's preferences. Off
// unless JWKSURL or Secret is set; then Issuer and Audience are required.
type JWT struct {
	// JWKSURL is the auth service's JWK Set: tokens signed with an
	// asymmetric algorithm (RS256, ES256, EdDSA…) are verified against its
	// keys, fetched in the background and refreshed.
	JWKSURL string `yaml:"jwks_url"`
	// Secret verifies HS256 tokens; at least 32 bytes.
	Secret string `yaml:"secret"`
	// Issuer is the iss every token must have.
	Issuer string `yaml:"issuer"`
	// Audience must be in every token's aud.
	Audience string `yaml:"audience"`
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration `yaml:"leeway"`
}

// Enabled reports whether users' tokens are accepted.
func (j JWT) Enabled() bool { return j.JWKSURL != "" || j.Secret != "" }

// SMTP configures the email channel: its SMTP servers, in priority order
// (Servers). The top-level keys are the first server when Addr is set;
// Providers adds more. With none, email goes to the capture channel.
type SMTP struct {
	// Name names the first server in delivery records and metrics;
	// required when there are several servers ("smtp" when alone and
	// unnamed).
	Name     string `yaml:"name"`
	Addr     string `yaml:"addr"`
	From     string `yaml:"from"`
	TLS      string `yaml:"tls"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// RateLimit caps the first server in messages per second; 0 means
	// unlimited.
	RateLimit float64 `yaml:"rate_limit"`
	// Providers are the servers after the first, in priority order; an
	// entry's empty from and tls are the top-level ones.
	Providers []SMTPServer `yaml:"providers"`
}

// SMTPServer is one SMTP server of the email channel.
type SMTPServer struct {
	Name      string  `yaml:"name"`
	Addr      string  `yaml:"addr"`
	From      string  `yaml:"from"`
	TLS       string  `yaml:"tls"`
	Username  string  `yaml:"username"`
	Password  string  `yaml:"password"`
	RateLimit float64 `yaml:"rate_limit"`
}

// Servers returns the SMTP servers in priority order, each with its key
// (the setting naming it: "smtp" or "smtp.providers[i]") and its empty
// from and tls filled from the top-level keys.
func (s SMTP) Servers() []Keyed[SMTPServer] {
	var out []Keyed[SMTPServer]
	if s.Addr != "" {
		out = append(out, Keyed[SMTPServer]{Key: "smtp", Value: SMTPServer{
			Name: s.Name, Addr: s.Addr, From: s.From, TLS: s.TLS,
			Username: s.Username, Password: s.Password, RateLimit: s.RateLimit,
		}})
	}
	for i, p := range s.Providers {
		p.From = cmp.Or(p.From, s.From)
		p.TLS = cmp.Or(p.TLS, s.TLS)
		out = append(out, Keyed[SMTPServer]{Key: fmt.Sprintf("smtp.providers[%d]", i), Value: p})
	}
	if len(out) == 1 && out[0].Value.Name == "" {
		out[0].Value.Name = "smtp"
	}
	return out
}

// Keyed is a provider with the key of its settings, for messages.
type Keyed[T any] struct {
	Key   string
	Value T
}

// SMS configures the SMS channel: its gateways, in priority order
// (Gateways). The top-level keys are the first gateway when URL is set;
// Providers adds more. With none, SMS goes to the capture channel.
type SMS struct {
	// Name names the first gateway in delivery records and metrics;
	// required when there are several ("gateway" when alone and
	// unnamed).
	Name    string        `yaml:"name"`
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
	// RateLimit caps the first gateway in messages per second; 0 means
	// unlimited.
	RateLimit float64 `yaml:"rate_limit"`
	// Providers are the gateways after the first, in priority order; an
	// entry's zero timeout is the top-level one.
	Providers []SMSGateway `yaml:"providers"`
}

// SMSGateway is one SMS gateway of the SMS channel.
type SMSGateway struct {
	Name      string        `yaml:"name"`
	URL       string        `yaml:"url"`
	Timeout   time.Duration `yaml:"timeout"`
	RateLimit float64       `yaml:"rate_limit"`
}

// Gateways returns the SMS gateways in priority order, each with its key
// ("sms" or "sms.providers[i]") and its zero timeout filled from the
// top-level one.
func (s SMS) Gateways() []Keyed[SMSGateway] {
	var out []Keyed[SMSGateway]
	if s.URL != "" {
		out = append(out, Keyed[SMSGateway]{Key: "sms", Value: SMSGateway{
			Name: s.Name, URL: s.URL, Timeout: s.Timeout, RateLimit: s.RateLimit,
		}})
	}
	for i, p := range s.Providers {
		p.Timeout = cmp.Or(p.Timeout, s.Timeout)
		out = append(out, Keyed[SMSGateway]{Key: fmt.Sprintf("sms.providers[%d]", i), Value: p})
	}
	if len(out) == 1 && out[0].Value.Name == "" {
		out[0].Value.Name = "gateway"
	}
	return out
}

// Breaker configures the circuit breaker of every provider (SMTP server,
// SMS gateway): it opens after Failures consecutive transient failures of
// the provider, which is then skipped for OpenFor, after which one probe
// is let through; the circuit closes when the probe works.
type Breaker struct {
	Failures int           `yaml:"failures"`
	OpenFor  time.Duration `yaml:"open_for"`
}

// Templates configures where templates load from; an empty Dir means the
// templates built into the binary. DefaultLocale (a BCP 47 tag such as
// "ru") is the language of a recipient whose locale the directory leaves
// empty, gives malformed or has no template file of: its files are the
// fallback of every template.
type Templates struct {
	Dir           string `yaml:"dir"`
	DefaultLocale string `yaml:"default_locale"`
}

// Preferences holds the defaults users start with.
type Preferences struct {
	Channels           map[string]bool `yaml:"channels"`
	Types              map[string]bool `yaml:"types"`
	DefaultTypeEnabled bool            `yaml:"default_type_enabled"`
	Mandatory          []string        `yaml:"mandatory"`
	// QuietHours is the default window in which bulk notifications wait
	// (start and end "HH:MM", in the recipient's time zone); empty: off.
	QuietHours QuietHours `yaml:"quiet_hours"`
	// DefaultTimezone is the IANA zone of a recipient whose directory
	// record names none or an unknown one.
	DefaultTimezone string `yaml:"default_timezone"`
}

// Delivery configures retries of transient failures, the delivery workers
// and the channels' rate limits.
type Delivery struct {
	MaxAttempts int           `yaml:"max_attempts"`
	Backoff     time.Duration `yaml:"backoff"`
	MaxBackoff  time.Duration `yaml:"max_backoff"`
	// MaxWaitingRetries bounds the rows of one batch waiting for a retry.
	MaxWaitingRetries int `yaml:"max_waiting_retries"`
	// Workers is the number of delivery workers of each lane
	// ("transactional", "bulk"): the tries in flight at once.
	Workers map[string]int `yaml:"workers"`
	// Connections is the number of SMTP connections (and SMS gateway
	// clients) of each lane, shared by its workers; no more than the lane's
	// workers are opened. A lane left out has one per worker.
	Connections map[string]int `yaml:"connections"`
	// RateLimits caps each channel ("email", "sms") in messages per second,
	// both lanes together; 0 means unlimited.
	RateLimits map[string]float64 `yaml:"rate_limits"`
	// DeferredPollInterval is how often the deliveries waiting for the end
	// of quiet hours are looked for: how late after the window they go.
	DeferredPollInterval time.Duration `yaml:"deferred_poll_interval"`
	// Breaker is the circuit breaker of each provider.
	Breaker Breaker `yaml:"breaker"`
	// Digests makes notification types digests, by type: their bulk
	// deliveries to one user on one channel are held and go as one
	// message listing them.
	Digests map[string]Digest `yaml:"digests"`
}

// Digest configures one notification type as a digest. Exactly one of
// Window and At is set: Window holds a user's deliveries from the first
// one for that long; At ("HH:MM") holds them until the next time the
// user's wall clock reads it, in the user's time zone
// (preferences.default_timezone when the directory names none).
type Digest struct {
	Window time.Duration `yaml:"window"`
	At     string        `yaml:"at"`
	// Channels are the channels held; empty: those with the digest's
	// template.
	Channels []string `yaml:"channels"`
	// Template is the file name of the digest's template under each
	// channel's directory; empty: "<type>_digest.md".
	Template string `yaml:"template"`
	// GroupBy names a field of the items' contexts: the digest's context
	// gets the items grouped by its value, with their count and totals.
	GroupBy string `yaml:"group_by"`
	// MaxItems caps the items listed in the message (the newest); the
	// counts and totals take them all. 0: DefaultDigestMaxItems.
	MaxItems int `yaml:"max_items"`
}

// DefaultDigestMaxItems is the items a digest lists when max_items is 0;
// MaxDigestMaxItems the most it may list.
const (
	DefaultDigestMaxItems = 50
	MaxDigestMaxItems     = 1000
)

// Messaging configures the router.
type Messaging struct {
	MaxRetries     int           `yaml:"max_retries"`
	RetryInterval  time.Duration `yaml:"retry_interval"`
	DedupRetention time.Duration `yaml:"dedup_retention"`
}

// Intake maps known events to postings.
type Intake struct {
	// MaxBody caps an event's body; a larger one goes to the poison queue
	// with the reason.
	MaxBody int64           `yaml:"max_body"`
	Flows   map[string]Flow `yaml:"flows"`
}

// Posting configures the posting module.
type Posting struct {
	// IdempotencyRetention is how long an idempotency key keeps answering
	// with the posting it made; after it the key is free again (the
	// posting stays readable by id).
	IdempotencyRetention time.Duration `yaml:"idempotency_retention"`
	// MaxResolvedContext caps the template context after its URLs are
	// fetched; over it the posting fails.
	MaxResolvedContext int `yaml:"max_resolved_context"`
	// InlineContextMax is the largest resolved context copied into every
	// batch message; a larger one is stored once and referenced.
	InlineContextMax int `yaml:"inline_context_max"`
}

// Webhooks configures the delivery-status webhooks (the webhooks module);
// the module judges these settings (webhooksfx.Validate).
type Webhooks struct {
	// AllowedHosts, when set, are the only hosts an endpoint may name,
	// reached wherever they resolve (private addresses included); empty,
	// any host whose addresses are public. Host names or IP addresses,
	// "*.example.com" for every subdomain.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// MaxAge is how long a message is retried before it is given up on
	// (and its endpoint disabled, unless it took another message since).
	MaxAge time.Duration `yaml:"max_age"`
	// Backoff is the wait after a message's first failed try, doubled
	// after each further one, with jitter, up to MaxBackoff.
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Timeout bounds one call, connection and answer included.
	Timeout time.Duration `yaml:"timeout"`
	// Concurrency bounds the calls in flight in one process, and
	// EndpointConcurrency those to one endpoint.
	Concurrency         int `yaml:"concurrency"`
	EndpointConcurrency int `yaml:"endpoint_concurrency"`
	// PollInterval is how often due messages are looked for.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RotationGrace is how long a rotated-out secret keeps signing beside
	// the new one.
	RotationGrace time.Duration `yaml:"rotation_grace"`
	// DatabaseConns is the size of the dispatcher's own PostgreSQL pool,
	// so that sending webhooks never takes a connection deliveries wait
	// for.
	DatabaseConns int `yaml:"database_conns"`
}

// WebhookChannel configures the webhook channel of the delivery module:
// each message POSTed as JSON to the recipient's URL, signed per Standard
// Webhooks. The delivery module judges these settings
// (deliveryfx.Validate).
type WebhookChannel struct {
	// Secrets sign every call ("whsec_" and the base64 of 24 to 64 random
	// bytes); each one adds a signature, so that a receiver can move to a
	// new secret (put it first) while the old one still signs. Empty in
	// memory mode: a random secret of the process. Empty elsewhere: the
	// channel is off (its deliveries fail, nothing unsigned is sent).
	Secrets []string `yaml:"secrets"`
	// AllowedHosts, when set, are the only hosts a webhook URL may name,
	// reached wherever they resolve; empty, any host whose addresses are
	// public (as webhooks.allowed_hosts, but a list of its own).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Timeout bounds one call, connection and answer included.
	Timeout time.Duration `yaml:"timeout"`
}

// Flow says what postings one event type makes.
type Flow struct {
	NotificationType string   `yaml:"notification_type"`
	Template         string   `yaml:"template"`
	Channels         []string `yaml:"channels"`
	Priority         string   `yaml:"priority"`
	Receivers        string   `yaml:"receivers"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Transports.
const (
	TransportMemory = "memory"
	TransportAMQP   = "amqp"
	TransportSQL    = "sql"
)

// Default returns the embedded defaults.
func Default() (Config, error) {
	raw, err := configs.FS.ReadFile("default.yaml")
	if err != nil {
		return Config{}, fmt.Errorf("read embedded defaults: %w", err)
	}
	var c Config
	if err := decode(raw, &c); err != nil {
		return Config{}, fmt.Errorf("embedded defaults: %w", err)
	}
	return c, nil
}

// Load returns the defaults overlaid by the file in NOTIFIER_CONFIG (if set)
// and the environment (getenv, usually os.Getenv), validated by Validate
// and then by each of checks. A configuration that cannot be used returns
// an *Error listing every problem found: in the file, in the environment,
// by Validate and by the checks.
func Load(getenv func(string) string, checks ...Check) (Config, error) {
	return load(getenv, append([]Check{Config.Validate}, checks...))
}

// LoadUnvalidated is Load without Validate, for commands that need only a
// part of the configuration (migrate passes Config.ValidateForMigrate): it
// still reports the file and the variables it cannot read, and the
// problems of checks, as an *Error.
func LoadUnvalidated(getenv func(string) string, checks ...Check) (Config, error) {
	return load(getenv, checks)
}

func load(getenv func(string) string, checks []Check) (Config, error) {
	c, err := Default()
	if err != nil {
		return Config{}, err
	}
	c.origin = newOrigin()
	var lines []string
	if path := getenv("NOTIFIER_CONFIG"); path != "" {
		lines = append(lines, c.loadFile(path)...)
	}
	lines = append(lines, c.applyEnv(getenv)...)
	for _, check := range checks {
		lines = append(lines, problemLines(check(c))...)
	}
	if len(lines) > 0 {
		return Config{}, &Error{Problems: lines}
	}
	return c, nil
}

// loadFile decodes the YAML file at path over c and returns its problems:
// each unknown key and each value of the wrong kind, named by its key and
// line.
func (c *Config) loadFile(path string) []string {
	c.origin.file = path
	raw, err := os.ReadFile(path)
	if err != nil {
		return []string{"NOTIFIER_CONFIG: " + pathProblem(err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return []string{fmt.Sprintf("NOTIFIER_CONFIG: %s is not valid YAML: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	w := &fileChecker{file: path, origin: c.origin}
	w.walk(&doc, reflect.TypeFor[Config](), "")
	if err := decode(raw, c); err != nil && len(w.problems) == 0 {
		// Not foreseen by the walk; the decoder's words, without its Go types.
		return []string{fmt.Sprintf("NOTIFIER_CONFIG: %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	return w.problems
}

func decode(raw []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// UsesDemoDirectory reports whether the demo directory answers for the
// hosts NOTIFIER_UPSTREAMS does not name.
func (c Config) UsesDemoDirectory() bool {
	return c.Transport == TransportMemory || c.Directory.Demo
}
