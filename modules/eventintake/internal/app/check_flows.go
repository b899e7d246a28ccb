package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/platform/config"
)

// knownEvents are the event types with a flow, in the order of
// configs/default.yaml.
var knownEvents = []string{
	eventintake.EventUserSignedUp, eventintake.EventNewMovies,
	eventintake.EventNewEpisode, eventintake.EventReactionsSummary,
}

// CheckFlows judges the configured flows as NewEventHandlers does, without
// sending anything, and also refuses a flow of an event the intake does not
// know (a misspelt name would otherwise be ignored). Each error names its
// key, such as intake.flows.new_episode.receivers.
func CheckFlows(flows map[string]config.Flow) error {
	_, err := NewEventHandlers(flows, checkOnly{})
	errs := []error{err}
	for _, name := range slices.Sorted(maps.Keys(flows)) {
		if !slices.Contains(knownEvents, name) {
			errs = append(errs, fmt.Errorf("intake.flows.%s: no such event (%s)", name, strings.Join(knownEvents, ", ")))
		}
	}
	return errors.Join(errs...)
}

// checkOnly is the command sender of handlers built only to check flows.
type checkOnly struct{}

func (checkOnly) Send(context.Context, any) error {
	return errors.New("flows being checked send nothing")
}
