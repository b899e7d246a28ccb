// Package logging builds the slog logger and masks personal data.
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("text" or "json").
func New(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// MaskEmail keeps the first letter of the local part and the domain:
// "ivan.petrov@mail.ru" becomes "i***@mail.ru".
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}

// MaskPhone keeps the last two digits: "+79001234567" becomes "***67".
func MaskPhone(phone string) string {
	r := []rune(phone)
	if len(r) <= 2 {
		return "***"
	}
	return "***" + string(r[len(r)-2:])
}

// MaskAddress masks an email address or a phone number.
func MaskAddress(addr string) string {
	if strings.Contains(addr, "@") {
		return MaskEmail(addr)
	}
	return MaskPhone(addr)
}
