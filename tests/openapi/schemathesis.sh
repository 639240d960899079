#!/usr/bin/env bash
# Schema-driven fuzzing: schemathesis (from PyPI, pinned) reads the live
# receiver's GET /openapi.json and throws generated requests, valid and
# invalid, at every operation with a `*` key, against a project seeded with
# one object of each kind (seed.py). It fails on any 5xx, any status the
# document does not list, and any answer that does not match its schema;
# afterwards the receiver must still answer /health and must have logged
# no panic.
#
#   tests/openapi/schemathesis.sh                # ~3 minutes; needs target/debug/strathon
#   STRATHON_FUZZ_SECONDS=900 tests/openapi/schemathesis.sh   # a longer run
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/compat/common.sh
source "$HERE/../compat/common.sh"

VENV="$COMPAT_DIR/.venv-schemathesis"
VERSION="4.32.5"
if ! "$VENV/bin/python" -c "from importlib.metadata import version; assert version('schemathesis') == '$VERSION'" 2>/dev/null; then
    (
        flock 9
        [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$VERSION"
    ) 9>"$COMPAT_DIR/.venv-schemathesis.lock"
fi

compat_create_db
# Outbound calls the fuzzer provokes (MCP upstreams, webhook tests) must not
# wait long on addresses this machine cannot reach.
compat_start_receiver STRATHON_MCP_UPSTREAM_TIMEOUT_SECONDS=2 STRATHON_SHUTDOWN_DRAIN_SECONDS=0
_compat_tmpdir

config="$COMPAT_TMP/schemathesis.toml"
{
    cat <<TOML
base-url = "$STRATHON_ENDPOINT"
headers = { Authorization = "Bearer $STRATHON_API_KEY" }
# One worker: with several, Python 3.11.7's ast module races inside
# hypothesis ("AST constructor recursion depth mismatch", fixed in 3.11.8).
workers = 1
max-time = ${STRATHON_FUZZ_SECONDS:-150}
request-timeout = 15.0
suppress-health-check = ["all"]
# Seeded with STRATHON_FUZZ_SEED when given, so a finding can be replayed.
${STRATHON_FUZZ_SEED:+seed = $STRATHON_FUZZ_SEED}

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_schema_conformance.enabled = true

[phases]
examples.enabled = true
coverage.enabled = true
fuzzing.enabled = true
stateful.enabled = true

TOML
    "$VENV/bin/python" "$HERE/seed.py"
} >"$config"

report="$COMPAT_TMP/schemathesis.junit.xml"
status=0
(cd "$COMPAT_TMP" && "$VENV/bin/schemathesis" --config-file "$config" run "$STRATHON_ENDPOINT/openapi.json" \
    --report junit --report-junit-path "$report" --no-color) || status=$?

alive="$(_compat_http_status "$STRATHON_ENDPOINT/health")"
[[ "$alive" == "200" ]] || { compat_log "the receiver stopped answering /health ($alive) after fuzzing"; status=1; }
if grep -Eq 'panicked|request failed' "$COMPAT_RECEIVER_LOG"; then
    compat_log "the receiver logged a panic or a 500 while fuzzed:"
    grep -E 'panicked|request failed' "$COMPAT_RECEIVER_LOG" | head -20 >&2
    status=1
fi
exit "$status"
