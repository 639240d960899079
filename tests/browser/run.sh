#!/usr/bin/env bash
# The dashboard in a real browser: Debian's Chromium (installed here when
# missing; no tool downloads a browser of its own) driven by playwright-core
# against the real binary, a fresh Postgres database and the published
# strathon==1.4.0 SDK. Screenshots of every page, light and dark, land in
# target/dashboard-screenshots/.
#
#   tests/browser/run.sh            # needs target/debug/strathon
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/compat/common.sh
source "$here/../compat/common.sh"

if ! command -v chromium >/dev/null 2>&1; then
    compat_log "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
if [[ ! -d "$here/node_modules/playwright-core" || "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]; then
    compat_log "installing playwright-core, axe-core and otpauth from npm"
    (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# The budget monitor and approval reaper tick fast so governance tests finish quickly.
compat_setup STRATHON_BUDGET_EVAL_INTERVAL_SECONDS=1 STRATHON_WEBHOOK_ALLOW_LOOPBACK=true

port="$(_compat_free_port)"
DASHBOARD_URL="http://127.0.0.1:$port"
env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    STRATHON_DASHBOARD_BIND="127.0.0.1:$port" STRATHON_DASHBOARD_API_URL="$STRATHON_ENDPOINT" \
    STRATHON_LOG_FORMAT=text \
    "${STRATHON_BIN:-$COMPAT_REPO/target/debug/strathon}" dashboard </dev/null >"$COMPAT_TMP/dashboard.log" 2>&1 &
dashboard_pid=$!
compat_on_exit "kill $dashboard_pid 2>/dev/null || true"
for _ in $(seq 1 100); do
    [[ "$(_compat_http_status "$DASHBOARD_URL/health")" == 200 ]] && break
    sleep 0.1
done
compat_log "dashboard at $DASHBOARD_URL (log $COMPAT_TMP/dashboard.log)"

export DASHBOARD_URL SCREENSHOTS="$COMPAT_REPO/target/dashboard-screenshots"
cd "$here"
# In order: the read side registers the owner the governance pages use, and
# the outage check stops the receiver, so it runs last.
shopt -s nullglob
files=(dashboard.test.mjs governance.test.mjs outage.test.mjs)
present=()
for f in "${files[@]}"; do [[ -f "$f" ]] && present+=("$f"); done
node --test --test-concurrency=1 --test-reporter=spec "${present[@]}"
