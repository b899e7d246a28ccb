package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/notifier/notifier/modules/posting/internal/domain"
)

// CountPostingsHandler counts the postings by status, for the postings
// gauge: every posting stored, whichever instance made it.
type CountPostingsHandler struct {
	store domain.Store
}

// NewCountPostingsHandler returns the handler; the store is required.
func NewCountPostingsHandler(store domain.Store) (*CountPostingsHandler, error) {
	if store == nil {
		return nil, errors.New("new count postings handler: nil store")
	}
	return &CountPostingsHandler{store: store}, nil
}

// Handle returns the number of postings in each status, every status
// included (zero when no posting is in it). An unknown status a store
// returns is left out.
func (h *CountPostingsHandler) Handle(ctx context.Context) (map[domain.Status]int, error) {
	stored, err := h.store.CountByStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("count postings: %w", err)
	}
	counts := make(map[domain.Status]int, len(domain.Statuses))
	for _, s := range domain.Statuses {
		counts[s] = stored[s]
	}
	return counts, nil
}
