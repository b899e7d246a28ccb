package app

import (
	"context"
	"errors"
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
	// To is the address: an email address or a phone number.
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers messages on one channel. Send returns nil once the
// channel has accepted the message, an error marked Transient when trying
// again later may succeed, and any other error when it never will. Error
// texts are stored and shown to managers: they must not hold the address or
// the message content.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// Senders maps a channel ("email", "sms") to its Sender.
type Senders map[string]Sender

type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// Transient marks err as worth retrying: a busy server, a timeout, a
// dropped connection. Transient(nil) is nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err: err}
}

// IsTransient reports whether err, or an error it wraps, was marked
// Transient. Errors not marked are permanent.
func IsTransient(err error) bool {
	var t transientError
	return errors.As(err, &t)
}

// Limiter paces the sends of one channel (its rate limit). Wait returns
// when a send may go out, or ctx's error when ctx ends first.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Limiters maps a channel to its Limiter; a channel without one is not
// limited.
type Limiters map[string]Limiter
