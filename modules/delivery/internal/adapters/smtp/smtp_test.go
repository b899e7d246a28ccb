package smtp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/smtp"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// server is a tiny in-process SMTP server speaking just enough of the
// protocol for go-mail and smtptx: EHLO, MAIL, RCPT, DATA, RSET, NOOP,
// QUIT. It offers PIPELINING and, like a pipelining server, holds its
// replies until it has read every command the client sent and would have
// to wait for more: each such wait is one round trip of the client, and the
// commands read before it form one batch.
type server struct {
	ln net.Listener
	// plain leaves PIPELINING out of the EHLO reply.
	plain bool
	// rcptReply answers RCPT TO for an address; "" means 250.
	rcptReply func(addr string) string
	// contentReply answers the content of a message to an address; ""
	// means 250.
	contentReply func(addr string) string
	// drop closes the first connection after its first message: "accepted"
	// right after accepting it, "421" after accepting it and saying 421
	// (as an idle timeout does), "lost" when the message has arrived but
	// before its reply.
	drop string

	mu      sync.Mutex
	conns   int
	quits   int
	mails   []received
	batches [][]string // the verbs (and "<content>") of each round trip
	wg      sync.WaitGroup
}

type received struct {
	from, to string
	data     string
}

// newServer starts a server, configured by configure before it serves.
func newServer(t *testing.T, configure ...func(*server)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &server{ln: ln}
	for _, f := range configure {
		f(s)
	}
	s.wg.Go(s.serve)
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		drop := ""
		if s.conns == 1 {
			drop = s.drop
		}
		s.mu.Unlock()
		s.wg.Go(func() { s.session(c, drop) })
	}
}

// flushingConn sends the replies held before each read of the connection,
// which the textproto reader makes only when it has nothing buffered.
type flushingConn struct {
	net.Conn
	srv   *server
	w     *bufio.Writer
	batch []string
}

func (c *flushingConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *flushingConn) flush() error {
	if c.w.Buffered() == 0 {
		return nil
	}
	if len(c.batch) > 0 {
		c.srv.mu.Lock()
		c.srv.batches = append(c.srv.batches, c.batch)
		c.srv.mu.Unlock()
		c.batch = nil
	}
	return c.w.Flush()
}

func (s *server) session(c net.Conn, drop string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fc := &flushingConn{Conn: c, srv: s}
	tp := textproto.NewConn(fc)
	fc.w = tp.W
	reply := func(lines ...string) { _, _ = tp.W.WriteString(strings.Join(lines, "\r\n") + "\r\n") }
	reply("220 fake ESMTP")
	var cur received
	inTx, rcpts := false, 0
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		fc.batch = append(fc.batch, verb)
		switch {
		case verb == "EHLO" || verb == "HELO":
			ext := []string{"250-fake", "250-8BITMIME"}
			if !s.plain {
				ext = append(ext, "250-PIPELINING")
			}
			reply(append(ext, "250 ENHANCEDSTATUSCODES")...)
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			cur, inTx, rcpts = received{from: addrOf(line)}, true, 0
			reply("250 2.1.0 ok")
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			to := addrOf(line)
			if s.rcptReply != nil {
				if r := s.rcptReply(to); r != "" {
					reply(r)
					continue
				}
			}
			cur.to, rcpts = to, rcpts+1
			reply("250 2.1.5 ok")
		case verb == "DATA":
			if !inTx || rcpts == 0 {
				reply("554 5.5.1 no valid recipients")
				continue
			}
			reply("354 go ahead")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			fc.batch = append(fc.batch, "<content>")
			cur.data = string(data)
			inTx = false
			if s.contentReply != nil {
				if r := s.contentReply(cur.to); r != "" {
					reply(r)
					continue
				}
			}
			s.mu.Lock()
			s.mails = append(s.mails, cur)
			s.mu.Unlock()
			switch drop {
			case "lost":
				return
			case "421":
				reply("250 2.0.0 queued", "421 4.4.2 fake closing: idle timeout")
				_ = fc.flush()
				return
			case "accepted":
				reply("250 2.0.0 queued")
				_ = fc.flush()
				return
			}
			reply("250 2.0.0 queued")
		case verb == "RSET" || verb == "NOOP":
			if verb == "RSET" {
				inTx = false
			}
			reply("250 2.0.0 ok")
		case verb == "QUIT":
			s.mu.Lock()
			s.quits++
			s.mu.Unlock()
			reply("221 2.0.0 bye")
			_ = fc.flush()
			return
		default:
			reply("502 5.5.2 unknown command")
		}
	}
}

func addrOf(line string) string {
	_, rest, _ := strings.Cut(line, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.IndexByte(rest, '>'); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimPrefix(rest, "<")
}

func (s *server) stats() (conns, quits int, mails []received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.quits, append([]received(nil), s.mails...)
}

func (s *server) rounds() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.batches...)
}

func newSender(t *testing.T, addr string) *smtp.Sender {
	t.Helper()
	s, err := smtp.New(smtp.Config{Addr: addr, From: "Notifier <noreply@cinema.example>", TLS: smtp.TLSNone, Timeout: 5 * time.Second, HELO: "notifier.test"},
		slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func message(to string) app.Message {
	return app.Message{
		ID: "0123456789abcdef0123456789abcdef@notifier", IdempotencyKey: "0123456789abcdef0123456789abcdef",
		PostingID: "p1", UserID: "u1", Channel: "email", To: to,
		Subject: "Новые фильмы для Алёны",
		Text:    "# Новинки\n\nЗдравствуйте, Алёна!",
		HTML:    "<html><body><h1>Новинки</h1><p>Здравствуйте, Алёна!</p></body></html>",
	}
}

// parsed is what a mail client shows of a received message.
type parsed struct {
	subject, messageID, contentType string
	parts                           map[string]string
}

func parse(t *testing.T, data string) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	require.NoError(t, err)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	out := parsed{subject: subject, messageID: m.Header.Get("Message-ID"), contentType: mediaType, parts: map[string]string{}}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return out
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		body, err := io.ReadAll(p) // quoted-printable is decoded by NextPart
		require.NoError(t, err)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out.parts[ct] = strings.ReplaceAll(string(body), "\r\n", "\n")
	}
}

func TestEmailArrivesAsTextAndHTMLWithItsSubjectAndStableMessageIDOverOneConnection(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sender := newSender(t, srv.addr())

	require.NoError(t, sender.Send(context.Background(), message("alena@example.com")))
	require.NoError(t, sender.Send(context.Background(), message("boris@example.com")))

	conns, _, mails := srv.stats()
	require.Equal(t, 1, conns, "the second message reuses the first connection")
	require.Len(t, mails, 2)
	require.Equal(t, "noreply@cinema.example", mails[0].from)
	require.Equal(t, "alena@example.com", mails[0].to)
	require.Equal(t, "boris@example.com", mails[1].to)

	got := parse(t, mails[0].data)
	require.Equal(t, "Новые фильмы для Алёны", got.subject)
	require.Equal(t, "<0123456789abcdef0123456789abcdef@notifier>", got.messageID)
	require.Equal(t, "multipart/alternative", got.contentType)
	require.Equal(t, "# Новинки\n\nЗдравствуйте, Алёна!", got.parts["text/plain"])
	require.Equal(t, "<html><body><h1>Новинки</h1><p>Здравствуйте, Алёна!</p></body></html>", got.parts["text/html"])
}

func TestRefusedRecipientIsTransientOn4xxAndPermanentOn5xxWithoutTheAddress(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(srv *server) {
		srv.rcptReply = func(addr string) string {
			switch addr {
			case "busy@example.com":
				return "451 4.3.0 <busy@example.com> try again later"
			case "gone@example.com":
				return "550 5.1.1 <gone@example.com> no such user"
			case "full@example.com":
				return "452 4.2.2 mailbox full"
			}
			return ""
		}
	})
	sender := newSender(t, srv.addr())
	ctx := context.Background()

	err := sender.Send(ctx, message("busy@example.com"))
	require.Error(t, err)
	require.True(t, app.IsTransient(err), "%v", err)
	require.Equal(t, app.RetryServer, app.RetryClassOf(err), "a 4xx is the server's")
	require.Contains(t, err.Error(), "451 4.3.0")
	require.NotContains(t, err.Error(), "busy@", "the stored error holds no address")

	err = sender.Send(ctx, message("full@example.com"))
	require.True(t, app.IsTransient(err), "%v", err)

	err = sender.Send(ctx, message("gone@example.com"))
	require.Error(t, err)
	require.False(t, app.IsTransient(err), "%v", err)
	require.Contains(t, err.Error(), "550 5.1.1")
	require.NotContains(t, err.Error(), "gone@")

	require.NoError(t, sender.Send(ctx, message("fine@example.com")))
	conns, _, mails := srv.stats()
	require.Equal(t, 1, conns, "a refused recipient does not cost the connection")
	require.Len(t, mails, 1)
}

func TestOnlyARefusalOfTheMailboxAtRCPTMarksTheRecipientRefused(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(srv *server) {
		srv.rcptReply = func(addr string) string {
			return map[string]string{
				"gone@example.com":     "550 5.1.1 <gone@example.com> no such user",
				"nodomain@example.com": "550 5.1.2 bad destination system",
				"plain@example.com":    "550 mailbox unavailable",
				"disabled@example.com": "550 5.2.1 mailbox disabled",
				"badname@example.com":  "553 mailbox name not allowed",
				"blocked@example.com":  "554 5.7.1 your IP is on a block list",
				"policy@example.com":   "550 5.7.1 relaying denied",
				"full@example.com":     "552 5.2.2 mailbox full",
				"busy@example.com":     "451 4.3.0 try again later",
				"other@example.com":    "554 transaction failed",
				"sender@example.com":   "550 5.1.8 <noreply@cinema.example>: Sender address rejected: Domain not found",
			}[addr]
		}
		srv.contentReply = func(addr string) string {
			if addr == "spam@example.com" {
				return "552 5.3.4 message too big"
			}
			return ""
		}
	})
	sender := newSender(t, srv.addr())
	cases := []struct {
		to      string
		refused bool
	}{
		{"gone@example.com", true},
		{"nodomain@example.com", true},
		{"plain@example.com", true},
		{"disabled@example.com", true},
		{"badname@example.com", true},
		{"blocked@example.com", false}, // our sending IP, not the mailbox
		{"policy@example.com", false},
		{"full@example.com", false}, // a full mailbox may empty again
		{"busy@example.com", false}, // transient
		{"other@example.com", false},
		{"sender@example.com", false}, // the sender's address, refused at RCPT
		{"spam@example.com", false},   // refused at the content, not at RCPT
	}
	for _, c := range cases {
		err := sender.Send(context.Background(), message(c.to))
		require.Error(t, err, c.to)
		require.Equal(t, c.refused, app.IsRecipientRefused(err), "%s: %v", c.to, err)
		if c.refused {
			require.False(t, app.IsTransient(err), c.to)
		}
		require.NotContains(t, err.Error(), "@", "the stored error holds no address")
	}
	require.NoError(t, sender.Send(context.Background(), message("fine@example.com")))
}

func TestMessageTakesTwoRoundTripsWithPipeliningFourWithoutAndNoNoopOrRset(t *testing.T) {
	t.Parallel()
	for name, plain := range map[string]bool{"pipelining": false, "without pipelining": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(srv *server) { srv.plain = plain })
			sender := newSender(t, srv.addr())

			to := []string{"alena@example.com", "boris@example.com", "vera@example.com"}
			for _, addr := range to {
				require.NoError(t, sender.Send(context.Background(), message(addr)))
			}

			tx := [][]string{{"MAIL", "RCPT", "DATA"}, {"<content>"}} // MAIL, RCPT, DATA in one write
			if plain {
				tx = [][]string{{"MAIL"}, {"RCPT"}, {"DATA"}, {"<content>"}} // each command its round trip
			}
			want := [][]string{{"EHLO"}}
			for range to {
				want = append(want, tx...)
			}
			require.Equal(t, want, srv.rounds(), "no NOOP before and no RSET after a message")
			conns, quits, mails := srv.stats()
			require.Equal(t, 1, conns, "the connection is kept for every message")
			require.Zero(t, quits)
			require.Len(t, mails, len(to))
		})
	}
}

func TestConnectionClosedByTheServerIsReopenedOnTheNextSend(t *testing.T) {
	t.Parallel()
	for _, drop := range []string{"accepted", "421"} {
		t.Run("after "+drop, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(srv *server) { srv.drop = drop })
			sender := newSender(t, srv.addr())

			// The kept connection is gone when the second message comes:
			// it fails before the server took anything, and goes out on
			// a new connection.
			require.NoError(t, sender.Send(context.Background(), message("a@example.com")))
			require.NoError(t, sender.Send(context.Background(), message("b@example.com")))
			conns, _, mails := srv.stats()
			require.Equal(t, 2, conns)
			require.Len(t, mails, 2, "each message once")
			require.Equal(t, "b@example.com", mails[1].to)
		})
	}
}

func TestLostFinalReplyIsTransientAndNotResentOnTheSameCall(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(srv *server) { srv.drop = "lost" })
	sender := newSender(t, srv.addr())

	err := sender.Send(context.Background(), message("a@example.com"))
	require.Error(t, err)
	require.True(t, app.IsTransient(err), "%v", err)
	require.Equal(t, app.RetryConnection, app.RetryClassOf(err))
	require.Equal(t, "smtp: sending message content: no reply (connection closed)", err.Error())
	_, _, mails := srv.stats()
	require.Len(t, mails, 1, "the server got it once; Send does not resend what may have been accepted")

	// The retry, with the same Message-ID, goes out on a new connection.
	require.NoError(t, sender.Send(context.Background(), message("a@example.com")))
	conns, _, mails := srv.stats()
	require.Equal(t, 2, conns)
	require.Len(t, mails, 2)
	require.Equal(t, parse(t, mails[0].data).messageID, parse(t, mails[1].data).messageID)
}

func TestServerGoneForGoodIsTransientAfterOneNewConnection(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(srv *server) { srv.drop = "accepted" })
	sender := newSender(t, srv.addr())
	require.NoError(t, sender.Send(context.Background(), message("a@example.com")))
	require.NoError(t, srv.ln.Close())

	err := sender.Send(context.Background(), message("b@example.com"))
	require.Error(t, err)
	require.True(t, app.IsTransient(err), "%v", err)
	require.Contains(t, err.Error(), "smtp: connect:")
	require.NotContains(t, err.Error(), "b@")
	conns, _, mails := srv.stats()
	require.Equal(t, 1, conns)
	require.Len(t, mails, 1)
}

func TestUnreachableServerIsTransient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	err = newSender(t, addr).Send(context.Background(), message("a@example.com"))
	require.Error(t, err)
	require.True(t, app.IsTransient(err), "%v", err)
	require.Equal(t, app.RetryConnection, app.RetryClassOf(err))
}

func TestServerThatNeverGreetsIsATransientTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan net.Conn, 1)
	go func() {
		defer close(accepted)
		if c, err := ln.Accept(); err == nil {
			accepted <- c // held open, silent
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		if c, ok := <-accepted; ok {
			_ = c.Close()
		}
	})
	s, err := smtp.New(smtp.Config{Addr: ln.Addr().String(), From: "noreply@cinema.example", Timeout: 50 * time.Millisecond},
		slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	err = s.Send(context.Background(), message("a@example.com"))
	require.True(t, app.IsTransient(err), "%v", err)
	require.Equal(t, app.RetryTimeout, app.RetryClassOf(err), "%v", err)
	require.EqualError(t, err, "smtp: connect: timeout")
}

func TestInvalidRecipientIsPermanent(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	err := newSender(t, srv.addr()).Send(context.Background(), message("not an address"))
	require.Error(t, err)
	require.False(t, app.IsTransient(err))
	require.NotContains(t, err.Error(), "not an address")
}

func TestCloseSaysQuit(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sender := newSender(t, srv.addr())
	require.NoError(t, sender.Send(context.Background(), message("a@example.com")))
	require.NoError(t, sender.Close())
	require.Eventually(t, func() bool { _, quits, _ := srv.stats(); return quits == 1 }, 5*time.Second, time.Millisecond)
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	for name, cfg := range map[string]smtp.Config{
		"no from":  {Addr: "mail:25", TLS: smtp.TLSNone},
		"bad from": {Addr: "mail:25", From: "nobody", TLS: smtp.TLSNone},
		"bad tls":  {Addr: "mail:25", From: "a@example.com", TLS: "ssl"},
		"bad port": {Addr: "mail:x", From: "a@example.com", TLS: smtp.TLSNone},
		"no addr":  {From: "a@example.com", TLS: smtp.TLSNone},
	} {
		_, err := smtp.New(cfg, logger)
		require.Error(t, err, name)
	}
	_, err := smtp.New(smtp.Config{Addr: "mail.example.com", From: "a@example.com", TLS: smtp.TLSStartTLS}, logger)
	require.NoError(t, err, "a host without a port takes the default port of its TLS mode")
}

// A message one Sender prepared (built before a shared connection is taken)
// goes out on another Sender of the pool as Send would have sent it.
func TestAMessagePreparedByOneSenderGoesOutOnAnotherAsSendWould(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	builder, other := newSender(t, srv.addr()), newSender(t, srv.addr())

	p, err := builder.Prepare(message("alena@example.com"))
	require.NoError(t, err)
	require.NoError(t, other.SendPrepared(context.Background(), p))
	p.Release()
	require.NoError(t, builder.Send(context.Background(), message("alena@example.com")))

	conns, _, mails := srv.stats()
	require.Equal(t, 2, conns, "each sender its own connection")
	require.Len(t, mails, 2)
	prepared, sent := parse(t, mails[0].data), parse(t, mails[1].data)
	require.Equal(t, "alena@example.com", mails[0].to)
	require.Equal(t, sent.subject, prepared.subject)
	require.Equal(t, sent.messageID, prepared.messageID)
	require.Equal(t, sent.parts, prepared.parts)

	_, err = builder.Prepare(message("not an address"))
	require.Error(t, err)
	require.False(t, app.IsTransient(err), "a message that cannot be built never will be")
	require.Error(t, other.SendPrepared(context.Background(), nil), "only what an SMTP sender prepared")
}

func TestAnEmailWithAnUnsubscribeLinkCarriesTheOneClickHeadersAndOthersNone(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sender := newSender(t, srv.addr())
	link := "https://notifier.example.com/api/v1/unsubscribe?token=M2YxYzJhOWUtN2IxZC00YTU1LTlhOGUtMGM0YjlkMmY2ZTExH25ld19tb3ZpZXMfZW1haWw.qXJ3lW4Ocx1J4C1CA0oSfJh1FNdlX4Pa5rA1e8y2Wm0"
	withLink := message("alena@example.com")
	withLink.ListUnsubscribe = link

	require.NoError(t, sender.Send(context.Background(), withLink))
	require.NoError(t, sender.Send(context.Background(), message("boris@example.com")))

	_, _, mails := srv.stats()
	require.Len(t, mails, 2)
	m, err := mail.ReadMessage(strings.NewReader(mails[0].data))
	require.NoError(t, err)
	assert.Equal(t, "<"+link+">", m.Header.Get("List-Unsubscribe"), "RFC 2369: the URL in angle brackets, whole")
	assert.Equal(t, "List-Unsubscribe=One-Click", m.Header.Get("List-Unsubscribe-Post"), "RFC 8058")
	other, err := mail.ReadMessage(strings.NewReader(mails[1].data))
	require.NoError(t, err)
	assert.Empty(t, other.Header.Get("List-Unsubscribe"))
	assert.Empty(t, other.Header.Get("List-Unsubscribe-Post"))
}
