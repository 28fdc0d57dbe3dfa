"""A/B of release builds on one load, interleaved: `logpipe serve` (SQLite) of each build in turn, wrk for 10 s with
64 connections, then until every accepted log is stored; medians per build. For changes whose effect is smaller
than this machine's drift between two separate bench runs.

    python3 scripts/bench/ab.py before=/path/a/.build/release,after=.build/release [--rounds 4] [--scenario batch100]

Starts and stops the bench's own RabbitMQ node as scripts/bench/run.py does. Prints one JSON row per run and a
median table; the CPU columns are the `serve` process's and the broker's cores during the load (run.py's CPUShare).
"""
import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import time

import run as bench  # next to this script

PORT = 18500


def stored(path):
    """Logs stored in a logpipe SQLite file (every tenant's table)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return sum(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                       for table in tables if not table.startswith("sqlite_") and not table.startswith("_"))
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def one_run(label, binaries, scenario, round_index):
    script, per_request, wrk_env, serve_env, _ = bench.SCENARIOS[scenario]
    namespace = f"ab-{label}-{os.getpid()}-{round_index}"
    sqlite = f"{bench.WORK}/{namespace}.sqlite"
    env = dict(os.environ, LOGPIPE_AMQP_URL=bench.AMQP, LOGPIPE_NAMESPACE=namespace, LOG_LEVEL="warning",
               LOGPIPE_HTTP_PORT=str(PORT), LOGPIPE_SQLITE_PATH=sqlite, LOGPIPE_MONGO_URI="", **serve_env)
    server = subprocess.Popen([os.path.join(binaries, "logpipe"), "serve"], env=env,
                              stdout=open(f"{bench.WORK}/{namespace}.log", "w"), stderr=subprocess.STDOUT)
    try:
        bench.wait_ready(f"http://127.0.0.1:{PORT}/readiness")
        start = time.time()
        cpu = bench.CPUShare(server.pid)
        result = bench.run_wrk(script, f"http://127.0.0.1:{PORT}/ingest", 10, 64, wrk_env)
        cores = cpu.cores()
        accepted = (result["requests"] - result["rejected"]) * per_request
        count, elapsed = bench.wait_stored(sqlite, accepted, start, 600, count_stored=lambda: stored(sqlite))
        return {"build": label, "accepted_per_s": round(accepted / result["seconds"]),
                "stored_per_s": round(count / elapsed), "p99_ms": result["p99_ms"],
                "rejected": result["rejected"], "serve_cores": cores["logpipe"], "broker_cores": cores["broker"]}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", help="label=directory,label=directory (directories holding a release `logpipe`)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--scenario", default="batch100", choices=sorted(bench.SCENARIOS))
    args = parser.parse_args()
    os.makedirs(bench.WORK, exist_ok=True)
    builds = [spec.split("=", 1) for spec in args.builds.split(",")]
    rows = []
    bench.broker("start")
    try:
        for round_index in range(args.rounds):
            for label, binaries in builds:
                row = one_run(label, binaries, args.scenario, round_index)
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        bench.broker("stop")
    print(f"\n| build | accepted logs/s, median [runs] | stored logs/s | 202 p99 ms | serve cores | broker cores |\n|---|---|---|---|---|---|")
    for label, _ in builds:
        mine = [row for row in rows if row["build"] == label]
        median = lambda key: statistics.median(row[key] for row in mine)  # noqa: E731
        print(f"| {label} | {median('accepted_per_s'):,.0f} {[row['accepted_per_s'] for row in mine]} | {median('stored_per_s'):,.0f} | "
              f"{median('p99_ms'):.1f} | {median('serve_cores'):.2f} | {median('broker_cores'):.2f} |")


if __name__ == "__main__":
    main()
