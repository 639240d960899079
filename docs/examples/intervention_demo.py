#!/usr/bin/env python3
"""Strathon intervention demo: a block, a steer, a halt and a budget stop.

An "agent" made of plain Python functions runs against a Strathon receiver
with the published SDK (`pip install strathon==1.4.0`). No LLM and no
provider key are involved: the tools are ordinary functions, and the one
"model call" is a span that reports the tokens a real call would have used.

    python docs/examples/intervention_demo.py

Environment:
    STRATHON_ENDPOINT  the receiver (default http://localhost:4318)
    STRATHON_API_KEY   a key with policies, halts, budgets and traces scopes
                       (default: the development key, seeded by
                       STRATHON_SEED_DEV_KEY=true or `strathon dev`)

The demo creates what it needs through the REST API (two policies, a halt
and a budget) and deletes it again at the end, even when something fails.
Everything is scoped to a demo agent with a fresh name, so other agents of
the project are never stopped. Exit code 0 only if all four interventions
happened.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

try:
    import strathon
    from strathon import Client, StrathonHaltExceeded, StrathonPolicyBlocked
    from strathon.policy.steer import build_tool_span_attrs, dispatch_policy_decision
except ImportError:
    sys.exit("This demo needs the Strathon SDK: pip install strathon==1.4.0")

DEV_KEY = "stra_dev_local_default_project_do_not_use_in_production"
ENDPOINT = (os.environ.get("STRATHON_ENDPOINT") or "http://localhost:4318").rstrip("/")
API_KEY = os.environ.get("STRATHON_API_KEY") or DEV_KEY
RUN = secrets.token_hex(3)
AGENT = f"demo-agent-{RUN}"

# The SDK polls halts every second; the budget monitor runs every
# STRATHON_BUDGET_EVAL_INTERVAL_SECONDS (5 by default).
HALT_WAIT_S = 10
BUDGET_WAIT_S = 30


# --------------------------------------------------------------------------
# A little REST client (the SDK itself only reads policies and halts)
# --------------------------------------------------------------------------

class ApiError(Exception):
    pass


def api(method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        ENDPOINT + path, data=data, method=method,
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise ApiError(f"{method} {path} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(f"cannot reach {ENDPOINT}: {exc}") from None


CREATED: list[tuple[str, str]] = []   # (what, DELETE path), undone in reverse order


def create(what: str, path: str, body: dict) -> dict:
    obj = api("POST", path, body)
    obj = obj.get(what, obj) if isinstance(obj, dict) else obj
    CREATED.append((what, f"{path}/{obj['id']}"))
    return obj


def clean_up() -> None:
    undone = []
    for what, path in reversed(CREATED):
        try:
            api("DELETE", path)
            undone.append(what)
        except ApiError as exc:
            if " 404" not in str(exc) and " 409" not in str(exc):
                print(f"   could not remove {what} {path}: {exc}")
    CREATED.clear()
    if undone:
        print(f"Cleaned up: {', '.join(undone)}.")


# --------------------------------------------------------------------------
# The agent: plain functions, guarded by the SDK
# --------------------------------------------------------------------------

def guarded(client: Client):
    """Make a plain function a guarded tool: before its body runs, the SDK
    checks halts and policies and either runs it, returns a steer's
    replacement, or raises.

    This goes through the SDK's shared tool-boundary dispatcher (what its
    CrewAI, OpenAI Agents and ADK adapters use) rather than enforce_steer,
    because it can carry the agent's name: halts and budgets below target
    this demo agent only, never the rest of the project.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def call(**kwargs):
            attrs = build_tool_span_attrs(SimpleNamespace(name=fn.__name__), kwargs, None)
            attrs["strathon.agent.name"] = AGENT
            attrs["gen_ai.agent.name"] = AGENT
            return dispatch_policy_decision(client, span_name=f"tool.{fn.__name__}", attrs=attrs,
                                            on_allow=lambda: fn(**kwargs))
        call.ran = 0
        return call
    return decorate


def build_tools(client: Client) -> SimpleNamespace:
    tool = guarded(client)

    @tool
    def transfer_funds(amount: int, to: str) -> str:
        transfer_funds.ran += 1
        return f"sent ${amount} to {to}"

    @tool
    def web_search(query: str) -> str:
        web_search.ran += 1
        return f"10 results for {query!r} from the public web"

    @tool
    def summarize_ticket(ticket: int) -> str:
        summarize_ticket.ran += 1
        return f"ticket #{ticket}: customer asks for a refund"

    return SimpleNamespace(transfer_funds=transfer_funds, web_search=web_search, summarize_ticket=summarize_ticket)


def attempt(fn, **kwargs):
    try:
        return "ran", fn(**kwargs)
    except StrathonHaltExceeded as exc:
        return "halted", exc
    except StrathonPolicyBlocked as exc:
        return "blocked", exc


def until(fn, done, timeout: float, interval: float = 0.25):
    start = time.monotonic()
    while True:
        out = fn()
        if done(out) or time.monotonic() - start >= timeout:
            return out, time.monotonic() - start
        time.sleep(interval)


def tool_expr(tool: str) -> str:
    # Tool name first: CEL's && stops there for every other tool call, and
    # the agent's name keeps the policy off the project's real agents.
    return f'attrs["gen_ai.tool.name"] == "{tool}" && attrs["strathon.agent.name"] == "{AGENT}"'


# --------------------------------------------------------------------------
# The four interventions
# --------------------------------------------------------------------------

RESULTS: dict[str, bool] = {}


def outcome(name: str, ok: bool, line: str) -> None:
    RESULTS[name] = ok
    print(f"   {'->' if ok else '!!'} {line}")
    print(f"   {'OK' if ok else 'DID NOT HAPPEN'}\n")


def demo_block(tools) -> None:
    print("1. Block: a policy forbids this agent to move money")
    print('   agent calls transfer_funds(amount=5000, to="ACME Ltd")')
    kind, val = attempt(tools.transfer_funds, amount=5000, to="ACME Ltd")
    ok = kind == "blocked" and tools.transfer_funds.ran == 0
    outcome("block", ok, f"blocked: {val}; the function never ran" if ok else f"{kind}: {val}")


def demo_steer(tools) -> None:
    print("2. Steer: a policy sends web searches to the internal wiki instead")
    print('   agent calls web_search(query="refund policy")')
    kind, val = attempt(tools.web_search, query="refund policy")
    ok = kind == "ran" and tools.web_search.ran == 0 and "wiki" in str(val)
    outcome("steer", ok, f"the agent got {val!r} instead; web_search never ran" if ok else f"{kind}: {val}")


def demo_halt(tools) -> None:
    print("3. Halt: an operator stops the agent, then lets it go again")
    kind, val = attempt(tools.summarize_ticket, ticket=42)
    print(f"   before: summarize_ticket(ticket=42) -> {val}")
    halt = create("halt", "/v1/halts", {"scope": "agent", "scope_value": AGENT,
                                        "reason": "demo: operator pressed stop"})
    print(f"   operator: POST /v1/halts (agent {AGENT}) -> halt #{halt['id']}")
    (kind, val), took = until(lambda: attempt(tools.summarize_ticket, ticket=43), lambda o: o[0] == "halted",
                              HALT_WAIT_S)
    stopped = kind == "halted"
    print(f"   during: summarize_ticket(ticket=43) -> {'halted after %.1f s: %s' % (took, val) if stopped else val}")
    api("DELETE", f"/v1/halts/{halt['id']}")
    (kind, val), took = until(lambda: attempt(tools.summarize_ticket, ticket=44), lambda o: o[0] == "ran",
                              HALT_WAIT_S)
    resumed = kind == "ran"
    print(f"   operator: DELETE /v1/halts/{halt['id']}; after: summarize_ticket(ticket=44) -> {val}")
    outcome("halt", stopped and resumed,
            "stopped within seconds of the halt, running again once it was cleared" if stopped and resumed
            else f"stopped: {stopped}, resumed: {resumed}")


def demo_budget(client: Client, tools) -> None:
    print("4. Budget stop: the agent may spend $0.01; one model call costs more")
    budget = create("budget", "/v1/budgets", {"name": f"demo budget {RUN}", "scope": "agent",
                                              "scope_value": AGENT, "max_spend_usd": "0.01",
                                              "budget_duration": "1h"})
    print(f"   POST /v1/budgets: {AGENT} may spend ${budget.get('max_spend_usd', '0.01')} an hour")
    # What an instrumented LLM call reports: 100 000 gpt-4o input tokens,
    # which the receiver prices at $0.25.
    with client.tracer.start_as_current_span("chat gpt-4o", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.agent.name": AGENT, "gen_ai.usage.input_tokens": 100_000, "gen_ai.usage.output_tokens": 0,
    }):
        pass
    client.flush(timeout_millis=10_000)
    print("   the agent makes one large gpt-4o call (100 000 input tokens, about $0.25)")
    print("   waiting for the budget monitor (it runs every 5 s unless configured otherwise) ...")
    (kind, val), took = until(lambda: attempt(tools.summarize_ticket, ticket=45), lambda o: o[0] == "halted",
                              BUDGET_WAIT_S, interval=0.5)
    ok = kind == "halted" and "budget" in str(val).lower()
    outcome("budget", ok, f"halted after {took:.1f} s: {val}" if ok
            else f"after {took:.0f} s summarize_ticket still {kind}: {val}")


def main() -> int:
    print(f"Strathon intervention demo: SDK {strathon.__version__}, receiver {ENDPOINT}, agent {AGENT}\n")
    try:
        api("GET", "/v1/policies")
    except ApiError as exc:
        print(f"Cannot use the receiver: {exc}")
        if " 401" in str(exc):
            print("Start it with the dev key (STRATHON_SEED_DEV_KEY=true make up, or `strathon dev`),\n"
                  "or set STRATHON_API_KEY to a key with policies, halts, budgets and traces scopes.")
        else:
            print("Start one with `make up` (Docker) or `cargo run -p strathon-server -- dev`.")
        return 2

    client = None
    try:
        # Policies first: a Client reads them when it starts (then every 30 s).
        create("policy", "/v1/policies", {
            "name": f"demo: no transfers ({RUN})", "action": "block",
            "match_expression": tool_expr("transfer_funds"),
            "action_config": {"message": "Transfers need a human approver"}})
        create("policy", "/v1/policies", {
            "name": f"demo: search the wiki ({RUN})", "action": "steer",
            "match_expression": tool_expr("web_search"),
            "action_config": {"replacement": "Use the internal wiki (wiki.internal/refunds) instead."}})
        client = Client(api_key=API_KEY, endpoint=ENDPOINT, service_name=AGENT, environment="demo",
                        set_global_tracer=False)
        tools = build_tools(client)
        for step in (lambda: demo_block(tools), lambda: demo_steer(tools), lambda: demo_halt(tools),
                     lambda: demo_budget(client, tools)):
            try:
                step()
            except ApiError as exc:
                print(f"   !! {exc}\n")
    finally:
        if client is not None:
            client.shutdown()
        clean_up()

    missing = [k for k in ("block", "steer", "halt", "budget") if not RESULTS.get(k)]
    if missing:
        print(f"Did not happen: {', '.join(missing)}.")
        return 1
    print("All four interventions happened: block, steer, halt and budget stop.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
