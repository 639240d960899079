#!/usr/bin/env bash
# Horizontal scaling of ingest: 1..MAX_RECEIVERS `strathon serve` processes
# on one Postgres database, each driven by its own strathon-load.
#
# Builds release binaries, creates a fresh `strathon_bench_scaling`
# database, starts MAX_RECEIVERS receivers on ports PORT_BASE,
# PORT_BASE+1, ... (the first one migrates; the rest start once it is
# ready). Then RUNS rounds of: for n = 1..MAX_RECEIVERS, truncate spans and
# traces, run n load generators at once (generator i POSTs to receiver i at
# concurrency CONC for DURATION s after a WARMUP s warm-up), and verify. The
# receivers that a round does not drive stay up and idle. Reports, per
# receiver count, the median over runs of the total acknowledged spans/s
# (the sum of the generators' measured rates), batch latency, and CPU of
# the receivers, Postgres and the generators (as run.sh measures it).
#
# Verification: all generators write the default project with the dev key,
# as several replicas of one busy project would (they then also contend for
# the same rollup rows, which is part of what scaling costs). Each
# generator's own before/after count of that project would include the
# others' spans, so they run with `--shared-project`: they skip it and
# report their acknowledged count (warm-up included). After all of them
# finish the script counts the rows itself; the growth of `spans` must equal
# the sum of the acknowledged counts exactly, else the run failed and the
# script exits 2. (Giving every generator a project of its own would keep
# their own checks, but would also remove the shared-project contention.)
#
# Knobs (environment): PG_URL, PORT_BASE (4410), MAX_RECEIVERS (3), CONC (8),
# DURATION (15), WARMUP (2), RUNS (3), WRITERS (STRATHON_INGEST_WRITERS for
# every receiver; unset: the receiver's default), OUT
# (target/bench/scaling-<timestamp>). Takes about
# RUNS * MAX_RECEIVERS * (DURATION + WARMUP + ~5) s after the build
# (~3.5 minutes with the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=strathon_bench_scaling
PORT_BASE=${PORT_BASE:-4410}
MAX_RECEIVERS=${MAX_RECEIVERS:-3}
CONC=${CONC:-8}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
WRITERS=${WRITERS:-}
OUT=${OUT:-target/bench/scaling-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

log "building (release)"
cargo build --release -p strathon-server -p strathon-bench
RECEIVER=target/release/strathon
LOADGEN=target/release/strathon-load

RECEIVER_PIDS=()
LOAD_PIDS=()
cleanup() {
    local pid
    for pid in ${LOAD_PIDS[@]+"${LOAD_PIDS[@]}"} ${RECEIVER_PIDS[@]+"${RECEIVER_PIDS[@]}"}; do
        stop_pid "$pid"
    done
    drop_db "$DB"
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap too.
trap 'exit 130' INT TERM

log "creating database $DB"
fresh_db "$DB"
bench_machine "$OUT/machine.txt" "ingest writers: ${WRITERS:-receiver default (STRATHON_INGEST_WRITERS unset)}" \
    "receivers: 1..$MAX_RECEIVERS, generator concurrency $CONC each"

receiver_env
for i in $(seq 1 "$MAX_RECEIVERS"); do
    port=$((PORT_BASE + i - 1))
    log "starting receiver $i on 127.0.0.1:$port"
    env ${RECEIVER_ENV[@]+"${RECEIVER_ENV[@]}"} \
        DATABASE_URL="$PG_URL/$DB" \
        STRATHON_BIND="127.0.0.1:$port" \
        STRATHON_SEED_DEV_KEY=true \
        STRATHON_RATE_LIMIT_ENABLED=false \
        STRATHON_LOG_LEVEL=WARNING \
        "$RECEIVER" serve >"$OUT/receiver-$i.log" 2>&1 &
    RECEIVER_PIDS+=($!)
    # The first one applies the migrations; the others find them done.
    wait_ready "$port" "${RECEIVER_PIDS[-1]}" "$OUT/receiver-$i.log"
done
sleep 2

count_spans() { psql_db "$DB" -Atc "SELECT count(*) FROM spans"; }

FAILED=0
# run_n <receivers> <run>
run_n() {
    local n=$1 run=$2 i
    local prefix="$OUT/n$n-r$run"
    psql_db "$DB" -c "TRUNCATE spans, traces" -c "CHECKPOINT" >/dev/null
    local before
    before=$(count_spans)
    local r0=0 p0 s0 t0
    for i in "${!RECEIVER_PIDS[@]}"; do r0=$((r0 + $(ticks_of "${RECEIVER_PIDS[$i]}"))); done
    p0=$(pg_ticks)
    read -r s0 t0 < <(sys_ticks)
    local start end
    start=$(date +%s.%N)
    LOAD_PIDS=()
    for i in $(seq 1 "$n"); do
        "$LOADGEN" --mode load --endpoint "http://127.0.0.1:$((PORT_BASE + i - 1))" \
            --concurrency "$CONC" --duration-secs "$DURATION" --warmup-secs "$WARMUP" \
            --shared-project --report json >"$prefix-g$i.json" 2>"$prefix-g$i.err" &
        LOAD_PIDS+=($!)
    done
    local rcs=()
    for i in "${!LOAD_PIDS[@]}"; do
        local rc=0
        wait "${LOAD_PIDS[$i]}" || rc=$?
        rcs+=("$rc")
    done
    LOAD_PIDS=()
    end=$(date +%s.%N)
    local r1=0 p1 s1 t1
    for i in "${!RECEIVER_PIDS[@]}"; do r1=$((r1 + $(ticks_of "${RECEIVER_PIDS[$i]}"))); done
    p1=$(pg_ticks)
    read -r s1 t1 < <(sys_ticks)
    for i in $(seq 1 "$n"); do
        if [[ ! -s "$prefix-g$i.json" || "${rcs[$((i - 1))]}" != 0 ]]; then
            log "generator $i failed (exit ${rcs[$((i - 1))]}):"
            cat "$prefix-g$i.err" >&2
            exit 1
        fi
    done
    local acked
    acked=$(jq -s 'map(.verification.acknowledged) | add' "$prefix"-g*.json)
    # A 200 means committed; poll briefly anyway, as strathon-load does.
    sleep 0.5
    local after waited=0
    after=$(count_spans)
    while ((after - before < acked && waited < 30)); do
        sleep 0.5
        waited=$((waited + 1))
        after=$(count_spans)
    done
    local ok=true
    if ((after - before != acked)); then
        ok=false
        FAILED=1
        log "VERIFICATION FAILED (n=$n run $run): $acked spans acknowledged but spans grew by $((after - before)) ($before -> $after)"
    fi
    jq -s --argjson n "$n" --argjson run "$run" --argjson before "$before" --argjson after "$after" \
        --argjson acked "$acked" --argjson ok "$ok" \
        --argjson wall "$(echo "$end - $start" | bc -l)" \
        --argjson rcpu "$(echo "($r1 - $r0) / $TICK" | bc -l)" \
        --argjson pcpu "$(echo "($p1 - $p0) / $TICK" | bc -l)" \
        --argjson busysecs "$(echo "($s1 - $s0) / $TICK" | bc -l)" '
        {receivers: $n, run: $run,
         spans_per_sec: (map(.spans_per_sec) | add),
         spans_per_sec_each: map(.spans_per_sec),
         p50_ms_each: map(.latency_ms.p50), p99_ms_each: map(.latency_ms.p99), max_ms_each: map(.latency_ms.max),
         retried_503: (map(.retried_503) | add), dropped: (map(.dropped_batches) | add), errors: (map(.errors) | add),
         verification: {before: $before, after: $after, stored: ($after - $before), acknowledged: $acked, ok: $ok},
         wall_secs: $wall, receivers_cpu_secs: $rcpu, postgres_cpu_secs: $pcpu,
         generators_cpu_secs: (map(.generator_cpu_secs // 0) | add), machine_busy_cpu_secs: $busysecs}' \
        "$prefix"-g*.json >"$OUT/run-n$n-r$run.json"
    jq -r '"  \(.receivers) receiver(s): \(.spans_per_sec | round) spans/s (each \(.spans_per_sec_each | map(round) | join(", "))), p99 \(.p99_ms_each | map(tostring) | join(" / ")) ms, verified \(.verification.ok) (\(.verification.acknowledged) acknowledged, \(.verification.stored) stored)"' "$OUT/run-n$n-r$run.json" >&2
}

for run in $(seq 1 "$RUNS"); do
    for n in $(seq 1 "$MAX_RECEIVERS"); do
        log "run $run/$RUNS: $n receiver(s), $n generator(s) at concurrency $CONC (${DURATION}s + ${WARMUP}s warm-up)"
        run_n "$n" "$run"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

jq -s "$JQ_MEDIAN"'
    def pct($x; $wall): 100 * $x / $wall | round;
    def r2: . * 100 | round / 100;
    group_by(.receivers) | map({
        receivers: .[0].receivers,
        runs: length,
        spans_per_sec: (map(.spans_per_sec) | median),
        spans_per_sec_each_run: map(.spans_per_sec | round),
        p50_ms: (map(.p50_ms_each | median) | median | r2),
        p99_ms_worst_generator: (map(.p99_ms_each | max) | median | r2),
        receivers_cpu_pct: (map(pct(.receivers_cpu_secs; .wall_secs)) | median | round),
        postgres_cpu_pct: (map(pct(.postgres_cpu_secs; .wall_secs)) | median | round),
        generators_cpu_pct: (map(pct(.generators_cpu_secs; .wall_secs)) | median | round),
        other_cpu_pct: (map(pct(.machine_busy_cpu_secs - .receivers_cpu_secs - .postgres_cpu_secs - .generators_cpu_secs; .wall_secs)) | median | round),
        retried_503: (map(.retried_503) | add), dropped: (map(.dropped) | add), errors: (map(.errors) | add),
        verified: (map(.verification.ok) | all)
    }) | {commit: $commit, writers: (if $writers == "" then null else $writers end), concurrency_per_generator: $conc, by_receivers: .}' \
    --arg commit "$(bench_commit)" --arg writers "$WRITERS" --argjson conc "$CONC" \
    "$OUT"/run-n*-r*.json >"$OUT/summary.json"

{
    echo
    echo "== Strathon ingest scaling ($(nproc) cores, one Postgres, medians of $RUNS runs of ${DURATION}s; results in $OUT) =="
    cat "$OUT/machine.txt"
    echo
    echo "| receivers | total spans/s | runs | p50 ms (median generator) | p99 ms (worst generator) | CPU% receivers / postgres / generators / other (of $(($(nproc) * 100))) | 503 retries | verified |"
    echo "|---|---|---|---|---|---|---|---|"
    jq -r '.by_receivers[] | "| \(.receivers) | \(.spans_per_sec | round) | \(.spans_per_sec_each_run | join(", ")) | \(.p50_ms) | \(.p99_ms_worst_generator) | \(.receivers_cpu_pct) / \(.postgres_cpu_pct) / \(.generators_cpu_pct) / \(.other_cpu_pct) | \(.retried_503) | \(.verified) |"' "$OUT/summary.json"
} | tee "$OUT/summary.txt"

if ((FAILED)); then
    log "at least one run failed verification: acknowledged spans are missing"
    exit 2
fi
