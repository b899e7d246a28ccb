package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// object reads the fields of one JSON object and names them by their path
// in the envelope when they are wrong.
type object struct {
	path   string
	fields map[string]json.RawMessage
}

// at returns the path of the field name.
func (o object) at(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

// raw returns the field's JSON, or false when it is absent or null.
func (o object) raw(name string) (json.RawMessage, bool) {
	raw, ok := o.fields[name]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

// requiredString returns a string field that must be present and not blank.
func (o object) requiredString(name string) (string, error) {
	raw, ok := o.raw(name)
	if !ok {
		return "", invalid(o.at(name), "is required")
	}
	s, err := asString(o.at(name), raw)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", invalid(o.at(name), "must not be blank")
	}
	return s, nil
}

// optionalString returns a string field, "" when it is absent or null.
func (o object) optionalString(name string) (string, error) {
	raw, ok := o.raw(name)
	if !ok {
		return "", nil
	}
	return asString(o.at(name), raw)
}

// requiredURL returns a string field holding an absolute http(s) URL, as
// sent and parsed.
func (o object) requiredURL(name string) (string, *url.URL, error) {
	s, err := o.requiredString(name)
	if err != nil {
		return "", nil, err
	}
	u, err := parseURL(o.at(name), s)
	return s, u, err
}

// object returns a field that must be a JSON object.
func (o object) object(name string) (object, error) {
	raw, ok := o.raw(name)
	if !ok {
		return object{}, invalid(o.at(name), "is required")
	}
	return asObject(o.at(name), raw)
}

// list returns the items of a field that must be a non-empty JSON array.
func (o object) list(name string) ([]json.RawMessage, error) {
	raw, ok := o.raw(name)
	if !ok {
		return nil, invalid(o.at(name), "is required")
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, invalid(o.at(name), "must be an array")
	}
	if len(items) == 0 {
		return nil, invalid(o.at(name), "must not be empty")
	}
	return items, nil
}

// requiredCount returns a field that must be a whole number, not negative.
func (o object) requiredCount(name string) (int, error) {
	raw, ok := o.raw(name)
	if !ok {
		return 0, invalid(o.at(name), "is required")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, invalid(o.at(name), "must be a number")
	}
	n, isNumber := v.(json.Number)
	if !isNumber {
		return 0, invalid(o.at(name), "must be a number")
	}
	i, err := n.Int64()
	if err != nil || int64(int(i)) != i {
		return 0, invalid(o.at(name), "must be a whole number")
	}
	if i < 0 {
		return 0, invalid(o.at(name), "must not be negative")
	}
	return int(i), nil
}

func itemPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func asString(path string, raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", invalid(path, "must be a string")
	}
	return s, nil
}

func asObject(path string, raw json.RawMessage) (object, error) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		return object{}, invalid(path, "must be an object")
	}
	return object{path: path, fields: fields}, nil
}

// parseURL accepts an absolute http or https URL with a host.
func parseURL(path, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid(path, "must be an absolute http(s) URL")
	}
	return u, nil
}

// lastSegment returns the last non-empty segment of u's path
// ("https://fastapi/api/v1/series/42/" gives "42"). It must be a plain
// identifier (letters, digits, "-", "_", "." or "~"), as it goes into
// receivers URLs unescaped.
func lastSegment(path string, u *url.URL) (string, error) {
	segments := strings.Split(strings.Trim(u.Path, "/"), "/")
	id := segments[len(segments)-1]
	if id == "" {
		return "", invalid(path, "must end with an identifier in its path")
	}
	if strings.IndexFunc(id, func(r rune) bool { return !isUnreserved(r) }) >= 0 {
		return "", invalid(path, "must end with an identifier made of letters, digits, '-', '_', '.' or '~'")
	}
	return id, nil
}

func isUnreserved(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '-' || r == '_' || r == '.' || r == '~'
}
