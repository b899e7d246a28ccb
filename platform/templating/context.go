package templating

import (
	"encoding/json"
	"math"
	"regexp"

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
