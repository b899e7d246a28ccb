package app

import (
	"context"
	"errors"
	"time"
)

// Message is one rendered message ready for a channel.
type Message struct {
	// ID is deterministic per (posting, user, channel), such as
	// "3f1c…@notifier"; email uses it as its Message-ID.
	ID string
	// IdempotencyKey lets a gateway drop a repeated request.
	IdempotencyKey string
	PostingID      string
	UserID         string
	Channel        string
	// NotificationType is the posting's notification type.
	NotificationType string
	// ExpiresAt is the posting's expiry, nil when it has none.
	ExpiresAt *time.Time
	// Template is the name of the template it was rendered from, such as
	// "email/welcome.md".
	Template string
	// Locale is the locale of the template file rendered (the recipient's,
	// its language's or the default one), such as "en".
	Locale string
	// To is the address: an email address, a phone number, or the user
	// id for the in-app inbox.
	To      string
	Subject string
	Text    string
	HTML    string
	// ListUnsubscribe, when set, is the one-click unsubscribe URL of an
	// email (List-Unsubscribe and List-Unsubscribe-Post, RFC 8058).
	ListUnsubscribe string
}

// Sender delivers messages on one channel. Send returns nil once the
// channel has accepted the message, an error marked Transient when trying
// again later may succeed, and any other error when it never will; a
// permanent error marked RecipientRefused when the channel refused the
// address itself, for good (the address then goes on the suppression
// list). Error texts are stored and shown to managers: they must not hold
// the address or the message content.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// Preparer is a Sender that can do the part of a send that needs no
// connection apart (an SMTP sender builds the MIME message), so that a
// worker sharing a pool of connections holds one only for the exchange.
// Prepare's errors are permanent; SendPrepared sends what Prepare of any
// sender of the same configuration returned, as Send would have.
type Preparer interface {
	Sender
	Prepare(msg Message) (Prepared, error)
	SendPrepared(ctx context.Context, p Prepared) error
}

// Prepared is a message a Preparer built; Release gives back what it holds
// once it is sent (or will not be), and it is not used again.
type Prepared interface {
	Release()
}

// Senders maps a channel ("email", "sms", "inapp") to its Sender.
type Senders map[string]Sender

// RetryClass says what kind of transient failure a retry is for; it labels
// the retries metric. The set is small and fixed.
type RetryClass string

// The retry classes.
const (
	// RetryTimeout: the channel did not answer in time (no SMTP reply
	// before the timeout, an SMS gateway request timed out or answered
	// 408).
	RetryTimeout RetryClass = "timeout"
	// RetryConnection: no connection could be made, or it broke before an
	// answer (refused, reset, closed, a malformed reply).
	RetryConnection RetryClass = "connection"
	// RetryServer: the server answered "try again later" (an SMTP 4xx
	// reply, an SMS gateway 5xx).
	RetryServer RetryClass = "server"
	// RetryThrottled: the server asked to slow down (an SMS gateway 429).
	RetryThrottled RetryClass = "throttled"
	// RetryOther: a transient failure of no known kind (Transient without
	// a class, such as the capture channel's injected failures).
	RetryOther RetryClass = "other"
)

// RetryClasses lists every retry class.
var RetryClasses = []RetryClass{RetryTimeout, RetryConnection, RetryServer, RetryThrottled, RetryOther}

type transientError struct {
	err   error
	class RetryClass
}

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// Transient marks err as worth retrying: a busy server, a timeout, a
// dropped connection; its class is RetryOther. Transient(nil) is nil.
func Transient(err error) error { return TransientAs(RetryOther, err) }

// TransientAs is Transient with the kind of failure: a sender that knows it
// says so, for the retries metric. TransientAs(class, nil) is nil.
func TransientAs(class RetryClass, err error) error {
	if err == nil {
		return nil
	}
	return transientError{err: err, class: class}
}

// IsTransient reports whether err, or an error it wraps, was marked
// Transient. Errors not marked are permanent.
func IsTransient(err error) bool {
	var t transientError
	return errors.As(err, &t)
}

// RetryClassOf returns the class a transient err was marked with, RetryOther
// when it has none known, and "" for a permanent error.
func RetryClassOf(err error) RetryClass {
	var t transientError
	if !errors.As(err, &t) {
		return ""
	}
	for _, c := range RetryClasses {
		if t.class == c {
			return c
		}
	}
	return RetryOther
}

// Limiter paces the sends of one channel (its rate limit). Wait returns
// when a send may go out, or ctx's error when ctx ends first.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Limiters maps a channel to its Limiter; a channel without one is not
// limited.
type Limiters map[string]Limiter

type refusedError struct{ err error }

func (e refusedError) Error() string { return e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }

// RecipientRefused marks err as a permanent refusal of the recipient's
// address itself: the mailbox or the number does not exist (an SMTP 5xx
// answer to RCPT TO, the SMS gateway's "invalid number"), not a refusal of
// the message, of the sender or of the request. The delivery fails and the
// address goes on the suppression list, so that no later posting is sent
// to it. A sender marks only what it knows to be about the address: a
// wrong mark suppresses a working address. RecipientRefused(nil) is nil.
func RecipientRefused(err error) error {
	if err == nil {
		return nil
	}
	return refusedError{err: err}
}

// IsRecipientRefused reports whether err, or an error it wraps, was marked
// RecipientRefused and is not transient.
func IsRecipientRefused(err error) bool {
	var r refusedError
	return errors.As(err, &r) && !IsTransient(err)
}
