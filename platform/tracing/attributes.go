package tracing

import (
	"context"
	"fmt"
	"regexp"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The attributes of Notifier's own. None ever holds an address (an email
// or a phone number), a name or a message's content: spans leave the
// process for a collector that is not cleared for personal data.
const (
	// PostingIDKey is the posting a span works for.
	PostingIDKey = attribute.Key("notifier.posting_id")
	// LaneKey is the lane of the work: "transactional" or "bulk".
	LaneKey = attribute.Key("notifier.lane")
	// ChannelKey is a delivery's channel: "email" or "sms".
	ChannelKey = attribute.Key("notifier.channel")
	// AttemptKey is the number of a send's attempt, from 1.
	AttemptKey = attribute.Key("notifier.attempt")
	// ResultKey is how a send ended: ResultSent, ResultTransient,
	// ResultPermanent, ResultRefused or ResultInterrupted.
	ResultKey = attribute.Key("notifier.result")
	// OperationKey is the API operation an HTTP request matched (its
	// OpenAPI operation ID).
	OperationKey = attribute.Key("notifier.operation")
)

// The values of ResultKey.
const (
	ResultSent        = "sent"
	ResultTransient   = "transient_error"
	ResultPermanent   = "permanent_error"
	ResultRefused     = "recipient_refused"
	ResultInterrupted = "interrupted"
)

// PostingIDMetadataKey is the Watermill metadata key under which the buses
// stamp the posting a command or event is about, while tracing is on, so
// that its handler's span names the posting without decoding the payload.
const PostingIDMetadataKey = "posting_id"

// SetPostingID names the posting the span of ctx works for (such as the
// span of the request or the message that created it). It does nothing
// when ctx has no recording span.
func SetPostingID(ctx context.Context, id string) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() && id != "" {
		span.SetAttributes(PostingIDKey.String(id))
	}
}

// personalData matches what could be an email address or a phone number in
// an error text: something@something, or 9 to 15 digits with at most two
// separators between two (E.164 numbers, written with spaces, dashes, dots
// or parentheses), not within a word (a UUID's digits are left alone).
var personalData = regexp.MustCompile(`[^\s<>"'(),;:]+@[^\s<>"'(),;:]+|(?:\+|\b)\d(?:[ ()\-.]{0,2}\d){8,14}\b`)

// Scrub replaces in s whatever looks like an email address or a phone
// number with "[redacted]". Errors are meant to hold neither, but a
// server's reply quoted in one could.
func Scrub(s string) string { return personalData.ReplaceAllString(s, "[redacted]") }

// Fail records err on span (an "exception" event with its text scrubbed of
// addresses) and sets the span's status to Error. Nil err does nothing.
func Fail(span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	msg := Scrub(err.Error())
	span.AddEvent("exception", trace.WithAttributes(
		attribute.String("exception.type", fmt.Sprintf("%T", err)),
		attribute.String("exception.message", msg),
	))
	span.SetStatus(codes.Error, msg)
}
