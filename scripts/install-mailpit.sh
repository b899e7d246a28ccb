#!/usr/bin/env bash
# Installs Mailpit, the SMTP server the integration tests send email to
# (internal/testenv.Mailpit), unless it is already in PATH or in the Go bin
# directory. Idempotent: a second run does nothing. Building it from the Go
# module proxy takes about half a minute to two minutes on a fresh machine.
set -euo pipefail

MAILPIT_VERSION="${MAILPIT_VERSION:-v1.33.1}"

gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then
  gobin="$(go env GOPATH | cut -d: -f1)/bin"
fi

if command -v mailpit >/dev/null 2>&1; then
  echo "mailpit: $(command -v mailpit)"
  exit 0
fi
if [ -x "$gobin/mailpit" ]; then
  echo "mailpit: $gobin/mailpit"
  exit 0
fi

echo "installing mailpit ${MAILPIT_VERSION} into $gobin"
# Outside any module, and with -mod=mod: an inherited GOFLAGS=-mod=vendor
# would make `go install pkg@version` refuse to query the module.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
GOFLAGS=-mod=mod go install "github.com/axllent/mailpit@${MAILPIT_VERSION}"
echo "mailpit: $gobin/mailpit"
