#!/usr/bin/env python3
"""Time from an API change's commit to its webhook arriving.

Starts nothing itself: point it at a running receiver (started with
STRATHON_WEBHOOK_ALLOW_LOOPBACK=true) and a key with `*`. It listens on a
loopback port, subscribes a webhook channel to halt_created, creates N
halts one at a time and reports how long after each 201 the signed request
arrived (the 201 is sent after the commit). Standard library only.
"""
import argparse, http.server, json, statistics, threading, time, urllib.request

arrived = {}
lock = threading.Condition()

class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with lock:
            arrived[body["reason"]] = time.perf_counter()
            lock.notify_all()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

def call(base, key, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", default="http://127.0.0.1:4318")
    ap.add_argument("--key", required=True)
    ap.add_argument("-n", type=int, default=50)
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    call(args.endpoint, args.key, "POST", "/v1/notification-channels",
         {"channel_type": "webhook", "name": "latency", "config": {"url": url}, "events": ["halt_created"]})
    samples = []
    for i in range(args.n):
        reason = f"latency-{i}-{time.time()}"
        halt = call(args.endpoint, args.key, "POST", "/v1/halts", {"scope": "project", "reason": reason})
        committed = time.perf_counter()
        with lock:
            if not lock.wait_for(lambda: reason in arrived, timeout=30):
                raise SystemExit(f"webhook for {reason} never arrived")
        samples.append((arrived[reason] - committed) * 1000)
        call(args.endpoint, args.key, "DELETE", f"/v1/halts/{halt['id']}")
    samples.sort()
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print(json.dumps({"n": len(samples), "median_ms": round(statistics.median(samples), 2),
                      "p90_ms": round(p(0.9), 2), "max_ms": round(samples[-1], 2)}))

if __name__ == "__main__":
    main()
