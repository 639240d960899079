#!/usr/bin/env bash
# The agent inventory's CycloneDX document, validated against the CycloneDX
# 1.5 JSON schema by cyclonedx-python-lib (the schema files ship inside the
# PyPI package; nothing is downloaded from GitHub). inventory.py sends a few
# agents' spans as OTLP/JSON, fetches GET /v1/agents/inventory?format=cyclonedx
# and checks it.
#
#   tests/compat/inventory.sh            # needs target/debug/strathon
set -euo pipefail
# shellcheck source=tests/compat/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

compat_tools_venv
compat_create_db
compat_start_receiver STRATHON_SHUTDOWN_DRAIN_SECONDS=0
"$COMPAT_TOOLS_PY" "$COMPAT_DIR/inventory.py"
