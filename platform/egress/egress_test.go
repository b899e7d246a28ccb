package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/egress"
)

func TestForbiddenAddressesAreEveryNonPublicRangeInBothFamilies(t *testing.T) {
	t.Parallel()
	forbidden := map[string]string{
		"127.0.0.1":              "loopback",
		"127.255.255.254":        "loopback",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "loopback", // mapped: the IPv4 rule applies
		"::ffff:10.1.2.3":        "private",
		"0.0.0.0":                "unspecified",
		"::":                     "unspecified",
		"10.0.0.1":               "private",
		"172.16.0.1":             "private",
		"172.31.255.255":         "private",
		"192.168.1.1":            "private",
		"100.64.0.1":             "shared address space",
		"100.127.255.254":        "shared address space",
		"169.254.169.254":        "link-local", // the cloud metadata service
		"fe80::1":                "link-local",
		"fc00::1":                "private",
		"fd12:3456::1":           "private",
		"224.0.0.1":              "multicast",
		"ff02::1":                "multicast",
		"255.255.255.255":        "reserved",
		"240.0.0.1":              "reserved",
		"192.0.2.10":             "documentation",
		"2001:db8::1":            "documentation",
		"198.18.0.1":             "benchmarking",
		"64:ff9b::a00:1":         "IPv4 translation", // NAT64 of 10.0.0.1
		"2002:a00:1::1":          "6to4",
		"::10.0.0.1":             "IPv4-compatible",
		"fec0::1":                "site-local",
		"2001:0:4136:e378::1":    "Teredo",
		"100::1":                 "discard",
		"fe80::1%eth0":           "scoped",
		"64:ff9b:1::10.0.0.1":    "IPv4 translation",
		"::ffff:169.254.169.254": "link-local",
	}
	for s, want := range forbidden {
		what, bad := egress.Forbidden(netip.MustParseAddr(s))
		require.True(t, bad, s)
		require.Equal(t, want, what, s)
	}
	for _, s := range []string{"93.184.215.14", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:93.184.215.14"} {
		what, bad := egress.Forbidden(netip.MustParseAddr(s))
		require.False(t, bad, "%s is public, not %s", s, what)
	}
	_, bad := egress.Forbidden(netip.Addr{})
	require.True(t, bad, "an invalid address is refused")
}

func TestThePolicyReadsHostsAndWildcards(t *testing.T) {
	t.Parallel()
	p, err := egress.NewPolicy([]string{" Hooks.Example.com. ", "*.corp.example", "127.0.0.1", "[::1]"})
	require.NoError(t, err)
	require.True(t, p.Restricted())
	for _, h := range []string{"hooks.example.com", "HOOKS.example.com", "a.corp.example", "a.b.corp.example", "127.0.0.1", "::1"} {
		require.True(t, p.Listed(h), h)
		require.NoError(t, p.CheckHost(h), h)
	}
	for _, h := range []string{"corp.example", "evil-corp.example", "example.com", "127.0.0.2", "localhost"} {
		require.False(t, p.Listed(h), h)
		require.ErrorIs(t, p.CheckHost(h), egress.ErrForbidden, h)
	}
	for _, bad := range []string{"", "https://hooks.example.com", "hooks.example.com:443", "hooks.example.com/path", "*"} {
		_, err := egress.NewPolicy([]string{bad})
		require.Error(t, err, "%q", bad)
	}
}

func TestWithoutAListOnlyPublicHostsMayBeRegistered(t *testing.T) {
	t.Parallel()
	var open egress.Policy
	require.False(t, open.Restricted())
	for _, h := range []string{"hooks.example.com", "93.184.215.14", "2606:4700::1111"} {
		require.NoError(t, open.CheckHost(h), h)
	}
	for _, h := range []string{"localhost", "api.localhost", "127.0.0.1", "10.0.0.8", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00::1"} {
		require.ErrorIs(t, open.CheckHost(h), egress.ErrForbidden, h)
	}
}

// fakeResolver answers every name with addrs.
type fakeResolver struct{ addrs []netip.Addr }

func (r fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r.addrs, nil
}

func server(t *testing.T) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u
}

func TestADNSAnswerPointingInsideIsRefusedAtDialTime(t *testing.T) {
	t.Parallel()
	local := server(t) // really listening on 127.0.0.1
	d := egress.NewDialer(egress.Policy{}, fakeResolver{[]netip.Addr{netip.MustParseAddr("127.0.0.1")}}, time.Second)

	// A public-looking name whose DNS answer is loopback (rebinding).
	_, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("hooks.example.com", local.Port()))
	require.ErrorIs(t, err, egress.ErrForbidden)
	require.Contains(t, err.Error(), "hooks.example.com resolves to 127.0.0.1, a loopback address")

	// The mapped form of the same address is refused too.
	d = egress.NewDialer(egress.Policy{}, fakeResolver{[]netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1")}}, time.Second)
	_, err = d.DialContext(context.Background(), "tcp", net.JoinHostPort("hooks.example.com", local.Port()))
	require.ErrorIs(t, err, egress.ErrForbidden)

	// And an address literal, without any DNS.
	_, err = d.DialContext(context.Background(), "tcp", local.Host)
	require.ErrorIs(t, err, egress.ErrForbidden)
}

func TestTheSocketIsCheckedOnTheAddressItConnectsTo(t *testing.T) {
	t.Parallel()
	local := server(t)
	// Whatever chose the address, the guarded dialer's last check, on the
	// connect itself, refuses it: here through a plain net.Dialer using
	// the same control as the guarded one.
	d := net.Dialer{Control: egress.Control}
	_, err := d.DialContext(context.Background(), "tcp", local.Host)
	require.ErrorIs(t, err, egress.ErrForbidden)
	require.NoError(t, egress.Control("tcp4", "93.184.215.14:443", nil))
	require.ErrorIs(t, egress.Control("tcp6", "[::1]:443", nil), egress.ErrForbidden)
	require.ErrorIs(t, egress.Control("tcp6", "[::ffff:10.0.0.1]:443", nil), egress.ErrForbidden)
}

func TestAListedHostIsReachedWhereverItResolvesAndNoOtherIs(t *testing.T) {
	t.Parallel()
	local := server(t)
	p, err := egress.NewPolicy([]string{"127.0.0.1"})
	require.NoError(t, err)
	d := egress.NewDialer(p, fakeResolver{}, time.Second)

	conn, err := d.DialContext(context.Background(), "tcp", local.Host)
	require.NoError(t, err, "the operator vouches for it")
	require.NoError(t, conn.Close())

	_, err = d.DialContext(context.Background(), "tcp", "hooks.example.com:443")
	require.ErrorIs(t, err, egress.ErrForbidden, "with a list, an unlisted host is not even resolved")
	require.Contains(t, err.Error(), "not on webhooks.allowed_hosts")
}

func TestANameWithoutAnyAddressIsNotForbiddenButUnresolved(t *testing.T) {
	t.Parallel()
	d := egress.NewDialer(egress.Policy{}, fakeResolver{}, time.Second)
	_, err := d.DialContext(context.Background(), "tcp", "hooks.example.com:443")
	require.Error(t, err)
	require.False(t, errors.Is(err, egress.ErrForbidden))
}

func TestARefusalNamesTheSettingOfItsList(t *testing.T) {
	t.Parallel()
	p, err := egress.NewPolicyOf("webhook_channel.allowed_hosts", []string{"hooks.example.com"})
	require.NoError(t, err)

	err = p.CheckHost("other.example.com")
	require.ErrorIs(t, err, egress.ErrForbidden)
	require.ErrorContains(t, err, `host "other.example.com" is not on webhook_channel.allowed_hosts`)
	_, err = egress.NewDialer(p, nil, time.Second).DialContext(context.Background(), "tcp", "other.example.com:443")
	require.ErrorContains(t, err, "not on webhook_channel.allowed_hosts")

	p, err = egress.NewPolicy([]string{"hooks.example.com"})
	require.NoError(t, err)
	require.ErrorContains(t, p.CheckHost("other.example.com"), "not on webhooks.allowed_hosts")
}
