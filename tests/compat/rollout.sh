#!/usr/bin/env bash
# A rolling update and a crash under load (tests/compat/rollout.py): two
# receivers behind a readiness-aware loopback balancer, each replaced in turn
# with SIGTERM, one killed with SIGKILL, while the published SDK's exporter
# sends span batches. Zero failed exports, every acknowledged span stored once.
#
#   tests/compat/rollout.sh            # needs target/debug/strathon
set -euo pipefail
# shellcheck source=tests/compat/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

compat_venv
compat_create_db
_compat_tmpdir
export COMPAT_TMP STRATHON_BIN="${STRATHON_BIN:-$COMPAT_REPO/target/debug/strathon}"
"$COMPAT_PY" "$COMPAT_DIR/rollout.py"
