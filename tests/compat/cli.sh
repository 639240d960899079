#!/usr/bin/env bash
# CLI compatibility: every command of the published strathon-cli==1.4.0 that
# api.md §4.2 lists runs against a freshly started receiver and must exit 0
# and print the values the receiver holds (--json where the command has it,
# otherwise the Rich table parsed with COLUMNS=200). cli.py holds the checks.
#
# `admin revoke-all-keys` revokes the dev key too, so it runs last; it is
# skipped against an external receiver (STRATHON_COMPAT_ENDPOINT), whose keys
# this suite does not own.
#
#   tests/compat/cli.sh                  # needs target/debug/strathon
#   STRATHON_COMPAT_ENDPOINT=http://127.0.0.1:4318 tests/compat/cli.sh   # existing receiver
set -euo pipefail
# shellcheck source=tests/compat/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

compat_setup
"$COMPAT_PY" "$COMPAT_DIR/cli.py"
