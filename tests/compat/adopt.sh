#!/usr/bin/env bash
# Adoption compatibility: a database of the Python original (our text of its
# revision-032 schema, tests/fixtures/original/schema.sql) holds keys that
# deployed agents and scripts use. `strathon adopt` moves it into a new
# database, the receiver serves that database, and the published SDK and CLI
# keep working with the OLD keys: policies and halts sync, spans ingest, the
# CLI lists what the original held. adopt.py holds the checks.
#
#   tests/compat/adopt.sh        # needs target/debug/strathon
set -euo pipefail
# shellcheck source=tests/compat/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ -n "${STRATHON_COMPAT_ENDPOINT:-}" ]]; then
    compat_log "adopt.sh builds its own databases; skipped against an external receiver"
    exit 0
fi

compat_venv
compat_create_db   # the target: empty, adopt migrates it
TARGET_URL="$COMPAT_DATABASE_URL"

SOURCE_NAME="strathon_compat_original_$(_compat_random_hex 6)"
SOURCE_URL="$COMPAT_PG_SERVER/$SOURCE_NAME"
psql -X -q -v ON_ERROR_STOP=1 -d "$COMPAT_PG_SERVER/postgres" -c "CREATE DATABASE \"$SOURCE_NAME\"" >/dev/null
compat_on_exit "psql -X -q -d '$COMPAT_PG_SERVER/postgres' -c 'DROP DATABASE IF EXISTS \"$SOURCE_NAME\" WITH (FORCE)' >/dev/null 2>&1"

# Keys as the original minted them: stra_ + 43 url-safe characters, stored as
# SHA-256 hex and a 12-character prefix.
OLD_INGEST_KEY="stra_compatIngestKeyOfTheOriginal0000000000000"
OLD_ADMIN_KEY="stra_compatAdminKeyOfTheOriginal00000000000000"
OLD_REVOKED_KEY="stra_compatRevokedKeyOfTheOriginal000000000000"
export OLD_INGEST_KEY OLD_ADMIN_KEY OLD_REVOKED_KEY

psql -X -q -v ON_ERROR_STOP=1 -d "$SOURCE_URL" -f "$COMPAT_REPO/tests/fixtures/original/schema.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$SOURCE_URL" \
    -v ingest="$OLD_INGEST_KEY" -v admin="$OLD_ADMIN_KEY" -v revoked="$OLD_REVOKED_KEY" >/dev/null <<'SQL'
INSERT INTO api_keys (id, project_id, name, key_hash, key_prefix, scopes, revoked_at)
SELECT id::uuid, '00000000-0000-0000-0000-000000000001', name, encode(sha256(convert_to(raw, 'UTF8')), 'hex'), left(raw, 12), scopes::text[], revoked::timestamptz
FROM (VALUES
    ('00000000-0000-0000-0000-0000000e0001', 'deployed agent', :'ingest', '{traces:write,policies:read,halts:read}', NULL),
    ('00000000-0000-0000-0000-0000000e0002', 'ops script', :'admin', '{*}', NULL),
    ('00000000-0000-0000-0000-0000000e0003', 'leaked and revoked', :'revoked', '{*}', '2026-01-01T00:00:00Z')
) AS k(id, name, raw, scopes, revoked);
INSERT INTO policies (id, project_id, name, description, match_expression, action, action_config, applies_to, priority)
VALUES ('00000000-0000-0000-0000-00000000f0a1', '00000000-0000-0000-0000-000000000001', 'compat-block-shell',
        'carried from the original', 'attrs["gen_ai.tool.name"] == "shell"', 'block', '{}', '{tool}', 10);
INSERT INTO halt_state (project_id, agent_id, state, reason, actor)
VALUES ('00000000-0000-0000-0000-000000000001', 'compat-research-bot', 'halted', 'carried halt', 'user');
SELECT original_span_month(extract(year FROM now())::int, extract(month FROM now())::int);
INSERT INTO traces (id, project_id, start_time_unix_nano, end_time_unix_nano, agent_name, span_count, intervention_state)
VALUES ('\x0a0d0a0d0a0d0a0d0a0d0a0d0a0d0a0d', '00000000-0000-0000-0000-000000000001',
        (extract(epoch FROM now() - interval '1 minute') * 1e9)::bigint, (extract(epoch FROM now()) * 1e9)::bigint,
        'compat-original-agent', 2, 'completed');
INSERT INTO spans (start_time_unix_nano, trace_id, span_id, parent_span_id, project_id, name, kind, end_time_unix_nano, status_code, agent_name, tool_name, attributes)
SELECT (extract(epoch FROM now() - interval '1 minute') * 1e9)::bigint + k, '\x0a0d0a0d0a0d0a0d0a0d0a0d0a0d0a0d',
       decode(lpad(k::text, 16, '0'), 'hex'), CASE WHEN k = 1 THEN NULL ELSE decode(lpad('1', 16, '0'), 'hex') END,
       '00000000-0000-0000-0000-000000000001', CASE WHEN k = 1 THEN 'invoke_agent' ELSE 'execute_tool' END, 'INTERNAL',
       (extract(epoch FROM now()) * 1e9)::bigint, 'OK', 'compat-original-agent', CASE WHEN k = 2 THEN 'search' END,
       '{"gen_ai.agent.name": "compat-original-agent"}'
FROM generate_series(1, 2) AS k;
SQL

bin="${STRATHON_BIN:-$COMPAT_REPO/target/debug/strathon}"
[[ -x "$bin" ]] || compat_die "receiver binary $bin is missing: run \`cargo build -p strathon-server\`"
compat_log "adopting $SOURCE_NAME into $COMPAT_DB_NAME"
env -i PATH="$PATH" DATABASE_URL="$TARGET_URL" STRATHON_LOG_FORMAT=text \
    "$bin" adopt --from "$SOURCE_URL" >&2 || compat_die "strathon adopt failed"
env -i PATH="$PATH" DATABASE_URL="$TARGET_URL" STRATHON_LOG_FORMAT=text \
    "$bin" adopt verify --from "$SOURCE_URL" >&2 || compat_die "strathon adopt verify failed"

compat_start_receiver
"$COMPAT_PY" "$COMPAT_DIR/adopt.py"
