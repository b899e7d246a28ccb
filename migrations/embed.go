// Package migrations embeds the SQL migrations applied by `notifier
// migrate` (and at start with database.auto_migrate). Each table has one
// owner, named in the file that creates it.
package migrations

import "embed"

// FS holds the goose migrations, in order.
//
//go:embed *.sql
var FS embed.FS
