package jwtauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/platform/jwtauth"
	"github.com/notifier/notifier/platform/jwtauth/jwtauthtest"
)

const (
	issuer   = "https://auth.cinema.example"
	audience = "notifier"
	user     = "3f1c2a9e-7b1d-4a55-9a8e-0c4b9d2f6e11"
	secret   = "0123456789abcdef0123456789abcdef-test"
)

var now = time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)

// syncBuffer is a log sink safe to read while a verifier writes to it.
type syncBuffer = testenv.SyncBuffer

// newVerifier builds a started verifier of cfg (issuer, audience, a 30s
// leeway and the fixed clock filled in) and returns it with its log.
func newVerifier(t *testing.T, cfg jwtauth.Config) (*jwtauth.Verifier, *syncBuffer) {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = issuer
	}
	if cfg.Audience == "" {
		cfg.Audience = audience
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	logs := &syncBuffer{}
	v, err := jwtauth.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	v.Start()
	t.Cleanup(v.Close)
	return v, logs
}

// waitLoaded waits for the verifier's JWK Set.
func waitLoaded(t *testing.T, v *jwtauth.Verifier) {
	t.Helper()
	select {
	case <-v.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("the jwks did not load")
	}
}

func claims(edit func(jwtauthtest.Claims)) jwtauthtest.Claims {
	c := jwtauthtest.ValidClaims(issuer, audience, user, now)
	if edit != nil {
		edit(c)
	}
	return c
}

func TestAnHS256TokenYieldsItsSubject(t *testing.T) {
	t.Parallel()
	v, _ := newVerifier(t, jwtauth.Config{Secret: secret})

	sub, err := v.Verify(t.Context(), jwtauthtest.SignHS256(t, []byte(secret), claims(nil)))
	require.NoError(t, err)
	assert.Equal(t, user, sub)

	listed := claims(func(c jwtauthtest.Claims) { c["aud"] = []string{"console", audience} })
	sub, err = v.Verify(t.Context(), jwtauthtest.SignHS256(t, []byte(secret), listed))
	require.NoError(t, err, "the audience may be one of a list")
	assert.Equal(t, user, sub)
}

func TestHS256TokensAreRefusedForEachReason(t *testing.T) {
	t.Parallel()
	v, logs := newVerifier(t, jwtauth.Config{Secret: secret})
	sign := func(edit func(jwtauthtest.Claims)) string {
		return jwtauthtest.SignHS256(t, []byte(secret), claims(edit))
	}
	valid := sign(nil)
	header, payload, _ := strings.Cut(valid, ".")
	payload, sig, _ := strings.Cut(payload, ".")
	other := jwtauthtest.SignHS256(t, []byte(secret), jwtauthtest.ValidClaims(issuer, audience, "someone-else", now))
	_, otherPayload, _ := strings.Cut(other, ".")
	otherPayload, _, _ = strings.Cut(otherPayload, ".")

	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"expired", sign(func(c jwtauthtest.Claims) { c["exp"] = now.Add(-time.Minute).Unix() }), jwtauth.ErrExpired},
		{"not yet valid beyond the leeway", sign(func(c jwtauthtest.Claims) { c["nbf"] = now.Add(time.Minute).Unix() }), jwtauth.ErrNotYetValid},
		{"issued in the future beyond the leeway", sign(func(c jwtauthtest.Claims) { c["iat"] = now.Add(time.Minute).Unix() }), jwtauth.ErrNotYetValid},
		{"wrong issuer", sign(func(c jwtauthtest.Claims) { c["iss"] = "https://evil.example" }), jwtauth.ErrIssuer},
		{"wrong audience", sign(func(c jwtauthtest.Claims) { c["aud"] = "billing" }), jwtauth.ErrAudience},
		{"no issuer", sign(func(c jwtauthtest.Claims) { delete(c, "iss") }), jwtauth.ErrMissingClaim},
		{"no audience", sign(func(c jwtauthtest.Claims) { delete(c, "aud") }), jwtauth.ErrMissingClaim},
		{"no expiry", sign(func(c jwtauthtest.Claims) { delete(c, "exp") }), jwtauth.ErrMissingClaim},
		{"no subject", sign(func(c jwtauthtest.Claims) { delete(c, "sub") }), jwtauth.ErrNoSubject},
		{"empty subject", sign(func(c jwtauthtest.Claims) { c["sub"] = "" }), jwtauth.ErrNoSubject},
		{"alg none", jwtauthtest.Unsigned(t, claims(nil)), jwtauth.ErrAlgorithm},
		{"alg none with the signature stripped", header + "." + payload + ".", jwtauth.ErrSignature},
		{"wrong secret", jwtauthtest.SignHS256(t, []byte(strings.Repeat("x", 40)), claims(nil)), jwtauth.ErrSignature},
		{"claims swapped under the signature", header + "." + otherPayload + "." + sig, jwtauth.ErrSignature},
		{"asymmetric token without a jwks", jwtauthtest.NewEC(t, "k1").Sign(t, claims(nil)), jwtauth.ErrAlgorithm},
		{"garbage", "not-a-jwt", jwtauth.ErrMalformed},
		{"two segments", header + "." + payload, jwtauth.ErrMalformed},
		{"bad base64", "a!.b!.c!", jwtauth.ErrMalformed},
		{"header not JSON", "bm90IGpzb24." + payload + "." + sig, jwtauth.ErrMalformed},
		{"empty", "", jwtauth.ErrMalformed},
		{"too long", header + "." + strings.Repeat("A", jwtauth.MaxTokenLength) + "." + sig, jwtauth.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := v.Verify(t.Context(), tc.token)
			require.ErrorIs(t, err, tc.want)
			assert.Empty(t, sub)
			if tc.token != "" {
				assert.NotContains(t, err.Error(), tc.token, "errors never hold the token")
			}
		})
	}
	assert.NotContains(t, logs.String(), valid, "tokens are never logged")
}

func TestTheLeewayAcceptsALittleClockSkew(t *testing.T) {
	t.Parallel()
	v, _ := newVerifier(t, jwtauth.Config{Secret: secret, Leeway: 30 * time.Second})
	for name, edit := range map[string]func(jwtauthtest.Claims){
		"expired 10s ago":     func(c jwtauthtest.Claims) { c["exp"] = now.Add(-10 * time.Second).Unix() },
		"valid in 10s":        func(c jwtauthtest.Claims) { c["nbf"] = now.Add(10 * time.Second).Unix() },
		"issued 10s from now": func(c jwtauthtest.Claims) { c["iat"] = now.Add(10 * time.Second).Unix() },
	} {
		_, err := v.Verify(t.Context(), jwtauthtest.SignHS256(t, []byte(secret), claims(edit)))
		assert.NoError(t, err, name)
	}
	_, err := v.Verify(t.Context(), jwtauthtest.SignHS256(t, []byte(secret),
		claims(func(c jwtauthtest.Claims) { c["exp"] = now.Add(-31 * time.Second).Unix() })))
	assert.ErrorIs(t, err, jwtauth.ErrExpired, "no more than the leeway")
}

func TestOtherHMACAlgorithmsAreRefusedEvenWithTheSecret(t *testing.T) {
	t.Parallel()
	v, _ := newVerifier(t, jwtauth.Config{Secret: secret})
	for _, alg := range []string{"HS384", "HS512"} {
		tok := signHMAC(t, alg, []byte(secret), claims(nil))
		_, err := v.Verify(t.Context(), tok)
		assert.ErrorIs(t, err, jwtauth.ErrAlgorithm, alg)
	}
}

// signHMAC signs claims with an HMAC algorithm other than HS256.
func signHMAC(t *testing.T, alg string, key []byte, c jwtauthtest.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestAsymmetricTokensVerifyAgainstTheJWKS(t *testing.T) {
	t.Parallel()
	rsaKey, ecKey, edKey := jwtauthtest.NewRSA(t, "rsa-1"), jwtauthtest.NewEC(t, "ec-1"), jwtauthtest.NewEd25519(t, "ed-1")
	set := jwtauthtest.NewKeySet(t, rsaKey, ecKey, edKey)
	v, _ := newVerifier(t, jwtauth.Config{JWKSURL: set.URL})
	waitLoaded(t, v)

	for _, k := range []*jwtauthtest.Key{rsaKey, ecKey, edKey} {
		sub, err := v.Verify(t.Context(), k.Sign(t, claims(nil)))
		require.NoError(t, err, k.Alg())
		assert.Equal(t, user, sub, k.Alg())
		sub, err = v.Verify(t.Context(), k.SignWithoutKID(t, claims(nil)))
		require.NoError(t, err, "%s without a kid: every key of the set is tried", k.Alg())
		assert.Equal(t, user, sub)
	}
	assert.Equal(t, 1, set.Fetches(), "the keys are cached")

	_, err := v.Verify(t.Context(), jwtauthtest.SignHS256(t, []byte(secret), claims(nil)))
	assert.ErrorIs(t, err, jwtauth.ErrAlgorithm, "HS256 needs the secret, which is not configured")
	_, err = v.Verify(t.Context(), ecKey.Sign(t, claims(func(c jwtauthtest.Claims) { c["iss"] = "https://evil.example" })))
	assert.ErrorIs(t, err, jwtauth.ErrIssuer, "claims are checked for asymmetric tokens too")
}

func TestATokenSignedByAKeyOutsideTheSetIsRefused(t *testing.T) {
	t.Parallel()
	served := jwtauthtest.NewEC(t, "ec-1")
	set := jwtauthtest.NewKeySet(t, served)
	v, _ := newVerifier(t, jwtauth.Config{JWKSURL: set.URL})
	waitLoaded(t, v)

	impostor := jwtauthtest.NewEC(t, "ec-1") // same kid, another key
	_, err := v.Verify(t.Context(), impostor.Sign(t, claims(nil)))
	assert.ErrorIs(t, err, jwtauth.ErrSignature)
	_, err = v.Verify(t.Context(), impostor.SignWithoutKID(t, claims(nil)))
	assert.ErrorIs(t, err, jwtauth.ErrSignature)
}

func TestAnHS256TokenSignedWithThePublicKeyIsRefused(t *testing.T) {
	t.Parallel()
	// The classic algorithm confusion: the attacker takes the published RSA
	// key and uses it as an HMAC secret.
	rsaKey := jwtauthtest.NewRSA(t, "rsa-1")
	set := jwtauthtest.NewKeySet(t, rsaKey)
	forged := jwtauthtest.SignHS256(t, rsaKey.PublicPEM(t), claims(nil))

	jwksOnly, _ := newVerifier(t, jwtauth.Config{JWKSURL: set.URL})
	waitLoaded(t, jwksOnly)
	_, err := jwksOnly.Verify(t.Context(), forged)
	assert.ErrorIs(t, err, jwtauth.ErrAlgorithm)

	both, _ := newVerifier(t, jwtauth.Config{JWKSURL: set.URL, Secret: secret})
	waitLoaded(t, both)
	_, err = both.Verify(t.Context(), forged)
	assert.ErrorIs(t, err, jwtauth.ErrSignature, "HS256 is verified with the secret alone")
	_, err = both.Verify(t.Context(), rsaKey.Sign(t, claims(nil)))
	assert.NoError(t, err, "both kinds are accepted when both are configured")
	_, err = both.Verify(t.Context(), jwtauthtest.SignHS256(t, []byte(secret), claims(nil)))
	assert.NoError(t, err)
}

func TestANewKeyIsFetchedWhenATokenNamesIt(t *testing.T) {
	t.Parallel()
	old, rotated := jwtauthtest.NewEC(t, "2026-03"), jwtauthtest.NewEC(t, "2026-04")
	set := jwtauthtest.NewKeySet(t, old)
	v, _ := newVerifier(t, jwtauth.Config{JWKSURL: set.URL})
	waitLoaded(t, v)
	_, err := v.Verify(t.Context(), old.Sign(t, claims(nil)))
	require.NoError(t, err)

	set.Serve(old, rotated) // the auth service rotates its key
	sub, err := v.Verify(t.Context(), rotated.Sign(t, claims(nil)))

	require.NoError(t, err, "an unknown kid makes the verifier fetch the set again")
	assert.Equal(t, user, sub)
	assert.Equal(t, 2, set.Fetches())
	_, err = v.Verify(t.Context(), old.Sign(t, claims(nil)))
	assert.NoError(t, err, "the old key still verifies while the set holds it")

	set.Serve(rotated) // the old key is retired
	next := jwtauthtest.NewEC(t, "2026-05")
	_, err = v.Verify(t.Context(), next.Sign(t, claims(nil)))
	assert.ErrorIs(t, err, jwtauth.ErrUnknownKey)
}

func TestUnknownKeysRefetchTheSetAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	known := jwtauthtest.NewEC(t, "known")
	set := jwtauthtest.NewKeySet(t, known)
	v, logs := newVerifier(t, jwtauth.Config{JWKSURL: set.URL, UnknownKeyRefreshInterval: time.Hour})
	waitLoaded(t, v)

	var tokens []string
	for i := range 20 {
		tok := jwtauthtest.NewEC(t, "forged-"+string(rune('a'+i))).Sign(t, claims(nil))
		tokens = append(tokens, tok)
		_, err := v.Verify(t.Context(), tok)
		require.ErrorIs(t, err, jwtauth.ErrUnknownKey)
	}

	assert.Equal(t, 2, set.Fetches(), "the first unknown kid refetches the set; the others wait for the interval")
	_, err := v.Verify(t.Context(), known.Sign(t, claims(nil)))
	assert.NoError(t, err)
	for _, tok := range tokens {
		assert.NotContains(t, logs.String(), tok)
	}
}

func TestTheServiceStartsWhileTheJWKSIsUnreachableAndLoadsItLater(t *testing.T) {
	t.Parallel()
	key := jwtauthtest.NewEC(t, "ec-1")
	set := jwtauthtest.NewKeySet(t, key)
	set.Fail(http.StatusServiceUnavailable)
	v, logs := newVerifier(t, jwtauth.Config{JWKSURL: set.URL, Secret: secret, MaxRetryInterval: 10 * time.Millisecond})
	tok := key.Sign(t, claims(nil))

	_, err := v.Verify(t.Context(), tok)
	require.ErrorIs(t, err, jwtauth.ErrKeysNotLoaded)
	_, err = v.Verify(t.Context(), jwtauthtest.SignHS256(t, []byte(secret), claims(nil)))
	require.NoError(t, err, "HS256 needs no JWKS")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "jwks cannot be loaded") },
		10*time.Second, 5*time.Millisecond)

	set.Serve(key)
	waitLoaded(t, v)
	sub, err := v.Verify(t.Context(), tok)
	require.NoError(t, err)
	assert.Equal(t, user, sub)
	assert.NotContains(t, logs.String(), tok)
}

func TestTheLogNeverRepeatsTheJWKSURLsSecrets(t *testing.T) {
	t.Parallel()
	key := jwtauthtest.NewEC(t, "ec-1")
	set := jwtauthtest.NewKeySet(t, key)
	set.Fail(http.StatusServiceUnavailable)
	withSecrets := strings.Replace(set.URL, "http://", "http://reader:pw-s3cret@", 1) + "?key=q-s3cret"
	unreachable := "http://reader:pw-s3cret@127.0.0.1:1/jwks.json?key=q-s3cret"

	for _, u := range []string{withSecrets, unreachable} {
		v, logs := newVerifier(t, jwtauth.Config{JWKSURL: u, MaxRetryInterval: 5 * time.Millisecond})
		require.Eventually(t, func() bool { return strings.Count(logs.String(), "jwks cannot be loaded") >= 2 },
			10*time.Second, 5*time.Millisecond)
		v.Close()
		assert.NotContains(t, logs.String(), "s3cret", u)
		assert.Contains(t, logs.String(), "jwks_url=http://reader:xxxxx@", "the log names the set without its password or query")
	}
}

func TestAJWKSThatNeverAnswersDoesNotHoldUpStartOrClose(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	v, err := jwtauth.New(jwtauth.Config{JWKSURL: hang.URL, Issuer: issuer, Audience: audience}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	v.Start() // returns at once
	_, err = v.Verify(t.Context(), jwtauthtest.NewEC(t, "k").Sign(t, claims(nil)))
	assert.ErrorIs(t, err, jwtauth.ErrKeysNotLoaded)

	closed := make(chan struct{})
	go func() { v.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the fetch's timeout")
	}
}

func TestCloseWithoutStartReturns(t *testing.T) {
	t.Parallel()
	v, err := jwtauth.New(jwtauth.Config{JWKSURL: "http://127.0.0.1:1/jwks", Issuer: issuer, Audience: audience}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	v.Close()
	v.Start() // after Close: nothing
	v.Close()
}

func TestNewRefusesAnIncompleteConfiguration(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	for want, cfg := range map[string]jwtauth.Config{
		"a jwks url or a secret is required":      {Issuer: issuer, Audience: audience},
		"an issuer is required":                   {Secret: secret, Audience: audience},
		"an audience is required":                 {Secret: secret, Issuer: issuer},
		"secret shorter than 32 bytes":            {Secret: "short-secret", Issuer: issuer, Audience: audience},
		"leeway -1s outside 0s..5m0s":             {Secret: secret, Issuer: issuer, Audience: audience, Leeway: -time.Second},
		"leeway 1h0m0s outside 0s..5m0s":          {Secret: secret, Issuer: issuer, Audience: audience, Leeway: time.Hour},
		"the jwks url is not an absolute http(s)": {JWKSURL: "ftp://auth.example/jwks", Issuer: issuer, Audience: audience},
	} {
		_, err := jwtauth.New(cfg, logger)
		assert.ErrorContains(t, err, want)
	}
	_, err := jwtauth.New(jwtauth.Config{Secret: secret, Issuer: issuer, Audience: audience}, nil)
	assert.ErrorContains(t, err, "nil logger")
	_, err = jwtauth.New(jwtauth.Config{Secret: secret, Issuer: issuer, Audience: audience}, logger)
	assert.NoError(t, err)
}

func TestVerifyHonoursItsContextWhileRefetching(t *testing.T) {
	t.Parallel()
	set := jwtauthtest.NewKeySet(t, jwtauthtest.NewEC(t, "known"))
	v, _ := newVerifier(t, jwtauth.Config{JWKSURL: set.URL})
	waitLoaded(t, v)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := v.Verify(ctx, jwtauthtest.NewEC(t, "unknown").Sign(t, claims(nil)))
	assert.ErrorIs(t, err, jwtauth.ErrUnknownKey)
}
