#!/usr/bin/env bash
# docs/examples/intervention_demo.py, as a user runs it, against a fresh
# receiver with the published SDK (strathon==1.4.0): it must show a block,
# a steer, a halt and a budget stop and exit 0, and leave nothing behind.
# The budget monitor runs every second here so the budget stop is quick.
#
#   tests/compat/demo.sh                       # needs target/debug/strathon
#   STRATHON_COMPAT_ENDPOINT=http://127.0.0.1:4318 tests/compat/demo.sh   # existing receiver
set -euo pipefail
# shellcheck source=tests/compat/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

compat_setup STRATHON_BUDGET_EVAL_INTERVAL_SECONDS=1

started=$SECONDS
"$COMPAT_PY" "$COMPAT_REPO/docs/examples/intervention_demo.py"
echo "demo: finished in $((SECONDS - started)) s"

# The demo's policies, halts and budgets are gone again.
leftovers="$("$COMPAT_PY" - <<'PY'
import json, os, urllib.request
def get(path):
    req = urllib.request.Request(os.environ["STRATHON_ENDPOINT"] + path,
                                 headers={"Authorization": "Bearer " + os.environ["STRATHON_API_KEY"]})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)
left = [p["name"] for p in get("/v1/policies")["policies"] if p["name"].startswith("demo:")]
left += [f"halt #{h['id']}" for h in get("/v1/halts")["halts"] if str(h.get("scope_value") or "").startswith("demo-agent-")]
left += [b["name"] for b in get("/v1/budgets")["budgets"] if b["name"].startswith("demo budget")]
print(", ".join(left))
PY
)"
if [[ -n "$leftovers" ]]; then
    echo "demo: left behind: $leftovers"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "1 passed, 0 failed"
