package logging_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/logging"
)

func TestMaskingHidesPersonalData(t *testing.T) {
	require.Equal(t, "i***@mail.ru", logging.MaskEmail("ivan.petrov@mail.ru"))
	require.Equal(t, "***", logging.MaskEmail("not-an-email"))
	require.Equal(t, "***67", logging.MaskPhone("+79001234567"))
	require.Equal(t, "***", logging.MaskPhone("7"))
	require.Equal(t, "и***@почта.рф", logging.MaskAddress("иван@почта.рф"))
	require.Equal(t, "***67", logging.MaskAddress("+79001234567"))
}

func TestMaskingAURLKeepsOnlyItsSchemeAndHost(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.example.com/users/anna?token=s3cret": "https://hooks.example.com/***",
		"http://anna:pa55@hooks.example.com:8443/x#frag":    "http://hooks.example.com:8443/***",
		"https://hooks.example.com/***":                     "https://hooks.example.com/***",
		"https://":                                          "***",
		"://anna@example.com":                               "***",
	} {
		got := logging.MaskAddress(raw)
		require.Equal(t, want, got, raw)
		require.Equal(t, got, logging.MaskAddress(got), "masking twice changes nothing: %s", raw)
	}
}
