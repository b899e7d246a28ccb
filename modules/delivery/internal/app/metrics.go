package app

import "time"

// Metrics is told what the deliveries of this process become, for the
// operators' metrics (adapters/metrics). Every method is safe for
// concurrent use and cheap: it is called on the delivery path. Labels it is
// given come from batches and may be anything; the implementation bounds
// them.
type Metrics interface {
	// Reported counts n deliveries of channel on lane that reached status
	// and were reported (published in a DeliveryOutcomes event): each
	// delivery is reported once, by whichever instance reports it.
	Reported(lane, channel, status string, n int)
	// Attempted records one send of channel (a try of the channel's
	// sender, whatever its result) that took elapsed.
	Attempted(channel string, elapsed time.Duration)
	// Retried counts one transient failure of channel that will be tried
	// again after its backoff.
	Retried(channel string, class RetryClass)
	// Pending says that a batch of lane, published at since, has
	// deliveries pending in this process until done is called (once).
	Pending(lane string, since time.Time) (done func())
	// Suppressed counts n deliveries of channel on lane skipped because
	// their address is on the suppression list.
	Suppressed(lane, channel string, n int)
	SuppressionMetrics
}

// SuppressionMetrics counts what happens to the suppression list.
type SuppressionMetrics interface {
	// SuppressionAdded counts one address of channel put on the list by
	// source (domain.SourceDelivery, domain.SourceAPI).
	SuppressionAdded(source, channel string)
}

// DigestMetrics is told what happens to digests (delivery.digests); the
// handler calls it when its Metrics has it.
type DigestMetrics interface {
	// DigestHeld counts n deliveries of typ on channel held for their
	// digests.
	DigestHeld(typ, channel string, n int)
	// DigestEnded counts one digest of typ on channel that ended: with
	// its message's final status, or DigestEmpty when nothing was left to
	// send.
	DigestEnded(typ, channel, result string)
}

// DigestEmpty is the DigestEnded result of a digest left with nothing.
const DigestEmpty = "empty"

// noMetrics is the Metrics of a handler given none.
type noMetrics struct{}

func (noMetrics) Reported(string, string, string, int)    {}
func (noMetrics) Attempted(string, time.Duration)         {}
func (noMetrics) Retried(string, RetryClass)              {}
func (noMetrics) Pending(string, time.Time) (done func()) { return func() {} }
func (noMetrics) Suppressed(string, string, int)          {}
func (noMetrics) SuppressionAdded(string, string)         {}
