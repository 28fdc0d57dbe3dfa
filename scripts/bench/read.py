#!/usr/bin/env python3
"""The read API's latency (docs/performance.md, "Reading logs"): p50/p95/p99 of a one-hour `query_range` over a
tenant holding 1,000,000 logs, against a release `logpipe api`.

The tenant's table (SQLite) or collection (MongoDB, --store mongo with --mongo-uri) is filled directly, in the
stores' own layout (what SQLiteLogStore and MongoLogStore write: same columns, same `received_at` index),
with logs received evenly over --hours hours (1,000,000 over 24 h: ~41,700 an hour); 1 in 200 lines holds
"timeout". Then the queries run one after another (a tenant's Grafana), each over a random whole hour of the
range:

  filter    {source="api"} |= "timeout"      limit=1000   (the issue's case: a line filter)
  regex     {source="api"} |~ "time(d )?out"  limit=1000
  labels    {level="error"}                   limit=1000   (an equality the store evaluates)
  newest    {}                                limit=1000
  volume    sum by (level) (count_over_time({} | drop __error__ [1m])), step 60s over the hour

Only the Python standard library (and pymongo for --store mongo, Debian's python3-pymongo).

  python3 scripts/bench/read.py [--logs 1000000] [--hours 24] [--requests 200] [--binary .build/release/logpipe]
"""
import argparse
import http.client
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TENANT = "bench"
QUERIES = {
    "filter": '{source="api"} |= "timeout"',
    "regex": '{source="api"} |~ "time(d )?out"',
    "labels": '{level="error"}',
    "newest": "{}",
    "volume": "sum by (level) (count_over_time({} | drop __error__ [1m]))",
}


def stamp(ms):
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % millis


def documents(count, start_ms, span_ms, seed=7):
    rng = random.Random(seed)
    levels = ["info"] * 14 + ["debug"] * 3 + ["warn"] * 2 + ["error"]
    sources = ["api", "web", "worker", "billing"]
    for n in range(count):
        received = start_ms + n * span_ms // count
        level = levels[n % len(levels)]
        source = sources[(n // 7) % len(sources)]
        path = "/v1/orders/%d" % rng.randrange(100000)
        if n % 200 == 0:
            text = "upstream timeout after 30s on GET %s (attempt %d)" % (path, n % 3 + 1)
        else:
            text = "GET %s %d in %dms user=[REDACTED:EMAIL] trace=%016x" % (path, rng.choice([200, 200, 200, 404, 503]), rng.randrange(2, 900), rng.getrandbits(64))
        attributes = {"region": ["eu", "us"][n % 2], "status": 200, "host": "node-%d" % (n % 16)}
        yield "b-%08d" % n, text, stamp(received), level, source, attributes


def fill_sqlite(path, count, start_ms, span_ms):
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    table = '"%s"' % TENANT
    # SQLiteLogStore.createTable and createIndex, column for column.
    db.execute("CREATE TABLE %s (log_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, text TEXT NOT NULL, redactions TEXT NOT NULL, "
               "received_at TEXT NOT NULL, processed_at TEXT NOT NULL, request_id TEXT NOT NULL, timestamp TEXT, level TEXT, "
               "source TEXT, attributes TEXT)" % table)
    db.execute('CREATE INDEX "%s.received_at" ON %s (received_at)' % (TENANT, table))
    rows = ((log_id, TENANT, text, '{"EMAIL":1}', received, received, "req", None, level, source, json.dumps(attributes))
            for log_id, text, received, level, source, attributes in documents(count, start_ms, span_ms))
    db.executemany("INSERT INTO %s VALUES (?,?,?,?,?,?,?,?,?,?,?)" % table, rows)
    db.commit()
    db.close()


def fill_mongo(uri, database, count, start_ms, span_ms):
    import datetime
    import pymongo
    client = pymongo.MongoClient(uri)
    collection = client[database][TENANT]
    collection.drop()
    collection.create_index([("received_at", 1)], name="received_at_1")  # MongoLogStore.ensureIndex
    batch = []
    for log_id, text, received, level, source, attributes in documents(count, start_ms, span_ms):
        when = datetime.datetime.strptime(received, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        batch.append({"_id": log_id, "log_id": log_id, "tenant_id": TENANT, "text": text, "redactions": {"EMAIL": 1},
                      "received_at": when, "processed_at": when, "request_id": "req", "level": level, "source": source,
                      "attributes": attributes})
        if len(batch) == 10000:
            collection.insert_many(batch, ordered=False)
            batch = []
    if batch:
        collection.insert_many(batch, ordered=False)
    client.close()


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    connection.request("GET", path, headers={"X-Scope-OrgID": TENANT})
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        raise SystemExit("HTTP %d: %s" % (response.status, body[:300]))
    return elapsed, json.loads(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--requests", type=int, default=200, help="requests per query kind")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/logpipe"))
    parser.add_argument("--store", choices=["sqlite", "mongo"], default="sqlite")
    parser.add_argument("--mongo-uri", default=os.environ.get("LOGPIPE_BENCH_MONGO_URI"))
    parser.add_argument("--port", type=int, default=18240)
    parser.add_argument("--work", default="/tmp/logpipe-bench-read")
    parser.add_argument("--keep-data", action="store_true", help="reuse the data of a previous run with the same --logs")
    parser.add_argument("--fill-only", action="store_true", help="fill the store and stop")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    span_ms = args.hours * 3_600_000
    # The range ends at the last midnight (UTC): the same data for a whole day, so --keep-data can reuse it.
    start_ms = (int(time.time()) // 86400 * 86400 - args.hours * 3600) * 1000
    env = dict(os.environ, LOG_LEVEL="error", LOGPIPE_NAMESPACE="benchread", LOGPIPE_AMQP_URL="amqp://guest:guest@127.0.0.1:1/",
               LOGPIPE_READ_MAX_LOGS=str(10_000_000))
    marker = os.path.join(args.work, "%s-%d-%d-%d.filled" % (args.store, args.logs, args.hours, start_ms))
    started = time.perf_counter()
    if args.store == "sqlite":
        path = os.path.join(args.work, "bench.sqlite")
        if not (args.keep_data and os.path.exists(marker)):
            fill_sqlite(path, args.logs, start_ms, span_ms)
        env["LOGPIPE_SQLITE_PATH"] = path
    else:
        if not args.mongo_uri:
            raise SystemExit("--store mongo needs --mongo-uri (or LOGPIPE_BENCH_MONGO_URI)")
        if not (args.keep_data and os.path.exists(marker)):
            fill_mongo(args.mongo_uri, "benchread", args.logs, start_ms, span_ms)
        env.update(LOGPIPE_MONGO_URI=args.mongo_uri, LOGPIPE_MONGO_DB="benchread")
    open(marker, "w").close()
    if args.fill_only:
        return
    print("filled %d logs over %d h in %.0f s (%s)" % (args.logs, args.hours, time.perf_counter() - started, args.store), file=sys.stderr)

    log = open(os.path.join(args.work, "api.log"), "w")
    api = subprocess.Popen([args.binary, "api", "--host", "127.0.0.1", "--port", str(args.port)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        while True:
            try:
                get(args.port, "/loki/api/v1/status/buildinfo")
                break
            except (OSError, SystemExit):
                if time.time() > deadline or api.poll() is not None:
                    raise SystemExit("the API did not start; see %s" % log.name)
                time.sleep(0.1)
        rng = random.Random(1)
        results = {}
        for name, query in QUERIES.items():
            timings, entries = [], []
            for _ in range(args.requests):
                hour = start_ms + rng.randrange(args.hours) * 3_600_000
                parameters = {"query": query, "start": str(hour * 1_000_000), "end": str((hour + 3_600_000) * 1_000_000)}
                if name == "volume":
                    parameters["step"] = "60000ms"
                else:
                    parameters["limit"] = "1000"
                elapsed, body = get(args.port, "/loki/api/v1/query_range?" + urllib.parse.urlencode(parameters))
                timings.append(elapsed * 1000)
                result = body["data"]["result"]
                entries.append(sum(len(s.get("values", [])) for s in result))
            timings.sort()
            results[name] = {
                "query": query, "requests": len(timings), "p50_ms": round(statistics.median(timings), 1),
                "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 1), "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 1),
                "max_ms": round(timings[-1], 1), "mean_entries_or_points": round(statistics.mean(entries), 1),
            }
            print("%-7s p50 %7.1f ms  p95 %7.1f ms  p99 %7.1f ms  max %7.1f ms  (%s entries/points per answer; %s)" % (
                name, results[name]["p50_ms"], results[name]["p95_ms"], results[name]["p99_ms"], results[name]["max_ms"],
                results[name]["mean_entries_or_points"], query), flush=True)
        with open(os.path.join(args.work, "results-%s.json" % args.store), "w") as handle:
            json.dump({"logs": args.logs, "hours": args.hours, "store": args.store, "results": results}, handle, indent=2)
    finally:
        api.terminate()
        api.wait(timeout=30)


if __name__ == "__main__":
    main()
