#!/usr/bin/env python3
"""Peak memory of `logpipe serve` under the heaviest bodies the limits allow (docs/performance.md).

Clients in parallel POST gzip'ed NDJSON batches of 9,000 logs with 60 attributes each (~7.5 MB inflated, under
the default 8 MiB request limit, ~40 KB on the wire) for --seconds; the worker stores into SQLite. Reported:
answers by status, logs accepted and stored, and the peak RSS of the process (VmHWM), which the round-3 target
holds under 200 MB. Only the Python standard library; a release build and a running broker are needed
(scripts/bench.sh starts both; or --amqp and LOGPIPE_BENCH_BINARIES for a build of your own).
"""
import argparse
import collections
import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402 (next to this script)
from instructions import wait_ready  # noqa: E402


def body(logs, attributes, seed):
    lines = []
    for i in range(logs):
        attrs = ",".join(f'"a{k:02d}":"v{(i + k + seed) % 97:02d}"' for k in range(attributes))
        lines.append(f'{{"tenant_id":"t{i % 10}","text":"heavy line {seed}-{i} from 10.0.{i % 250}.7","attributes":{{{attrs}}}}}')
    return gzip.compress("\n".join(lines).encode(), 6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--logs", type=int, default=9000)
    parser.add_argument("--attributes", type=int, default=60)
    parser.add_argument("--amqp", default=run.AMQP)
    parser.add_argument("--port", type=int, default=8210)
    parser.add_argument("--split", action="store_true", help="logpipe api and logpipe worker as two processes, each measured")
    args = parser.parse_args()
    os.makedirs(run.WORK, exist_ok=True)
    bodies = [body(args.logs, args.attributes, seed) for seed in range(4)]
    namespace = f"bench-memory-{os.getpid()}"
    sqlite = f"{run.WORK}/{namespace}.sqlite"
    env = dict(os.environ, LOGPIPE_AMQP_URL=args.amqp, LOGPIPE_NAMESPACE=namespace, LOG_LEVEL="warning",
               LOGPIPE_HTTP_PORT=str(args.port), LOGPIPE_WORKER_HTTP_PORT="0", LOGPIPE_SQLITE_PATH=sqlite, LOGPIPE_MONGO_URI="")
    commands = ["api", "worker"] if args.split else ["serve"]
    processes = {command: subprocess.Popen([os.path.join(run.RELEASE, "logpipe"), command], env=env,
                                           stdout=open(f"{run.WORK}/{namespace}.{command}.log", "w"), stderr=subprocess.STDOUT)
                 for command in commands}
    statuses = collections.Counter()
    lock = threading.Lock()
    try:
        wait_ready(f"http://127.0.0.1:{args.port}/readiness")
        deadline = time.time() + args.seconds

        def client(index):
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=120)
            sent = 0
            while time.time() < deadline:
                payload = bodies[(index + sent) % len(bodies)]
                sent += 1
                try:
                    connection.request("POST", "/ingest", payload, {
                        "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    status = "error"
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=120)
                with lock:
                    statuses[status] += 1

        start = time.time()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        accepted = statuses[202] * args.logs
        count, elapsed = run.wait_stored(sqlite, accepted, start, timeout=900)
        print(json.dumps({
            "clients": args.clients, "logs_per_body": args.logs, "attributes": args.attributes,
            "wire_bytes": len(bodies[0]), "answers": {str(k): v for k, v in sorted(statuses.items(), key=str)},
            "accepted_logs": accepted, "stored_logs": count, "stored_logs_per_s": round(count / elapsed),
            "peak_rss_mb": {command: run.peak_rss_mb(process.pid) for command, process in processes.items()}}))
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
