#!/usr/bin/env python3
"""Packaging checks without a Docker engine: what a user of compose/,
deploy/kubernetes/ and the Makefile relies on. Run by check.sh, which
installs the tools first and passes their paths in the environment:

  PKG_PYTHON_BIN   the tools virtualenv's bin/ (check-jsonschema, kubernetes-validate, shellcheck)
  PKG_COMPOSE_SCHEMA  the Compose Specification JSON schema (shipped by npm dclint)
  PKG_DOCKER_CONFIG   a DOCKER_CONFIG whose cli-plugins/ holds Docker Compose v2
  PKG_COMPOSE_BIN     that Compose binary itself (used standalone when no docker CLI)
  STRATHON_BIN        the strathon binary to run (default target/debug/strathon)
  STRATHON_TEST_POSTGRES  server URL for throwaway databases (default postgres://postgres@127.0.0.1:5432)

Sections: schemas (compose spec, Compose itself, Kubernetes API), settings
(every variable named in compose/, .env.example and the manifests is one
the binary accepts; defaults agree), wiring (ports, images, labels, probes,
rollout numbers), running each compose service and each manifest's
container with the real binary, the Makefile and the log follower, and
shellcheck. One PASS/FAIL/SKIP line per check, then "N passed, M failed".
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from base64 import urlsafe_b64encode
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "compose"
DEV = COMPOSE_DIR / "compose.yaml"
PROD = COMPOSE_DIR / "compose.prod.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
K8S_DIR = REPO / "deploy" / "kubernetes"
PY_BIN = Path(os.environ["PKG_PYTHON_BIN"])
COMPOSE_SCHEMA = Path(os.environ["PKG_COMPOSE_SCHEMA"])
DOCKER_CONFIG = os.environ["PKG_DOCKER_CONFIG"]
COMPOSE_BIN = os.environ["PKG_COMPOSE_BIN"]
BIN = Path(os.environ.get("STRATHON_BIN") or REPO / "target" / "debug" / "strathon")
PG = (os.environ.get("STRATHON_TEST_POSTGRES") or "postgres://postgres@127.0.0.1:5432").rstrip("/")

# Read by the Postgres image, not by strathon.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB"}
# Kubernetes versions the manifests must validate against: an old one still
# in common use and the newest the pinned kubernetes-validate knows.
K8S_VERSIONS = ("1.29.0", "1.37.0")
# What the receiver may take to stop after the drain (in-flight requests).
INFLIGHT_BOUND_S = 30

PASSED = FAILED = SKIPPED = 0
TMP = Path(tempfile.mkdtemp(prefix="strathon-pkg."))
DATABASES: list[str] = []
PROCS: list[subprocess.Popen] = []


def check(name: str, ok, detail: str = "") -> bool:
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {name}" + (f"\n     {detail}" if detail else ""), flush=True)
    return bool(ok)


def skip(name: str, why: str) -> None:
    global SKIPPED
    SKIPPED += 1
    print(f"SKIP {name}: {why}", flush=True)


def run(cmd, env=None, timeout=60, cwd=REPO, input_=None):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, input=input_)


def clean_env(**extra) -> dict:
    """A minimal environment, so a developer's STRATHON_* or COMPOSE_* cannot leak in."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "DOCKER_CONFIG": DOCKER_CONFIG, "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def tail(text: str, n: int = 15) -> str:
    lines = text.strip().splitlines()
    return "\n     ".join(lines[-n:])


# ---------------------------------------------------------------------------
# YAML with Compose's merge tags
# ---------------------------------------------------------------------------

class TagLoader(yaml.SafeLoader):
    """Accepts Compose's !override / !reset: the schema sees the plain value."""


def _tagged(loader, node):
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)


for _tag in ("!override", "!reset"):
    TagLoader.add_constructor(_tag, _tagged)


def load_yaml(path: Path):
    return yaml.load(path.read_text(), Loader=TagLoader)  # noqa: S506 - SafeLoader subclass


def load_yaml_all(path: Path) -> list:
    return [d for d in yaml.load_all(path.read_text(), Loader=TagLoader) if d]  # noqa: S506


# ---------------------------------------------------------------------------
# Docker Compose v2 (config needs no engine)
# ---------------------------------------------------------------------------

def compose_cmd() -> list[str]:
    if shutil.which("docker"):
        return ["docker", "compose"]
    return [COMPOSE_BIN]


def compose_config(files: list[Path], extra_env: dict | None = None, fmt_json: bool = True):
    cmd = compose_cmd()
    for f in files:
        cmd += ["-f", str(f)]
    cmd += ["--env-file", str(ENV_EXAMPLE), "config"]
    if fmt_json:
        cmd += ["--format", "json"]
    return run(cmd, env=clean_env(**(extra_env or {})))


def fernet_key() -> str:
    return urlsafe_b64encode(secrets.token_bytes(32)).decode()


SECURITY_KEYS = {
    "STRATHON_AUDIT_HMAC_KEY": secrets.token_hex(32),
    "STRATHON_ENCRYPTION_KEY": fernet_key(),
    "STRATHON_PASSWORD_PEPPER": secrets.token_hex(32),
}
PROD_ENV = {**SECURITY_KEYS, "POSTGRES_PASSWORD": "pkg_" + secrets.token_hex(8)}


def validate_schema(label: str, doc, schema: Path = COMPOSE_SCHEMA) -> bool:
    path = TMP / (re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") + ".json")
    path.write_text(json.dumps(doc))
    res = run([str(PY_BIN / "check-jsonschema"), "--schemafile", str(schema), str(path)])
    return check(f"schema: {label} conforms to the Compose Specification", res.returncode == 0,
                 tail(res.stdout + res.stderr))


def section_compose_schemas() -> dict:
    merged = {}
    dev_doc = load_yaml(DEV)
    prod_doc = load_yaml(PROD)
    validate_schema("compose/compose.yaml", dev_doc)
    validate_schema("compose/compose.prod.yaml", prod_doc)

    broken = copy.deepcopy(dev_doc)
    broken["services"]["receiver"]["depends_on"]["postgres"]["condition"] = "healthy"
    path = TMP / "broken-compose.json"
    path.write_text(json.dumps(broken))
    res = run([str(PY_BIN / "check-jsonschema"), "--schemafile", str(COMPOSE_SCHEMA), str(path)])
    check("schema: the compose validator is live (rejects depends_on condition `healthy`)", res.returncode != 0,
          "a broken document passed: " + tail(res.stdout))

    res = compose_config([DEV])
    if check("compose: Docker Compose accepts compose.yaml with .env.example", res.returncode == 0,
             tail(res.stderr)):
        merged["dev"] = json.loads(res.stdout)
        validate_schema("compose.yaml as Compose resolves it", merged["dev"])

    res = compose_config([DEV, PROD])
    check("compose: the production overlay refuses to start while the security keys are unset",
          res.returncode != 0 and "required variable" in res.stderr and "STRATHON_" in res.stderr,
          f"exit {res.returncode}: {tail(res.stderr)}")
    res = compose_config([DEV, PROD], PROD_ENV)
    if check("compose: Docker Compose merges compose.yaml + compose.prod.yaml (keys set)", res.returncode == 0,
             tail(res.stderr)):
        merged["prod"] = json.loads(res.stdout)
        validate_schema("the merged production pair", merged["prod"])
    return merged


def section_k8s_schemas() -> None:
    files = sorted(K8S_DIR.glob("*.yaml"))
    tool = str(PY_BIN / "kubernetes-validate")
    for version in K8S_VERSIONS:
        res = run([tool, "--strict", "--quiet", "-k", version, *map(str, files)])
        check(f"schema: deploy/kubernetes/*.yaml ({len(files)} files) validate against Kubernetes {version} (strict)",
              res.returncode == 0, tail(res.stdout + res.stderr))
    bad = load_yaml_all(K8S_DIR / "deployment.yaml")[0]
    bad["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 45
    path = TMP / "broken-deployment.yaml"
    path.write_text(yaml.safe_dump(bad))
    res = run([tool, "--strict", "--quiet", "-k", K8S_VERSIONS[-1], str(path)])
    check("schema: the Kubernetes validator is live (rejects a misspelt field)", res.returncode != 0,
          "a broken manifest passed")


# ---------------------------------------------------------------------------
# Settings: names and defaults the binary accepts
# ---------------------------------------------------------------------------

def binary_settings() -> tuple[dict, set]:
    """{NAME: default or None} from every subcommand's --help, and the subcommands."""
    settings: dict = {}
    commands: set = set()

    def walk(path: list[str]) -> None:
        res = run([str(BIN), *path, "--help"], timeout=20)
        text = res.stdout
        for m in re.finditer(r"\[env: ([A-Z][A-Z0-9_]*)[^\]]*\](?:\s*\n\s*\[default: ([^\]]*)\])?", text):
            name, default = m.group(1), m.group(2)
            if default is not None and len(default) >= 2 and default[0] == default[-1] == '"':
                default = default[1:-1]
            settings.setdefault(name, default)
        block = re.search(r"^Commands:\n((?:  \S.*\n?)+)", text, re.M)
        if block:
            for line in block.group(1).splitlines():
                sub = line.split()[0]
                if sub != "help":
                    commands.add(" ".join([*path, sub]))
                    walk([*path, sub])

    walk([])
    return settings, commands


ENV_TOKEN = re.compile(r"\b(STRATHON_[A-Z0-9_]+)")
INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


def raw_tokens(text: str) -> set:
    # `STRATHON_RATE_LIMIT_*` in prose names a family, not a variable.
    return {t for t in ENV_TOKEN.findall(text) if not t.endswith("_")}


def compose_names(path: Path) -> set:
    text = path.read_text()
    doc = load_yaml(path)
    names = raw_tokens(text) | {m.group(1) for m in INTERP.finditer(text)}
    for svc in (doc.get("services") or {}).values():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
        names |= set(env)
    return names


ENV_LINE = re.compile(r"^\s*(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example_entries() -> list[tuple[str, str, bool]]:
    """(name, value, commented) for every KEY=value line, commented or not."""
    out = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = ENV_LINE.match(line)
        if m:
            out.append((m.group(2), m.group(3).strip(), bool(m.group(1))))
    return out


def k8s_names(path: Path) -> set:
    names = raw_tokens(path.read_text())
    for doc in load_yaml_all(path):
        if doc.get("kind") == "Secret":
            names |= set(doc.get("stringData") or {}) | set(doc.get("data") or {})
        for c in pod_containers(doc):
            for e in c.get("env") or []:
                names.add(e["name"])
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    names.add(ref["key"])
    return names


def pod_containers(doc: dict) -> list:
    spec = (doc.get("spec") or {}).get("template", {}).get("spec", {})
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def section_settings(settings: dict) -> None:
    accepted = set(settings) | COMPOSE_ONLY
    sources = {
        "compose/compose.yaml": compose_names(DEV),
        "compose/compose.prod.yaml": compose_names(PROD),
        "compose/.env.example": {n for n, _, _ in env_example_entries()} | raw_tokens(ENV_EXAMPLE.read_text()),
    }
    for f in sorted(K8S_DIR.glob("*.yaml")):
        sources[f"deploy/kubernetes/{f.name}"] = k8s_names(f)
    for label, names in sources.items():
        unknown = sorted(names - accepted)
        check(f"settings: every variable named in {label} ({len(names)}) is one `strathon` accepts",
              not unknown, "not accepted by any `strathon` subcommand: " + ", ".join(unknown))

    # Defaults: compose.yaml's ${VAR:-x} fallbacks and .env.example's values
    # are documented as the binary's defaults; a drift would silently change
    # behaviour between `strathon serve` and the compose stack. (The
    # production overlay's fallbacks differ on purpose.)
    wrong = []
    for path in (DEV,):
        for m in INTERP.finditer(path.read_text()):
            name, op, val = m.group(1), m.group(2), m.group(3)
            if op in (":-", "-") and name in settings:
                want = settings[name] or ""
                if (val or "") != want:
                    wrong.append(f"{path.name}: ${{{name}:-{val}}} but the binary's default is {want!r}")
    check("settings: compose.yaml's fallback values equal the binary's defaults", not wrong, "\n     ".join(wrong))
    wrong = []
    for name, val, commented in env_example_entries():
        if not commented and name in settings and settings[name] is not None and val != settings[name]:
            wrong.append(f"{name}={val} but the binary's default is {settings[name]!r}")
    check("settings: .env.example shows the binary's defaults (it says so)", not wrong, "\n     ".join(wrong))

    # compose/.env only matters for names compose.yaml reads.
    dev_text = DEV.read_text()
    used = {m.group(1) for m in INTERP.finditer(dev_text)}
    fixed = set()
    for svc in (load_yaml(DEV).get("services") or {}).values():
        fixed |= set(svc.get("environment") or {})
    listed = {n for n, _, _ in env_example_entries()}
    dead = sorted(listed - used - fixed)
    check("settings: every variable in .env.example reaches a container through compose.yaml", not dead,
          "set in .env.example but never read by compose.yaml: " + ", ".join(dead))
    undocumented = sorted(used - listed)
    check("settings: every ${VAR} compose.yaml reads is listed in .env.example", not undocumented,
          "missing from .env.example: " + ", ".join(undocumented))


# ---------------------------------------------------------------------------
# Wiring
# ---------------------------------------------------------------------------

def bind_port(value: str) -> int:
    return int(value.rsplit(":", 1)[1])


BIND_VARS = {"serve": "STRATHON_BIND", "dashboard": "STRATHON_DASHBOARD_BIND"}


def section_compose_wiring(merged: dict, settings: dict) -> None:
    dev = merged.get("dev")
    prod = merged.get("prod")
    if dev:
        svcs = dev["services"]
        check("compose: postgres, receiver and dashboard services, no profile",
              {"postgres", "receiver", "dashboard"} <= set(svcs)
              and not any(s.get("profiles") for s in svcs.values()), repr(sorted(svcs)))
        check("compose: Postgres is not published on the host (docs/self-hosting.md says why)",
              not svcs["postgres"].get("ports"), repr(svcs["postgres"].get("ports")))
        ours = {n: s for n, s in svcs.items() if (s.get("command") or [None])[0] in BIND_VARS | {"migrate": 0}}
        images = {s.get("image") for s in ours.values()}
        check("compose: every service that runs strathon uses one image", len(images) == 1, repr(images))
        for name, svc in ours.items():
            var = BIND_VARS.get(svc["command"][0])
            if not var:
                continue
            port = bind_port(svc["environment"].get(var) or settings.get(var) or "0:0")
            targets = [p["target"] for p in svc.get("ports") or []]
            check(f"compose: {name} publishes the port it listens on ({var} -> {port})",
                  targets == [port], f"published targets {targets}")
            test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
            check(f"compose: {name}'s healthcheck probes that port", f":{port}/health" in test, test)
        dash = svcs.get("dashboard", {})
        dep = (dash.get("depends_on") or {}).get("receiver", {})
        check("compose: the dashboard waits for a healthy receiver and calls it by service name",
              dep.get("condition") == "service_healthy"
              and (dash.get("environment") or {}).get("STRATHON_DASHBOARD_API_URL") == "http://receiver:4318",
              f"{dep} {dash.get('environment')}")
    if prod:
        svcs = prod["services"]
        public = [f"{n}: {p.get('host_ip') or '0.0.0.0'}:{p.get('published')}"
                  for n, s in svcs.items() for p in s.get("ports") or [] if p.get("host_ip") != "127.0.0.1"]
        check("compose prod: every published port is on 127.0.0.1 only (the TLS proxy is the way in)",
              not public, "published beyond loopback: " + ", ".join(public))
        norestart = [n for n, s in svcs.items() if n != "migrate" and s.get("restart") != "unless-stopped"]
        check("compose prod: long-running services restart unless stopped", not norestart, repr(norestart))
        env = svcs.get("dashboard", {}).get("environment") or {}
        check("compose prod: the dashboard's cookie is Secure and it believes the proxy's forwarded headers",
              env.get("STRATHON_COOKIE_SECURE") == "true" and env.get("STRATHON_DASHBOARD_TRUSTED_PROXIES"),
              repr(env))
        rec = svcs.get("receiver", {})
        check("compose prod: the receiver waits for the migrate service to complete and does not migrate itself",
              (rec.get("depends_on") or {}).get("migrate", {}).get("condition") == "service_completed_successfully"
              and rec.get("environment", {}).get("STRATHON_AUTO_MIGRATE") == "false", repr(rec.get("depends_on")))


def k8s_docs() -> dict:
    docs = {}
    for f in sorted(K8S_DIR.glob("*.yaml")):
        for d in load_yaml_all(f):
            docs[(d["kind"], d["metadata"]["name"])] = d
    return docs


def env_value(container: dict, name: str):
    for e in container.get("env") or []:
        if e["name"] == name:
            return e.get("value")
    return None


def section_k8s_wiring(settings: dict) -> None:
    docs = k8s_docs()
    dep = docs.get(("Deployment", "strathon-receiver"))
    dash = docs.get(("Deployment", "strathon-dashboard"))
    job = docs.get(("Job", "strathon-migrate"))
    pdb = docs.get(("PodDisruptionBudget", "strathon-receiver"))
    if not check("k8s: receiver and dashboard Deployments, migrate Job and receiver PDB exist",
                 all((dep, dash, job, pdb)), repr(sorted(docs))):
        return
    images = {c["image"] for d in (dep, dash, job) for c in pod_containers(d)}
    check("k8s: the receiver, the dashboard and the migrate Job run one image tag", len(images) == 1, repr(images))

    spec = dep["spec"]
    pod = spec["template"]["spec"]
    rec = pod["containers"][0]
    check("k8s: rollout keeps every old receiver until its replacement is ready (maxUnavailable 0)",
          spec["strategy"]["rollingUpdate"].get("maxUnavailable") == 0, repr(spec["strategy"]))
    drain = env_value(rec, "STRATHON_SHUTDOWN_DRAIN_SECONDS")
    drain_s = int(drain if drain is not None else settings.get("STRATHON_SHUTDOWN_DRAIN_SECONDS") or 10)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(f"k8s: terminationGracePeriodSeconds ({grace}) covers the drain ({drain_s} s) plus in-flight work "
          f"({INFLIGHT_BOUND_S} s)", grace >= drain_s + INFLIGHT_BOUND_S, f"grace {grace}")
    check("k8s: no preStop sleep on the receiver (the drain does that job)",
          "lifecycle" not in rec, repr(rec.get("lifecycle")))
    check("k8s: the receiver does not migrate; the Job does",
          env_value(rec, "STRATHON_AUTO_MIGRATE") == "false" and pod_containers(job)[0]["args"] == ["migrate"],
          "")
    labels = spec["template"]["metadata"]["labels"]
    sel = pdb["spec"]["selector"]["matchLabels"]
    check("k8s: the PDB selects exactly the receiver pods",
          all(labels.get(k) == v for k, v in sel.items())
          and not all(dash["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()),
          f"{sel} vs {labels}")
    allowed = pdb["spec"].get("maxUnavailable")
    check(f"k8s: with {spec['replicas']} replicas the PDB (maxUnavailable {allowed}) always leaves one serving",
          isinstance(allowed, int) and spec["replicas"] >= 2 and spec["replicas"] - allowed >= 1, "")

    for kind_name, d in docs.items():
        if kind_name[0] != "Service":
            continue
        target = next((x for x in docs.values() if x["kind"] == "Deployment"
                       and all(x["spec"]["template"]["metadata"]["labels"].get(k) == v
                               for k, v in d["spec"]["selector"].items())), None)
        ports = {p["name"]: p["containerPort"] for c in pod_containers(target or {}) for p in c.get("ports") or []}
        ok = target is not None and all(p["targetPort"] in ports for p in d["spec"]["ports"])
        check(f"k8s: Service {kind_name[1]} selects a Deployment and targets a named container port", ok,
              f"{d['spec']}")
    secret = docs.get(("Secret", "strathon-secrets"), {})
    keys = set(secret.get("stringData") or {})
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for d in (dep, dash, job) for c in pod_containers(d)
            for e in c.get("env") or [] if (e.get("valueFrom") or {}).get("secretKeyRef")}
    check("k8s: every secretKeyRef names a key of secret.example.yaml", refs <= keys, repr(refs - keys))
    for d in (dep, dash, job):
        psec = d["spec"]["template"]["spec"].get("securityContext") or {}
        for c in pod_containers(d):
            csec = c.get("securityContext") or {}
            res = c.get("resources") or {}
            check(f"k8s: {d['metadata']['name']}/{c['name']}: uid 1001, non-root, read-only root, requests and limits",
                  psec.get("runAsUser") == 1001 and psec.get("runAsNonRoot") is True
                  and csec.get("readOnlyRootFilesystem") is True
                  and {"cpu", "memory"} <= set(res.get("requests") or {})
                  and {"memory"} <= set(res.get("limits") or {}), f"{psec} {csec} {res}")
    dc = dash["spec"]["template"]["spec"]["containers"][0]
    probes = [dc.get(p, {}).get("httpGet", {}) for p in ("livenessProbe", "readinessProbe")]
    dports = {p["name"]: p["containerPort"] for p in dc.get("ports") or []}
    check("k8s: the dashboard's probes ask /health on port 3000",
          all(p.get("path") == "/health" and dports.get(p.get("port"), p.get("port")) == 3000 for p in probes),
          repr(probes))


# ---------------------------------------------------------------------------
# Running the real binary
# ---------------------------------------------------------------------------

def psql(sql: str) -> subprocess.CompletedProcess:
    return run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{PG}/postgres", "-c", sql])


def new_database() -> str:
    name = "strathon_pkg_" + secrets.token_hex(5)
    res = psql(f'CREATE DATABASE "{name}"')
    if res.returncode != 0:
        raise RuntimeError(f"cannot create database {name} on {PG}: {res.stderr.strip()}")
    DATABASES.append(name)
    return name


def drop_databases() -> None:
    for name in DATABASES:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = 2) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except Exception:
        return None


class Proc:
    def __init__(self, label: str, args: list[str], env: dict):
        self.label = label
        self.log = TMP / (re.sub(r"[^a-z0-9]+", "-", label.lower()) + ".log")
        self.fh = open(self.log, "w")
        self.p = subprocess.Popen([str(BIN), *args], env=env, stdin=subprocess.DEVNULL, stdout=self.fh,
                                  stderr=subprocess.STDOUT)
        PROCS.append(self.p)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            if self.wait(INFLIGHT_BOUND_S + 30) is None:
                self.p.kill()
                self.p.wait()
        self.fh.close()

    def output(self) -> str:
        if not self.fh.closed:
            self.fh.flush()
        return tail(self.log.read_text(errors="replace"))


def wait_healthy(proc: Proc, probe, timeout: float) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            return False, f"exited with {proc.p.returncode}:\n     {proc.output()}"
        ok, last = probe()
        if ok:
            return True, ""
        time.sleep(0.2)
    return False, f"not healthy after {timeout:.0f} s ({last}):\n     {proc.output()}"


def has_dashboard(commands: set) -> bool:
    return "dashboard" in commands


def base_env() -> dict:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}


def local_db_url(url: str, db: str) -> str:
    # postgres://strathon:PW@postgres:5432/strathon -> the local server, a throwaway database.
    if "@postgres:5432/" not in url:
        raise ValueError(f"unexpected DATABASE_URL {url}")
    return f"{PG}/{db}"


def topo(services: dict) -> list[str]:
    order, seen = [], set()

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        for d in (services[n].get("depends_on") or {}):
            visit(d)
        order.append(n)

    for n in sorted(services):
        visit(n)
    return order


def run_compose_stack(label: str, config: dict, commands: set) -> None:
    services = config["services"]
    db = new_database()
    ports: dict[str, int] = {}        # service -> host port we gave it
    oneshot = {d for s in services.values() for d, c in (s.get("depends_on") or {}).items()
               if c.get("condition") == "service_completed_successfully"}
    started: list[Proc] = []
    try:
        for name in topo(services):
            svc = services[name]
            cmd = svc.get("command")
            if not svc.get("build") and svc.get("image", "").startswith("postgres"):
                print(f"     ({label}: {name} is the Postgres image; the local Postgres stands in)", flush=True)
                continue
            if not cmd:
                check(f"{label}: {name} names its strathon subcommand", False, repr(svc))
                continue
            if cmd[0] == "dashboard" and not has_dashboard(commands):
                skip(f"{label}: {name} (`strathon dashboard`) starts and answers its healthcheck",
                     "this strathon binary has no `dashboard` subcommand yet")
                continue
            env = base_env()
            for k, v in (svc.get("environment") or {}).items():
                env[k] = "" if v is None else str(v)
            if "DATABASE_URL" in env:
                env["DATABASE_URL"] = local_db_url(env["DATABASE_URL"], db)
            inner = None
            var = BIND_VARS.get(cmd[0])
            if var:
                inner = bind_port(env.get(var) or "0:0")
                ports[name] = free_port()
                env[var] = f"127.0.0.1:{ports[name]}"
            api = env.get("STRATHON_DASHBOARD_API_URL")
            if api:
                m = re.match(r"http://([a-z0-9-]+):(\d+)", api)
                if m and m.group(1) in ports:
                    env["STRATHON_DASHBOARD_API_URL"] = f"http://127.0.0.1:{ports[m.group(1)]}"
            proc = Proc(f"{label}-{name}", cmd, env)
            started.append(proc)
            if name in oneshot or not svc.get("healthcheck"):
                rc = proc.wait(90)
                check(f"{label}: {name} (`strathon {' '.join(cmd)}`) runs to completion with exit 0", rc == 0,
                      f"exit {rc}:\n     {proc.output()}")
                continue
            test = list(svc["healthcheck"]["test"])
            if test[0] != "CMD":
                check(f"{label}: {name}'s healthcheck is an exec (CMD) test", False, repr(test))
                continue
            argv = [a.replace(f"127.0.0.1:{inner}/", f"127.0.0.1:{ports[name]}/") for a in test[1:]]

            def probe(argv=argv):
                r = run(argv, timeout=10)
                return r.returncode == 0, f"{shlex.join(argv)} -> {r.returncode}"

            ok, why = wait_healthy(proc, probe, 60)
            check(f"{label}: {name} (`strathon {' '.join(cmd)}`) starts with its compose environment and passes its "
                  f"healthcheck", ok, why)
    finally:
        for proc in reversed(started):
            proc.stop()


def k8s_env(container: dict, db: str) -> dict:
    secret_values = {"DATABASE_URL": f"{PG}/{db}", **SECURITY_KEYS}
    env = base_env()
    for e in container.get("env") or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
        else:
            env[e["name"]] = secret_values[e["valueFrom"]["secretKeyRef"]["key"]]
    return env


def section_k8s_run(settings: dict, commands: set) -> None:
    docs = k8s_docs()
    job = docs[("Job", "strathon-migrate")]
    dep = docs[("Deployment", "strathon-receiver")]
    dash = docs[("Deployment", "strathon-dashboard")]
    db = new_database()

    jc = pod_containers(job)[0]
    proc = Proc("k8s-migrate", jc["args"], k8s_env(jc, db))
    rc = proc.wait(90)
    proc.stop()
    check("k8s run: the migrate Job's container exits 0 on an empty database", rc == 0,
          f"exit {rc}:\n     {proc.output()}")

    rc_ = dep["spec"]["template"]["spec"]["containers"][0]
    env = k8s_env(rc_, db)
    cport = {p["name"]: p["containerPort"] for p in rc_["ports"]}
    listen = bind_port(env.get("STRATHON_BIND") or settings.get("STRATHON_BIND") or "0:0")
    check("k8s: the receiver listens on its containerPort", cport.get("http") == listen, f"{cport} vs {listen}")
    port = free_port()
    env["STRATHON_BIND"] = f"127.0.0.1:{port}"
    proc = Proc("k8s-receiver", rc_["args"], env)
    try:
        probes = {p: rc_[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}

        def all_probes():
            got = {p: http_status(f"http://127.0.0.1:{port}{path}") for p, path in probes.items()}
            return all(v == 200 for v in got.values()), repr(got)

        ok, why = wait_healthy(proc, all_probes, 90)
        check(f"k8s run: the receiver (migrated by the Job, auto-migrate off) answers its probes "
              f"{sorted(set(probes.values()))} with 200", ok, why)
        if ok:
            drain = int(env.get("STRATHON_SHUTDOWN_DRAIN_SECONDS")
                        or settings.get("STRATHON_SHUTDOWN_DRAIN_SECONDS") or 10)
            grace = dep["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
            t0 = time.monotonic()
            proc.p.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            ready, health = (http_status(f"http://127.0.0.1:{port}/ready"),
                             http_status(f"http://127.0.0.1:{port}/health"))
            check("k8s run: on SIGTERM /ready answers 503 at once while requests are still served (/health 200)",
                  ready == 503 and health == 200, f"/ready {ready}, /health {health} 0.5 s after SIGTERM")
            served_until = t0
            while proc.p.poll() is None and time.monotonic() - t0 < grace + 5:
                if http_status(f"http://127.0.0.1:{port}/health", timeout=1) == 200:
                    served_until = time.monotonic()
                time.sleep(0.25)
            rc = proc.p.poll()
            took = time.monotonic() - t0
            check(f"k8s run: after SIGTERM the receiver serves through the drain ({drain} s) and exits 0 within "
                  f"terminationGracePeriodSeconds ({grace} s)",
                  rc == 0 and took <= grace and served_until - t0 >= drain - 1,
                  f"exit {rc} after {took:.1f} s, last served {served_until - t0:.1f} s after SIGTERM")
    finally:
        proc.stop()

    dc = dash["spec"]["template"]["spec"]["containers"][0]
    if not has_dashboard(commands):
        skip("k8s run: the dashboard answers its probes", "this strathon binary has no `dashboard` subcommand yet")
        return
    env = k8s_env(dc, db)
    dport = {p["name"]: p["containerPort"] for p in dc["ports"]}["http"]
    listen = bind_port(env.get("STRATHON_DASHBOARD_BIND") or settings.get("STRATHON_DASHBOARD_BIND") or "0:0")
    check("k8s: the dashboard listens on its containerPort", dport == listen, f"{dport} vs {listen}")
    port = free_port()
    env["STRATHON_DASHBOARD_BIND"] = f"127.0.0.1:{port}"
    # Nothing listens at the in-cluster receiver name here: /health must not care.
    env["STRATHON_DASHBOARD_API_URL"] = f"http://127.0.0.1:{free_port()}"
    proc = Proc("k8s-dashboard", dc["args"], env)
    try:
        path = dc["readinessProbe"]["httpGet"]["path"]
        ok, why = wait_healthy(proc, lambda: (http_status(f"http://127.0.0.1:{port}{path}") == 200, ""), 30)
        check(f"k8s run: the dashboard answers {path} with 200 with no receiver reachable", ok, why)
    finally:
        proc.stop()


# ---------------------------------------------------------------------------
# Makefile, the log follower, docs
# ---------------------------------------------------------------------------

def compose_flags_ok(line: str) -> tuple[bool, str]:
    """Compose itself parses the command's flags (--help exits 0 only then) and its -f files."""
    argv = shlex.split(line)
    assert argv[:2] == ["docker", "compose"], argv
    args = argv[2:]
    # exec and run pass what follows the service name to the container, so
    # only the part up to the service name is Compose's to parse.
    head = args
    for i, a in enumerate(args):
        if a in ("exec", "run") and (i == 0 or args[i - 1] not in ("-f", "--file", "--env-file", "-p")):
            j = i + 1
            while j < len(args) and args[j].startswith("-"):
                j += 1
            head = args[:j]
            break
    res = run([*compose_cmd(), *head, "--help"], env=clean_env(), cwd=REPO)
    if res.returncode != 0:
        return False, f"{line}: {res.stderr.strip()}"
    files = []
    i = 0
    while i < len(args):
        if args[i] in ("-f", "--file"):
            files.append(args[i + 1])
            i += 2
            continue
        if not args[i].startswith("-"):
            break
        i += 1
    if files:
        res = run([*compose_cmd(), *sum((["-f", f] for f in files), []), "--env-file", str(ENV_EXAMPLE),
                   "config", "-q"], env=clean_env(**PROD_ENV), cwd=REPO)
        if res.returncode != 0:
            return False, f"{line}: {res.stderr.strip()}"
    return True, ""


def make_n(target: str) -> list[str]:
    res = run(["make", "--no-print-directory", "-n", target], env={**base_env(), "MAKEFLAGS": ""})
    if res.returncode != 0:
        raise RuntimeError(f"make -n {target}: {res.stderr.strip()}")
    return [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]


def section_make() -> None:
    base = "docker compose -f compose/compose.yaml"
    want = {
        "up": [f"{base} up -d --build", f"compose/follow-until-ready.sh 300 {base} logs -f receiver"],
        "logs": [f"{base} logs -f receiver"],
        "down": [f"{base} down"],
        "reset": [f"{base} down -v", "make --no-print-directory up", f"{base} up -d --build",
                  f"compose/follow-until-ready.sh 300 {base} logs -f receiver"],
    }
    printed = []
    for target, lines in want.items():
        try:
            got = make_n(target)
        except RuntimeError as exc:
            check(f"make -n {target}", False, str(exc))
            continue
        printed += got
        check(f"make -n {target}: {' ; '.join(x for x in lines if x.startswith('docker'))}", got == lines,
              "printed:\n     " + "\n     ".join(got))
    # What make actually runs, not what we expected it to.
    cmds = {c for ln in printed for c in re.findall(r"(docker compose .*)$", ln)}
    bad = [why for c in sorted(cmds) for ok, why in [compose_flags_ok(c)] if not ok]
    check(f"make: Compose {compose_version()} accepts every command the Makefile runs ({len(cmds)})", not bad,
          "\n     ".join(bad))
    got = make_n("demo")
    check("make -n demo: runs docs/examples/intervention_demo.py against http://localhost:4318",
          any(ln.startswith("STRATHON_ENDPOINT=http://localhost:4318 ") and ln.endswith(
              "docs/examples/intervention_demo.py") for ln in got), "\n     ".join(got))
    check("make -n test: tests/run", make_n("test") == ["tests/run"], "")


def compose_version() -> str:
    res = run([*compose_cmd(), "version", "--short"], env=clean_env())
    return res.stdout.strip() or "?"


DOCS = ("README.md", "docs/self-hosting.md", "docs/operations.md", "docs/examples/README.md")


def section_docs_compose() -> None:
    """`docker compose ...` in the docs (code blocks and inline code) parse as documented."""
    lines = set()
    for doc in DOCS:
        text = (REPO / doc).read_text().replace("\\\n", " ")
        fence = None
        for ln in text.splitlines():
            if ln.lstrip().startswith("```"):
                fence = None if fence is not None else ln.strip().strip("`")
                continue
            if fence in ("bash", "sh", "console", ""):
                m = re.search(r"(docker compose [^#]*)", ln)
                if m:
                    lines.add(m.group(1).strip())
            elif fence is None:
                lines |= {m.strip() for m in re.findall(r"`(docker compose [^`]*)`", ln)}
    bad = [why for c in sorted(lines) for ok, why in [compose_flags_ok(c)] if not ok]
    check(f"docs: every `docker compose` command in {', '.join(DOCS)} ({len(lines)}) parses with Compose "
          f"{compose_version()}", lines and not bad, "\n     ".join(bad) or "none found")


def section_follower() -> None:
    """compose/follow-until-ready.sh, fed by the real receiver instead of `docker compose logs -f`."""
    script = str(COMPOSE_DIR / "follow-until-ready.sh")
    db = new_database()

    def follow(extra: dict, limit: int = 60):
        port = free_port()
        env = {**base_env(), "DATABASE_URL": f"{PG}/{db}", "STRATHON_BIND": f"127.0.0.1:{port}", **extra}
        argv = [script, str(limit), "env", "-i", *[f"{k}={v}" for k, v in env.items()], str(BIN), "serve"]
        t0 = time.monotonic()
        res = run(argv, timeout=limit + 30)
        return res, time.monotonic() - t0, port

    res, took, port = follow({"STRATHON_SEED_DEV_KEY": "true"})
    out = res.stdout.splitlines()
    check("make up's follower: returns 0 once the banner is shown in full (dev key on)",
          res.returncode == 0 and any("Strathon receiver ready" in x for x in out)
          and out[-1].startswith("====") and any("stra_dev_local" in x for x in out),
          f"exit {res.returncode} after {took:.1f} s:\n     {tail(res.stdout + res.stderr)}")
    check("make up's follower: stops following (the log command is gone when it returns)",
          http_status(f"http://127.0.0.1:{port}/health", timeout=1) is None, "the receiver is still running")
    res, took, _ = follow({"STRATHON_LOG_FORMAT": "json"})
    check("make up's follower: without a dev key (JSON logs) returns 0 on `listening` and says why there is no banner",
          res.returncode == 0 and "STRATHON_SEED_DEV_KEY" in res.stdout and took < 15,
          f"exit {res.returncode} after {took:.1f} s:\n     {tail(res.stdout + res.stderr)}")
    res = run([script, "10", "sh", "-c", "echo starting; exit 3"])
    check("make up's follower: fails when the log ends before the receiver is ready",
          res.returncode == 1 and "ended" in res.stderr, f"exit {res.returncode}: {res.stderr.strip()}")
    t0 = time.monotonic()
    res = run([script, "1", "sleep", "30"])
    check("make up's follower: gives up after its time limit",
          res.returncode == 1 and time.monotonic() - t0 < 5, f"exit {res.returncode}: {res.stderr.strip()}")


def section_shellcheck() -> None:
    scripts = [REPO / "compose" / "follow-until-ready.sh", *sorted((REPO / "tests" / "packaging").glob("*.sh")),
               REPO / "tests" / "compat" / "demo.sh"]
    scripts = [s for s in scripts if s.exists()]
    res = run([str(PY_BIN / "shellcheck"), "-x", *map(str, scripts)])
    check(f"shellcheck: {', '.join(str(s.relative_to(REPO)) for s in scripts)}", res.returncode == 0,
          tail(res.stdout, 40))


# ---------------------------------------------------------------------------

def main() -> int:
    t0 = time.monotonic()
    if not BIN.is_file() or not os.access(BIN, os.X_OK):
        print(f"packaging: {BIN} is missing; build it (`cargo build -p strathon-server`) or set STRATHON_BIN",
              file=sys.stderr)
        return 1
    settings, commands = binary_settings()
    print(f"packaging: {BIN} ({len(settings)} settings; subcommands {', '.join(sorted(commands))}); "
          f"Compose {compose_version()}", flush=True)
    try:
        merged = section_compose_schemas()
        section_k8s_schemas()
        section_settings(settings)
        section_compose_wiring(merged, settings)
        section_k8s_wiring(settings)
        for label in ("dev", "prod"):
            if label in merged:
                run_compose_stack(f"compose {label}", merged[label], commands)
        section_k8s_run(settings, commands)
        section_make()
        section_docs_compose()
        section_follower()
        section_shellcheck()
    except Exception:
        check("packaging checks ran to completion", False, traceback.format_exc())
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        drop_databases()
    print(f"packaging: {time.monotonic() - t0:.0f} s", flush=True)
    print(f"{PASSED} passed, {FAILED} failed" + (f", {SKIPPED} skipped" if SKIPPED else ""), flush=True)
    if FAILED == 0:
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        print(f"packaging: logs kept in {TMP}", flush=True)
    return 1 if FAILED or not PASSED else 0


if __name__ == "__main__":
    sys.exit(main())
