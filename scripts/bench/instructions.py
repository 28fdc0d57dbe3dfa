"""CPU instructions per stored log, for scripts/bench/run.py.

perf stat is not available on this VM (`<not supported>` for hardware counters), so each process runs under
valgrind's callgrind, which counts every instruction it executes, whatever else shares the cores. For each
fixed workload: `logpipe worker` and `logpipe api` start under callgrind on a fresh namespace, the workload goes
in once uncounted (start-up, first connections and every tenant's first write — its table — are not the cost
of a log), their counters are zeroed, the same requests go in again (new log ids), and once every log is
stored both processes dump their counts. Instructions per stored log = the dump's total / the logs stored.
The seed design is measured the same way (its uvicorn API with one worker process, and its Python worker).
Valgrind 3.19 cannot read the DWARF 5 of Swift's release binaries, so logpipe runs from a copy stripped of its
debug sections (the symbol table stays, so callgrind_annotate still names functions).
"""
import http.client
import json
import os
import random
import subprocess
import threading
import time
import urllib.request

TEXT = ("GET /api/v1/orders/{i} 200 12ms user=bob{u}@example.com ip=10.{a}.{b}.{c} ua=Mozilla/5.0 (X11; Linux x86_64) "
        "trace=4bf92f3577b34da6a3ce929d0e0e4736 note=checkout ok")


def log_line(i, tenant):
    text = TEXT.format(i=i, u=i % 1000, a=i % 200, b=i % 250, c=i % 240)
    return json.dumps({"tenant_id": tenant, "text": text, "level": "info"}, separators=(",", ":"))


def workload(name):
    """(content type, bodies, logs per body) of a fixed workload, the same bodies as the wrk scripts send."""
    if name == "single":
        return "application/json", [log_line(i, f"tenant{i % 10}").encode() for i in range(2000)], 1
    if name == "batch100":
        return "application/x-ndjson", ["\n".join(log_line(r * 100 + i, f"tenant{i % 10}") for i in range(100)).encode()
                                        for r in range(100)], 100
    if name == "mixed3000":
        rng = random.Random(7)
        return "application/x-ndjson", ["\n".join(log_line(r * 100 + i, f"tenant{rng.randrange(3000)}") for i in range(100)).encode()
                                        for r in range(100)], 100
    raise ValueError(name)


def post_all(port, content_type, bodies, concurrency=16):
    """Sends every body to /ingest over keep-alive connections; returns how many were answered 202."""
    accepted = [0]
    lock = threading.Lock()
    queue = list(bodies)

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            connection.request("POST", "/ingest", body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                with lock:
                    accepted[0] += 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return accepted[0]


def stripped(binary, work):
    """A copy of `binary` without debug sections, for valgrind."""
    copy = os.path.join(work, os.path.basename(binary) + ".stripped")
    subprocess.run(["strip", "--strip-debug", "-o", copy, binary], check=True)
    return copy


def wait_ready(url, timeout=30, process=None):
    """Polls `url` until it answers 200; fails at once if `process` (a Counted) exited meanwhile."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.process.poll() is not None:
            raise RuntimeError(f"{process.output} exited under callgrind (see {process.output}.log)")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


class Counted:
    """A process under callgrind whose counters can be zeroed and dumped."""

    def __init__(self, name, command, out_dir, env, cwd=None):
        self.output = os.path.join(out_dir, f"callgrind.{name}")
        for stale in [f for f in os.listdir(out_dir) if f.startswith(f"callgrind.{name}")]:
            os.remove(os.path.join(out_dir, stale))
        self.process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "-q", f"--callgrind-out-file={self.output}", "--dump-line=no",
             "--compress-strings=no", *command], env=env, cwd=cwd,
            stdout=open(f"{self.output}.log", "w"), stderr=subprocess.STDOUT)

    def zero(self):
        subprocess.run(["callgrind_control", "-z", str(self.process.pid)], check=True, capture_output=True)

    def instructions(self):
        """Dumps the counters and returns the instructions executed since the last zero."""
        before = set(os.listdir(os.path.dirname(self.output)))
        subprocess.run(["callgrind_control", "-d", str(self.process.pid)], check=True, capture_output=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            new = [f for f in set(os.listdir(os.path.dirname(self.output))) - before
                   if f.startswith(os.path.basename(self.output) + ".")]
            for name in new:
                with open(os.path.join(os.path.dirname(self.output), name)) as dump:
                    for line in dump:
                        if line.startswith("totals:") or line.startswith("summary:"):
                            return int(line.split()[1])
            time.sleep(0.2)
        raise RuntimeError(f"no callgrind dump from {self.output}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wait_stored(count_stored, expected, timeout=900):
    deadline = time.time() + timeout
    while count_stored() < expected:
        if time.time() > deadline:
            raise RuntimeError(f"only {count_stored()} of {expected} logs stored under callgrind")
        time.sleep(0.5)


def measure(processes, send, count_stored, expected):
    """Runs `send` once uncounted (warm-up), zeroes every process, runs it again, waits until the second
    pass is stored; returns instructions by name and the logs the counted pass stored."""
    send()
    wait_stored(count_stored, expected)
    warm = count_stored()
    for process in processes.values():
        process.zero()
    send()
    wait_stored(count_stored, warm + expected)
    counts = {name: process.instructions() for name, process in processes.items()}
    return counts, count_stored() - warm


def logpipe_instructions(name, release, amqp, work, port, stored):
    """Instructions per stored log of `logpipe api` and `logpipe worker` (SQLite) for one workload."""
    content_type, bodies, per_body = workload(name)
    namespace = f"instr-{name}-{os.getpid()}-{int(time.time())}"
    sqlite = f"{work}/{namespace}.sqlite"
    env = dict(os.environ, LOGPIPE_AMQP_URL=amqp, LOGPIPE_NAMESPACE=namespace, LOGPIPE_SQLITE_PATH=sqlite, LOG_LEVEL="warning",
               LOGPIPE_HTTP_PORT=str(port), LOGPIPE_WORKER_HTTP_PORT=str(port + 1), LOGPIPE_CONFIRM_TIMEOUT_MS="120000")
    binary = stripped(os.path.join(release, "logpipe"), work)
    worker = Counted(f"{name}-worker", [binary, "worker"], work, env)
    api = None
    try:
        wait_ready(f"http://127.0.0.1:{port + 1}/readiness", 180, worker)
        api = Counted(f"{name}-api", [binary, "api"], work, env)
        wait_ready(f"http://127.0.0.1:{port}/readiness", 180, api)
        counts, logs = measure({"api": api, "worker": worker}, lambda: post_all(port, content_type, bodies),
                               lambda: stored(sqlite), len(bodies) * per_body)
        return {"load": name, "system": "logpipe", "logs": logs,
                "api_instructions_per_log": round(counts["api"] / logs), "worker_instructions_per_log": round(counts["worker"] / logs),
                "rows_per_write": rows_per_write(f"http://127.0.0.1:{port + 1}/metrics")}
    finally:
        for process in (api, worker):
            if process:
                process.stop()


def scrape(metrics_url):
    """The Prometheus text of a logpipe process's `/metrics`."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        return response.read().decode()


def metric_sum(text, prefix, having=()):
    """The sum of the samples whose line starts with `prefix` (and contains each of `having`)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(prefix) and all(part in line for part in having))


def rows_per_write(metrics_url):
    """The worker's mean logs per store write (`logpipe_worker_batch_logs`), for the SQLite floor's transactions."""
    text = scrape(metrics_url)
    count = metric_sum(text, "logpipe_worker_batch_logs_count")
    return max(1, round(metric_sum(text, "logpipe_worker_batch_logs_sum") / count)) if count else 1


def http_floor_instructions(release, work, port):
    """Instructions per request of `http-floor` (a minimal Hummingbird 2 handler: collect the body, decode two JSON
    fields, answer 202 with a small JSON body) on the `single` workload, counted as `logpipe api` is."""
    content_type, bodies, _ = workload("single")
    floor = Counted("http-floor", [stripped(os.path.join(release, "http-floor"), work), str(port)], work, dict(os.environ))
    try:
        wait_ready(f"http://127.0.0.1:{port}/readiness", 180, floor)
        answered = [0]

        def send():
            answered[0] += post_all(port, content_type, bodies)

        counts, requests = measure({"floor": floor}, send, lambda: answered[0], len(bodies))
        return {"load": "single", "system": "http-floor", "requests": requests,
                "instructions_per_request": round(counts["floor"] / requests)}
    finally:
        floor.stop()


def sqlite_floor_instructions(binary, work, rows_per_write, tenants=10, rows=20_000):
    """SQLite's own instructions per row for the rows logpipe keeps (`scripts/bench/sqlite_floor.c`), `rows_per_write`
    rows per transaction over `tenants` tables: callgrind counts a run of `rows` and one of 2 x `rows`; the difference
    over `rows` leaves out opening the file and creating the tables."""
    totals = []
    for count in (rows, 2 * rows):
        database = os.path.join(work, f"sqlite-floor-{os.getpid()}-{count}.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(database + suffix):
                os.remove(database + suffix)
        out = os.path.join(work, f"callgrind.sqlite-floor-{count}")
        subprocess.run(["valgrind", "--tool=callgrind", "-q", f"--callgrind-out-file={out}", binary, database, str(count),
                        str(rows_per_write), str(tenants)], check=True, capture_output=True)
        with open(out) as dump:
            totals.append(next(int(line.split()[1]) for line in dump if line.startswith(("totals:", "summary:"))))
    return {"rows_per_write": rows_per_write, "tenants": tenants, "instructions_per_row": round((totals[1] - totals[0]) / rows)}


def seed_instructions(venv, seed_dir, amqp, work, port, stored, requests=400):
    """The seed design's API (uvicorn, one process) and worker under callgrind, single JSON logs."""
    content_type, bodies, _ = workload("single")
    bodies = bodies[:requests]
    prefix = f"instr-peer-{os.getpid()}-{int(time.time())}"
    sqlite = f"{work}/{prefix}.sqlite"
    env = dict(os.environ, PEER_AMQP=amqp, PEER_PREFIX=prefix, PYTHONMALLOC="malloc")
    api = Counted("seed-api", [os.path.join(venv, "bin", "python"), "-m", "uvicorn", "peer_seed:app", "--port", str(port),
                               "--loop", "uvloop", "--http", "httptools", "--no-access-log"], work, env, cwd=seed_dir)
    worker = None
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", 300, api)
        worker = Counted("seed-worker", [os.path.join(venv, "bin", "python"), "peer_seed.py", "worker", sqlite], work, env, cwd=seed_dir)
        counts, logs = measure({"api": api, "worker": worker}, lambda: post_all(port, content_type, bodies),
                               lambda: stored(sqlite), len(bodies))
        return {"load": "single", "system": "seed design", "logs": logs,
                "api_instructions_per_log": round(counts["api"] / logs), "worker_instructions_per_log": round(counts["worker"] / logs)}
    finally:
        for process in (api, worker):
            if process:
                process.stop()
