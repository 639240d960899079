#!/usr/bin/env bash
# Follows a receiver log stream and returns as soon as the receiver is ready,
# so `make up` can show the start-up (and the dev-key banner) without
# leaving the user inside an endless `logs -f`.
#
#   compose/follow-until-ready.sh SECONDS COMMAND [ARG...]
#   compose/follow-until-ready.sh 300 docker compose -f compose/compose.yaml logs -f receiver
#
# COMMAND's output is echoed line by line. Ready means the banner
# ("Strathon receiver ready", printed only with the dev key) has been shown
# in full, or, without a dev key, the `listening` log line (text or JSON)
# followed by two quiet seconds in which no banner came. COMMAND is then
# stopped and the script exits 0. It exits 1 if COMMAND ends first (the
# container stopped) or SECONDS pass without the receiver becoming ready.
set -euo pipefail

if [[ $# -lt 2 || ! "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS COMMAND [ARG...]" >&2
    exit 2
fi
limit=$1
shift

tmp="$(mktemp -d "${TMPDIR:-/tmp}/strathon-follow.XXXXXX")"
mkfifo "$tmp/log"
"$@" >"$tmp/log" 2>&1 &
follower=$!

# shellcheck disable=SC2329  # run by the EXIT trap below
finish() {
    kill "$follower" 2>/dev/null || true
    wait "$follower" 2>/dev/null || true
    rm -rf "$tmp"
}
trap finish EXIT

exec 3<"$tmp/log"

# After the `listening` line the banner, when there is one, follows within
# milliseconds; two seconds of silence mean there is none.
banner_grace=2
deadline=$((SECONDS + limit))
state=starting # starting -> listening -> banner -> (done)
rules_after_banner=0
listening_at=0

while :; do
    wait_for=$((deadline - SECONDS))
    if [[ $state == listening ]]; then
        quiet_left=$((listening_at + banner_grace - SECONDS))
        ((quiet_left < wait_for)) && wait_for=$quiet_left
    fi
    ((wait_for < 1)) && wait_for=1

    status=0
    IFS= read -r -t "$wait_for" -u 3 line || status=$?
    if ((status == 0)); then
        printf '%s\n' "$line"
        case $state in
            starting | listening)
                if [[ $line == *"Strathon receiver ready"* ]]; then
                    state=banner
                elif [[ $state == starting && ($line == *" listening addr="* || $line == *'"message":"listening"'*) ]]; then
                    state=listening
                    listening_at=$SECONDS
                fi
                ;;
            banner)
                # The banner's title sits between two rules; the third rule closes it.
                if [[ $line =~ ^=+$ ]]; then
                    rules_after_banner=$((rules_after_banner + 1))
                    ((rules_after_banner == 2)) && break
                fi
                ;;
        esac
        continue
    fi

    if ((status > 128)); then
        # read timed out
        if [[ $state == listening ]] && ((SECONDS >= listening_at + banner_grace)); then
            echo
            echo "The receiver is ready. No dev API key is seeded (STRATHON_SEED_DEV_KEY is off), so there"
            echo "is no banner; for a local trial with the well-known key: STRATHON_SEED_DEV_KEY=true make up"
            break
        fi
        if [[ $state == banner ]]; then
            break
        fi
        if ((SECONDS >= deadline)); then
            echo "The receiver was not ready after ${limit}s; it may still be starting. See: make logs" >&2
            exit 1
        fi
        continue
    fi

    # end of stream: the log command ended, so the container is gone.
    if [[ $state == banner || $state == listening ]]; then
        break
    fi
    echo "The receiver's log ended before it was ready (the container stopped?). See: make logs" >&2
    exit 1
done
exit 0
