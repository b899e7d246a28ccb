package app

import (
	"encoding/json"
	"math"
	"slices"
	"time"
)

// digestContext is the template context of a digest's message, made of
// its included parts, oldest first (each part's context as the batch gave
// it):
//
//	items     the newest policy.MaxItems parts' contexts, oldest first,
//	          each with its posting_id and at (when it was held)
//	count     how many parts the digest carries (all of them)
//	more      count minus the items listed
//	totals    the sum of every numeric top-level field over all parts
//	groups    with policy.GroupBy: the parts grouped by that field's
//	          value, each {key, count, totals}, the largest groups first
//	          (equal ones in order of first appearance)
//	first_at, last_at  when the first and the last part were held
//
// Numbers that are whole print as integers.
func digestContext(parts []DigestPart, contexts []map[string]any, policy DigestPolicy) map[string]any {
	maxItems := max(policy.MaxItems, 1)
	from := max(len(parts)-maxItems, 0)
	items := make([]any, 0, len(parts)-from)
	totals := sums{}
	type group struct {
		key    any
		count  int
		totals sums
	}
	var groups []*group
	byKey := map[string]*group{}
	for i, p := range parts {
		c := contexts[i]
		totals.add(c)
		if policy.GroupBy != "" {
			v, ok := c[policy.GroupBy]
			if !ok || v == nil {
				v = ""
			}
			k, _ := json.Marshal(v)
			g := byKey[string(k)]
			if g == nil {
				g = &group{key: v, totals: sums{}}
				byKey[string(k)] = g
				groups = append(groups, g)
			}
			g.count++
			g.totals.add(c)
		}
		if i < from {
			continue
		}
		item := make(map[string]any, len(c)+2)
		for k, v := range c {
			item[k] = v
		}
		item["posting_id"] = p.PostingID
		item["at"] = p.AddedAt.UTC().Format(time.RFC3339)
		items = append(items, item)
	}
	out := map[string]any{
		"items":    items,
		"count":    len(parts),
		"more":     len(parts) - len(items),
		"totals":   totals.values(),
		"first_at": parts[0].AddedAt.UTC().Format(time.RFC3339),
		"last_at":  parts[len(parts)-1].AddedAt.UTC().Format(time.RFC3339),
	}
	if policy.GroupBy != "" {
		// The largest groups first; equal ones in order of first
		// appearance.
		slices.SortStableFunc(groups, func(a, b *group) int { return b.count - a.count })
		gs := make([]any, len(groups))
		for i, g := range groups {
			gs[i] = map[string]any{"key": g.key, "count": g.count, "totals": g.totals.values()}
		}
		out["groups"] = gs
	}
	return out
}

// sums adds up the numeric top-level fields of contexts.
type sums map[string]float64

func (s sums) add(c map[string]any) {
	for k, v := range c {
		if f, ok := number(v); ok {
			s[k] += f
		}
	}
}

// values returns the sums, whole ones as int64.
func (s sums) values() map[string]any {
	out := make(map[string]any, len(s))
	for k, f := range s {
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			out[k] = int64(f)
		} else {
			out[k] = f
		}
	}
	return out
}

// number returns v as a float64 when it is a JSON or Go number (not a
// bool, not a numeric string).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	default:
		return 0, false
	}
}
