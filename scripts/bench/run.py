#!/usr/bin/env python3
"""logpipe benchmark harness (scripts/bench.sh runs it after building in release mode).

On this one machine: a private RabbitMQ node, the broker's own confirmed-publish ceiling (logpipe-bench
publish-ceiling, same payload size), then for each scenario a fresh release `logpipe serve` (SQLite store)
driven by wrk, and the seed design's reference (../shared/bench/peer_seed.py: FastAPI + uvicorn with 2
workers + aio-pika) on the same load. Prints one table and writes it as JSON.

With --stores sqlite,secantus the scenarios run once per store in the same run: SQLite, and MongoDB's store on a
private SecantusDB server (an independent MongoDB-wire-protocol server on WiredTiger, not MongoDB; scripts/secantus.sh,
a fresh database per run), read back through scripts/bench/mongo_stored.py (Debian's pymongo).

Measured per scenario: accepted logs/s (202s during the wrk run), stored logs/s (all accepted logs stored,
from the start of the load to the last one stored), 202 latency p50/p99 (wrk), end-to-end ingest->stored
latency p50/p99 (processed_at - received_at of the stored logs), peak RSS of logpipe (VmHWM).
Only the Python standard library is used here; the seed reference gets its own venv under .build/.
"""
import argparse
import json
import threading
import os
import re
import resource
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import instructions  # noqa: E402 (next to this script)
from instructions import wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.environ.get("LOGPIPE_BENCH_BINARIES", os.path.join(ROOT, ".build", "release"))  # for A/B runs of two builds
BENCH_PORT = int(os.environ.get("LOGPIPE_BENCH_BROKER_PORT", "5742"))
AMQP = f"amqp://guest:guest@127.0.0.1:{BENCH_PORT}/"
HTTP_PORT = 8200
SEED_PORT = 8099
WORK = "/tmp/logpipe-bench"
SECANTUS_PORT = int(os.environ.get("LOGPIPE_BENCH_SECANTUS_PORT", "27942"))
SECANTUS_ENV = dict(os.environ, LOGPIPE_SECANTUS_NAME="bench", LOGPIPE_SECANTUS_PORT=str(SECANTUS_PORT),
                    LOGPIPE_SECANTUS_TLS_DIR="")


def secantus(command):
    """scripts/secantus.sh for the benchmark's SecantusDB server (not MongoDB); its output."""
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "secantus.sh"), command], env=SECANTUS_ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def mongo_stored(what, uri, database):
    return subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "bench", "mongo_stored.py"), what, "--uri", uri,
                           "--db", database], check=True, capture_output=True, text=True).stdout.strip()


def log(message):
    print(message, file=sys.stderr, flush=True)


def broker(command):
    env = dict(os.environ, LOGPIPE_BROKER_NAME="bench", LOGPIPE_BROKER_PORT=str(BENCH_PORT), LOGPIPE_BROKER_PLUGINS="none")
    subprocess.run(["bash", os.path.join(ROOT, "broker", "rabbitmq.sh"), command], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def to_ms(value):
    number, unit = re.match(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(script, url, seconds, connections, env=None):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", os.path.join(ROOT, "scripts", "bench", script), url]
    output = subprocess.run(command, env=dict(os.environ, **(env or {})), check=True, capture_output=True, text=True).stdout
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    duration = to_ms(re.search(r"requests in ([\d.]+\w+),", output).group(1)) / 1000
    percentiles = {p: to_ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", output, re.M)}
    return {
        "requests": total, "rejected": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "seconds": duration, "p50_ms": percentiles.get("50"), "p99_ms": percentiles.get("99"),
    }


def bench_tool(*arguments):
    return subprocess.run([os.path.join(RELEASE, "logpipe-bench"), *arguments], check=True, capture_output=True, text=True).stdout.strip()


def stored(sqlite):
    try:
        return int(bench_tool("stored", "--sqlite", sqlite))
    except subprocess.CalledProcessError:
        return 0


def wait_stored(sqlite, expected, start, timeout, count_stored=None):
    deadline = time.time() + timeout
    count = 0
    while time.time() < deadline:
        count = count_stored() if count_stored else stored(sqlite)
        if count >= expected:
            return count, time.time() - start
        time.sleep(0.2)
    return count, time.time() - start


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def scrape_messages(port):
    """(logs accepted, messages the API's connection published) so far, from `serve`'s /metrics."""
    text = instructions.scrape(f"http://127.0.0.1:{port}/metrics")
    return (instructions.metric_sum(text, "logpipe_ingest_accepted_logs_total"),
            instructions.metric_sum(text, 'logpipe_amqp_published_messages{connection="logpipe-api"}'))


def scrape_backlog(port):
    """Logs accepted but not yet stored, from `serve`'s /metrics (accepted logs minus stored and duplicate ones)."""
    text = instructions.scrape(f"http://127.0.0.1:{port}/metrics")
    settled = sum(instructions.metric_sum(text, "logpipe_worker_deliveries_total", [outcome]) for outcome in ('"stored"', '"duplicate"'))
    return instructions.metric_sum(text, "logpipe_ingest_accepted_logs_total") - settled


TICKS = os.sysconf("SC_CLK_TCK")
BROKER_PID_FILE = "/tmp/logpipe-broker-bench/rabbitmq.pid"  # broker/rabbitmq.sh's, for LOGPIPE_BROKER_NAME=bench


def process_seconds(pid):
    """User + system CPU seconds of a live process (/proc/PID/stat), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_seconds(pids):
    """CPU seconds of these processes and of their live descendants (the seed design's uvicorn forks its workers)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    todo, seen = list(pids), set()
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += [child for child, parent in parents.items() if parent == pid]
    return sum(process_seconds(pid) for pid in seen)


def machine_seconds():
    """The machine's busy, idle and stolen CPU seconds so far (/proc/stat's first line)."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return {"busy": (user + nice + system + irq + softirq) / TICKS, "idle": (idle + iowait) / TICKS, "steal": steal / TICKS}


class CPUShare:
    """Cores used by the broker, logpipe and the load generator (wrk) while a load runs, and the cores the host
    stole: where the two cores went, beside the throughput they bought."""

    def __init__(self, *server_pids):
        self.server_pids = server_pids
        try:
            with open(BROKER_PID_FILE) as pid_file:
                self.broker_pid = int(pid_file.read().strip())
        except (OSError, ValueError):
            self.broker_pid = None
        self.begin = self.sample()

    def sample(self):
        return {"time": time.time(), "broker": process_seconds(self.broker_pid) if self.broker_pid else 0.0,
                "logpipe": tree_seconds(self.server_pids), "children": resource.getrusage(resource.RUSAGE_CHILDREN),
                **machine_seconds()}

    def cores(self):
        end, begin = self.sample(), self.begin
        wall = end["time"] - begin["time"]
        children = (end["children"].ru_utime + end["children"].ru_stime) - (begin["children"].ru_utime + begin["children"].ru_stime)
        share = {"broker": end["broker"] - begin["broker"], "logpipe": end["logpipe"] - begin["logpipe"], "wrk": children,
                 "idle": end["idle"] - begin["idle"], "steal": end["steal"] - begin["steal"]}
        return {name: round(seconds / wall, 2) for name, seconds in share.items()}


class BacklogSampler(threading.Thread):
    """Samples the backlog (accepted − stored logs) once a second while the load runs; keeps its peak."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.peak, self.stopped = port, 0, threading.Event()

    def run(self):
        while not self.stopped.wait(1):
            try:
                self.peak = max(self.peak, scrape_backlog(self.port))
            except Exception:
                pass

    def stop(self):
        self.stopped.set()
        self.join()
        return round(self.peak)


def logpipe_scenario(name, script, logs_per_request, args, env=None, half_rate=False, server_extra=None, amqp=AMQP, seconds=None,
                     store="sqlite"):
    namespace = f"bench-{name}-{os.getpid()}-{next_run()}"  # fresh queues and SQLite file (or database) for every run
    sqlite = f"{WORK}/{namespace}.sqlite"
    stores = {"LOGPIPE_SQLITE_PATH": sqlite, "LOGPIPE_MONGO_URI": ""}
    count_stored = None
    if store == "secantus":
        mongo_uri, database = secantus("url"), namespace.replace("-", "_")
        stores = {"LOGPIPE_MONGO_URI": mongo_uri, "LOGPIPE_MONGO_DB": database}
        count_stored = lambda: int(mongo_stored("count", mongo_uri, database))  # noqa: E731
    server_env = dict(os.environ, LOGPIPE_AMQP_URL=amqp, LOGPIPE_NAMESPACE=namespace, LOG_LEVEL="warning",
                      LOGPIPE_HTTP_PORT=str(HTTP_PORT), **stores, **(server_extra or {}))
    server = subprocess.Popen([os.path.join(RELEASE, "logpipe"), "serve"], env=server_env,
                              stdout=open(f"{WORK}/{namespace}.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{HTTP_PORT}/readiness")
        seconds = seconds or args.seconds
        log(f"[{name}] wrk {seconds}s, {args.connections} connections")
        sampler = BacklogSampler(HTTP_PORT)
        sampler.start()
        start = time.time()
        cpu = CPUShare(server.pid)  # wrk is the only child that ends during the load
        before = scrape_messages(HTTP_PORT)
        result = run_wrk(script, f"http://127.0.0.1:{HTTP_PORT}/ingest", seconds, args.connections, env)
        cores = cpu.cores()
        after = scrape_messages(HTTP_PORT)
        peak_backlog = sampler.stop()
        accepted_requests = result["requests"] - result["rejected"]
        accepted_logs = accepted_requests * logs_per_request
        count, elapsed = wait_stored(sqlite, accepted_logs, start, timeout=900, count_stored=count_stored)
        row = {
            "scenario": name, "system": "logpipe" if store == "sqlite" else "logpipe, SecantusDB (not MongoDB)", "logs_per_request": logs_per_request,
            "accepted_logs_per_s": round(accepted_logs / result["seconds"]),
            "stored_logs_per_s": round(count / elapsed), "all_stored": count >= accepted_logs,
            "rejected_requests": result["rejected"], "socket_errors": result["socket_errors"],
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "peak_backlog_logs": peak_backlog,
            "cores": cores,
        }
        # How many logs travel in one broker message, and the broker's CPU per accepted log (µs).
        logs, messages = after[0] - before[0], after[1] - before[1]
        row["logs_per_message"] = round(logs / messages, 1) if messages else None
        if logs and cpu.broker_pid:  # without the broker's pid its share reads 0
            row["broker_us_per_log"] = round(cores["broker"] * result["seconds"] * 1e6 / logs, 1)
        e2e = json.loads(bench_tool("e2e", "--sqlite", sqlite) if store == "sqlite" else mongo_stored("e2e", mongo_uri, database))
        row["e2e_p50_ms"], row["e2e_p99_ms"] = e2e["p50_ms"], e2e["p99_ms"]
        if half_rate:
            # Half the measured maximum: each connection waits so that all of them together send R/2 requests/s.
            target = accepted_requests / result["seconds"] / 2
            delay = max(0, int(args.connections * 1000 / target - (result["p50_ms"] or 0)))
            log(f"[{name}] at half rate (~{round(target)} req/s, {delay} ms between requests per connection)")
            half = run_wrk(script, f"http://127.0.0.1:{HTTP_PORT}/ingest", args.seconds, args.connections,
                           dict(env or {}, WRK_DELAY_MS=str(delay)))
            row["half_rate_req_per_s"] = round((half["requests"] - half["rejected"]) / half["seconds"])
            row["half_rate_p50_ms"], row["half_rate_p99_ms"] = half["p50_ms"], half["p99_ms"]
        row["peak_rss_mb"] = peak_rss_mb(server.pid)
        return row
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


SEED_DIR = os.path.abspath(os.path.join(ROOT, "..", "shared", "bench"))


def seed_venv():
    venv = os.path.join(ROOT, ".build", "seed-venv")
    if not os.path.exists(os.path.join(venv, "bin", "uvicorn")):
        log("[seed] creating its venv (fastapi uvicorn uvloop httptools aio-pika)")
        subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "fastapi", "uvicorn", "uvloop", "httptools", "aio-pika"], check=True)
    return venv


def seed_scenario(args):
    venv = seed_venv()
    seed_dir = SEED_DIR
    prefix = f"peer-{os.getpid()}-{next_run()}"
    sqlite = f"{WORK}/{prefix}.sqlite"
    env = dict(os.environ, PEER_AMQP=AMQP, PEER_PREFIX=prefix)
    api = subprocess.Popen([os.path.join(venv, "bin", "uvicorn"), "peer_seed:app", "--port", str(SEED_PORT), "--workers", "2",
                            "--loop", "uvloop", "--http", "httptools", "--no-access-log"], cwd=seed_dir, env=env,
                           stdout=open(f"{WORK}/{prefix}-api.log", "w"), stderr=subprocess.STDOUT)
    worker = subprocess.Popen([os.path.join(venv, "bin", "python"), "peer_seed.py", "worker", sqlite], cwd=seed_dir, env=env,
                              stdout=open(f"{WORK}/{prefix}-worker.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{SEED_PORT}/health")
        log(f"[seed] wrk {args.seconds}s, {args.connections} connections")
        start = time.time()
        cpu = CPUShare(api.pid, worker.pid)  # "logpipe" in its cores: the seed design's API and worker
        result = run_wrk("single.lua", f"http://127.0.0.1:{SEED_PORT}/ingest", args.seconds, args.connections)
        cores = cpu.cores()
        accepted = result["requests"] - result["rejected"]
        count, elapsed = wait_stored(sqlite, accepted, start, timeout=args.seed_drain_seconds)
        return {
            "scenario": "single", "system": "seed design", "logs_per_request": 1,
            "accepted_logs_per_s": round(accepted / result["seconds"]), "stored_logs_per_s": round(count / elapsed),
            "all_stored": count >= accepted, "rejected_requests": result["rejected"], "socket_errors": result["socket_errors"],
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "cores": cores,
        }
    finally:
        for process in (api, worker):
            process.send_signal(signal.SIGTERM)
        for process in (api, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


RUNS = [0]


CLUSTER_PORT = int(os.environ.get("LOGPIPE_BENCH_CLUSTER_PORT", "5850"))


def cluster(*arguments):
    env = dict(os.environ, LOGPIPE_CLUSTER_NAME="bench", LOGPIPE_CLUSTER_PORT=str(CLUSTER_PORT), LOGPIPE_BROKER_PLUGINS="none")
    return subprocess.run(["bash", os.path.join(ROOT, "broker", "cluster.sh"), *arguments], env=env, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]


def scale_out_rows(args):
    """NDJSON batches of 100 through `serve`: work shards on the one node, then a three-node quorum cluster,
    each beside the one-node classic single-queue figure of the same run."""
    env = {"BATCH_SIZE": "100"}
    variants = [("classic, 1 queue (reference)", {}), ("classic, 2 shards", {"LOGPIPE_WORK_SHARDS": "2"}),
                ("classic, 4 shards", {"LOGPIPE_WORK_SHARDS": "4"}), ("quorum, 1 queue, 1 node", {"LOGPIPE_QUEUE_TYPE": "quorum"})]
    rows = []
    for label, extra in variants:
        row = median_of(args.repeat, lambda: logpipe_scenario("batch100", "batch.lua", 100, args, env=env, server_extra=extra))
        row["scenario"] = f"batch100, {label}"
        rows.append(row)
    log("[cluster] starting three private nodes")
    urls = cluster("start", "3")
    try:
        for label, extra in [("3-node cluster, quorum, 1 queue", {"LOGPIPE_QUEUE_TYPE": "quorum"}),
                             ("3-node cluster, quorum, 2 shards", {"LOGPIPE_QUEUE_TYPE": "quorum", "LOGPIPE_WORK_SHARDS": "2"})]:
            row = median_of(args.repeat, lambda: logpipe_scenario("batch100", "batch.lua", 100, args, env=env, server_extra=extra, amqp=urls))
            row["scenario"] = f"batch100, {label}"
            rows.append(row)
    finally:
        cluster("wipe")
    return rows


def next_run():
    RUNS[0] += 1
    return RUNS[0]


def median_of(repeat, run, key="accepted_logs_per_s"):
    """Runs a measurement `repeat` times and returns the run with the median `key` (this VM's neighbours make
    single runs vary by tens of percent), with every run's value under "runs"."""
    results = [run() for _ in range(repeat)]
    ordered = sorted(results, key=lambda result: result[key])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["runs"] = [result[key] for result in results]
    if key == "accepted_logs_per_s":
        chosen["stored_runs"] = [result["stored_logs_per_s"] for result in results]
    return chosen


SCENARIOS = {
    # name: (wrk script, logs per request, wrk env, serve env, wrk seconds or None for --seconds)
    "single": ("single.lua", 1, {}, {}, None),
    "batch100": ("batch.lua", 100, {"BATCH_SIZE": "100"}, {}, None),
    # The API held back by the work queue's depth, so that what is accepted is stored as it goes (30 s).
    "paced100": ("batch.lua", 100, {"BATCH_SIZE": "100"}, {"LOGPIPE_MAX_WORK_BACKLOG": "400"}, 30),
    "batch1000": ("batch.lua", 1000, {"BATCH_SIZE": "1000"}, {}, None),
    # ~97 of 3,000 tenants in every batch of 100: each tenant's logs are messages of their own routing key.
    "mixed3000": ("tenants.lua", 100, {"TENANTS": "3000", "MIX": "1"}, {}, None),
    # 3,000 tenants each sending batches of their own.
    "tenants3000": ("tenants.lua", 100, {"TENANTS": "3000", "MIX": "0"}, {}, None),
}


def table(rows, ceilings, counted):
    columns = [("system", "system"), ("scenario", "load"), ("accepted_logs_per_s", "accepted logs/s"),
               ("stored_logs_per_s", "stored logs/s"), ("all_stored", "all stored"), ("p50_ms", "202 p50 ms"),
               ("p99_ms", "202 p99 ms"), ("e2e_p50_ms", "e2e p50 ms"), ("e2e_p99_ms", "e2e p99 ms"),
               ("half_rate_p99_ms", "p99 ms at half rate"), ("peak_backlog_logs", "peak backlog logs"),
               ("peak_rss_mb", "peak RSS MB"), ("logs_per_message", "logs per broker message"),
               ("broker_us_per_log", "broker CPU µs per log"), ("cores_text", "cores: broker / logpipe / wrk / idle / stolen")]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        if row.get("cores"):
            row = dict(row, cores_text=" / ".join(str(row["cores"][name]) for name in ("broker", "logpipe", "wrk", "idle", "steal")))
        lines.append("| " + " | ".join("" if row.get(key) is None else str(row.get(key)) for key, _ in columns) + " |")
    lines.append("")
    for row in rows:
        if len(row.get("runs", [])) > 1:
            lines.append(f"{row['system']} {row['scenario']}: median of {len(row['runs'])} runs; accepted logs/s per run "
                         f"{row['runs']}, stored logs/s per run {row.get('stored_runs')}")
    minimal, bridge, grouped = ceilings["minimal"], ceilings["bridge"], ceilings["grouped"]
    lines.append(f"broker ceiling, 200 B persistent publishes with confirms, 1,000 in flight, one connection: minimal rabbitmq-c "
                 f"publisher {minimal['per_second']} msgs/s (runs {minimal['runs']}); logpipe's AMQP bridge, one call per message "
                 f"{bridge['per_second']} msgs/s (runs {bridge['runs']}) = {round(100 * bridge['per_second'] / minimal['per_second'])} %, "
                 f"50 messages per call {grouped['per_second']} msgs/s (runs {grouped['runs']}) = "
                 f"{round(100 * grouped['per_second'] / minimal['per_second'])} %")
    if counted:
        lines += ["", "| system | load (fixed, under callgrind) | logs stored | API instructions per log (× the HTTP floor) | "
                  "worker instructions per log (× SQLite's floor, rows per write) |", "|---|---|---|---|---|"]
        for row in counted:
            api = f"{row['api_instructions_per_log']:,}"
            if row.get("http_floor"):
                api += f" ({row['api_instructions_per_log'] / row['http_floor']:.2f}×)"
            worker = f"{row['worker_instructions_per_log']:,}"
            if row.get("sqlite_floor"):
                worker += f" ({row['worker_instructions_per_log'] / row['sqlite_floor']:.2f}×, {row['rows_per_write']})"
            lines.append(f"| {row['system']} | {row['load']} | {row['logs']} | {api} | {worker} |")
        floors = [row for row in counted if row.get("http_floor")][:1]
        if floors:
            lines.append(f"HTTP floor (`http-floor`, a minimal Hummingbird 2 handler, the single-log workload): "
                         f"{floors[0]['http_floor']:,} instructions per request; SQLite's floor (`scripts/bench/sqlite_floor.c`): "
                         + ", ".join(f"{row['sqlite_floor']:,} per row at {row['rows_per_write']} rows per write"
                                     for row in counted if row.get("sqlite_floor")))
    return "\n".join(lines)


def ceilings(args):
    """The broker's ceiling from a minimal rabbitmq-c publisher (scripts/bench/ceiling.c) and from logpipe's bridge."""
    log("[ceiling] minimal rabbitmq-c publisher and logpipe's bridge, alternating")
    minimal, bridge, grouped = [], [], []
    for _ in range(args.repeat):
        minimal.append(json.loads(subprocess.run(
            [os.path.join(ROOT, ".build", "bench", "ceiling"), "--port", str(BENCH_PORT), "--seconds", "5", "--size", "200",
             "--inflight", "1000"], check=True, capture_output=True, text=True).stdout))
        bridge.append(json.loads(bench_tool("publish-ceiling", "--url", AMQP, "--seconds", "5", "--size", "200")))
        # As a request's tenants are published: 50 messages per call of the bridge.
        grouped.append(json.loads(bench_tool("publish-ceiling", "--url", AMQP, "--seconds", "5", "--size", "200", "--group", "50")))

    def median(results):
        ordered = sorted(results, key=lambda result: result["per_second"])
        return dict(ordered[len(ordered) // 2], runs=[result["per_second"] for result in results])
    return {"minimal": median(minimal), "bridge": median(bridge), "grouped": median(grouped)}


def instruction_rows(args):
    """Instructions per log of `logpipe api` and `logpipe worker`, each beside its floor measured in the same run: the
    API's beside `http-floor` (a minimal Hummingbird 2 handler of the same request), the worker's beside
    `sqlite_floor` (SQLite alone keeping the same rows, as many per transaction as the worker wrote)."""
    rows = []
    log("[instructions] the HTTP floor (a minimal Hummingbird handler) under callgrind")
    http_floor = instructions.http_floor_instructions(RELEASE, WORK, HTTP_PORT + 20)["instructions_per_request"]
    sqlite_floor = os.path.join(WORK, "sqlite_floor")
    subprocess.run(["cc", "-O2", "-o", sqlite_floor, os.path.join(ROOT, "scripts", "bench", "sqlite_floor.c"), "-lsqlite3"], check=True)
    for load in args.instruction_loads.split(","):
        log(f"[instructions] {load}: logpipe api and worker under callgrind")
        row = instructions.logpipe_instructions(load, RELEASE, AMQP, WORK, HTTP_PORT + 10, stored)
        log(f"[instructions] {load}: SQLite's floor at {row['rows_per_write']} rows per write under callgrind")
        if load == "single":  # the floor is one log per request; batches spread a request's cost over its logs
            row["http_floor"] = http_floor
        # The floor writes as many tenants' tables as the load names (each commit touches that many tables' pages).
        tenants = 3000 if load == "mixed3000" else 10
        row["sqlite_floor"] = instructions.sqlite_floor_instructions(sqlite_floor, WORK, row["rows_per_write"], tenants)["instructions_per_row"]
        rows.append(row)
    if not args.no_seed:
        log("[instructions] the seed design under callgrind")
        rows.append(instructions.seed_instructions(seed_venv(), SEED_DIR, AMQP, WORK, SEED_PORT + 10, stored))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the table shows the median run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"any of {', '.join(SCENARIOS)}")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed-design reference")
    parser.add_argument("--instruction-loads", default="single,batch100,mixed3000",
                        help="fixed workloads counted under callgrind ('' for none)")
    parser.add_argument("--scale-out", action="store_true",
                        help="instead of the scenarios: batches of 100 with 1, 2, 4 work shards and on a three-node quorum cluster")
    parser.add_argument("--seed-drain-seconds", type=int, default=120)
    parser.add_argument("--stores", default="sqlite",
                        help="sqlite and/or secantus (MongoDB's store on SecantusDB, not MongoDB): each scenario on each")
    parser.add_argument("--output", default=os.path.join(ROOT, ".build", "bench", "results.json"))
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    broker("start")
    stores = [store for store in args.stores.split(",") if store]
    if "secantus" in stores:
        secantus("wipe")
        secantus("start")
    counted = []
    try:
        limits = ceilings(args)
        rows = scale_out_rows(args) if args.scale_out else []
        for name in [] if args.scale_out else [name for name in args.scenarios.split(",") if name]:
            script, per_request, wrk_env, serve_env, seconds = SCENARIOS[name]
            for store in stores:
                rows.append(median_of(args.repeat, lambda: logpipe_scenario(
                    name, script, per_request, args, env=wrk_env, server_extra=serve_env, seconds=seconds,
                    half_rate=name == "single", store=store)))
        if not args.no_seed and not args.scale_out:
            rows.append(median_of(args.repeat, lambda: seed_scenario(args)))
        if args.instruction_loads and not args.scale_out:
            counted = instruction_rows(args)
    finally:
        broker("stop")
        if "secantus" in stores:
            secantus("wipe")
    machine = {"cores": os.cpu_count(), "kernel": os.uname().release,
               "note": "broker, logpipe and wrk share these cores"}
    result = {"machine": machine, "broker_ceiling": limits["minimal"], "bridge_ceiling": limits["bridge"],
              "bridge_grouped_ceiling": limits["grouped"], "rows": rows,
              "instructions": counted, "connections": args.connections,
              "seconds": args.seconds, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(args.output, "w") as output:
        json.dump(result, output, indent=2)
    print(table(rows, limits, counted))
    print(f"\n(JSON: {args.output}; {os.cpu_count()} cores shared by the broker, the system under test and wrk)")
    # The plots of this run, next to its JSON (scripts/bench/plot.py; Debian's python3-matplotlib).
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "bench", "plot.py"), args.output,
                    "--name", "scale-out" if args.scale_out else "bench"], check=False)


if __name__ == "__main__":
    main()
