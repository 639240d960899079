#!/usr/bin/env bash
# SDK governance compatibility: the published strathon==1.4.0 SDK enforces
# what the receiver serves -- block, steer, throttle, allow-list mode, project
# and agent halts, a cost budget tripped by exported spans, fail-closed when
# the receiver is gone -- and its intervention spans come back through
# GET /v1/spans. sdk_governance.py holds the checks; it stops the receiver
# itself for the fail-closed check (the last one).
#
# The budget monitor runs every STRATHON_COMPAT_BUDGET_EVAL_INTERVAL seconds
# (default 1) so the budget check finishes quickly.
#
#   tests/compat/sdk_governance.sh              # needs target/debug/strathon
#   STRATHON_COMPAT_ENDPOINT=http://127.0.0.1:4318 tests/compat/sdk_governance.sh   # existing receiver
set -euo pipefail
# shellcheck source=tests/compat/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

compat_setup STRATHON_BUDGET_EVAL_INTERVAL_SECONDS="${STRATHON_COMPAT_BUDGET_EVAL_INTERVAL:-1}"
"$COMPAT_PY" "$COMPAT_DIR/sdk_governance.py"
