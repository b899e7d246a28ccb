// Package smtptx performs SMTP mail transactions (RFC 5321) on a connection
// that go-mail has opened, greeted (EHLO), secured and authenticated. A
// transaction costs two round trips when the server offers PIPELINING
// (RFC 2920): MAIL, RCPT and DATA in one write, then the message; one
// round trip and one write when it also offers CHUNKING (RFC 3030): MAIL,
// RCPT, BDAT and the message together. Without
// PIPELINING it costs four: MAIL, RCPT, DATA, the message. Unlike go-mail's
// Client.Send there is no NOOP before and no RSET after a message (a new
// MAIL FROM starts a new transaction); RSET follows only a refusal.
package smtptx

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// DefaultTimeout bounds a transaction when Send is given none, as go-mail's
// default timeout does.
const DefaultTimeout = 15 * time.Second

// errNoContent is returned for a nil content.
var errNoContent = errors.New("smtp: no message content")

// Send performs one mail transaction on c, from the envelope sender from to
// the one recipient to, both enclosed in angle brackets as go-mail's
// Msg.GetSender(false) and Msg.GetRecipients return them ("<a@b>"). It
// writes content (a *mail.Msg, for one) dot-stuffed as the message. The
// whole transaction must end within timeout (DefaultTimeout when not
// positive).
//
// MAIL FROM carries BODY=8BITMIME and SMTPUTF8 when the server offers
// them, as go-mail's Client.Mail does; go-mail's DSN and SkipSMTPUTF8
// settings are not honoured. c must not be used by anybody else meanwhile.
//
// Send returns ErrInvalidAddress, with nothing sent, for an invalid address,
// and an *Error for a failed transaction; see its methods for what the
// failure means for the message (Stale, MaybeAccepted) and the connection
// (Broken).
func Send(c *gosmtp.Client, from, to string, content io.WriterTo, timeout time.Duration) error {
	if !validAddress(from, true) || !validAddress(to, false) {
		return ErrInvalidAddress
	}
	if content == nil {
		return errNoContent
	}
	if c == nil || c.Text == nil {
		return &Error{Stage: StageMail, Err: ErrNoConnection}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := c.UpdateDeadline(timeout); err != nil {
		return &Error{Stage: StageMail, Err: err}
	}
	t := transaction{c: c, text: c.Text}
	var e *Error
	pipelining, _ := c.Extension("PIPELINING")
	chunking, _ := c.Extension("CHUNKING")
	switch {
	case pipelining && chunking:
		e = t.chunked(from, to, content)
	case pipelining:
		e = t.pipelined(from, to, content)
	default:
		e = t.stepwise(from, to, content)
	}
	if e != nil {
		return e
	}
	return nil
}

// validAddress reports whether addr is "<...>" without CR or LF; the empty
// path "<>" only when null is allowed (the sender of a bounce).
func validAddress(addr string, null bool) bool {
	if len(addr) < 2 || addr[0] != '<' || addr[len(addr)-1] != '>' || (len(addr) == 2 && !null) {
		return false
	}
	return strings.IndexByte(addr, '\r') < 0 && strings.IndexByte(addr, '\n') < 0
}

// transaction is one Send on one connection.
type transaction struct {
	c    *gosmtp.Client
	text *textproto.Conn
}

// pipelined sends MAIL, RCPT and DATA in one write and reads their three
// replies; after a refusal it cleans up with RSET and returns the first
// refusal.
func (t transaction) pipelined(from, to string, content io.WriterTo) *Error {
	t.writeMail(t.text.W, from)
	writeRcpt(t.text.W, to)
	_, _ = t.text.W.WriteString("DATA\r\n")
	if err := t.text.W.Flush(); err != nil {
		return &Error{Stage: StageMail, Err: err}
	}
	refused, gone := t.readEnvelope()
	if gone != nil {
		return gone
	}
	dataErr := t.read(StageData, 3)
	switch {
	case dataErr == nil && refused == nil:
		return t.content(content)
	case dataErr == nil:
		// The server took DATA although MAIL or RCPT was refused: end the
		// empty message, then reset what is left of the transaction.
		_, _ = t.text.W.WriteString(".\r\n")
		if t.text.W.Flush() != nil || t.answer() != nil || !t.reset() {
			refused.dirty = true
		}
		return refused
	case dataErr.NoReply() || dataErr.Code == 421:
		return firstOf(refused, dataErr)
	default:
		e := refused
		if e == nil {
			e = dataErr
		}
		if !t.reset() {
			e.dirty = true
		}
		return e
	}
}

// chunked sends MAIL, RCPT, "BDAT <size> LAST" and the message in one
// write (CHUNKING, RFC 3030, pipelined) and reads the three replies: one
// round trip, one write, and no dot-stuffing. A server that refused MAIL
// or RCPT still reads the chunk and refuses BDAT; the transaction is then
// reset and the first refusal returned.
//
// No reply at all is Stale, as in the other transactions: the server
// dropped the connection before reading it (after a 421, or silently, as
// on an idle timeout). Here the message went out with the commands, so
// this also covers a server that took it and died before its replies left:
// the message is then sent twice, with the same Message-ID, as when the
// final reply of a DATA transaction is lost and the delivery is retried.
func (t transaction) chunked(from, to string, content io.WriterTo) *Error {
	wire := buffers.Get().(*bytes.Buffer)
	defer release(wire)
	var body []byte
	if b, ok := content.(*Built); ok {
		body = withCRLF(b.Bytes())
	} else {
		raw := buffers.Get().(*bytes.Buffer)
		defer release(raw)
		if _, err := content.WriteTo(raw); err != nil {
			// Nothing went out; the connection is dropped all the same, as
			// after a failed content in the other transactions.
			return &Error{Stage: StageContent, Err: err}
		}
		body = withCRLF(raw.Bytes())
	}
	wire.Grow(len(from) + len(to) + 96 + len(body))
	t.writeMail(wire, from)
	writeRcpt(wire, to)
	wire.WriteString("BDAT ")
	wire.Write(strconv.AppendInt(wire.AvailableBuffer(), int64(len(body)), 10))
	wire.WriteString(" LAST\r\n")
	wire.Write(body)
	if _, err := t.text.W.Write(wire.Bytes()); err != nil {
		return &Error{Stage: StageMail, Err: err}
	}
	if err := t.text.W.Flush(); err != nil {
		return &Error{Stage: StageMail, Err: err}
	}
	refused, gone := t.readEnvelope()
	if gone != nil {
		return gone
	}
	final := t.read(StageContent, 2)
	switch {
	case final == nil && refused == nil:
		return nil
	case final != nil && refused == nil:
		// Everything went out: without a reply the message may have been
		// accepted; a refusal leaves the transaction to reset.
		final.sent = final.NoReply()
		if !final.NoReply() && final.Code != 421 && !t.reset() {
			final.dirty = true
		}
		return final
	case final != nil && (final.NoReply() || final.Code == 421):
		return firstOf(refused, final)
	default:
		// MAIL or RCPT refused: the chunk was read and refused (or, by a
		// server that took it for no recipient, dropped); reset.
		if !t.reset() {
			refused.dirty = true
		}
		return refused
	}
}

// withCRLF returns msg with every line ending in CRLF, as BDAT sends it
// byte for byte: msg itself when it has no bare LF.
func withCRLF(msg []byte) []byte {
	if bareLF, _ := lineShape(msg); !bareLF {
		return msg
	}
	out := make([]byte, 0, len(msg)+len(msg)/32)
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			return append(out, msg...)
		}
		line := bytes.TrimSuffix(msg[:i], []byte("\r"))
		out = append(append(out, line...), '\r', '\n')
		msg = msg[i+1:]
	}
	return out
}

// readEnvelope reads the replies to a pipelined MAIL and RCPT: refused is
// the first refusal, if any; gone is set when the connection is gone or
// going (no reply, 421), so that the replies after it will not come.
func (t transaction) readEnvelope() (refused, gone *Error) {
	for _, stage := range [...]string{StageMail, StageRcpt} {
		e := t.read(stage, 2)
		switch {
		case e == nil:
		case e.NoReply() || e.Code == 421:
			return refused, firstOf(refused, e)
		case refused == nil:
			refused = e
		}
	}
	return refused, nil
}

// stepwise sends MAIL, RCPT and DATA one at a time, each after the reply
// to the one before.
func (t transaction) stepwise(from, to string, content io.WriterTo) *Error {
	t.writeMail(t.text.W, from)
	if e := t.roundTrip(StageMail, 2); e != nil {
		return e
	}
	writeRcpt(t.text.W, to)
	if e := t.roundTrip(StageRcpt, 2); e != nil {
		return e
	}
	_, _ = t.text.W.WriteString("DATA\r\n")
	if e := t.roundTrip(StageData, 3); e != nil {
		return e
	}
	return t.content(content)
}

// roundTrip flushes the command written and reads its reply, which must
// be of class (2 for 2xx); after a refusal it resets the transaction.
func (t transaction) roundTrip(stage string, class int) *Error {
	if err := t.text.W.Flush(); err != nil {
		return &Error{Stage: stage, Err: err}
	}
	e := t.read(stage, class)
	if e != nil && e.Code >= 400 && e.Code != 421 && !t.reset() {
		e.dirty = true
	}
	return e
}

// content writes the message and its final dot, and reads the final reply.
//
// The message is built in memory first and goes out in one write with its
// final dot: written through textproto's DotWriter, go-mail's many small
// writes were stuffed byte by byte and flushed to the socket every 4 KiB, a
// write syscall each. A message already as DATA wants it (CRLF line
// endings, no line starting with a dot: go-mail's, unless a line of a part
// starts with a dot) is sent as built with the final dot appended; any
// other is dot-stuffed a line at a time into a second buffer.
func (t transaction) content(content io.WriterTo) *Error {
	// whole is the message and its final dot; the message is whole[:size].
	var whole []byte
	var size int
	var plain bool
	if b, ok := content.(*Built); ok {
		whole, size, plain = b.buf.Bytes(), b.size, b.plain
	} else {
		raw := buffers.Get().(*bytes.Buffer)
		defer release(raw)
		if _, err := content.WriteTo(raw); err != nil {
			// Nothing of the message went out, but the server waits for it
			// after its 354: the connection is stuck in DATA.
			return &Error{Stage: StageContent, Err: err}
		}
		size, plain = raw.Len(), !needsStuffing(raw.Bytes())
		raw.WriteString(".\r\n")
		whole = raw.Bytes()
	}
	msg := whole
	if !plain {
		wire := buffers.Get().(*bytes.Buffer)
		defer release(wire)
		dotStuff(wire, whole[:size])
		msg = wire.Bytes()
	}
	if _, err := t.text.W.Write(msg); err != nil {
		return &Error{Stage: StageContent, Err: err}
	}
	if err := t.text.W.Flush(); err != nil {
		// The final dot may not have reached the server whole.
		return &Error{Stage: StageContent, Err: err}
	}
	e := t.read(StageContent, 2)
	if e != nil {
		e.sent = true
	}
	return e
}

// needsStuffing reports whether msg differs from its content for DATA
// (dotStuff) by more than the final dot: when a line ends in a bare LF,
// starts with a dot, or the last line has no CRLF.
func needsStuffing(msg []byte) bool {
	bareLF, dot := lineShape(msg)
	return bareLF || dot || (len(msg) > 0 && !bytes.HasSuffix(msg, []byte("\r\n")))
}

// lineShape reports whether a line of msg ends in a bare LF (without CR)
// and whether a line starts with a dot.
func lineShape(msg []byte) (bareLF, dot bool) {
	dot = len(msg) > 0 && msg[0] == '.'
	for i := 0; ; {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			return bareLF, dot
		}
		i += j
		if i == 0 || msg[i-1] != '\r' {
			bareLF = true
		}
		i++
		if i < len(msg) && msg[i] == '.' {
			dot = true
		}
	}
}

// buffers holds the buffers of content, made with room for a typical
// message (the pool is emptied by garbage collections, and a buffer grown
// from nothing reallocates a dozen times); maxPooled bounds what goes back.
var buffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 32<<10)) }}

const maxPooled = 1 << 20

func release(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		b.Reset()
		buffers.Put(b)
	}
}

// dotStuff writes msg to w as the content of DATA (RFC 5321 4.5.2): every
// line ends in CRLF (a bare LF or CR-less last line gets one), a line
// starting with a dot gets another, and the content ends with the line
// holding a lone dot.
func dotStuff(w *bytes.Buffer, msg []byte) {
	w.Grow(len(msg) + len(msg)/64 + 5)
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
}

// writeMail writes MAIL FROM to w with the parameters the server takes:
// BODY=8BITMIME and SMTPUTF8 when it offers them.
func (t transaction) writeMail(w io.StringWriter, from string) {
	_, _ = w.WriteString("MAIL FROM:")
	_, _ = w.WriteString(from)
	if ok, _ := t.c.Extension("8BITMIME"); ok {
		_, _ = w.WriteString(" BODY=8BITMIME")
	}
	if ok, _ := t.c.Extension("SMTPUTF8"); ok {
		_, _ = w.WriteString(" SMTPUTF8")
	}
	_, _ = w.WriteString("\r\n")
}

// writeRcpt writes RCPT TO to w.
func writeRcpt(w io.StringWriter, to string) {
	_, _ = w.WriteString("RCPT TO:")
	_, _ = w.WriteString(to)
	_, _ = w.WriteString("\r\n")
}

// read reads one reply (readReply); nil when it is of class (2 for 2xx),
// an *Error with the code for another reply, and an *Error without a code
// when no well-formed reply could be read.
func (t transaction) read(stage string, class int) *Error {
	code, msg, err := readReplyUnless(t.text.R, class)
	if err != nil {
		return &Error{Stage: stage, Err: err}
	}
	if code/100 == class {
		return nil
	}
	return &Error{Stage: stage, Code: code, Enhanced: enhancedCode(msg), Err: &textproto.Error{Code: code, Msg: msg}}
}

// answer reads one reply of any code; the error is for no reply.
func (t transaction) answer() error {
	_, _, err := readReplyUnless(t.text.R, 0)
	return err
}

// reset sends RSET and reports whether the server answered 2xx.
func (t transaction) reset() bool {
	_, _ = t.text.W.WriteString("RSET\r\n")
	return t.text.W.Flush() == nil && t.read("rset", 2) == nil
}

// firstOf returns first, or last when first is nil. last is a failure that
// ends the reading of replies, so first, the refusal to report, comes with
// a connection in an unknown state.
func firstOf(first, last *Error) *Error {
	if first == nil {
		return last
	}
	first.dirty = true
	return first
}

// SendMsg is Send for a go-mail message with one recipient: the envelope
// is its sender and its recipient. A message without a sender or with
// other than one recipient gets ErrInvalidAddress, with nothing sent.
func SendMsg(c *gosmtp.Client, m *mail.Msg, timeout time.Duration) error {
	from, err := m.GetSender(false)
	if err != nil {
		return ErrInvalidAddress
	}
	rcpts, err := m.GetRecipients()
	if err != nil || len(rcpts) != 1 {
		return ErrInvalidAddress
	}
	return Send(c, from, rcpts[0], m, timeout)
}
