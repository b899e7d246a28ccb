package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

func TestAddressesAreNormalizedSoThatOneMailboxOrNumberIsOneEntry(t *testing.T) {
	t.Parallel()
	cases := []struct{ channel, raw, want string }{
		{"email", "  Anna.Petrova@Example.COM ", "anna.petrova@example.com"},
		{"email", "anna@example.com", "anna@example.com"},
		{"sms", " +7 (900) 123-45-67 ", "+79001234567"},
		{"sms", "+7.900.123.45.67", "+79001234567"},
		{"sms", "89001234567", "89001234567"}, // no country code is guessed
		{"push", "  Token-ABC ", "Token-ABC"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, domain.NormalizeAddress(c.channel, c.raw), "%s %q", c.channel, c.raw)
	}
}

func TestParseAddressInfersTheChannelAndNormalizes(t *testing.T) {
	t.Parallel()
	a, err := domain.ParseAddress("", " Anna@Example.com ")
	require.NoError(t, err)
	require.Equal(t, domain.Address{Channel: "email", Value: "anna@example.com"}, a)

	a, err = domain.ParseAddress("", "+7 900 123-45-67")
	require.NoError(t, err)
	require.Equal(t, domain.Address{Channel: "sms", Value: "+79001234567"}, a)

	a, err = domain.ParseAddress("sms", "112")
	require.NoError(t, err)
	require.Equal(t, domain.Address{Channel: "sms", Value: "112"}, a)
}

func TestParseAddressRefusesWhatIsNoAddressNamingTheField(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, channel, raw, field string }{
		{"empty", "", "  ", "address"},
		{"display name", "", "Anna <anna@example.com>", "address"},
		{"no domain", "", "anna@", "address"},
		{"two ats", "", "anna@@example.com", "address"},
		{"too long", "", strings.Repeat("a", 250) + "@example.com", "address"},
		{"letters for a phone", "", "call me", "address"},
		{"too few digits", "", "+12", "address"},
		{"too many digits", "", "+1234567890123456", "address"},
		{"email on sms", "sms", "anna@example.com", "address"},
		{"phone on email", "email", "+79001234567", "address"},
		{"control character", "", "anna\n@example.com", "address"},
		{"unknown channel", "pigeon", "anna@example.com", "channel"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := domain.ParseAddress(c.channel, c.raw)
			var ae *domain.AddressError
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, c.field, ae.Field)
			require.NotEmpty(t, ae.Message)
		})
	}
}
