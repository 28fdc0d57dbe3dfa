#!/usr/bin/python3
"""What a benchmark run stored into a MongoDB-wire-protocol server (SecantusDB in scripts/bench/run.py; not
MongoDB), through Debian's pymongo: `count` prints the logs stored in a database (all collections), `e2e` the
ingest -> stored latency (processed_at - received_at) percentiles over them as JSON, like `logpipe-bench e2e`.

    /usr/bin/python3 scripts/bench/mongo_stored.py count|e2e --uri mongodb://… --db NAME
"""
import argparse
import json
import sys

import pymongo  # Debian's python3-pymongo


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["count", "e2e"])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--db", required=True)
    options = parser.parse_args()
    database = pymongo.MongoClient(options.uri, serverSelectionTimeoutMS=10000)[options.db]
    names = database.list_collection_names()
    if options.what == "count":
        print(sum(database[name].estimated_document_count() for name in names))
        return 0
    latencies = []
    for name in names:
        for document in database[name].find({}, {"received_at": 1, "processed_at": 1, "_id": 0}):
            latencies.append((document["processed_at"] - document["received_at"]).total_seconds() * 1000)
    latencies.sort()

    def percentile(p):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))], 1) if latencies else None
    print(json.dumps({"p50_ms": percentile(50), "p99_ms": percentile(99), "logs": len(latencies)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
