package templating

import (
	"encoding/json"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/flosch/pongo2/v6"
)

// identifierRE matches the context keys pongo2 accepts; it refuses to render with any other.
var identifierRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// maxExactFloat is the largest magnitude below which every whole float64 is exact.
const maxExactFloat = 1 << 53

// newContext copies data into a pongo2 context. Keys pongo2 would refuse are left out, since no
// template can name them anyway. Values decoded from JSON are normalized: pongo2 prints every
// float with six decimals ("7.000000") and encoding/json decodes every number into a float64, so
// whole numbers become int64 at any depth of maps and slices.
func newContext(data map[string]any) pongo2.Context {
	ctx := make(pongo2.Context, len(data))
	for k, v := range data {
		if identifierRE.MatchString(k) {
			ctx[k] = normalize(v)
		}
	}
	return ctx
}

// normalize returns v with whole JSON numbers turned into int64, copying the maps and slices it
// walks through so that the caller's data is never modified.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = normalize(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = normalize(e)
		}
		return s
	case []map[string]any:
		s := make([]map[string]any, len(v))
		for i, e := range v {
			s[i], _ = normalize(e).(map[string]any)
		}
		return s
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < maxExactFloat {
			return int64(v)
		}
		return v
	case float32:
		return normalize(float64(v))
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	default:
		return v
	}
}

// markdownSpecial are the characters markdownSafe escapes: the brackets of
// links and images, and the backslash that would escape the escapes.
const markdownSpecial = `\[]`

// markdownSafe returns ctx with a backslash before every bracket and
// backslash in its strings, for the body that goes through Markdown: a value
// such as a user's name "[Win a prize](https://evil.example)" then shows as
// typed instead of becoming a link in the HTML part (HTML itself is escaped
// by pongo2's autoescape, so no tag or autolink gets through either).
// Subtrees without such characters are shared, not copied; ctx is not
// modified.
func markdownSafe(ctx pongo2.Context) pongo2.Context {
	var out pongo2.Context
	for k, v := range ctx {
		if safe, changed := markdownSafeValue(v); changed {
			if out == nil {
				out = make(pongo2.Context, len(ctx))
				maps.Copy(out, ctx)
			}
			out[k] = safe
		}
	}
	if out == nil {
		return ctx
	}
	return out
}

// markdownSafeValue escapes the strings of v (see markdownSafe); changed
// reports whether anything was.
func markdownSafeValue(v any) (any, bool) {
	switch v := v.(type) {
	case string:
		if !strings.ContainsAny(v, markdownSpecial) {
			return v, false
		}
		var b strings.Builder
		b.Grow(len(v) + 8)
		for _, r := range v {
			if strings.ContainsRune(markdownSpecial, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String(), true
	case map[string]any:
		var out map[string]any
		for k, e := range v {
			if safe, changed := markdownSafeValue(e); changed {
				if out == nil {
					out = maps.Clone(v)
				}
				out[k] = safe
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	case []any:
		var out []any
		for i, e := range v {
			if safe, changed := markdownSafeValue(e); changed {
				if out == nil {
					out = slices.Clone(v)
				}
				out[i] = safe
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	case []map[string]any:
		var out []map[string]any
		for i, e := range v {
			if safe, changed := markdownSafeValue(e); changed {
				if out == nil {
					out = slices.Clone(v)
				}
				out[i] = safe.(map[string]any)
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	default:
		return v, false
	}
}
