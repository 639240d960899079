"""A rolling update under load, the way Kubernetes does it.

Two receivers sit behind a small loopback balancer that, like Kubernetes
endpoints, routes only to replicas whose GET /ready answers 200 (polled
every 100 ms) and answers 502 when a replica drops a request. Agents send
span batches through it with the published SDK's own OTLP exporter
(strathon==1.4.0 pulls it in), so its retry rules apply: 429/502/503/504 and
connection errors are retried with backoff, honouring Retry-After.

While the load runs, each replica is replaced in turn: a new one starts and
becomes ready, the old one gets SIGTERM and must exit 0. Then one replica is
killed with SIGKILL. Afterwards every export must have succeeded, and the
database must hold exactly the acknowledged spans, each once.

Needs STRATHON_BIN, COMPAT_DATABASE_URL and COMPAT_PY's packages (run it
through tests/compat/rollout.sh). Prints the numbers for the report.
"""
import http.client
import http.server
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

BIN = os.environ["STRATHON_BIN"]
DATABASE_URL = os.environ["COMPAT_DATABASE_URL"]
KEY = "stra_dev_local_default_project_do_not_use_in_production"
DRAIN_SECONDS = 2
SENDERS = 4
BATCH = 50

PASSED = FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url, timeout=0.5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class Replica:
    names = itertools.count(1)

    def __init__(self):
        self.name = f"replica-{next(self.names)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(os.environ.get("COMPAT_TMP", "/tmp"), f"{self.name}.log"), "w")
        env = {
            "PATH": os.environ["PATH"],
            "DATABASE_URL": DATABASE_URL,
            "STRATHON_BIND": f"127.0.0.1:{self.port}",
            "STRATHON_SEED_DEV_KEY": "true",
            "STRATHON_RATE_LIMIT_ENABLED": "false",
            "STRATHON_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "STRATHON_LOG_LEVEL": "INFO",
        }
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while status_of(self.url + "/ready") != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not become ready")
            time.sleep(0.05)

    def terminate(self, timeout):
        started = time.monotonic()
        self.proc.send_signal(15)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = None
        return code, time.monotonic() - started


class Balancer(http.server.ThreadingHTTPServer):
    """Routes each request to the next ready backend, over a fresh connection."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Forward)
        self.backends = []
        self.ready = set()
        self.lock = threading.Lock()
        self.turn = itertools.count()
        self.statuses = {}
        self.running = True
        threading.Thread(target=self.poll, daemon=True).start()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def poll(self):
        while self.running:
            with self.lock:
                backends = list(self.backends)
            ready = {b for b in backends if status_of(b.url + "/ready") == 200}
            with self.lock:
                self.ready = ready
            time.sleep(0.1)

    def add(self, replica):
        with self.lock:
            self.backends.append(replica)
        while replica not in self.ready:
            time.sleep(0.02)

    def remove(self, replica):
        with self.lock:
            self.backends.remove(replica)
            self.ready.discard(replica)

    def pick(self):
        with self.lock:
            ready = sorted(self.ready, key=lambda r: r.port)
            return ready[next(self.turn) % len(ready)] if ready else None

    def count(self, status):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1


class Forward(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        backend = self.server.pick()
        if backend is None:
            return self.answer(503, b"", {"retry-after": "1"})
        try:
            conn = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request("POST", self.path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            keep = {k: v for k, v in resp.getheaders() if k.lower() in ("content-type", "retry-after")}
            conn.close()
            self.answer(resp.status, data, keep)
        except OSError:
            # The replica went away mid-request: what a proxy answers.
            self.answer(502, b"", {})

    def answer(self, status, data, headers):
        self.server.count(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


RESOURCE = Resource.create({"service.name": "rollout-agent", "deployment.environment": "test"})
SCOPE = InstrumentationScope("strathon", "1.4.0")


def batch():
    now = time.time_ns()
    trace = random.getrandbits(128) or 1
    spans = []
    for i in range(BATCH):
        ctx = SpanContext(trace_id=trace, span_id=random.getrandbits(64) or 1, is_remote=False,
                          trace_flags=TraceFlags(TraceFlags.SAMPLED))
        spans.append(ReadableSpan(
            name=f"langgraph.tool.lookup_{i % 5}", context=ctx, parent=None, resource=RESOURCE,
            attributes={"gen_ai.agent.name": "rollout-agent", "gen_ai.tool.name": f"lookup_{i % 5}",
                        "strathon.tool.args": json.dumps({"order": i})},
            kind=SpanKind.INTERNAL, start_time=now - 5_000_000, end_time=now, instrumentation_scope=SCOPE))
    return spans


class Load:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.exports = self.failed = self.acked = 0
        self.threads = [threading.Thread(target=self.send) for _ in range(SENDERS)]
        for t in self.threads:
            t.start()

    def send(self):
        exporter = OTLPSpanExporter(endpoint=self.endpoint + "/v1/traces",
                                    headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        while not self.stop.is_set():
            result = exporter.export(batch())
            with self.lock:
                self.exports += 1
                if result is SpanExportResult.SUCCESS:
                    self.acked += BATCH
                else:
                    self.failed += 1

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def stored():
    out = subprocess.run(
        ["psql", "-X", "-At", "-d", DATABASE_URL, "-c",
         "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans WHERE project_id = '00000000-0000-0000-0000-000000000001'"],
        capture_output=True, text=True, check=True)
    total, distinct = out.stdout.strip().split("|")
    return int(total), int(distinct)


def main():
    balancer = Balancer()
    endpoint = f"http://127.0.0.1:{balancer.server_address[1]}"
    live = [Replica(), Replica()]
    for r in live:
        balancer.add(r)
    load = Load(endpoint)
    time.sleep(2)

    # Rolling update: new replica ready first, then the old one drains and exits.
    exits = []
    for _ in range(2):
        old = live.pop(0)
        new = Replica()
        balancer.add(new)
        live.append(new)
        code, took = old.terminate(timeout=DRAIN_SECONDS + 30)
        exits.append((old.name, code, took))
        balancer.remove(old)
        time.sleep(1)
    for name, code, took in exits:
        check(f"{name} exits 0 after SIGTERM, drained ({took:.1f} s)", code == 0 and took >= DRAIN_SECONDS,
              f"exit {code} after {took:.1f} s")
    with load.lock:
        rolled = (load.exports, load.failed)
    check("no export failed during the rolling update", rolled[1] == 0, f"{rolled[1]} of {rolled[0]} failed")
    check("the rolling update shows no 5xx to clients",
          not any(s >= 500 for s in balancer.statuses), f"balancer answered {balancer.statuses}")

    # A crash: SIGKILL mid-load; the SDK's retries must cover it.
    spare = Replica()
    balancer.add(spare)
    victim = live.pop(0)
    victim.proc.kill()
    victim.proc.wait()
    time.sleep(3)
    balancer.remove(victim)
    live.append(spare)
    time.sleep(1)
    load.finish()
    balancer.running = False

    total, distinct = stored()
    print(f"rollout: {load.exports} exports ({load.exports * BATCH} spans), {load.failed} failed; "
          f"balancer answered {dict(sorted(balancer.statuses.items()))}; "
          f"{load.acked} spans acknowledged, {total} stored, {total - distinct} duplicated, "
          f"{max(load.acked - distinct, 0)} lost", flush=True)
    check("every export succeeded, the crash included (SDK retries)", load.failed == 0, f"{load.failed} failed")
    check("load actually ran", load.exports >= 40, f"only {load.exports} exports")
    check("no acknowledged span was lost", distinct >= load.acked, f"{load.acked} acknowledged, {distinct} stored")
    check("no span was stored twice", total == distinct, f"{total - distinct} duplicates")
    check("nothing unacknowledged was stored either", total == load.acked, f"{total} stored, {load.acked} acknowledged")
    for r in live:
        code, _ = r.terminate(timeout=DRAIN_SECONDS + 30)
        check(f"{r.name} exits 0 after SIGTERM at the end", code == 0, f"exit {code}")
    print(f"{PASSED} passed, {FAILED} failed", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
