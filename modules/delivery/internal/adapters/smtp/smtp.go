// Package smtp sends email through an SMTP server. go-mail builds the
// message and opens the connection (EHLO, STARTTLS, AUTH); platform/smtptx
// runs the mail transaction on it: two round trips a message when the
// server offers PIPELINING, four without, and no NOOP or RSET per message.
// There is no connection pool: a Sender keeps one connection open and reuses
// it for every message, reconnecting when the server has dropped it. Give
// each delivery worker its own Sender to send in parallel.
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
	"github.com/notifier/notifier/platform/smtptx"
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
	// Timeout bounds connecting and each message's transaction; zero
	// means 15s.
	Timeout time.Duration
	// HELO is the name sent in EHLO; empty means the host name.
	HELO string
}

// Sender is an app.Sender for email over SMTP, safe for concurrent use (the
// sends share its one connection in turn).
type Sender struct {
	from    string
	client  *mail.Client
	timeout time.Duration
	logger  *slog.Logger

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
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = mail.DefaultTimeout
	}
	return &Sender{from: cfg.From, client: client, timeout: timeout, logger: logger}, nil
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
// HTML when both are set), UTF-8 subject, Message-ID "<msg.ID>", sent in
// one SMTP transaction (smtptx.SendMsg) on the kept connection, within the
// configured timeout. SMTP 4xx answers and connection failures are
// transient, 5xx answers permanent, and a 5xx answer to RCPT TO about the
// mailbox marked app.RecipientRefused (refusedRecipient). Errors carry the SMTP codes, never the
// address or the server's text.
//
// A kept connection the server has dropped meanwhile fails before the
// server answered anything but a 421, so nothing was accepted: Send then
// sends once more on a new connection. A message whose final answer was
// lost may have been accepted and is not sent again here; the error is
// transient, and a retry sends it again with the same Message-ID, so that a
// duplicate is recognisable. A failure that leaves the connection unusable
// (no answer, 421) closes it; the next Send connects anew.
func (s *Sender) Send(ctx context.Context, msg app.Message) error {
	p, err := s.Prepare(msg)
	if err != nil {
		return err
	}
	defer p.Release()
	return s.SendPrepared(ctx, p)
}

// prepared is a message Prepare built: its envelope and its MIME content.
type prepared struct {
	id, from, to string
	content      *smtptx.Built
}

// Release implements app.Prepared.
func (p *prepared) Release() { p.content.Release() }

// Prepare implements app.Preparer: it builds the MIME message (the work of
// a send that needs no connection), so that a worker sharing connections
// holds one only for the exchange. Its errors are permanent.
func (s *Sender) Prepare(msg app.Message) (app.Prepared, error) {
	m, err := s.build(msg)
	if err != nil {
		return nil, err
	}
	from, err := m.GetSender(false)
	if err != nil {
		return nil, fmt.Errorf("smtp: invalid sender address: %w", err)
	}
	rcpts, err := m.GetRecipients()
	if err != nil || len(rcpts) != 1 {
		return nil, errors.New("smtp: invalid recipient address")
	}
	content, err := smtptx.Build(m)
	if err != nil {
		return nil, fmt.Errorf("smtp: build the message: %w", err)
	}
	return &prepared{id: msg.ID, from: from, to: rcpts[0], content: content}, nil
}

// SendPrepared implements app.Preparer: it sends a message this or another
// Sender of the same configuration prepared, as Send does.
func (s *Sender) SendPrepared(ctx context.Context, pm app.Prepared) error {
	p, ok := pm.(*prepared)
	if !ok || p.content == nil {
		return errors.New("smtp: not a message prepared for smtp")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for try := 1; ; try++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		fresh := false
		if s.conn == nil {
			conn, err := s.client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				return app.TransientAs(dialClass(err), fmt.Errorf("smtp: connect: %s", dialError(err)))
			}
			s.conn, fresh = conn, true
		}
		err := smtptx.Send(s.conn, p.from, p.to, p.content, s.timeout)
		if err == nil {
			return nil
		}
		var te *smtptx.Error
		if !errors.As(err, &te) {
			// An envelope address smtptx refuses; nothing was sent.
			return errors.New("smtp: invalid envelope address")
		}
		if te.Broken() {
			s.drop()
		}
		if te.MaybeAccepted() {
			s.logger.WarnContext(ctx, "smtp reply to a sent message lost; it may have been delivered, and a retry may deliver it twice",
				"message_id", p.id, "error", te.Reason())
		}
		if te.Stale() && !fresh && try == 1 {
			continue
		}
		return classify(te)
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
	if msg.ListUnsubscribe != "" {
		// RFC 2369 and RFC 8058: one click in the mail client unsubscribes
		// (Gmail and Yahoo require it of bulk senders).
		m.SetGenHeader(mail.HeaderListUnsubscribe, "<"+msg.ListUnsubscribe+">")
		m.SetGenHeader(mail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
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

// stageText names a transaction stage as go-mail's errors did.
var stageText = map[string]string{
	smtptx.StageMail:    "sending SMTP MAIL FROM command",
	smtptx.StageRcpt:    "sending SMTP RCPT TO command",
	smtptx.StageData:    "sending SMTP DATA command",
	smtptx.StageContent: "sending message content",
}

// classify turns a failed transaction into a public error, such as
// "smtp: sending SMTP RCPT TO command: 550 5.1.1": permanent for a 5xx
// answer (marked app.RecipientRefused when refusedRecipient says the
// answer is about the address), transient for anything else: a 4xx answer
// (app.RetryServer), no answer in time (app.RetryTimeout), a connection
// that failed (app.RetryConnection).
func classify(te *smtptx.Error) error {
	stage, ok := stageText[te.Stage]
	if !ok {
		stage = te.Stage
	}
	err := fmt.Errorf("smtp: %s: %s", stage, te.Reason())
	if !te.Temporary() {
		if refusedRecipient(te) {
			return app.RecipientRefused(err)
		}
		return err
	}
	switch {
	case !te.NoReply():
		return app.TransientAs(app.RetryServer, err)
	case isTimeout(te.Err):
		return app.TransientAs(app.RetryTimeout, err)
	default:
		return app.TransientAs(app.RetryConnection, err)
	}
}

// refusedRecipient reports whether a failed transaction is a permanent
// refusal of the recipient's address itself, which puts the address on the
// suppression list: a 5xx answer to RCPT TO (never to MAIL, DATA or the
// content, which are about the sender or the message) that says the
// mailbox is the problem. With an enhanced status code (RFC 3463) that is
// class 5.1 (addressing: 5.1.1 no such mailbox, 5.1.2 no such domain,
// 5.1.10 null MX, …) but for 5.1.7 and 5.1.8 (the sender's address,
// which Postfix refuses at RCPT), or 5.2.1 (mailbox disabled); anything else, 5.7.x
// above all (a policy refusal: our sending IP is blocked, relaying is
// denied), is about the sender or the system, and a mailbox full (5.2.2)
// may empty again. Without an enhanced code: 550, 551 and 553, the replies
// RFC 5321 gives an unknown or unacceptable mailbox.
func refusedRecipient(te *smtptx.Error) bool {
	if te.Stage != smtptx.StageRcpt || te.Code < 500 || te.Code > 599 {
		return false
	}
	if te.Enhanced != "" {
		switch te.Enhanced {
		case "5.1.7", "5.1.8": // the sender's address, refused at RCPT (as Postfix does)
			return false
		case "5.2.1":
			return true
		}
		return strings.HasPrefix(te.Enhanced, "5.1.")
	}
	return te.Code == 550 || te.Code == 551 || te.Code == 553
}

// dialClass is the retry class of a failed connection: a timeout, an SMTP
// answer to the greeting, EHLO, STARTTLS or AUTH (the server), or the
// connection itself.
func dialClass(err error) app.RetryClass {
	switch code := dialError(err); {
	case code == "timeout":
		return app.RetryTimeout
	case len(code) == 3 && (code[0] == '4' || code[0] == '5'):
		return app.RetryServer
	default:
		return app.RetryConnection
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
