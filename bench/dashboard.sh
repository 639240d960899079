#!/usr/bin/env bash
# Dashboard benchmark: the numbers in bench/README.md ("Dashboard").
#
# Builds release binaries, creates a fresh `strathon_bench_dash` database,
# starts the receiver and the dashboard, fills the default project with at
# least SPANS spans through the ingest path (strathon-load, SDK-shaped
# batches), then runs strathon-dashboard-bench RUNS times: time to first
# byte of the overview, the traces list and a 500-span trace page, and the
# bytes of a cold load of each. Prints each run's table and the medians.
#
# Knobs: PG_URL, SPANS (100000), RUNS (3), REQUESTS (200), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=strathon_bench_dash
SPANS=${SPANS:-100000}
RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-200}
OUT=${OUT:-target/bench/dashboard-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

log "building (release)"
cargo build --release -p strathon-server -p strathon-bench
BIN=target/release

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$PG_URL/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql "$PG_URL/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB"

RPORT=$(free_port)
DPORT=$(free_port)
DATABASE_URL="$PG_URL/$DB" STRATHON_BIND="127.0.0.1:$RPORT" STRATHON_SEED_DEV_KEY=true \
STRATHON_RATE_LIMIT_ENABLED=false STRATHON_LOG_LEVEL=WARNING \
    "$BIN/strathon" serve >"$OUT/receiver.log" 2>&1 &
PIDS+=($!)
STRATHON_DASHBOARD_BIND="127.0.0.1:$DPORT" STRATHON_DASHBOARD_API_URL="http://127.0.0.1:$RPORT" \
STRATHON_LOG_LEVEL=WARNING \
    "$BIN/strathon" dashboard >"$OUT/dashboard.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 240); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RPORT/ready")" == 200 ]] && break
    sleep 0.25
done

count() { psql "$PG_URL/$DB" -Atc "SELECT count(*) FROM spans"; }
log "filling at least $SPANS spans through ingest"
while (( $(count) < SPANS )); do
    "$BIN/strathon-load" --endpoint "http://127.0.0.1:$RPORT" --database-url "$PG_URL/$DB" \
        --concurrency 4 --duration-secs 10 --warmup-secs 0 >>"$OUT/fill.log"
done
log "stored: $(count) spans in $(psql "$PG_URL/$DB" -Atc 'SELECT count(*) FROM traces') traces"
psql "$PG_URL/$DB" -qc "VACUUM ANALYZE" >/dev/null

for run in $(seq 1 "$RUNS"); do
    log "run $run of $RUNS"
    "$BIN/strathon-dashboard-bench" --dashboard "http://127.0.0.1:$DPORT" --receiver "http://127.0.0.1:$RPORT" \
        --requests "$REQUESTS" 2>>"$OUT/runs.jsonl" | tee "$OUT/run-$run.md"
done

python3 - "$OUT/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("[")]
print(f"\nMedians of {len(runs)} runs:\n")
print("| page | TTFB p50 | TTFB p99 | cold load with assets |")
print("|---|---|---|---|")
for i, page in enumerate(runs[0]):
    med = lambda k: statistics.median(r[i][k] for r in runs)
    print(f"| {page['page']} | {med('p50_ms'):.1f} ms | {med('p99_ms'):.1f} ms | {med('cold_bytes')/1000:.1f} KB |")
PY
