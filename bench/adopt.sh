#!/usr/bin/env bash
# Span copy rate of `strathon adopt`: builds an original (revision 032, our
# text of its schema) holding SPANS spans (10 per trace, spread over 75 days,
# the test fixture's shape), then adopts it RUNS times into fresh databases
# and prints each run's rate and the median. Rates come from the adopt's own
# "adopt complete" log record (spans copied / time of the span phase).
#
#   bench/adopt.sh                      # 1,000,000 spans, 3 runs
#   SPANS=200000 RUNS=5 bench/adopt.sh
#   STRATHON_BIN=target/release/strathon bench/adopt.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SPANS="${SPANS:-1000000}"
RUNS="${RUNS:-3}"
PG="${STRATHON_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
BIN="${STRATHON_BIN:-target/debug/strathon}"
[[ -x "$BIN" ]] || { echo "bench/adopt.sh: $BIN is missing; cargo build -p strathon-server" >&2; exit 1; }
TRACES=$((SPANS / 10))
SRC="strathon_bench_original"

psql -X -q -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $SRC WITH (FORCE)" -c "CREATE DATABASE $SRC" >/dev/null
cleanup() { psql -X -q -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $SRC WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT
psql -X -q -v ON_ERROR_STOP=1 -d "$PG/$SRC" -f tests/fixtures/original/schema.sql >/dev/null
echo "building the original: $TRACES traces, $SPANS spans" >&2
psql -X -q -v ON_ERROR_STOP=1 -d "$PG/$SRC" -v traces="$TRACES" >/dev/null <<'SQL'
SELECT original_span_month(extract(year FROM m)::int, extract(month FROM m)::int)
FROM generate_series(date_trunc('month', now() - interval '75 days'), now(), interval '1 month') AS m;
CREATE TEMP TABLE shape AS
SELECT (extract(epoch FROM now() - interval '75 days') * 1e9)::bigint AS base,
       (75::bigint * 86400 * 1000000000 / :traces) AS step;
INSERT INTO traces (id, project_id, start_time_unix_nano, end_time_unix_nano, agent_name, workflow_name, span_count, intervention_state)
SELECT decode(lpad(to_hex(t), 32, '0'), 'hex'), '00000000-0000-0000-0000-000000000001',
       base + t * step, base + t * step + 9000000000, 'agent-' || (t % 7), 'support-flow', 10, 'completed'
FROM shape, generate_series(1, :traces) AS t;
INSERT INTO spans (start_time_unix_nano, trace_id, span_id, parent_span_id, project_id, name, kind, end_time_unix_nano,
                   status_code, operation_name, provider_name, request_model, response_model, agent_name, agent_id,
                   tool_name, workflow_name, conversation_id, input_tokens, output_tokens, cost_usd, attributes)
SELECT base + t * step + k::bigint * 700000000, decode(lpad(to_hex(t), 32, '0'), 'hex'),
       decode(lpad(to_hex(t * 16 + k), 16, '0'), 'hex'),
       CASE WHEN k = 0 THEN NULL ELSE decode(lpad(to_hex(t * 16), 16, '0'), 'hex') END,
       '00000000-0000-0000-0000-000000000001',
       CASE WHEN k = 0 THEN 'invoke_agent' WHEN k % 3 = 0 THEN 'execute_tool' ELSE 'chat' END,
       CASE WHEN k = 0 THEN 'SERVER' ELSE 'CLIENT' END, base + t * step + k::bigint * 700000000 + 650000000, 'OK',
       CASE WHEN k % 3 = 0 THEN 'execute_tool' ELSE 'chat' END, 'openai', 'gpt-4o', 'gpt-4o-2024-08-06',
       'agent-' || (t % 7), 'agent-' || (t % 7) || '-id',
       CASE WHEN k % 3 = 0 AND k > 0 THEN (ARRAY['search', 'shell', 'pay'])[1 + t % 3] END,
       'support-flow', 'conv-' || (t % 100), 120 + k, 40 + t % 13, round((0.0001 * k + 0.000001 * (t % 1000))::numeric, 6),
       jsonb_build_object('gen_ai.system', 'openai', 'strathon.agent.name', 'agent-' || (t % 7), 'seq', k,
                          'gen_ai.prompt', 'Résumé of ticket TCK-' || t)
FROM shape, generate_series(1, :traces) AS t, generate_series(0, 9) AS k;
ANALYZE;
SQL

rates=()
for run in $(seq 1 "$RUNS"); do
    target="strathon_bench_adopted_$run"
    psql -X -q -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $target WITH (FORCE)" >/dev/null
    line="$(env -i PATH="$PATH" DATABASE_URL="$PG/$target" STRATHON_LOG_FORMAT=json \
        "$BIN" adopt --from "$PG/$SRC" 2>&1 >/dev/null | grep '"adopt complete"')"
    psql -X -q -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $target WITH (FORCE)" >/dev/null
    rate="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["spans_per_second"], r["seconds_per_million_spans"], r["span_seconds"], r["total_seconds"])' "$line")"
    echo "run $run: spans/s, s per million, span phase s, whole adopt s: $rate"
    rates+=("$rate")
done
printf '%s\n' "${rates[@]}" | sort -n | awk -v n="$RUNS" 'NR == int((n + 1) / 2) { print "median: " $1 " spans/s, " $2 " s per million spans (span phase " $3 " s, whole adopt " $4 " s)" }'
