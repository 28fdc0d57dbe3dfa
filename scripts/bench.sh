#!/usr/bin/env bash
# Benchmarks (release build): a private RabbitMQ node, the broker's own confirmed-publish ceiling, logpipe
# serve (SQLite) under wrk for single JSON logs and NDJSON batches of 100 and 1,000, and the seed design's
# reference (../shared/bench/peer_seed.py) on the same load. Prints one table, writes .build/bench/results.json.
# Options go to scripts/bench/run.py (e.g. --seconds 30, --scenarios single, --no-seed; --scale-out for work shards
# and a three-node quorum cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh
swift build -c release --product logpipe
swift build -c release --product logpipe-bench
python3 scripts/bench/run.py "$@"
