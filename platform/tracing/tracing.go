// Package tracing sets up OpenTelemetry traces: the tracer provider (off
// unless the standard OTEL_* variables ask for an OTLP/HTTP exporter), the
// W3C trace context carried in HTTP headers and in Watermill metadata
// ("traceparent", "tracestate"), and the attributes Notifier's spans share.
//
// Off, nothing is traced and nothing is propagated: Provider.Enabled is
// false and every caller skips its spans altogether, so that tracing costs
// nothing when it is not wanted.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is the service.name of Notifier's spans when
// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) does not
// name another.
const DefaultServiceName = "notifier"

// The environment variables Settings reads; the OTLP exporter reads the
// other OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression,
// certificates) itself.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvExporter       = "OTEL_TRACES_EXPORTER"
	EnvSampler        = "OTEL_TRACES_SAMPLER"
	EnvSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
)

// Settings say whether and how to trace.
type Settings struct {
	// Export turns tracing on with the OTLP/HTTP exporter, configured by
	// the OTEL_EXPORTER_OTLP_* variables.
	Export bool
	// Sampler decides which traces are recorded; nil means the SDK's
	// default, parentbased_always_on (every trace).
	Sampler sdktrace.Sampler
	// Version is the service.version of the spans.
	Version string
}

// FromEnv reads the settings from the standard variables: tracing is on
// when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
// set, or OTEL_TRACES_EXPORTER is "otlp" (to localhost:4318 unless an
// endpoint is set); OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true
// turn it off whatever else is set. OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG pick the sampler as the specification says. It
// returns an error naming each variable whose value cannot be used: an
// exporter other than otlp or none, a protocol other than OTLP/HTTP, an
// endpoint that is not an http(s) URL, an unknown sampler or a ratio
// outside [0, 1].
func FromEnv(getenv func(string) string) (Settings, error) {
	var s Settings
	var errs []error
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }

	exporter := strings.ToLower(get(EnvExporter))
	switch exporter {
	case "", "otlp", "none":
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not supported (otlp or none)", EnvExporter, exporter))
	}
	for _, name := range []string{EnvEndpoint, EnvTracesEndpoint} {
		v := get(name)
		if v == "" {
			continue
		}
		if err := checkEndpoint(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		s.Export = true
	}
	for _, name := range []string{EnvProtocol, EnvTracesProtocol} {
		switch v := strings.ToLower(get(name)); v {
		case "", "http/protobuf", "http/json":
		default:
			errs = append(errs, fmt.Errorf("%s: %q is not supported (http/protobuf or http/json: Notifier exports over OTLP/HTTP)", name, v))
		}
	}
	if exporter == "otlp" {
		s.Export = true
	}
	disabled := false
	if v := get(EnvSDKDisabled); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", EnvSDKDisabled, v))
		}
		disabled = b
	}
	if exporter == "none" || disabled {
		s.Export = false
	}
	sampler, err := samplerFrom(get(EnvSampler), get(EnvSamplerArg))
	if err != nil {
		errs = append(errs, err)
	}
	s.Sampler = sampler
	return s, errors.Join(errs...)
}

func checkEndpoint(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("%q is not a URL", v)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", v)
	}
	return nil
}

// samplerFrom returns the sampler OTEL_TRACES_SAMPLER names (nil for the
// default), with OTEL_TRACES_SAMPLER_ARG as its ratio.
func samplerFrom(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (sdktrace.Sampler, error) {
		if arg == "" {
			return sdktrace.TraceIDRatioBased(1), nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("%s: %q is not a ratio from 0 to 1", EnvSamplerArg, arg)
		}
		return sdktrace.TraceIDRatioBased(r), nil
	}
	switch strings.ToLower(name) {
	case "":
		return nil, nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return ratio()
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(r), nil
	}
	return nil, fmt.Errorf("%s: %q is not a sampler (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)", EnvSampler, name)
}

// Option changes what New builds.
type Option func(*options)

type options struct {
	processors []sdktrace.SpanProcessor
}

// WithSpanProcessor turns tracing on with p receiving every span, beside
// the OTLP exporter when Settings.Export is set too: tests pass
// tracetest.NewSpanRecorder().
func WithSpanProcessor(p sdktrace.SpanProcessor) Option {
	return func(o *options) { o.processors = append(o.processors, p) }
}

// Provider is the application's tracer provider.
type Provider struct {
	tp  trace.TracerProvider
	sdk *sdktrace.TracerProvider // nil when off
}

// Off returns a Provider that traces nothing.
func Off() *Provider { return &Provider{tp: noop.NewTracerProvider()} }

// New returns the Provider the settings ask for: off (Off) unless
// s.Export is set or a span processor is given. On, its spans carry the
// resource attributes service.name (DefaultServiceName, or
// OTEL_SERVICE_NAME), service.version and those of OTEL_RESOURCE_ATTRIBUTES,
// and the OTLP exporter sends them in batches (BatchSpanProcessor, tuned by
// the OTEL_BSP_* variables). Nothing is connected at New: an unreachable
// collector only loses spans, logged by the SDK.
func New(ctx context.Context, s Settings, opts ...Option) (*Provider, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if !s.Export && len(o.processors) == 0 {
		return Off(), nil
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", DefaultServiceName)}
	if s.Version != "" {
		attrs = append(attrs, attribute.String("service.version", s.Version))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME: last, so they win
	)
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if s.Sampler != nil {
		tpOpts = append(tpOpts, sdktrace.WithSampler(s.Sampler))
	}
	if s.Export {
		exporter, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exporter))
	}
	for _, p := range o.processors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(p))
	}
	sdk := sdktrace.NewTracerProvider(tpOpts...)
	return &Provider{tp: sdk, sdk: sdk}, nil
}

// Enabled reports whether spans are recorded. Callers start no span and
// propagate nothing when it is false. A nil Provider is off.
func (p *Provider) Enabled() bool { return p != nil && p.sdk != nil }

// Tracer returns the tracer of an instrumentation scope, such as
// "github.com/notifier/notifier/platform/httpapi"; a no-op tracer when off.
func (p *Provider) Tracer(scope string) trace.Tracer {
	if !p.Enabled() {
		return noop.NewTracerProvider().Tracer(scope)
	}
	return p.tp.Tracer(scope)
}

// TracerProvider returns the OpenTelemetry provider (a no-op one when off).
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return noop.NewTracerProvider()
	}
	return p.tp
}

// shutdownTimeout bounds Shutdown when ctx has no deadline.
const shutdownTimeout = 5 * time.Second

// Shutdown exports the spans still buffered and stops the exporter; it
// does nothing when off. Spans ended after it are dropped.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, shutdownTimeout)
		defer cancel()
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}
