#!/usr/bin/env bash
# install-lint.sh installs the pinned golangci-lint from the Go module proxy
# if it is missing, and prints the path of the binary to use on stdout.
# It is idempotent: it does nothing when the pinned version is already on
# PATH or in $(go env GOBIN) / $(go env GOPATH)/bin.
#
#   scripts/install-lint.sh        # install if needed, print the binary
#
# `make lint` runs it; bump GOLANGCI_LINT_VERSION here (and nowhere else)
# and fix what the new version finds in the same change.
set -euo pipefail

# Pinned version: the newest v2 that builds with our Go (go.mod).
GOLANGCI_LINT_VERSION="v2.15.0"
MODULE="github.com/golangci/golangci-lint/v2/cmd/golangci-lint"

GO="${GO:-go}"

log() { echo "install-lint: $*" >&2; }

# is_pinned BIN: BIN exists and reports the pinned version.
is_pinned() {
	[[ -x $1 ]] || return 1
	local v
	v=$("$1" version --short 2>/dev/null) || return 1
	[[ ${v#v} == "${GOLANGCI_LINT_VERSION#v}" ]]
}

bindir=$("$GO" env GOBIN)
[[ -n $bindir ]] || bindir="$("$GO" env GOPATH)/bin"

for bin in "$(command -v golangci-lint || true)" "$bindir/golangci-lint"; do
	if [[ -n $bin ]] && is_pinned "$bin"; then
		echo "$bin"
		exit 0
	fi
done

log "go install $MODULE@$GOLANGCI_LINT_VERSION (into $bindir)"
GOBIN="$bindir" CGO_ENABLED=0 "$GO" install "$MODULE@$GOLANGCI_LINT_VERSION"
is_pinned "$bindir/golangci-lint" || { log "error: $bindir/golangci-lint is not $GOLANGCI_LINT_VERSION"; exit 1; }
echo "$bindir/golangci-lint"
