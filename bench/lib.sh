# Shell helpers sourced by bench/scaling.sh, bench/reads.sh and
# bench/retention.sh (run.sh predates them and keeps its own copies).
# Not a script of its own.

BENCH_DEV_KEY=stra_dev_local_default_project_do_not_use_in_production
BENCH_DEFAULT_PROJECT=00000000-0000-0000-0000-000000000001

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The commit being measured, "-dirty" when tracked files differ from it.
bench_commit() {
    local c
    c="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
        c="$c-dirty"
    fi
    echo "$c"
}

# bench_machine <file> [extra line...]: what run.sh records about the machine.
bench_machine() {
    local file=$1
    shift
    {
        echo "date: $(date -Is)"
        echo "commit: $(bench_commit)"
        echo "nproc: $(nproc)"
        echo "memory: $(free -m | awk '/^Mem:/{print $2 " MiB"}')"
        echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
        echo "postgres: $(psql "$PG_URL/postgres" -Atc 'SHOW server_version')"
        echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
        local line
        for line in "$@"; do echo "$line"; done
    } >"$file"
}

# wait_ready <port> <pid> <log file>: until GET /ready answers 200; fails
# (printing the receiver's log) if it does not within 60 s or the process exits.
wait_ready() {
    local port=$1 pid=$2 logfile=$3
    for _ in $(seq 1 240); do
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" == 200 ]]; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    log "the receiver on port $port did not become ready; its log:"
    cat "$logfile" >&2
    return 1
}

# stop_pid <pid>: stop a process this script started and wait for it.
stop_pid() {
    local pid=$1
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}

# CPU accounting, as in run.sh: jiffies of one process, of all Postgres
# processes (plus the postmaster's reaped children), and of the machine.
TICK=$(getconf CLK_TCK)
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
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

JQ_MEDIAN='def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;'

# psql_db <db> [psql args...]: quiet psql that stops at the first error.
psql_db() {
    local db=$1
    shift
    psql "$PG_URL/$db" -X -q -v ON_ERROR_STOP=1 "$@"
}

# fresh_db <db>: drop and create.
fresh_db() {
    psql_db postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

drop_db() {
    psql "$PG_URL/postgres" -X -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 || true
}

# api <method> <port> <path> [json body]: an API call with the dev key;
# prints the body, fails on a non-2xx answer.
api() {
    local method=$1 port=$2 path=$3 body=${4:-}
    local out code
    out=$(mktemp)
    if [[ -n "$body" ]]; then
        code=$(curl -s -o "$out" -w '%{http_code}' -X "$method" "http://127.0.0.1:$port$path" \
            -H "Authorization: Bearer $BENCH_DEV_KEY" -H 'Content-Type: application/json' -d "$body")
    else
        code=$(curl -s -o "$out" -w '%{http_code}' -X "$method" "http://127.0.0.1:$port$path" \
            -H "Authorization: Bearer $BENCH_DEV_KEY")
    fi
    if [[ "$code" != 2* ]]; then
        log "$method $path answered $code: $(head -c 500 "$out")"
        rm -f "$out"
        return 1
    fi
    cat "$out"
    rm -f "$out"
}

# The receiver's ingest writers: set WRITERS to pass STRATHON_INGEST_WRITERS;
# unset passes nothing (the receiver's default).
receiver_env() {
    RECEIVER_ENV=()
    if [[ -n "${WRITERS:-}" ]]; then
        RECEIVER_ENV+=("STRATHON_INGEST_WRITERS=$WRITERS")
    fi
}
