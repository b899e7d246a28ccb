package smtptx_test

import (
	"errors"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	mail "github.com/wneessen/go-mail"

	"github.com/notifier/notifier/platform/smtptx"
)

const (
	from    = "<noreply@cinema.example>"
	to      = "<anna@example.com>"
	timeout = 10 * time.Second
	// content has a line starting with a dot, which travels stuffed.
	content = "Subject: hi\r\n\r\nHello Anna,\r\n.hidden line\r\n..two dots\r\n.\r\nbye\r\n"
)

// mailLine is MAIL FROM as the fake server's extensions make it.
const mailLine = "MAIL FROM:" + from + " BODY=8BITMIME SMTPUTF8"

// modes runs f with a server that offers PIPELINING and with one that does
// not.
func modes(t *testing.T, f func(t *testing.T, pipelining bool)) {
	t.Helper()
	for name, pipelining := range map[string]bool{"pipelining": true, "stepwise": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, pipelining)
		})
	}
}

// txError asserts that err is an *smtptx.Error whose text holds neither an
// address nor the server's words.
func txError(t *testing.T, err error) *smtptx.Error {
	t.Helper()
	require.Error(t, err)
	var e *smtptx.Error
	require.ErrorAs(t, err, &e)
	for _, leak := range []string{"anna", "example", "fake", "ok", "queued", "recipients", "closing", "<"} {
		require.NotContains(t, err.Error(), leak, "the error text holds no address and no server text")
	}
	return e
}

func TestPipelinedTransactionIsTwoRoundTripsWithMailRcptAndDataInOneWrite(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeConfig{pipelining: true})
	c := srv.dial(t)

	require.NoError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))

	got := srv.got()
	require.Equal(t, [][]string{
		{"EHLO client.test"},
		{mailLine, "RCPT TO:" + to, "DATA"}, // read before any reply went out
		{"<content>"},
	}, got.batches)
	require.Equal(t, []string{content}, got.messages, "the message arrives intact")
	require.Contains(t, got.wire[0], "\r\n..hidden line\r\n...two dots\r\n..\r\n", "lines starting with a dot are stuffed")
}

func TestStepwiseTransactionIsFourRoundTripsWithoutPipelining(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeConfig{})
	c := srv.dial(t)

	require.NoError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))

	got := srv.got()
	require.Equal(t, [][]string{
		{"EHLO client.test"}, {mailLine}, {"RCPT TO:" + to}, {"DATA"}, {"<content>"},
	}, got.batches)
	require.Equal(t, []string{content}, got.messages)
}

func TestTwoMessagesOnOneConnectionHaveNoNoopOrRsetBetweenThem(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, pipelining bool) {
		srv := newFakeServer(t, fakeConfig{pipelining: pipelining})
		c := srv.dial(t)

		require.NoError(t, smtptx.Send(c, from, to, strings.NewReader("Subject: 1\r\n\r\none\r\n"), timeout))
		require.NoError(t, smtptx.Send(c, from, "<boris@example.com>", strings.NewReader("Subject: 2\r\n\r\ntwo\r\n"), timeout))

		got := srv.got()
		require.Equal(t, []string{
			"EHLO client.test",
			mailLine, "RCPT TO:" + to, "DATA",
			mailLine, "RCPT TO:<boris@example.com>", "DATA",
		}, got.commands)
		require.Equal(t, []string{"Subject: 1\r\n\r\none\r\n", "Subject: 2\r\n\r\ntwo\r\n"}, got.messages)
		if pipelining {
			require.Len(t, got.batches, 1+2*2, "EHLO, then two round trips a message")
		} else {
			require.Len(t, got.batches, 1+2*4, "EHLO, then four round trips a message")
		}
	})
}

func TestRefusalsAreReportedWithTheirStageAndCodesAndLeaveTheConnectionClean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		replies  map[string]string // stage → reply of the first transaction
		stage    string
		code     int
		enhanced string
		temp     bool
		// after are the commands after MAIL of the refused transaction,
		// with and without pipelining.
		afterPipelined, afterStepwise []string
	}{
		{
			name: "mail 451", replies: map[string]string{"mail": "451 4.3.0 <noreply@cinema.example> try later"},
			stage: smtptx.StageMail, code: 451, enhanced: "4.3.0", temp: true,
			afterPipelined: []string{"RCPT", "DATA", "RSET"}, afterStepwise: []string{"RSET"},
		},
		{
			name: "mail 550", replies: map[string]string{"mail": "550 5.7.1 sender refused"},
			stage: smtptx.StageMail, code: 550, enhanced: "5.7.1",
			afterPipelined: []string{"RCPT", "DATA", "RSET"}, afterStepwise: []string{"RSET"},
		},
		{
			name: "rcpt 550, DATA 554", replies: map[string]string{"rcpt": "550 5.1.1 <anna@example.com> no such user"},
			stage: smtptx.StageRcpt, code: 550, enhanced: "5.1.1",
			afterPipelined: []string{"RCPT", "DATA", "RSET"}, afterStepwise: []string{"RCPT", "RSET"},
		},
		{
			name: "rcpt 452, DATA 354", replies: map[string]string{"rcpt": "452 4.2.2 <anna@example.com> mailbox full", "data": "354 go ahead anyway"},
			stage: smtptx.StageRcpt, code: 452, enhanced: "4.2.2", temp: true,
			// The empty message is ended with its dot, then reset.
			afterPipelined: []string{"RCPT", "DATA", "RSET"}, afterStepwise: []string{"RCPT", "RSET"},
		},
		{
			name: "rcpt without enhanced code", replies: map[string]string{"rcpt": "550 no such user here"},
			stage: smtptx.StageRcpt, code: 550,
			afterPipelined: []string{"RCPT", "DATA", "RSET"}, afterStepwise: []string{"RCPT", "RSET"},
		},
		{
			name: "data 451", replies: map[string]string{"data": "451 4.3.0 busy"},
			stage: smtptx.StageData, code: 451, enhanced: "4.3.0", temp: true,
			afterPipelined: []string{"RCPT", "DATA", "RSET"}, afterStepwise: []string{"RCPT", "DATA", "RSET"},
		},
		{
			name: "data 554", replies: map[string]string{"data": "554 5.3.4 no"},
			stage: smtptx.StageData, code: 554, enhanced: "5.3.4",
			afterPipelined: []string{"RCPT", "DATA", "RSET"}, afterStepwise: []string{"RCPT", "DATA", "RSET"},
		},
		{
			name: "content 552", replies: map[string]string{"content": "552 5.3.4 message too big"},
			stage: smtptx.StageContent, code: 552, enhanced: "5.3.4",
			// The final reply ends the transaction: no RSET.
			afterPipelined: []string{"RCPT", "DATA"}, afterStepwise: []string{"RCPT", "DATA"},
		},
		{
			name: "content 451", replies: map[string]string{"content": "451 4.7.1 greylisted"},
			stage: smtptx.StageContent, code: 451, enhanced: "4.7.1", temp: true,
			afterPipelined: []string{"RCPT", "DATA"}, afterStepwise: []string{"RCPT", "DATA"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			modes(t, func(t *testing.T, pipelining bool) {
				srv := newFakeServer(t, fakeConfig{pipelining: pipelining, answer: func(stage string, tx int) string {
					if tx == 1 {
						return tc.replies[stage]
					}
					return ""
				}})
				c := srv.dial(t)

				e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
				require.Equal(t, tc.stage, e.Stage)
				require.Equal(t, tc.code, e.Code)
				require.Equal(t, tc.enhanced, e.Enhanced)
				want := "smtp " + tc.stage + ": " + strings.TrimSpace(strings.Join([]string{strconv.Itoa(tc.code), tc.enhanced}, " "))
				require.Equal(t, want, e.Error())
				require.Equal(t, tc.temp, e.Temporary())
				require.False(t, e.NoReply())
				require.False(t, e.Stale(), "a reply came")
				require.False(t, e.MaybeAccepted())
				require.False(t, e.Broken(), "the connection is clean")
				var reply *textproto.Error
				require.ErrorAs(t, e, &reply, "the reply is kept for errors.As")
				require.Equal(t, tc.code, reply.Code)

				// The connection carries the next message.
				require.NoError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
				got := srv.got()
				require.Equal(t, []string{content}, got.messages, "only the second message was accepted")
				after := tc.afterStepwise
				if pipelining {
					after = tc.afterPipelined
				}
				require.Equal(t, append(append([]string{"EHLO", "MAIL"}, after...), "MAIL", "RCPT", "DATA"), verbs(got.commands))
			})
		})
	}
}

func TestDataTakenAfterARefusedRecipientEndsTheEmptyMessageBeforeTheReset(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeConfig{pipelining: true, answer: func(stage string, _ int) string {
		return map[string]string{"rcpt": "550 5.1.1 <anna@example.com> no such user", "data": "354 go ahead anyway"}[stage]
	}})
	c := srv.dial(t)

	e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
	require.Equal(t, smtptx.StageRcpt, e.Stage)
	require.False(t, e.Broken())
	got := srv.got()
	require.Equal(t, [][]string{
		{"EHLO client.test"},
		{mailLine, "RCPT TO:" + to, "DATA"},
		{"<content>"}, // the empty message
		{"RSET"},
	}, got.batches[:4])
	require.Equal(t, []string{""}, got.wire, "nothing of the message went out")
	require.Empty(t, got.messages)
}

func TestConnectionClosedBeforeAnyReplyIsStale(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, pipelining bool) {
		for _, hangUp := range []string{"mail", "idle"} {
			srv := newFakeServer(t, fakeConfig{pipelining: pipelining, hangUp: hangUp})
			c := srv.dial(t)
			if hangUp == "idle" {
				// The server drops the connection after this message.
				require.NoError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
			}

			e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
			require.Equal(t, smtptx.StageMail, e.Stage, hangUp)
			require.Zero(t, e.Code)
			require.True(t, e.NoReply())
			require.True(t, e.Stale(), "nothing was accepted: sending again on a new connection is safe")
			require.True(t, e.Temporary())
			require.True(t, e.Broken())
			require.False(t, e.MaybeAccepted())
			require.Equal(t, "smtp mail: no reply (connection closed)", e.Error())
		}
	})
}

func TestGoodbyeOfAnIdleConnectionIsStale(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, pipelining bool) {
		srv := newFakeServer(t, fakeConfig{pipelining: pipelining, hangUp: "421"})
		c := srv.dial(t)
		require.NoError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))

		e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
		require.Equal(t, smtptx.StageMail, e.Stage)
		require.Equal(t, 421, e.Code)
		require.Equal(t, "4.4.2", e.Enhanced)
		require.True(t, e.Stale())
		require.True(t, e.Broken(), "the server closes after a 421")
		require.True(t, e.Temporary())
	})
}

func TestConnectionClosedAfterTheMessageMayHaveDeliveredIt(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, pipelining bool) {
		srv := newFakeServer(t, fakeConfig{pipelining: pipelining, hangUp: "content"})
		c := srv.dial(t)

		e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), timeout))
		require.Equal(t, smtptx.StageContent, e.Stage)
		require.Zero(t, e.Code)
		require.True(t, e.MaybeAccepted(), "the whole message went out; only its reply is missing")
		require.False(t, e.Stale(), "sending again might deliver it twice")
		require.True(t, e.Broken())
		require.True(t, e.Temporary())
		require.Len(t, srv.got().wire, 1)
	})
}

func TestSilentServerTimesOutBeforeAnyReply(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, pipelining bool) {
		srv := newFakeServer(t, fakeConfig{pipelining: pipelining, mute: true})
		c := srv.dial(t)

		e := txError(t, smtptx.Send(c, from, to, strings.NewReader(content), 50*time.Millisecond))
		require.Equal(t, smtptx.StageMail, e.Stage)
		require.Equal(t, "smtp mail: no reply (timeout)", e.Error())
		require.True(t, e.Stale())
		require.True(t, e.Broken())
	})
}

// failingContent fails after writing part of a message.
type failingContent struct{}

var errRender = errors.New("render failed for anna@example.com")

func (failingContent) WriteTo(w io.Writer) (int64, error) {
	n, _ := io.WriteString(w, "Subject: half\r\n")
	return int64(n), errRender
}

func TestFailingContentSendsNoFinalDotAndBreaksTheConnection(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeConfig{pipelining: true})
	c := srv.dial(t)

	e := txError(t, smtptx.Send(c, from, to, failingContent{}, timeout))
	require.Equal(t, smtptx.StageContent, e.Stage)
	require.ErrorIs(t, e, errRender)
	require.False(t, e.MaybeAccepted(), "without its final dot nothing was accepted")
	require.False(t, e.Stale())
	require.True(t, e.Broken())
	require.NoError(t, c.Close())
	require.Empty(t, srv.got().messages)
}

func TestInvalidAddressesAreRefusedBeforeAnythingIsSent(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeConfig{pipelining: true})
	c := srv.dial(t)
	for _, tc := range []struct{ from, to string }{
		{"<a@example.com>\r\nRCPT TO:<b@example.com>", to},
		{from, "<anna@example.com>\nDATA"},
		{from, "<anna@example.com\r>"},
		{from, "anna@example.com"},
		{from, "<>"},
		{from, ""},
		{"", to},
		{"noreply@cinema.example", to},
	} {
		err := smtptx.Send(c, tc.from, tc.to, strings.NewReader(content), timeout)
		require.ErrorIs(t, err, smtptx.ErrInvalidAddress, "%q %q", tc.from, tc.to)
		require.NotContains(t, err.Error(), "example")
	}
	require.NoError(t, smtptx.Send(c, "<>", to, strings.NewReader(content), timeout), "a bounce has the null sender")
	require.Equal(t, []string{"EHLO", "MAIL", "RCPT", "DATA"}, verbs(srv.got().commands))
}

func TestNilClientIsAStaleConnection(t *testing.T) {
	t.Parallel()
	err := smtptx.Send(nil, from, to, strings.NewReader(content), timeout)
	e := txError(t, err)
	require.ErrorIs(t, err, smtptx.ErrNoConnection)
	require.True(t, e.Stale())
	require.Equal(t, "smtp mail: no reply (no connection)", e.Error())
}

// verbs returns the first word of each command.
func verbs(commands []string) []string {
	out := make([]string, len(commands))
	for i, c := range commands {
		out[i], _, _ = strings.Cut(c, " ")
	}
	return out
}

func TestSendMsgTakesTheEnvelopeFromTheMessage(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeConfig{pipelining: true, chunking: true})
	c := srv.dial(t)

	m := mail.NewMsg()
	require.NoError(t, m.From("Notifier <noreply@cinema.example>"))
	require.NoError(t, m.To("anna@example.com"))
	m.Subject("hi")
	m.SetBodyString(mail.TypeTextPlain, "hello")
	require.NoError(t, smtptx.SendMsg(c, m, timeout))
	require.Contains(t, srv.got().commands, "RCPT TO:<anna@example.com>")

	none := mail.NewMsg()
	require.NoError(t, none.From("noreply@cinema.example"))
	require.ErrorIs(t, smtptx.SendMsg(c, none, timeout), smtptx.ErrInvalidAddress, "no recipient")
	two := mail.NewMsg()
	require.NoError(t, two.From("noreply@cinema.example"))
	require.NoError(t, two.To("anna@example.com", "boris@example.com"))
	require.ErrorIs(t, smtptx.SendMsg(c, two, timeout), smtptx.ErrInvalidAddress, "one recipient a message")
	require.Len(t, srv.got().messages, 1, "nothing sent for the refused ones")
}
