package domain_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/notifier/notifier/modules/eventintake/internal/domain"
)

// detailsReasons are the reasons DecodeEvent may give for a field of
// details. None quotes a value: details may carry personal data.
var detailsReasons = []string{
	"is required",
	"must not be blank",
	"must be a string",
	"must be an object",
	"must be an array",
	"must not be empty",
	"must be a number",
	"must be a whole number",
	"must not be negative",
	"must be an absolute http(s) URL",
	"must end with an identifier in its path",
	"must end with an identifier made of letters, digits, '-', '_', '.' or '~'",
}

// FuzzDecodeEvent checks that any payload either decodes into an event
// that keeps the contract (known type, absolute http(s) URLs, plain
// identifiers, counts not negative) and survives encoding and decoding
// again unchanged, or is refused as malformed JSON exactly when it is not
// JSON, else as an invalid event naming a field of the envelope without
// quoting the details. The corpus is the brief's four events
// (testdata/fuzz/FuzzDecodeEvent).
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"event_id": "evt-1", "occurred_at": "2026-03-01T10:00:00.5+03:00", "trace_id": "abc",
		"from_service": "cinema_scanner", "event": "new_movies", "details": {"movies": ["http://fastapi/api/v1/movies/1/"]}}`))
	f.Add([]byte(`{"from_service": "activity_api", "event": "reactions_summary", "details": {"stats": [
		{"type": "like", "total": 0, "target": "https://activity_api/api/v1/reviews/a.b~c_d-e"},
		{"type": "dislike", "total": 9007199254740993, "target": "http://activity_api/r/1?x=%zz"}]}}`))
	f.Add([]byte(`{"from_service": "auth", "event": "user_signed_up", "details": {"user": "HTTPS://auth:8443/api/v1/users/1/", "username": null}}`))
	f.Add([]byte(`{"from_service": "fastapi", "event": "new_episode", "details": {"series": ["https://fastapi/api/v1/series/%41/"]}}`))
	f.Add([]byte(`{"event_id": "\u0000", "from_service": "auth", "event": "user_signed_up", "details": {"user": "https://auth/u/1"}}`))
	f.Add([]byte(`{"from_service": "auth", "event": "user_signed_up", "details": {"user": "ivan.petrov@mail.ru"}}`))
	f.Add([]byte(`{"from_service": "auth", "event": "user_signed_up", "details": {"user": "https://auth/u/1"}} `))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := domain.DecodeEvent(payload)
		if err != nil {
			checkRefusal(t, payload, err)
			return
		}
		checkEvent(t, payload, ev)

		again, err := encodeEvent(ev)
		if err != nil {
			t.Fatalf("encode %+v: %v", ev, err)
		}
		ev2, err := domain.DecodeEvent(again)
		if err != nil {
			t.Fatalf("re-encoded event %s refused: %v", again, err)
		}
		if !sameEvent(ev, ev2) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, ev2)
		}
	})
}

func checkRefusal(t *testing.T, payload []byte, err error) {
	t.Helper()
	var invalid *domain.InvalidEventError
	isInvalid := errors.As(err, &invalid)
	if errors.Is(err, domain.ErrMalformedJSON) {
		if json.Valid(payload) || isInvalid {
			t.Fatalf("valid JSON %q refused as malformed: %v", payload, err)
		}
		return
	}
	if !json.Valid(payload) {
		t.Fatalf("malformed JSON %q not refused as such: %v", payload, err)
	}
	if !isInvalid {
		t.Fatalf("refusal %v is neither ErrMalformedJSON nor an *InvalidEventError", err)
	}
	switch field := invalid.Field; {
	case field == "", field == "from_service", field == "event", field == "details", field == "event_id", field == "occurred_at":
	case strings.HasPrefix(field, "details.") || strings.HasPrefix(field, "details["):
		if !slices.Contains(detailsReasons, invalid.Reason) {
			t.Fatalf("reason %q for %s is not one of the fixed reasons (it may quote the details)", invalid.Reason, field)
		}
	default:
		t.Fatalf("refusal names %q, which is no field of the envelope", field)
	}
}

func checkEvent(t *testing.T, payload []byte, ev domain.Event) {
	t.Helper()
	if !slices.Contains(domain.KnownTypes(), ev.Type) || ev.Details == nil || ev.Details.EventType() != ev.Type {
		t.Fatalf("event of type %q has details %#v", ev.Type, ev.Details)
	}
	if strings.TrimSpace(ev.FromService) == "" {
		t.Fatalf("blank from_service accepted")
	}
	if ev.ID != "" {
		if key := domain.EventKey(payload, "message-id"); key != ev.ID {
			t.Fatalf("event_id %q accepted but the event key is %q", ev.ID, key)
		}
	} else if key := domain.EventKey(payload, ""); len(key) != 64 {
		t.Fatalf("event without event_id has key %q, want a SHA-256", key)
	}
	switch d := ev.Details.(type) {
	case domain.UserSignedUp:
		requireHTTPURL(t, d.User)
	case domain.NewMovies:
		if len(d.Movies) == 0 {
			t.Fatalf("new_movies without movies accepted")
		}
		for _, m := range d.Movies {
			requireHTTPURL(t, m)
		}
	case domain.NewEpisode:
		if len(d.Series) == 0 {
			t.Fatalf("new_episode without series accepted")
		}
		for _, s := range d.Series {
			requireIdentifierAtEnd(t, s.URL, s.ID)
		}
	case domain.ReactionsSummary:
		if len(d.Stats) == 0 {
			t.Fatalf("reactions_summary without stats accepted")
		}
		for _, st := range d.Stats {
			if strings.TrimSpace(st.Type) == "" || st.Total < 0 {
				t.Fatalf("stat %+v accepted", st)
			}
			requireIdentifierAtEnd(t, st.Target, st.ReviewID)
		}
	default:
		t.Fatalf("unexpected details %T", d)
	}
}

func requireHTTPURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		t.Fatalf("%q accepted as an absolute http(s) URL", s)
	}
	return u
}

// requireIdentifierAtEnd checks that id is the last non-empty segment of
// the path of rawURL and made only of RFC 3986 unreserved characters.
func requireIdentifierAtEnd(t *testing.T, rawURL, id string) {
	t.Helper()
	u := requireHTTPURL(t, rawURL)
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if id == "" || segs[len(segs)-1] != id {
		t.Fatalf("identifier %q is not the end of %q", id, rawURL)
	}
	if strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~") != "" {
		t.Fatalf("identifier %q of %q has reserved characters", id, rawURL)
	}
}

// encodeEvent writes ev back as an envelope.
func encodeEvent(ev domain.Event) ([]byte, error) {
	env := map[string]any{"from_service": ev.FromService, "event": ev.Type}
	if ev.ID != "" {
		env["event_id"] = ev.ID
	}
	if ev.OccurredAt != nil {
		env["occurred_at"] = ev.OccurredAt.Format(time.RFC3339Nano)
	}
	var details map[string]any
	switch d := ev.Details.(type) {
	case domain.UserSignedUp:
		details = map[string]any{"user": d.User, "username": d.Username}
	case domain.NewMovies:
		details = map[string]any{"movies": d.Movies}
	case domain.NewEpisode:
		series := make([]string, 0, len(d.Series))
		for _, s := range d.Series {
			series = append(series, s.URL)
		}
		details = map[string]any{"series": series}
	case domain.ReactionsSummary:
		stats := make([]map[string]any, 0, len(d.Stats))
		for _, st := range d.Stats {
			stats = append(stats, map[string]any{"type": st.Type, "total": st.Total, "target": st.Target})
		}
		details = map[string]any{"stats": stats}
	default:
		return nil, errors.New("unknown details")
	}
	env["details"] = details
	return json.Marshal(env)
}

func sameEvent(a, b domain.Event) bool {
	if (a.OccurredAt == nil) != (b.OccurredAt == nil) || a.OccurredAt != nil && !a.OccurredAt.Equal(*b.OccurredAt) {
		return false
	}
	a.OccurredAt, b.OccurredAt = nil, nil
	return reflect.DeepEqual(a, b)
}
