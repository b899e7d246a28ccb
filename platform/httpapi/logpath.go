package httpapi

import (
	"strings"

	"github.com/notifier/notifier/platform/logging"
)

// loggedPath returns a request's path as the log shows it: escaped as
// sent, with the value of each path parameter whose name says it holds
// personal data (logging.SensitiveKey: an address, an email, a phone, a
// "to") masked, as the masking handler masks such attributes. pattern is
// the route that matched, with or without its method and host
// ("DELETE /api/v1/suppressions/{address}", "/api/v1/suppressions/{address}"),
// empty when none did; param returns a parameter's value.
//
// DELETE /api/v1/suppressions/anna%40example.com is logged as
// /api/v1/suppressions/a***@example.com.
func loggedPath(escapedPath, pattern string, param func(name string) string) string {
	if !strings.Contains(pattern, "{") {
		return escapedPath
	}
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		pattern = rest
	}
	i := strings.IndexByte(pattern, '/')
	if i < 0 {
		return escapedPath
	}
	patSegs := strings.Split(pattern[i:], "/")
	sensitive := false
	for _, seg := range patSegs {
		if name, ok := wildcard(seg); ok && logging.SensitiveKey(name) {
			sensitive = true
			break
		}
	}
	if !sensitive {
		return escapedPath
	}
	segs := strings.Split(escapedPath, "/")
	if len(segs) < len(patSegs) {
		return pattern[i:] // not the path the route matched: its template, with nothing of the request
	}
	for n, seg := range patSegs {
		name, ok := wildcard(seg)
		if !ok || !logging.SensitiveKey(name) {
			continue
		}
		masked := logging.MaskAddress(param(name))
		if strings.HasSuffix(seg, "...}") {
			return strings.Join(append(segs[:n:n], masked), "/")
		}
		segs[n] = masked
	}
	return strings.Join(segs, "/")
}

// wildcard returns the name of a pattern segment "{name}" or "{name...}".
func wildcard(seg string) (string, bool) {
	if len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}' {
		return "", false
	}
	return strings.TrimSuffix(seg[1:len(seg)-1], "..."), true
}
