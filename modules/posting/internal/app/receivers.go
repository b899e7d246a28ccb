package app

import "net/url"

// readableQuery reports whether the query of a receivers URL parses as the
// directory adapter reads it: a stray "%" or a ";" between parameters would
// make it drop those filters and ask the directory for a broader audience
// than the posting names.
func readableQuery(receivers string) bool {
	u, err := url.Parse(receivers)
	if err != nil {
		return false
	}
	_, err = url.ParseQuery(u.RawQuery)
	return err == nil
}
