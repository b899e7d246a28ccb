package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/config"
)

const longSecret = "a-secret-of-at-least-32-bytes-for-hs256"

func TestUsersTokensAreOffByDefault(t *testing.T) {
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	assert.False(t, c.Auth.JWT.Enabled())
	assert.Equal(t, 30*time.Second, c.Auth.JWT.Leeway)
}

func TestUsersTokensComeFromTheEnvironment(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"NOTIFIER_JWT_JWKS_URL": "https://auth.cinema.example/.well-known/jwks.json",
		"NOTIFIER_JWT_SECRET":   longSecret,
		"NOTIFIER_JWT_ISSUER":   "https://auth.cinema.example",
		"NOTIFIER_JWT_AUDIENCE": "notifier",
		"NOTIFIER_JWT_LEEWAY":   "1m",
	}))
	require.NoError(t, err)
	assert.Equal(t, config.JWT{
		JWKSURL:  "https://auth.cinema.example/.well-known/jwks.json",
		Secret:   longSecret,
		Issuer:   "https://auth.cinema.example",
		Audience: "notifier",
		Leeway:   time.Minute,
	}, c.Auth.JWT)
	assert.True(t, c.Auth.JWT.Enabled())
}

func TestUsersTokensNeedAnIssuerAndAnAudience(t *testing.T) {
	assert.Equal(t, []string{
		"NOTIFIER_JWT_ISSUER (auth.jwt.issuer): required when users' tokens are accepted (a JWKS URL or a secret is set)",
		"NOTIFIER_JWT_AUDIENCE (auth.jwt.audience): required when users' tokens are accepted (a JWKS URL or a secret is set)",
	}, problems(t, map[string]string{"NOTIFIER_JWT_SECRET": longSecret}))

	assert.Equal(t, []string{
		"NOTIFIER_JWT_AUDIENCE (auth.jwt.audience): required when users' tokens are accepted (a JWKS URL or a secret is set)",
	}, problems(t, map[string]string{
		"NOTIFIER_JWT_JWKS_URL": "http://auth:8000/.well-known/jwks.json",
		"NOTIFIER_JWT_ISSUER":   "auth",
	}))
}

func TestAnIssuerWithoutAKeyIsNamed(t *testing.T) {
	assert.Equal(t, []string{
		"NOTIFIER_JWT_JWKS_URL (auth.jwt.jwks_url): empty, and so is NOTIFIER_JWT_SECRET (auth.jwt.secret): " +
			"users' tokens are off although their issuer or audience is set; set one of the two to accept them",
	}, problems(t, map[string]string{"NOTIFIER_JWT_ISSUER": "auth", "NOTIFIER_JWT_AUDIENCE": "notifier"}))
}

func TestBadUserTokenSettingsAreNamedWithoutTheSecret(t *testing.T) {
	got := problems(t, map[string]string{
		"NOTIFIER_JWT_JWKS_URL": "auth.cinema.example/jwks",
		"NOTIFIER_JWT_SECRET":   "hunter2-but-short",
		"NOTIFIER_JWT_ISSUER":   "auth",
		"NOTIFIER_JWT_AUDIENCE": "notifier",
		"NOTIFIER_JWT_LEEWAY":   "a while",
	})
	assert.Equal(t, []string{
		`NOTIFIER_JWT_LEEWAY: "a while" is not a duration, such as 30s, 2m or 168h`,
		"NOTIFIER_JWT_JWKS_URL: want a http:// or https:// URL",
		"NOTIFIER_JWT_SECRET: shorter than 32 bytes: HS256 needs a long random secret (such as the output of openssl rand -base64 48)",
	}, got)
	assert.NotContains(t, strings.Join(got, "\n"), "hunter2", "the secret is never printed")

	for leeway, want := range map[string]string{
		"-1s": "NOTIFIER_JWT_LEEWAY: -1s is outside 0s..5m0s (a little clock skew)",
		"1h":  "NOTIFIER_JWT_LEEWAY: 1h0m0s is outside 0s..5m0s (a little clock skew)",
	} {
		assert.Equal(t, []string{want}, problems(t, map[string]string{"NOTIFIER_JWT_LEEWAY": leeway}))
	}
}

func TestUserTokenSettingsFromTheFileAreNamedByTheirKey(t *testing.T) {
	path := writeFile(t, "auth:\n  jwt:\n    secret: short\n    issuer: auth\n    audience: notifier\n    leeway: soon\n")
	assert.Equal(t, []string{
		`auth.jwt.leeway: "soon" is not a duration, such as 30s, 2m or 168h (` + path + `, line 6)`,
		"auth.jwt.secret: shorter than 32 bytes: HS256 needs a long random secret (such as the output of openssl rand -base64 48)",
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": path}))

	empty := writeFile(t, "auth:\n  jwt:\n    secret: "+longSecret+"\n")
	assert.Equal(t, []string{
		"NOTIFIER_JWT_ISSUER (auth.jwt.issuer): required when users' tokens are accepted (a JWKS URL or a secret is set)",
		"NOTIFIER_JWT_AUDIENCE (auth.jwt.audience): required when users' tokens are accepted (a JWKS URL or a secret is set)",
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": empty}))

	emptied := writeFile(t, "auth:\n  jwt:\n    secret: "+longSecret+"\n    issuer: \"\"\n    audience: notifier\n")
	assert.Equal(t, []string{
		"auth.jwt.issuer: required when users' tokens are accepted (a JWKS URL or a secret is set) (or set NOTIFIER_JWT_ISSUER)",
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": emptied}))
}
