#!/usr/bin/env bash
# The MCP gateway (POST /v1/mcp/proxy) in front of a REAL MCP server: the
# `mcp` package's server over streamable HTTP on loopback (mcp_upstream.py),
# reached only through the gateway. mcp_gateway.py checks block, steer,
# require-approval, throttle, blocked_tools, credential redaction, the SSRF
# guard, failing closed, and that each decision is a span.
#
#   tests/compat/mcp_gateway.sh          # needs target/debug/strathon
set -euo pipefail
# shellcheck source=tests/compat/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

compat_tools_venv
compat_create_db
# The upstream listens on loopback, which the SSRF guard otherwise refuses.
compat_start_receiver STRATHON_WEBHOOK_ALLOW_LOOPBACK=true STRATHON_SHUTDOWN_DRAIN_SECONDS=0
_compat_tmpdir

port="$(_compat_free_port)"
calls="$COMPAT_TMP/upstream-calls.jsonl"
: >"$calls"
"$COMPAT_TOOLS_PY" "$COMPAT_DIR/mcp_upstream.py" "$port" "$calls" >"$COMPAT_TMP/upstream.log" 2>&1 &
upstream=$!
compat_on_exit "kill $upstream 2>/dev/null || true"
for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/mcp" && break
    kill -0 "$upstream" 2>/dev/null || { cat "$COMPAT_TMP/upstream.log" >&2; compat_die "the MCP server exited"; }
    sleep 0.1
done

MCP_UPSTREAM="http://127.0.0.1:$port/mcp" MCP_CALLS="$calls" "$COMPAT_TOOLS_PY" "$COMPAT_DIR/mcp_gateway.py"
