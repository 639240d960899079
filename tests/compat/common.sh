# shellcheck shell=bash
# Shared setup for the compatibility suites in tests/compat/*.sh: they drive
# the PUBLISHED Python SDK (strathon==1.4.0) and CLI (strathon-cli==1.4.0)
# against a live receiver. Source this file, then call compat_setup:
#
#     source "$(dirname "$0")/common.sh"
#     compat_setup                      # venv + fresh database + receiver
#     "$COMPAT_PY" "$COMPAT_DIR/my_suite.py"
#     compat_cli policies list --json   # the real `strathon` CLI
#
# compat_setup installs an EXIT trap that stops the receiver and drops the
# database; a suite must not replace the EXIT trap (add cleanup with
# compat_on_exit "command ..." instead).
#
# After compat_setup these are set and exported:
#   STRATHON_ENDPOINT   http://127.0.0.1:<port>   (read by the CLI and the scripts)
#   STRATHON_API_KEY    the well-known dev key (scope *, default project)
#   COMPAT_PY           the venv's python (has strathon + strathon_cli)
#   COMPAT_CLI          the venv's `strathon` console script
#   COMPAT_DB_NAME, COMPAT_DATABASE_URL, COMPAT_RECEIVER_PID, COMPAT_RECEIVER_LOG
#
# Knobs (environment):
#   STRATHON_BIN               receiver binary (default: <repo>/target/debug/strathon)
#   STRATHON_TEST_POSTGRES     server URL for test databases
#                              (default: postgres://postgres@127.0.0.1:5432)
#   STRATHON_COMPAT_PYTHON     interpreter for the venv (default: python3, needs >= 3.11)
#   STRATHON_COMPAT_ENDPOINT   use an already-running receiver at this URL: no
#                              database, no receiver is started (the caller owns it)
#   STRATHON_COMPAT_KEEP=1     keep the database and the receiver log after the run
#   STRATHON_COMPAT_READY_TIMEOUT  seconds to wait for GET /ready (default 60)
#
# compat_start_receiver accepts extra KEY=VALUE arguments that are added to the
# receiver's environment (e.g. STRATHON_SAMPLING_RATE=0.5).

# tests/run executes every tests/compat/*.sh, this library included: as a
# program it does nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    exit 0
fi

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMPAT_REPO="$(cd "$COMPAT_DIR/../.." && pwd)"
COMPAT_VENV="$COMPAT_DIR/.venv"
COMPAT_SDK_VERSION="1.4.0"
COMPAT_CLI_VERSION="1.4.0"
COMPAT_DEV_KEY="stra_dev_local_default_project_do_not_use_in_production"
COMPAT_DEFAULT_PROJECT_ID="00000000-0000-0000-0000-000000000001"
COMPAT_PG_SERVER="${STRATHON_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
COMPAT_PG_SERVER="${COMPAT_PG_SERVER%/}"

COMPAT_TMP=""
COMPAT_DB_NAME=""
COMPAT_DATABASE_URL=""
COMPAT_RECEIVER_PID=""
COMPAT_RECEIVER_LOG=""
COMPAT_PY=""
COMPAT_CLI=""
COMPAT_EXIT_HOOKS=()
COMPAT_TRAP_INSTALLED=""

compat_log() {
    printf 'compat: %s\n' "$*" >&2
}

compat_die() {
    printf 'compat: ERROR: %s\n' "$*" >&2
    exit 1
}

# Run "$@" when the suite exits (before the receiver is stopped).
compat_on_exit() {
    COMPAT_EXIT_HOOKS+=("$*")
}

# ---------------------------------------------------------------------------
# Cleanup
# ---------------------------------------------------------------------------

_compat_stop_receiver() {
    local pid="$COMPAT_RECEIVER_PID"
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            compat_log "receiver (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    COMPAT_RECEIVER_PID=""
}

_compat_drop_db() {
    local name="$COMPAT_DB_NAME"
    [[ -n "$name" ]] || return 0
    if [[ "${STRATHON_COMPAT_KEEP:-}" == "1" ]]; then
        compat_log "keeping database $COMPAT_DATABASE_URL (STRATHON_COMPAT_KEEP=1)"
        return 0
    fi
    psql -X -q -v ON_ERROR_STOP=1 -d "$COMPAT_PG_SERVER/postgres" \
        -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 \
        || compat_log "could not drop database $name"
    COMPAT_DB_NAME=""
}

_compat_cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    local hook
    for hook in "${COMPAT_EXIT_HOOKS[@]+"${COMPAT_EXIT_HOOKS[@]}"}"; do
        eval "$hook"
    done
    _compat_stop_receiver
    if [[ $status -ne 0 && -n "$COMPAT_RECEIVER_LOG" && -s "$COMPAT_RECEIVER_LOG" ]]; then
        {
            echo "----- receiver log (last 80 lines of $COMPAT_RECEIVER_LOG) -----"
            tail -n 80 "$COMPAT_RECEIVER_LOG"
            echo "----- end of receiver log -----"
        } >&2
    fi
    _compat_drop_db
    if [[ -n "$COMPAT_TMP" && -d "$COMPAT_TMP" ]]; then
        if [[ $status -eq 0 && "${STRATHON_COMPAT_KEEP:-}" != "1" ]]; then
            rm -rf "$COMPAT_TMP"
        else
            compat_log "kept $COMPAT_TMP"
        fi
    fi
    exit "$status"
}

_compat_install_trap() {
    [[ -n "$COMPAT_TRAP_INSTALLED" ]] && return 0
    COMPAT_TRAP_INSTALLED=1
    trap _compat_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

_compat_tmpdir() {
    if [[ -z "$COMPAT_TMP" ]]; then
        COMPAT_TMP="$(mktemp -d "${TMPDIR:-/tmp}/strathon-compat.XXXXXX")"
    fi
}

# ---------------------------------------------------------------------------
# Virtualenv with the published packages
# ---------------------------------------------------------------------------

_compat_venv_ok() {
    [[ -x "$COMPAT_VENV/bin/python" && -x "$COMPAT_VENV/bin/strathon" ]] || return 1
    "$COMPAT_VENV/bin/python" - "$COMPAT_SDK_VERSION" "$COMPAT_CLI_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
assert version("strathon") == sys.argv[1]
assert version("strathon-cli") == sys.argv[2]
import strathon, strathon_cli  # noqa: F401  (imports must work, not just metadata)
PY
}

_compat_venv_build() {
    local python="${STRATHON_COMPAT_PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 || compat_die "$python not found (set STRATHON_COMPAT_PYTHON)"
    "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
        || compat_die "$python is $("$python" -V 2>&1); strathon $COMPAT_SDK_VERSION needs Python >= 3.11 (set STRATHON_COMPAT_PYTHON)"
    if [[ -d "$COMPAT_VENV" ]] && ! "$COMPAT_VENV/bin/python" -c '' >/dev/null 2>&1; then
        compat_log "removing broken virtualenv $COMPAT_VENV"
        rm -rf "$COMPAT_VENV"
    fi
    if [[ ! -x "$COMPAT_VENV/bin/python" ]]; then
        compat_log "creating virtualenv $COMPAT_VENV"
        "$python" -m venv "$COMPAT_VENV"
    fi
    compat_log "installing strathon==$COMPAT_SDK_VERSION strathon-cli==$COMPAT_CLI_VERSION"
    "$COMPAT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "strathon==$COMPAT_SDK_VERSION" "strathon-cli==$COMPAT_CLI_VERSION"
    _compat_venv_ok || compat_die "virtualenv $COMPAT_VENV still lacks strathon $COMPAT_SDK_VERSION / strathon-cli $COMPAT_CLI_VERSION"
}

# Creates or reuses tests/compat/.venv; sets COMPAT_PY and COMPAT_CLI.
compat_venv() {
    if ! _compat_venv_ok; then
        if command -v flock >/dev/null 2>&1; then
            # Two suites started at once must not pip-install into one venv.
            (
                flock 9
                _compat_venv_ok || _compat_venv_build
            ) 9>"$COMPAT_DIR/.venv.lock"
        else
            _compat_venv_build
        fi
    fi
    COMPAT_PY="$COMPAT_VENV/bin/python"
    COMPAT_CLI="$COMPAT_VENV/bin/strathon"
    export COMPAT_PY COMPAT_CLI
}

# A second virtualenv, tests/compat/.venv-tools, for suites that need real
# third-party peers rather than the SDK: the `mcp` package's server (the MCP
# gateway suite) and cyclonedx-python-lib's schema validator (the inventory
# suite). Pinned, so a release of either cannot change what is tested.
# Sets COMPAT_TOOLS_PY.
COMPAT_TOOLS_VENV="$COMPAT_DIR/.venv-tools"
COMPAT_TOOLS_PACKAGES=("mcp==2.3.0" "cyclonedx-python-lib[json-validation]==11.12.0")

_compat_tools_ok() {
    [[ -x "$COMPAT_TOOLS_VENV/bin/python" ]] || return 1
    "$COMPAT_TOOLS_VENV/bin/python" - <<'PY' >/dev/null 2>&1
from importlib.metadata import version
assert version("mcp") == "2.3.0"
assert version("cyclonedx-python-lib") == "11.12.0"
import jsonschema  # noqa: F401  (the json-validation extra)
from mcp.server.mcpserver import MCPServer  # noqa: F401
from cyclonedx.validation.json import JsonStrictValidator  # noqa: F401
PY
}

_compat_tools_build() {
    local python="${STRATHON_COMPAT_PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 || compat_die "$python not found (set STRATHON_COMPAT_PYTHON)"
    if [[ ! -x "$COMPAT_TOOLS_VENV/bin/python" ]]; then
        compat_log "creating virtualenv $COMPAT_TOOLS_VENV"
        "$python" -m venv "$COMPAT_TOOLS_VENV"
    fi
    compat_log "installing ${COMPAT_TOOLS_PACKAGES[*]}"
    "$COMPAT_TOOLS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${COMPAT_TOOLS_PACKAGES[@]}"
    _compat_tools_ok || compat_die "virtualenv $COMPAT_TOOLS_VENV still lacks ${COMPAT_TOOLS_PACKAGES[*]}"
}

compat_tools_venv() {
    if ! _compat_tools_ok; then
        if command -v flock >/dev/null 2>&1; then
            (
                flock 9
                _compat_tools_ok || _compat_tools_build
            ) 9>"$COMPAT_DIR/.venv-tools.lock"
        else
            _compat_tools_build
        fi
    fi
    COMPAT_TOOLS_PY="$COMPAT_TOOLS_VENV/bin/python"
    export COMPAT_TOOLS_PY
}

# The published CLI, with a wide terminal so Rich does not truncate columns.
compat_cli() {
    [[ -n "$COMPAT_CLI" ]] || compat_venv
    COLUMNS="${COLUMNS:-200}" NO_COLOR=1 "$COMPAT_CLI" "$@"
}

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------

_compat_random_hex() {
    od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

# Creates an empty database strathon_compat_<random>; the receiver migrates it.
compat_create_db() {
    _compat_install_trap
    if [[ "$COMPAT_PG_SERVER" == "postgres://postgres@127.0.0.1:5432" && -x "$COMPAT_REPO/tests/ensure-postgres" ]]; then
        "$COMPAT_REPO/tests/ensure-postgres"
    fi
    local name
    name="strathon_compat_$(_compat_random_hex 6)"
    psql -X -q -v ON_ERROR_STOP=1 -d "$COMPAT_PG_SERVER/postgres" \
        -c "CREATE DATABASE \"$name\"" >/dev/null \
        || compat_die "could not create database $name on $COMPAT_PG_SERVER"
    COMPAT_DB_NAME="$name"
    COMPAT_DATABASE_URL="$COMPAT_PG_SERVER/$name"
    export COMPAT_DB_NAME COMPAT_DATABASE_URL
}

# ---------------------------------------------------------------------------
# Receiver
# ---------------------------------------------------------------------------

_compat_free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

_compat_http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" 2>/dev/null || true
}

# Starts `strathon serve` on a free port against COMPAT_DATABASE_URL and waits
# for GET /ready to answer 200. Extra KEY=VALUE arguments go into its env.
compat_start_receiver() {
    _compat_install_trap
    _compat_tmpdir
    [[ -n "$COMPAT_DATABASE_URL" ]] || compat_create_db
    local bin="${STRATHON_BIN:-$COMPAT_REPO/target/debug/strathon}"
    [[ -x "$bin" ]] || compat_die "receiver binary $bin is missing: run \`cargo build -p strathon-server\` (or set STRATHON_BIN)"
    local kv
    for kv in "$@"; do
        [[ "$kv" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || compat_die "compat_start_receiver: expected KEY=VALUE, got '$kv'"
    done
    local port
    port="$(_compat_free_port)"
    COMPAT_RECEIVER_LOG="$COMPAT_TMP/receiver.log"
    export COMPAT_RECEIVER_LOG

    # A clean environment (like the Rust harness), so a developer's shell
    # settings (STRATHON_MODE, DATABASE_URL, ...) cannot leak in.
    env -i \
        PATH="$PATH" \
        HOME="${HOME:-/tmp}" \
        RUST_BACKTRACE=1 \
        DATABASE_URL="$COMPAT_DATABASE_URL" \
        STRATHON_BIND="127.0.0.1:$port" \
        STRATHON_SEED_DEV_KEY=true \
        STRATHON_RATE_LIMIT_ENABLED=false \
        STRATHON_LOG_LEVEL="${STRATHON_COMPAT_LOG_LEVEL:-INFO}" \
        STRATHON_LOG_FORMAT=text \
        "$@" \
        "$bin" serve </dev/null >"$COMPAT_RECEIVER_LOG" 2>&1 &
    COMPAT_RECEIVER_PID=$!
    export COMPAT_RECEIVER_PID

    STRATHON_ENDPOINT="http://127.0.0.1:$port"
    STRATHON_API_KEY="$COMPAT_DEV_KEY"
    export STRATHON_ENDPOINT STRATHON_API_KEY

    local timeout="${STRATHON_COMPAT_READY_TIMEOUT:-60}"
    local deadline=$((SECONDS + timeout)) code=""
    while :; do
        if ! kill -0 "$COMPAT_RECEIVER_PID" 2>/dev/null; then
            local rc=0
            wait "$COMPAT_RECEIVER_PID" 2>/dev/null || rc=$?
            COMPAT_RECEIVER_PID=""
            compat_die "receiver exited during startup (exit status $rc)"
        fi
        code="$(_compat_http_status "$STRATHON_ENDPOINT/ready")"
        [[ "$code" == "200" ]] && break
        if ((SECONDS >= deadline)); then
            compat_die "receiver not ready after ${timeout}s (last GET /ready status: ${code:-none})"
        fi
        sleep 0.25
    done
    compat_log "receiver ready at $STRATHON_ENDPOINT (pid $COMPAT_RECEIVER_PID, db $COMPAT_DB_NAME, log $COMPAT_RECEIVER_LOG)"
}

# Everything a suite needs: venv, database, receiver (or an external receiver
# when STRATHON_COMPAT_ENDPOINT is set). Extra args go to compat_start_receiver.
compat_setup() {
    _compat_install_trap
    compat_venv
    if [[ -n "${STRATHON_COMPAT_ENDPOINT:-}" ]]; then
        STRATHON_ENDPOINT="${STRATHON_COMPAT_ENDPOINT%/}"
        STRATHON_API_KEY="${STRATHON_API_KEY:-$COMPAT_DEV_KEY}"
        export STRATHON_ENDPOINT STRATHON_API_KEY
        compat_log "using external receiver at $STRATHON_ENDPOINT"
        return 0
    fi
    compat_create_db
    compat_start_receiver "$@"
}
