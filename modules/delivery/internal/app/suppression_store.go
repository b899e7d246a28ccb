package app

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/notifier/notifier/modules/delivery/internal/domain"
)

// ErrSuppressionNotFound is returned by SuppressionStore.Unsuppress, and
// by the use cases, for an address that is not on the list.
var ErrSuppressionNotFound = errors.New("suppression not found")

// SuppressionList is what a delivery needs of the suppression list: one
// lookup for a whole batch, and a way to add an address a channel refused.
type SuppressionList interface {
	// Suppressed returns the addresses of addrs that are on the list, each
	// once, in no particular order, in one lookup (one query in
	// PostgreSQL, whatever the number of addresses).
	Suppressed(ctx context.Context, addrs []domain.Address) ([]domain.Address, error)
	// Suppress puts s on the list unless its address is there already. It
	// returns the entry on the list (s, or the older one, which is kept as
	// it was: the first reason and time stand) and whether it was added.
	Suppress(ctx context.Context, s domain.Suppression) (domain.Suppression, bool, error)
}

// SuppressionStore keeps the suppression list: one entry per normalized
// (channel, address). Addresses are compared exactly as given: callers
// normalize them (domain.NormalizeAddress). Every method is safe for
// concurrent use, by several processes for a database-backed store.
//
// Transactions: every method commits at once, joining no unit of work the
// context carries. A suppression found by a refused delivery must stay
// even when the batch's handler later fails (the delivery's "failed" mark
// stays too), and a batch must not begin its unit of work's transaction
// early, holding it while it sends.
type SuppressionStore interface {
	SuppressionList
	// ListSuppressions returns a page of the list, newest first (then by
	// channel and address). It returns ErrInvalidCursor for a cursor it did
	// not issue.
	ListSuppressions(ctx context.Context, q SuppressionQuery) (SuppressionPage, error)
	// Unsuppress takes the address off the list. It returns
	// ErrSuppressionNotFound when it is not there.
	Unsuppress(ctx context.Context, addr domain.Address) error
}

// SuppressionQuery selects a page of the suppression list.
type SuppressionQuery struct {
	// Channel keeps only entries of this channel; empty keeps all.
	Channel string
	// Address keeps only the entry of this normalized address (of
	// Channel, which it then needs); empty keeps all.
	Address string
	// Limit is the page size, at least 1.
	Limit int
	// Cursor continues after the page that returned it; empty starts.
	Cursor string
}

// SuppressionPage is one page of the suppression list.
type SuppressionPage struct {
	Items []domain.Suppression
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string
}

// SuppressionCursor is the position after an entry in the list's order
// (created_at descending, then channel and address ascending).
type SuppressionCursor struct {
	CreatedAt time.Time
	Address   domain.Address
}

// EncodeSuppressionCursor returns the opaque cursor of the entries after s;
// every SuppressionStore issues the same cursors. Times are kept to the
// microsecond, as PostgreSQL keeps them.
func EncodeSuppressionCursor(s domain.Suppression) string {
	raw := strconv.FormatInt(s.CreatedAt.UnixMicro(), 10) + "\x00" + s.Channel + "\x00" + s.Value
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeSuppressionCursor returns the position a cursor continues after, or
// ErrInvalidCursor for a cursor EncodeSuppressionCursor did not make.
func DecodeSuppressionCursor(cursor string) (SuppressionCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !utf8.Valid(raw) {
		return SuppressionCursor{}, ErrInvalidCursor
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return SuppressionCursor{}, ErrInvalidCursor
	}
	micros, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return SuppressionCursor{}, ErrInvalidCursor
	}
	return SuppressionCursor{
		CreatedAt: time.UnixMicro(micros).UTC(),
		Address:   domain.Address{Channel: parts[1], Value: parts[2]},
	}, nil
}

// After reports whether s comes after c in the list's order.
func (c SuppressionCursor) After(s domain.Suppression) bool {
	at := s.CreatedAt.Truncate(time.Microsecond)
	switch {
	case at.Before(c.CreatedAt):
		return true
	case at.After(c.CreatedAt):
		return false
	case s.Channel != c.Address.Channel:
		return s.Channel > c.Address.Channel
	default:
		return s.Value > c.Address.Value
	}
}
