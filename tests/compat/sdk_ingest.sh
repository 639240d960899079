#!/usr/bin/env bash
# SDK ingest compatibility: the published strathon==1.4.0 SDK records tool
# calls and exports them (OTLP/HTTP protobuf, POST /v1/traces) to a freshly
# started receiver; sdk_ingest.py then reads them back through /v1/spans and
# /v1/traces and checks that names, attributes, status and resource
# attributes arrived intact.
#
#   tests/compat/sdk_ingest.sh                  # builds nothing; needs target/debug/strathon
#   STRATHON_COMPAT_ENDPOINT=http://127.0.0.1:4318 tests/compat/sdk_ingest.sh   # existing receiver
set -euo pipefail
# shellcheck source=tests/compat/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

compat_setup
"$COMPAT_PY" "$COMPAT_DIR/sdk_ingest.py"
