#!/usr/bin/env python3
"""The MCP gateway against a real MCP server.

Run by mcp_gateway.sh, which starts a receiver (loopback allowed past the
SSRF guard) and the `mcp` package's MCPServer over streamable HTTP
(mcp_upstream.py), and exports STRATHON_ENDPOINT, STRATHON_API_KEY,
MCP_UPSTREAM (the server's URL) and MCP_CALLS (the file where the server
logs every tool call it actually ran).

Every MCP message goes through POST /v1/mcp/proxy, in one MCP session the
gateway carries (Mcp-Session-Id) to and from the server. Checked: block (and
a higher-priority log match not letting a blocked call through: quirk 14 is
not kept), steer, require-approval (held, then run once after approval),
throttle (a real token bucket), blocked_tools (listing and calling), a
credential in a tool result redacted, an SSRF upstream refused, evaluation
that fails closing the call, allow-list mode, bad gateway input (422), and
that every decision is stored as a span in the caller's trace.

Prints one PASS/FAIL line per check and ends with "<n> passed, <m> failed".
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request

ENDPOINT = os.environ["STRATHON_ENDPOINT"].rstrip("/")
API_KEY = os.environ["STRATHON_API_KEY"]
UPSTREAM = os.environ["MCP_UPSTREAM"]
CALLS = os.environ["MCP_CALLS"]
AGENT = "mcp-tester"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"

PASSED = 0
FAILED = 0


def check(name: str, ok, detail: str = "") -> bool:
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {name} {detail}", flush=True)
    return bool(ok)


def check_eq(name: str, actual, expected) -> bool:
    return check(name, actual == expected, f"expected {expected!r}, got {actual!r}")


def http(method: str, path: str, body=None, headers: dict | None = None):
    """(status, headers, parsed body) for a call with the dev key."""
    all_headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
    all_headers.update(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    req = urllib.request.Request(ENDPOINT + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read().decode()
            return resp.status, dict(resp.headers), (json.loads(raw) if raw.strip() else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode()
        try:
            return exc.code, dict(exc.headers), json.loads(raw)
        except ValueError:
            return exc.code, dict(exc.headers), raw


def api(method: str, path: str, body=None):
    status, _, parsed = http(method, path, body)
    return status, parsed


SESSION: dict[str, str] = {}
NEXT_ID = [100]


def gateway(method: str, params=None, notify=False, upstream=UPSTREAM, **fields):
    """One MCP message through the gateway, in the suite's MCP session."""
    message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if not notify:
        NEXT_ID[0] += 1
        message["id"] = NEXT_ID[0]
    body = {"upstream_url": upstream, "request": message, "agent_name": AGENT}
    body.update(fields)
    headers = {"traceparent": TRACEPARENT, "MCP-Protocol-Version": "2025-06-18"}
    if "id" in SESSION:
        headers["Mcp-Session-Id"] = SESSION["id"]
    status, answer_headers, answer = http("POST", "/v1/mcp/proxy", body, headers)
    session = {k.lower(): v for k, v in answer_headers.items()}.get("mcp-session-id")
    if session:
        SESSION["id"] = session
    return status, answer


def call_tool(name: str, arguments: dict, **fields):
    return gateway("tools/call", {"name": name, "arguments": arguments}, **fields)


def ran() -> list[dict]:
    with open(CALLS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def ran_tool(tool: str) -> list[dict]:
    return [c for c in ran() if c["tool"] == tool]


def policy(name: str, expression: str, action: str, priority: int = 0, **extra) -> dict:
    body = {"name": name, "match_expression": expression, "action": action, "priority": priority}
    body.update(extra)
    status, created = api("POST", "/v1/policies", body)
    if status != 201:
        raise RuntimeError(f"creating policy {name}: {status} {created}")
    return created


def tool_is(name: str) -> str:
    return f'attrs["gen_ai.tool.name"] == "{name}"'


def text_of(answer) -> str:
    try:
        return answer["result"]["content"][0]["text"]
    except (KeyError, IndexError, TypeError):
        return ""


def section(title: str) -> None:
    print(f"--- {title}", flush=True)


def handshake() -> None:
    section("handshake through the gateway")
    status, answer = gateway(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "compat", "version": "1"}},
    )
    check_eq("initialize answers 200", status, 200)
    check_eq("the server introduces itself", (answer or {}).get("result", {}).get("serverInfo", {}).get("name"), "upstream-tools")
    check("the server's session comes back as Mcp-Session-Id", "id" in SESSION, str(answer))
    status, answer = gateway("notifications/initialized", notify=True)
    check_eq("a notification is accepted with 202 and no body", (status, answer), (202, None))


def block() -> None:
    section("block")
    policy("watch-deletes", tool_is("delete_file"), "log", priority=200)
    policy(
        "no-system-paths",
        tool_is("delete_file") + ' && attrs["strathon.tool.args"].contains("/etc")',
        "block",
        priority=100,
        action_config={"message": "system paths are off limits"},
    )
    status, answer = call_tool("delete_file", {"path": "/etc/passwd"})
    check_eq("blocked: still HTTP 200", status, 200)
    error = (answer or {}).get("error", {})
    check_eq("blocked: JSON-RPC code -32040", error.get("code"), -32040)
    check_eq("blocked: the policy's message", error.get("message"), "Blocked by policy 'no-system-paths': system paths are off limits")
    check_eq("a higher-priority log match does not let the call through", ran_tool("delete_file"), [])
    status, answer = call_tool("delete_file", {"path": "/tmp/scratch"})
    check_eq("the same tool on another path runs", text_of(answer), "deleted /tmp/scratch")
    check_eq("and reached the server once", ran_tool("delete_file"), [{"tool": "delete_file", "args": {"path": "/tmp/scratch"}}])


def steer() -> None:
    section("steer")
    policy("no-email", tool_is("send_email"), "steer", action_config={"replacement": "Email is disabled; a draft was saved."})
    status, answer = call_tool("send_email", {"to": "ceo@example.com", "body": "hi"})
    result = (answer or {}).get("result", {})
    check_eq("steered: the replacement as the tool result", text_of(answer), "Email is disabled; a draft was saved.")
    check_eq("steered: not an error", result.get("isError"), False)
    check_eq("steered: names the policy", result.get("_strathon"), {"steered_by": "no-email"})
    check_eq("steered: the server never saw it", ran_tool("send_email"), [])


def approval() -> None:
    section("require approval")
    policy("money-needs-a-human", tool_is("transfer"), "require_approval", action_config={"timeout_seconds": 600})
    args = {"amount": 100, "to": "acme"}
    status, answer = call_tool("transfer", args)
    error = (answer or {}).get("error", {})
    check_eq("held: JSON-RPC code -32041", error.get("code"), -32041)
    check_eq("held: message", error.get("message"), "Tool call 'transfer' requires human approval before it can run.")
    approval_id = (error.get("data") or {}).get("approval_id")
    check("held: the approval is named", approval_id, str(answer))
    check_eq("held: the server never saw it", ran_tool("transfer"), [])
    status, again = call_tool("transfer", args)
    check_eq("asking again points at the same pending approval", ((again or {}).get("error", {}).get("data") or {}).get("approval_id"), approval_id)
    status, pending = api("GET", f"/v1/approvals/{approval_id}")
    check_eq("the approval is pending for this call", (status, pending.get("status"), pending.get("tool_name"), pending.get("tool_args")),
             (200, "pending", "transfer", '{"amount": 100, "to": "acme"}'))
    status, decided = api("POST", f"/v1/approvals/{approval_id}/approve", {})
    check_eq("a person approves it", (status, decided.get("status")), (200, "approved"))
    status, answer = call_tool("transfer", args)
    check_eq("after approval the call runs", text_of(answer), "moved 100 to acme")
    check_eq("once", len(ran_tool("transfer")), 1)
    status, answer = call_tool("transfer", args)
    check_eq("an approval is used up by the call it approved", (answer or {}).get("error", {}).get("code"), -32041)
    check_eq("so the next identical call is held again", len(ran_tool("transfer")), 1)


def throttle() -> None:
    section("throttle")
    policy("search-budget", tool_is("search"), "throttle", action_config={"max_calls": 2, "window_seconds": 3600})
    answers = [call_tool("search", {"query": f"q{i}"})[1] for i in range(3)]
    check_eq("the first two calls run", [text_of(a) for a in answers[:2]], ["results for q0", "results for q1"])
    error = (answers[2] or {}).get("error", {})
    check_eq("the third: JSON-RPC code -32043", error.get("code"), -32043)
    check("the third says when to retry", error.get("message", "").startswith("Tool call 'search' rate-limited by policy 'search-budget'. Retry after "), str(error))
    check("retry_after_seconds is given", (error.get("data") or {}).get("retry_after_seconds", 0) >= 1, str(error))
    check_eq("the server ran exactly two searches", len(ran_tool("search")), 2)
    status, answer = call_tool("search", {"query": "other agent"}, agent_name="another-agent")
    check_eq("the bucket is per agent", text_of(answer), "results for other agent")


def blocked_tools() -> None:
    section("blocked_tools")
    status, answer = gateway("tools/list", {}, blocked_tools=["echo", "read_config"])
    names = sorted(t["name"] for t in (answer or {}).get("result", {}).get("tools", []))
    check_eq("tools/list without the blocked tools", names, ["delete_file", "search", "send_email", "transfer"])
    status, answer = gateway("tools/list", {})
    check("without blocked_tools every tool is listed", len((answer or {}).get("result", {}).get("tools", [])) == 6, str(answer))
    status, answer = call_tool("echo", {"text": "hello"}, blocked_tools=["echo"])
    check_eq("calling a blocked tool", (answer or {}).get("error"), {"code": -32040, "message": "Tool 'echo' is blocked by Strathon policy"})
    check_eq("never reaches the server", ran_tool("echo"), [])


def redaction() -> None:
    section("credentials in results")
    status, answer = call_tool("read_config", {})
    text = text_of(answer)
    check("the tool ran", ran_tool("read_config"), str(answer))
    check("the key is redacted in the text content", "[AWS ACCESS KEY ID_REDACTED]" in text and "AKIAIOSFODNN7EXAMPLE" not in text, text)
    check("and in the structured content", "AKIAIOSFODNN7EXAMPLE" not in json.dumps(answer), json.dumps(answer))
    check("the rest is intact", "aws_region=eu-west-1" in text and "owner=ops" in text, text)
    status, raw = call_tool("read_config", {}, scan_responses=False)
    check("scan_responses=false passes it through untouched", "AKIAIOSFODNN7EXAMPLE" in text_of(raw), str(raw))


def ssrf() -> None:
    section("SSRF guard")
    for url in ["http://169.254.169.254/latest/meta-data", "http://10.0.0.7:8080/mcp", "http://[fd00::1]/mcp", "file:///etc/passwd"]:
        status, answer = call_tool("echo", {"text": "x"}, upstream=url)
        error = (answer or {}).get("error", {})
        check(f"upstream {url} is refused", status == 200 and error.get("code") == -32603
              and error.get("message", "").startswith("upstream_url rejected: "), str(answer))


def fail_closed() -> None:
    section("failing closed")
    policy("flaky", tool_is("echo") + ' && attrs["no.such.attribute"] == "x"', "block", priority=500)
    status, answer = call_tool("echo", {"text": "hi"})
    check_eq("an enforcing policy that cannot be evaluated blocks the call", (answer or {}).get("error"),
             {"code": -32040, "message": "Blocked by policy '_fail_closed': policy engine unavailable"})
    check_eq("and it never reaches the server", ran_tool("echo"), [])
    status, listing = api("GET", "/v1/policies")
    flaky = next(p for p in listing["policies"] if p["name"] == "flaky")
    api("DELETE", f"/v1/policies/{flaky['id']}")
    status, answer = call_tool("echo", {"text": "hi"})
    check_eq("once it is gone the call runs", text_of(answer), "hi")


def allow_list() -> None:
    section("allow-list mode")
    status, _ = api("PATCH", "/v1/project/settings", {"intervention_default_action": "block"})
    check_eq("project switched to allow-list mode", status, 200)
    status, answer = call_tool("echo", {"text": "hi"})
    error = (answer or {}).get("error", {})
    check_eq("an unmatched call is denied", (error.get("code"), error.get("message", "").startswith("Blocked by policy '_default_deny'")), (-32040, True))
    policy("echo-ok", tool_is("echo"), "allow")
    status, answer = call_tool("echo", {"text": "allowed"})
    check_eq("an explicit allow lets it run", text_of(answer), "allowed")
    api("PATCH", "/v1/project/settings", {"intervention_default_action": "allow"})


def bad_input() -> None:
    section("bad gateway input")
    for body, what in [
        ({"request": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}}, "no upstream_url"),
        ({"upstream_url": UPSTREAM}, "no request"),
        ({"upstream_url": UPSTREAM, "request": "tools/list"}, "request not an object"),
        ({"upstream_url": UPSTREAM, "request": {}, "blocked_tools": "echo"}, "blocked_tools not a list"),
        ({"upstream_url": UPSTREAM, "request": {}, "surprise": 1}, "an unknown field"),
    ]:
        status, _, answer = http("POST", "/v1/mcp/proxy", body)
        check(f"422 for {what}", status == 422 and isinstance((answer or {}).get("detail"), list), f"{status} {answer}")
    status, answer = gateway("tools/call", {"arguments": {}})
    check_eq("tools/call without a name: -32602", (answer or {}).get("error", {}).get("code"), -32602)
    status, _, answer = http("POST", "/v1/mcp/proxy", {"upstream_url": UPSTREAM, "request": {"id": 1, "method": "x"}})
    check_eq("not JSON-RPC 2.0: -32600", (answer or {}).get("error", {}).get("code"), -32600)


def spans() -> None:
    section("decisions are spans")
    status, body = api("GET", f"/v1/traces/{TRACE}")
    check_eq("the calls joined the caller's trace", status, 200)
    query = urllib.parse.urlencode({"attr.strathon.source": "mcp_gateway", "limit": 200})
    status, found = api("GET", f"/v1/spans?{query}")
    rows = found.get("data", []) if isinstance(found, dict) else []
    decisions = {}
    for s in rows:
        attrs = s.get("attributes", {})
        decisions.setdefault(attrs.get("strathon.mcp.decision"), []).append(s)
    for decision, state in [("blocked", "blocked"), ("steered", "steered"), ("approval_required", "approval_requested"),
                            ("throttled", "throttled"), ("fail_closed", "blocked")]:
        found_state = {s.get("intervention_state") for s in decisions.get(decision, [])}
        check_eq(f"a {decision} call is a span with intervention_state {state}", found_state, {state})
    by_policy = {s.get("attributes", {}).get("strathon.policy.name"): s for s in decisions.get("blocked", [])}
    check_eq("blocked spans name what blocked them", sorted(by_policy), ["_blocked_tools", "_default_deny", "no-system-paths"])
    check_eq("and their agent", by_policy.get("no-system-paths", {}).get("agent_name"), AGENT)
    check("forwarded calls are spans too", len(decisions.get("forwarded", [])) >= 5, str(list(decisions)))
    check("no stored span holds the leaked key", "AKIAIOSFODNN7EXAMPLE" not in json.dumps(rows), "key found in spans")
    status, matches = api("GET", "/v1/approvals?status_filter=pending")
    transfers = [a for a in matches.get("approvals", []) if a.get("tool_name") == "transfer"]
    check_eq("ingest did not ask for approvals of its own for gateway spans", len(transfers), 1)


def main() -> None:
    for step in (handshake, block, steer, approval, throttle, blocked_tools, redaction, ssrf, fail_closed, allow_list, bad_input, spans):
        try:
            step()
        except Exception:  # noqa: BLE001 -- report and go on
            check(f"{step.__name__} ran to the end", False, traceback.format_exc())
    print(f"{PASSED} passed, {FAILED} failed", flush=True)
    sys.exit(1 if FAILED or not PASSED else 0)


if __name__ == "__main__":
    main()
