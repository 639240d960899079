#!/usr/bin/env bash
# The container image without Docker: builds a minimal Debian bookworm root
# with debootstrap (what debian:bookworm-slim is made from), installs the
# packages compose/Dockerfile's runtime stage installs, adds its uid 1001
# user, copies in a release binary, and inside that root, as uid 1001, on a
# read-only root filesystem (as deploy/kubernetes/ demands):
#   - checks every shared library the binary needs is there;
#   - runs `strathon migrate` and `strathon serve` against the local Postgres
#     and the compose healthcheck command (curl) against the receiver;
#   - runs `strathon dashboard` and its healthcheck, once the binary has it.
# Ends with "N passed, M failed". Slow (a few minutes the first time), so it
# is not part of tests/run. Needs root, network access to Debian's mirror.
#
#   cargo build --release --locked -p strathon-server     # first, if needed
#   tests/packaging/debian-root.sh
#   STRATHON_BIN=target/debug/strathon tests/packaging/debian-root.sh
#   DEBIAN_ROOT_FRESH=1 tests/packaging/debian-root.sh     # rebuild the root
#
# The root is cached in tests/packaging/.debian-root/ (gitignored) and
# rebuilt when the Dockerfile's package list changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

bin="${STRATHON_BIN:-target/release/strathon}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root="$here/.debian-root"
pg="${STRATHON_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
pg="${pg%/}"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
die() { echo "debian-root: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (debootstrap, chroot, mounts)"
[[ -x "$bin" ]] || die "$bin is missing: run \`cargo build --release --locked -p strathon-server\` first, or set STRATHON_BIN"
command -v debootstrap >/dev/null || {
    echo "debian-root: installing debootstrap" >&2
    apt-get install -y --no-install-recommends debootstrap >/dev/null
}

# The runtime stage's package list, read from the Dockerfile itself so the
# two cannot drift apart.
packages="$(awk '/^FROM debian:bookworm-slim/ {rt = 1} rt && /apt-get install/ {
        for (i = 1; i <= NF; i++) if ($i !~ /^-/ && $i != "apt-get" && $i != "install" && $i != "\\" && $i != "&&") print $i
    }' compose/Dockerfile | sort -u | tr '\n' ' ')"
packages="${packages% }"
[[ -n "$packages" ]] || die "found no apt-get install in compose/Dockerfile's runtime stage"
suite="$(sed -n 's/^FROM debian:\([a-z]*\)-slim.*/\1/p' compose/Dockerfile | head -1)"
stamp="$suite minbase $packages uid1001"

started=$SECONDS
if [[ "${DEBIAN_ROOT_FRESH:-}" == 1 || "$(cat "$root.stamp" 2>/dev/null)" != "$stamp" ]]; then
    echo "debian-root: building a $suite root (minbase) in $root"
    rm -rf "$root" "$root.stamp"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$here/.debian-root.log" 2>&1 \
        || { tail -20 "$here/.debian-root.log"; die "debootstrap failed (log: $here/.debian-root.log)"; }
    # As the Dockerfile does, with the root's own apt.
    chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $packages >/dev/null && rm -rf /var/lib/apt/lists/*" \
        || die "apt-get install $packages failed inside the root"
    chroot "$root" groupadd --system --gid 1001 strathon
    chroot "$root" useradd --system --uid 1001 --gid 1001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin strathon
    echo "$stamp" >"$root.stamp"
    echo "debian-root: root built in $((SECONDS - started)) s ($(du -sh "$root" | cut -f1))"
else
    echo "debian-root: reusing $root (DEBIAN_ROOT_FRESH=1 rebuilds it)"
fi
install -D -m 0755 "$bin" "$root/usr/local/bin/strathon"

db="strathon_debroot_$(od -An -tx1 -N5 /dev/urandom | tr -d ' \n')"
psql -X -q -v ON_ERROR_STOP=1 -d "$pg/postgres" -c "CREATE DATABASE \"$db\"" >/dev/null
work="$(mktemp -d)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Like a container: private mounts, a /proc and PID namespace of its own,
# /dev from the host, the root read-only, then chroot as uid 1001 with
# nothing but the given environment. A subshell that execs unshare, so the
# PID behind `in_root ... &` is the one to kill (--kill-child takes the
# process inside along).
in_root() (
    # shellcheck disable=SC2016  # the inner script expands its own arguments
    exec unshare --mount --pid --fork --kill-child /bin/sh -c '
        root=$1; shift
        mount --bind "$root" "$root" && mount -o remount,bind,ro "$root" || exit 97
        mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" || exit 97
        exec chroot --userspec=1001:1001 "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin "$@"
    ' in_root "$root" "$@"
)

healthcheck_argv() {
    # The service's healthcheck `test` from compose.yaml, one word per line.
    python3 - "$1" <<'PY'
import re, sys
text = open("compose/compose.yaml").read()
svc = text[text.index(f"\n  {sys.argv[1]}:\n"):]
m = re.search(r'healthcheck:\s*\n\s*test: \[(.*?)\]', svc)
print("\n".join(w.strip().strip('"') for w in m.group(1).split(",")[1:]))
PY
}

wait_healthy() { # port path pid
    local _
    for _ in $(seq 1 120); do
        kill -0 "$3" 2>/dev/null || return 1
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$1$2" 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}

missing="$(in_root ldd /usr/local/bin/strathon 2>&1 | grep 'not found' || true)"
if [[ -z "$missing" ]] && in_root ldd /usr/local/bin/strathon >/dev/null 2>&1; then
    pass "every shared library of $bin is in the $suite root ($packages installed)"
else
    fail "shared libraries missing in the root: ${missing:-ldd failed}"
fi

if in_root /bin/sh -c 'touch /tmp/probe' 2>/dev/null; then
    fail "uid 1001 can write to /tmp in the root; the checks below would not prove the binary writes nothing"
else
    pass "the root filesystem is read-only, /tmp included (readOnlyRootFilesystem)"
fi

if [[ -s "$root/etc/ssl/certs/ca-certificates.crt" ]]; then
    pass "ca-certificates provides /etc/ssl/certs/ca-certificates.crt"
else
    fail "no CA bundle in the root"
fi

# deploy/kubernetes/dashboard.yaml's preStop hook runs inside the image.
prestop="$(sed -n '/preStop:/,/command:/s/.*command: *\["\([^"]*\)".*/\1/p' deploy/kubernetes/dashboard.yaml)"
if [[ -n "$prestop" ]] && in_root /bin/sh -c "command -v '$prestop'" >/dev/null 2>&1; then
    pass "the dashboard's preStop command ($prestop) exists in the root"
else
    fail "the dashboard's preStop command '${prestop:-?}' is not in the root"
fi

if in_root strathon migrate --database-url "$pg/$db" >"$work/migrate.log" 2>&1; then
    pass "strathon migrate exits 0 inside the root as uid 1001"
else
    fail "strathon migrate inside the root: $(tail -5 "$work/migrate.log")"
fi

port="$(free_port)"
in_root DATABASE_URL="$pg/$db" STRATHON_BIND="127.0.0.1:$port" STRATHON_AUTO_MIGRATE=false \
    strathon serve >"$work/serve.log" 2>&1 &
pids+=($!)
if wait_healthy "$port" /ready "${pids[-1]}"; then
    pass "strathon serve runs inside the root as uid 1001 and answers /ready"
    mapfile -t hc < <(healthcheck_argv receiver)
    hc=("${hc[@]//127.0.0.1:4318/127.0.0.1:$port}")
    if in_root "${hc[@]}" >"$work/hc.log" 2>&1; then
        pass "the receiver's compose healthcheck (${hc[*]}) passes inside the root"
    else
        fail "the receiver's healthcheck inside the root: $(cat "$work/hc.log")"
    fi
else
    fail "strathon serve inside the root did not become ready: $(tail -8 "$work/serve.log")"
fi

if in_root strathon --help 2>/dev/null | grep -qE '^  dashboard '; then
    dport="$(free_port)"
    in_root STRATHON_DASHBOARD_BIND="127.0.0.1:$dport" STRATHON_DASHBOARD_API_URL="http://127.0.0.1:$port" \
        strathon dashboard >"$work/dashboard.log" 2>&1 &
    pids+=($!)
    mapfile -t hc < <(healthcheck_argv dashboard)
    hc=("${hc[@]//127.0.0.1:3000/127.0.0.1:$dport}")
    if wait_healthy "$dport" /health "${pids[-1]}" && in_root "${hc[@]}" >"$work/hc.log" 2>&1; then
        pass "strathon dashboard runs inside the root and its compose healthcheck passes"
        # The binary alone must carry its pages and assets: the image has
        # nothing else. Front page (following its redirect to sign-in),
        # then every stylesheet and script it links.
        if in_root curl -fsSL --max-time 5 -o - "http://127.0.0.1:$dport/" >"$work/page.html" 2>"$work/page.err" \
            && grep -qi '<html' "$work/page.html"; then
            assets=0
            bad=""
            while read -r a; do
                assets=$((assets + 1))
                in_root curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$dport$a" 2>/dev/null || bad+=" $a"
            done < <(grep -o '/assets/[^"]*\.\(css\|js\)' "$work/page.html" | sort -u)
            if [[ -z "$bad" ]]; then
                pass "the dashboard serves its sign-in page and its $assets linked assets from the binary alone"
            else
                fail "dashboard assets missing inside the root:$bad"
            fi
        else
            fail "the dashboard's front page inside the root: $(cat "$work/page.err")"
        fi
    else
        fail "strathon dashboard inside the root: $(tail -5 "$work/dashboard.log") $(cat "$work/hc.log" 2>/dev/null)"
    fi
else
    echo "SKIP strathon dashboard: this binary has no \`dashboard\` subcommand yet"
fi

echo "debian-root: $((SECONDS - started)) s"
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
