package notifiertest_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/notifiertest"
)

// TestEveryResourceAcceptsBackWhatItsGetAnswers walks the OpenAPI document:
// for every path with a GET and a PUT or PATCH, what the GET answers is sent
// back unchanged and must be accepted. A new writable resource must say
// here how to fill its path parameters, or the test fails.
func TestEveryResourceAcceptsBackWhatItsGetAnswers(t *testing.T) {
	t.Parallel()
	n := notifiertest.Start(t)
	hook, _ := registerHook(t, n, "https://crm.example.com/hooks", "delivery.failed")
	params := map[string]string{"user_id": vera, "id": hook}

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	spec := n.Do(t, http.MethodGet, "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, spec.Status)
	require.NoError(t, json.Unmarshal(spec.Body, &doc))

	param := regexp.MustCompile(`\{([^}]+)\}`)
	checked := 0
	for path, ops := range doc.Paths {
		_, get := ops["get"]
		for _, write := range []string{"put", "patch"} {
			if _, ok := ops[write]; !ok || !get {
				continue
			}
			concrete := param.ReplaceAllStringFunc(path, func(m string) string {
				v, ok := params[strings.Trim(m, "{}")]
				require.True(t, ok, "%s %s: no value for the path parameter %s; add one to params", write, path, m)
				return v
			})
			read := n.Do(t, http.MethodGet, concrete, notifiertest.AdminToken, nil)
			require.Equal(t, http.StatusOK, read.Status, "GET %s: %s", concrete, read.Body)
			back := n.DoWithHeaders(t, strings.ToUpper(write), concrete, notifiertest.AdminToken, string(read.Body),
				map[string]string{"Content-Type": contentTypeFor(write)})
			require.Equal(t, http.StatusOK, back.Status, "%s %s with the GET's body: %s", strings.ToUpper(write), concrete, back.Body)
			checked++
		}
	}
	require.NotZero(t, checked, "at least the preferences are writable")
}

// contentTypeFor is the media type of a write's body: PATCH bodies are
// JSON merge patches (RFC 7396).
func contentTypeFor(method string) string {
	if method == "patch" {
		return "application/merge-patch+json"
	}
	return "application/json"
}
