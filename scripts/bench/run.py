#!/usr/bin/env python3
"""logpipe benchmark harness (scripts/bench.sh runs it after building in release mode).

On this one machine: a private RabbitMQ node, the broker's own confirmed-publish ceiling (logpipe-bench
publish-ceiling, same payload size), then for each scenario a fresh release `logpipe serve` (SQLite store)
driven by wrk, and the seed design's reference (../shared/bench/peer_seed.py: FastAPI + uvicorn with 2
workers + aio-pika) on the same load. Prints one table and writes it as JSON.

Measured per scenario: accepted logs/s (202s during the wrk run), stored logs/s (all accepted logs stored,
from the start of the load to the last one stored), 202 latency p50/p99 (wrk), end-to-end ingest->stored
latency p50/p99 (processed_at - received_at of the stored logs), peak RSS of logpipe (VmHWM).
Only the Python standard library is used here; the seed reference gets its own venv under .build/.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, ".build", "release")
BENCH_PORT = int(os.environ.get("LOGPIPE_BENCH_BROKER_PORT", "5742"))
AMQP = f"amqp://guest:guest@127.0.0.1:{BENCH_PORT}/"
HTTP_PORT = 8200
SEED_PORT = 8099
WORK = "/tmp/logpipe-bench"


def log(message):
    print(message, file=sys.stderr, flush=True)


def broker(command):
    env = dict(os.environ, LOGPIPE_BROKER_NAME="bench", LOGPIPE_BROKER_PORT=str(BENCH_PORT), LOGPIPE_BROKER_PLUGINS="none")
    subprocess.run(["bash", os.path.join(ROOT, "broker", "rabbitmq.sh"), command], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def wait_ready(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


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


def wait_stored(sqlite, expected, start, timeout):
    deadline = time.time() + timeout
    count = 0
    while time.time() < deadline:
        count = stored(sqlite)
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


def logpipe_scenario(name, script, logs_per_request, args, env=None, half_rate=False, server_extra=None, amqp=AMQP):
    namespace = f"bench-{name}-{os.getpid()}-{next_run()}"  # fresh queues and SQLite file for every run
    sqlite = f"{WORK}/{namespace}.sqlite"
    server_env = dict(os.environ, LOGPIPE_AMQP_URL=amqp, LOGPIPE_NAMESPACE=namespace, LOGPIPE_SQLITE_PATH=sqlite,
                      LOG_LEVEL="warning", LOGPIPE_HTTP_PORT=str(HTTP_PORT), **(server_extra or {}))
    server = subprocess.Popen([os.path.join(RELEASE, "logpipe"), "serve"], env=server_env,
                              stdout=open(f"{WORK}/{namespace}.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{HTTP_PORT}/readiness")
        log(f"[{name}] wrk {args.seconds}s, {args.connections} connections")
        start = time.time()
        result = run_wrk(script, f"http://127.0.0.1:{HTTP_PORT}/ingest", args.seconds, args.connections, env)
        accepted_requests = result["requests"] - result["rejected"]
        accepted_logs = accepted_requests * logs_per_request
        count, elapsed = wait_stored(sqlite, accepted_logs, start, timeout=600)
        row = {
            "scenario": name, "system": "logpipe", "logs_per_request": logs_per_request,
            "accepted_logs_per_s": round(accepted_logs / result["seconds"]),
            "stored_logs_per_s": round(count / elapsed), "all_stored": count >= accepted_logs,
            "rejected_requests": result["rejected"], "socket_errors": result["socket_errors"],
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
        }
        e2e = json.loads(bench_tool("e2e", "--sqlite", sqlite))
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


def seed_scenario(args):
    venv = os.path.join(ROOT, ".build", "seed-venv")
    if not os.path.exists(os.path.join(venv, "bin", "uvicorn")):
        log("[seed] creating its venv (fastapi uvicorn uvloop httptools aio-pika)")
        subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "fastapi", "uvicorn", "uvloop", "httptools", "aio-pika"], check=True)
    seed_dir = os.path.abspath(os.path.join(ROOT, "..", "shared", "bench"))
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
        result = run_wrk("single.lua", f"http://127.0.0.1:{SEED_PORT}/ingest", args.seconds, args.connections)
        accepted = result["requests"] - result["rejected"]
        count, elapsed = wait_stored(sqlite, accepted, start, timeout=args.seed_drain_seconds)
        return {
            "scenario": "single", "system": "seed design", "logs_per_request": 1,
            "accepted_logs_per_s": round(accepted / result["seconds"]), "stored_logs_per_s": round(count / elapsed),
            "all_stored": count >= accepted, "rejected_requests": result["rejected"], "socket_errors": result["socket_errors"],
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
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


def table(rows, ceiling):
    columns = [("system", "system"), ("scenario", "load"), ("accepted_logs_per_s", "accepted logs/s"),
               ("stored_logs_per_s", "stored logs/s"), ("all_stored", "all stored"), ("p50_ms", "202 p50 ms"),
               ("p99_ms", "202 p99 ms"), ("e2e_p50_ms", "e2e p50 ms"), ("e2e_p99_ms", "e2e p99 ms"),
               ("half_rate_p99_ms", "p99 ms at half rate"), ("peak_rss_mb", "peak RSS MB")]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join("" if row.get(key) is None else str(row.get(key)) for key, _ in columns) + " |")
    lines.append("")
    for row in rows:
        if len(row.get("runs", [])) > 1:
            lines.append(f"{row['system']} {row['scenario']}: median of {len(row['runs'])} runs; accepted logs/s per run "
                         f"{row['runs']}, stored logs/s per run {row.get('stored_runs')}")
    lines.append(f"broker ceiling (minimal publisher, 200 B persistent, confirms, 1,000 in flight): {ceiling['per_second']} msgs/s"
                 f" (median of {ceiling['runs']})")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the table shows the median run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--scenarios", default="single,batch100,batch1000")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed-design reference")
    parser.add_argument("--scale-out", action="store_true",
                        help="instead of the scenarios: batches of 100 with 1, 2, 4 work shards and on a three-node quorum cluster")
    parser.add_argument("--seed-drain-seconds", type=int, default=120)
    parser.add_argument("--output", default=os.path.join(ROOT, ".build", "bench", "results.json"))
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    broker("start")
    try:
        log("[ceiling] minimal confirmed publisher")
        ceiling = median_of(args.repeat, lambda: json.loads(bench_tool("publish-ceiling", "--url", AMQP, "--seconds", "5", "--size", "200")),
                            key="per_second")
        rows = scale_out_rows(args) if args.scale_out else []
        scenarios = [] if args.scale_out else args.scenarios.split(",")
        if "single" in scenarios:
            rows.append(median_of(args.repeat, lambda: logpipe_scenario("single", "single.lua", 1, args, half_rate=True)))
        for size in (100, 1000):
            if f"batch{size}" in scenarios:
                rows.append(median_of(args.repeat, lambda: logpipe_scenario(f"batch{size}", "batch.lua", size, args, env={"BATCH_SIZE": str(size)})))
        if not args.no_seed and not args.scale_out:
            rows.append(median_of(args.repeat, lambda: seed_scenario(args)))
    finally:
        broker("stop")
    machine = {"cores": os.cpu_count(), "kernel": os.uname().release,
               "note": "broker, logpipe and wrk share these cores"}
    result = {"machine": machine, "broker_ceiling": ceiling, "rows": rows, "connections": args.connections,
              "seconds": args.seconds, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(args.output, "w") as output:
        json.dump(result, output, indent=2)
    print(table(rows, ceiling))
    print(f"\n(JSON: {args.output}; {os.cpu_count()} cores shared by the broker, the system under test and wrk)")
    # The plots of this run, next to its JSON (scripts/bench/plot.py; Debian's python3-matplotlib).
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "bench", "plot.py"), args.output,
                    "--name", "scale-out" if args.scale_out else "bench"], check=False)


if __name__ == "__main__":
    main()
