// Package unsubscribe signs and verifies the tokens of one-click
// unsubscribe links (RFC 8058): a token names a user, a notification type
// and a channel, and carries an HMAC-SHA256 of them, so that whoever holds
// the link can turn that one switch off, and nobody can make a link for
// another user, type or channel. No bearer is needed and nothing is stored.
//
// Keys rotate: the first key signs, every key verifies, so a new key is put
// first and the old one kept until the mails it signed are old enough.
package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MinKeyLength is the shortest key New accepts, in bytes.
const MinKeyLength = 32

// ErrInvalid is returned for a token that was not made by a key of the
// Signer, was altered, or is not a token at all.
var ErrInvalid = errors.New("unsubscribe: invalid token")

// Subject is what a token lets its holder turn off: notifications of Type
// to UserID on Channel.
type Subject struct {
	UserID  string
	Type    string
	Channel string
}

// Signer signs and verifies tokens. It is immutable and safe for
// concurrent use.
type Signer struct {
	keys [][]byte
}

// New returns a Signer with keys, the first of which signs; it needs at
// least one, each of at least MinKeyLength bytes. Errors never show a key.
func New(keys ...string) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("unsubscribe: no key")
	}
	s := &Signer{}
	for i, k := range keys {
		if len(k) < MinKeyLength {
			return nil, fmt.Errorf("unsubscribe: key %d is %d bytes, at least %d needed", i+1, len(k), MinKeyLength)
		}
		s.keys = append(s.keys, []byte(k))
	}
	return s, nil
}

// separator joins the fields of the signed text; user ids, type names and
// channels never hold it (their own rules exclude it), and Sign refuses a
// field that does.
const separator = "\x1f"

// domain keeps these MACs from meaning anything elsewhere the key is used.
const domain = "notifier/unsubscribe/v1"

// Sign returns the token of s: the subject, base64url, a dot, then its MAC,
// base64url; URL-safe as it is. It fails for an empty field or one holding
// a control character.
func (sg *Signer) Sign(s Subject) (string, error) {
	for _, f := range []string{s.UserID, s.Type, s.Channel} {
		if f == "" || strings.ContainsFunc(f, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "", errors.New("unsubscribe: empty or malformed subject")
		}
	}
	payload := s.UserID + separator + s.Type + separator + s.Channel
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(mac(sg.keys[0], payload)), nil
}

// Verify returns the subject of token when one of the keys made it, else
// ErrInvalid.
func (sg *Signer) Verify(token string) (Subject, error) {
	rawPayload, rawMAC, ok := strings.Cut(token, ".")
	if !ok || len(token) > 1024 {
		return Subject{}, ErrInvalid
	}
	payload, err := enc.DecodeString(rawPayload)
	if err != nil {
		return Subject{}, ErrInvalid
	}
	got, err := enc.DecodeString(rawMAC)
	if err != nil {
		return Subject{}, ErrInvalid
	}
	valid := false
	for _, k := range sg.keys {
		// Every key is tried, so the time taken does not tell which one
		// matched.
		if hmac.Equal(got, mac(k, string(payload))) {
			valid = true
		}
	}
	if !valid {
		return Subject{}, ErrInvalid
	}
	fields := strings.Split(string(payload), separator)
	if len(fields) != 3 || fields[0] == "" || fields[1] == "" || fields[2] == "" {
		return Subject{}, ErrInvalid
	}
	return Subject{UserID: fields[0], Type: fields[1], Channel: fields[2]}, nil
}

var enc = base64.RawURLEncoding

func mac(key []byte, payload string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(domain))
	h.Write([]byte(separator))
	h.Write([]byte(payload))
	return h.Sum(nil)
}
