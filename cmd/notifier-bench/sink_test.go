package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	mail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/notifier/notifier/platform/smtptx"
)

func TestDiscardSinkCountsMessagesDistinctRecipientsAndStrangers(t *testing.T) {
	t.Parallel()
	// smtptx pipelines where it may, go-mail's own Send never does and
	// adds NOOPs and an RSET: the sink serves both, with each kind.
	for name, send := range map[string]func(*mail.Client, *gosmtp.Client, *mail.Msg) error{
		"smtptx": func(_ *mail.Client, conn *gosmtp.Client, m *mail.Msg) error {
			return smtptx.SendMsg(conn, m, mail.DefaultTimeout)
		},
		"go-mail": func(client *mail.Client, conn *gosmtp.Client, m *mail.Msg) error {
			return client.SendWithSMTPClient(conn, m)
		},
	} {
		for _, kind := range []sinkKind{sinkNone, sinkPipelining, sinkChunking} {
			t.Run(name+" "+kind.String(), func(t *testing.T) {
				t.Parallel()
				sink, err := startDiscardSink(10, kind)
				require.NoError(t, err)
				t.Cleanup(sink.close)
				host, port, err := splitHostPort(sink.addr())
				require.NoError(t, err)
				client, err := mail.NewClient(host, mail.WithPort(port), mail.WithTLSPolicy(mail.NoTLS))
				require.NoError(t, err)
				conn, err := client.DialToSMTPClientWithContext(context.Background())
				require.NoError(t, err)

				for _, to := range []string{"u1@bench.example", "u2@bench.example", "u2@bench.example", "anna@example.com"} {
					m := mail.NewMsg()
					require.NoError(t, m.From("noreply@cinema.example"))
					require.NoError(t, m.To(to))
					m.Subject("Новый фильм")
					m.SetBodyString(mail.TypeTextPlain, "Здравствуйте!\n.\n..a line that starts with a dot\n")
					require.NoError(t, send(client, conn, m))
				}
				require.NoError(t, client.CloseWithSMTPClient(conn))

				got := sink.counts()
				require.Equal(t, kind, got.Extensions)
				require.Equal(t, int64(4), got.Messages)
				require.Equal(t, int64(4), got.Recipients)
				require.Equal(t, int64(2), got.Distinct, "u2 twice is one distinct recipient")
				require.Equal(t, int64(1), got.Foreign)
				require.Equal(t, int64(1), got.Connections, "the client kept its one connection")
				require.Positive(t, got.Bytes)
				require.Zero(t, got.OutOfTurn, "no client pipelines what the sink does not offer")
				if name == "smtptx" {
					require.Zero(t, got.Noops+got.Resets, "no NOOP or RSET per message")
				} else {
					require.Equal(t, int64(8), got.Noops, "go-mail's Send: two NOOPs before each message")
					require.Equal(t, int64(4), got.Resets, "and an RSET after it")
				}
				wantBDAT := int64(0)
				if name == "smtptx" && kind.chunking {
					wantBDAT = 4
				}
				require.Equal(t, wantBDAT, got.BDAT)
				first, last, ok := sink.firstAndLast()
				require.True(t, ok)
				require.False(t, last.Before(first))
			})
		}
	}
}

// scriptedConn hands a session the client's input in the chunks given, as
// a client writes it, and logs every read and write in order.
type scriptedConn struct {
	net.Conn
	chunks []string
	log    []string
}

func (c *scriptedConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.log = append(c.log, "client: "+c.chunks[0][:n])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func (c *scriptedConn) Write(p []byte) (int, error) {
	c.log = append(c.log, "sink: "+string(p))
	return len(p), nil
}

func TestSinkAnswersPipelinedCommandsInOneWriteBeforeItAwaitsTheContent(t *testing.T) {
	t.Parallel()
	sink := &discardSink{kind: sinkChunking, start: time.Now(), seen: make([]atomic.Uint64, 1)}
	conn := &scriptedConn{chunks: []string{
		"EHLO client\r\n",
		"MAIL FROM:<noreply@cinema.example> BODY=8BITMIME\r\nRCPT TO:<u1@bench.example>\r\nDATA\r\n",
		"Subject: hi\r\n\r\nhello\r\n.\r\n",
		"MAIL FROM:<noreply@cinema.example>\r\nRCPT TO:<u2@bench.example>\r\nDATA\r\n",
		"Subject: hi\r\n\r\nhello again\r\n.\r\n",
		"QUIT\r\n",
	}}

	sink.session(conn)

	require.Equal(t, []string{
		"sink: 220 bench-sink ESMTP\r\n",
		"client: EHLO client\r\n",
		"sink: 250-bench-sink\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n",
		"client: MAIL FROM:<noreply@cinema.example> BODY=8BITMIME\r\nRCPT TO:<u1@bench.example>\r\nDATA\r\n",
		"sink: 250 2.0.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n",
		"client: Subject: hi\r\n\r\nhello\r\n.\r\n",
		"sink: 250 2.0.0 queued\r\n",
		"client: MAIL FROM:<noreply@cinema.example>\r\nRCPT TO:<u2@bench.example>\r\nDATA\r\n",
		"sink: 250 2.0.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n",
		"client: Subject: hi\r\n\r\nhello again\r\n.\r\n",
		"sink: 250 2.0.0 queued\r\n",
		"client: QUIT\r\n",
		"sink: 221 2.0.0 bye\r\n",
	}, conn.log)
	got := sink.counts()
	require.Equal(t, int64(2), got.Messages)
	require.Equal(t, int64(2), got.Distinct)
	require.Equal(t, int64(len("Subject: hi\r\n\r\nhello\r\n")+len("Subject: hi\r\n\r\nhello again\r\n")), got.Bytes)
	require.Zero(t, got.OutOfTurn)
}

func TestSinkTakesAMessageInBDATChunksPipelinedWithItsCommands(t *testing.T) {
	t.Parallel()
	sink := &discardSink{kind: sinkChunking, start: time.Now(), seen: make([]atomic.Uint64, 1)}
	msg := "Subject: hi\r\n\r\n.hello\r\n"
	conn := &scriptedConn{chunks: []string{
		"EHLO client\r\n",
		"MAIL FROM:<noreply@cinema.example>\r\nRCPT TO:<u1@bench.example>\r\nBDAT 5\r\n" + msg[:5],
		"BDAT " + strconv.Itoa(len(msg)-5) + " LAST\r\n" + msg[5:],
		"MAIL FROM:<noreply@cinema.example>\r\nRCPT TO:<u2@bench.example>\r\nBDAT " + strconv.Itoa(len(msg)) + " LAST\r\n" + msg + "BDAT x\r\n",
		"QUIT\r\n",
	}}

	sink.session(conn)

	require.Equal(t, []string{
		"sink: 250 2.0.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 chunk ok\r\n",
		"sink: 250 2.0.0 queued\r\n",
		"sink: 250 2.0.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued\r\n501 5.5.4 syntax: BDAT <size> [LAST]\r\n",
	}, sinkWrites(conn.log)[2:5])
	got := sink.counts()
	require.Equal(t, int64(2), got.Messages)
	require.Equal(t, int64(2), got.Distinct)
	require.Equal(t, int64(2*len(msg)), got.Bytes, "the chunks of a message add up")
	require.Equal(t, int64(2), got.BDAT)
	require.Zero(t, got.OutOfTurn)
}

func TestSinkWithoutExtensionsAnswersEachCommandAndCountsWhatCameOutOfTurn(t *testing.T) {
	t.Parallel()
	sink := &discardSink{kind: sinkNone, start: time.Now(), seen: make([]atomic.Uint64, 1)}
	conn := &scriptedConn{chunks: []string{
		"EHLO client\r\n",
		// One command at a time, each after its reply: in turn.
		"MAIL FROM:<noreply@cinema.example>\r\n", "RCPT TO:<u1@bench.example>\r\n", "DATA\r\n",
		"Subject: hi\r\n\r\nhello\r\n.\r\n",
		// Pipelined, and the message with DATA: MAIL, RCPT and DATA
		// each had a command or the message after them.
		"MAIL FROM:<noreply@cinema.example>\r\nRCPT TO:<u2@bench.example>\r\nDATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\n",
		"BDAT 3 LAST\r\n",
		"QUIT\r\n",
	}}

	sink.session(conn)

	require.Equal(t, []string{
		"sink: 220 bench-sink ESMTP\r\n",
		"sink: 250-bench-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n",
		"sink: 250 2.0.0 ok\r\n",
		"sink: 250 2.1.5 ok\r\n",
		"sink: 354 go ahead\r\n",
		"sink: 250 2.0.0 queued\r\n",
		"sink: 250 2.0.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n250 2.0.0 queued\r\n",
		"sink: 502 5.5.1 CHUNKING not offered\r\n",
		"sink: 221 2.0.0 bye\r\n",
	}, sinkWrites(conn.log))
	got := sink.counts()
	require.Equal(t, int64(2), got.Messages, "taken all the same, as a lenient server does")
	require.Equal(t, int64(3), got.OutOfTurn)
	require.Zero(t, got.BDAT)
}

func TestSinkWithPipeliningOnlyTakesAGroupEndingInDataButNotTheMessageWithIt(t *testing.T) {
	t.Parallel()
	sink := &discardSink{kind: sinkPipelining, start: time.Now(), seen: make([]atomic.Uint64, 1)}
	conn := &scriptedConn{chunks: []string{
		"EHLO client\r\n",
		"MAIL FROM:<noreply@cinema.example>\r\nRCPT TO:<u1@bench.example>\r\nDATA\r\n",
		"Subject: hi\r\n\r\nhello\r\n.\r\n",
		"MAIL FROM:<noreply@cinema.example>\r\nRCPT TO:<u2@bench.example>\r\nDATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\n",
		"QUIT\r\n",
	}}

	sink.session(conn)

	require.Equal(t, "sink: 250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n", sinkWrites(conn.log)[1])
	got := sink.counts()
	require.Equal(t, int64(2), got.Messages)
	require.Equal(t, int64(1), got.OutOfTurn, "the second message came with its DATA, before the 354")
}

func TestSinkKindsAreNamedAsTheFlagTakesThem(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]sinkKind{
		"none": sinkNone, " NONE ": sinkNone, "pipelining": sinkPipelining, "PIPELINING": sinkPipelining,
		"pipelining,chunking": sinkChunking, "chunking, pipelining": sinkChunking,
	} {
		got, err := parseSinkKind(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		again, err := parseSinkKind(got.String())
		require.NoError(t, err)
		require.Equal(t, got, again, "String reads back")
	}
	for _, in := range []string{"", "chunking", "8bitmime", "none,pipelining", "pipelining;chunking"} {
		_, err := parseSinkKind(in)
		require.Error(t, err, in)
	}
	require.Equal(t, "pipelining+chunking", sinkChunking.label())
}

// sinkWrites keeps the sink's writes of a scriptedConn log.
func sinkWrites(log []string) []string {
	var out []string
	for _, l := range log {
		if strings.HasPrefix(l, "sink: ") {
			out = append(out, l)
		}
	}
	return out
}

func TestSinkCeilingSendsEveryMessageOnceOverItsConnections(t *testing.T) {
	t.Parallel()
	for _, kind := range []sinkKind{sinkNone, sinkPipelining, sinkChunking} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			got, err := measureSinkCeiling(context.Background(), 30, 3, kind)
			require.NoError(t, err)
			require.Equal(t, kind, got.Extensions)
			require.Equal(t, 30, got.Messages)
			require.Equal(t, int64(30), got.Received.Messages)
			require.Equal(t, int64(30), got.Received.Distinct, "u1 … u30 once each")
			require.Zero(t, got.Received.Foreign)
			require.Equal(t, int64(3), got.Received.Connections)
			require.Zero(t, got.Received.OutOfTurn)
			require.Zero(t, got.Received.Noops+got.Received.Resets)
			if kind.chunking {
				require.Equal(t, int64(30), got.Received.BDAT, "one BDAT a message")
			} else {
				require.Zero(t, got.Received.BDAT)
			}
			require.Positive(t, got.Rate)
		})
	}
}

func TestDiscardDataStopsAtTheLoneDotOnly(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100) // longer than the reader's buffer below
	body := "Subject: hi\r\n\r\n" + long + "\r\n..stuffed\r\n.x\r\n" + long + ".\r\n.\r\nQUIT\r\n"
	r := bufio.NewReaderSize(strings.NewReader(body), 16)

	n, err := discardData(r)
	require.NoError(t, err)
	require.Equal(t, int64(len(body)-len(".\r\nQUIT\r\n")), n)
	rest, err := readLine(r)
	require.NoError(t, err)
	require.Equal(t, "QUIT", string(rest), "the session reads on after the body")
}

func TestUserIndexReadsBenchmarkAddressesOnly(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]int{
		"RCPT TO:<u1@bench.example>":          1,
		"RCPT TO:<u1000000@bench.example>":    1000000,
		"rcpt to:<u42@bench.example> NOTIFY=": 42,
		"RCPT TO:<anna@example.com>":          0,
		"RCPT TO:<user7@bench.example>":       0,
		"RCPT TO:<u0@bench.example>":          0,
		"RCPT TO:u5@bench.example":            0,
	} {
		require.Equal(t, want, userIndex([]byte(line)), line)
	}
}
