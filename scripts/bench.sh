#!/usr/bin/env bash
# Benchmarks (release build): a private RabbitMQ node, the broker's own confirmed-publish ceiling, logpipe
# serve (SQLite) under wrk for single JSON logs, NDJSON batches (100 unpaced and paced, 1,000, 3,000 tenants mixed
# and apart), the seed design's reference (../shared/bench/peer_seed.py) on the same load, and instructions per
# stored log under valgrind's callgrind. Prints the tables, writes .build/bench/results.json and its plots.
# Options go to scripts/bench/run.py (e.g. --seconds 30, --scenarios single, --no-seed; --scale-out for work shards
# and a three-node quorum cluster; --stores sqlite,secantus for each scenario on SQLite and on MongoDB's store on a
# private SecantusDB server, an independent MongoDB-wire-protocol server, not MongoDB).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh --test   # --test: SecantusDB's venv for --stores secantus
swift build -c release --product logpipe
swift build -c release --product logpipe-bench
swift build -c release --product http-floor   # the floor of the API's cost (a minimal Hummingbird handler)
# The broker's own ceiling: a minimal rabbitmq-c publisher, nothing of logpipe in its path.
mkdir -p .build/bench
cc -O2 -o .build/bench/ceiling scripts/bench/ceiling.c -lrabbitmq
python3 scripts/bench/run.py "$@"
