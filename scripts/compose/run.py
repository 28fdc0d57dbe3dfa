#!/usr/bin/python3
"""The compose test: the project's unchanged docker-compose.yml (and docker-compose.cluster.yml) on a real Docker
engine, with the image built from the Dockerfile by `docker-compose up --build`, under load and faults.

The compose files are rendered with `docker-compose config` (paths resolved) and only their published ports are
changed, to free ports on 127.0.0.1 (compose v1 concatenates `ports:` lists across -f files, so an override file
cannot move them). Every request goes to 127.0.0.1; containers talk on the compose network the test created.

Steps (each timed; a failure names its step and prints the last log lines of the failing container):
  build      `docker-compose build` (the Swift release build inside Docker), then `up -d --build` with 2 workers
  image      the image runs as uid 10001 (not root), serves /openapi.yaml; its size
  formats    one log of each kind: JSON, JSON array, NDJSON, text/plain (202), OTLP/HTTP JSON (200), Loki push JSON
             (204), with known log ids (Loki: a known marker in the line) and PII in the text
  load       clients post all those kinds while: `--scale worker=3`; `docker kill` of a worker, then `docker start`
             (a kill is a manual stop for `restart: unless-stopped`); `docker-compose restart rabbitmq`
  verify     every log answered 202/200/204 is in its tenant's collection exactly once (read with pymongo inside the
             mongo container, as mongosh would), redacted; nothing never sent is stored
  ui         the management UI answers on its published port with the compose credentials (and refuses wrong
             ones) and lists the quorum work queues
  cli        `docker-compose exec -T api logpipe dlq stats`, `logs tail` and `logs get` inside the containers
  monitoring the `monitoring` profile's Prometheus (grafana is not started: no image here) scrapes the API, every
             worker and RabbitMQ, and has loaded the alert rules
  stop       graceful `docker-compose stop` under load: every container exits 0 (none killed at the grace
             period), and after `docker-compose start` every log answered before the stop is stored once
  cluster    `-f docker-compose.yml -f docker-compose.cluster.yml`: three RabbitMQ nodes form one cluster, the work
             queues are quorum queues with a member on each node; the node every URL list starts with is killed
             under load and started again; nothing answered is lost or stored twice

Everything the test creates (containers, networks, volumes of its compose projects) is removed at the end, also
on failure; images are kept (the stand-ins and the logpipe image are reused by the next run).

  DOCKER_HOST=unix://… python3 scripts/compose/run.py [--phase-seconds 8] [--skip-cluster] [--skip-monitoring]
"""
import argparse
import base64
import fcntl
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time

import yaml  # python3-yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = "/tmp/logpipe-compose-test"
LOCK = "/tmp/logpipe-build.lock"
TENANTS = ["acme", "beta", "gamma"]
CREDENTIALS = ("logpipe", "logpipe")  # docker-compose.yml's RABBITMQ_DEFAULT_USER/PASS (development defaults)
ACCEPTED = {"ingest": 202, "otlp": 200, "loki": 204}
# What the stored texts must never hold again: the e-mail addresses and phone numbers the clients send.
RAW_PII = re.compile(r"[a-z0-9.]+@example\.com|555-0100")


class StepFailed(Exception):
    def __init__(self, message, containers=()):
        super().__init__(message)
        self.containers = list(containers)


def log(message):
    print(f"compose test: {message}", flush=True)


# MARK: - Processes


def run(argv, check=True, timeout=900, input_text=None):
    """Runs a program, its output captured; raises StepFailed naming it when it fails and `check` is set."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input_text)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"`{' '.join(argv[:6])} …` did not finish within {timeout} s") from None
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise StepFailed(f"`{' '.join(argv[:8])}` exited {result.returncode}:\n{tail}")
    return result


def docker(*arguments, check=True, timeout=300):
    argv = ["/usr/bin/docker", *arguments]
    return run(argv, check=check, timeout=timeout)


class Project:
    """One compose project: a rendered file, a project name, the ports it publishes on 127.0.0.1."""

    def __init__(self, name, files, env):
        self.name, self.env = name, env
        self.ports = {}  # (service, container port) -> host port
        self.file = os.path.join(WORK, f"{name}.yml")
        self.render(files)

    def render(self, files):
        argv = ["docker-compose", "--project-directory", ROOT]
        for file in files:
            argv += ["-f", os.path.join(ROOT, file)]
        rendered = subprocess.run([*argv, "config"], capture_output=True, text=True, env=self.env, timeout=60)
        if rendered.returncode != 0:
            raise StepFailed(f"docker-compose config failed: {rendered.stderr.strip()[-500:]}")
        config = yaml.safe_load(rendered.stdout)
        # The only change: each published port goes to a free port on 127.0.0.1.
        for service_name, service in config["services"].items():
            ports = []
            for port in service.get("ports", []):
                target = int(port["target"]) if isinstance(port, dict) else int(str(port).split(":")[-1].split("/")[0])
                host_port = free_port()
                self.ports[(service_name, target)] = host_port
                ports.append(f"127.0.0.1:{host_port}:{target}")
            if ports:
                service["ports"] = ports
        fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold the test's Erlang cookie
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)

    def compose(self, *arguments, check=True, timeout=900):
        argv = ["docker-compose", "-p", self.name, "-f", self.file, "--project-directory", ROOT, *arguments]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"`docker-compose {' '.join(arguments)}` did not finish within {timeout} s", self.containers()) from None
        if check and result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
            raise StepFailed(f"`docker-compose {' '.join(arguments)}` exited {result.returncode}:\n{tail}", self.containers())
        return result

    def containers(self, service=None):
        """Container names of the project (of one service), in index order."""
        filters = ["--filter", f"label=com.docker.compose.project={self.name}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        result = docker("ps", "-a", *filters, "--format", "{{.Names}}", check=False)
        return sorted(result.stdout.split(), key=lambda name: (name.rsplit("_", 1)[0], int(name.rsplit("_", 1)[-1]) if name.rsplit("_", 1)[-1].isdigit() else 0))

    def url(self, service, port):
        return "127.0.0.1", self.ports[(service, port)]

    def down(self):
        """Removes the project's containers, networks and volumes (also what `down` left behind)."""
        self.compose("--profile", "monitoring", "down", "-v", "--remove-orphans", "--timeout", "20", check=False, timeout=300)
        label = f"label=com.docker.compose.project={self.name}"
        for listing, removal in ((["ps", "-aq"], ["rm", "-f", "-v"]), (["network", "ls", "-q"], ["network", "rm"]),
                                 (["volume", "ls", "-q"], ["volume", "rm", "-f"])):
            leftovers = docker(*listing, "--filter", label, check=False).stdout.split()
            if leftovers:
                docker(*removal, *leftovers, check=False)

    def save_logs(self):
        result = self.compose("--profile", "monitoring", "logs", "--no-color", "--timestamps", check=False, timeout=120)
        with open(os.path.join(WORK, f"{self.name}.log"), "w") as handle:
            handle.write(result.stdout + result.stderr)


def prune_old_builds():
    """Removes what earlier builds left untagged in the private engine (dangling images: an earlier build stage of
    the logpipe image, an image the last build replaced), all but the newest, which is this build's Swift build
    stage and the cache of the next build. Every image of the engine is this test's (scripts/compose/engine.sh)."""
    rows = docker("images", "--filter", "dangling=true", "--format", "{{.ID}} {{.CreatedAt}}", check=False).stdout.splitlines()
    old = [row.split()[0] for row in sorted(rows, key=lambda row: row.split(" ", 1)[1], reverse=True)[1:]]
    if old:
        docker("rmi", *old, check=False)
    return len(old)


class BuildLock:
    """The machine's lock for heavy builds (flock on /tmp/logpipe-build.lock, as `flock` takes it): held from the
    image build through `up --build`, so that nobody's Swift build shares the two cores with the image's."""

    def acquire(self):
        self.handle = open(LOCK, "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def release(self):
        if getattr(self, "handle", None):
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def container_state(name):
    result = docker("inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}", name, check=False)
    parts = result.stdout.split()
    return tuple(parts) if len(parts) == 3 else ("missing", "none", "-1")


def wait_healthy(project, services, deadline_s=240):
    """Until every container of the services is running and healthy; names the ones that are not."""
    deadline = time.time() + deadline_s
    while True:
        names = [name for service in services for name in project.containers(service)]
        states = {name: container_state(name) for name in names}
        waiting = [name for name, (status, health, _) in states.items() if status != "running" or health not in ("healthy", "none")]
        if names and not waiting:
            return
        exited = [name for name in waiting if states[name][0] in ("exited", "dead")]
        if exited:
            raise StepFailed(f"exited while waiting for it to be healthy: {', '.join(f'{n} (exit {states[n][2]})' for n in exited)}", exited)
        if time.time() > deadline:
            details = ", ".join(f"{name} {states[name][0]}/{states[name][1]}" for name in waiting) or "no containers"
            raise StepFailed(f"not healthy within {deadline_s} s: {details}", waiting)
        time.sleep(0.5)


def wait_ready(project, containers, deadline_s=120):
    """Until each logpipe container answers 200 on its own /readiness (asked inside it: workers publish no port)."""
    deadline = time.time() + deadline_s
    pending = list(containers)
    while pending:
        name = pending[0]
        port = 8001 if "_worker_" in name else 8000
        if docker("exec", name, "curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{port}/readiness", check=False, timeout=30).returncode == 0:
            pending.pop(0)
            continue
        if time.time() > deadline:
            raise StepFailed(f"{name} not ready (/readiness) within {deadline_s} s", [name])
        time.sleep(0.3)


# MARK: - HTTP


def request(host_port, method, path, body=None, headers=None, timeout=15, auth=None):
    host, port = host_port
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def error_code(body):
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


class Ledger:
    """What was sent and what was answered, by phase: log ids (and, for Loki pushes, which carry no id, markers
    in the line)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.phase = "formats"
        self.attempted = {}  # key (log id or loki marker) -> tenant
        self.accepted = {}  # key -> phase of its acceptance
        self.answers = {}  # (phase, status or "connection", error code) -> count

    def record(self, keys, tenant_of, status, code, ok):
        with self.lock:
            for key in keys:
                self.attempted[key] = tenant_of[key]
                if ok:
                    self.accepted[key] = self.phase
            answer = (self.phase, status, code)
            self.answers[answer] = self.answers.get(answer, 0) + 1


class Client(threading.Thread):
    """Posts every kind of body the API takes, with known ids, until stopped."""

    KINDS = ["json", "array", "ndjson", "text", "otlp", "loki"]

    def __init__(self, api, ledger, name, stop, seed):
        super().__init__(daemon=True)
        self.api, self.ledger, self.name, self.stop = api, ledger, name, stop
        self.random = random.Random(f"{seed}-{name}")
        self.sequence = 0
        self.connection = None

    def next_key(self, prefix):
        """A key no other client of the run makes: `ct-a1-17` (a log id), `lk-a1-18` (a Loki marker)."""
        self.sequence += 1
        return f"{prefix}-{self.name}-{self.sequence}"

    def body(self, kind):
        """(path, body, headers, {key: tenant}, endpoint)."""
        tenant = self.random.choice(TENANTS)
        if kind == "json":
            key = self.next_key("ct")
            body = {"tenant_id": tenant, "log_id": key, "text": f"user u{self.sequence}@example.com signed in", "level": "info"}
            return "/ingest", json.dumps(body), {"Content-Type": "application/json"}, {key: tenant}, "ingest"
        if kind in ("array", "ndjson"):
            logs = [(self.next_key("ct"), self.random.choice(TENANTS)) for _ in range(self.random.randint(2, 12))]
            objects = [{"tenant_id": t, "log_id": k, "text": f"call (415) 555-0100 about order {k}", "source": "billing"} for k, t in logs]
            if kind == "array":
                return "/ingest", json.dumps(objects), {"Content-Type": "application/json"}, dict(logs), "ingest"
            return "/ingest", "\n".join(json.dumps(o) for o in objects), {"Content-Type": "application/x-ndjson"}, dict(logs), "ingest"
        if kind == "text":
            key = self.next_key("ct")
            return "/ingest", f"disk full on host-7, mail ops{self.sequence}@example.com", \
                {"Content-Type": "text/plain", "X-Tenant-ID": tenant, "X-Log-ID": key}, {key: tenant}, "ingest"
        if kind == "otlp":
            keys = [self.next_key("ot") for _ in range(self.random.randint(1, 5))]
            now = time.time_ns()
            records = [{"timeUnixNano": str(now), "severityText": "WARN", "body": {"stringValue": f"login by otel{self.sequence}@example.com"},
                        "attributes": [{"key": "log.record.uid", "value": {"stringValue": k}}]} for k in keys]
            body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}},
                                                                  {"key": "tenant.id", "value": {"stringValue": tenant}}]},
                                      "scopeLogs": [{"scope": {"name": "compose-test"}, "logRecords": records}]}]}
            return "/v1/logs", json.dumps(body), {"Content-Type": "application/json"}, {k: tenant for k in keys}, "otlp"
        markers = [self.next_key("lk") for _ in range(self.random.randint(1, 5))]
        now = time.time_ns()
        body = {"streams": [{"stream": {"service_name": "frontend", "level": "error"},
                             "values": [[str(now + n), f"{m} payment failed for loki{self.sequence}@example.com"] for n, m in enumerate(markers)]}]}
        return "/loki/api/v1/push", json.dumps(body), {"Content-Type": "application/json", "X-Scope-OrgID": tenant}, \
            {m: tenant for m in markers}, "loki"

    def post(self, kind):
        path, body, headers, keys, endpoint = self.body(kind)
        status, code = "connection", None
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(*self.api, timeout=15)
            self.connection.request("POST", path, body=body.encode(), headers=headers)
            response = self.connection.getresponse()
            answer = response.read()
            status = response.status
            if status != ACCEPTED[endpoint]:
                code = error_code(answer)
        except (OSError, http.client.HTTPException):
            self.connection = None
        self.ledger.record(keys, keys, status, code, status == ACCEPTED[endpoint])
        return status

    def run(self):
        while not self.stop.is_set():
            status = self.post(self.random.choice(self.KINDS))
            # A refusal (503 while the broker is away) or a closed port: back off a little, do not spin.
            self.stop.wait(0.005 if status in (200, 202, 204) else 0.05)


class Load:
    """`clients` Client threads named <tag>0, <tag>1, …, from `with` until its end."""

    def __init__(self, api, ledger, clients, seed, tag):
        self.stop = threading.Event()
        self.threads = [Client(api, ledger, f"{tag}{index}", self.stop, seed) for index in range(clients)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


# MARK: - Stored logs


READER = r"""
import datetime, json, sys
import pymongo
client = pymongo.MongoClient("mongodb://127.0.0.1:27017/?directConnection=true", serverSelectionTimeoutMS=10000)
db = client["logpipe"]
rows = []
for name in db.list_collection_names():
    for d in db[name].find({}, {"_id": 1, "tenant_id": 1, "text": 1, "redactions": 1, "received_at": 1}):
        rows.append([name, d["_id"], d.get("tenant_id"), d.get("text"), d.get("redactions"),
                     isinstance(d.get("received_at"), datetime.datetime)])
json.dump(rows, sys.stdout)
"""


def stored_logs(project):
    """Every stored document of the `logpipe` database: (collection, _id, tenant_id, text, redactions, dated), read
    with pymongo inside the mongo container (the stand-in's Python), over the compose network."""
    mongo = project.containers("mongo")[0]
    result = docker("exec", "-i", mongo, "/opt/secantus/bin/python3", "-c", READER, check=False, timeout=120)
    if result.returncode != 0:
        raise StepFailed(f"reading the stored logs with pymongo failed: {result.stderr.strip()[-400:]}", [mongo])
    return json.loads(result.stdout)


def tally(rows):
    """{key: [(collection, tenant_id, text, redactions, dated)]} where key is the log id, or for Loki the marker."""
    found = {}
    for collection, log_id, tenant, text, redactions, dated in rows:
        marker = re.match(r"(lk-[a-z]\d+-\d+) ", text or "")
        key = marker.group(1) if marker else log_id
        found.setdefault(key, []).append((collection, tenant, text, redactions, dated))
    return found


def verify(project, ledger, step, deadline_s=180):
    """Every accepted log stored once in its tenant's collection, redacted; nothing never sent stored. Polls until
    every accepted log is there (the workers drain the queues) or the deadline passes."""
    with ledger.lock:
        accepted = dict(ledger.accepted)
        attempted = dict(ledger.attempted)
    deadline = time.time() + deadline_s
    while True:
        found = tally(stored_logs(project))
        lost = sorted(key for key in accepted if key not in found)
        if not lost or time.time() > deadline:
            break
        time.sleep(1.0)
    duplicates = sorted(key for key, copies in found.items() if len(copies) > 1)
    unexpected = sorted(key for key in found if key not in attempted)
    misplaced = sorted(key for key, copies in found.items() if key in attempted
                       and any(c[0] != attempted[key] or c[1] != attempted[key] for c in copies))
    unredacted = sorted(key for key, copies in found.items() if any(RAW_PII.search(c[2] or "") for c in copies))
    unmarked = sorted(key for key, copies in found.items() if any("[REDACTED:" not in (c[2] or "") or not c[3] for c in copies))
    undated = sorted(key for key, copies in found.items() if any(not c[4] for c in copies))
    phases = {}
    for key, phase in accepted.items():
        row = phases.setdefault(phase, {"accepted": 0, "stored": 0, "duplicates": 0, "lost": 0})
        row["accepted"] += 1
        copies = len(found.get(key, []))
        row["stored"] += copies > 0
        row["duplicates"] += copies > 1
        row["lost"] += copies == 0
    summary = {"phases": phases, "stored": len(found), "accepted": len(accepted), "attempted": len(attempted),
               "sent but not answered, stored": len([k for k in found if k in attempted and k not in accepted])}
    problems = [(name, keys) for name, keys in (("lost", lost), ("stored twice", duplicates), ("stored but never sent", unexpected),
                                                 ("in another tenant's collection", misplaced), ("not redacted", unredacted),
                                                 ("without a redaction mark or counts", unmarked), ("received_at not a BSON date", undated)) if keys]
    if problems:
        text = "; ".join(f"{len(keys)} {name} (first: {', '.join(keys[:5])})" for name, keys in problems)
        raise StepFailed(f"{step}: {text}", project.containers("worker"))
    return summary


def print_ledger(ledger, summary):
    print("| phase | accepted | stored | duplicates | lost | other answers |")
    print("|---|---|---|---|---|---|")
    for phase, row in summary["phases"].items():
        others = ", ".join(f"{status}{' ' + code if code else ''}: {count}" for (p, status, code), count in sorted(ledger.answers.items(), key=str)
                           if p == phase and status not in (200, 202, 204)) or "none"
        print(f"| {phase} | {row['accepted']} | {row['stored']} | {row['duplicates']} | {row['lost']} | {others} |")
    print(f"| all | {summary['accepted']} | {summary['stored']} stored in all ({summary['sent but not answered, stored']} sent but not answered 2xx) | | | |")


# MARK: - Phases


class Timer:
    def __init__(self):
        self.rows = []

    def phase(self, name):
        timer = self

        class Phase:
            def __enter__(self):
                self.started = time.monotonic()
                log(f"{name} ...")
                return self

            def __exit__(self, kind, error, trace):
                seconds = time.monotonic() - self.started
                timer.rows.append((name, seconds, kind is None))
                if kind is None:
                    log(f"{name}: ok ({seconds:.0f} s)")
                elif isinstance(error, StepFailed) and not str(error).startswith(name):
                    error.args = (f"{name}: {error}",)
                return False

        return Phase()

    def print(self):
        print("| step | seconds | result |")
        print("|---|---|---|")
        for name, seconds, ok in self.rows:
            print(f"| {name} | {seconds:.0f} | {'ok' if ok else 'FAILED'} |")
        total = sum(s for _, s, _ in self.rows)
        waited = sum(s for name, s, _ in self.rows if name.startswith("waiting for"))
        print(f"| total | {total:.0f} | {total - waited:.0f} s without waiting for other builds' lock |")


def single_stack(options, timer, cleanup, env):
    project = Project("logpipect", ["docker-compose.yml"], env)
    project.down()  # a previous run's leftovers, if any (only this test's project)
    cleanup.append(project)
    ledger = Ledger()
    api = lambda: project.url("api", 8000)  # noqa: E731

    lock = BuildLock()
    with timer.phase(f"waiting for {LOCK} (other heavy builds on this machine)"):
        lock.acquire()
    try:
        with timer.phase("image build (docker-compose build: the Swift release build in Docker)"):
            project.compose("build", "api", timeout=3600)
        with timer.phase("up --build (rabbitmq, mongo, api, 2 workers)"):
            project.compose("up", "-d", "--build", "--scale", "worker=2", "rabbitmq", "mongo", "api", "worker", timeout=1200)
    finally:
        lock.release()
    with timer.phase("stack healthy and ready"):
        wait_healthy(project, ["rabbitmq", "mongo"])
        wait_ready(project, project.containers("api") + project.containers("worker"))
        pruned = prune_old_builds()
        if pruned:
            log(f"removed {pruned} untagged images of earlier builds")
    with timer.phase("image: non-root, /openapi.yaml, size"):
        inspect = json.loads(docker("image", "inspect", "logpipe:latest").stdout)[0]
        size_mb = inspect["Size"] / 1e6
        api_container = project.containers("api")[0]
        uid = docker("exec", api_container, "id", "-u").stdout.strip()
        if uid != "10001" or inspect["Config"].get("User") != "logpipe":
            raise StepFailed(f"the image runs as uid {uid} (user {inspect['Config'].get('User')!r}), not 10001", [api_container])
        status, body = request(api(), "GET", "/openapi.yaml")
        if status != 200 or not body.startswith(b"openapi:"):
            raise StepFailed(f"GET /openapi.yaml answered {status}", [api_container])
        log(f"logpipe:latest is {size_mb:.0f} MB, runs as uid {uid}, serves /openapi.yaml ({len(body)} bytes)")
    with timer.phase("formats: JSON, JSON array, NDJSON, text, OTLP/HTTP JSON, Loki push JSON"):
        client = Client(api(), ledger, "f0", threading.Event(), options.seed)
        for kind in Client.KINDS:
            status = client.post(kind)
            expected = 200 if kind == "otlp" else 204 if kind == "loki" else 202
            if status != expected:
                raise StepFailed(f"a {kind} post answered {status}, expected {expected}", [api_container])

    with Load(api(), ledger, options.clients, options.seed, "a"):
        ledger.phase = "load, 2 workers"
        time.sleep(options.phase_seconds)
        with timer.phase("scale to 3 workers under load"):
            ledger.phase = "scale to 3 workers"
            project.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "worker=3", "worker")
            wait_ready(project, project.containers("worker"))
            time.sleep(options.phase_seconds)
        with timer.phase("docker kill of a worker under load, then docker start"):
            ledger.phase = "worker killed"
            victim = project.containers("worker")[1]
            docker("kill", victim)
            time.sleep(options.phase_seconds)
            if container_state(victim)[0] == "running":
                raise StepFailed(f"{victim} runs again although docker kill is a manual stop", [victim])
            docker("start", victim)
            wait_ready(project, [victim])
        with timer.phase("docker-compose restart rabbitmq under load"):
            ledger.phase = "rabbitmq restart"
            project.compose("restart", "rabbitmq", timeout=300)
            wait_healthy(project, ["rabbitmq"])
            wait_ready(project, project.containers("api") + project.containers("worker"))
            ledger.phase = "after rabbitmq restart"
            time.sleep(options.phase_seconds)
    with timer.phase("verify: every answered log stored once, redacted"):
        summary = verify(project, ledger, "verify")
    print_ledger(ledger, summary)

    with timer.phase("management UI on 15672 (published on 127.0.0.1)"):
        management = project.url("rabbitmq", 15672)
        status, page = request(management, "GET", "/")
        if status != 200 or b"RabbitMQ Management" not in page:
            raise StepFailed(f"the management UI answered {status}", project.containers("rabbitmq"))
        status, _ = request(management, "GET", "/api/overview", auth=("logpipe", "wrong-password"))
        if status != 401:
            raise StepFailed(f"the management API answered {status} to a wrong password", project.containers("rabbitmq"))
        status, body = request(management, "GET", "/api/queues/%2F", auth=CREDENTIALS)
        queues = {queue["name"]: queue for queue in json.loads(body)} if status == 200 else {}
        work = [name for name in ("logpipe.work.0", "logpipe.work.1") if queues.get(name, {}).get("type") == "quorum"]
        if len(work) != 2:
            raise StepFailed(f"the management API (status {status}) shows no quorum work queues logpipe.work.0/1: {sorted(queues)}", project.containers("rabbitmq"))
        consumers = sum(queues[name].get("consumers", 0) for name in work)
        log(f"management UI: {len(queues)} queues, work queues {', '.join(work)} (quorum) with {consumers} consumers")

    with timer.phase("CLI inside the containers: dlq stats, logs tail, logs get"):
        stats = project.compose("exec", "-T", "api", "logpipe", "dlq", "stats")
        tail = project.compose("exec", "-T", "api", "logpipe", "logs", "tail", "--tenant", "acme", "--limit", "5")
        lines = [json.loads(line) for line in tail.stdout.splitlines() if line.strip().startswith("{")]
        if not lines or any(RAW_PII.search(line.get("text", "")) for line in lines):
            raise StepFailed(f"logs tail printed {len(lines)} logs, or an unredacted one", project.containers("api"))
        log_id = lines[0]["log_id"]
        got = project.compose("exec", "-T", "--index", "1", "worker", "logpipe", "logs", "get", "--tenant", "acme", "--log-id", log_id)
        if log_id not in got.stdout:
            raise StepFailed("logs get in a worker container did not print the log", project.containers("worker"))
        log(f"dlq stats: {' '.join(stats.stdout.split())[:160]}; logs tail: {len(lines)} logs, redacted")

    if not options.skip_monitoring:
        with timer.phase("monitoring profile: Prometheus scrapes api, workers, RabbitMQ; alert rules loaded"):
            project.compose("--profile", "monitoring", "up", "-d", "--no-build", "--no-recreate", "prometheus")
            check_prometheus(project, len(project.containers("worker")))
        with timer.phase("Grafana's path to the read API: a container on the compose network reads a tenant's labels"):
            check_read_from_network(project)

    with timer.phase("graceful docker-compose stop under load, then start"):
        with Load(api(), ledger, options.clients, options.seed, "s"):
            ledger.phase = "graceful stop"
            time.sleep(options.phase_seconds)
            project.compose("--profile", "monitoring", "stop", timeout=300)
        codes = {name: container_state(name)[2] for name in project.containers()}
        killed = {name: code for name, code in codes.items() if code != "0"}
        if killed:
            raise StepFailed(f"containers that did not exit 0 on docker-compose stop: {killed}", list(killed))
        project.compose("--profile", "monitoring", "start", timeout=300)
        wait_healthy(project, ["rabbitmq", "mongo"])
        wait_ready(project, project.containers("api") + project.containers("worker"))
    with timer.phase("verify after the stop: every answered log stored once"):
        summary = verify(project, ledger, "verify after stop")
    print_ledger(ledger, summary)
    project.save_logs()
    with timer.phase("down -v"):
        project.down()
    cleanup.remove(project)
    return {"image_mb": size_mb}


def check_prometheus(project, workers, deadline_s=120):
    prometheus = project.url("prometheus", 9090)
    with open(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")) as handle:
        rules = sum(len(group["rules"]) for group in yaml.safe_load(handle)["groups"])
    deadline = time.time() + deadline_s
    last = "no answer"
    while time.time() < deadline:
        try:
            status, body = request(prometheus, "GET", "/api/v1/targets")
            targets = json.loads(body)["data"]["activeTargets"] if status == 200 else []
            up = {}
            for target in targets:
                job = target["labels"]["job"]
                up.setdefault(job, []).append(target["health"])
            status, body = request(prometheus, "GET", "/api/v1/rules")
            groups = json.loads(body)["data"]["groups"] if status == 200 else []
            loaded = sum(len(group["rules"]) for group in groups)
            last = f"targets {up}, {loaded} of {rules} rules loaded"
            if up.get("logpipe-api") == ["up"] and up.get("logpipe-worker", []).count("up") == workers \
                    and up.get("rabbitmq") == ["up"] and loaded == rules:
                log(f"Prometheus: api 1/1, workers {workers}/{workers}, rabbitmq 1/1 up; {loaded} alert rules loaded")
                return
        except (OSError, ValueError, KeyError, http.client.HTTPException) as error:
            last = f"{type(error).__name__}"
        time.sleep(1.0)
    raise StepFailed(f"Prometheus within {deadline_s} s: {last}", project.containers("prometheus"))


def check_read_from_network(project, tenant="acme"):
    """What the provisioned Loki data source does (Grafana cannot run here): from a container on the compose network
    (Prometheus's, which has wget), `http://api:8000/loki/api/v1/labels` with `X-Scope-OrgID` and no key answers
    200 with the tenant's labels: compose's LOGPIPE_READ_ALLOWED_NETWORKS lets its own network read."""
    container = project.containers("prometheus")[0]
    result = docker("exec", container, "wget", "-qO-", "--header", f"X-Scope-OrgID: {tenant}",
                    "http://api:8000/loki/api/v1/labels", check=False, timeout=60)
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        answer = {}
    if result.returncode != 0 or answer.get("status") != "success" or "level" not in answer.get("data", []):
        raise StepFailed(f"labels from the compose network: exit {result.returncode}, {result.stdout[:200]!r} {result.stderr[:200]!r}",
                         project.containers("api"))
    log(f"read API from the compose network (as Grafana's Loki data source): labels {answer['data'][:6]}")


def cluster_stack(options, timer, cleanup, env):
    env = dict(env, RABBITMQ_ERLANG_COOKIE=secrets.token_hex(24))
    project = Project("logpipecl", ["docker-compose.yml", "docker-compose.cluster.yml"], env)
    project.down()
    cleanup.append(project)
    ledger = Ledger()
    api = project.url("api", 8000)
    nodes = ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    with timer.phase("cluster: up (3 RabbitMQ nodes, mongo, api, 2 workers)"):
        project.compose("up", "-d", "--no-build", "--scale", "worker=2", *nodes, "mongo", "api", "worker", timeout=900)
        wait_healthy(project, nodes + ["mongo"], deadline_s=300)
        wait_ready(project, project.containers("api") + project.containers("worker"))
    with timer.phase("cluster: three nodes running, quorum work queues with a member on each"):
        members = cluster_members(project, "rabbitmq-2")
        log(f"cluster: {members}")
    with Load(api, ledger, options.clients, options.seed, "c"):
        ledger.phase = "cluster load"
        time.sleep(options.phase_seconds)
        with timer.phase("cluster: docker kill of the first node under load, then docker start"):
            ledger.phase = "cluster node killed"
            victim = project.containers("rabbitmq")[0]
            docker("kill", victim)
            time.sleep(options.phase_seconds)
            docker("start", victim)
            wait_healthy(project, ["rabbitmq"], deadline_s=300)
            cluster_members(project, "rabbitmq")  # rejoined, members online again
            wait_ready(project, project.containers("api") + project.containers("worker"))
            ledger.phase = "cluster after restart"
            time.sleep(options.phase_seconds)
    with timer.phase("cluster: verify every answered log stored once"):
        summary = verify(project, ledger, "cluster verify")
    print_ledger(ledger, summary)
    project.save_logs()
    with timer.phase("cluster: down -v"):
        project.down()
    cleanup.remove(project)


def cluster_members(project, node, deadline_s=120):
    """Until the cluster runs three nodes and both work queues are quorum queues with three members online."""
    container = project.containers(node)[0]
    deadline = time.time() + deadline_s
    last = ""
    while True:
        # Without the cookie variable the cluster file sets: the CLI would print a deprecation warning before the JSON
        # (it reads the same cookie from the rabbitmq user's home, where the entry point wrote it).
        ctl = ["exec", container, "env", "-u", "RABBITMQ_ERLANG_COOKIE", "rabbitmqctl"]
        status = docker(*ctl, "cluster_status", "--formatter", "json", check=False, timeout=60)
        queues = docker(*ctl, "list_queues", "name", "type", "members", "online", "leader", "--formatter", "json", check=False, timeout=60)
        try:
            running = json.loads(status.stdout)["running_nodes"]
            rows = {row["name"]: row for row in json.loads(queues.stdout)}
            work = [rows.get(name) for name in ("logpipe.work.0", "logpipe.work.1")]
            last = f"running nodes {len(running)}, work queues {[(w['type'], len(w['members']), len(w['online'])) if w else None for w in work]}"
            if len(running) == 3 and all(w and w["type"] == "quorum" and len(w["members"]) == 3 and len(w["online"]) == 3 for w in work):
                return f"{len(running)} nodes running; logpipe.work.0/1 quorum, 3 members online, leaders {[w['leader'] for w in work]}"
        except (ValueError, KeyError, TypeError):
            last = f"rabbitmqctl answered {status.returncode}/{queues.returncode}"
        if time.time() > deadline:
            raise StepFailed(f"the cluster within {deadline_s} s: {last}", project.containers("rabbitmq") + project.containers("rabbitmq-2"))
        time.sleep(1.0)


def report_failure(error):
    print(f"compose test: FAILED: {error}", file=sys.stderr)
    for name in error.containers[:4]:
        state = container_state(name)
        print(f"--- {name} ({state[0]}, health {state[1]}, exit {state[2]}): last log lines", file=sys.stderr)
        result = docker("logs", "--tail", "30", name, check=False)
        print((result.stdout + result.stderr).rstrip()[-6000:], file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description="the compose test")
    parser.add_argument("--phase-seconds", type=float, default=8, help="seconds of load around each fault")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--skip-cluster", action="store_true", help="the short form: no cluster stack")
    parser.add_argument("--skip-monitoring", action="store_true")
    options = parser.parse_args()
    if not os.environ.get("DOCKER_HOST"):
        print("compose test: DOCKER_HOST is not set (scripts/compose-test.sh starts the private engine)", file=sys.stderr)
        return 2
    os.makedirs(WORK, exist_ok=True)
    env = dict(os.environ, COMPOSE_HTTP_TIMEOUT="300")
    timer = Timer()
    for row in filter(None, os.environ.get("LOGPIPE_COMPOSE_SETUP_SECONDS", "").split(";")):
        name, seconds = row.rsplit(":", 1)  # the steps of scripts/compose-test.sh before this script
        timer.rows.append((name, float(seconds), True))
    cleanup = []
    started = time.monotonic()

    def terminated(signum, _frame):
        raise RuntimeError(f"stopped by signal {signum}")  # so the stacks still come down (finally)

    signal.signal(signal.SIGTERM, terminated)
    try:
        results = single_stack(options, timer, cleanup, env)
        if not options.skip_cluster:
            cluster_stack(options, timer, cleanup, env)
    except Exception as error:  # a step's failure, or anything else (a KeyError, SIGTERM): the logs first
        if not isinstance(error, StepFailed):
            containers = [name for project in cleanup for name in project.containers()]
            error = StepFailed(f"{type(error).__name__}: {error}", containers)
        report_failure(error)
        for project in cleanup:
            project.save_logs()
        timer.print()
        return 1
    finally:
        for project in cleanup:
            project.down()
    timer.print()
    log(f"passed in {time.monotonic() - started:.0f} s; logpipe image {results['image_mb']:.0f} MB; container logs in {WORK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
