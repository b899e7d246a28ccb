package httpapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLoggedPathMasksOnlyTheParametersNamedForPersonalData(t *testing.T) {
	t.Parallel()
	params := map[string]string{"address": "anna@example.com", "id": "42", "rest": "+79001234567"}
	param := func(name string) string { return params[name] }
	cases := []struct{ escaped, pattern, want string }{
		{"/s/anna%40example.com", "DELETE /s/{address}", "/s/a***@example.com"},
		{"/s/anna%40example.com", "/s/{address}", "/s/a***@example.com"},
		{"/s/anna%40example.com", "DELETE example.com/s/{address}", "/s/a***@example.com"},
		{"/p/42/x", "GET /p/{id}/x", "/p/42/x"},
		{"/p/42", "", "/p/42"},
		{"/phones/%2B7/900", "GET /phones/{phone...}", "/phones/***67"},
		{"/short", "GET /s/{address}/more", "/s/{address}/more"},
	}
	params["phone"] = "+7/900/1234567"
	for _, c := range cases {
		assert.Equal(t, c.want, loggedPath(c.escaped, c.pattern, param), "%s %s", c.pattern, c.escaped)
	}
}
