#!/usr/bin/env bash
# Ingest benchmark: the numbers in bench/README.md.
#
# Builds the receiver and the load generator (release), creates a fresh
# `strathon_bench` database on the local Postgres, starts `strathon serve`,
# measures idle RSS, runs the load generator RUNS times at each concurrency
# (peak RSS and CPU of receiver / Postgres / generator sampled per run), then
# the raw binary COPY baseline RUNS times at the concurrency that gave the
# best ingest throughput, and prints medians. Every load run verifies by
# counting rows that each acknowledged span was stored; a failed
# verification makes the script exit non-zero. Then, unless SKIP_POLICY=1,
# the policy-fetch phase: 10 policies are created through the API and
# `GET /v1/policies` and `POST /v1/intervention/sync` (what the SDK polls)
# are timed with strathon-api-timing, idle for POLICY_IDLE_SECS and while
# strathon-load runs at the best concurrency (DURATION s). Stops the
# receiver and drops the database at the end (also on failure).
#
# Knobs (environment): PG_URL, PORT, DURATION (s per run), WARMUP (s),
# RUNS, CONCURRENCIES, OUT (results directory), WRITERS (sets
# STRATHON_INGEST_WRITERS for the receiver; unset: the receiver's default),
# SKIP_POLICY (1: no policy-fetch phase), POLICY_IDLE_SECS (5).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=strathon_bench
PORT=${PORT:-4399}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
CONCURRENCIES=${CONCURRENCIES:-"1 4 16"}
OUT=${OUT:-target/bench/$(date +%Y%m%d-%H%M%S)}
WRITERS=${WRITERS:-}
SKIP_POLICY=${SKIP_POLICY:-0}
POLICY_IDLE_SECS=${POLICY_IDLE_SECS:-5}
PYTHON_SPANS_PER_SEC=370
mkdir -p "$OUT"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building (release)"
cargo build --release -p strathon-server -p strathon-bench
RECEIVER=target/release/strathon
LOADGEN=target/release/strathon-load
TIMING=target/release/strathon-api-timing
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    COMMIT="$COMMIT-dirty"
fi
# Only a set WRITERS reaches the receiver's environment.
RECEIVER_ENV=()
if [[ -n "$WRITERS" ]]; then
    RECEIVER_ENV+=("STRATHON_INGEST_WRITERS=$WRITERS")
fi

PID=
POLICY_LOAD_PID=
cleanup() {
    if [[ -n "$POLICY_LOAD_PID" ]] && kill -0 "$POLICY_LOAD_PID" 2>/dev/null; then
        kill "$POLICY_LOAD_PID" 2>/dev/null || true
        wait "$POLICY_LOAD_PID" 2>/dev/null || true
    fi
    if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "creating database $DB"
psql "$PG_URL/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql "$PG_URL/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB"

{
    echo "date: $(date -Is)"
    echo "nproc: $(nproc)"
    echo "memory: $(free -m | awk '/^Mem:/{print $2 " MiB"}')"
    echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
    echo "postgres: $(psql "$PG_URL/postgres" -Atc 'SHOW server_version')"
    echo "commit: $COMMIT"
    echo "ingest writers: ${WRITERS:-receiver default (STRATHON_INGEST_WRITERS unset)}"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

log "starting the receiver on 127.0.0.1:$PORT"
env ${RECEIVER_ENV[@]+"${RECEIVER_ENV[@]}"} \
DATABASE_URL="$PG_URL/$DB" \
STRATHON_BIND="127.0.0.1:$PORT" \
STRATHON_SEED_DEV_KEY=true \
STRATHON_RATE_LIMIT_ENABLED=false \
STRATHON_LOG_LEVEL=WARNING \
    "$RECEIVER" serve >"$OUT/receiver.log" 2>&1 &
PID=$!

ready=
for _ in $(seq 1 240); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ready")" == 200 ]]; then
        ready=1
        break
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.25
done
if [[ -z "$ready" ]]; then
    log "the receiver did not become ready; its log:"
    cat "$OUT/receiver.log" >&2
    exit 1
fi
sleep 3
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
IDLE_RSS_KB=$(rss_kb "$PID")
log "ready; idle RSS $((IDLE_RSS_KB / 1024)) MiB"

TICK=$(getconf CLK_TCK)
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Postgres CPU: every live process, plus the postmaster's reaped children
# (cutime/cstime), so backends that exit during the run still count.
pg_ticks() {
    local sum=0 t p
    for p in $(ps -C postgres -o pid=); do
        t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}
# busy and total jiffies of the whole machine
sys_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

# writer metrics: "<commit seconds sum> <commits> <spans stored>"
writer_metrics() {
    curl -s "http://127.0.0.1:$PORT/metrics" | awk '
        /^strathon_receiver_ingest_commit_duration_seconds_sum /{s=$2}
        /^strathon_receiver_ingest_commits_total /{c=$2}
        /^strathon_receiver_ingest_spans_stored_total /{n=$2}
        END{print s+0, c+0, n+0}'
}

reset_tables() {
    psql "$PG_URL/$DB" -v ON_ERROR_STOP=1 -qc "TRUNCATE spans, traces" -c "CHECKPOINT" >/dev/null
}

FAILED=0
# run_one <mode> <concurrency> <result file> [top snapshot file]
run_one() {
    local mode=$1 c=$2 file=$3 topfile=${4:-}
    reset_tables
    local stopfile="$OUT/.stop-rss" peakfile="$OUT/.peak-rss"
    rm -f "$stopfile"
    echo 0 >"$peakfile"
    (
        peak=0
        while [[ ! -e "$stopfile" ]] && kill -0 "$PID" 2>/dev/null; do
            r=$(rss_kb "$PID")
            if ((r > peak)); then
                peak=$r
                echo "$peak" >"$peakfile"
            fi
            sleep 0.1
        done
    ) &
    local sampler=$!
    local toppid=
    if [[ -n "$topfile" ]]; then
        # second frame of a 1 s top: per-process CPU over that second
        (sleep $((WARMUP + DURATION / 2)) && top -b -d 1 -n 2 -w 160 | awk '/^top -/{n++} n==2' | head -22 >"$topfile") &
        toppid=$!
    fi
    local r0 p0 s0 t0 w0 g0 n0
    read -r w0 g0 n0 < <(writer_metrics)
    r0=$(ticks_of "$PID")
    p0=$(pg_ticks)
    read -r s0 t0 < <(sys_ticks)
    local start end rc=0
    start=$(date +%s.%N)
    "$LOADGEN" --mode "$mode" --endpoint "http://127.0.0.1:$PORT" --concurrency "$c" \
        --duration-secs "$DURATION" --warmup-secs "$WARMUP" \
        --database-url "$PG_URL/$DB" --report json >"$file.raw" 2>"$file.err" || rc=$?
    end=$(date +%s.%N)
    local r1 p1 s1 t1 w1 g1 n1
    r1=$(ticks_of "$PID")
    p1=$(pg_ticks)
    read -r s1 t1 < <(sys_ticks)
    read -r w1 g1 n1 < <(writer_metrics)
    touch "$stopfile"
    wait "$sampler" 2>/dev/null || true
    [[ -n "$toppid" ]] && { wait "$toppid" 2>/dev/null || true; }
    if [[ ! -s "$file.raw" ]]; then
        log "the load generator failed (exit $rc):"
        cat "$file.err" >&2
        exit 1
    fi
    if ((rc != 0)); then
        FAILED=1
        log "VERIFICATION FAILED ($mode c=$c): $(cat "$file.err")"
    fi
    jq --argjson peak "$(cat "$peakfile")" \
        --argjson wall "$(echo "$end - $start" | bc -l)" \
        --argjson rcpu "$(echo "($r1 - $r0) / $TICK" | bc -l)" \
        --argjson pcpu "$(echo "($p1 - $p0) / $TICK" | bc -l)" \
        --argjson busy "$(echo "100 * ($s1 - $s0) / ($t1 - $t0)" | bc -l)" \
        --argjson busysecs "$(echo "($s1 - $s0) / $TICK" | bc -l)" \
        --argjson rc "$rc" \
        --argjson wsecs "$(echo "$w1 - $w0" | bc -l)" \
        --argjson commits "$((g1 - g0))" --argjson committed "$((n1 - n0))" \
        '. + {exit_code: $rc, wall_secs: $wall, receiver_peak_rss_kb: $peak, receiver_cpu_secs: $rcpu,
              postgres_cpu_secs: $pcpu, machine_busy_pct: $busy, machine_busy_cpu_secs: $busysecs,
              writer: {commit_secs: $wsecs, commits: $commits, spans: $committed}}' "$file.raw" >"$file"
    rm -f "$file.raw"
    jq -r '"  \(.mode) c=\(.concurrency): \(.spans_per_sec) spans/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, 503s \(.retried_503), peak RSS \(.receiver_peak_rss_kb / 1024 | floor) MiB, verified \(.verification.ok)"' "$file" >&2
}

for run in $(seq 1 "$RUNS"); do
    for c in $CONCURRENCIES; do
        log "ingest run $run/$RUNS at concurrency $c (${DURATION}s + ${WARMUP}s warm-up)"
        top=
        ((run == 1)) && top="$OUT/top-load-c$c.txt"
        run_one load "$c" "$OUT/load-c$c-r$run.json" "$top"
    done
done

JQ_MEDIAN='def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;'
BEST_C=
BEST=0
for c in $CONCURRENCIES; do
    m=$(jq -s "$JQ_MEDIAN map(.spans_per_sec) | median" "$OUT"/load-c"$c"-r*.json)
    if (($(echo "$m > $BEST" | bc -l))); then
        BEST=$m
        BEST_C=$c
    fi
done

for run in $(seq 1 "$RUNS"); do
    log "raw COPY run $run/$RUNS at concurrency $BEST_C"
    top=
    ((run == 1)) && top="$OUT/top-copy-c$BEST_C.txt"
    run_one copy "$BEST_C" "$OUT/copy-c$BEST_C-r$run.json" "$top"
done

sleep 2
IDLE_AFTER_KB=$(rss_kb "$PID")
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

# ---- policy fetch ----------------------------------------------------------
# What the SDK polls while its agents run: GET /v1/policies (every 30 s per
# process) and POST /v1/intervention/sync (every second; POST with `{}` per
# api.md, it has no GET). Timed idle, then while ingest runs at the best
# concurrency; strathon-api-timing pauses 10 ms between rounds in both.
echo '{}' >"$OUT/policy-fetch.json"
if [[ "$SKIP_POLICY" != 1 ]]; then
    log "policy fetch: creating 10 policies"
    # Policies of every action the SDK enforces. One (send_email) matches
    # the generator's send_email tool spans and its blocked spans, so ingest
    # evaluates all ten per span and records some matches, as it would.
    policies=(
        '{"name": "no-external-email", "match_expression": "\"strathon.tool.name\" in attrs && attrs[\"strathon.tool.name\"] == \"send_email\"", "action": "block", "action_config": {"message": "Sending email outside the company domain is blocked"}, "priority": 100}'
        '{"name": "no-shell", "match_expression": "\"strathon.tool.name\" in attrs && attrs[\"strathon.tool.name\"] == \"run_shell\"", "action": "block", "priority": 90}'
        '{"name": "no-drop-table", "match_expression": "\"strathon.tool.args\" in attrs && attrs[\"strathon.tool.args\"].matches(\"(?i)drop\\\\s+table\")", "action": "block", "priority": 80}'
        '{"name": "steer-account-deletion", "match_expression": "\"strathon.tool.name\" in attrs && attrs[\"strathon.tool.name\"] == \"delete_account\"", "action": "steer", "action_config": {"replacement": "Account deletion needs a human operator."}, "priority": 70}'
        '{"name": "throttle-refunds", "match_expression": "\"strathon.tool.name\" in attrs && attrs[\"strathon.tool.name\"] == \"issue_refund\"", "action": "throttle", "action_config": {"max_calls": 10, "window_seconds": 60, "scope": "agent"}, "priority": 60}'
        '{"name": "approve-wire-transfers", "match_expression": "\"strathon.tool.name\" in attrs && attrs[\"strathon.tool.name\"] == \"wire_transfer\"", "action": "require_approval", "action_config": {"timeout_seconds": 300}, "priority": 50}'
        '{"name": "alert-expensive-calls", "match_expression": "\"gen_ai.usage.cost\" in attrs && double(attrs[\"gen_ai.usage.cost\"]) > 5.0", "action": "alert", "priority": 40}'
        '{"name": "allow-faq-lookup", "match_expression": "\"strathon.tool.name\" in attrs && attrs[\"strathon.tool.name\"] == \"lookup_faq\"", "action": "allow", "priority": 30}'
        '{"name": "log-truncated-completions", "match_expression": "\"gen_ai.response.finish_reason\" in attrs && attrs[\"gen_ai.response.finish_reason\"] == \"length\"", "action": "log", "priority": 20}'
        '{"name": "shadow-block-prod-db", "match_expression": "\"strathon.tool.args\" in attrs && attrs[\"strathon.tool.args\"].contains(\"prod-db\")", "action": "block", "shadow": true, "priority": 10}'
    )
    for body in "${policies[@]}"; do
        code=$(curl -s -o "$OUT/.policy-create" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/v1/policies" \
            -H "Authorization: Bearer stra_dev_local_default_project_do_not_use_in_production" \
            -H 'Content-Type: application/json' -d "$body")
        if [[ "$code" != 201 ]]; then
            log "creating a policy answered $code: $(cat "$OUT/.policy-create")"
            exit 1
        fi
    done
    rm -f "$OUT/.policy-create"
    POLICY_CALLS=(--call 'policies=GET /v1/policies' --call 'intervention_sync=POST /v1/intervention/sync {}')

    log "policy fetch: idle, ${POLICY_IDLE_SECS}s"
    "$TIMING" --endpoint "http://127.0.0.1:$PORT" "${POLICY_CALLS[@]}" \
        --seconds "$POLICY_IDLE_SECS" --warmup-rounds 3 --pause-ms 10 >"$OUT/policy-idle.jsonl"

    log "policy fetch: under load at concurrency $BEST_C (${DURATION}s + ${WARMUP}s warm-up)"
    reset_tables
    "$LOADGEN" --mode load --endpoint "http://127.0.0.1:$PORT" --concurrency "$BEST_C" \
        --duration-secs "$DURATION" --warmup-secs "$WARMUP" \
        --database-url "$PG_URL/$DB" --report json >"$OUT/policy-load.json" 2>"$OUT/policy-load.err" &
    POLICY_LOAD_PID=$!
    # Sample the load's measured window, not its warm-up.
    sleep "$WARMUP"
    "$TIMING" --endpoint "http://127.0.0.1:$PORT" "${POLICY_CALLS[@]}" \
        --seconds "$DURATION" --warmup-rounds 1 --pause-ms 10 >"$OUT/policy-under-load.jsonl"
    rc=0
    wait "$POLICY_LOAD_PID" || rc=$?
    POLICY_LOAD_PID=
    if [[ ! -s "$OUT/policy-load.json" ]]; then
        log "the load generator failed (exit $rc):"
        cat "$OUT/policy-load.err" >&2
        exit 1
    fi
    if ((rc != 0)); then
        FAILED=1
        log "VERIFICATION FAILED (policy-fetch load c=$BEST_C): $(cat "$OUT/policy-load.err")"
    fi
    jq -n --slurpfile idle "$OUT/policy-idle.jsonl" --slurpfile busy "$OUT/policy-under-load.jsonl" \
        --slurpfile load "$OUT/policy-load.json" --argjson c "$BEST_C" '
        {policies: 10, load_concurrency: $c,
         load_spans_per_sec: $load[0].spans_per_sec, load_verified: $load[0].verification.ok,
         idle: ($idle | map({key: .call, value: .}) | from_entries),
         under_load: ($busy | map({key: .call, value: .}) | from_entries)}' >"$OUT/policy-fetch.json"
fi

# ---- summary ---------------------------------------------------------------
jq -n "$JQ_MEDIAN"'
    def r1: . * 10 | round / 10;
    def pct($x; $wall): 100 * $x / $wall | round;
    ($loads | group_by(.concurrency) | map({
        concurrency: .[0].concurrency,
        runs: length,
        spans_per_sec: (map(.spans_per_sec) | median),
        spans_per_sec_each: map(.spans_per_sec),
        p50_ms: (map(.latency_ms.p50) | median),
        p99_ms: (map(.latency_ms.p99) | median),
        max_ms: (map(.latency_ms.max) | median),
        peak_rss_mib: (map(.receiver_peak_rss_kb) | median / 1024 | r1),
        receiver_cpu_pct: (map(pct(.receiver_cpu_secs; .wall_secs)) | median),
        postgres_cpu_pct: (map(pct(.postgres_cpu_secs; .wall_secs)) | median),
        generator_cpu_pct: (map(pct(.generator_cpu_secs; .wall_secs)) | median),
        other_cpu_pct: (map(pct(.machine_busy_cpu_secs - .receiver_cpu_secs - .postgres_cpu_secs - .generator_cpu_secs; .wall_secs)) | median),
        machine_busy_pct: (map(.machine_busy_pct | round) | median),
        writer_busy_pct: (map(100 * .writer.commit_secs / .wall_secs | round) | median),
        spans_per_commit: (map(if .writer.commits > 0 then .writer.spans / .writer.commits | round else 0 end) | median),
        retried_503: (map(.retried_503) | add),
        dropped: (map(.dropped_batches) | add),
        errors: (map(.errors) | add),
        verified: (map(.verification.ok) | all)
    })) as $by_c
    | ($copies | {
        concurrency: .[0].concurrency,
        spans_per_sec: (map(.spans_per_sec) | median),
        spans_per_sec_each: map(.spans_per_sec),
        postgres_cpu_pct: (map(pct(.postgres_cpu_secs; .wall_secs)) | median),
        generator_cpu_pct: (map(pct(.generator_cpu_secs; .wall_secs)) | median),
        other_cpu_pct: (map(pct(.machine_busy_cpu_secs - .receiver_cpu_secs - .postgres_cpu_secs - .generator_cpu_secs; .wall_secs)) | median),
        machine_busy_pct: (map(.machine_busy_pct | round) | median),
        verified: (map(.verification.ok) | all)
    }) as $copy
    | ($by_c | max_by(.spans_per_sec)) as $best
    | ($by_c | map(select(.concurrency == 1)) | .[0]) as $c1
    | ($loads | map(.receiver_peak_rss_kb) | max / 1024 | r1) as $rss_max
    | {
        ingest: $by_c,
        raw_copy: $copy,
        idle_rss_mib: ($idle / 1024 | r1),
        idle_rss_after_mib: ($idle_after / 1024 | r1),
        peak_rss_under_load_mib: $rss_max,
        best: {concurrency: $best.concurrency, spans_per_sec: $best.spans_per_sec},
        ratio_to_copy: ($best.spans_per_sec / $copy.spans_per_sec * 1000 | round / 1000),
        vs_python: ($best.spans_per_sec / $python | r1),
        targets: {
            throughput_20k: ($best.spans_per_sec >= 20000),
            p99_c1_under_50ms: (if $c1 then $c1.p99_ms < 50 else null end),
            rss_under_150mb: ($rss_max < 150),
            half_of_copy: ($best.spans_per_sec / $copy.spans_per_sec >= 0.5)
        }
    }' \
    --slurpfile loads <(cat "$OUT"/load-c*-r*.json) \
    --slurpfile copies <(cat "$OUT"/copy-c*-r*.json) \
    --argjson idle "$IDLE_RSS_KB" --argjson idle_after "$IDLE_AFTER_KB" \
    --argjson python "$PYTHON_SPANS_PER_SEC" >"$OUT/summary.json.tmp"
jq --arg commit "$COMMIT" --arg writers "$WRITERS" --slurpfile policy "$OUT/policy-fetch.json" \
    '. + {commit: $commit, writers: (if $writers == "" then null else ($writers | tonumber? // $writers) end)}
     + (if ($policy[0] | length) > 0 then {policy_fetch: $policy[0]} else {} end)' \
    "$OUT/summary.json.tmp" >"$OUT/summary.json"
rm -f "$OUT/summary.json.tmp"

{
    echo
    echo "== Strathon ingest benchmark ($(nproc) cores, medians of $RUNS runs of ${DURATION}s; results in $OUT) =="
    cat "$OUT/machine.txt"
    echo
    echo "| concurrency | spans/s | p50 ms | p99 ms | max ms | peak RSS MiB | CPU% receiver / postgres / generator / other (of $(($(nproc) * 100))) | writer busy % | spans per commit | 503 retries | verified |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r '.ingest[] | "| \(.concurrency) | \(.spans_per_sec | round) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.peak_rss_mib) | \(.receiver_cpu_pct) / \(.postgres_cpu_pct) / \(.generator_cpu_pct) / \(.other_cpu_pct) | \(.writer_busy_pct) | \(.spans_per_commit) | \(.retried_503) | \(.verified) |"' "$OUT/summary.json"
    jq -r '.raw_copy | "| raw COPY, \(.concurrency) conn. | \(.spans_per_sec | round) | | | | | - / \(.postgres_cpu_pct) / \(.generator_cpu_pct) / \(.other_cpu_pct) | | | | \(.verified) |"' "$OUT/summary.json"
    echo "(other = processes outside this benchmark, interrupts and hypervisor steal)"
    echo
    jq -r '"receiver RSS: idle \(.idle_rss_mib) MiB, peak under load \(.peak_rss_under_load_mib) MiB, idle after load \(.idle_rss_after_mib) MiB",
           "best ingest: \(.best.spans_per_sec | round) spans/s at concurrency \(.best.concurrency) = \(.ratio_to_copy * 100 | round)% of raw COPY (\(.raw_copy.spans_per_sec | round) rows/s), \(.vs_python)x the Python original (~370 spans/s)",
           "targets: >=20000 spans/s: \(if .targets.throughput_20k then "PASS" else "MISS" end); p99 < 50 ms at c=1: \(if .targets.p99_c1_under_50ms then "PASS" else "MISS" end); RSS < 150 MB under load: \(if .targets.rss_under_150mb then "PASS" else "MISS" end); >= 50% of raw COPY: \(if .targets.half_of_copy then "PASS" else "MISS" end)"' "$OUT/summary.json"
    jq -r 'select(.policy_fetch) | .policy_fetch as $p
        | "",
          "policy fetch (\($p.policies) policies; ms p50 / p99, idle | under load at c=\($p.load_concurrency), \($p.load_spans_per_sec | round) spans/s, verified \($p.load_verified)):",
          ("  GET /v1/policies:              \($p.idle.policies.p50_ms) / \($p.idle.policies.p99_ms) | \($p.under_load.policies.p50_ms) / \($p.under_load.policies.p99_ms)   (n \($p.idle.policies.n) | \($p.under_load.policies.n), errors \($p.idle.policies.errors + $p.under_load.policies.errors))"),
          ("  POST /v1/intervention/sync:    \($p.idle.intervention_sync.p50_ms) / \($p.idle.intervention_sync.p99_ms) | \($p.under_load.intervention_sync.p50_ms) / \($p.under_load.intervention_sync.p99_ms)   (n \($p.idle.intervention_sync.n) | \($p.under_load.intervention_sync.n), errors \($p.idle.intervention_sync.errors + $p.under_load.intervention_sync.errors))")' "$OUT/summary.json"
} | tee "$OUT/summary.txt"

if ((FAILED)); then
    log "at least one run failed verification: acknowledged spans are missing"
    exit 2
fi
