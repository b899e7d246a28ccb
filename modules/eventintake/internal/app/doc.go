// Package app holds the intake's use cases: consuming an event from the
// exchange (ConsumeEvent), accepting one over HTTP (AcceptEvent), and one
// handler per known event type that maps it to posting.CreatePosting
// commands as its configured flow says.
package app
