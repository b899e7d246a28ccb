// Package logging builds the slog logger and masks personal data.
package logging

import (
	"io"
	"log/slog"
	"net/url"
	"strings"
	"unicode"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("text" or "json"), masking personal data in every
// attribute whose key names it (see MaskingHandler) and adding the trace_id
// and span_id of the context a record is logged with (see TraceHandler).
func New(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(NewMaskingHandler(NewTraceHandler(h)))
}

// MaskEmail keeps the first letter of the local part and the domain:
// "ivan.petrov@mail.ru" becomes "i***@mail.ru". A masked address stays as
// it is.
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}

// MaskURL keeps a URL's scheme and host: "https://hooks.example.com/***".
// What it cannot read as a URL with a host becomes "***".
func MaskURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "***"
	}
	return u.Scheme + "://" + u.Host + "/***"
}

// MaskPhone keeps the last two digits: "+79001234567" becomes "***67". A
// masked number stays as it is.
func MaskPhone(phone string) string {
	if strings.HasPrefix(phone, "***") {
		return phone
	}
	r := []rune(phone)
	if len(r) <= 2 {
		return "***"
	}
	return "***" + string(r[len(r)-2:])
}

// MaskAddress masks an email address or a phone number, and each address
// of a list of emails ("a@x.ru, b@y.ru" becomes "a***@x.ru, b***@y.ru"),
// or a URL (a webhook channel's address) down to its scheme and host
// ("https://hooks.example.com/u/1?token=s" becomes
// "https://hooks.example.com/***": its user, path and query may hold a
// credential). An empty string stays empty and a masked address stays as
// it is, so masking twice gives what masking once did.
func MaskAddress(addr string) string {
	switch {
	case addr == "":
		return ""
	case strings.Contains(addr, "://"):
		return MaskURL(addr)
	case !strings.Contains(addr, "@"):
		return MaskPhone(addr)
	}
	parts := strings.FieldsFunc(addr, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
	if len(parts) < 2 || strings.Count(addr, "@") < 2 {
		return MaskEmail(addr)
	}
	for i, p := range parts {
		parts[i] = MaskAddress(p)
	}
	return strings.Join(parts, ", ")
}
