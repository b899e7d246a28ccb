package smtptx_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/smtptx"
)

func chunkedServer(t *testing.T, cfg fakeConfig) *fakeServer {
	t.Helper()
	cfg.pipelining, cfg.chunking = true, true
	return newFakeServer(t, cfg)
}

func TestChunkedTransactionIsOneRoundTripWithTheMessageUnstuffed(t *testing.T) {
	t.Parallel()
	srv := chunkedServer(t, fakeConfig{})
	c := srv.dial(t)

	require.NoError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
	require.NoError(t, smtptx.Send(c, from, "<boris@example.com>", strings.NewReader("Subject: 2\n\ntwo\n"), timeout))

	got := srv.got()
	bdat := func(n int) string { return "BDAT " + strconv.Itoa(n) + " LAST" }
	require.Equal(t, [][]string{
		{"EHLO client.test"},
		{mailLine, "RCPT TO:" + to, bdat(len(content)), "<content>"},
		{mailLine, "RCPT TO:<boris@example.com>", bdat(len("Subject: 2\r\n\r\ntwo\r\n")), "<content>"},
	}, got.batches, "commands and message in one write, one round trip each, no NOOP or RSET")
	require.Equal(t, []string{content, "Subject: 2\r\n\r\ntwo\r\n"}, got.messages,
		"dots travel as they are; bare line feeds become CRLF")
}

func TestChunkedRefusedRecipientResetsAndReportsTheRecipientsCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stage, reply string
		wantStage          string
		wantCode           int
		temporary          bool
	}{
		{"mail 451", "mail", "451 4.3.0 try later", smtptx.StageMail, 451, true},
		{"rcpt 550", "rcpt", "550 5.1.1 no such user anna@example.com", smtptx.StageRcpt, 550, false},
		{"message 552", "content", "552 5.3.4 too big", smtptx.StageContent, 552, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := chunkedServer(t, fakeConfig{answer: func(stage string, tx int) string {
				if stage == tc.stage && tx == 1 {
					return tc.reply
				}
				return ""
			}})
			c := srv.dial(t)

			e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
			require.Equal(t, tc.wantStage, e.Stage)
			require.Equal(t, tc.wantCode, e.Code)
			require.Equal(t, tc.temporary, e.Temporary())
			require.False(t, e.Broken(), "reset, the connection goes on")
			require.False(t, e.MaybeAccepted())
			require.Empty(t, srv.got().messages)

			require.NoError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout), "the next message goes through")
			got := srv.got()
			require.Equal(t, []string{content}, got.messages)
			require.Contains(t, got.commands, "RSET")
		})
	}
}

func TestChunkedConnectionDroppedBeforeAnyReplyIsStale(t *testing.T) {
	t.Parallel()
	srv := chunkedServer(t, fakeConfig{hangUp: "mail"})
	c := srv.dial(t)
	e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
	require.True(t, e.Stale())
	require.True(t, e.Broken())
}

func TestChunkedConnectionDroppedAfterTheMessageMayHaveDeliveredIt(t *testing.T) {
	t.Parallel()
	srv := chunkedServer(t, fakeConfig{hangUp: "chunk"})
	c := srv.dial(t)
	e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
	require.Equal(t, smtptx.StageContent, e.Stage)
	require.True(t, e.MaybeAccepted(), "MAIL and RCPT answered, the message out, its reply lost")
	require.False(t, e.Stale(), "not sent again on a new connection")
	require.True(t, e.Broken())
}
