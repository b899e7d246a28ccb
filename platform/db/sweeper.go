package db

import "context"

// Sweeper is one periodic clean-up of the database, run by the janitor of
// the composition root every few minutes: expired keys, consumed or
// poisoned messages past their retention. Modules contribute theirs to the
// fx group "sweepers".
type Sweeper struct {
	// What names the rows it deletes, for the log ("expired idempotency keys").
	What string
	// Sweep deletes them and returns how many.
	Sweep func(ctx context.Context) (int64, error)
}
