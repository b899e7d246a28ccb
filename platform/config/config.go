// Package config loads Notifier's configuration: the embedded
// configs/default.yaml, then the YAML file named by NOTIFIER_CONFIG, then the
// NOTIFIER_* environment variables.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/notifier/notifier/configs"
	"github.com/notifier/notifier/platform/upstream"
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
	SMTP        SMTP              `yaml:"smtp"`
	SMS         SMS               `yaml:"sms"`
	Templates   Templates         `yaml:"templates"`
	Preferences Preferences       `yaml:"preferences"`
	Delivery    Delivery          `yaml:"delivery"`
	Messaging   Messaging         `yaml:"messaging"`
	Intake      Intake            `yaml:"intake"`
	Posting     Posting           `yaml:"posting"`
	Log         Log               `yaml:"log"`
	Debug       Debug             `yaml:"debug"`
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
	// OutboxPollInterval is how often the outbox forwarder looks for
	// committed messages: the latency it adds to each hop when idle.
	OutboxPollInterval time.Duration `yaml:"outbox_poll_interval"`
	// PoisonTTL is how long the poison queue keeps a message (its
	// x-message-ttl): poisoned messages can hold emails and phone numbers.
	PoisonTTL time.Duration `yaml:"poison_ttl"`
}

// Database configures PostgreSQL.
type Database struct {
	URL string `yaml:"url"`
	// AutoMigrate applies pending migrations at start.
	AutoMigrate bool `yaml:"auto_migrate"`
}

// SQL configures the SQL transport.
type SQL struct {
	PollInterval time.Duration `yaml:"poll_interval"`
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

// SMTP configures the email channel; an empty Addr means the capture channel.
type SMTP struct {
	Addr     string `yaml:"addr"`
	From     string `yaml:"from"`
	TLS      string `yaml:"tls"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// SMS configures the SMS gateway; an empty URL means the capture channel.
type SMS struct {
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
}

// Templates configures where templates load from; an empty Dir means the
// templates built into the binary.
type Templates struct {
	Dir string `yaml:"dir"`
}

// Preferences holds the defaults users start with.
type Preferences struct {
	Channels           map[string]bool `yaml:"channels"`
	Types              map[string]bool `yaml:"types"`
	DefaultTypeEnabled bool            `yaml:"default_type_enabled"`
	Mandatory          []string        `yaml:"mandatory"`
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
}

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
// and the environment (getenv, usually os.Getenv), validated.
func Load(getenv func(string) string) (Config, error) {
	c, err := LoadUnvalidated(getenv)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadUnvalidated is Load without Validate, for commands that need only a
// part of the configuration (migrate needs only the database).
func LoadUnvalidated(getenv func(string) string) (Config, error) {
	c, err := Default()
	if err != nil {
		return Config{}, err
	}
	if path := getenv("NOTIFIER_CONFIG"); path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read NOTIFIER_CONFIG: %w", err)
		}
		if err := decode(raw, &c); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return Config{}, err
	}
	return c, nil
}

func decode(raw []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	set := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set("NOTIFIER_HTTP_ADDR", &c.HTTP.Addr)
	set("NOTIFIER_TRANSPORT", &c.Transport)
	set("NOTIFIER_AMQP_URL", &c.AMQP.URL)
	set("NOTIFIER_DATABASE_URL", &c.Database.URL)
	set("NOTIFIER_AMQP_PREFIX", &c.AMQP.Prefix)
	if v := getenv("NOTIFIER_AUTO_MIGRATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("NOTIFIER_AUTO_MIGRATE: %w", err)
		}
		c.Database.AutoMigrate = b
	}
	set("NOTIFIER_SMTP_ADDR", &c.SMTP.Addr)
	set("NOTIFIER_SMTP_FROM", &c.SMTP.From)
	set("NOTIFIER_SMTP_TLS", &c.SMTP.TLS)
	set("NOTIFIER_SMTP_USERNAME", &c.SMTP.Username)
	set("NOTIFIER_SMTP_PASSWORD", &c.SMTP.Password)
	set("NOTIFIER_SMS_URL", &c.SMS.URL)
	set("NOTIFIER_API_TOKENS", &c.API.Tokens)
	set("NOTIFIER_TEMPLATES_DIR", &c.Templates.Dir)
	set("NOTIFIER_LOG_LEVEL", &c.Log.Level)
	set("NOTIFIER_LOG_FORMAT", &c.Log.Format)
	set("NOTIFIER_PPROF_ADDR", &c.Debug.PprofAddr)
	if v := getenv("NOTIFIER_EXCHANGES"); v != "" {
		c.AMQP.Exchanges = splitList(v)
	}
	if v := getenv("NOTIFIER_DEMO_DIRECTORY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("NOTIFIER_DEMO_DIRECTORY: %w", err)
		}
		c.Directory.Demo = b
	}
	if v := getenv("NOTIFIER_DIRECTORY_PAGE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("NOTIFIER_DIRECTORY_PAGE_SIZE: %w", err)
		}
		c.Directory.PageSize = n
	}
	if v := getenv("NOTIFIER_UPSTREAMS"); v != "" {
		ups, err := upstream.ParseUpstreams(v)
		if err != nil {
			return fmt.Errorf("NOTIFIER_UPSTREAMS: %w", err)
		}
		c.Upstreams = ups
	}
	return nil
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

// DevTokens are the tokens of the default configuration, refused outside
// the memory transport.
const DevTokens = "admin:dev-admin-token,manager:dev-manager-token,service:dev-service-token"

// Validate fails closed: it names every setting that is missing or wrong.
func (c Config) Validate() error {
	var errs []error
	switch c.Transport {
	case TransportMemory:
		if c.Database.URL != "" {
			errs = append(errs, errors.New("NOTIFIER_DATABASE_URL: the memory transport keeps state in memory; use NOTIFIER_TRANSPORT=amqp or sql with a database"))
		}
	case TransportAMQP:
		if c.AMQP.URL == "" {
			errs = append(errs, errors.New("NOTIFIER_AMQP_URL: required with NOTIFIER_TRANSPORT=amqp"))
		}
		if c.Database.URL == "" {
			errs = append(errs, errors.New("NOTIFIER_DATABASE_URL: required with NOTIFIER_TRANSPORT=amqp"))
		}
		if c.AMQP.PublishChannels < 1 || c.AMQP.Prefetch < 1 || c.AMQP.HandlerConcurrency < 1 {
			errs = append(errs, errors.New("amqp.publish_channels, amqp.prefetch and amqp.handler_concurrency: must be at least 1"))
		}
	case TransportSQL:
		if c.Database.URL == "" {
			errs = append(errs, errors.New("NOTIFIER_DATABASE_URL: required with NOTIFIER_TRANSPORT=sql"))
		}
	default:
		errs = append(errs, fmt.Errorf("NOTIFIER_TRANSPORT: unknown transport %q (memory, amqp, sql)", c.Transport))
	}
	if c.Transport != TransportMemory && len(c.Upstreams) == 0 && !c.Directory.Demo {
		errs = append(errs, errors.New("NOTIFIER_UPSTREAMS: required outside the memory transport (or NOTIFIER_DEMO_DIRECTORY=true to try the demo directory)"))
	}
	if c.Transport != TransportMemory && c.API.Tokens == DevTokens {
		errs = append(errs, errors.New("NOTIFIER_API_TOKENS: the development tokens are refused outside the memory transport"))
	}
	if c.API.Tokens == "" {
		errs = append(errs, errors.New("NOTIFIER_API_TOKENS: at least one token is required"))
	}
	if c.HTTP.Addr == "" {
		errs = append(errs, errors.New("NOTIFIER_HTTP_ADDR: empty"))
	}
	if c.Directory.PageSize < 1 || c.Directory.PageSize > 5000 {
		errs = append(errs, fmt.Errorf("directory.page_size: %d is outside 1..5000", c.Directory.PageSize))
	}
	switch c.SMTP.TLS {
	case "none", "starttls", "tls":
	default:
		errs = append(errs, fmt.Errorf("NOTIFIER_SMTP_TLS: %q is not none, starttls or tls", c.SMTP.TLS))
	}
	if c.SMTP.Addr != "" && c.SMTP.From == "" {
		errs = append(errs, errors.New("NOTIFIER_SMTP_FROM: required with NOTIFIER_SMTP_ADDR"))
	}
	if c.Delivery.MaxAttempts < 1 {
		errs = append(errs, errors.New("delivery.max_attempts: must be at least 1"))
	}
	for name, f := range c.Intake.Flows {
		if f.NotificationType == "" || f.Template == "" || f.Receivers == "" || len(f.Channels) == 0 {
			errs = append(errs, fmt.Errorf("intake.flows.%s: notification_type, template, channels and receivers are required", name))
		}
	}
	return errors.Join(errs...)
}

// UsesDemoDirectory reports whether the demo directory answers for the
// hosts NOTIFIER_UPSTREAMS does not name.
func (c Config) UsesDemoDirectory() bool {
	return c.Transport == TransportMemory || c.Directory.Demo
}
