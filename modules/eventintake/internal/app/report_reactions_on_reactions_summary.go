package app

import (
	"context"
	"errors"

	"github.com/notifier/notifier/modules/eventintake"
	"github.com/notifier/notifier/modules/eventintake/internal/domain"
	"github.com/notifier/notifier/modules/posting"
	"github.com/notifier/notifier/platform/config"
)

// ReportReactionsOnReactionsSummaryName is the handler name of
// ReportReactionsOnReactionsSummary.
const ReportReactionsOnReactionsSummaryName = "eventintake.ReportReactionsOnReactionsSummary"

// ReportReactionsOnReactionsSummary asks for one posting per stats item,
// to the author of the review it counts: the receivers template's
// {review_id} is the last path segment of the item's target. The postings
// of one event are told apart by review and reaction type, so a like and a
// dislike count on the same review make two postings; an item repeated
// with the same review and type makes one.
type ReportReactionsOnReactionsSummary struct {
	flow     flow
	commands CommandSender
}

// NewReportReactionsOnReactionsSummary returns the handler of the
// reactions_summary flow in flows. It fails when the flow is missing or
// broken (its receivers must hold {review_id}) or commands is nil.
func NewReportReactionsOnReactionsSummary(flows map[string]config.Flow, commands CommandSender) (*ReportReactionsOnReactionsSummary, error) {
	if commands == nil {
		return nil, errors.New("new reactions handler: nil command sender")
	}
	f, err := newFlow(eventintake.EventReactionsSummary, flows, "review_id")
	if err != nil {
		return nil, err
	}
	return &ReportReactionsOnReactionsSummary{flow: f, commands: commands}, nil
}

// HandlerName implements EventHandler.
func (*ReportReactionsOnReactionsSummary) HandlerName() string {
	return ReportReactionsOnReactionsSummaryName
}

// EventType implements EventHandler.
func (*ReportReactionsOnReactionsSummary) EventType() string {
	return eventintake.EventReactionsSummary
}

// Priority implements EventHandler.
func (h *ReportReactionsOnReactionsSummary) Priority() posting.Priority { return h.flow.priority }

// Handle implements EventHandler.
func (h *ReportReactionsOnReactionsSummary) Handle(ctx context.Context, key string, ev domain.Event) error {
	d, err := detailsOf[domain.ReactionsSummary](ReportReactionsOnReactionsSummaryName, ev)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(d.Stats))
	cmds := make([]posting.CreatePosting, 0, len(d.Stats))
	for _, st := range d.Stats {
		subID := st.ReviewID + ":" + st.Type
		if seen[subID] {
			continue
		}
		seen[subID] = true
		cmds = append(cmds, h.flow.posting(key, ReportReactionsOnReactionsSummaryName, subID, ev.FromService, st.ReviewID, map[string]any{
			"reaction_type": st.Type,
			"total":         st.Total,
			"target_url":    st.Target,
			"review":        st.Target,
		}))
	}
	return sendAll(ctx, h.commands, cmds)
}
