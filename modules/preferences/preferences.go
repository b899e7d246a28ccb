// Package preferences is the public contract of the preferences module,
// which owns each user's opt-ins per channel and notification type. It
// consumes posting.AudienceBatchResolved, keeps the recipients who opted in
// (mandatory types ignore opt-outs) and sends delivery.DeliverBatch on the
// lane that fits the posting's priority. It publishes no messages of its
// own yet; its HTTP resources are GET|PUT /api/v1/users/{user_id}/preferences.
package preferences

// Skip reasons reported with skipped deliveries.
const (
	ReasonChannelOptOut = "channel disabled by user"
	ReasonTypeOptOut    = "notification type disabled by user"
	ReasonNoAddress     = "no address for channel"
	ReasonUnknownChan   = "unsupported channel"
)
