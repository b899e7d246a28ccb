// Package intaketest holds the intake's test fixtures: the brief's four
// example events, verbatim except for fixed IDs in place of <uuid> and <id>.
package intaketest

import (
	"embed"
	"testing"
)

//go:embed testdata/*.json
var fixtures embed.FS

// The fixed IDs of the fixtures.
const (
	UserURL   = "https://auth/api/v1/users/6f1c2a57-3a0e-4d7b-9a51-0d3c1e7b2f44/"
	SeriesID  = "b3f8e2d4-7c1a-4e9b-8d2f-5a6c7e8f9012"
	SeriesURL = "https://fastapi/api/v1/series/" + SeriesID + "/"
	ReviewID  = "42"
	ReviewURL = "https://activity_api/api/v1/reviews/" + ReviewID
	MovieURL  = "https://fastapi/api/v1/movies/0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a/"
)

// Event returns the body of the example event of eventType
// ("user_signed_up", "new_movies", "new_episode", "reactions_summary").
func Event(t testing.TB, eventType string) []byte {
	t.Helper()
	b, err := fixtures.ReadFile("testdata/" + eventType + ".json")
	if err != nil {
		t.Fatalf("fixture %s: %v", eventType, err)
	}
	return b
}
