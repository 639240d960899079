#!/usr/bin/env bash
# Read API latency on a filled database: every documented `/v1/spans`
# filter (each alone), every `/v1/spans` and `/v1/traces` sort key in both
# directions, a trace, and the tree of a 500-span trace.
#
# 1. Fresh database `strathon_bench_reads`, a release receiver, PROJECTS-1
#    more projects created through the API (plus the default one).
# 2. A first slice of about SLICE spans through the receiver's real ingest
#    (strathon-load, SDK-shaped batches, default project), so spans, traces,
#    rollups and every denormalized column are what ingest makes.
# 3. The receiver stops, and SQL multiplies the slice to about SPANS spans:
#    copy c (1, 2, ...) goes to project c mod PROJECTS with new trace ids
#    (md5 of the old id and c) and every trace shifted back by its own
#    pseudo-random offset in [0, DAYS days), spans and their trace row by
#    the same amount, so each copy spreads over the window while traces keep
#    agreeing with their spans. Monthly span partitions for the whole window
#    are created first if missing (named and bounded as the receiver does).
#    Then `span_rollups` is rebuilt from all spans with the formula of the
#    migration that introduced it (2026-12-04-100000_span_rollups).
# 4. The receiver restarts (retention sweeper off: the oldest copies are
#    just past the default 30-day trace retention and would otherwise be
#    deleted under the measurement), one 500-span trace is stored in the
#    default project (strathon-big-trace), then VACUUM ANALYZE.
# 5. strathon-api-timing: WARMUP_ROUNDS untimed rounds, then ROUNDS rounds of
#    every call, one at a time, with the dev key (default project, which
#    holds about SPANS / PROJECTS spans). Filter values are the most common
#    non-null value of that column in the default project (recorded in
#    values.txt); rare and absent values are timed too for status,
#    intervention state and agent name.
# 6. Unless EXPLAIN=0: for the three calls with the highest p50, the plans
#    with actual times and buffers (auto_explain with log_analyze and
#    log_buffers, enabled for this database only, after the timing, on a
#    restarted receiver) are cut out of the Postgres server log (PG_LOG,
#    found automatically for the Debian layout) into explain-<call>.txt.
#    Skipped with a note when the log cannot be read.
#
# Results in OUT: results.jsonl (one line per call: call, path, n, errors,
# p50/p90/p99/max ms), table.txt, values.txt, the receiver logs, fill.log.
# Prints the table with p50 >= SLOW_MS marked. Drops the database on exit
# unless KEEP_DB=1.
#
# Knobs (environment): PG_URL, PORT (4420), SPANS (1000000), PROJECTS (10),
# DAYS (30), SLICE (50000), ROUNDS (20), WARMUP_ROUNDS (3), SLOW_MS (50),
# EXPLAIN (1), PG_LOG, KEEP_DB, OUT (target/bench/reads-<timestamp>).
# With the defaults the fill takes a few minutes (ingest of the slice,
# then ~20 SQL copies of it, each maintaining every index) and the timing
# 23 rounds of ~45 calls.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=strathon_bench_reads
PORT=${PORT:-4420}
SPANS=${SPANS:-1000000}
PROJECTS=${PROJECTS:-10}
DAYS=${DAYS:-30}
SLICE=${SLICE:-50000}
ROUNDS=${ROUNDS:-20}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-3}
SLOW_MS=${SLOW_MS:-50}
EXPLAIN=${EXPLAIN:-1}
PG_LOG=${PG_LOG:-}
KEEP_DB=${KEEP_DB:-0}
OUT=${OUT:-target/bench/reads-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ENDPOINT="http://127.0.0.1:$PORT"
DDL_LOCK=6013557164730500172 # the receiver's partition DDL lock ("StraPDDL")
WINDOW_NS=$((DAYS * 86400 * 1000000000))

if ((PROJECTS < 1 || SLICE < 1 || SPANS < SLICE || DAYS < 1)); then
    log "need PROJECTS >= 1, DAYS >= 1 and SPANS >= SLICE >= 1"
    exit 1
fi

log "building (release)"
cargo build --release -p strathon-server -p strathon-bench
BIN=target/release

PID=
cleanup() {
    stop_pid "$PID"
    if [[ "$KEEP_DB" == 1 ]]; then
        log "keeping database $DB (KEEP_DB=1)"
    else
        drop_db "$DB"
    fi
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap too.
trap 'exit 130' INT TERM

# start_receiver <log name>
start_receiver() {
    DATABASE_URL="$PG_URL/$DB" \
        STRATHON_BIND="127.0.0.1:$PORT" \
        STRATHON_SEED_DEV_KEY=true \
        STRATHON_RATE_LIMIT_ENABLED=false \
        STRATHON_RETENTION_ENABLED=false \
        STRATHON_LOG_LEVEL=WARNING \
        "$BIN/strathon" serve >"$OUT/$1" 2>&1 &
    PID=$!
    wait_ready "$PORT" "$PID" "$OUT/$1"
}
stop_receiver() {
    stop_pid "$PID"
    PID=
}

log "creating database $DB"
fresh_db "$DB"
bench_machine "$OUT/machine.txt" "fill: ~$SPANS spans, $PROJECTS projects, $DAYS days, slice $SLICE"
start_receiver receiver-fill.log

PROJECT_IDS=("$BENCH_DEFAULT_PROJECT")
for i in $(seq 2 "$PROJECTS"); do
    id=$(api POST "$PORT" /v1/projects "{\"name\": \"bench reads $i\", \"slug\": \"bench-reads-$i\"}" | jq -r .id)
    PROJECT_IDS+=("$id")
done

q() { psql_db "$DB" -Atc "$1"; }
default_spans() { q "SELECT count(*) FROM spans WHERE project_id = '$BENCH_DEFAULT_PROJECT'"; }

log "ingesting a first slice of ~$SLICE spans through the receiver"
while :; do
    have=$(default_spans)
    ((have < SLICE)) || break
    # Roughly what is missing at a few thousand spans/s, 1..10 s per run.
    secs=$(((SLICE - have) / 5000))
    secs=$((secs < 1 ? 1 : secs > 10 ? 10 : secs))
    "$BIN/strathon-load" --endpoint "$ENDPOINT" --database-url "$PG_URL/$DB" \
        --concurrency 4 --duration-secs "$secs" --warmup-secs 0 >>"$OUT/fill.log"
done
stop_receiver
SLICE_SPANS=$(default_spans)
COPIES=$(((SPANS + SLICE_SPANS - 1) / SLICE_SPANS - 1))
log "slice: $SLICE_SPANS spans in $(q "SELECT count(*) FROM traces") traces; $COPIES SQL copies follow"

log "making sure span partitions cover the last $DAYS days"
psql_db "$DB" <<SQL
SET TIME ZONE 'UTC';
DO \$\$
DECLARE
    m timestamptz;
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock($DDL_LOCK);
    FOR m IN SELECT generate_series(date_trunc('month', now() - interval '$((DAYS + 1)) days'),
                                    date_trunc('month', now()), interval '1 month') LOOP
        part := 'spans_y' || to_char(m, 'YYYY') || 'm' || to_char(m, 'MM');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF spans FOR VALUES FROM (%s) TO (%s)', part,
                           (extract(epoch FROM m) * 1000000000)::bigint,
                           (extract(epoch FROM m + interval '1 month') * 1000000000)::bigint);
            RAISE NOTICE 'created %', part;
        END IF;
    END LOOP;
END
\$\$;
SQL

# Column lists from the catalog, so columns added later are copied too;
# the generated search_vector is left to Postgres.
cols() {
    q "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = '$1' AND is_generated = 'NEVER'"
}
SPAN_COLS=$(cols spans)
TRACE_COLS=$(cols traces)
# select_list <columns> <id column> <copy> <project>: the copy's value of
# each column.
select_list() {
    local columns=$1 idcol=$2 c=$3 proj=$4 col cl out=()
    local off="((hashtextextended(encode($idcol, 'hex') || ':$c', 0) & 9223372036854775807) % $WINDOW_NS)"
    IFS=, read -ra cl <<<"$columns"
    for col in "${cl[@]}"; do
        case "$col" in
        project_id) out+=("'$proj'::uuid") ;;
        "$idcol") out+=("decode(md5(encode($idcol, 'hex') || ':$c'), 'hex')") ;;
        start_time_unix_nano | end_time_unix_nano) out+=("$col - $off") ;;
        created_at) out+=("$col - make_interval(secs => ($off)::double precision / 1e9)") ;;
        *) out+=("$col") ;;
        esac
    done
    local IFS=,
    echo "${out[*]}"
}

psql_db "$DB" -c "CREATE UNLOGGED TABLE bench_src_traces AS SELECT $TRACE_COLS FROM traces" \
    -c "CREATE UNLOGGED TABLE bench_src_spans AS SELECT $SPAN_COLS FROM spans"
for c in $(seq 1 "$COPIES"); do
    proj=${PROJECT_IDS[$((c % PROJECTS))]}
    log "copy $c/$COPIES -> project $proj"
    {
        echo "BEGIN;"
        echo "INSERT INTO traces ($TRACE_COLS) SELECT $(select_list "$TRACE_COLS" id "$c" "$proj") FROM bench_src_traces;"
        echo "INSERT INTO spans ($SPAN_COLS) SELECT $(select_list "$SPAN_COLS" trace_id "$c" "$proj") FROM bench_src_spans;"
        echo "COMMIT;"
    } | psql_db "$DB"
done
psql_db "$DB" -c "DROP TABLE bench_src_traces, bench_src_spans"

log "rebuilding span_rollups from all spans"
psql_db "$DB" <<'SQL'
BEGIN;
TRUNCATE span_rollups;
INSERT INTO span_rollups
SELECT project_id, (start_time_unix_nano / 3600000000000) * 3600000000000,
       coalesce(agent_name, ''), coalesce(tool_name, ''), coalesce(response_model, request_model, ''),
       coalesce(intervention_state, ''), coalesce(status_code = 'ERROR', false),
       count(*), coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
       count(end_time_unix_nano),
       coalesce(sum(greatest(end_time_unix_nano - start_time_unix_nano, 0) / 1e6::double precision), 0),
       min(start_time_unix_nano), max(start_time_unix_nano)
FROM spans
GROUP BY 1, 2, 3, 4, 5, 6, 7;
COMMIT;
SQL

log "starting the receiver for the measurements"
start_receiver receiver.log
BIG_TRACE=$("$BIN/strathon-big-trace" --endpoint "$ENDPOINT" --spans 500)
log "stored the 500-span trace $BIG_TRACE; VACUUM ANALYZE"
psql_db "$DB" -c "VACUUM ANALYZE" >/dev/null
{
    echo "spans: $(q "SELECT count(*) FROM spans")"
    echo "traces: $(q "SELECT count(*) FROM traces")"
    echo "spans per project: $(q "SELECT string_agg(n::text, ' ' ORDER BY n DESC) FROM (SELECT count(*) n FROM spans GROUP BY project_id) x")"
    echo "start times: $(q "SELECT to_timestamp(min(start_time_unix_nano) / 1e9) || ' .. ' || to_timestamp(max(start_time_unix_nano) / 1e9) FROM spans")"
    echo "partitions: $(q "SELECT string_agg(c.relname || ' ' || pg_size_pretty(pg_total_relation_size(c.oid)), ', ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'spans'::regclass")"
    echo "database size: $(q "SELECT pg_size_pretty(pg_database_size(current_database()))")"
} | tee "$OUT/fill.txt" >&2

# ---- the calls ---------------------------------------------------------------
uri() { jq -rn --arg v "$1" '$v | @uri'; }
D=$BENCH_DEFAULT_PROJECT
common() { q "SELECT $1 FROM spans WHERE project_id = '$D' AND $1 IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"; }
NAMES=()
PATHS=()
call() {
    NAMES+=("$1")
    PATHS+=("$2")
}
: >"$OUT/values.txt"
NOW_NS=$(($(date +%s) * 1000000000))
call spans_newest "/v1/spans"
call spans_start_after_1h "/v1/spans?start_after=$((NOW_NS - 3600 * 1000000000))"
call spans_start_before_15d "/v1/spans?start_before=$((NOW_NS - 15 * 86400 * 1000000000))"
for col in agent_name agent_id tool_name operation_name request_model response_model kind status_code \
    intervention_state workflow_name conversation_id provider_name; do
    v=$(common "$col")
    if [[ -z "$v" ]]; then
        v="bench-absent"
        echo "$col: no value stored; timed with '$v' (matches nothing)" >>"$OUT/values.txt"
    else
        echo "$col: $v (most common)" >>"$OUT/values.txt"
    fi
    call "spans_$col" "/v1/spans?$col=$(uri "$v")"
done
if [[ "$(common status_code)" != ERROR ]]; then call spans_status_code_ERROR "/v1/spans?status_code=ERROR"; fi
if [[ "$(common intervention_state)" != blocked ]]; then call spans_intervention_state_blocked "/v1/spans?intervention_state=blocked"; fi
call spans_agent_name_absent "/v1/spans?agent_name=bench-absent"
TOOL=$(common tool_name)
TOOL=${TOOL:-send_email}
call spans_attr "/v1/spans?$(uri "attr.strathon.tool.name")=$(uri "$TOOL")"
echo "attr: strathon.tool.name=$TOOL; q: $TOOL" >>"$OUT/values.txt"
call spans_q "/v1/spans?q=$(uri "$TOOL")"
for key in started duration name operation status; do
    for dir in asc desc; do call "spans_sort_${key}_$dir" "/v1/spans?sort=$key:$dir"; done
done
call traces_newest "/v1/traces"
for key in started duration spans cost agent; do
    for dir in asc desc; do call "traces_sort_${key}_$dir" "/v1/traces?sort=$key:$dir"; done
done
TRACE=$(q "SELECT encode(id, 'hex') FROM traces WHERE project_id = '$D' AND id <> decode('$BIG_TRACE', 'hex') ORDER BY start_time_unix_nano DESC LIMIT 1")
echo "trace: $TRACE ($(q "SELECT span_count FROM traces WHERE project_id = '$D' AND id = decode('$TRACE', 'hex')") spans); 500-span trace: $BIG_TRACE" >>"$OUT/values.txt"
call trace_get "/v1/traces/$TRACE"
call trace_tree "/v1/traces/$TRACE/tree"
call trace_500_get "/v1/traces/$BIG_TRACE"
call trace_500_tree "/v1/traces/$BIG_TRACE/tree"

ARGS=()
: >"$OUT/calls.tsv"
for i in "${!NAMES[@]}"; do
    ARGS+=(--call "${NAMES[$i]}=GET ${PATHS[$i]}")
    printf '%s\t%s\n' "${NAMES[$i]}" "${PATHS[$i]}" >>"$OUT/calls.tsv"
done

log "timing ${#NAMES[@]} calls: $WARMUP_ROUNDS warm-up + $ROUNDS rounds"
"$BIN/strathon-api-timing" --endpoint "$ENDPOINT" "${ARGS[@]}" \
    --rounds "$ROUNDS" --warmup-rounds "$WARMUP_ROUNDS" >"$OUT/timing.jsonl"
jq -c --rawfile calls "$OUT/calls.tsv" '
    ($calls | split("\n") | map(select(length > 0) | split("\t") | {key: .[0], value: .[1]}) | from_entries) as $paths
    | {call, path: $paths[.call]} + del(.call)' "$OUT/timing.jsonl" >"$OUT/results.jsonl"
rm -f "$OUT/timing.jsonl"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

{
    echo
    echo "== Strathon read API on $(q "SELECT count(*) FROM spans") spans ($PROJECTS projects, $DAYS days); default project; $ROUNDS rounds after $WARMUP_ROUNDS warm-up; results in $OUT =="
    cat "$OUT/machine.txt"
    cat "$OUT/values.txt"
    echo
    echo "| call | p50 ms | p99 ms | max ms | errors | |"
    echo "|---|---|---|---|---|---|"
    jq -r --argjson slow "$SLOW_MS" '"| \(.call) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.errors) | \(if .p50_ms != null and .p50_ms >= $slow then "p50 >= \($slow) ms" else "" end) |"' "$OUT/results.jsonl"
    jq -rs --argjson slow "$SLOW_MS" '"\(map(select(.p50_ms != null and .p50_ms >= $slow)) | length) of \(length) calls with p50 >= \($slow) ms; \(map(.errors) | add) errors"' "$OUT/results.jsonl"
} | tee "$OUT/table.txt"

# ---- EXPLAIN of the slowest three ----------------------------------------
if [[ "$EXPLAIN" != 0 ]]; then
    if [[ -z "$PG_LOG" ]]; then
        major=$(q "SHOW server_version_num")
        PG_LOG="/var/log/postgresql/postgresql-$((major / 10000))-main.log"
    fi
    if [[ ! -r "$PG_LOG" ]]; then
        log "EXPLAIN skipped: cannot read the Postgres log ($PG_LOG; set PG_LOG)"
    else
        log "EXPLAIN (auto_explain: analyze, buffers) of the three slowest calls, from $PG_LOG"
        stop_receiver
        psql_db postgres -c "ALTER DATABASE $DB SET session_preload_libraries = 'auto_explain'" \
            -c "ALTER DATABASE $DB SET auto_explain.log_min_duration = 0" \
            -c "ALTER DATABASE $DB SET auto_explain.log_analyze = on" \
            -c "ALTER DATABASE $DB SET auto_explain.log_buffers = on" >/dev/null
        start_receiver receiver-explain.log
        for name in $(jq -rs 'map(select(.p50_ms != null)) | sort_by(-.p50_ms) | .[:3][] | .call' "$OUT/results.jsonl"); do
            path=$(awk -F'\t' -v n="$name" '$1 == n {print $2}' "$OUT/calls.tsv")
            # Once to warm the connection and caches, then the logged run.
            "$BIN/strathon-api-timing" --endpoint "$ENDPOINT" --call "$name=GET $path" --rounds 1 --warmup-rounds 0 >/dev/null
            offset=$(stat -c %s "$PG_LOG")
            "$BIN/strathon-api-timing" --endpoint "$ENDPOINT" --call "$name=GET $path" --rounds 1 --warmup-rounds 0 >/dev/null
            sleep 0.5
            {
                echo "# $name: GET $path"
                echo "# auto_explain (log_analyze, log_buffers) of every statement the call ran, from $PG_LOG"
                tail -c +"$((offset + 1))" "$PG_LOG" | awk -v db="@$DB " '
                    /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { keep = index($0, db) > 0 }
                    keep'
            } >"$OUT/explain-$name.txt"
            log "  $OUT/explain-$name.txt ($(grep -c 'plan:' "$OUT/explain-$name.txt" || true) plans)"
        done
        stop_receiver
        psql_db postgres -c "ALTER DATABASE $DB RESET ALL" >/dev/null
    fi
fi

errors=$(jq -s 'map(.errors) | add' "$OUT/results.jsonl")
if ((errors > 0)); then
    log "$errors calls failed (see first_error in $OUT/results.jsonl)"
    exit 1
fi
