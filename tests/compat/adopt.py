#!/usr/bin/env python3
"""Adoption compatibility: after `strathon adopt`, the published SDK and CLI
work against the adopted receiver with the keys the original minted.

Run by adopt.sh, which builds an original at revision 032, adopts it, starts
the receiver on the adopted database and exports OLD_INGEST_KEY (scopes
traces:write, policies:read, halts:read), OLD_ADMIN_KEY (*) and
OLD_REVOKED_KEY, plus STRATHON_ENDPOINT.

Prints one PASS/FAIL line per check and ends with "<n> passed, <m> failed".
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import strathon
from strathon import Client

ENDPOINT = os.environ["STRATHON_ENDPOINT"].rstrip("/")
INGEST_KEY = os.environ["OLD_INGEST_KEY"]
ADMIN_KEY = os.environ["OLD_ADMIN_KEY"]
REVOKED_KEY = os.environ["OLD_REVOKED_KEY"]
CLI = os.environ.get("COMPAT_CLI") or os.path.join(os.path.dirname(sys.executable), "strathon")
PROJECT_ID = "00000000-0000-0000-0000-000000000001"
ORIGINAL_TRACE = "0a0d0a0d0a0d0a0d0a0d0a0d0a0d0a0d"
RUN = secrets.token_hex(3)

PASSED = 0
FAILED = 0


def check(name: str, ok: bool, detail: str = "") -> bool:
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def api_get(path: str, key: str, params: dict | None = None):
    url = ENDPOINT + path + ("?" + urllib.parse.urlencode(params) if params else "")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode("utf-8"))


def cli(*args: str, key: str):
    env = dict(os.environ)
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "STRATHON_ENDPOINT": ENDPOINT,
                "STRATHON_API_KEY": key})
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout, p.stderr


def main() -> None:
    print(f"compat adopt: strathon {strathon.__version__} -> {ENDPOINT} (run {RUN})", flush=True)

    # -- The SDK with the deployed agent's old key --
    client = Client(api_key=INGEST_KEY, endpoint=ENDPOINT, project_id=PROJECT_ID,
                    environment="compat", service_name=f"adopted-agent-{RUN}")
    perr = client.policy_enforcer.last_refresh_error
    herr = client.halt_enforcer.last_refresh_error
    check("SDK with an old key: policy fetch succeeded", perr is None, str(perr))
    check("SDK with an old key: halt sync succeeded", herr is None, str(herr))
    names = [p.name for p in client.policy_enforcer.policies]
    check("SDK sees the policy carried from the original", "compat-block-shell" in names, repr(names))
    halts = client.halt_enforcer.halts
    check("SDK sees the halt carried from the original",
          any(h.get("scope") == "agent" and h.get("scope_value") == "compat-research-bot" for h in halts),
          repr(halts))
    decision = client.halt_enforcer.check_halt({"attrs": {"strathon.agent.name": "compat-research-bot"}})
    check("SDK enforces the carried halt on that agent", decision.action == "halt", repr(decision))
    other = client.halt_enforcer.check_halt({"attrs": {"strathon.agent.name": f"someone-else-{RUN}"}})
    check("SDK lets other agents run", other.action != "halt", repr(other))

    agent = f"adopted-agent-{RUN}"
    with client.tracer.start_as_current_span(f"compat.adopt.{RUN}",
                                             attributes={"gen_ai.agent.name": agent,
                                                         "strathon.agent.name": agent}) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    client.shutdown()

    deadline = time.monotonic() + 30
    found = None
    while time.monotonic() < deadline and found is None:
        try:
            body = api_get("/v1/traces", ADMIN_KEY, {"limit": 50})
            found = next((t for t in body.get("data") or [] if t.get("trace_id", t.get("id")) == trace_id), None)
        except Exception:
            pass
        if found is None:
            time.sleep(0.5)
    check("spans exported with the old key arrive", found is not None, trace_id)

    # -- The CLI with the ops script's old key --
    rc, out, err = cli("traces", "list", "--limit", "50", "--json", key=ADMIN_KEY)
    if check("CLI `traces list --json` with an old key exits 0", rc == 0, err[-400:]):
        ids = {t.get("trace_id", t.get("id")) for t in json.loads(out).get("data") or []}
        check("CLI lists the trace carried from the original", ORIGINAL_TRACE in ids, repr(sorted(ids))[:400])
        check("CLI lists the trace the SDK just sent", trace_id in ids)
    rc, out, err = cli("policies", "list", key=ADMIN_KEY)
    check("CLI `policies list` with an old key shows the carried policy",
          rc == 0 and "compat-block-shell" in out, (out + err)[-400:])
    rc, out, err = cli("halts", "list", key=ADMIN_KEY)
    check("CLI `halts list` with an old key shows the carried halt",
          rc == 0 and "carried halt" in out, (out + err)[-400:])
    rc, out, err = cli("traces", "list", "--json", key=REVOKED_KEY)
    check("a key revoked in the original stays revoked", rc != 0, (out + err)[-300:])

    print(f"{PASSED} passed, {FAILED} failed", flush=True)
    sys.exit(1 if FAILED or not PASSED else 0)


if __name__ == "__main__":
    main()
