package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/notifier/notifier/platform/tracing"
)

// Defaults applied by NewServer to a zero Config field.
const (
	DefaultAddr         = ":8080"
	DefaultMaxBodyBytes = 1 << 20
	DefaultTitle        = "Notifier API"
	DefaultVersion      = "dev"
	DefaultReadTimeout  = 30 * time.Second
	DefaultWriteTimeout = 60 * time.Second
	DefaultIdleTimeout  = 2 * time.Minute
)

// readHeaderTimeout bounds reading a request's headers (or the whole
// ReadTimeout when that is shorter): a client that trickles its headers
// never reaches a handler.
const readHeaderTimeout = 10 * time.Second

// Config configures a Server.
type Config struct {
	// Addr is the listen address; ":0" picks a free port. Default ":8080".
	Addr string
	// MaxBodyBytes caps the request body of every operation: a body of
	// MaxBodyBytes bytes or more is refused with 413 (Huma's rule). An
	// operation may ask for a smaller cap through Operation.MaxBodyBytes,
	// never a larger one. Default 1 MiB.
	MaxBodyBytes int64
	// Tokens lists the bearer tokens in the NOTIFIER_API_TOKENS format,
	// "role:token,…"; see ParseTokens. Empty (and no UserTokens) means
	// every secured operation answers 401.
	Tokens string
	// UserTokens, when set, verifies a bearer that is not one of Tokens as
	// a user's own token (a JWT); the operations secured with OrSelf
	// accept it for that user. Nil: only Tokens are accepted.
	UserTokens UserTokenVerifier
	// Title and Version describe the API in the OpenAPI document.
	Title, Version string
	// ReadTimeout bounds reading a whole request, body included, from the
	// moment the connection is accepted or its previous request ended: a
	// client sending its body too slowly is cut off. Default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its response. It applies to every response: a long one (a future
	// server-sent events stream) must extend its own deadline with
	// http.ResponseController.SetWriteDeadline. Default 60s.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection waits for its next
	// request before the server closes it. Default 2m.
	IdleTimeout time.Duration
	// Metrics, when set, is served by GET /metrics next to Prometheus'
	// global registry (the request and handler counters, Go and process
	// metrics): the registry of the application's own metrics.
	Metrics prometheus.Gatherer
	// Tracing, when on, gives every request but the probes and the scrape
	// a server span, a child of the W3C trace context of its headers
	// (traceparent), in the context its handler sees. Nil is off.
	Tracing *tracing.Provider
}

// withDefaults fills in the zero fields of c.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Title == "" {
		c.Title = DefaultTitle
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Server is Notifier's HTTP server: a Huma API on the standard library mux
// with auth, problem+json errors, a body cap, probes, metrics and an access
// log. Modules register operations on API and raw routes with Handle, before
// Start. A Server is started at most once.
type Server struct {
	cfg        Config
	logger     *slog.Logger
	mux        *http.ServeMux
	api        huma.API
	tokens     *tokenSet
	userTokens UserTokenVerifier // nil: users' tokens are refused
	metrics    *metrics
	tracer     trace.Tracer // nil: no spans
	handler    http.Handler
	srv        *http.Server

	checksMu         sync.Mutex
	checks           []readinessCheck
	readinessTimeout time.Duration

	mu       sync.Mutex
	listener net.Listener
	served   chan struct{}
	stopped  bool
	// stopping is closed when Stop begins (see Stopping).
	stopping chan struct{}
}

// NewServer builds a Server from cfg. It returns an error if logger is nil,
// cfg.MaxBodyBytes or a timeout is negative or cfg.Tokens does not parse. It registers
// GET /healthz, GET /readyz, GET /metrics, /openapi.json and /docs.
func NewServer(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		return nil, errors.New("new http server: nil logger")
	}
	cfg = cfg.withDefaults()
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("new http server: negative max body bytes %d", cfg.MaxBodyBytes)
	}
	if cfg.ReadTimeout < 0 || cfg.WriteTimeout < 0 || cfg.IdleTimeout < 0 {
		return nil, errors.New("new http server: negative timeout")
	}
	tokens, err := ParseTokens(cfg.Tokens)
	if err != nil {
		return nil, fmt.Errorf("new http server: %w", err)
	}
	m, err := newMetrics(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("new http server: %w", err)
	}
	switch {
	case len(tokens) == 0 && cfg.UserTokens == nil:
		logger.Warn("no api tokens configured: every secured operation will answer 401")
	case len(tokens) == 0:
		logger.Warn("no api tokens configured: only users' own tokens will be accepted")
	}

	s := &Server{
		cfg:        cfg,
		logger:     logger,
		mux:        http.NewServeMux(),
		tokens:     newTokenSet(tokens),
		userTokens: cfg.UserTokens,
		metrics:    m,

		readinessTimeout: ReadinessTimeout,
		stopping:         make(chan struct{}),
	}
	if cfg.Tracing.Enabled() {
		s.tracer = cfg.Tracing.Tracer(tracerScope)
	}

	hcfg := huma.DefaultConfig(cfg.Title, cfg.Version)
	// No $schema links in bodies: responses keep exactly their documented shape.
	hcfg.CreateHooks = nil
	// Unknown body properties are rejected (422) and every field without
	// omitempty is required; these are Huma's defaults, pinned here.
	hcfg.AllowAdditionalPropertiesByDefault = false
	hcfg.FieldsOptionalByDefault = false
	hcfg.Transformers = append(hcfg.Transformers, nameMissingFields, s.hideInternalErrors)
	hcfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {
			Type:        "http",
			Scheme:      "bearer",
			Description: bearerDescription,
		},
	}
	hcfg.OnAddOperation = append(hcfg.OnAddOperation, documentAuthErrors)
	s.api = huma.NewAPI(hcfg, &capAdapter{Adapter: humago.NewAdapter(s.mux, ""), maxBodyBytes: cfg.MaxBodyBytes, readTimeout: cfg.ReadTimeout})
	s.api.UseMiddleware(s.authMiddleware)

	s.registerHealth()
	s.Handle("GET /metrics", metricsHandler(cfg.Metrics))

	s.handler = http.HandlerFunc(s.serveHTTP)
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: min(readHeaderTimeout, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), stoppingKey{}, (<-chan struct{})(s.stopping))
		},
	}
	s.srv.RegisterOnShutdown(func() { close(s.stopping) })
	return s, nil
}

// metricsHandler serves Prometheus' global registry and, when set, the
// application's own.
func metricsHandler(own prometheus.Gatherer) http.Handler {
	if own == nil {
		return promhttp.Handler()
	}
	return promhttp.InstrumentMetricHandler(prometheus.DefaultRegisterer,
		promhttp.HandlerFor(prometheus.Gatherers{prometheus.DefaultGatherer, own}, promhttp.HandlerOpts{}))
}

// API returns the Huma API modules register their operations on.
func (s *Server) API() huma.API { return s.api }

// Handle registers a raw handler for a ServeMux pattern such as
// "GET /metrics". It panics, like http.ServeMux.Handle, if the pattern is
// invalid or conflicts with a registered one. Raw routes get the access log,
// metrics, panic recovery and the body cap, but no auth.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the server's complete handler, for httptest and
// in-process use.
func (s *Server) Handler() http.Handler { return s.handler }

// Start binds the listener on the configured address and serves in a
// goroutine; it returns once the listener is bound, or with the listen error.
// It fails if the server was already started.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return errors.New("start http server: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("start http server: %w", err)
	}
	s.listener = ln
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "error", err)
		}
	}()
	s.logger.Info("http api listening", "addr", ln.Addr().String(), "docs", "http://"+docsHost(ln.Addr())+"/docs")
	return nil
}

// docsHost renders a bound address as a host a browser can open.
func docsHost(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	return addr.String()
}

// Addr returns the address the server is bound to, such as
// "127.0.0.1:43123", or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Stop shuts the server down gracefully, waiting for in-flight requests until
// ctx is done; then it closes the remaining connections and returns ctx's
// error. Stopping a server that was never started, or stopping it again,
// does nothing.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.listener == nil || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	served := s.served
	s.mu.Unlock()

	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("stop http server: %w", err)
	}
	<-served
	return err
}

// capAdapter applies the server's body cap and read timeout to every
// operation, whatever registers it, and records the operation ID for the
// access log and metrics.
type capAdapter struct {
	huma.Adapter
	maxBodyBytes int64
	readTimeout  time.Duration
}

// humaDefaultMaxBody is the value Huma puts in an operation that did not set
// MaxBodyBytes; it cannot be told apart from an explicit 1 MiB.
const humaDefaultMaxBody = 1 << 20

// humaDefaultBodyReadTimeout is the value Huma puts in an operation with a
// body that did not set BodyReadTimeout.
const humaDefaultBodyReadTimeout = 5 * time.Second

// Handle caps op.MaxBodyBytes at the server's limit: an unset, Huma-default,
// unlimited (negative) or larger value becomes the limit; a smaller one
// stays. op.BodyReadTimeout follows the same rule with the server's read
// timeout: Huma replaces the connection's read deadline by it when the
// operation starts reading its body, so without this the server's
// ReadTimeout would not apply to API bodies.
func (a *capAdapter) Handle(op *huma.Operation, handler func(huma.Context)) {
	if op.MaxBodyBytes <= 0 || op.MaxBodyBytes == humaDefaultMaxBody || op.MaxBodyBytes > a.maxBodyBytes {
		op.MaxBodyBytes = a.maxBodyBytes
	}
	if op.BodyReadTimeout != 0 && (op.BodyReadTimeout < 0 || op.BodyReadTimeout == humaDefaultBodyReadTimeout || op.BodyReadTimeout > a.readTimeout) {
		op.BodyReadTimeout = a.readTimeout
	}
	a.Adapter.Handle(op, func(ctx huma.Context) {
		if info, ok := ctx.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			info.operation = ctx.Operation().OperationID
		}
		handler(ctx)
	})
}

type stoppingKey struct{}

// Stopping returns a channel that is closed when the server serving the
// request of ctx begins to shut down. A long-lived response, such as an
// event stream, ends when it closes, so that the graceful shutdown (which
// waits for every request) does not wait for it until its deadline. It
// returns nil, a channel never closed, for a context of no server request.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return ch
}
