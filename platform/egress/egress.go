// Package egress decides where outgoing calls to addresses that users chose
// (webhook endpoints; the webhook channel) may connect to: the hosts
// of an allow-list, or, when that list is empty, any host whose address is
// public. The address is checked on every connection,
// after the DNS answer and on the very address dialed, so that neither a
// registered URL nor a DNS answer that changes after registration (DNS
// rebinding) reaches loopback, a private network or the cloud's metadata
// service.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden is wrapped by every refusal of a host or an address.
var ErrForbidden = errors.New("address not allowed")

// forbidden returns an error wrapping ErrForbidden that says why.
func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrForbidden, fmt.Sprintf(format, args...))
}

// ranges are the addresses no webhook may reach unless its host is on the
// allow list, with why. IPv4-mapped IPv6 addresses are unmapped before
// they are looked up.
var ranges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped"},
	{netip.MustParsePrefix("64:ff9b::/96"), "IPv4 translation"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "IPv4 translation"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2002::/16"), "6to4"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Forbidden reports whether a is an address no webhook may reach unless
// its host is allowed (loopback, private, link-local, unspecified,
// multicast, shared, reserved, documentation and translation ranges, in
// IPv4 and IPv6, mapped forms included), and what kind it is.
func Forbidden(a netip.Addr) (what string, bad bool) {
	if !a.IsValid() {
		return "invalid", true
	}
	if a.Zone() != "" {
		return "scoped", true
	}
	a = a.Unmap()
	for _, r := range ranges {
		if r.prefix.Contains(a) {
			return r.what, true
		}
	}
	return "", false
}

// Policy is an allow-list setting such as webhooks.allowed_hosts: the
// hosts an operator vouches for. An empty Policy lets any host with public
// addresses be reached.
type Policy struct {
	hosts    map[string]bool
	suffixes []string // of "*.example.com" entries: ".example.com"
	// setting names the list in refusals ("webhooks.allowed_hosts").
	setting string
}

// DefaultSetting is the setting NewPolicy's refusals name.
const DefaultSetting = "webhooks.allowed_hosts"

// NewPolicy parses the allowed hosts of webhooks.allowed_hosts: host names
// or IP addresses, without scheme or port, or "*.example.com" for every
// subdomain of example.com. It returns an error naming the first entry it
// cannot read.
func NewPolicy(allowed []string) (Policy, error) {
	return NewPolicyOf(DefaultSetting, allowed)
}

// NewPolicyOf is NewPolicy for the list of another setting, which its
// refusals name (such as "webhook_channel.allowed_hosts").
func NewPolicyOf(setting string, allowed []string) (Policy, error) {
	p := Policy{hosts: map[string]bool{}, setting: setting}
	for i, raw := range allowed {
		h := normalizeHost(raw)
		wild := strings.HasPrefix(h, "*.")
		name := strings.TrimPrefix(h, "*.")
		if err := checkEntry(name); err != nil {
			return Policy{}, fmt.Errorf("entry %d (%q): %w", i+1, raw, err)
		}
		if wild {
			p.suffixes = append(p.suffixes, "."+name)
		} else {
			p.hosts[name] = true
		}
	}
	return p, nil
}

func checkEntry(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if strings.ContainsAny(h, "/:@?#* ") {
		return errors.New("want a host name or an IP address, without scheme, port or path")
	}
	return nil
}

// normalizeHost lowercases a host and drops a trailing dot and IPv6
// brackets.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(h, ".")
}

// settingName returns the setting the policy's list comes from.
func (p Policy) settingName() string {
	if p.setting == "" {
		return DefaultSetting
	}
	return p.setting
}

// Restricted reports whether only the listed hosts may be reached.
func (p Policy) Restricted() bool { return len(p.hosts) > 0 || len(p.suffixes) > 0 }

// Listed reports whether host is on the list; such a host is reached
// wherever it resolves, private addresses included.
func (p Policy) Listed(host string) bool {
	h := normalizeHost(host)
	if p.hosts[h] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// CheckHost says whether a URL with host may be registered: with a list,
// only a listed host; without, any host but a forbidden address and the
// names that always mean this machine (localhost and its subdomains).
// Names are not resolved here: Dialer checks what they resolve to on each
// connection. The error wraps ErrForbidden.
func (p Policy) CheckHost(host string) error {
	h := normalizeHost(host)
	switch {
	case p.Listed(h):
		return nil
	case p.Restricted():
		return forbidden("host %q is not on %s", h, p.settingName())
	case h == "localhost" || strings.HasSuffix(h, ".localhost"):
		return forbidden("host %q is this machine", h)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if what, bad := Forbidden(a); bad {
			return forbidden("%s is a %s address", h, what)
		}
	}
	return nil
}

// Resolver looks host names up (*net.Resolver).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer connects to webhook endpoints under a Policy.
type Dialer struct {
	policy   Policy
	resolver Resolver
	// listed dials the hosts on the list, as they resolve.
	listed net.Dialer
	// guarded dials the others, and refuses a forbidden address as the
	// socket connects (Control), whatever gave it.
	guarded net.Dialer
}

// NewDialer returns a Dialer for p that resolves names with r (nil:
// net.DefaultResolver) and gives up a connection after timeout.
func NewDialer(p Policy, r Resolver, timeout time.Duration) *Dialer {
	if r == nil {
		r = net.DefaultResolver
	}
	d := &Dialer{policy: p, resolver: r}
	d.listed = net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	d.guarded = net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: Control}
	return d
}

// Control is the guarded dialer's net.Dialer.Control: it refuses a
// forbidden address as the socket connects, the last word, on the address
// actually connected to.
func Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return forbidden("cannot read address %q", address)
	}
	if what, bad := Forbidden(ap.Addr()); bad {
		return forbidden("%s is a %s address", ap.Addr(), what)
	}
	return nil
}

// DialContext is http.Transport's DialContext: a listed host is dialed as
// it resolves; with a list, no other host is; without one, the host's
// addresses are resolved once, the forbidden ones dropped, and the others
// dialed by address (so a second DNS answer cannot differ), each checked
// again as the socket connects. Refusals wrap ErrForbidden.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if d.policy.Listed(host) {
		return d.listed.DialContext(ctx, network, addr)
	}
	if d.policy.Restricted() {
		return nil, forbidden("host %q is not on %s", normalizeHost(host), d.policy.settingName())
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = d.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	var refused error
	var dialErr error
	for _, a := range addrs {
		if what, bad := Forbidden(a); bad {
			refused = forbidden("%s resolves to %s, a %s address", normalizeHost(host), a.Unmap(), what)
			continue
		}
		conn, err := d.guarded.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		dialErr = err
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case dialErr != nil:
		return nil, dialErr
	case refused != nil:
		return nil, refused
	default:
		return nil, fmt.Errorf("resolve: no address for %s", normalizeHost(host))
	}
}
