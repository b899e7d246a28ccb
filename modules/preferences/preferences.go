// Package preferences is the public contract of the preferences module,
// which owns each user's opt-ins per channel and notification type. It
// consumes posting.AudienceBatchResolved, keeps the recipients who opted in
// (mandatory types ignore opt-outs) and sends delivery.DeliverBatch on the
// lane that fits the posting's priority. It publishes no messages of its
// own yet; its HTTP resources are GET|PUT|PATCH
// /api/v1/users/{user_id}/preferences.
package preferences

// Skip reasons reported with skipped deliveries. A delivery a switch
// stopped names that switch, as the preferences resource spells it:
// "opted out: per_type.new_movies.sms" for a user's own switch, "off by
// default: types.promo" for a configured default (OptedOut).
const (
	ReasonNoAddress   = "no address for channel"
	ReasonUnknownChan = "unsupported channel"
)

// The prefixes of OptedOut's reasons.
const (
	ReasonPrefixUser    = "opted out: "
	ReasonPrefixDefault = "off by default: "
)

// OptedOut returns the skip reason of a delivery that the switch at path
// ("channels.email", "types.new_movies", "per_type.new_movies.sms")
// stopped: the user's own switch when byUser, else a configured default.
func OptedOut(path string, byUser bool) string {
	if byUser {
		return ReasonPrefixUser + path
	}
	return ReasonPrefixDefault + path
}
