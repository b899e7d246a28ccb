package domain

import "time"

// Clone returns a deep copy of p, sharing nothing mutable with it, for
// stores that keep postings in memory.
func (p Posting) Clone() Posting {
	c := p
	c.Channels = append([]string(nil), p.Channels...)
	c.TemplateContext = cloneMap(p.TemplateContext)
	c.ResolvedContext = cloneMap(p.ResolvedContext)
	c.ExpiresAt = clonePtr(p.ExpiresAt)
	c.SendAt = clonePtr(p.SendAt)
	c.CompletedAt = clonePtr(p.CompletedAt)
	return c
}

func clonePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

// cloneValue deep-copies the JSON-like values a template context holds.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	case []string:
		return append([]string(nil), v...)
	default:
		return v
	}
}
