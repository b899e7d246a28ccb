package domain

import (
	"maps"
	"slices"
)

// ReadOnlyMembers are the members of the preferences resource a patch may
// carry (as a GET answered them) and that it does not change.
var ReadOnlyMembers = []string{"user_id", "mandatory", "updated_at"}

// MergePatch applies patch, a JSON merge patch (RFC 7396) of the
// preferences resource decoded with encoding/json, to the overrides o and
// returns the result; o is not changed. A member set to null goes back to
// its default ("channels": null clears every channel switch,
// "per_type": {"new_movies": {"sms": null}} that one switch); a switch is
// true or false; the read-only members (ReadOnlyMembers) are left to the
// caller. Every member of another shape is a FieldError naming its path;
// the result is then not to be used. The switches' names are not checked
// here (ValidateOverrides does).
func MergePatch(o Overrides, patch map[string]any) (Overrides, []FieldError) {
	out := o.Clone()
	var errs []FieldError
	for _, member := range slices.Sorted(maps.Keys(patch)) {
		value := patch[member]
		switch {
		case slices.Contains(ReadOnlyMembers, member):
		case member == "channels":
			out.Channels, errs = mergeSwitches(out.Channels, value, member, errs)
		case member == "types":
			out.Types, errs = mergeSwitches(out.Types, value, member, errs)
		case member == "per_type":
			out.PerType, errs = mergePerType(out.PerType, value, errs)
		case member == "quiet_hours":
			out.QuietHours, errs = mergeQuietHours(out.QuietHours, value, errs)
		default:
			errs = append(errs, FieldError{Field: member, Message: "unknown member (channels, types, per_type, quiet_hours)", Value: member})
		}
	}
	out.Compact()
	return out, errs
}

// mergeSwitches merges value, the patch of the switches at path, into m.
func mergeSwitches(m map[string]bool, value any, path string, errs []FieldError) (map[string]bool, []FieldError) {
	if value == nil {
		return nil, errs
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return m, append(errs, FieldError{Field: path, Message: "must be an object or null", Value: value})
	}
	if m == nil {
		m = make(map[string]bool, len(obj))
	}
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		switch v := obj[key].(type) {
		case nil:
			delete(m, key)
		case bool:
			m[key] = v
		default:
			errs = append(errs, FieldError{Field: path + "." + key, Message: "must be true, false or null", Value: v})
		}
	}
	return m, errs
}

// mergeQuietHours merges value, the patch of quiet_hours, into the user's
// window q: null removes it (the configured window applies again); a member
// left out keeps its value. Whether both ends are then set and well-formed
// is ValidateOverrides' to say.
func mergeQuietHours(q *QuietHours, value any, errs []FieldError) (*QuietHours, []FieldError) {
	if value == nil {
		return nil, errs
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return q, append(errs, FieldError{Field: "quiet_hours", Message: `must be {"start": "HH:MM", "end": "HH:MM"} or null`, Value: value})
	}
	out := QuietHours{}
	if q != nil {
		out = *q
	}
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		v, isString := obj[key].(string)
		switch {
		case key != "start" && key != "end":
			errs = append(errs, FieldError{Field: "quiet_hours." + key, Message: "unknown member (start, end)", Value: key})
		case !isString:
			errs = append(errs, FieldError{Field: "quiet_hours." + key, Message: `must be a time "HH:MM"`, Value: obj[key]})
		case key == "start":
			out.Start = v
		default:
			out.End = v
		}
	}
	return &out, errs
}

// mergePerType merges value, the patch of per_type, into m.
func mergePerType(m map[string]map[string]bool, value any, errs []FieldError) (map[string]map[string]bool, []FieldError) {
	if value == nil {
		return nil, errs
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return m, append(errs, FieldError{Field: "per_type", Message: "must be an object or null", Value: value})
	}
	if m == nil {
		m = make(map[string]map[string]bool, len(obj))
	}
	for _, typ := range slices.Sorted(maps.Keys(obj)) {
		if obj[typ] == nil {
			delete(m, typ)
			continue
		}
		var merged map[string]bool
		merged, errs = mergeSwitches(m[typ], obj[typ], "per_type."+typ, errs)
		m[typ] = merged
	}
	return m, errs
}
