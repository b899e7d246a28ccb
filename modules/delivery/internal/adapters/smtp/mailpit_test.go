package smtp_test

import (
	"context"
	"io"
	"log/slog"
	"mime"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/internal/testenv"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/smtp"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

// These tests send through a real SMTP server, Mailpit, and read what it
// received through its API. Install it with scripts/install-mailpit.sh.

func mailpitSender(t *testing.T, addr string) *smtp.Sender {
	t.Helper()
	s, err := smtp.New(smtp.Config{
		Addr: addr, From: "Notifier <noreply@cinema.example>", TLS: smtp.TLSNone,
		Timeout: 5 * time.Second, HELO: "notifier.test",
	}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newMoviesEmail is a Russian email with both parts, its Message-ID derived
// from key as delivery derives it.
func newMoviesEmail(key, to, name string) app.Message {
	return app.Message{
		ID: key + "@notifier", IdempotencyKey: key,
		PostingID: "p1", UserID: "u-" + key[:4], Channel: "email", To: to,
		Subject: "Новые фильмы для вас, " + name,
		Text:    "# Новинки недели\n\nЗдравствуйте, " + name + "!\nВышли «Сталкер» и «Солярис».",
		HTML:    "<html><body><h1>Новинки недели</h1><p>Здравствуйте, " + name + "!</p><p>Вышли «Сталкер» и «Солярис».</p></body></html>",
	}
}

// connCounter stands between the sender and Mailpit, passing bytes through
// untouched and counting the TCP connections the sender opens.
type connCounter struct {
	ln     net.Listener
	target string
	conns  atomic.Int32

	mu   sync.Mutex
	open []net.Conn
	wg   sync.WaitGroup
}

func countConnections(t *testing.T, target string) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &connCounter{ln: ln, target: target}
	c.wg.Go(c.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		c.mu.Lock()
		for _, conn := range c.open {
			_ = conn.Close()
		}
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

func (c *connCounter) addr() string { return c.ln.Addr().String() }

func (c *connCounter) serve() {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.conns.Add(1)
		server, err := net.DialTimeout("tcp", c.target, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		c.mu.Lock()
		c.open = append(c.open, client, server)
		c.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		c.wg.Go(func() { pipe(server, client) })
		c.wg.Go(func() { pipe(client, server) })
	}
}

func TestEmailSentThroughMailpitArrivesWithRecipientSubjectBothPartsAndItsMessageID(t *testing.T) {
	t.Parallel()
	mp := testenv.Mailpit(t)
	counter := countConnections(t, mp.SMTPAddr())
	sender := mailpitSender(t, counter.addr())
	ctx := context.Background()

	sent := []app.Message{
		newMoviesEmail("0123456789abcdef0123456789abcdef", "alena@example.com", "Алёна"),
		newMoviesEmail("11111111111111111111111111111111", "boris@example.com", "Борис"),
		newMoviesEmail("22222222222222222222222222222222", "vera@example.com", "Вера"),
	}
	for _, msg := range sent {
		require.NoError(t, sender.Send(ctx, msg))
	}

	got := mp.WaitForMessages(t, len(sent))
	require.Len(t, got, len(sent))
	for i, msg := range sent {
		require.Len(t, got[i].To, 1)
		require.Equal(t, msg.To, got[i].To[0].Address)
		require.Equal(t, msg.Subject, got[i].Subject)
		require.Equal(t, msg.ID, got[i].MessageID)

		d := mp.Message(t, got[i].ID)
		require.Equal(t, "noreply@cinema.example", d.From.Address)
		require.Equal(t, "Notifier", d.From.Name)
		require.Equal(t, msg.Text, strings.ReplaceAll(strings.TrimRight(d.Text, "\r\n"), "\r\n", "\n"))
		require.Equal(t, msg.HTML, strings.TrimRight(d.HTML, "\r\n"))
		require.Equal(t, "<"+msg.ID+">", d.Headers.Get("Message-ID"), "the Message-ID is the delivery's own, stable across retries")
		mediaType, _, err := mime.ParseMediaType(d.Headers.Get("Content-Type"))
		require.NoError(t, err)
		require.Equal(t, "multipart/alternative", mediaType)
		require.NotContains(t, d.Headers.Get("Subject"), "Новые", "the Cyrillic subject travels encoded")
	}
	require.Equal(t, int32(1), counter.conns.Load(), "consecutive sends share one SMTP connection")
}

func TestMailpitRefusingTheRecipientIsPermanentAndKeepsTheConnection(t *testing.T) {
	t.Parallel()
	mp := testenv.Mailpit(t, "--smtp-allowed-recipients", `@example\.com$`)
	counter := countConnections(t, mp.SMTPAddr())
	sender := mailpitSender(t, counter.addr())
	ctx := context.Background()

	err := sender.Send(ctx, newMoviesEmail("33333333333333333333333333333333", "gone@elsewhere.test", "Гость"))
	require.Error(t, err)
	require.False(t, app.IsTransient(err), "a 5xx answer will not change on retry: %v", err)
	require.Contains(t, err.Error(), "550 5.1.0")
	require.NotContains(t, err.Error(), "gone@", "the stored error holds no address")

	require.NoError(t, sender.Send(ctx, newMoviesEmail("44444444444444444444444444444444", "anna@example.com", "Анна")))
	got := mp.WaitForMessages(t, 1)
	require.Len(t, got, 1)
	require.Equal(t, "anna@example.com", got[0].To[0].Address)
	require.Equal(t, int32(1), counter.conns.Load(), "a refused recipient does not cost the connection")
}

func TestMailpitDeferringTheRecipientIsTransient(t *testing.T) {
	t.Parallel()
	// Mailpit's chaos mode answers every RCPT TO with 451.
	mp := testenv.Mailpit(t, "--chaos-triggers", "Recipient:451:100")
	sender := mailpitSender(t, mp.SMTPAddr())

	err := sender.Send(context.Background(), newMoviesEmail("55555555555555555555555555555555", "anna@example.com", "Анна"))
	require.Error(t, err)
	require.True(t, app.IsTransient(err), "a 4xx answer is worth a retry: %v", err)
	require.Contains(t, err.Error(), "451")
	require.NotContains(t, err.Error(), "anna@")
	require.Empty(t, mp.Messages(t))
}

func TestMailpitGoneIsTransientAndTheNextSendReconnectsOnceItIsBack(t *testing.T) {
	t.Parallel()
	mp := testenv.Mailpit(t)
	sender := mailpitSender(t, mp.SMTPAddr())
	ctx := context.Background()
	require.NoError(t, sender.Send(ctx, newMoviesEmail("66666666666666666666666666666666", "anna@example.com", "Анна")))

	// The kept connection dies with the server, and nothing answers.
	mp.Stop(t)
	err := sender.Send(ctx, newMoviesEmail("77777777777777777777777777777777", "boris@example.com", "Борис"))
	require.Error(t, err)
	require.True(t, app.IsTransient(err), "a server that is down may be back later: %v", err)
	require.NotContains(t, err.Error(), "boris@")

	mp.Start(t)
	require.NoError(t, sender.Send(ctx, newMoviesEmail("77777777777777777777777777777777", "boris@example.com", "Борис")))
	got := mp.WaitForMessages(t, 2)
	require.Len(t, got, 2, "each message once")
	require.Equal(t, "anna@example.com", got[0].To[0].Address)
	require.Equal(t, "boris@example.com", got[1].To[0].Address)
}
