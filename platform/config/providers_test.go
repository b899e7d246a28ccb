package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/config"
)

func TestTheFirstProviderIsTheTopLevelKeysAndTheListFollowsIt(t *testing.T) {
	path := writeFile(t, `smtp:
  name: primary
  rate_limit: 10
  providers:
    - {name: backup, addr: "smtp2.example:587", username: u2, password: p2, rate_limit: 2.5}
    - {name: last, addr: "smtp3.example:465", tls: tls, from: "Other <other@cinema.example>"}
sms:
  name: main
  providers:
    - {name: backup, url: "https://sms2.example/send", timeout: 2s}
    - {name: third, url: "https://sms3.example/send"}
`)
	c, err := config.Load(env(map[string]string{
		"NOTIFIER_CONFIG": path, "NOTIFIER_SMTP_ADDR": "smtp1.example:587", "NOTIFIER_SMS_URL": "https://sms1.example/send",
	}))
	require.NoError(t, err)

	servers := c.SMTP.Servers()
	require.Len(t, servers, 3)
	assert.Equal(t, config.Keyed[config.SMTPServer]{Key: "smtp", Value: config.SMTPServer{
		Name: "primary", Addr: "smtp1.example:587", From: c.SMTP.From, TLS: "starttls", RateLimit: 10,
	}}, servers[0])
	assert.Equal(t, config.Keyed[config.SMTPServer]{Key: "smtp.providers[0]", Value: config.SMTPServer{
		Name: "backup", Addr: "smtp2.example:587", From: c.SMTP.From, TLS: "starttls", Username: "u2", Password: "p2", RateLimit: 2.5,
	}}, servers[1], "from and tls are the top-level ones")
	assert.Equal(t, "tls", servers[2].Value.TLS)
	assert.Equal(t, "Other <other@cinema.example>", servers[2].Value.From)

	gateways := c.SMS.Gateways()
	require.Len(t, gateways, 3)
	assert.Equal(t, []string{"main", "backup", "third"}, []string{gateways[0].Value.Name, gateways[1].Value.Name, gateways[2].Value.Name})
	assert.Equal(t, 2*time.Second, gateways[1].Value.Timeout)
	assert.Equal(t, c.SMS.Timeout, gateways[2].Value.Timeout, "the top-level timeout")
	assert.Equal(t, config.Breaker{Failures: 5, OpenFor: 30 * time.Second}, c.Delivery.Breaker)
}

func TestASingleProviderNeedsNoName(t *testing.T) {
	c, err := config.Load(env(map[string]string{"NOTIFIER_SMTP_ADDR": "smtp1.example:587", "NOTIFIER_SMS_URL": "https://sms.example/send"}))
	require.NoError(t, err)
	require.Len(t, c.SMTP.Servers(), 1)
	assert.Equal(t, "smtp", c.SMTP.Servers()[0].Value.Name)
	assert.Equal(t, "gateway", c.SMS.Gateways()[0].Value.Name)

	c, err = config.Load(env(nil))
	require.NoError(t, err)
	assert.Empty(t, c.SMTP.Servers(), "the capture channel")
	assert.Empty(t, c.SMS.Gateways())
}

func TestAFirstProviderNamedWithoutItsAddressIsRefused(t *testing.T) {
	path := writeFile(t, "smtp:\n  name: primary\nsms:\n  rate_limit: 5\n")
	assert.Equal(t, []string{
		"NOTIFIER_SMTP_ADDR (smtp.addr): empty, so smtp.name and smtp.rate_limit name no server: set it, or name the first of smtp.providers",
		"NOTIFIER_SMS_URL (sms.url): empty, so sms.name and sms.rate_limit name no gateway: set it, or name the first of sms.providers",
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": path}))
}

func TestBadProvidersAreNamedByTheirKey(t *testing.T) {
	path := writeFile(t, `smtp:
  addr: "smtp1.example:587"
  rate_limit: -1
  providers:
    - {name: Backup!, addr: "smtp2.example"}
    - {name: b, tls: ssl}
    - {name: b, addr: "smtp4.example:25", rate_limit: -3}
sms:
  name: main
  providers:
    - {name: main, url: "ftp://sms2.example"}
    - {url: "https://sms3.example", timeout: -1s}
delivery:
  breaker: {failures: 0, open_for: 0s}
`)
	assert.Equal(t, []string{
		`smtp.name: required when a channel has several providers`,
		`smtp.rate_limit: -1, want messages per second, 0 for unlimited`,
		`smtp.providers[0].addr: "smtp2.example": missing port in address, want host:port such as 127.0.0.1:8080 or :8080`,
		`smtp.providers[0].name: "Backup!": want 1 to 64 of a-z 0-9 _ . -`,
		`smtp.providers[1].addr: every SMTP provider needs its host:port`,
		`smtp.providers[1].tls: "ssl" is not none, starttls or tls`,
		`smtp.providers[2].name: "b" is the name of smtp.providers[1] already: names must be unique`,
		`smtp.providers[2].rate_limit: -3, want messages per second, 0 for unlimited`,
		`sms.providers[0].url: want a http:// or https:// URL`,
		`sms.providers[0].name: "main" is the name of sms already: names must be unique`,
		`sms.providers[1].timeout: -1s, want a duration above zero (or none: sms.timeout)`,
		`sms.providers[1].name: required when a channel has several providers`,
		`delivery.breaker.failures: 0, at least 1 needed`,
		`delivery.breaker.open_for: 0s, want a duration above zero`,
	}, problems(t, map[string]string{"NOTIFIER_CONFIG": path, "NOTIFIER_SMS_URL": "https://sms1.example/send"}))
}
