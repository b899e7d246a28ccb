package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// fileChecker walks a YAML document along the Config type before it is
// decoded, to name each unknown key and each value of the wrong kind by its
// YAML key and line: the decoder's own errors name Go types instead.
type fileChecker struct {
	file     string
	origin   *origin
	problems []string
}

func (w *fileChecker) problem(n *yaml.Node, key, format string, args ...any) {
	w.origin.broken[key] = true
	w.problems = append(w.problems, fmt.Sprintf("%s: %s (%s, line %d)", key, fmt.Sprintf(format, args...), w.file, n.Line))
}

// walk checks node n, the value of key, against type t.
func (w *fileChecker) walk(n *yaml.Node, t reflect.Type, key string) {
	if n.Kind == 0 {
		return // an empty file
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.walk(c, t, key)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if key != "" {
		w.origin.inFile[key] = true
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // leaves the value as it was
	}
	switch {
	case t == durationType:
		w.scalar(n, t, key)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.problem(n, orTop(key), "want a mapping of keys, not %s", kindOf(n))
			return
		}
		w.pairs(n, func(k, v *yaml.Node) {
			sub := join(key, k.Value)
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				w.problem(k, sub, "unknown key")
				return
			}
			w.walk(v, f.Type, sub)
		})
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.problem(n, key, "want a mapping, not %s", kindOf(n))
			return
		}
		w.pairs(n, func(k, v *yaml.Node) { w.walk(v, t.Elem(), join(key, k.Value)) })
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.problem(n, key, "want a list, such as [a, b], not %s", kindOf(n))
			return
		}
		for i, e := range n.Content {
			w.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", key, i))
		}
	default:
		w.scalar(n, t, key)
	}
}

// pairs calls f with each key and value of mapping n, merges (<<) included.
func (w *fileChecker) pairs(n *yaml.Node, f func(k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.Tag == "!!merge" {
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if v.Kind == yaml.MappingNode {
				w.pairs(v, f)
			}
			continue
		}
		f(k, v)
	}
}

// scalar checks that n decodes into a value of type t.
func (w *fileChecker) scalar(n *yaml.Node, t reflect.Type, key string) {
	if n.Kind != yaml.ScalarNode {
		w.problem(n, key, "want a single value, not %s", kindOf(n))
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err == nil {
		return
	}
	switch {
	case t == durationType:
		w.problem(n, key, "%q is not a duration, such as 30s, 2m or 168h", n.Value)
	case t.Kind() == reflect.Bool:
		w.problem(n, key, "%q is not true or false", n.Value)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		w.problem(n, key, "%q is not a whole number", n.Value)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		w.problem(n, key, "%q is not a number", n.Value)
	default:
		w.problem(n, key, "%q is not a valid value", n.Value)
	}
}

// fieldByKey finds the exported field of struct t whose yaml tag is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func join(key, sub string) string {
	if key == "" {
		return sub
	}
	return key + "." + sub
}

func orTop(key string) string {
	if key == "" {
		return "NOTIFIER_CONFIG"
	}
	return key
}
