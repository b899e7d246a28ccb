// Package configs embeds Notifier's configuration files: default.yaml (the
// in-memory defaults) and demo-directory.yaml (the demo user directory).
package configs

import "embed"

// FS holds the YAML files of this folder.
//
//go:embed *.yaml
var FS embed.FS
