// Package jwtauthtest stands in for the auth service in tests: it signs
// users' tokens with an HS256 secret or with asymmetric keys, and serves
// those keys as a JWK Set over HTTP, counting the fetches.
package jwtauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Claims are a token's claims, as JSON.
type Claims = jwt.MapClaims

// ValidClaims returns the claims of a token for user sub that a verifier of
// issuer and audience accepts at now: issued now, valid for ten minutes.
func ValidClaims(issuer, audience, sub string, now time.Time) Claims {
	return Claims{
		"iss": issuer,
		"aud": audience,
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
	}
}

// SignHS256 returns claims signed with secret by HS256.
func SignHS256(t testing.TB, secret []byte, claims Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatalf("jwtauthtest: sign HS256: %v", err)
	}
	return s
}

// Unsigned returns claims as an "alg: none" token, which no verifier may
// accept.
func Unsigned(t testing.TB, claims Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatalf("jwtauthtest: unsigned token: %v", err)
	}
	return s
}

// Key is an asymmetric signing key of the auth service.
type Key struct {
	// ID is the key's kid, in the JWK Set and in the tokens it signs.
	ID      string
	method  jwt.SigningMethod
	private crypto.Signer
}

// NewRSA returns an RS256 key (2048 bits) named kid.
func NewRSA(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("jwtauthtest: rsa key: %v", err)
	}
	return &Key{ID: kid, method: jwt.SigningMethodRS256, private: k}
}

// NewEC returns an ES256 key (P-256) named kid.
func NewEC(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("jwtauthtest: ecdsa key: %v", err)
	}
	return &Key{ID: kid, method: jwt.SigningMethodES256, private: k}
}

// NewEd25519 returns an EdDSA key named kid.
func NewEd25519(t testing.TB, kid string) *Key {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("jwtauthtest: ed25519 key: %v", err)
	}
	return &Key{ID: kid, method: jwt.SigningMethodEdDSA, private: k}
}

// Alg is the algorithm the key signs with, such as "RS256".
func (k *Key) Alg() string { return k.method.Alg() }

// Sign returns claims signed by the key, its kid in the header.
func (k *Key) Sign(t testing.TB, claims Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.ID
	s, err := tok.SignedString(k.private)
	if err != nil {
		t.Fatalf("jwtauthtest: sign %s: %v", k.Alg(), err)
	}
	return s
}

// SignWithoutKID is Sign without a kid in the header.
func (k *Key) SignWithoutKID(t testing.TB, claims Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(k.method, claims).SignedString(k.private)
	if err != nil {
		t.Fatalf("jwtauthtest: sign %s: %v", k.Alg(), err)
	}
	return s
}

// PublicPEM is the public key as PEM, what an alg-confusion attack uses as
// an HMAC secret.
func (k *Key) PublicPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.private.Public())
	if err != nil {
		t.Fatalf("jwtauthtest: marshal public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwk returns the public key as a JWK.
func (k *Key) jwk(t testing.TB) jwkset.JWKMarshal {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(k.private.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		ALG: jwkset.ALG(k.Alg()), KID: k.ID, USE: jwkset.UseSig,
	}})
	if err != nil {
		t.Fatalf("jwtauthtest: jwk of %s: %v", k.ID, err)
	}
	return j.Marshal()
}

// KeySet serves a JWK Set over HTTP, as the auth service's JWKS endpoint.
type KeySet struct {
	// URL is the set's address.
	URL string

	t       testing.TB
	mu      sync.Mutex
	body    []byte
	status  int
	fetches atomic.Int64
}

// NewKeySet starts a JWK Set server holding keys; it stops when the test
// ends.
func NewKeySet(t testing.TB, keys ...*Key) *KeySet {
	t.Helper()
	ks := &KeySet{t: t}
	ks.Serve(keys...)
	srv := httptest.NewServer(http.HandlerFunc(ks.serveHTTP))
	t.Cleanup(srv.Close)
	ks.URL = srv.URL + "/.well-known/jwks.json"
	return ks
}

// Serve replaces the keys the set holds: a key rotation.
func (ks *KeySet) Serve(keys ...*Key) {
	ks.t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk(ks.t))
	}
	body, err := json.Marshal(set)
	if err != nil {
		ks.t.Fatalf("jwtauthtest: marshal jwks: %v", err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.body, ks.status = body, http.StatusOK
}

// Fail makes the set answer status until the next Serve.
func (ks *KeySet) Fail(status int) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.status = status
}

// Fetches is how many times the set was asked for.
func (ks *KeySet) Fetches() int { return int(ks.fetches.Load()) }

func (ks *KeySet) serveHTTP(w http.ResponseWriter, _ *http.Request) {
	ks.fetches.Add(1)
	ks.mu.Lock()
	body, status := ks.body, ks.status
	ks.mu.Unlock()
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
