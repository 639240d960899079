#!/usr/bin/env python3
"""CLI compatibility: the published strathon-cli==1.4.0 against the receiver.

Run by cli.sh (which starts a receiver and exports STRATHON_ENDPOINT,
STRATHON_API_KEY and COMPAT_CLI). Every command listed in api.md §4.2 that
the receiver serves is run as a subprocess of the real `strathon` console
script; each check asserts the exit status and the values printed (the
`--json` output where the command has it, otherwise the Rich table, printed
200 columns wide and parsed by its `│` separators). Where a command changes
state, the change is also read back through the receiver's API with urllib.

The receiver deliberately fixes the original's CLI-facing quirks (api.md §4.2
and Appendix C), so these pass against it and would fail against the
original: `policies test` (GET /v1/traces also returns `traces`),
`traces tree` (a trace with several roots still has one `root` object),
`spans search` (top-level `cost_usd`), `halts create --agent` (`agent_name`
accepted as `scope_value`, top-level `id`), `halts list` (`agent_name`,
`created_at`), `budgets create/list` (CLI body shape and fields),
`budgets forecast` (`projected_exhaustion_date` on alerts),
`approvals list --status` `admin revoke-all-keys` (`data` key) and `admin transfer-ownership`.

`admin transfer-ownership` runs with a `*` key, which offers the project on
its owner's behalf (the original answered 403 to every key).

Traces are put in place by POSTing OTLP/JSON (hex ids) to /v1/traces.

`admin revoke-all-keys` revokes every key of the project, the dev key
included, so it runs last; against an external receiver
(STRATHON_COMPAT_ENDPOINT) it is skipped.

Prints one PASS/FAIL line per check and ends with "<n> passed, <m> failed".
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal, InvalidOperation

DEV_KEY = "stra_dev_local_default_project_do_not_use_in_production"
DEV_KEY_ID = "00000000-0000-0000-0000-000000000010"
DEFAULT_PROJECT_ID = "00000000-0000-0000-0000-000000000001"

ENDPOINT = os.environ.get("STRATHON_ENDPOINT", "http://localhost:4318").rstrip("/")
API_KEY = os.environ.get("STRATHON_API_KEY") or DEV_KEY
CLI = os.environ.get("COMPAT_CLI") or os.path.join(os.path.dirname(sys.executable), "strathon")
EXTERNAL = bool(os.environ.get("STRATHON_COMPAT_ENDPOINT"))

RUN = secrets.token_hex(3)
AGENT = f"cli-agent-{RUN}"
AGENT2 = f"cli-other-{RUN}"
TOOL = f"send_email_{RUN}"
TOOL2 = f"lookup_{RUN}"
MODEL = "gpt-4o"
INPUT_TOKENS = 1000
EXPECTED_COST = Decimal("0.0025")  # 1000 * 0.0000025 (gpt-4o input price)

TEMPLATE_IDS = [
    "block-dangerous-tools", "block-data-exfiltration", "throttle-expensive-models",
    "block-competitor-email", "block-sql-injection-patterns", "enforce-business-hours",
    "alert-on-high-cost", "steer-internal-data", "block-memory-write-injection",
    "block-memory-system-key-overwrite", "throttle-memory-write-flood",
    "alert-memory-retrieval-injection",
]

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
RAW_KEY_RE = re.compile(r"^stra_[A-Za-z0-9_-]{43}$")

# ---------------------------------------------------------------------------
# Check bookkeeping
# ---------------------------------------------------------------------------

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


def check_eq(name: str, actual, expected) -> bool:
    return check(name, actual == expected, f"expected {expected!r}, got {actual!r}")


def finish() -> None:
    print(f"{PASSED} passed, {FAILED} failed", flush=True)
    sys.exit(1 if FAILED or not PASSED else 0)


def dec(x):
    try:
        return Decimal(str(x))
    except (InvalidOperation, ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------
# Running the CLI
# ---------------------------------------------------------------------------

class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def describe(self) -> str:
        return (f"`strathon {' '.join(self.args)}` exit {self.rc}; "
                f"stdout={self.out.strip()[:600]!r}; stderr={self.err.strip()[-600:]!r}")


def cli(*args: str, key: str | None = None, stdin: str | None = None, timeout: float = 60) -> Result:
    env = dict(os.environ)
    env.update({
        "COLUMNS": "200", "LINES": "200", "NO_COLOR": "1", "TERM": "dumb",
        "PYTHONIOENCODING": "utf-8",
        "STRATHON_ENDPOINT": ENDPOINT,
        "STRATHON_API_KEY": key or API_KEY,
    })
    try:
        p = subprocess.run([CLI, *args], input=stdin if stdin is not None else "",
                           capture_output=True, text=True, env=env, timeout=timeout)
        return Result(list(args), p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as exc:
        return Result(list(args), -1, exc.stdout or "", f"timed out after {timeout}s")


def cli_ok(label: str, *args: str, **kw) -> Result | None:
    """Run the CLI; one check that it exited 0. Returns the result or None."""
    r = cli(*args, **kw)
    if check(f"{label}: `strathon {' '.join(args)}` exits 0", r.rc == 0, r.describe()):
        return r
    return None


def cli_json(label: str, *args: str, **kw):
    """Run a --json command; checks exit 0 and that stdout is JSON. Returns the value or None."""
    r = cli_ok(label, *args, **kw)
    if r is None:
        return None
    try:
        return json.loads(r.out)
    except ValueError as exc:
        check(f"{label}: stdout is JSON", False, f"{exc}: {r.out[:400]!r}")
        return None


def table_rows(out: str) -> list[list[str]]:
    """Data rows of a Rich table (lines between │ separators)."""
    rows = []
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("│") and s.endswith("│"):
            rows.append([c.strip() for c in s[1:-1].split("│")])
    return rows


def row_with(rows, col: int, value: str):
    for r in rows:
        if len(r) > col and r[col] == value:
            return r
    return None


def lines(out: str) -> list[str]:
    return [ln.rstrip() for ln in out.splitlines()]


# ---------------------------------------------------------------------------
# Receiver API (urllib) for setup and read-back
# ---------------------------------------------------------------------------

def api(method: str, path: str, body=None, key: str | None = None, params: dict | None = None):
    url = ENDPOINT + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = None
    headers = {"Authorization": f"Bearer {key or API_KEY}", "Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            raw = resp.read().decode("utf-8", "replace")
            return resp.status, (json.loads(raw) if raw.strip() else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode("utf-8", "replace")
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw


def key_status(raw_key: str) -> int:
    status, _ = api("GET", "/v1/policies", key=raw_key)
    return status


def get_policy(pid: str):
    status, body = api("GET", f"/v1/policies/{pid}")
    return body if status == 200 else None


def all_policies() -> list:
    status, body = api("GET", "/v1/policies")
    return body.get("policies", []) if status == 200 and isinstance(body, dict) else []


def policy_by_name(name: str):
    for p in all_policies():
        if p.get("name") == name:
            return p
    return None


# ---------------------------------------------------------------------------
# OTLP/JSON ingest
# ---------------------------------------------------------------------------

def _attr(k, v):
    if isinstance(v, bool):
        return {"key": k, "value": {"boolValue": v}}
    if isinstance(v, int):
        return {"key": k, "value": {"intValue": str(v)}}
    if isinstance(v, float):
        return {"key": k, "value": {"doubleValue": v}}
    return {"key": k, "value": {"stringValue": str(v)}}


def _span(trace_id, span_id, name, start, attrs, parent=None, dur_ns=2_000_000):
    s = {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": 1,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + dur_ns),
        "attributes": [_attr(k, v) for k, v in attrs.items()],
        "status": {"code": 1},
    }
    if parent:
        s["parentSpanId"] = parent
    return s


def ingest(service: str, spans: list) -> tuple[int, object]:
    body = {"resourceSpans": [{
        "resource": {"attributes": [_attr("service.name", service)]},
        "scopeSpans": [{"scope": {"name": "compat-cli", "version": "1"}, "spans": spans}],
    }]}
    return api("POST", "/v1/traces", body)


def poll(fetch, done, timeout=20.0):
    deadline = time.monotonic() + timeout
    val = None
    while True:
        try:
            val = fetch()
            if done(val):
                return val
        except Exception:
            pass
        if time.monotonic() >= deadline:
            return val
        time.sleep(0.3)


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------

STATE: dict = {}


def section_version():
    r = cli("--version")
    check_eq("`strathon --version`", (r.rc, r.out.strip()), (0, "strathon, version 1.4.0"))
    if not EXTERNAL:
        r = cli_ok("empty project", "policies", "list")
        if r:
            check_eq("`policies list` on a fresh project prints the empty state",
                     r.out.strip(), "No policies found.")
        r = cli_ok("empty project", "halts", "list")
        if r:
            check_eq("`halts list` on a fresh project prints the empty state", r.out.strip(), "No active halts.")


def section_ingest():
    now = time.time_ns()
    t1, t2, t3 = secrets.token_hex(16), secrets.token_hex(16), secrets.token_hex(16)
    root1, tool1, tool1b = secrets.token_hex(8), secrets.token_hex(8), secrets.token_hex(8)
    s1 = [
        _span(t1, root1, f"agent.run.{RUN}", now, {"gen_ai.agent.name": AGENT}, dur_ns=10_000_000),
        _span(t1, tool1, f"tool.{TOOL}", now + 1_000_000, {
            "gen_ai.agent.name": AGENT, "gen_ai.tool.name": TOOL,
            "strathon.tool.args": json.dumps({"to": "ops@example.com"}),
            "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": INPUT_TOKENS,
        }, parent=root1),
        _span(t1, tool1b, f"tool.{TOOL2}", now + 4_000_000, {
            "gen_ai.agent.name": AGENT, "gen_ai.tool.name": TOOL2,
        }, parent=root1),
    ]
    root2 = secrets.token_hex(8)
    s2 = [_span(t2, root2, f"tool.{TOOL2}", now + 5_000_000,
                {"gen_ai.agent.name": AGENT2, "gen_ai.tool.name": TOOL2})]
    # Two spans without a parent: the original returns `root` as a list.
    ra, rb = secrets.token_hex(8), secrets.token_hex(8)
    s3 = [
        _span(t3, ra, f"multi.a.{RUN}", now + 6_000_000, {"gen_ai.agent.name": AGENT2}),
        _span(t3, rb, f"multi.b.{RUN}", now + 7_000_000, {"gen_ai.agent.name": AGENT2}),
    ]
    for label, spans, svc in (("agent trace", s1, AGENT), ("second agent trace", s2, AGENT2),
                              ("multi-root trace", s3, AGENT2)):
        status, body = ingest(svc, spans)
        check(f"setup: POST /v1/traces (OTLP/JSON, {label}) accepted", status == 200, f"{status} {body}")
    STATE.update(t1=t1, t2=t2, t3=t3, root1=root1, tool1=tool1, tool1b=tool1b, ra=ra, rb=rb)

    def fetch():
        st, b = api("GET", "/v1/traces", params={"limit": 100})
        return {t["trace_id"]: t for t in (b or {}).get("data", [])} if st == 200 else {}

    got = poll(fetch, lambda d: all(t in d and d[t].get("span_count") == n
                                    for t, n in ((t1, 3), (t2, 1), (t3, 2))))
    check("setup: the three traces are readable through GET /v1/traces",
          all(t in (got or {}) for t in (t1, t2, t3)), f"got {sorted((got or {}).keys())}")


def section_traces():
    t1, t2, t3 = STATE["t1"], STATE["t2"], STATE["t3"]
    body = cli_json("traces list", "traces", "list", "--limit", "50", "--json")
    if isinstance(body, dict):
        data = body.get("data") or []
        by_id = {t.get("trace_id"): t for t in data}
        check("traces list --json: `data` holds the ingested traces", t1 in by_id and t2 in by_id and t3 in by_id,
              f"trace ids {list(by_id)}")
        if t1 in by_id:
            t = by_id[t1]
            check_eq("traces list --json: span_count of the agent trace", t.get("span_count"), 3)
            check_eq("traces list --json: agent_name of the agent trace", t.get("agent_name"), AGENT)
        check("traces list --json: `traces` key mirrors `data` (what `policies test` reads)",
              isinstance(body.get("traces"), list) and
              [x.get("trace_id") for x in body["traces"]] == [x.get("trace_id") for x in data],
              f"keys {sorted(body)}")
    r = cli_ok("traces list", "traces", "list", "--limit", "50")
    if r:
        rows = table_rows(r.out)
        row = row_with(rows, 0, t1[:16])
        if check("traces list table: a row for the agent trace (ID cut to 16)", row is not None, r.out[-800:]):
            check_eq("traces list table: Agent and Spans columns", (row[1], row[2]), (AGENT, "3"))
            check("traces list table: Cost column is the trace cost",
                  dec(row[3]) == EXPECTED_COST or row[3] in ("None", "-"), f"row {row}")
            check_eq("traces list table: Intervention column", row[4], "running")
    body = cli_json("traces list --agent", "traces", "list", "--agent", AGENT2, "--json")
    if isinstance(body, dict):
        ids = {t.get("trace_id") for t in body.get("data") or []}
        check_eq("traces list --agent: only that agent's traces", ids, {t2, t3})
    body = cli_json("traces list --limit", "traces", "list", "--limit", "1", "--json")
    if isinstance(body, dict):
        check_eq("traces list --limit 1: one trace", len(body.get("data") or []), 1)

    # traces tree: one root with the tool child
    body = cli_json("traces tree", "traces", "tree", t1, "--json")
    if isinstance(body, dict):
        root = body.get("root")
        check_eq("traces tree --json: span_count", body.get("span_count"), 3)
        if check("traces tree --json: root is one object", isinstance(root, dict), repr(root)[:300]):
            check_eq("traces tree --json: root name", root.get("name"), f"agent.run.{RUN}")
            kids = root.get("children") or []
            check_eq("traces tree --json: children in start order",
                     [(c.get("name"), c.get("tool_name")) for c in kids],
                     [(f"tool.{TOOL}", TOOL), (f"tool.{TOOL2}", TOOL2)])
    r = cli_ok("traces tree", "traces", "tree", t1)
    if r:
        check_eq("traces tree text output", lines(r.out), [
            f"Trace: {t1}", "Spans: 3", f"agent.run.{RUN}",
            f"  ├─ tool.{TOOL} → {TOOL}", f"  ├─ tool.{TOOL2} → {TOOL2}",
        ])
    # several roots: still one root object, both spans below it
    body = cli_json("traces tree (two roots)", "traces", "tree", t3, "--json")
    if isinstance(body, dict):
        root = body.get("root")
        if check("traces tree --json (two roots): root is one object, not a list", isinstance(root, dict),
                 repr(root)[:300]):
            ids = [c.get("span_id") for c in root.get("children") or []]
            names = {c.get("name") for c in root.get("children") or []} | {root.get("name")}
            check("traces tree --json (two roots): both root spans are in the tree",
                  (STATE["ra"] in ids and STATE["rb"] in ids) or
                  {f"multi.a.{RUN}", f"multi.b.{RUN}"} <= names, f"root {json.dumps(root)[:400]}")
    r = cli_ok("traces tree (two roots)", "traces", "tree", t3)
    if r:
        out = r.out
        check("traces tree text (two roots): prints both spans",
              f"multi.a.{RUN}" in out and f"multi.b.{RUN}" in out and "Spans: 2" in out, out)
    r = cli("traces", "tree", secrets.token_hex(16))
    check("traces tree of an unknown trace: exit 1 with `Error 404`",
          r.rc == 1 and r.err.startswith("Error 404"), r.describe())


def section_spans():
    items = cli_json("spans search --tool", "spans", "search", "--tool", TOOL, "--json")
    if isinstance(items, list):
        if check("spans search --tool --json: exactly the tool span", len(items) == 1, f"{len(items)} items"):
            s = items[0]
            check_eq("spans search --json: span_id", s.get("span_id"), STATE["tool1"])
            check_eq("spans search --json: agent_name / tool_name / request_model",
                     (s.get("agent_name"), s.get("tool_name"), s.get("request_model")), (AGENT, TOOL, MODEL))
            check("spans search --json: top-level cost_usd = 1000 gpt-4o input tokens",
                  dec(s.get("cost_usd")) == EXPECTED_COST, f"cost_usd={s.get('cost_usd')!r}")
    r = cli_ok("spans search table", "spans", "search", "--tool", TOOL)
    if r:
        row = row_with(table_rows(r.out), 0, STATE["tool1"][:12])
        if check("spans search table: a row for the span (ID cut to 12)", row is not None, r.out):
            check_eq("spans search table: Name, Agent, Tool, Model", row[1:5], [f"tool.{TOOL}", AGENT, TOOL, MODEL])
            check("spans search table: Cost column shows the cost", dec(row[5]) == EXPECTED_COST, f"row {row}")
    items = cli_json("spans search --agent", "spans", "search", "--agent", AGENT2, "--json")
    if isinstance(items, list):
        check_eq("spans search --agent: that agent's spans",
                 sorted(s.get("name") for s in items), sorted([f"tool.{TOOL2}", f"multi.a.{RUN}", f"multi.b.{RUN}"]))
    items = cli_json("spans search --model", "spans", "search", "--model", MODEL, "--agent", AGENT, "--json")
    if isinstance(items, list):
        check_eq("spans search --model --agent: the model span", [s.get("span_id") for s in items], [STATE["tool1"]])
    items = cli_json("spans search --q", "spans", "search", "--q", TOOL, "--json")
    if isinstance(items, list):
        check("spans search --q <tool>: finds the tool span",
              STATE["tool1"] in [s.get("span_id") for s in items], f"{[s.get('name') for s in items]}")
    items = cli_json("spans search --limit", "spans", "search", "--agent", AGENT, "--limit", "2", "--json")
    if isinstance(items, list):
        check_eq("spans search --limit 2: two spans", len(items), 2)


def section_policies():
    # create --expr, --json
    n1 = f"cli-block-{RUN}"
    expr1 = f'attrs["gen_ai.tool.name"] == "{TOOL}"'
    body = cli_json("policies create --json", "policies", "create", "--name", n1, "--expr", expr1,
                    "--action", "block", "--json")
    p1 = None
    if isinstance(body, dict):
        p1 = body.get("id")
        check("policies create --json: response has a uuid id", bool(re.fullmatch(UUID_RE, str(p1))), repr(p1))
        check_eq("policies create --json: fields", (body.get("name"), body.get("match_expression"), body.get("action"),
                                                    body.get("shadow"), body.get("priority"), body.get("enabled")),
                 (n1, expr1, "block", False, 0, True))
    # create text, --shadow --priority
    n2 = f"cli-shadow-{RUN}"
    r = cli_ok("policies create --shadow --priority", "policies", "create", "--name", n2, "--expr",
               f'attrs["gen_ai.tool.name"] == "{TOOL2}"', "--action", "log", "--shadow", "--priority", "7")
    p2 = None
    if r:
        m = re.fullmatch(rf"Created policy ({UUID_RE}) \({re.escape(n2)}\)", r.out.strip())
        if check("policies create: prints `Created policy <id> (<name>)`", m is not None, r.out):
            p2 = m.group(1)
            pol = get_policy(p2)
            check_eq("policies create --shadow --priority 7: stored shadow/priority/action",
                     (pol or {}).get("shadow"), True)
            check_eq("policies create --priority 7: stored priority", (pol or {}).get("priority"), 7)
    # create --template (slug from the template name)
    r = cli_ok("policies create --template", "policies", "create", "--template", "block-dangerous-tool-names")
    if r:
        m = re.fullmatch(rf"Created policy ({UUID_RE}) from template 'block-dangerous-tool-names'", r.out.strip())
        if check("policies create --template: prints `Created policy <id> from template '<t>'`", m is not None, r.out):
            pol = get_policy(m.group(1)) or {}
            check_eq("policies create --template: policy has the template's name and action",
                     (pol.get("name"), pol.get("action")), ("Block dangerous tool names", "block"))
            check("policies create --template: policy has the template's expression",
                  '"shell_exec"' in str(pol.get("match_expression")), repr(pol.get("match_expression")))
            STATE["tpl_policy"] = m.group(1)
    n3 = f"cli-tpl-{RUN}"
    r = cli_ok("policies create --template --name --action", "policies", "create", "--template",
               "Block SQL injection in tool arguments", "--name", n3, "--action", "alert", "--priority", "2")
    if r:
        pol = policy_by_name(n3) or {}
        check_eq("policies create --template by name with --name/--action overrides",
                 (pol.get("action"), pol.get("priority")), ("alert", 2))

    # list
    items = cli_json("policies list --json", "policies", "list", "--json")
    if isinstance(items, list):
        names = [p.get("name") for p in items]
        check("policies list --json: the created policies are listed", {n1, n2, n3} <= set(names), repr(names))
        prio = [(p.get("priority"), p.get("name")) for p in items]
        check("policies list --json: ordered by priority desc, name asc",
              prio == sorted(prio, key=lambda x: (-x[0], x[1])), repr(prio))
    r = cli_ok("policies list table", "policies", "list")
    if r and p1 and p2:
        rows = table_rows(r.out)
        row1, row2 = row_with(rows, 0, p1[:12]), row_with(rows, 0, p2[:12])
        check_eq("policies list table: block policy row", row1, [p1[:12], n1, "block", "yes", "-", "0"])
        check_eq("policies list table: shadow policy row", row2, [p2[:12], n2, "log", "yes", "shadow", "7"])

    # get
    if p1:
        body = cli_json("policies get --json", "policies", "get", p1, "--json")
        if isinstance(body, dict):
            check_eq("policies get --json: id/name/expression", (body.get("id"), body.get("name"),
                                                                  body.get("match_expression")), (p1, n1, expr1))
        r = cli_ok("policies get", "policies", "get", p1)
        if r:
            ls = lines(r.out)
            check("policies get: `  key: value` lines", f"  id: {p1}" in ls and f"  name: {n1}" in ls
                  and "  action: block" in ls and "  enabled: True" in ls, r.out)
        # disable / enable
        r = cli_ok("policies disable", "policies", "disable", p1)
        if r:
            check_eq("policies disable: output", r.out.strip(), f"Disabled policy {p1}")
            check_eq("policies disable: stored enabled=false", (get_policy(p1) or {}).get("enabled"), False)
            rr = cli("policies", "list")
            check("policies list table after disable: Enabled column `no`",
                  (row_with(table_rows(rr.out), 0, p1[:12]) or [None] * 4)[3] == "no", rr.out)
        r = cli_ok("policies enable", "policies", "enable", p1)
        if r:
            check_eq("policies enable: output", r.out.strip(), f"Enabled policy {p1}")
            check_eq("policies enable: stored enabled=true", (get_policy(p1) or {}).get("enabled"), True)
    r = cli("policies", "get", str(uuid.uuid4()))
    check("policies get of an unknown id: exit 1 with `Error 404`", r.rc == 1 and r.err.startswith("Error 404"),
          r.describe())
    STATE.update(p1=p1, n1=n1, p2=p2)

    # import (YAML, dry-run, JSON --json)
    tmp = tempfile.mkdtemp(prefix="compat-cli-")
    ya, yb, ys = f"cli-imp-a-{RUN}", f"cli-imp-b-{RUN}", f"cli-imp-skip-{RUN}"
    yaml_path = os.path.join(tmp, "policies.yaml")
    with open(yaml_path, "w") as fh:
        fh.write(
            "policies:\n"
            f"  - name: {ya}\n"
            f"    match_expression: 'attrs[\"gen_ai.tool.name\"] == \"imp_a_{RUN}\"'\n"
            "    action: log\n"
            f"  - name: {yb}\n"
            f"    match_expression: 'attrs[\"gen_ai.tool.name\"] == \"imp_b_{RUN}\"'\n"
            "    action: block\n"
            "    shadow: true\n"
            "    priority: 3\n"
            f"  - name: {ys}\n"
            "    action: block\n"
        )
    before = len(all_policies())
    r = cli_ok("policies import --dry-run", "policies", "import", yaml_path, "--dry-run")
    if r:
        check_eq("policies import --dry-run: output", r.out.strip(), f"validated 2 policies from {yaml_path}")
        check_eq("policies import --dry-run: nothing created", len(all_policies()), before)
    r = cli_ok("policies import (yaml)", "policies", "import", yaml_path)
    if r:
        check_eq("policies import: output", r.out.strip(), f"imported 2 policies from {yaml_path}")
        check(f"policies import: item without match_expression skipped on stderr",
              f"Skipping '{ys}': no match_expression" in r.err, r.err)
        a, b = policy_by_name(ya) or {}, policy_by_name(yb) or {}
        check_eq("policies import: first item stored (action log)", a.get("action"), "log")
        check_eq("policies import: second item stored with shadow/priority",
                 (b.get("action"), b.get("shadow"), b.get("priority")), ("block", True, 3))
    json_path = os.path.join(tmp, "policies.json")
    yj = f"cli-imp-json-{RUN}"
    with open(json_path, "w") as fh:
        json.dump({"policies": [{"name": yj, "match_expression": "true", "action": "alert"}]}, fh)
    items = cli_json("policies import --json (json file)", "policies", "import", json_path, "--json")
    if isinstance(items, list):
        check("policies import --json: list of the created policy objects",
              len(items) == 1 and items[0].get("name") == yj and re.fullmatch(UUID_RE, str(items[0].get("id"))),
              repr(items)[:300])

    # templates
    items = cli_json("templates list --json", "templates", "list", "--json")
    if isinstance(items, list):
        check_eq("templates list --json: the 12 templates in catalog order", [t.get("id") for t in items], TEMPLATE_IDS)
        check("templates list --json: owasp_risks lists",
              all(isinstance(t.get("owasp_risks"), list) and t["owasp_risks"] for t in items), "")
    r = cli_ok("templates list table", "templates", "list")
    if r:
        row = row_with(table_rows(r.out), 0, "block-dangerous-tools")
        check("templates list table: row for block-dangerous-tools",
              row is not None and row[1] == "Block dangerous tool names" and row[2] == "block"
              and row[3] == "ASI-02, ASI-05", repr(row))
    r = cli_ok("templates apply", "templates", "apply", "throttle-expensive-models")
    if r:
        ls = lines(r.out)
        m = re.fullmatch(rf"  Policy created: ({UUID_RE}) \((.*)\)", ls[1] if len(ls) > 1 else "")
        if check("templates apply: prints `Applied template <id>` and `  Policy created: <id> (<name>)`",
                 ls[:1] == ["Applied template throttle-expensive-models"] and m is not None, r.out):
            pol = get_policy(m.group(1)) or {}
            check_eq("templates apply: created policy keeps the template's throttle config",
                     (pol.get("action"), (pol.get("action_config") or {}).get("max_calls"),
                      (pol.get("action_config") or {}).get("window_seconds")), ("throttle", 10, 60))
            check_eq("templates apply: printed name is the policy's name", m.group(2), pol.get("name"))
            STATE["applied"] = m.group(1)
    r = cli("templates", "apply", "no-such-template")
    check("templates apply of an unknown template: exit 1 with `Error 404`",
          r.rc == 1 and r.err.startswith("Error 404"), r.describe())

    # test (needs traces; the receiver's GET /v1/traces carries `traces`)
    body = cli_json("policies test --json", "policies", "test", "--name", n1, "--last", "10", "--json")
    if isinstance(body, dict):
        matches = body.get("matches")
        if check("policies test --json: simulate response with `matches`", isinstance(matches, list), repr(body)[:400]):
            check("policies test --json: the matching span is in `matches`",
                  any(m.get("span_id") == STATE["tool1"] for m in matches), repr(matches)[:400])
            check("policies test --json: summary.matched counts it",
                  isinstance(body.get("summary"), dict) and (body["summary"].get("matched") or 0) >= 1,
                  repr(body.get("summary")))
    r = cli_ok("policies test", "policies", "test", "--name", n1, "--last", "10")
    if r:
        ls = lines(r.out)
        check("policies test: prints `Policy: <name> (block)`", ls[:1] == [f"Policy: {n1} (block)"], r.out)
        check("policies test: `Tested against: <n> traces, <m> spans`",
              len(ls) > 1 and re.fullmatch(r"Tested against: \d+ traces, \d+ spans", ls[1]) is not None, r.out)
        check("policies test: `Matches: 1` (exactly the one span)", "Matches: 1" in ls, r.out)
        check("policies test: matched-span table lists the trace", STATE["t1"][:12] in r.out, r.out)
    r = cli_ok("policies test (expression true)", "policies", "test", "--name", yj, "--last", "10")
    if r:  # yj's expression is `true`: every stored span matches, at least the six ingested
        m = re.search(r"^Matches: (\d+)$", r.out, re.M)
        check("policies test (expression `true`): Matches counts every stored span",
              m is not None and int(m.group(1)) >= 6, r.out[:400])
    r = cli("policies", "test", "--name", f"no-such-policy-{RUN}")
    check("policies test of an unknown name: exit 1 `Policy '<n>' not found.`",
          r.rc == 1 and f"Policy 'no-such-policy-{RUN}' not found." in r.err, r.describe())

    # conflicts: identical expression, block vs allow -> contradiction
    ca, cb = f"cli-conf-a-{RUN}", f"cli-conf-b-{RUN}"
    cexpr = f'attrs["gen_ai.tool.name"] == "conflict_{RUN}"'
    for nm, act in ((ca, "block"), (cb, "allow")):
        rr = cli("policies", "create", "--name", nm, "--expr", cexpr, "--action", act)
        check(f"setup: create {act} policy for conflicts", rr.rc == 0, rr.describe())
    body = cli_json("policies conflicts --json", "policies", "conflicts", "--json")
    if isinstance(body, dict):
        conflicts = body.get("conflicts") or []
        hit = [c for c in conflicts if {(c.get("policy_a") or {}).get("name"), (c.get("policy_b") or {}).get("name")} == {ca, cb}]
        check("policies conflicts --json: the block/allow pair is a contradiction",
              len(hit) == 1 and hit[0].get("type") == "contradiction" and hit[0].get("reason"), repr(conflicts)[:500])
        check_eq("policies conflicts --json: policies_analyzed counts every policy",
                 body.get("policies_analyzed"), len(all_policies()))
    r = cli_ok("policies conflicts", "policies", "conflicts")
    if r:
        ls = lines(r.out)
        pair = ({f"    Policy A: {ca}", f"    Policy B: {cb}"} <= set(ls)
                or {f"    Policy A: {cb}", f"    Policy B: {ca}"} <= set(ls))
        check("policies conflicts: prints `contradiction: <reason>` and both policy names",
              re.search(r"^  contradiction: \S", r.out, re.M) is not None and pair, r.out[:800])

    # suggest (cost > 0 and no budget yet: at least the medium budget suggestion)
    body = cli_json("policies suggest --json", "policies", "suggest", "--json")
    sugg = []
    if isinstance(body, dict):
        sugg = body.get("suggestions")
        if check("policies suggest --json: `suggestions` list", isinstance(sugg, list), repr(body)[:400]):
            check("policies suggest --json: at least one suggestion (spend without a budget)", len(sugg) >= 1, repr(body)[:400])
            check("policies suggest --json: risk_level high|medium|low on each",
                  all(s.get("risk_level") in ("high", "medium", "low") for s in sugg), repr(sugg)[:400])
            check_eq("policies suggest --json: count", body.get("count"), len(sugg))
    r = cli_ok("policies suggest", "policies", "suggest")
    if r and isinstance(sugg, list) and sugg:
        risk_lines = [ln for ln in lines(r.out) if re.match(r"^  (HIGH|MEDIUM|LOW)\b", ln)]
        check("policies suggest: one `  <RISK> ...` line per suggestion", len(risk_lines) == len(sugg), r.out[:800])
        check("policies suggest: each risk line carries a reason (CLI reads `reason`)",
              risk_lines and all(re.match(r"^  (HIGH|MEDIUM|LOW) \S", ln) for ln in risk_lines), r.out[:800])

    # --from-english without STRATHON_AI_API_KEY on the receiver
    count = len(all_policies())
    r = cli("policies", "create", "--from-english", "block every email sent to competitors", stdin="y\n")
    check("policies create --from-english (no AI key): exit 1", r.rc == 1, r.describe())
    check("policies create --from-english: receiver answers `Error 400: ...`",
          re.search(r"^Error 400: ", r.err, re.M) is not None, r.describe())
    err400 = next((ln for ln in r.err.splitlines() if ln.startswith("Error 400")), "")
    check("policies create --from-english: receiver's detail mentions STRATHON_AI_API_KEY",
          "STRATHON_AI_API_KEY" in err400, r.describe())
    check("policies create --from-english: CLI tells to set STRATHON_AI_API_KEY",
          "Ensure STRATHON_AI_API_KEY is set on the receiver." in r.err, r.describe())
    check_eq("policies create --from-english: no policy created", len(all_policies()), count)

    # delete
    if p2:
        r = cli_ok("policies delete", "policies", "delete", p2, "--yes")
        if r:
            check_eq("policies delete: output", r.out.strip(), f"Deleted policy {p2}")
            check("policies delete: policy gone (GET 404)", api("GET", f"/v1/policies/{p2}")[0] == 404, "")
        r = cli("policies", "delete", p2)
        check("policies delete without --yes: `Aborted!`, exit 1",
              r.rc == 1 and "Aborted!" in r.err, r.describe())


def section_agents_compliance():
    items = cli_json("agents list --json", "agents", "list", "--json")
    if isinstance(items, list):
        a = next((x for x in items if x.get("agent_name") == AGENT), None)
        if check("agents list --json: the ingesting agent is listed", a is not None,
                 repr([x.get("agent_name") for x in items])):
            check("agents list --json: risk_score high|medium|low", a.get("risk_score") in ("high", "medium", "low"),
                  repr(a.get("risk_score")))
            check_eq("agents list --json: total_tool_calls", a.get("total_tool_calls"), 2)
            check("agents list --json: total_cost_usd", dec(a.get("total_cost_usd")) == EXPECTED_COST,
                  repr(a.get("total_cost_usd")))
            check("agents list --json: policies_covering is an int", isinstance(a.get("policies_covering"), int)
                  and not isinstance(a.get("policies_covering"), bool), repr(a.get("policies_covering")))
            STATE["agent_row"] = a
    r = cli_ok("agents list table", "agents", "list")
    if r and STATE.get("agent_row"):
        a = STATE["agent_row"]
        row = row_with(table_rows(r.out), 0, AGENT)
        check("agents list table: row with upper-cased risk and tool calls",
              row is not None and row[1] == str(a.get("risk_score", "")).upper() and row[2] == "2"
              and dec(row[4]) == EXPECTED_COST, repr(row))

    body = cli_json("compliance export --json", "compliance", "export", "--json")
    arts = {"article_9_risk_management", "article_11_technical_documentation", "article_12_event_logging",
            "article_14_human_oversight", "article_15_robustness", "article_19_retention"}
    if isinstance(body, dict):
        articles = body.get("articles")
        check("compliance export --json: the six EU AI Act articles with a boolean `compliant`",
              isinstance(articles, dict) and set(articles) == arts
              and all(isinstance(v.get("compliant"), bool) for v in articles.values()), repr(articles)[:400])
        check("compliance export --json: recommendations list", isinstance(body.get("recommendations"), list),
              repr(body.get("recommendations")))
        check_eq("compliance export --json: framework", body.get("framework"), "eu_ai_act")
        r = cli_ok("compliance export text", "compliance", "export")
        if r and isinstance(articles, dict):
            ok = r.out.startswith("EU AI Act Compliance Export\n" + "=" * 40)
            for k, v in articles.items():
                ok = ok and f"  {k}: {'COMPLIANT' if v.get('compliant') else 'NON-COMPLIANT'}" in lines(r.out)
            recs = body.get("recommendations") or []
            ok = ok and (("Recommendations:" in r.out) if recs else ("All checks passed." in r.out))
            check("compliance export text: one COMPLIANT/NON-COMPLIANT line per article + recommendations", ok, r.out[:800])
    body = cli_json("compliance export --format sarif", "compliance", "export", "--format", "sarif")
    if isinstance(body, dict):
        check("compliance export --format sarif: SARIF 2.1.0 document with runs",
              body.get("version") == "2.1.0" and isinstance(body.get("runs"), list) and body["runs"],
              repr(body)[:300])
    out_path = os.path.join(tempfile.mkdtemp(prefix="compat-cli-"), "c.sarif")
    r = cli_ok("compliance export -o", "compliance", "export", "--format", "sarif", "-o", out_path)
    if r:
        try:
            with open(out_path) as fh:
                doc = json.load(fh)
            ok = doc.get("version") == "2.1.0"
        except Exception as exc:  # noqa: BLE001
            ok, doc = False, exc
        check("compliance export -o FILE: writes the SARIF document and says so",
              ok and f"Wrote SARIF package to {out_path}" in r.out.replace("\n", ""), f"{r.out!r} {doc!r}"[:400])


def section_halts():
    r = cli_ok("halts create --scope project", "halts", "create", "--scope", "project", "--reason", f"cli stop {RUN}")
    hp = ha = None
    if r:
        m = re.fullmatch(r"Halt created: (\d+)", r.out.strip())
        if check("halts create --scope project: prints `Halt created: <id>` (top-level id)", m is not None, r.out):
            hp = m.group(1)
    r = cli_ok("halts create --scope agent --agent", "halts", "create", "--scope", "agent", "--agent", AGENT)
    if r:
        m = re.fullmatch(r"Halt created: (\d+)", r.out.strip())
        if check("halts create --scope agent --agent X: prints `Halt created: <id>`", m is not None, r.out):
            ha = m.group(1)
    r = cli("halts", "create", "--scope", "agent")
    check("halts create --scope agent without --agent: exit 1 with `Error 400`",
          r.rc == 1 and r.err.startswith("Error 400"), r.describe())
    items = cli_json("halts list --json", "halts", "list", "--json")
    if isinstance(items, list) and hp and ha:
        by = {str(h.get("id")): h for h in items}
        p, a = by.get(hp) or {}, by.get(ha) or {}
        check_eq("halts list --json: project halt (scope, agent_name null, reason)",
                 (p.get("scope"), p.get("agent_name"), p.get("reason")), ("project", None, f"cli stop {RUN}"))
        check_eq("halts list --json: agent halt (scope, agent_name = scope_value, default reason)",
                 (a.get("scope"), a.get("agent_name"), a.get("scope_value"), a.get("reason")),
                 ("agent", AGENT, AGENT, "CLI halt"))
        check("halts list --json: created_at present", bool(p.get("created_at")) and bool(a.get("created_at")), "")
        status, sync = api("POST", "/v1/intervention/sync", {})
        sh = {str(h.get("id")): h for h in (sync or {}).get("halts", [])} if status == 200 else {}
        check_eq("halts created by the CLI reach the SDK sync (scope_value of the agent halt)",
                 (sh.get(hp, {}).get("scope"), sh.get(ha, {}).get("scope_value")), ("project", AGENT))
    r = cli_ok("halts list table", "halts", "list")
    if r and hp and ha:
        rows = table_rows(r.out)
        rp, ra = row_with(rows, 0, hp), row_with(rows, 0, ha)
        check("halts list table: project row shows Agent `all`",
              rp is not None and rp[1:4] == ["project", "all", f"cli stop {RUN}"]
              and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", rp[4]), repr(rp))
        check("halts list table: agent row shows the agent", ra is not None and ra[1:4] == ["agent", AGENT, "CLI halt"],
              repr(ra))
    for hid in (hp, ha):
        if not hid:
            continue
        r = cli_ok("halts delete", "halts", "delete", hid, "--yes")
        if r:
            check_eq("halts delete: output", r.out.strip(), f"Halt removed: {hid}")
    items = cli_json("halts list after delete", "halts", "list", "--json")
    if isinstance(items, list):
        check("halts list after delete: the cleared halts are gone",
              not ({str(h.get("id")) for h in items} & {hp, ha}), repr(items)[:300])


def section_budgets():
    ids = {}
    for label, args in (("cost", ["--type", "cost", "--limit", "5"]),
                        ("iteration", ["--type", "iteration", "--limit", "1000"]),
                        ("rolling", ["--type", "cost", "--limit", "7", "--window", "rolling"]),
                        ("alert", ["--type", "cost", "--limit", "0.001"])):
        name = f"cli-{label}-{RUN}"
        r = cli_ok(f"budgets create ({label})", "budgets", "create", "--name", name, *args)
        if r:
            m = re.fullmatch(rf"Budget created: ({UUID_RE})", r.out.strip())
            if check(f"budgets create ({label}): prints `Budget created: <uuid>`", m is not None, r.out):
                ids[label] = (m.group(1), name)
    items = cli_json("budgets list --json", "budgets", "list", "--json")
    if isinstance(items, list):
        by = {b.get("id"): b for b in items}
        if "cost" in ids:
            b = by.get(ids["cost"][0]) or {}
            check_eq("budgets list --json (cost): name, budget_type, limit_usd, auto_halted",
                     (b.get("name"), b.get("budget_type"), dec(b.get("limit_usd")), b.get("auto_halted")),
                     (ids["cost"][1], "cost", Decimal(5), False))
            check("budgets list --json (cost): current_spend is a number",
                  isinstance(b.get("current_spend"), (int, float)) and not isinstance(b.get("current_spend"), bool)
                  or dec(b.get("current_spend")) is not None, repr(b.get("current_spend")))
        if "iteration" in ids:
            b = by.get(ids["iteration"][0]) or {}
            check_eq("budgets list --json (iteration): budget_type, limit_count, auto_halted",
                     (b.get("budget_type"), b.get("limit_count"), b.get("auto_halted")), ("iteration", 1000, False))
            check("budgets list --json (iteration): current_count is an int",
                  isinstance(b.get("current_count"), int), repr(b.get("current_count")))
        if "rolling" in ids:
            check("budgets list --json: the --window rolling budget is listed", ids["rolling"][0] in by, "")
    r = cli_ok("budgets list table", "budgets", "list")
    if r and "cost" in ids and "iteration" in ids:
        rows = table_rows(r.out)
        rc_, ri = row_with(rows, 0, ids["cost"][0][:12]), row_with(rows, 0, ids["iteration"][0][:12])
        check("budgets list table: cost row (Type cost, Limit 5, Status active)",
              rc_ is not None and rc_[1:3] == [ids["cost"][1], "cost"] and dec(rc_[3]) == 5 and rc_[5] == "active"
              and dec(rc_[4]) is not None, repr(rc_))
        check("budgets list table: iteration row (Type iteration, Limit 1000)",
              ri is not None and ri[1:3] == [ids["iteration"][1], "iteration"] and ri[3] == "1000"
              and ri[5] == "active", repr(ri))

    body = cli_json("budgets forecast --json", "budgets", "forecast", "--json")
    if isinstance(body, dict):
        check("budgets forecast --json: burn rate and projections are numbers",
              all(isinstance(body.get(k), (int, float)) for k in
                  ("burn_rate_usd_per_hour", "projected_daily_cost", "projected_weekly_cost")), repr(body)[:400])
        check("budgets forecast --json: burn rate reflects the ingested spend",
              isinstance(body.get("burn_rate_usd_per_hour"), (int, float)) and body["burn_rate_usd_per_hour"] > 0,
              repr(body.get("burn_rate_usd_per_hour")))
        names = {f.get("budget_name") for f in body.get("budget_forecasts") or []}
        check("budgets forecast --json: budget_forecasts lists the cost budgets",
              {ids[k][1] for k in ("cost", "alert") if k in ids} <= names, repr(names))
        if "alert" in ids:
            alerts = [a for a in body.get("budget_alerts") or [] if a.get("budget_name") == ids["alert"][1]]
            if check("budgets forecast --json: the nearly exhausted budget raises a budget alert", len(alerts) == 1,
                     repr(body.get("budget_alerts"))[:400]):
                check("budgets forecast --json: the alert carries projected_exhaustion_date",
                      bool(alerts[0].get("projected_exhaustion_date")), repr(alerts[0]))
    r = cli_ok("budgets forecast", "budgets", "forecast")
    if r:
        ls = lines(r.out)
        check("budgets forecast: Cost Forecast / Burn rate / Daily / Weekly lines",
              ls[:1] == ["Cost Forecast"] and len(ls) >= 4 and re.fullmatch(r"  Burn rate:  \$[0-9.e-]+/hour", ls[1])
              and re.fullmatch(r"  Daily:      \$[0-9.e-]+", ls[2]) and re.fullmatch(r"  Weekly:     \$[0-9.e-]+", ls[3]),
              r.out)
        if "alert" in ids:
            al = [ln for ln in ls if ln.startswith(f"  - {ids['alert'][1]}: exhausted by ")]
            check("budgets forecast: alert line `- <name>: exhausted by <date>` (not `?`)",
                  len(al) == 1 and not al[0].endswith("exhausted by ?"), r.out)
    for label, (bid, _) in ids.items():
        r = cli_ok(f"budgets delete ({label})", "budgets", "delete", bid, "--yes")
        if r:
            check_eq(f"budgets delete ({label}): output", r.out.strip(), f"Budget deleted: {bid}")
    items = cli_json("budgets list after delete", "budgets", "list", "--json")
    if isinstance(items, list):
        check("budgets list after delete: the deleted budgets are gone",
              not ({b.get("id") for b in items} & {v[0] for v in ids.values()}), repr(items)[:300])


def section_approvals():
    made = []
    for i in range(3):
        status, body = api("POST", "/v1/approvals", {"policy_id": str(uuid.uuid4()), "tool_name": f"x{i}"})
        a = (body or {}).get("approval") if isinstance(body, dict) else None
        a = a or (body if isinstance(body, dict) and "id" in body else None)
        check(f"setup: POST /v1/approvals #{i + 1} -> 201", status == 201 and a, f"{status} {body}")
        if a:
            made.append(a)
    if len(made) < 3:
        return
    ids = [a["id"] for a in made]
    items = cli_json("approvals list --status pending --json", "approvals", "list", "--status", "pending", "--json")
    if isinstance(items, list):
        check("approvals list --status pending: the three new approvals, all pending",
              set(ids) <= {a.get("id") for a in items} and all(a.get("status") == "pending" for a in items),
              repr([(a.get("id"), a.get("status")) for a in items]))
    r = cli_ok("approvals list table", "approvals", "list")
    if r:
        row = row_with(table_rows(r.out), 0, ids[0][:12])
        check("approvals list (default pending) table: row with status and policy id",
              "Approvals (pending)" in r.out and row is not None and row[1] == "pending"
              and row[2] == made[0]["policy_id"][:12] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row[3] or ""),
              r.out[-600:])
    r = cli_ok("approvals approve", "approvals", "approve", ids[0])
    if r:
        check_eq("approvals approve: output", r.out.strip(), f"Approved: {ids[0]}")
    r = cli_ok("approvals deny", "approvals", "deny", ids[1])
    if r:
        check_eq("approvals deny: output", r.out.strip(), f"Denied: {ids[1]}")
    r = cli("approvals", "approve", ids[0])
    check("approvals approve of a resolved approval: exit 1 with `Error 404`",
          r.rc == 1 and r.err.startswith("Error 404"), r.describe())
    for status, want_in, want_out in (("pending", ids[2], ids[0]), ("approved", ids[0], ids[1]),
                                      ("denied", ids[1], ids[2])):
        items = cli_json(f"approvals list --status {status}", "approvals", "list", "--status", status, "--json")
        if isinstance(items, list):
            got = {a.get("id") for a in items}
            check(f"approvals list --status {status}: filtered by status",
                  want_in in got and want_out not in got and all(a.get("status") == status for a in items),
                  repr([(a.get("id"), a.get("status")) for a in items]))
    items = cli_json("approvals list --status expired", "approvals", "list", "--status", "expired", "--json")
    if isinstance(items, list):
        check("approvals list --status expired: none of ours", not ({a.get("id") for a in items} & set(ids)), "")


def parse_new_key(label: str, r: Result, first_line: str):
    ls = [ln for ln in lines(r.out) if ln]
    ok = (len(ls) == 3 and ls[0] == first_line and RAW_KEY_RE.match(ls[1] or "")
          and ls[2] == "Copy this now — it will not be shown again.")
    check(f"{label}: prints `{first_line}`, the raw key, then the copy warning", bool(ok), r.out)
    return ls[1] if ok else None


def section_keys():
    keys: dict[str, dict] = {}
    for name, extra in ((f"cli-admin-{RUN}", ["--scope", "*"]),
                        (f"cli-default-{RUN}", []),
                        (f"cli-multi-{RUN}", ["--scope", "traces:read", "--scope", "budgets:read",
                                              "--expires-at", "2099-01-01T00:00:00Z"])):
        r = cli_ok("keys create", "keys", "create", "--name", name, *extra)
        if r:
            raw = parse_new_key(f"keys create {name}", r, f"Created API key '{name}'")
            if raw:
                keys[name] = {"raw": raw}
    items = cli_json("keys list --json", "keys", "list", "--json")
    if isinstance(items, list):
        by = {k.get("name"): k for k in items}
        for name, k in keys.items():
            row = by.get(name)
            if check(f"keys list --json: {name} listed with key_prefix = first 12 chars", row is not None
                     and row.get("key_prefix") == k["raw"][:12], repr(row)[:300]):
                k["id"] = row["id"]
                k["scopes"] = row.get("scopes")
                k["expires_at"] = row.get("expires_at")
        check("keys list --json: the dev key is listed", DEV_KEY_ID in {k.get("id") for k in items}, "")
        adm, dfl, mul = (keys.get(f"cli-{x}-{RUN}", {}) for x in ("admin", "default", "multi"))
        check_eq("keys create --scope '*': scopes", adm.get("scopes"), ["*"])
        check("keys create without --scope: SDK default scopes (traces:write, policies:read)",
              isinstance(dfl.get("scopes"), list) and {"traces:write", "policies:read"} <= set(dfl["scopes"]),
              repr(dfl.get("scopes")))
        check_eq("keys create with two --scope and --expires-at: scopes", sorted(mul.get("scopes") or []),
                 ["budgets:read", "traces:read"])
        check("keys create --expires-at: stored expiry", str(mul.get("expires_at") or "").startswith("2099-01-01T00:00:00"),
              repr(mul.get("expires_at")))
    r = cli_ok("keys list table", "keys", "list")
    adm = keys.get(f"cli-admin-{RUN}", {})
    mul = keys.get(f"cli-multi-{RUN}", {})
    if r and adm.get("id") and mul.get("id"):
        rows = table_rows(r.out)
        ra, rm = row_with(rows, 0, adm["id"][:12]), row_with(rows, 0, mul["id"][:12])
        check_eq("keys list table: admin key row", ra, [adm["id"][:12], f"cli-admin-{RUN}", adm["raw"][:12], "*", "never"])
        check("keys list table: expiring key row",
              rm is not None and rm[2] == mul["raw"][:12] and set(rm[3].split(", ")) == {"traces:read", "budgets:read"}
              and rm[4] == "2099-01-01T00:00:00", repr(rm))
    for name, k in keys.items():
        if name.startswith("cli-multi"):  # traces:read + budgets:read: GET /v1/policies would be 403
            check_eq(f"key {name} authenticates (GET /v1/spans)", api("GET", "/v1/spans", key=k["raw"])[0], 200)
            check_eq(f"key {name} is limited to its scopes (GET /v1/policies)", key_status(k["raw"]), 403)
            continue
        check(f"key {name} authenticates (GET /v1/policies 200)", key_status(k["raw"]) == 200, "")

    # rotate the default key
    dfl = keys.get(f"cli-default-{RUN}", {})
    if dfl.get("id"):
        r = cli_ok("keys rotate", "keys", "rotate", dfl["id"])
        if r:
            new_raw = parse_new_key("keys rotate", r, f"Rotated key {dfl['id'][:12]}")
            if new_raw:
                keys[f"cli-default-{RUN} (rotated)"] = {"raw": new_raw}
                check("keys rotate: the new key authenticates", key_status(new_raw) == 200, "")
                check("keys rotate: the old key still works during the grace period", key_status(dfl["raw"]) == 200, "")
                status, body = api("GET", "/v1/api_keys")
                rot = [k for k in (body or {}).get("api_keys", []) if k.get("name") == f"cli-default-{RUN} (rotated)"]
                check("keys rotate: new key listed as `<name> (rotated)` with rotated_from_id",
                      len(rot) == 1 and rot[0].get("rotated_from_id") == dfl["id"], repr(rot)[:300])
    # revoke the expiring key
    if mul.get("id"):
        r = cli("keys", "revoke", mul["id"])
        check("keys revoke without --yes: `Aborted!`, exit 1", r.rc == 1 and "Aborted!" in r.err, r.describe())
        r = cli_ok("keys revoke", "keys", "revoke", mul["id"], "--yes")
        if r:
            check_eq("keys revoke: output", r.out.strip(), f"Revoked key {mul['id'][:12]}")
            check_eq("keys revoke: the revoked key gets 401", api("GET", "/v1/spans", key=mul["raw"])[0], 401)
            items = cli_json("keys list after revoke", "keys", "list", "--json")
            if isinstance(items, list):
                check("keys list after revoke: the revoked key is gone", mul["id"] not in {k.get("id") for k in items}, "")
        keys.pop(f"cli-multi-{RUN}", None)
    STATE["keys"] = keys


def section_projects():
    slug = f"compat-{RUN}"
    name = f"Compat CLI {RUN}"
    r = cli_ok("projects create", "projects", "create", "--name", name, "--slug", slug)
    pid = key = None
    if r:
        ls = lines(r.out)
        m = re.fullmatch(rf"Project created: {slug} \(({UUID_RE})\)", ls[0] if ls else "")
        k = re.fullmatch(r"  API key: (stra_\S+)", ls[1] if len(ls) > 1 else "")
        if check("projects create: prints `Project created: <slug> (<id>)` and `  API key: <key>`",
                 m is not None and k is not None, r.out):
            pid, key = m.group(1), k.group(1)
            status, body = api("GET", "/v1/policies", key=key)
            check("projects create: the new project's key works and sees its own (empty) project",
                  status == 200 and (body or {}).get("policies") == [], f"{status} {body}")
    items = cli_json("projects list --json", "projects", "list", "--json")
    if isinstance(items, list):
        by = {p.get("slug"): p for p in items}
        check_eq("projects list --json: the new project (id, name)",
                 ((by.get(slug) or {}).get("id"), (by.get(slug) or {}).get("name")), (pid, name))
        check_eq("projects list --json: the default project", (by.get("default") or {}).get("id"), DEFAULT_PROJECT_ID)
    r = cli_ok("projects list table", "projects", "list")
    if r and pid:
        row = row_with(table_rows(r.out), 0, slug)
        check("projects list table: row Slug, Name, ID (12), Created",
              row is not None and row[1] == name and row[2] == pid[:12]
              and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row[3] or ""), repr(row))
    r = cli("projects", "create", "--name", name, "--slug", slug)
    check("projects create with a taken slug: exit 1 with `Error 409`", r.rc == 1 and r.err.startswith("Error 409"),
          r.describe())
    STATE["other_project_key"] = key


def section_audit_notifications():
    # Earlier sections changed policies, halts and budgets: each left an audit event.
    items = cli_json("audit list --json", "audit", "list", "--limit", "200", "--json")
    if isinstance(items, list):
        actions = {e.get("action") for e in items}
        check("audit list --json: policy and halt changes are in the log",
              {"policy.create", "halt.issue"} <= actions, sorted(a for a in actions if a))
        first = next((e for e in items if e.get("action") == "policy.create"), {})
        check("audit list --json: the CLI's columns are filled (created_at, category, actor_key_prefix)",
              bool(first.get("created_at")) and first.get("category") == "policy"
              and (first.get("actor_key_prefix") or "").startswith("stra_"), first)
    items = cli_json("audit list --action", "audit", "list", "--action", "halt.issue", "--json")
    if isinstance(items, list):
        check("audit list --action halt.issue: only halt.issue events",
              bool(items) and all(e.get("action") == "halt.issue" for e in items), [e.get("action") for e in items])
    r = cli_ok("audit list table", "audit", "list", "--limit", "5")
    if r:
        check("audit list table: prints rows", len(table_rows(r.out)) >= 1, r.out)

    status, created = api("POST", "/v1/notification-channels",
                          {"channel_type": "webhook", "name": f"ops-{RUN}", "config": {"url": "https://hooks.example.com/x"},
                           "events": ["policy_alert"]})
    check_eq("notification channel created through the API", status, 201)
    items = cli_json("notifications list --json", "notifications", "list", "--json")
    if isinstance(items, list):
        mine = [c for c in items if c.get("name") == f"ops-{RUN}"]
        check("notifications list --json: the channel with its type and events",
              len(mine) == 1 and mine[0].get("channel_type") == "webhook" and mine[0].get("events") == ["policy_alert"], items)
    r = cli_ok("notifications list table", "notifications", "list")
    if r:
        check("notifications list table: the channel's row", row_with(table_rows(r.out), 1, f"ops-{RUN}") is not None, r.out)


def section_admin_accounts():
    status, before = api("GET", "/v1/members")
    check_eq("GET /v1/members with the dev key", status, 200)
    first = status == 200 and not (before or {}).get("data")
    owner, other = f"owner-{RUN}@example.com", f"viewer-{RUN}@example.com"
    pw = f"Correct-Horse-{RUN}-9"
    r = cli_ok("admin create-user (first user)", "admin", "create-user", "--email", owner, "--password", pw,
               "--display-name", "Ops Owner", "--role", "admin")
    if r:
        check_eq("admin create-user: confirmation line", r.out.strip(), f"User {owner} created (admin)")
    r = cli_ok("admin create-user (second user)", "admin", "create-user", "--email", other, "--password", pw,
               "--role", "viewer")
    status, _ = api("POST", "/v1/auth/login", {"email": other, "password": pw})
    check_eq("admin create-user: the new user can log in with the given password", status, 200)
    r = cli("admin", "create-user", "--email", other, "--password", pw, "--role", "viewer")
    check("admin create-user twice: non-zero exit, the 409 detail shown",
          r.rc != 0 and "Email already registered" in (r.out + r.err), r.describe())

    status, _ = api("POST", "/v1/auth/login", {"email": owner, "password": pw})
    check_eq("the first user logs in", status, 200)
    items = cli_json("admin list-users --json", "admin", "list-users", "--json")
    if isinstance(items, list) and first:
        mine = [m for m in items if m.get("email") == owner]
        check("admin list-users --json: the first user owns the default project, last active at login",
              len(mine) == 1 and mine[0].get("role") == "owner" and mine[0].get("display_name") == "Ops Owner"
              and mine[0].get("mfa_enabled") is False and mine[0].get("last_active"), items)
        check("admin list-users --json: a user without membership is not listed",
              all(m.get("email") != other for m in items), items)
        r = cli_ok("admin list-users table", "admin", "list-users")
        if r:
            row = row_with(table_rows(r.out), 0, owner)
            check("admin list-users table: owner row (email, name, role, MFA)",
                  row is not None and row[1:4] == ["Ops Owner", "owner", "no"], r.out)

    r = cli_ok("admin reset-password", "admin", "reset-password", "--email", other)
    temp = None
    if r:
        m = re.search(r"Temporary password: (\S+)", r.out)
        temp = m.group(1) if m else None
        check("admin reset-password: prints the temporary password and the next-login note",
              temp is not None and "User must change password on next login." in r.out, r.out)
    status, _ = api("POST", "/v1/auth/login", {"email": other, "password": pw})
    check_eq("admin reset-password: the old password no longer works", status, 401)
    if temp:
        status, body = api("POST", "/v1/auth/login", {"email": other, "password": temp})
        check("admin reset-password: the temporary password logs in and forces a change",
              status == 200 and (body or {}).get("force_password_change") is True, f"{status} {body}")
    if first:
        status, _ = api("POST", "/v1/members", {"email": other, "role": "admin"})
        check_eq("admin transfer-ownership setup: the second user joins as admin", status, 201)
        status, members = api("GET", "/v1/members")
        target = next((m["id"] for m in (members or {}).get("data", []) if m.get("email") == other), None)
        r = cli_ok("admin transfer-ownership", "admin", "transfer-ownership", "--to", str(target))
        if r:
            check_eq("admin transfer-ownership: confirmation line", r.out.strip(), "Ownership transferred.")
        if temp:
            status, login = api("POST", "/v1/auth/login", {"email": other, "password": temp})
            token = (login or {}).get("token", "")
            req = urllib.request.Request(ENDPOINT + "/v1/ownership-transfers/pending", headers={
                "Authorization": f"Bearer {token}", "X-Project-Id": DEFAULT_PROJECT_ID})
            try:
                with urllib.request.urlopen(req, timeout=15) as resp:
                    offers = json.loads(resp.read()).get("data", [])
            except urllib.error.HTTPError as exc:
                offers = f"{exc.code} {exc.read()[:200]!r}"
            check("admin transfer-ownership: the admin sees the owner's offer, awaiting acceptance",
                  isinstance(offers, list) and len(offers) == 1 and offers[0].get("email") == owner, offers)
        r = cli("admin", "transfer-ownership", "--to", str(uuid.uuid4()))
        check("admin transfer-ownership to a non-member: non-zero exit, `Member not found`",
              r.rc != 0 and "Member not found" in (r.out + r.err), r.describe())

    r = cli("admin", "reset-password", "--email", f"nobody-{RUN}@example.com")
    check("admin reset-password for an unknown email: non-zero exit, `User not found`",
          r.rc != 0 and "User not found" in (r.out + r.err), r.describe())


def section_revoke_all():
    if EXTERNAL:
        print("SKIP admin revoke-all-keys: external receiver (would revoke keys this suite does not own)", flush=True)
        return
    status, body = api("GET", "/v1/api_keys")
    listed = (body or {}).get("api_keys", []) if status == 200 else []
    check("admin revoke-all-keys setup: GET /v1/api_keys also returns `data` (what the CLI reads)",
          isinstance((body or {}).get("data"), list) and
          [k.get("id") for k in body["data"]] == [k.get("id") for k in listed], f"keys {sorted(body or {})}")
    r = cli("admin", "revoke-all-keys")
    check("admin revoke-all-keys without --yes: `Aborted!`, exit 1, nothing revoked",
          r.rc == 1 and "Aborted!" in r.err and key_status(API_KEY) == 200, r.describe())
    r = cli_ok("admin revoke-all-keys", "admin", "revoke-all-keys", "--yes")
    if r:
        check_eq("admin revoke-all-keys: output counts every key of the project",
                 r.out.strip(), f"Revoked {len(listed)} API keys.")
    check("admin revoke-all-keys: revoked the project's keys (listed > 1)", len(listed) > 1, f"{len(listed)} listed")
    known = {"dev key": API_KEY}
    known.update({n: k["raw"] for n, k in (STATE.get("keys") or {}).items()})
    for n, raw in known.items():
        check_eq(f"admin revoke-all-keys: {n} is revoked (401)", key_status(raw), 401)
    if STATE.get("other_project_key"):
        check_eq("admin revoke-all-keys: another project's key is untouched",
                 key_status(STATE["other_project_key"]), 200)


def main() -> None:
    print(f"compat cli: {CLI} -> {ENDPOINT} (run {RUN})", flush=True)
    for section in (section_version, section_ingest, section_traces, section_spans, section_policies,
                    section_agents_compliance, section_halts, section_budgets, section_approvals,
                    section_keys, section_projects, section_audit_notifications, section_admin_accounts,
                    section_revoke_all):
        try:
            section()
        except Exception:
            check(f"{section.__name__} ran to completion", False, traceback.format_exc())
    finish()


if __name__ == "__main__":
    main()
