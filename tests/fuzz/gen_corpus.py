#!/usr/bin/env python3
"""Writes the seed corpora under corpus/<target>/ (checked in; rerun to regenerate).

Standard library only: a few-line protobuf encoder covers the OTLP trace
messages the seeds need. Field numbers are from opentelemetry-proto
(collector/trace/v1, trace/v1, common/v1, resource/v1).
"""

import base64
import gzip
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
START = 1_700_000_000_000_000_000  # strathon_fuzz::SEED_START_NS


# ---- protobuf wire format ------------------------------------------------------------

def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def f_varint(field, n):
    return tag(field, 0) + varint(n)


def f_fixed64(field, n):
    return tag(field, 1) + struct.pack("<Q", n)


def f_double(field, x):
    return tag(field, 1) + struct.pack("<d", x)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return tag(field, 2) + varint(len(b)) + b


def any_value(v):
    if isinstance(v, bool):
        return f_varint(2, int(v))
    if isinstance(v, int):
        return f_varint(3, v)
    if isinstance(v, float):
        return f_double(4, v)
    if isinstance(v, str):
        return f_bytes(1, v)
    if isinstance(v, bytes):
        return f_bytes(7, v)
    if isinstance(v, list):
        return f_bytes(5, b"".join(f_bytes(1, any_value(x)) for x in v))
    if isinstance(v, dict):
        return f_bytes(6, b"".join(f_bytes(1, key_value(k, x)) for k, x in v.items()))
    raise TypeError(v)


def key_value(k, v):
    return f_bytes(1, k) + f_bytes(2, any_value(v))


def attrs(field, d):
    return b"".join(f_bytes(field, key_value(k, v)) for k, v in d.items())


def span_pb(s):
    out = f_bytes(1, s["trace_id"]) + f_bytes(2, s["span_id"])
    if s.get("parent"):
        out += f_bytes(4, s["parent"])
    out += f_bytes(5, s["name"]) + f_varint(6, s.get("kind", 1))
    out += f_fixed64(7, s["start"]) + f_fixed64(8, s.get("end", 0))
    out += attrs(9, s.get("attrs", {}))
    for name, at in s.get("events", []):
        out += f_bytes(11, f_fixed64(1, at) + f_bytes(2, name))
    if "status" in s:
        code, message = s["status"]
        out += f_bytes(15, f_bytes(2, message) + f_varint(3, code))
    return out


def request_pb(resources):
    out = b""
    for resource, spans in resources:
        rs = f_bytes(1, attrs(1, resource))
        scope = f_bytes(1, f_bytes(1, "seed") + f_bytes(2, "1.0"))
        scope += b"".join(f_bytes(2, span_pb(s)) for s in spans)
        rs += f_bytes(2, scope)
        out += f_bytes(1, rs)
    return out


# ---- OTLP/JSON ------------------------------------------------------------------------

def any_json(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, bytes):
        return {"bytesValue": base64.b64encode(v).decode()}
    if isinstance(v, list):
        return {"arrayValue": {"values": [any_json(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": attrs_json(v)}}
    raise TypeError(v)


def attrs_json(d):
    return [{"key": k, "value": any_json(v)} for k, v in d.items()]


def span_json(s):
    out = {
        "traceId": s["trace_id"].hex(),
        "spanId": s["span_id"].hex(),
        "name": s["name"],
        "kind": s.get("kind", 1),
        "startTimeUnixNano": str(s["start"]),
        "endTimeUnixNano": str(s.get("end", 0)),
        "attributes": attrs_json(s.get("attrs", {})),
    }
    if s.get("parent"):
        out["parentSpanId"] = s["parent"].hex()
    if s.get("events"):
        out["events"] = [{"name": n, "timeUnixNano": str(t)} for n, t in s["events"]]
    if "status" in s:
        out["status"] = {"code": s["status"][0], "message": s["status"][1]}
    return out


def request_json(resources):
    return json.dumps({
        "resourceSpans": [
            {
                "resource": {"attributes": attrs_json(resource)},
                "scopeSpans": [{"scope": {"name": "seed", "version": "1.0"},
                                "spans": [span_json(s) for s in spans]}],
            }
            for resource, spans in resources
        ]
    }, indent=None, separators=(",", ":")).encode()


# ---- seed requests --------------------------------------------------------------------

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
ROOT = bytes.fromhex("eee19b7ec3c1b174")
CHILD = bytes.fromhex("0102030405060708")
RESOURCE = {"service.name": "support-agent", "strathon.sdk.version": "1.4.0"}

LLM = {
    "trace_id": TRACE, "span_id": CHILD, "parent": ROOT, "name": "chat gpt-4o", "kind": 3,
    "start": START + 1_000, "end": START + 2_000_000,
    "attrs": {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.total_tokens": 6000, "gen_ai.conversation.id": "conv-1",
        "gen_ai.prompt": "mail alice@example.com, card 4111 1111 1111 1111, call (555) 123-4567",
        "note": "key sk-abcdefghijklmnopqrstuvwxyz012345 ip 10.0.0.1 fe80::1",
        "text": "password=hunter2hunter2 " + base64.b64encode(b"ssn 123-45-6789").decode(),
        "secret.delete": "gone", "secret.mask": "1234567890", "secret.hash": "x",
    },
    "events": [("gen_ai.choice", START + 1_500_000)],
    "status": (1, ""),
}
AGENT = {
    "trace_id": TRACE, "span_id": ROOT, "name": "invoke_agent support", "kind": 1,
    "start": START, "end": START + 5_000_000,
    "attrs": {
        "gen_ai.agent.name": "support", "gen_ai.agent.id": "agent-7",
        "gen_ai.workflow.name": "refund", "strathon.agent.intervention.state": "blocked",
        "strathon.policy.matched_ids": ["p1", "p2"], "strathon.agent.cost.usd": "0.0125",
        "nested": {"deep": [1, 2.5, True, b"\x00\x01", {"x": "y\u0000z"}]},
    },
    "status": (2, "policy blocked the call"),
}
TOOL = {
    "trace_id": TRACE, "span_id": bytes.fromhex("1112131415161718"), "parent": ROOT,
    "name": "execute_tool lookup", "kind": 1, "start": START + 3_000_000,
    "attrs": {"gen_ai.tool.name": "lookup", "gen_ai.request.model": "in-house",
              "gen_ai.usage.input_tokens": "42", "iban": "DE89 3704 0044 0532 0130 00"},
}
HEARTBEAT = {
    "trace_id": bytes.fromhex("00000000000000000000000000000001"), "span_id": ROOT,
    "name": "strathon.heartbeat", "start": START,
    "attrs": {"strathon.agent.name": "support", "strathon.sdk.code_hash": "abc123"},
}
BAD = {  # rejected: zero span id, a start outside the narrow window, an end before start
    "trace_id": TRACE, "span_id": bytes(8), "name": "bad", "start": 5, "end": 1,
}
LATE = dict(TOOL, span_id=bytes.fromhex("2122232425262728"), start=START + 10 * 3_600_000_000_000,
            end=START)

SEEDS = {
    "agent_trace": [(RESOURCE, [AGENT, LLM, TOOL])],
    "heartbeat": [({"service.name": "hb"}, [HEARTBEAT])],
    "rejections": [(RESOURCE, [BAD, LATE]), ({}, [TOOL])],
    "single_llm": [({}, [LLM])],
}


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    for name, resources in SEEDS.items():
        pb = request_pb(resources)
        # Control byte: bits 0-1 encoding, 2-3 sampling rate, 4-5 redaction config.
        write("otlp_protobuf", name + ".pb", bytes([0x00]) + pb)
        write("otlp_protobuf", name + ".pb.gz", bytes([0x11 | 0x04]) + gzip.compress(pb, mtime=0))
        write("otlp_protobuf", name + ".pb.zlib", bytes([0x22]) + zlib.compress(pb))
        raw = zlib.compressobj(wbits=-15)
        write("otlp_protobuf", name + ".pb.deflate", bytes([0x32]) + raw.compress(pb) + raw.flush())
        write("otlp_json", name + ".json", request_json(resources))
    write("otlp_json", "empty.json", b"{}")

    sep = b"\xff"
    pairs = [
        (b"\x00", [b"gen_ai.prompt", b"mail alice@example.com or call (555) 123-4567 now",
                   b"note", b"sk-abcdefghijklmnopqrstuvwxyz012345 and AKIAIOSFODNN7EXAMPLE",
                   b"card", b"4111-1111-1111-1111 and 123-45-6789"]),
        (b"\x01", [b"secret.mask", "\uff14\uff11\uff11\uff11 1111 1111 1111".encode(),
                   b"secret.delete", b"x", b"secret.hash", b"hunter22",
                   b"free", b"xxxx hunter99 ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh"]),
        (b"\x02", [b"note", b"DE89 3704 0044 0532 0130 00 bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                   b"other", b"dropped", b"text", base64.b64encode(b"mail bob@example.org")]),
        (b"\x03", [b"k\x00ey", b"v\x00al", b"key", b"\xfe\x03nested\x00"]),
        (b"\x00", [b"jwt", b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop "
                          b"postgres://user:pw@db.example.com/x 2001:db8::8a2e:370:7334"]),
    ]
    for i, (ctl, pieces) in enumerate(pairs):
        write("redaction", f"seed{i}", ctl + sep.join(pieces))


if __name__ == "__main__":
    main()
