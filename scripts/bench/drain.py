#!/usr/bin/env python3
"""The worker alone, draining a backlog: how fast `logpipe worker` stores when it never waits for the API.

Fills the work queue through `logpipe api` (no worker running) with wrk's NDJSON batches of 100 mixing 10
tenants for --fill seconds, then starts `logpipe worker` (SQLite) and counts what it stores in --seconds. Prints
stored logs/s, the cores the worker and the broker used and the cores left idle, and the WAL file's size at the
end. Runs on the benchmark's private broker (scripts/bench/run.py's), which it starts and, since what the worker
did not drain stays in its durable queues, wipes at the end (its directory is deleted); a release build
must exist (scripts/bench.sh builds one). Extra environment (LOGPIPE_BATCH_SIZE, LOGPIPE_PREFETCH, …) goes to the
worker; LOGPIPE_BENCH_BINARIES picks another build, as for run.py.

  python3 scripts/bench/drain.py [--fill 15] [--seconds 12] [--repeat 3]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402 (next to this script: the broker, the release binaries, /proc readings)
from instructions import wait_ready  # noqa: E402

API_PORT, WORKER_PORT = 8300, 8301


def drain_once(args, index):
    namespace = f"drain-{os.getpid()}-{index}"
    sqlite = f"{run.WORK}/{namespace}.sqlite"
    env = dict(os.environ, LOGPIPE_AMQP_URL=run.AMQP, LOGPIPE_NAMESPACE=namespace, LOGPIPE_SQLITE_PATH=sqlite,
               LOG_LEVEL="warning", LOGPIPE_HTTP_PORT=str(API_PORT), LOGPIPE_WORKER_HTTP_PORT=str(WORKER_PORT))
    binary = os.path.join(run.RELEASE, "logpipe")
    log_file = open(f"{run.WORK}/{namespace}.log", "w")

    def start(command, port):
        process = subprocess.Popen([binary, command], env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readiness")
        except BaseException:
            stop(process)
            raise
        return process

    def stop(process):
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    try:
        stop(start("worker", WORKER_PORT))  # declares the topology, so that the API's publishes have a queue
        api = start("api", API_PORT)
        try:
            filled = run.run_wrk("batch.lua", f"http://127.0.0.1:{API_PORT}/ingest", args.fill, 64, {"BATCH_SIZE": "100"})
        finally:
            stop(api)
        worker = start("worker", WORKER_PORT)
        try:
            cpu = run.CPUShare(worker.pid)
            before, begin = run.stored(sqlite), time.time()
            time.sleep(args.seconds)  # the measurement window, not a synchronisation
            after, end = run.stored(sqlite), time.time()
            cores = cpu.cores()
            wal = os.path.getsize(sqlite + "-wal") if os.path.exists(sqlite + "-wal") else 0
        finally:
            stop(worker)
        queued = (filled["requests"] - filled["rejected"]) * 100
        # ran_dry: the queue emptied within the window, so the rate understates the worker (fill longer).
        return {"queued_logs": queued, "stored_logs_per_s": round((after - before) / (end - begin)),
                "ran_dry": after >= queued, "cores": cores, "wal_mb_at_end": round(wal / 1e6, 1)}
    finally:
        log_file.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(sqlite + suffix):
                os.remove(sqlite + suffix)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fill", type=int, default=15, help="seconds of API load that fill the queue")
    parser.add_argument("--seconds", type=int, default=12, help="seconds the worker drains")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(run.WORK, exist_ok=True)
    run.broker("start")
    try:
        runs = [drain_once(args, index) for index in range(args.repeat)]
    finally:
        run.broker("wipe")
    for result in runs:
        print(json.dumps(result))
    rates = sorted(result["stored_logs_per_s"] for result in runs)
    print(f"worker alone, stored logs/s: median {rates[len(rates) // 2]} of {rates}")


if __name__ == "__main__":
    main()
