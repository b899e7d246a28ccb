package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// sessionCookie is the console's session: the bearer token signed in with,
// sealed (AES-256-GCM) so that the browser can neither read nor change it.
const sessionCookie = "notifier_console"

// sessionTTL is how long a sign-in lasts.
const sessionTTL = 12 * time.Hour

// session is what the cookie seals.
type session struct {
	Token   string    `json:"t"`
	Role    string    `json:"r"`
	CSRF    string    `json:"c"`
	Expires time.Time `json:"e"`
}

// sealer seals and opens sessions with one key.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	sum := sha256.Sum256(key) // any key length gives an AES-256 key
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(v session) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(sessionCookie))), nil
}

var errNoSession = errors.New("no session")

func (s *sealer) open(raw string, now time.Time) (session, error) {
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return session{}, errNoSession
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(sessionCookie))
	if err != nil {
		return session{}, errNoSession
	}
	var v session
	if err := json.Unmarshal(plain, &v); err != nil || v.Token == "" || !now.Before(v.Expires) {
		return session{}, errNoSession
	}
	return v, nil
}

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameCSRF compares a form's CSRF token with the session's in constant
// time.
func sameCSRF(s session, got string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(got)) == 1
}

// setSession writes the session cookie: HttpOnly, SameSite=Strict, Secure
// when the console is served over TLS, limited to /console.
func (c *Console) setSession(w http.ResponseWriter, r *http.Request, v session) error {
	sealed, err := c.sealer.seal(v)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sealed, Path: "/console",
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode,
		Expires: v.Expires, MaxAge: int(sessionTTL / time.Second),
	})
	return nil
}

func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/console", MaxAge: -1,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// secure reports whether the request came over TLS (directly, or through a
// proxy that says so).
func (c *Console) secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" || c.cfg.Secure
}
