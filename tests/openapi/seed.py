"""Seeds a live receiver with one object of every kind and prints a
schemathesis `[parameters]` table naming them, so the fuzzer reaches the
handlers behind `/v1/<resource>/{id}` instead of stopping at 404.

    python seed.py > parameters.toml     # STRATHON_ENDPOINT, STRATHON_API_KEY set
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

ENDPOINT = os.environ["STRATHON_ENDPOINT"].rstrip("/")
KEY = os.environ["STRATHON_API_KEY"]


def call(method: str, path: str, body=None, bearer: str | None = KEY, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ENDPOINT + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if bearer:
        req.add_header("Authorization", f"Bearer {bearer}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"seed: {method} {path} -> {e.code} {e.read()[:300]!r}")
    return json.loads(text) if text else None


def otlp_trace(trace: str) -> dict:
    now = time.time_ns()
    def span(span_id: str, parent: str, name: str, attrs: dict) -> dict:
        return {
            "traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": 1,
            "startTimeUnixNano": str(now - 2_000_000_000), "endTimeUnixNano": str(now - 1_000_000_000),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
            "status": {"code": 1},
        }
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fuzz-agent"}}]},
        "scopeSpans": [{"spans": [
            span("00000000000000a1", "", "invoke_agent fuzz-agent", {"gen_ai.agent.name": "fuzz-agent"}),
            span("00000000000000a2", "00000000000000a1", "execute_tool search",
                 {"gen_ai.agent.name": "fuzz-agent", "gen_ai.tool.name": "search", "gen_ai.request.model": "gpt-4o"}),
        ]}],
    }]}


def main() -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    call("POST", "/v1/traces", otlp_trace(trace))
    policy = call("POST", "/v1/policies", {
        "name": "fuzz policy", "match_expression": 'name == "execute_tool search"', "action": "require_approval",
    })
    call("PATCH", f"/v1/policies/{policy['id']}", {"priority": 7})  # a second version
    budget = call("POST", "/v1/budgets", {"name": "fuzz budget", "scope": "project", "max_spend_usd": "5",
                                          "budget_duration": "1d"})
    halt = call("POST", "/v1/halts", {"scope": "agent", "scope_value": "fuzz-agent", "reason": "fuzzing"})
    approval = call("POST", "/v1/approvals", {"policy_id": policy["id"], "agent_name": "fuzz-agent",
                                              "tool_name": "search"})
    channel = call("POST", "/v1/notification-channels", {"name": "fuzz channel", "channel_type": "webhook",
                                                         "config": {"url": "https://hooks.example.com/fuzz"}})
    signing = call("POST", "/v1/webhook_signing_keys", {})
    stream = call("POST", "/v1/audit/streams", {"name": "fuzz stream", "url": "https://audit.example.com/fuzz"})
    integration = call("POST", "/v1/integrations/github", {"repo_full_name": "fuzz/repo",
                                                           "webhook_secret": "fuzz-secret-123"})
    call("POST", "/v1/model_prices", {"model_name": "fuzz-model", "input_cost_per_token": "0.000001",
                                      "output_cost_per_token": "0.000002"})
    # A key the fuzzer may rotate or revoke: never the one it authenticates with.
    key = call("POST", "/v1/api_keys", {"name": "fuzz target", "scopes": ["traces:read"]})
    project = call("POST", "/v1/projects", {"name": "Fuzz target", "slug": "fuzz-target"})
    invite = call("POST", "/v1/members", {"email": "fuzz-member@example.com", "role": "viewer"})
    member = call("POST", "/v1/auth/register", {"email": "fuzz-member@example.com",
                                                "password": "Fuzz-member-pass-1"}, bearer=None)
    call("POST", "/v1/members", {"email": "fuzz-pending@example.com", "role": "viewer"})
    call("POST", "/v1/halts", {"scope": "project", "reason": "a delivery to replay"})
    deliveries = call("GET", "/v1/webhook_deliveries")["webhook_deliveries"]
    events = call("GET", "/v1/audit/events?limit=1")["data"]
    sessions = call("GET", "/v1/auth/sessions", bearer=member["token"])
    session_list = sessions.get("sessions") or sessions.get("data") or []
    templates = call("GET", "/v1/policy-templates")
    template_list = templates.get("templates") or templates.get("data") or []

    params = {
        "trace_id": trace,
        "span_id": "00000000000000a2",
        "policy_id": policy["id"],
        "version": 1,
        "budget_id": budget["id"],
        "halt_id": halt["id"],
        "approval_id": approval["id"],
        "channel_id": channel["id"],
        "stream_id": stream["id"],
        "integration_id": integration["id"],
        "model_name": "fuzz-model",
        "key_id": key.get("id") or key.get("api_key", {}).get("id"),
        "slug": project.get("slug", "fuzz-target"),
        "user_id": member["user"]["id"],
        "email": "fuzz-pending@example.com",
        "agent_name": "fuzz-agent",
        "template_id": template_list[0]["id"] if template_list else None,
        "delivery_id": deliveries[0]["id"] if deliveries else None,
        "event_id": events[0]["id"] if events else None,
        "session_id": session_list[0]["id"] if session_list else None,
    }
    del invite, signing
    print("[parameters]")
    for name, value in params.items():
        if value is None:
            sys.exit(f"seed: nothing to name {name} with")
        print(f"{json.dumps('path.' + name)} = {json.dumps(value)}")


if __name__ == "__main__":
    main()
