package main

import (
	"bufio"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	mail "github.com/wneessen/go-mail"
)

func TestDiscardSinkCountsMessagesDistinctRecipientsAndStrangers(t *testing.T) {
	t.Parallel()
	sink, err := startDiscardSink(10)
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
		require.NoError(t, client.SendWithSMTPClient(conn, m))
	}
	require.NoError(t, client.CloseWithSMTPClient(conn))

	got := sink.counts()
	require.Equal(t, int64(4), got.Messages)
	require.Equal(t, int64(4), got.Recipients)
	require.Equal(t, int64(2), got.Distinct, "u2 twice is one distinct recipient")
	require.Equal(t, int64(1), got.Foreign)
	require.Equal(t, int64(1), got.Connections, "go-mail kept its one connection")
	require.Positive(t, got.Bytes)
	first, last, ok := sink.firstAndLast()
	require.True(t, ok)
	require.False(t, last.Before(first))
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
