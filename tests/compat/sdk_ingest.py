#!/usr/bin/env python3
"""SDK ingest compatibility: the published strathon==1.4.0 SDK records tool
calls, exports them over OTLP/HTTP (protobuf) to the receiver, and the spans
come back intact through the receiver's read API.

Run by sdk_ingest.sh (which starts a receiver and exports STRATHON_ENDPOINT /
STRATHON_API_KEY). Uses only the standard library besides the SDK.

The SDK 1.4.0 has no framework-free "record a tool call" decorator. The tool
calls here go through three public SDK surfaces that need no LLM framework and
no network besides the receiver (see NOTES.md):

  A. the LangChain/LangGraph callback handler
     (strathon.instrumentation.langgraph.StrathonLangGraphHandler), driven with
     the exact callbacks LangChain's BaseTool.run fires: on_chain_start,
     on_tool_start, on_tool_end / on_tool_error, on_chain_end. Three tool calls
     (dict args, plain-string args, one that raises) under one chain span.
  B. the Claude Agent SDK hooks from create_strathon_hooks(client) (plain
     dicts when claude_agent_sdk is not installed): PreToolUse + PostToolUse.
  C. a manual span on client.tracer (documented on Client) carrying the
     SDK's tool attributes (build_tool_span_attrs) plus an explicit agent name
     and non-string attribute values.

Prints one PASS/FAIL line per check and ends with "<n> passed, <m> failed".
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
import logging

import strathon
from strathon import Client
from strathon.instrumentation.claude_agent import create_strathon_hooks
from strathon.instrumentation.langgraph import StrathonLangGraphHandler
from strathon.policy.steer import build_tool_span_attrs

DEV_KEY = "stra_dev_local_default_project_do_not_use_in_production"
DEFAULT_PROJECT_ID = "00000000-0000-0000-0000-000000000001"

ENDPOINT = os.environ.get("STRATHON_ENDPOINT", "http://localhost:4318").rstrip("/")
API_KEY = os.environ.get("STRATHON_API_KEY") or DEV_KEY
PROJECT_ID = os.environ.get("COMPAT_PROJECT_ID", DEFAULT_PROJECT_ID)
POLL_TIMEOUT = float(os.environ.get("COMPAT_POLL_TIMEOUT", "30"))

RUN = secrets.token_hex(3)
SERVICE_NAME = f"compat-sdk-svc-{RUN}"
AGENT_NAME = f"compat-sdk-agent-{RUN}"
ENVIRONMENT = "compat"
CHAIN_NAME = f"compat_graph_{RUN}"

TOOL_DICT = f"lookup_order_{RUN}"      # A: dict inputs, succeeds
TOOL_STR = f"summarize_{RUN}"          # A: plain string input, succeeds
TOOL_FAIL = f"read_file_{RUN}"         # A: raises
TOOL_HOOK = f"list_dir_{RUN}"          # B: Claude Agent SDK hooks
TOOL_MANUAL = f"send_report_{RUN}"     # C: manual client.tracer span

DICT_INPUTS = {"order_id": 4711, "fields": ["status", "eta"], "express": True}
STR_INPUT = "quarterly numbers for the compat run"
FAIL_INPUTS = {"path": "/srv/compat/missing.txt"}
FAIL_MESSAGE = "compat tool failure: file is missing"
HOOK_INPUT = {"directory": "/srv/compat", "recursive": False}
MANUAL_INPUTS = {"channel": "compat", "pages": 3}


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


# Capture errors the OTLP exporter logs (non-2xx from POST /v1/traces, encode
# failures, retries) so an ingest rejection is reported as a check, not only
# as stderr noise.
class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(f"{record.name}: {record.getMessage()}")
        except Exception:
            self.records.append(f"{record.name}: <unformattable>")


EXPORT_LOG = _Capture()
logging.getLogger("opentelemetry").addHandler(EXPORT_LOG)
logging.getLogger("opentelemetry.exporter").setLevel(logging.WARNING)


# ---------------------------------------------------------------------------
# Receiver read API (urllib)
# ---------------------------------------------------------------------------

def api_get(path: str, params: dict | None = None):
    url = ENDPOINT + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(
        url,
        headers={"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read().decode("utf-8"))


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        try:
            body = exc.read().decode("utf-8", "replace")[:300]
        except Exception:
            body = ""
        return f"HTTP {exc.code} {body}".strip()
    return f"{type(exc).__name__}: {exc}"


def poll(what: str, fetch, done, timeout: float = POLL_TIMEOUT):
    """Call fetch() until done(result) or timeout; returns (result, last_error)."""
    deadline = time.monotonic() + timeout
    result, last_error = None, None
    while True:
        try:
            result = fetch()
            last_error = None
            if done(result):
                return result, None
        except Exception as exc:  # receiver not there yet / endpoint missing
            last_error = describe_error(exc)
        if time.monotonic() >= deadline:
            return result, last_error or f"{what}: condition not met within {timeout:.0f}s"
        time.sleep(0.5)


def spans_for_tool(tool: str) -> list:
    status, body = api_get("/v1/spans", {"tool_name": tool, "limit": 50})
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise RuntimeError(f"unexpected /v1/spans response {status}: {str(body)[:200]}")
    return body["data"]


# ---------------------------------------------------------------------------
# Recording tool calls through the SDK
# ---------------------------------------------------------------------------

class CompatToolError(RuntimeError):
    pass


def run_langchain_tool(handler, name, func, *, tool_input, inputs, parent_run_id):
    """What langchain_core BaseTool.run does around a tool body: on_tool_start
    (serialized={"name": ...}, input_str, inputs=...), then on_tool_end with the
    output or on_tool_error with the exception, which is re-raised."""
    run_id = uuid.uuid4()
    handler.on_tool_start(
        {"name": name, "description": f"compat tool {name}"},
        tool_input if isinstance(tool_input, str) else str(tool_input),
        run_id=run_id,
        parent_run_id=parent_run_id,
        tags=["compat"],
        metadata={"compat_run": RUN},
        inputs=inputs,
    )
    try:
        output = func()
    except BaseException as exc:
        handler.on_tool_error(exc, run_id=run_id, parent_run_id=parent_run_id)
        raise
    handler.on_tool_end(output, run_id=run_id, parent_run_id=parent_run_id)
    return output


def record_langgraph_calls(client) -> dict:
    handler = StrathonLangGraphHandler(client)
    chain_run = uuid.uuid4()
    handler.on_chain_start(
        {"name": CHAIN_NAME, "id": ["compat", CHAIN_NAME]},
        {"question": "where is order 4711?"},
        run_id=chain_run,
        parent_run_id=None,
        tags=["compat"],
        metadata={"langgraph_node": "agent", "langgraph_step": 1},
    )
    results = {}
    results["dict"] = run_langchain_tool(
        handler, TOOL_DICT, lambda: {"status": "shipped", "eta": "tomorrow"},
        tool_input=DICT_INPUTS, inputs=DICT_INPUTS, parent_run_id=chain_run,
    )
    results["str"] = run_langchain_tool(
        handler, TOOL_STR, lambda: "numbers look fine",
        tool_input=STR_INPUT, inputs=None, parent_run_id=chain_run,
    )

    def failing():
        raise CompatToolError(FAIL_MESSAGE)

    try:
        run_langchain_tool(
            handler, TOOL_FAIL, failing,
            tool_input=FAIL_INPUTS, inputs=FAIL_INPUTS, parent_run_id=chain_run,
        )
        results["fail_raised"] = False
    except CompatToolError:
        results["fail_raised"] = True
    handler.on_chain_end({"answer": "shipped"}, run_id=chain_run, parent_run_id=None)
    return results


def record_claude_hook_call(client) -> dict:
    hooks = create_strathon_hooks(client)
    pre = hooks["PreToolUse"][0]["hooks"][0]
    post = hooks["PostToolUse"][0]["hooks"][0]
    tool_use_id = f"toolu_{RUN}"

    async def run():
        pre_out = await pre({"tool_name": TOOL_HOOK, "tool_input": HOOK_INPUT}, tool_use_id, None)
        post_out = await post(
            {"tool_name": TOOL_HOOK, "tool_input": HOOK_INPUT, "result": ["a.txt", "b.txt"]},
            tool_use_id, None,
        )
        return pre_out, post_out

    pre_out, post_out = asyncio.run(run())
    return {"pre": pre_out, "post": post_out}


def record_manual_call(client) -> dict:
    attrs = build_tool_span_attrs(type("Tool", (), {"name": TOOL_MANUAL})(), MANUAL_INPUTS, "compat")
    attrs.update({
        "gen_ai.agent.name": AGENT_NAME,
        "strathon.agent.name": AGENT_NAME,
        "strathon.tool.run_attempts": 2,          # int
        "strathon.tool.from_cache": False,        # bool
        "strathon.tool.duration_ms": 12.5,        # double
        "compat.tags": ["alpha", "beta"],         # array (generic OTel value)
    })
    with client.tracer.start_as_current_span(f"compat.tool.{TOOL_MANUAL}", attributes=attrs) as span:
        ctx = span.get_span_context()
        span.set_attribute("strathon.tool.output", "sent")
    return {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
    }


# ---------------------------------------------------------------------------
# Assertions on what the receiver stored
# ---------------------------------------------------------------------------

def attrs_of(span) -> dict:
    a = span.get("attributes")
    return a if isinstance(a, dict) else {}


def check_resource_attrs(label: str, span) -> None:
    a = attrs_of(span)
    check_eq(f"{label}: resource service.name merged into attributes", a.get("service.name"), SERVICE_NAME)
    check_eq(f"{label}: resource telemetry.sdk.language merged into attributes",
             a.get("telemetry.sdk.language"), "python")
    check_eq(f"{label}: resource deployment.environment merged into attributes",
             a.get("deployment.environment"), ENVIRONMENT)
    check_eq(f"{label}: resource strathon.project_id merged into attributes",
             a.get("strathon.project_id"), PROJECT_ID)


def check_tool_identity(label: str, span, tool: str, span_name: str, framework: str) -> None:
    a = attrs_of(span)
    check_eq(f"{label}: span name", span.get("name"), span_name)
    check_eq(f"{label}: tool_name column (from gen_ai.tool.name)", span.get("tool_name"), tool)
    check_eq(f"{label}: attributes gen_ai.tool.name", a.get("gen_ai.tool.name"), tool)
    check_eq(f"{label}: attributes strathon.tool.name", a.get("strathon.tool.name"), tool)
    check_eq(f"{label}: attributes strathon.framework", a.get("strathon.framework"), framework)


def check_json_args(label: str, span, expected) -> None:
    raw = attrs_of(span).get("strathon.tool.args")
    if not check(f"{label}: strathon.tool.args is a JSON string", isinstance(raw, str),
                 f"got {raw!r}"):
        return
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        check(f"{label}: strathon.tool.args parses as JSON and equals the tool input", False,
              f"{exc}: {raw!r}")
        return
    check_eq(f"{label}: strathon.tool.args parses as JSON and equals the tool input", parsed, expected)


def single(label: str, spans: list, name: str):
    matching = [s for s in spans if s.get("name") == name]
    if not check(f"{label}: exactly one stored span named {name}", len(matching) == 1,
                 f"found {len(matching)} (names: {[s.get('name') for s in spans]})"):
        return matching[0] if matching else (spans[0] if spans else None)
    return matching[0]


def main() -> None:
    print(f"compat sdk_ingest: strathon {strathon.__version__} -> {ENDPOINT} "
          f"(service {SERVICE_NAME}, run {RUN})", flush=True)
    check_eq("installed SDK is strathon 1.4.0", strathon.__version__, "1.4.0")

    # -- Client: synchronous GET /v1/policies + POST /v1/intervention/sync --
    client = Client(
        api_key=API_KEY,
        endpoint=ENDPOINT,
        project_id=PROJECT_ID,
        environment=ENVIRONMENT,
        service_name=SERVICE_NAME,
    )
    perr = client.policy_enforcer.last_refresh_error if client.policy_enforcer else "no enforcer"
    herr = client.halt_enforcer.last_refresh_error if client.halt_enforcer else "no enforcer"
    check("Client() policy fetch GET /v1/policies?project_id=... succeeded", perr is None, str(perr))
    check("Client() halt sync POST /v1/intervention/sync succeeded", herr is None, str(herr))

    # -- Record tool calls --
    try:
        lg = record_langgraph_calls(client)
        check("LangGraph handler: tool calls ran and returned their outputs",
              lg.get("dict") == {"status": "shipped", "eta": "tomorrow"} and lg.get("str") == "numbers look fine",
              repr(lg))
        check("LangGraph handler: failing tool's exception propagated", lg.get("fail_raised") is True)
    except Exception:
        check("LangGraph handler: recording tool calls raised no SDK error", False, traceback.format_exc())
    try:
        hook = record_claude_hook_call(client)
        check_eq("Claude Agent SDK hooks: PreToolUse allowed the call (no policies)", hook["pre"], {})
    except Exception:
        check("Claude Agent SDK hooks: recording raised no SDK error", False, traceback.format_exc())
    manual = {}
    try:
        manual = record_manual_call(client)
    except Exception:
        check("client.tracer manual span: recording raised no SDK error", False, traceback.format_exc())

    # -- Export --
    flushed = client.flush(timeout_millis=30000)
    check("client.flush() returned True (export attempts finished within 30s)", flushed is True, f"returned {flushed!r}")
    export_errors = [r for r in EXPORT_LOG.records if "export" in r.lower() or "batch" in r.lower()]
    check("OTLP exporter logged no error for POST /v1/traces (non-2xx, retry, encode)", not export_errors,
          "; ".join(export_errors[-3:]))

    # -- Poll the read API until every tool span arrived --
    tools = [TOOL_DICT, TOOL_STR, TOOL_FAIL, TOOL_HOOK, TOOL_MANUAL]
    found: dict[str, list] = {}

    def fetch_all():
        for t in tools:
            if not found.get(t):
                found[t] = spans_for_tool(t)
        return found

    _, err = poll("spans", fetch_all, lambda f: all(f.get(t) for t in tools))
    for t in tools:
        check(f"GET /v1/spans?tool_name={t} returned the span within {POLL_TIMEOUT:.0f}s",
              bool(found.get(t)), err or "no span")

    # -- A: LangGraph handler spans --
    trace_ids = set()
    parents = set()
    chain_span_id = None
    if found.get(TOOL_DICT):
        s = single("A dict-args tool", found[TOOL_DICT], f"langgraph.tool.{TOOL_DICT}")
        check_tool_identity("A dict-args tool", s, TOOL_DICT, f"langgraph.tool.{TOOL_DICT}", "langgraph")
        check_json_args("A dict-args tool", s, DICT_INPUTS)
        check_eq("A dict-args tool: status_code", s.get("status_code"), "OK")
        check_eq("A dict-args tool: agent_name falls back to resource service.name",
                 s.get("agent_name"), SERVICE_NAME)
        check("A dict-args tool: intervention_state is null", s.get("intervention_state") is None,
              repr(s.get("intervention_state")))
        out = attrs_of(s).get("strathon.tool.output")
        check("A dict-args tool: strathon.tool.output recorded", isinstance(out, str) and "shipped" in out, repr(out))
        cost = s.get("cost_usd", (s.get("cost") or {}).get("cost_usd") if isinstance(s.get("cost"), dict) else None)
        check("A dict-args tool: no model and no tokens -> cost_usd is null", cost is None, repr(cost))
        check_resource_attrs("A dict-args tool", s)
        trace_ids.add(s.get("trace_id"))
        parents.add(s.get("parent_span_id"))
    if found.get(TOOL_STR):
        s = single("A string-args tool", found[TOOL_STR], f"langgraph.tool.{TOOL_STR}")
        check_tool_identity("A string-args tool", s, TOOL_STR, f"langgraph.tool.{TOOL_STR}", "langgraph")
        check_eq("A string-args tool: strathon.tool.args is the raw input string",
                 attrs_of(s).get("strathon.tool.args"), STR_INPUT)
        check_eq("A string-args tool: status_code", s.get("status_code"), "OK")
        trace_ids.add(s.get("trace_id"))
        parents.add(s.get("parent_span_id"))
    if found.get(TOOL_FAIL):
        s = single("A failing tool", found[TOOL_FAIL], f"langgraph.tool.{TOOL_FAIL}")
        check_tool_identity("A failing tool", s, TOOL_FAIL, f"langgraph.tool.{TOOL_FAIL}", "langgraph")
        check_json_args("A failing tool", s, FAIL_INPUTS)
        check_eq("A failing tool: status_code", s.get("status_code"), "ERROR")
        msg = s.get("status_message")
        check("A failing tool: status_message carries the exception text",
              isinstance(msg, str) and FAIL_MESSAGE in msg, repr(msg))
        check_eq("A failing tool: agent_name", s.get("agent_name"), SERVICE_NAME)
        trace_ids.add(s.get("trace_id"))
        parents.add(s.get("parent_span_id"))

    if found.get(TOOL_DICT) and found.get(TOOL_STR) and found.get(TOOL_FAIL):
        check("A tools: all three are in one trace", len(trace_ids) == 1 and None not in trace_ids,
              repr(trace_ids))
        parent = next(iter(parents)) if len(parents) == 1 else None
        check("A tools: all three have the same parent_span_id (the chain span)",
              isinstance(parent, str) and len(parent) == 16, repr(parents))
        trace_id = next(iter(trace_ids))
        chain_span_id = parent

        # The whole trace: chain span + 3 tool spans, via /v1/traces.
        def fetch_traces():
            status, body = api_get("/v1/traces", {"limit": 50})
            if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise RuntimeError(f"unexpected /v1/traces response {status}: {str(body)[:200]}")
            return [t for t in body["data"] if t.get("trace_id") == trace_id]

        rows, err = poll("trace", fetch_traces, lambda r: bool(r) and r[0].get("span_count") == 4)
        if check(f"GET /v1/traces?limit=50 lists trace {trace_id}", bool(rows), err or "not listed"):
            t = rows[0]
            check_eq("trace: span_count (chain + 3 tools)", t.get("span_count"), 4)
            check_eq("trace: agent_name", t.get("agent_name"), SERVICE_NAME)
            check_eq("trace: intervention_state", t.get("intervention_state"), "running")

    # -- B: Claude Agent SDK hook span --
    if found.get(TOOL_HOOK):
        s = single("B hook tool", found[TOOL_HOOK], f"claude_agent.tool.{TOOL_HOOK}")
        check_tool_identity("B hook tool", s, TOOL_HOOK, f"claude_agent.tool.{TOOL_HOOK}", "claude_agent_sdk")
        check_json_args("B hook tool", s, HOOK_INPUT)
        check_eq("B hook tool: status_code", s.get("status_code"), "OK")
        dur = attrs_of(s).get("strathon.tool.duration_ms")
        check("B hook tool: strathon.tool.duration_ms stored as a number",
              isinstance(dur, (int, float)) and not isinstance(dur, bool), repr(dur))
        check_eq("B hook tool: strathon.tool.output (JSON of the result)",
                 attrs_of(s).get("strathon.tool.output"), json.dumps(["a.txt", "b.txt"]))
        check_eq("B hook tool: agent_name", s.get("agent_name"), SERVICE_NAME)

    # -- C: manual client.tracer span --
    if found.get(TOOL_MANUAL):
        s = single("C manual span", found[TOOL_MANUAL], f"compat.tool.{TOOL_MANUAL}")
        a = attrs_of(s)
        check_tool_identity("C manual span", s, TOOL_MANUAL, f"compat.tool.{TOOL_MANUAL}", "compat")
        check_json_args("C manual span", s, MANUAL_INPUTS)
        check_eq("C manual span: agent_name column from gen_ai.agent.name", s.get("agent_name"), AGENT_NAME)
        check_eq("C manual span: attributes strathon.agent.name", a.get("strathon.agent.name"), AGENT_NAME)
        check_eq("C manual span: trace_id (lowercase hex, as the SDK generated it)",
                 s.get("trace_id"), manual.get("trace_id"))
        check_eq("C manual span: span_id (lowercase hex, as the SDK generated it)",
                 s.get("span_id"), manual.get("span_id"))
        check("C manual span: parent_span_id is null (root span)", s.get("parent_span_id") is None,
              repr(s.get("parent_span_id")))
        check_eq("C manual span: status_code (unset by the caller)", s.get("status_code"), "UNSET")
        check("C manual span: int attribute stays an integer",
              a.get("strathon.tool.run_attempts") == 2 and type(a.get("strathon.tool.run_attempts")) is int,
              repr(a.get("strathon.tool.run_attempts")))
        check("C manual span: bool attribute stays a boolean", a.get("strathon.tool.from_cache") is False,
              repr(a.get("strathon.tool.from_cache")))
        check_eq("C manual span: double attribute stays a number", a.get("strathon.tool.duration_ms"), 12.5)
        check_eq("C manual span: array attribute becomes a JSON list", a.get("compat.tags"), ["alpha", "beta"])
        check_eq("C manual span: attribute set after start (strathon.tool.output)",
                 a.get("strathon.tool.output"), "sent")

    # -- Heartbeat: emitted at Client() start, intercepted, never stored --
    def fetch_service_spans():
        status, body = api_get("/v1/spans", {"agent_name": SERVICE_NAME, "limit": 200})
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise RuntimeError(f"unexpected /v1/spans response {status}: {str(body)[:200]}")
        return body["data"]

    svc_spans, err = poll("service spans", fetch_service_spans, lambda r: True, timeout=5)
    if check("GET /v1/spans?agent_name=<service> answers", svc_spans is not None, err or ""):
        hb = [s for s in svc_spans if s.get("name") == "strathon.heartbeat"]
        check("heartbeat span (strathon.heartbeat) is intercepted, not stored", not hb,
              f"{len(hb)} stored")
        # A's chain span: the parent of the three tool spans, no tool_name.
        chains = [s for s in svc_spans if s.get("name") == f"langgraph.chain.{CHAIN_NAME}"]
        if check(f"A chain span langgraph.chain.{CHAIN_NAME} stored", len(chains) == 1,
                 f"found {len(chains)}"):
            c = chains[0]
            ca = attrs_of(c)
            if chain_span_id is not None:
                check_eq("A chain span: span_id is the tools' parent_span_id", c.get("span_id"), chain_span_id)
            check("A chain span: parent_span_id is null (root span)", c.get("parent_span_id") is None,
                  repr(c.get("parent_span_id")))
            check_eq("A chain span: status_code", c.get("status_code"), "OK")
            check_eq("A chain span: tool_name is null", c.get("tool_name"), None)
            check_eq("A chain span: attributes langgraph.chain.name", ca.get("langgraph.chain.name"), CHAIN_NAME)
            check_eq("A chain span: attributes langgraph.node.name", ca.get("langgraph.node.name"), "agent")
            check_eq("A chain span: attributes strathon.framework", ca.get("strathon.framework"), "langgraph")

    client.shutdown()
    finish()


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception:
        check("sdk_ingest.py ran to completion", False, traceback.format_exc())
        finish()
