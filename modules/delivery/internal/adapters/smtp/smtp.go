// Package smtp sends email through an SMTP server with go-mail. go-mail has
// no connection pool: a Sender keeps one connection open and reuses it for
// every message, reconnecting when the server has dropped it. Give each
// delivery worker its own Sender to send in parallel.
package smtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// The TLS modes of Config.TLS.
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
)

// Config configures the SMTP server.
type Config struct {
	// Addr is host:port; without a port, 25 (none), 587 (starttls) or
	// 465 (tls).
	Addr string
	// From is the sender, such as "Notifier <noreply@cinema.example>".
	From string
	// TLS is none, starttls (required) or tls (implicit, "SMTPS").
	TLS string
	// Username and Password authenticate when Username is set (the
	// mechanism is negotiated with the server).
	Username string
	Password string
	// Timeout bounds connecting and each command; zero means 15s.
	Timeout time.Duration
	// HELO is the name sent in EHLO; empty means the host name.
	HELO string
}

// Sender is an app.Sender for email over SMTP, safe for concurrent use (the
// sends share its one connection in turn).
type Sender struct {
	from   string
	client *mail.Client
	logger *slog.Logger

	mu   sync.Mutex
	conn *gosmtp.Client
}

// New returns a Sender for cfg; it does not connect until the first Send.
func New(cfg Config, logger *slog.Logger) (*Sender, error) {
	if logger == nil {
		return nil, errors.New("new smtp sender: logger is required")
	}
	if cfg.From == "" {
		return nil, errors.New("new smtp sender: smtp.from is required")
	}
	if err := mail.NewMsg().From(cfg.From); err != nil {
		return nil, fmt.Errorf("new smtp sender: smtp.from is not an address: %w", err)
	}
	opts := []mail.Option{}
	defaultPort := mail.DefaultPort
	switch cfg.TLS {
	case TLSNone, "":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		defaultPort = mail.DefaultPortTLS
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
		defaultPort = mail.DefaultPortSSL
	default:
		return nil, fmt.Errorf("new smtp sender: smtp.tls %q is not none, starttls or tls", cfg.TLS)
	}
	host, port, err := splitAddr(cfg.Addr, defaultPort)
	if err != nil {
		return nil, fmt.Errorf("new smtp sender: smtp.addr: %w", err)
	}
	opts = append(opts, mail.WithPort(port))
	if cfg.Timeout > 0 {
		opts = append(opts, mail.WithTimeout(cfg.Timeout))
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	client, err := mail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("new smtp sender: %w", err)
	}
	return &Sender{from: cfg.From, client: client, logger: logger}, nil
}

func splitAddr(addr string, defaultPort int) (string, int, error) {
	if addr == "" {
		return "", 0, errors.New("empty")
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return addr, defaultPort, nil
		}
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q has no valid port", addr)
	}
	return host, port, nil
}

// Send implements app.Sender: one multipart/alternative message (text and
// HTML when both are set), UTF-8 subject, Message-ID "<msg.ID>". SMTP 4xx
// answers and connection failures are transient, 5xx answers permanent.
// Errors carry the SMTP codes, never the address or the server's text.
func (s *Sender) Send(ctx context.Context, msg app.Message) error {
	m, err := s.build(msg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A kept connection may have been closed by the server meanwhile: then
	// the connection check fails before anything is sent, and one new
	// connection is worth a try.
	for try := 1; ; try++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		fresh := false
		if s.conn == nil {
			conn, err := s.client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				return app.Transient(fmt.Errorf("smtp: connect: %s", dialError(err)))
			}
			s.conn, fresh = conn, true
		}
		err := s.client.SendWithSMTPClient(s.conn, m)
		if err == nil {
			return nil
		}
		if m.IsDelivered() {
			// The server accepted the message; only resetting the
			// transaction afterwards failed. Sending again would duplicate it.
			s.drop()
			return nil
		}
		var se *mail.SendError
		if !errors.As(err, &se) {
			s.drop()
			return app.Transient(fmt.Errorf("smtp: %w", err))
		}
		if se.Reason == mail.ErrConnCheck {
			s.drop()
			if !fresh && try == 1 {
				continue
			}
			return app.Transient(errors.New("smtp: connection lost"))
		}
		if lostConnection(se) {
			s.drop()
		}
		return classify(se)
	}
}

// build makes the go-mail message; its errors are permanent.
func (s *Sender) build(msg app.Message) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(s.from); err != nil {
		return nil, fmt.Errorf("smtp: invalid sender address: %w", err)
	}
	if err := m.To(msg.To); err != nil {
		return nil, errors.New("smtp: invalid recipient address")
	}
	m.Subject(msg.Subject)
	if msg.ID != "" {
		m.SetMessageIDWithValue(msg.ID)
	}
	m.SetDate()
	switch {
	case msg.Text != "" && msg.HTML != "":
		m.SetBodyString(mail.TypeTextPlain, msg.Text)
		m.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	case msg.HTML != "":
		m.SetBodyString(mail.TypeTextHTML, msg.HTML)
	default:
		m.SetBodyString(mail.TypeTextPlain, msg.Text)
	}
	return m, nil
}

// classify turns a go-mail SendError into a public error: transient for a
// 4xx answer and for failures without an answer (the connection), permanent
// for a 5xx answer and for a message go-mail refused itself.
func classify(se *mail.SendError) error {
	code := se.ErrorCode()
	text := fmt.Sprintf("smtp: %s", se.Reason)
	if code != 0 {
		text += fmt.Sprintf(": %d", code)
		if esc := se.EnhancedStatusCode(); esc != "" {
			text += " " + esc
		}
	}
	err := errors.New(text)
	switch {
	case code >= 500:
		return err
	case code >= 400, se.IsTemp():
		return app.Transient(err)
	case se.Reason == mail.ErrGetSender, se.Reason == mail.ErrGetRcpts, se.Reason == mail.ErrNoUnencoded:
		return err
	default:
		return app.Transient(err)
	}
}

// lostConnection reports whether a failure leaves the connection unusable:
// a failure without an SMTP answer in the middle of a transaction, or a
// 421 (the server is closing the connection).
func lostConnection(se *mail.SendError) bool {
	if se.ErrorCode() == 421 {
		return true
	}
	if se.ErrorCode() != 0 {
		return false
	}
	switch se.Reason {
	case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
		return false
	default:
		return true
	}
}

// dialError keeps a dial failure's cause without the server's text.
func dialError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	if msg := err.Error(); len(msg) >= 3 && (msg[0] == '4' || msg[0] == '5') {
		return msg[:3] // an SMTP answer to the greeting, EHLO, STARTTLS or AUTH
	}
	return "failed"
}

// drop closes the kept connection, if any, without waiting for the server.
func (s *Sender) drop() {
	if s.conn == nil {
		return
	}
	_ = s.conn.Close()
	s.conn = nil
}

// Close says goodbye to the server (QUIT) and closes the kept connection.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.client.CloseWithSMTPClient(s.conn)
	s.drop()
	if err != nil {
		s.logger.Debug("smtp quit failed", "error", err)
	}
	return nil
}
