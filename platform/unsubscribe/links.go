package unsubscribe

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
)

// Path is where the unsubscribe page and its one-click POST are served.
const Path = "/api/v1/unsubscribe"

// Links makes and reads the unsubscribe links of one deployment: its
// public base URL and its Signer. It is immutable and safe for concurrent
// use.
type Links struct {
	signer *Signer
	base   string
}

// NewLinks returns the links of signer under base, the public base URL
// (such as "https://notifier.example.com"; a trailing slash is dropped).
func NewLinks(signer *Signer, base string) (*Links, error) {
	if signer == nil {
		return nil, errors.New("unsubscribe: signer is required")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("unsubscribe: the base URL must be an absolute http(s) URL")
	}
	return &Links{signer: signer, base: strings.TrimRight(base, "/")}, nil
}

// URL returns the link that turns s off: {base}/api/v1/unsubscribe?token=….
func (l *Links) URL(s Subject) (string, error) {
	token, err := l.signer.Sign(s)
	if err != nil {
		return "", err
	}
	return l.base + Path + "?token=" + token, nil
}

// Verify returns the subject of a link's token, or ErrInvalid.
func (l *Links) Verify(token string) (Subject, error) { return l.signer.Verify(token) }

// RandomKey returns a key of MinKeyLength random bytes, hex-encoded, for a
// process that was given none (memory mode): its links work while it runs.
func RandomKey() (string, error) {
	b := make([]byte, MinKeyLength)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
