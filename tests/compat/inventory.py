#!/usr/bin/env python3
"""The CycloneDX AI bill of materials against the CycloneDX 1.5 JSON schema.

Run by inventory.sh (exports STRATHON_ENDPOINT and STRATHON_API_KEY). Sends
spans for three agents (tools, models, one with an awkward name) as
OTLP/JSON, then validates GET /v1/agents/inventory?format=cyclonedx with
cyclonedx-python-lib's strict JSON validator, and reads the document back
with the library's own model.

Prints one PASS/FAIL line per check and ends with "<n> passed, <m> failed".
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

ENDPOINT = os.environ["STRATHON_ENDPOINT"].rstrip("/")
API_KEY = os.environ["STRATHON_API_KEY"]
PASSED = 0
FAILED = 0


def check(name: str, ok, detail: str = "") -> None:
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {name} {detail}", flush=True)


def request(method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
    req = urllib.request.Request(ENDPOINT + path, data=body, method=method,
                                 headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, dict(resp.headers), resp.read()


def attr(key: str, value):
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def spans(service: str, trace: int, calls: list[dict]) -> bytes:
    now = time.time_ns()
    out = []
    for i, attrs in enumerate(calls, start=1):
        out.append({
            "traceId": f"{trace:032x}", "spanId": f"{trace:08x}{i:08x}", "name": attrs.pop("name"), "kind": 1,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1_000_000),
            "attributes": [attr(k, v) for k, v in attrs.items()],
        })
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", service)]},
        "scopeSpans": [{"scope": {"name": "compat"}, "spans": out}],
    }]}).encode()


def main() -> None:
    batches = [
        ("researcher", 1, [
            {"name": "tool.search", "gen_ai.agent.name": "researcher", "gen_ai.tool.name": "search"},
            {"name": "chat", "gen_ai.agent.name": "researcher", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o",
             "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300},
        ]),
        ("ops", 2, [
            {"name": "tool.shell_exec", "gen_ai.agent.name": "ops", "gen_ai.tool.name": "shell_exec"},
            {"name": "chat", "gen_ai.agent.name": "ops", "gen_ai.request.model": "claude-3-5-haiku-20241022"},
        ]),
        ("billing", 3, [
            {"name": "tool.refund", "gen_ai.agent.name": "billing: EU / \"prod\"", "gen_ai.tool.name": "refund"},
        ]),
    ]
    for service, trace, calls in batches:
        status, _, _ = request("POST", "/v1/traces", spans(service, trace, calls))
        check(f"spans of {service} accepted", status == 200, str(status))

    status, headers, body = request("GET", "/v1/agents/inventory?format=cyclonedx")
    check("inventory answers 200", status == 200, str(status))
    check("as CycloneDX JSON", headers.get("content-type", "").startswith("application/vnd.cyclonedx+json"), str(headers))
    text = body.decode()
    errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
    check("the document validates against the CycloneDX 1.5 JSON schema", errors is None, str(errors))

    doc = json.loads(text)
    names = sorted(c["name"] for c in doc.get("components", []) if c["type"] == "application")
    check("every agent is a component", names == sorted(["researcher", "ops", 'billing: EU / "prod"']), str(names))
    models = sorted(c["name"] for c in doc.get("components", []) if c["type"] == "machine-learning-model")
    check("the models are machine-learning-model components", models == ["claude-3-5-haiku-20241022", "gpt-4o"], str(models))
    tools = sorted(s["name"] for s in doc.get("services", []))
    check("the tools are services", tools == ["refund", "search", "shell_exec"], str(tools))
    refs = {c["bom-ref"] for c in doc["components"]} | {s["bom-ref"] for s in doc["services"]}
    dangling = [d for dep in doc["dependencies"] for d in dep.get("dependsOn", []) if d not in refs]
    check("every dependency points at something in the document", not dangling, str(dangling))

    # A document with an error in it is refused by the same validator, so
    # the check above is not vacuous.
    broken = dict(doc)
    broken["components"] = [dict(doc["components"][0], type="robot")]
    check("the validator refuses a broken document", JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(broken)) is not None)

    print(f"{PASSED} passed, {FAILED} failed", flush=True)
    sys.exit(1 if FAILED or not PASSED else 0)


if __name__ == "__main__":
    main()
