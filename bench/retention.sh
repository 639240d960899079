#!/usr/bin/env bash
# What dropping an expired span partition does to ingest running at the
# same time.
#
# The receiver drops monthly span partitions older than
# STRATHON_SPAN_PARTITION_RETENTION_MONTHS (whole months; the minimum, 1,
# drops everything before last month) in its partition maintainer, which
# runs at start-up and every STRATHON_SPAN_PARTITION_INTERVAL_SECONDS. (The
# other retention, the per-project `trace_retention_days` sweeper, deletes
# rows instead and is not what this measures; it is left at its defaults.)
# Here the receiver runs with a retention of RETENTION_MONTHS and a
# maintenance interval of INTERVAL s, and a partition OLD_MONTHS_AGO months
# back holds about OLD_SPANS spans of a second project (created through the
# API), so the load generator's count of the default project is untouched
# by the drop and its verification stays exact.
#
# Timing the drop: the maintainer drops an expired partition on its first
# tick, which also runs at start-up. So the old partition is filled while
# no receiver runs, through the partitioned table (every index, the
# generated column and the foreign key as ingest would have them), then
# detached again and given a CHECK constraint equal to its bounds. The
# receiver starts and the baseline run goes; then the script waits for the
# maintainer's next tick (its tick counter in /metrics), re-attaches the
# partition at once (the CHECK spares the validation scan) and starts the
# measured run, so the next tick, INTERVAL s later, drops it while the load
# is running. A psql session polls the catalog every 0.2 s for when the
# partition is detached (pending), detached and dropped.
#
# Per run (RUNS, default 1): reset, fill, start the receiver, baseline run
# (the same load with the old table present but not a partition), attach,
# drop run, stop. Both runs: strathon-load at concurrency CONC for
# DURATION s after WARMUP s, verified by count. Reports each run's spans/s
# and batch latency p50 / p99 / max, whether the drop happened inside the
# drop run's measured window and when, and the maintainer's tick time.
# Exits 2 if a run failed verification, 3 if the partition was not dropped
# inside the measured window.
#
# Knobs (environment): PG_URL, PORT (4430), OLD_SPANS (200000),
# OLD_MONTHS_AGO (3, at least RETENTION_MONTHS + 1), RETENTION_MONTHS (1),
# INTERVAL (15), CONC (4), WARMUP (2), DURATION (40, at least
# INTERVAL + 10), RUNS (1), WRITERS (STRATHON_INGEST_WRITERS; unset: the
# receiver's default), OUT (target/bench/retention-<timestamp>). About
# 2 * (DURATION + WARMUP) s per run plus the fill (tens of seconds for
# 200 000 spans) and up to INTERVAL s waiting for a tick.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=strathon_bench_retention
PORT=${PORT:-4430}
OLD_SPANS=${OLD_SPANS:-200000}
OLD_MONTHS_AGO=${OLD_MONTHS_AGO:-3}
RETENTION_MONTHS=${RETENTION_MONTHS:-1}
INTERVAL=${INTERVAL:-15}
CONC=${CONC:-4}
WARMUP=${WARMUP:-2}
DURATION=${DURATION:-40}
RUNS=${RUNS:-1}
WRITERS=${WRITERS:-}
OUT=${OUT:-target/bench/retention-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ENDPOINT="http://127.0.0.1:$PORT"
DDL_LOCK=6013557164730500172 # the receiver's partition DDL lock ("StraPDDL")
SPANS_PER_TRACE=10

if ((OLD_MONTHS_AGO < RETENTION_MONTHS + 1)); then
    log "OLD_MONTHS_AGO must be at least RETENTION_MONTHS + 1 (the partition must be expired)"
    exit 1
fi
if ((INTERVAL < WARMUP + 3 || DURATION < INTERVAL + 10 || OLD_SPANS < SPANS_PER_TRACE)); then
    log "need INTERVAL >= WARMUP + 3, DURATION >= INTERVAL + 10 and OLD_SPANS >= $SPANS_PER_TRACE"
    exit 1
fi

# The old month: name and bounds as the receiver makes them (UTC months).
OLD_MONTH=$(date -u -d "$(date -u +%Y-%m-01) -$OLD_MONTHS_AGO months" +%Y-%m-01)
PART=spans_y$(date -u -d "$OLD_MONTH" +%Y)m$(date -u -d "$OLD_MONTH" +%m)
LO=$(($(date -u -d "$OLD_MONTH" +%s) * 1000000000))
HI=$(($(date -u -d "$OLD_MONTH +1 month" +%s) * 1000000000))
OLD_TRACES=$((OLD_SPANS / SPANS_PER_TRACE))
OLD_SPANS=$((OLD_TRACES * SPANS_PER_TRACE))
STEP=$((28 * 86400 * 1000000000 / OLD_TRACES))

log "building (release)"
cargo build --release -p strathon-server -p strathon-bench
BIN=target/release

PID=
LOAD_PID=
POLL_PID=
STOP_POLL="$OUT/.stop-poll"
cleanup() {
    touch "$STOP_POLL"
    stop_pid "$LOAD_PID"
    stop_pid "$POLL_PID"
    stop_pid "$PID"
    rm -f "$STOP_POLL"
    drop_db "$DB"
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap too.
trap 'exit 130' INT TERM

receiver_env
start_receiver() {
    env ${RECEIVER_ENV[@]+"${RECEIVER_ENV[@]}"} \
        DATABASE_URL="$PG_URL/$DB" \
        STRATHON_BIND="127.0.0.1:$PORT" \
        STRATHON_SEED_DEV_KEY=true \
        STRATHON_RATE_LIMIT_ENABLED=false \
        STRATHON_LOG_LEVEL=WARNING \
        STRATHON_SPAN_PARTITION_RETENTION_MONTHS="$RETENTION_MONTHS" \
        STRATHON_SPAN_PARTITION_INTERVAL_SECONDS="$INTERVAL" \
        "$BIN/strathon" serve >>"$OUT/receiver.log" 2>&1 &
    PID=$!
    wait_ready "$PORT" "$PID" "$OUT/receiver.log"
}
stop_receiver() {
    stop_pid "$PID"
    PID=
}

# The partition maintainer's completed ticks and their summed seconds.
maintainer_metrics() {
    curl -s "$ENDPOINT/metrics" | awk '
        index($0, "actor=\"spans_partition_task\"") && /^strathon_receiver_actor_ticks_total/ {n += $NF}
        index($0, "actor=\"spans_partition_task\"") && /^strathon_receiver_actor_tick_duration_seconds_sum/ {s = $NF}
        END {print n + 0, s + 0}'
}

log "creating database $DB"
fresh_db "$DB"
bench_machine "$OUT/machine.txt" "ingest writers: ${WRITERS:-receiver default (STRATHON_INGEST_WRITERS unset)}" \
    "old partition: $PART, $OLD_SPANS spans; retention $RETENTION_MONTHS month(s), maintenance every ${INTERVAL}s"
start_receiver
OLD_PROJECT=$(api POST "$PORT" /v1/projects '{"name": "bench retention archive", "slug": "bench-retention-archive"}' | jq -r .id)
log "old spans go to project $OLD_PROJECT"
stop_receiver

fill_old() {
    psql_db "$DB" <<SQL
SET TIME ZONE 'UTC';
BEGIN;
SELECT pg_advisory_xact_lock($DDL_LOCK);
CREATE TABLE $PART PARTITION OF spans FOR VALUES FROM ($LO) TO ($HI);
INSERT INTO traces (project_id, id, start_time_unix_nano, end_time_unix_nano, agent_name, workflow_name,
                    total_cost_usd, total_input_tokens, total_output_tokens, span_count)
SELECT '$OLD_PROJECT', decode(md5('old-' || t), 'hex'), $LO + t * $STEP,
       $LO + t * $STEP + $((SPANS_PER_TRACE * 1000000000)), 'archive-agent', 'nightly_report',
       0.0123, 4000, 900, $SPANS_PER_TRACE
FROM generate_series(0, $((OLD_TRACES - 1))) t;
INSERT INTO spans (project_id, start_time_unix_nano, trace_id, span_id, parent_span_id, name, kind,
                   end_time_unix_nano, status_code, operation_name, provider_name, request_model,
                   response_model, agent_name, tool_name, workflow_name, input_tokens, output_tokens,
                   cost_usd, attributes)
SELECT '$OLD_PROJECT', $LO + t * $STEP + s * 1000000000, decode(md5('old-' || t), 'hex'),
       int8send(i), CASE WHEN s > 0 THEN int8send(i - s) END,
       CASE WHEN s = 0 THEN 'langgraph.chain.nightly_report'
            WHEN s % 2 = 1 THEN 'openai.chat.gpt-4o-mini' ELSE 'langgraph.tool.query_database' END,
       CASE WHEN s % 2 = 1 THEN 'CLIENT' ELSE 'INTERNAL' END,
       $LO + t * $STEP + s * 1000000000 + 800000000, 'OK',
       CASE WHEN s % 2 = 1 THEN 'chat' END, CASE WHEN s % 2 = 1 THEN 'openai' END,
       CASE WHEN s % 2 = 1 THEN 'gpt-4o-mini' END, CASE WHEN s % 2 = 1 THEN 'gpt-4o-mini-2024' END,
       'archive-agent', CASE WHEN s > 0 AND s % 2 = 0 THEN 'query_database' END, 'nightly_report',
       CASE WHEN s % 2 = 1 THEN 800 END, CASE WHEN s % 2 = 1 THEN 180 END,
       CASE WHEN s % 2 = 1 THEN 0.000228 END,
       jsonb_build_object('service.name', 'archive-agent', 'deployment.environment', 'production',
                          'langgraph.step', s, 'gen_ai.prompt', repeat(md5(i::text) || ' ', 24),
                          'strathon.tool.args', '{"sql": "select * from orders where id = ' || i || '"}')
FROM generate_series(0::bigint, $((OLD_SPANS - 1))) i,
     LATERAL (SELECT i / $SPANS_PER_TRACE AS t, i % $SPANS_PER_TRACE AS s) x;
ALTER TABLE spans DETACH PARTITION $PART;
ALTER TABLE $PART ADD CONSTRAINT bench_partition_bounds
    CHECK (start_time_unix_nano >= $LO AND start_time_unix_nano < $HI);
COMMIT;
SQL
}

FAILED=0
MISSED=0
# load <result file>: one strathon-load run; sets LOAD_START (epoch s).
load() {
    local file=$1 rc=0
    LOAD_START=$(date +%s.%N)
    "$BIN/strathon-load" --mode load --endpoint "$ENDPOINT" --concurrency "$CONC" \
        --duration-secs "$DURATION" --warmup-secs "$WARMUP" \
        --database-url "$PG_URL/$DB" --report json >"$file" 2>"$file.err" &
    LOAD_PID=$!
    wait "$LOAD_PID" || rc=$?
    LOAD_PID=
    LOAD_END=$(date +%s.%N)
    if [[ ! -s "$file" ]]; then
        log "the load generator failed (exit $rc):"
        cat "$file.err" >&2
        exit 1
    fi
    if ((rc != 0)); then
        FAILED=1
        log "VERIFICATION FAILED: $(cat "$file.err")"
    fi
    jq -r '"  \(.spans_per_sec) spans/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, max \(.latency_ms.max) ms, 503s \(.retried_503), verified \(.verification.ok)"' "$file" >&2
}

for run in $(seq 1 "$RUNS"); do
    log "run $run/$RUNS: filling $PART with $OLD_SPANS spans (receiver stopped)"
    psql_db "$DB" -c "DROP TABLE IF EXISTS $PART" -c "TRUNCATE spans, traces" >/dev/null
    fill_start=$(date +%s.%N)
    fill_old >/dev/null
    log "  filled in $(printf '%.1f' "$(echo "$(date +%s.%N) - $fill_start" | bc -l)") s; $(psql_db "$DB" -Atc "SELECT pg_size_pretty(pg_total_relation_size('$PART'))") with indexes"
    psql_db "$DB" -c "CHECKPOINT" >/dev/null
    start_receiver
    sleep 2

    log "run $run/$RUNS: baseline (old table present, not a partition), concurrency $CONC, ${DURATION}s + ${WARMUP}s warm-up"
    read -r k0 s0 < <(maintainer_metrics)
    load "$OUT/baseline-r$run.json"
    read -r k1 s1 < <(maintainer_metrics)
    jq --argjson ticks "$((k1 - k0))" --argjson tick_secs "$(echo "$s1 - $s0" | bc -l)" \
        '. + {maintainer: {ticks: $ticks, tick_secs: $tick_secs}}' "$OUT/baseline-r$run.json" >"$OUT/.tmp"
    mv "$OUT/.tmp" "$OUT/baseline-r$run.json"

    # Same starting state as the baseline: the default project's rows go
    # (TRUNCATE spans empties only the attached partitions), the old
    # project's traces stay for the old table's foreign key.
    psql_db "$DB" -c "TRUNCATE spans" -c "DELETE FROM traces WHERE project_id = '$BENCH_DEFAULT_PROJECT'" \
        -c "VACUUM ANALYZE traces" -c "CHECKPOINT" >/dev/null

    log "run $run/$RUNS: waiting for a maintainer tick, then attaching $PART"
    read -r k0 s0 < <(maintainer_metrics)
    deadline=$(($(date +%s) + INTERVAL + 15))
    while :; do
        read -r k _ < <(maintainer_metrics)
        ((k > k0)) && break
        if (($(date +%s) > deadline)); then
            log "no maintainer tick within $((INTERVAL + 15)) s"
            exit 1
        fi
        sleep 0.2
    done
    attach_start=$(date +%s.%N)
    psql_db "$DB" -c "BEGIN" -c "SELECT pg_advisory_xact_lock($DDL_LOCK)" \
        -c "ALTER TABLE spans ATTACH PARTITION $PART FOR VALUES FROM ($LO) TO ($HI)" -c "COMMIT" >/dev/null
    attach_secs=$(echo "$(date +%s.%N) - $attach_start" | bc -l)
    log "  attached in $(printf '%.2f' "$attach_secs") s; the next tick (~${INTERVAL}s) drops it"

    rm -f "$STOP_POLL"
    while [[ ! -e "$STOP_POLL" ]]; do
        echo "SELECT extract(epoch FROM clock_timestamp()), to_regclass('$PART') IS NOT NULL,
              coalesce((SELECT CASE WHEN inhdetachpending THEN 'pending' ELSE 'attached' END
                        FROM pg_inherits WHERE inhrelid = to_regclass('$PART')), 'detached');"
        sleep 0.2
    done | psql "$PG_URL/$DB" -X -q -At -F ' ' >"$OUT/poll-r$run.txt" 2>&1 &
    POLL_PID=$!

    log "run $run/$RUNS: drop run, concurrency $CONC, ${DURATION}s + ${WARMUP}s warm-up"
    read -r k0 s0 < <(maintainer_metrics)
    load "$OUT/drop-r$run.json"
    read -r k1 s1 < <(maintainer_metrics)
    sleep 0.5
    touch "$STOP_POLL"
    wait "$POLL_PID" 2>/dev/null || true
    POLL_PID=
    stop_receiver

    # First poll that saw each state, relative to the generator's launch.
    ev() { awk -v s="$LOAD_START" -v f="$1" -v st="$2" '$2 == f && $3 == st {printf "%.2f\n", $1 - s; exit}' "$OUT/poll-r$run.txt"; }
    pending=$(ev t pending)
    detached=$(ev t detached)
    dropped=$(ev f detached)
    last_attached=$(awk -v s="$LOAD_START" '$3 == "attached" {t = $1 - s} END {if (t != "") printf "%.2f\n", t}' "$OUT/poll-r$run.txt")
    window_end=$(echo "$LOAD_END - $LOAD_START" | bc -l)
    in_window=false
    if [[ -n "$dropped" ]] && (($(echo "$dropped > $WARMUP && $dropped < $window_end" | bc -l))); then
        in_window=true
    fi
    jq --argjson ticks "$((k1 - k0))" --argjson tick_secs "$(echo "$s1 - $s0" | bc -l)" \
        --argjson attach "$attach_secs" --arg pending "$pending" --arg detached "$detached" \
        --arg dropped "$dropped" --arg last_attached "$last_attached" --argjson in_window "$in_window" \
        --argjson warmup "$WARMUP" --argjson wend "$window_end" '
        def num: if . == "" then null else tonumber end;
        . + {maintainer: {ticks: $ticks, tick_secs: $tick_secs},
             partition: {attach_secs: $attach, last_seen_attached_s: ($last_attached | num),
                         detach_pending_seen_s: ($pending | num), detached_seen_s: ($detached | num),
                         dropped_seen_s: ($dropped | num), measured_window_s: [$warmup, $wend],
                         dropped_in_window: $in_window}}' "$OUT/drop-r$run.json" >"$OUT/.tmp"
    mv "$OUT/.tmp" "$OUT/drop-r$run.json"
    if [[ "$in_window" == true ]]; then
        log "  $PART dropped ${dropped}s after the generator started (measured window ${WARMUP}..$(printf '%.1f' "$window_end") s)"
    else
        MISSED=1
        log "  $PART was NOT dropped inside the measured window (dropped at: ${dropped:-never} s)"
    fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

jq -n "$JQ_MEDIAN"'
    def row: {spans_per_sec: (map(.spans_per_sec) | median),
              p50_ms: (map(.latency_ms.p50) | median), p99_ms: (map(.latency_ms.p99) | median),
              max_ms: (map(.latency_ms.max) | median), e2e_max_ms: (map(.e2e_latency_ms.max) | median),
              retried_503: (map(.retried_503) | add), errors: (map(.errors) | add),
              maintainer_tick_secs: (map(.maintainer.tick_secs) | median),
              verified: (map(.verification.ok) | all), runs: length};
    {commit: $commit, old_partition: $part, old_spans: $old_spans, retention_months: $months, interval_secs: $interval,
     concurrency: $conc, baseline: ($base | row),
     drop: (($drop | row) + {partition_each_run: ($drop | map(.partition)),
                             dropped_in_window: ($drop | map(.partition.dropped_in_window) | all)})}' \
    --slurpfile base <(cat "$OUT"/baseline-r*.json) --slurpfile drop <(cat "$OUT"/drop-r*.json) \
    --arg commit "$(bench_commit)" --arg part "$PART" --argjson old_spans "$OLD_SPANS" \
    --argjson months "$RETENTION_MONTHS" --argjson interval "$INTERVAL" --argjson conc "$CONC" >"$OUT/summary.json"

{
    echo
    echo "== Strathon ingest during a span partition drop ($(nproc) cores, concurrency $CONC, ${DURATION}s runs, medians of $RUNS; results in $OUT) =="
    cat "$OUT/machine.txt"
    echo
    echo "| run | spans/s | p50 ms | p99 ms | max ms | max incl. retries ms | 503 retries | maintainer tick s | verified |"
    echo "|---|---|---|---|---|---|---|---|---|"
    jq -r '["baseline", .baseline], ["partition dropped", .drop] | . as [$name, $r]
        | "| \($name) | \($r.spans_per_sec | round) | \($r.p50_ms) | \($r.p99_ms) | \($r.max_ms) | \($r.e2e_max_ms) | \($r.retried_503) | \($r.maintainer_tick_secs * 100 | round / 100) | \($r.verified) |"' "$OUT/summary.json"
    echo
    jq -r '.drop.partition_each_run | to_entries[] | .value as $p
        | "run \(.key + 1): attach \($p.attach_secs * 100 | round / 100) s before the run; seen attached until \($p.last_seen_attached_s) s, detach pending at \($p.detach_pending_seen_s // "-") s, detached at \($p.detached_seen_s // "-") s, dropped at \($p.dropped_seen_s // "never") s after the generator started; measured window \($p.measured_window_s[0])..\($p.measured_window_s[1] | . * 10 | round / 10) s: \(if $p.dropped_in_window then "DROPPED DURING THE RUN" else "NOT DROPPED DURING THE RUN" end)"' "$OUT/summary.json"
    echo "(times are first seen by a 0.2 s catalog poll)"
} | tee "$OUT/summary.txt"

if ((FAILED)); then
    log "at least one run failed verification: acknowledged spans are missing"
    exit 2
fi
if ((MISSED)); then
    log "the old partition was not dropped during the measured window"
    exit 3
fi
