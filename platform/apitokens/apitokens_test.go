package apitokens_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/apitokens"
)

func TestParseReadsRolesAndTokens(t *testing.T) {
	t.Parallel()
	got, err := apitokens.Parse(" service:svc-token-1 , Manager:mgr:token:2,admin:adm-token-3,")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"svc-token-1": apitokens.RoleService,
		"mgr:token:2": apitokens.RoleManager,
		"adm-token-3": apitokens.RoleAdmin,
	}, got)

	empty, err := apitokens.Parse("")
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func TestParseNamesEveryBadEntryWithoutItsToken(t *testing.T) {
	t.Parallel()
	_, err := apitokens.Parse("secret-token-9:service,root:secret-token-8,admin:,manager:short," +
		"secret-token-7,service:secret-token-6,admin:secret-token-6")
	require.Error(t, err)
	assert.Equal(t, []string{
		"entry 1: unknown role (want service, manager or admin)",
		"entry 2: unknown role (want service, manager or admin)",
		"entry 3 (role admin): empty token",
		"entry 4 (role manager): token shorter than 8 characters",
		"entry 5: malformed, want role:token",
		"entry 7 (role admin): duplicate token, already in entry 6",
	}, strings.Split(err.Error(), "\n"))
	assert.NotContains(t, err.Error(), "secret-token", "errors must not reveal tokens")
}
