package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersionPrintsTheVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"version"}, &out, &errOut, func(string) string { return "" })
	require.Equal(t, 0, code)
	require.Contains(t, out.String(), "notifier ")
}

func TestUnknownCommandFailsWithUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"frobnicate"}, &out, &errOut, func(string) string { return "" })
	require.Equal(t, 2, code)
	require.Contains(t, errOut.String(), "unknown command")
	require.Contains(t, errOut.String(), "notifier serve")
}

func TestServeRefusesBadConfigurationNamingTheSetting(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"NOTIFIER_TRANSPORT": "carrier-pigeon"}
	code := run([]string{"serve"}, &out, &errOut, func(k string) string { return env[k] })
	require.Equal(t, 1, code)
	require.Contains(t, errOut.String(), "NOTIFIER_TRANSPORT")
}
