package domain

import "github.com/notifier/notifier/modules/eventintake"

// UserSignedUp is the details of auth's user_signed_up: the new user.
type UserSignedUp struct {
	// Username is the login the user chose; may be empty.
	Username string
	// User is the user's URL in the directory
	// ("https://auth/api/v1/users/<uuid>/").
	User string
}

// EventType implements Details.
func (UserSignedUp) EventType() string { return eventintake.EventUserSignedUp }

func decodeUserSignedUp(d object) (Details, error) {
	user, _, err := d.requiredURL("user")
	if err != nil {
		return nil, err
	}
	username, err := d.optionalString("username")
	if err != nil {
		return nil, err
	}
	return UserSignedUp{Username: username, User: user}, nil
}

// NewMovies is the details of cinema_scanner's new_movies: the URLs of the
// movies that came out.
type NewMovies struct {
	Movies []string
}

// EventType implements Details.
func (NewMovies) EventType() string { return eventintake.EventNewMovies }

func decodeNewMovies(d object) (Details, error) {
	items, err := d.list("movies")
	if err != nil {
		return nil, err
	}
	movies := make([]string, 0, len(items))
	for i, raw := range items {
		path := itemPath(d.at("movies"), i)
		s, err := asString(path, raw)
		if err != nil {
			return nil, err
		}
		if _, err := parseURL(path, s); err != nil {
			return nil, err
		}
		movies = append(movies, s)
	}
	return NewMovies{Movies: movies}, nil
}

// Series is one series of a new_episode event.
type Series struct {
	// URL is the series' URL ("https://fastapi/api/v1/series/<uuid>/").
	URL string
	// ID is the last path segment of URL.
	ID string
}

// NewEpisode is the details of fastapi's new_episode: the series that got a
// new episode.
type NewEpisode struct {
	Series []Series
}

// EventType implements Details.
func (NewEpisode) EventType() string { return eventintake.EventNewEpisode }

func decodeNewEpisode(d object) (Details, error) {
	items, err := d.list("series")
	if err != nil {
		return nil, err
	}
	series := make([]Series, 0, len(items))
	for i, raw := range items {
		path := itemPath(d.at("series"), i)
		s, err := asString(path, raw)
		if err != nil {
			return nil, err
		}
		u, err := parseURL(path, s)
		if err != nil {
			return nil, err
		}
		id, err := lastSegment(path, u)
		if err != nil {
			return nil, err
		}
		series = append(series, Series{URL: s, ID: id})
	}
	return NewEpisode{Series: series}, nil
}

// ReactionStat counts one kind of reaction to one review.
type ReactionStat struct {
	// Type is the reaction ("like", "dislike", …).
	Type  string
	Total int
	// Target is the review's URL ("https://activity_api/api/v1/reviews/<id>").
	Target string
	// ReviewID is the last path segment of Target.
	ReviewID string
}

// ReactionsSummary is the details of activity_api's reactions_summary.
type ReactionsSummary struct {
	Stats []ReactionStat
}

// EventType implements Details.
func (ReactionsSummary) EventType() string { return eventintake.EventReactionsSummary }

func decodeReactionsSummary(d object) (Details, error) {
	items, err := d.list("stats")
	if err != nil {
		return nil, err
	}
	stats := make([]ReactionStat, 0, len(items))
	for i, raw := range items {
		item, err := asObject(itemPath(d.at("stats"), i), raw)
		if err != nil {
			return nil, err
		}
		var st ReactionStat
		if st.Type, err = item.requiredString("type"); err != nil {
			return nil, err
		}
		if st.Total, err = item.requiredCount("total"); err != nil {
			return nil, err
		}
		target, targetURL, err := item.requiredURL("target")
		if err != nil {
			return nil, err
		}
		if st.ReviewID, err = lastSegment(item.at("target"), targetURL); err != nil {
			return nil, err
		}
		st.Target = target
		stats = append(stats, st)
	}
	return ReactionsSummary{Stats: stats}, nil
}
