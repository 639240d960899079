"""A LangChain-style agent run through the published strathon==1.4.0 SDK, for
the dashboard's browser tests: one chain with a model call and two tool calls,
the second of which a block policy stops before its body runs.

    python scenario.py --run ID [--policy] [--blocked-tool NAME]
    python scenario.py --agent-call AGENT --tool NAME

Reads STRATHON_ENDPOINT and STRATHON_API_KEY. With --policy it first creates
the block policy itself (otherwise the test creates it, e.g. from a template
in the dashboard). --agent-call makes one tool call as AGENT through the SDK's
shared dispatcher, as its framework adapters do, and says whether the SDK let
it run or stopped it (halt or policy). Prints one JSON object: the names used
and what the SDK did, so the browser test knows what to look for.
"""
import argparse
import json
import os
import sys
import urllib.request
import uuid

from strathon import Client, StrathonHaltExceeded, StrathonPolicyBlocked
from strathon.instrumentation.langgraph import StrathonLangGraphHandler
from strathon.policy.steer import dispatch_policy_decision

ENDPOINT = os.environ.get("STRATHON_ENDPOINT", "http://localhost:4318").rstrip("/")
API_KEY = os.environ["STRATHON_API_KEY"]


def api(method, path, body=None):
    req = urllib.request.Request(
        ENDPOINT + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def tool_call(handler, chain, name, payload, body):
    run_id = uuid.uuid4()
    handler.on_tool_start({"name": name}, json.dumps(payload), run_id=run_id, parent_run_id=chain, inputs=payload)
    try:
        out = body()
    except BaseException as exc:
        handler.on_tool_error(exc, run_id=run_id, parent_run_id=chain)
        raise
    handler.on_tool_end(out, run_id=run_id, parent_run_id=chain)
    return out


def agent_call(agent, tool):
    """One call as `agent`; Client() syncs policies and halts when it starts."""
    client = Client(api_key=API_KEY, endpoint=ENDPOINT, environment="browser-test",
                    service_name=agent, set_global_tracer=False)
    attrs = {"gen_ai.tool.name": tool, "strathon.tool.name": tool, "strathon.tool.args": "{}",
             "strathon.agent.name": agent, "gen_ai.agent.name": agent}
    ran = []
    try:
        dispatch_policy_decision(client, span_name=f"tool.{tool}", attrs=attrs, on_allow=lambda: ran.append(1))
        outcome = "ran" if ran else "skipped"
    except StrathonHaltExceeded as e:
        outcome, ran = f"halted: {e}", []
    except StrathonPolicyBlocked as e:
        outcome = f"blocked: {e}"
    client.flush(timeout_millis=30000)
    client.shutdown()
    print(json.dumps({"agent": agent, "tool": tool, "outcome": outcome, "ran": bool(ran)}))
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run")
    parser.add_argument("--policy", action="store_true")
    parser.add_argument("--blocked-tool")
    parser.add_argument("--agent-call")
    parser.add_argument("--tool")
    args = parser.parse_args()
    if args.agent_call:
        return agent_call(args.agent_call, args.tool)
    agent = f"support-agent-{args.run}"
    allowed = f"lookup_order_{args.run}"
    blocked = args.blocked_tool or f"delete_customer_{args.run}"
    if args.policy:
        api("POST", "/v1/policies", {
            "name": f"no-deletes-{args.run}",
            "match_expression": f'attrs["gen_ai.tool.name"] == "{blocked}"',
            "action": "block",
            "action_config": {"message": "deleting customers needs a human"},
        })
    client = Client(api_key=API_KEY, endpoint=ENDPOINT, environment="browser-test",
                    service_name=agent, set_global_tracer=False)
    handler = StrathonLangGraphHandler(client)
    chain = uuid.uuid4()
    handler.on_chain_start({"name": agent, "id": ["browser", agent]}, {"question": "close account 4711"},
                           run_id=chain, parent_run_id=None, metadata={"langgraph_node": "agent"})
    ran = {"allowed": False, "blocked_body_ran": False, "blocked_raised": False}
    tool_call(handler, chain, allowed, {"order": 4711}, lambda: {"status": "shipped"})
    ran["allowed"] = True

    def delete():
        ran["blocked_body_ran"] = True
        return "deleted"

    try:
        tool_call(handler, chain, blocked, {"customer": 4711}, delete)
    except StrathonPolicyBlocked:
        ran["blocked_raised"] = True
    handler.on_chain_end({"answer": "needs a human"}, run_id=chain, parent_run_id=None)
    flushed = client.flush(timeout_millis=30000)
    client.shutdown()
    print(json.dumps({"agent": agent, "allowed_tool": allowed, "blocked_tool": blocked,
                      "flushed": flushed, **ran}))
    return 0 if flushed and ran["blocked_raised"] and not ran["blocked_body_ran"] else 1


if __name__ == "__main__":
    sys.exit(main())
