package smtptx

import (
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"syscall"
)

// The stages of a mail transaction, as in Error.Stage.
const (
	StageMail    = "mail"    // MAIL FROM
	StageRcpt    = "rcpt"    // RCPT TO
	StageData    = "data"    // DATA, up to its 354
	StageContent = "content" // the message, its final dot and the final reply
)

// ErrInvalidAddress is returned, before anything is sent, for an envelope
// address that is empty, not enclosed in angle brackets, or holds a CR or
// LF. It is permanent.
var ErrInvalidAddress = errors.New("smtp: invalid envelope address")

// ErrNoConnection is wrapped by the *Error returned for a nil client.
var ErrNoConnection = errors.New("smtp: no connection")

// Error is a failed mail transaction. Its text holds the stage and the
// SMTP codes only, never an address or the server's text (which may quote
// the address); Err keeps the cause, the server's reply included, for
// errors.Is and errors.As and must not be logged as is.
type Error struct {
	// Stage is where the transaction failed: StageMail, StageRcpt,
	// StageData or StageContent.
	Stage string
	// Code is the server's reply code; 0 when no reply was read (the
	// connection failed, timed out or the reply was malformed).
	Code int
	// Enhanced is the enhanced status code (RFC 3463) the reply text starts
	// with, such as "5.1.1"; empty when it has none.
	Enhanced string
	// Err is the cause: a *textproto.Error with the reply for a reply, the
	// I/O error otherwise.
	Err error

	// sent is set when the whole message, its final dot included, went out
	// and only its reply is missing.
	sent bool
	// dirty is set when cleaning up after a refusal (ending an accepted
	// DATA, RSET) failed: the connection's state is unknown.
	dirty bool
}

// Error describes the failure by stage and codes, such as
// "smtp rcpt: 550 5.1.1" or "smtp content: no reply (timeout)".
func (e *Error) Error() string {
	return "smtp " + e.Stage + ": " + e.Reason()
}

// Reason is Error without the stage: "550 5.1.1", "451" or, without a
// reply, "no reply (connection closed)". It holds no address and no
// server text.
func (e *Error) Reason() string {
	if e.Code == 0 {
		return "no reply (" + failureKind(e.Err) + ")"
	}
	if e.Enhanced == "" {
		return strconv.Itoa(e.Code)
	}
	return strconv.Itoa(e.Code) + " " + e.Enhanced
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed: true for
// everything but a 5xx reply (a 4xx reply, no reply, an unexpected
// positive reply).
func (e *Error) Temporary() bool { return e.Code < 500 }

// NoReply reports whether the failure came without an SMTP reply.
func (e *Error) NoReply() bool { return e.Code == 0 }

// Stale reports whether the connection was already unusable when the
// transaction began: it failed before the first reply of the transaction
// (a server that dropped the idle connection), or the first reply was a
// 421 (a server that said goodbye when it dropped the idle connection, as
// Postfix and Exim do). Nothing was accepted then, and the message can be
// sent again on a new connection.
func (e *Error) Stale() bool {
	return e.Stage == StageMail && (e.Code == 0 || e.Code == 421)
}

// MaybeAccepted reports whether the server may have accepted the message:
// the whole message went out and its final reply was lost. Sending it
// again may deliver it twice. For any other failure nothing was accepted.
func (e *Error) MaybeAccepted() bool {
	return e.sent && e.Code == 0
}

// Broken reports whether the connection must not be used again: no reply
// (the connection failed or is out of step), a 421 (the server is closing
// it), a reply out of protocol, or a failed clean-up after a refusal.
func (e *Error) Broken() bool {
	return e.Code < 400 || e.Code == 421 || e.dirty
}

// failureKind names an I/O failure without its text, which may hold
// addresses of hosts or the server's words.
func failureKind(err error) string {
	var ne net.Error
	var pe textproto.ProtocolError
	switch {
	case err == nil:
		return "unknown"
	case errors.Is(err, ErrNoConnection):
		return "no connection"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return "connection closed"
	case errors.As(err, &pe):
		return "malformed reply"
	default:
		return "i/o failure"
	}
}

// enhancedCode returns the enhanced status code ("4.2.1") msg starts with,
// or "".
func enhancedCode(msg string) string {
	if len(msg) < 5 || (msg[0] != '2' && msg[0] != '4' && msg[0] != '5') || msg[1] != '.' {
		return ""
	}
	i := 2
	for part := 0; part < 2; part++ {
		start := i
		for i < len(msg) && i-start < 3 && msg[i] >= '0' && msg[i] <= '9' {
			i++
		}
		if i == start {
			return ""
		}
		if part == 0 {
			if i >= len(msg) || msg[i] != '.' {
				return ""
			}
			i++
		}
	}
	if i < len(msg) && msg[i] != ' ' && msg[i] != '\n' {
		return ""
	}
	return msg[:i]
}
