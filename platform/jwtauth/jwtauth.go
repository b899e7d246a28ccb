// Package jwtauth verifies the JSON Web Tokens the auth service issues to
// users: signed with an HS256 secret, or with a key of a JWK Set fetched from
// a URL (cached, refreshed, and refetched when a token names a key it does
// not know), with the expiry, the issuer and the audience checked and a
// little clock skew allowed. A valid token yields its subject, the user id.
//
// The algorithms are tied to where the key comes from, so that no token can
// pick its own kind of key: HS256 is verified only with the secret, the
// asymmetric algorithms (RS*, PS*, ES*, EdDSA) only with the JWK Set, and
// "none" never. Parsing and verification are github.com/golang-jwt/jwt/v5's;
// the JWK Set is github.com/MicahParks/keyfunc/v3's.
//
// The package never logs a token, and the errors Verify returns never hold
// one.
package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// MinSecretLength is the shortest HS256 secret New accepts, in bytes: as
// long as the hash (RFC 7518, section 3.2).
const MinSecretLength = 32

// MaxLeeway is the largest clock skew New accepts.
const MaxLeeway = 5 * time.Minute

// MaxTokenLength is the longest token Verify parses; a longer one is
// refused as malformed without being decoded.
const MaxTokenLength = 8 << 10

// Defaults applied by New to a zero Config field.
const (
	DefaultRefreshInterval           = time.Hour
	DefaultUnknownKeyRefreshInterval = time.Minute
	DefaultFetchTimeout              = 10 * time.Second
	// DefaultMaxRetryInterval bounds the wait between two tries to load the
	// JWK Set the first time (the waits double from one second).
	DefaultMaxRetryInterval = time.Minute
)

// hmacAlg is the only symmetric algorithm accepted, and only with the secret.
const hmacAlg = "HS256"

// asymmetricAlgs are accepted only with a key of the JWK Set.
var asymmetricAlgs = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Why Verify refused a token. Their messages are safe to show the caller and
// to log: they never hold the token or its claims.
var (
	ErrMalformed     = errors.New("the token is not a well-formed JWT")
	ErrAlgorithm     = errors.New("the token's signing algorithm is not accepted")
	ErrSignature     = errors.New("the token's signature does not verify")
	ErrUnknownKey    = errors.New("the token is signed with an unknown key")
	ErrKeysNotLoaded = errors.New("the signing keys are not loaded yet")
	ErrExpired       = errors.New("the token has expired")
	ErrNotYetValid   = errors.New("the token is not valid yet")
	ErrIssuer        = errors.New("the token has the wrong issuer")
	ErrAudience      = errors.New("the token has the wrong audience")
	ErrMissingClaim  = errors.New("the token lacks a required claim (exp, iss and aud are required)")
	ErrNoSubject     = errors.New("the token has no subject (sub)")
)

// Config configures a Verifier. At least one of JWKSURL and Secret is
// required, and so are Issuer and Audience.
type Config struct {
	// JWKSURL is where the auth service publishes its public keys, a JWK
	// Set; tokens signed with an asymmetric algorithm are verified against
	// them. Empty: such tokens are refused.
	JWKSURL string
	// Secret is the HS256 key, at least MinSecretLength bytes. Empty:
	// HS256 tokens are refused.
	Secret string
	// Issuer is the iss every token must have.
	Issuer string
	// Audience must be in every token's aud.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat, at most
	// MaxLeeway.
	Leeway time.Duration
	// RefreshInterval is how often the JWK Set is fetched again once
	// loaded. Default DefaultRefreshInterval.
	RefreshInterval time.Duration
	// UnknownKeyRefreshInterval is the least time between two fetches
	// caused by tokens naming a key (kid) the set does not hold. Default
	// DefaultUnknownKeyRefreshInterval.
	UnknownKeyRefreshInterval time.Duration
	// FetchTimeout bounds one fetch of the JWK Set. Default
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// MaxRetryInterval bounds the wait between two tries to load the JWK
	// Set the first time (the waits double from one second, or from
	// MaxRetryInterval if that is shorter). Default
	// DefaultMaxRetryInterval.
	MaxRetryInterval time.Duration
	// Client fetches the JWK Set. Default: a client of its own.
	Client *http.Client
	// Now tells the time tokens are judged at. Default time.Now.
	Now func() time.Time
}

// withDefaults fills in the zero fields of c.
func (c Config) withDefaults() Config {
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.UnknownKeyRefreshInterval <= 0 {
		c.UnknownKeyRefreshInterval = DefaultUnknownKeyRefreshInterval
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.MaxRetryInterval <= 0 {
		c.MaxRetryInterval = DefaultMaxRetryInterval
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Verifier verifies users' tokens. It is safe for concurrent use. With a
// JWK Set it verifies asymmetric tokens only once Start has loaded the
// set; until then they are refused with ErrKeysNotLoaded.
type Verifier struct {
	cfg     Config
	logger  *slog.Logger
	secret  []byte
	methods []string
	parser  *jwt.Parser

	keys   atomic.Pointer[keyfunc.Keyfunc]
	loaded chan struct{}

	startOnce sync.Once
	closeOnce sync.Once
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	// stopRefresh stops keyfunc's refreshing once the set has loaded
	// (written by load before done is closed, read by Close after).
	stopRefresh context.CancelFunc
}

// New returns a Verifier for cfg. It returns an error if logger is nil, if
// neither cfg.JWKSURL nor cfg.Secret is set, if cfg.Issuer or cfg.Audience
// is empty, if cfg.Secret is shorter than MinSecretLength, if cfg.Leeway
// is negative or over MaxLeeway, or if cfg.JWKSURL is not an http(s) URL.
// It fetches nothing: Start does.
func New(cfg Config, logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		return nil, errors.New("new jwt verifier: nil logger")
	}
	switch {
	case cfg.JWKSURL == "" && cfg.Secret == "":
		return nil, errors.New("new jwt verifier: a jwks url or a secret is required")
	case cfg.Issuer == "":
		return nil, errors.New("new jwt verifier: an issuer is required")
	case cfg.Audience == "":
		return nil, errors.New("new jwt verifier: an audience is required")
	case cfg.Secret != "" && len(cfg.Secret) < MinSecretLength:
		return nil, fmt.Errorf("new jwt verifier: secret shorter than %d bytes", MinSecretLength)
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("new jwt verifier: leeway %s outside 0s..%s", cfg.Leeway, MaxLeeway)
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("new jwt verifier: the jwks url is not an absolute http(s) url")
		}
	}
	cfg = cfg.withDefaults()

	v := &Verifier{cfg: cfg, logger: logger, loaded: make(chan struct{}), done: make(chan struct{})}
	if cfg.Secret != "" {
		v.secret = []byte(cfg.Secret)
		v.methods = append(v.methods, hmacAlg)
	}
	if cfg.JWKSURL != "" {
		v.methods = append(v.methods, asymmetricAlgs...)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.methods),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	)
	v.ctx, v.cancel = context.WithCancel(context.Background())
	return v, nil
}

// Start begins loading the JWK Set in the background and returns at once:
// the service starts even when the set cannot be fetched. A failure is
// logged and tried again, the waits doubling from a second up to
// MaxRetryInterval; once loaded, the set is fetched again every
// RefreshInterval, and when a token names an unknown key (at most once per
// UnknownKeyRefreshInterval). Without a JWKS URL, or after Close, it does
// nothing; a second call does nothing.
func (v *Verifier) Start() {
	v.startOnce.Do(func() {
		if v.cfg.JWKSURL == "" || v.ctx.Err() != nil {
			close(v.done)
			return
		}
		go v.load()
	})
}

// Close stops fetching the JWK Set and waits for a fetch in progress to end.
// Tokens already loaded keep verifying.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		v.cancel()
		v.Start() // marks a Verifier never started as done
		<-v.done
		if v.stopRefresh != nil {
			v.stopRefresh()
		}
	})
}

// Loaded is closed once the JWK Set has been loaded the first time.
func (v *Verifier) Loaded() <-chan struct{} { return v.loaded }

// load tries to load the JWK Set until it succeeds or Close is called.
func (v *Verifier) load() {
	defer close(v.done)
	source := redacted(v.cfg.JWKSURL)
	wait := min(time.Second, v.cfg.MaxRetryInterval)
	for {
		kf, stop, err := v.fetch()
		if err == nil {
			v.stopRefresh = stop
			v.keys.Store(&kf)
			close(v.loaded)
			v.logger.Info("jwks loaded: users' tokens signed with its keys are accepted", "jwks_url", source)
			return
		}
		if v.ctx.Err() != nil {
			return
		}
		v.logger.Warn("jwks cannot be loaded: users' tokens signed with its keys are refused until it is",
			"jwks_url", source, "error", describe(err, v.cfg.JWKSURL), "retry_in", wait)
		select {
		case <-v.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, v.cfg.MaxRetryInterval)
	}
}

// fetch loads the JWK Set once, and leaves keyfunc refreshing it until
// Close. A set that fails to load leaves nothing running.
// The returned cancel stops the refreshing; Close's cancelling of v.ctx
// stops it too.
func (v *Verifier) fetch() (keyfunc.Keyfunc, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(v.ctx)
	noErrorFirst := false
	source := redacted(v.cfg.JWKSURL)
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{v.cfg.JWKSURL}, keyfunc.Override{
		Client:                    v.cfg.Client,
		HTTPTimeout:               v.cfg.FetchTimeout,
		NoErrorReturnFirstHTTPReq: &noErrorFirst,
		// A request naming an unknown key waits at most this long for the
		// rate limiter (and for the fetch it then makes); while the limiter
		// is spent, it is refused at once.
		RateLimitWaitMax:  v.cfg.FetchTimeout,
		RefreshInterval:   v.cfg.RefreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(v.cfg.UnknownKeyRefreshInterval), 1),
		RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				if v.ctx.Err() == nil {
					v.logger.WarnContext(ctx, "jwks refresh failed: the keys loaded before stay in use",
						"jwks_url", source, "error", describe(err, v.cfg.JWKSURL))
				}
			}
		},
	})
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("load jwks: %w", err)
	}
	// Keys meant for encryption never verify a signature; keys without a
	// "use" are taken for signing, as most sets leave it out.
	kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: kf.Storage(), UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("load jwks: %w", err)
	}
	return kf, cancel, nil
}

// Verify checks token and returns its subject, the user id. The token
// must be signed with an accepted algorithm and key, be within its nbf
// and exp (both with the leeway; exp is required) and not issued in the
// future, have the configured iss, list the configured audience in aud and
// name a sub. Its error is one of the Err variables of this package
// (errors.Is); its message never holds the token.
func (v *Verifier) Verify(ctx context.Context, token string) (string, error) {
	if len(token) > MaxTokenLength {
		return "", ErrMalformed
	}
	var claims jwt.RegisteredClaims
	parsed, err := v.parser.ParseWithClaims(token, &claims, v.keyFor(ctx))
	if err != nil {
		return "", v.reason(parsed, err)
	}
	if claims.Subject == "" {
		return "", ErrNoSubject
	}
	return claims.Subject, nil
}

// keyFor returns the key that may verify a token: the secret for HS256, a
// key of the JWK Set for an asymmetric algorithm, nothing otherwise.
func (v *Verifier) keyFor(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		switch {
		case alg == hmacAlg && v.secret != nil:
			return v.secret, nil
		case slices.Contains(asymmetricAlgs, alg) && v.cfg.JWKSURL != "":
			kf := v.keys.Load()
			if kf == nil {
				return nil, ErrKeysNotLoaded
			}
			key, err := (*kf).KeyfuncCtx(ctx)(t)
			if err != nil {
				return nil, ErrUnknownKey
			}
			return key, nil
		default:
			return nil, ErrAlgorithm
		}
	}
}

// reason maps a parse error of golang-jwt to the package's own, safe
// error.
func (v *Verifier) reason(t *jwt.Token, err error) error {
	for _, own := range []error{ErrKeysNotLoaded, ErrUnknownKey, ErrAlgorithm} {
		if errors.Is(err, own) {
			return own
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t == nil || t.Method == nil || !slices.Contains(v.methods, t.Method.Alg()) {
			return ErrAlgorithm
		}
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing or unknown, or an empty key set (an unknown key).
		if t != nil && t.Method != nil && slices.Contains(v.methods, t.Method.Alg()) {
			return ErrUnknownKey
		}
		return ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrMissingClaim
	default:
		return ErrMalformed
	}
}

// describe says why fetching the JWK Set at rawURL failed without
// repeating the URL, which may hold a password or a key in its query: a
// request that failed is named by its method and cause, anything else
// by its message with the URL taken out.
func describe(err error, rawURL string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	msg := strings.ReplaceAll(err.Error(), strconv.Quote(rawURL), "the jwks url")
	return strings.ReplaceAll(msg, rawURL, "the jwks url")
}

// redacted is a URL fit for the log: without its password or query.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.RawQuery, u.Fragment = "", ""
	return u.Redacted()
}
