#!/usr/bin/env bash
# One command to run every test: installs what is missing, checks that every program the scripts and tests
# invoke is installed by setup.sh (scripts/check_tools.py), starts a private RabbitMQ node for the tests
# (127.0.0.1:5702, data in /tmp/logpipe-broker-test), runs `swift test` (unit and integration), schemathesis
# against the API (scripts/schemathesis.sh), the chaos soak (scripts/chaos.sh, 45 s per store), the cluster test
# (scripts/cluster-test.sh: three private nodes, kill -9 of a queue leader and a rolling restart), the monitoring
# test (scripts/prometheus-test.sh: a real Prometheus fires the DLQ alert) and the fuzzers (scripts/fuzz.sh, 20 s
# each), stops the node. The alert rules' promtool tests (scripts/check-alerts.sh) run on every run.
# Extra arguments go to `swift test` (e.g. --filter IntegrationTests).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

bash scripts/setup.sh --test
# Every program the scripts and tests invoke must come from the base image or from setup.sh (a fresh machine
# has nothing else): fails naming the program.
python3 scripts/check_tools.py --self-test
python3 scripts/check_tools.py
# C modules are imported only in the bridges' Raw/ folders.
python3 scripts/check_c_imports.py
# The house format (.swift-format; `swift format -i -r Sources Tests` applies it): fails naming each file and line.
git ls-files -z '*.swift' | grep -zv '/Generated/' | xargs -0 swift format lint --strict
# The Prometheus config, the alert rules and their promtool unit tests.
bash scripts/check-alerts.sh
export LOGPIPE_BROKER_NAME=test LOGPIPE_BROKER_PORT=${LOGPIPE_TEST_BROKER_PORT:-5702}
bash broker/rabbitmq.sh start
# The MongoDB wire-protocol test double (python3-mockupdb; not a database) for the MongoDB store's tests.
double_port=${LOGPIPE_TEST_MONGO_PORT:-27917}
rm -f /tmp/logpipe-mongo-double.port
/usr/bin/python3 scripts/mongo_double.py --port "$double_port" --ready-file /tmp/logpipe-mongo-double.port \
  > /tmp/logpipe-mongo-double.log 2>&1 &
double_pid=$!
trap 'kill $double_pid 2> /dev/null; bash broker/rabbitmq.sh stop > /dev/null' EXIT
for _ in $(seq 100); do [ -s /tmp/logpipe-mongo-double.port ] && break; sleep 0.1; done
[ -s /tmp/logpipe-mongo-double.port ] || { cat /tmp/logpipe-mongo-double.log >&2; echo "the MongoDB test double did not start" >&2; exit 1; }
export LOGPIPE_TEST_MONGO_URI="mongodb://127.0.0.1:$double_port/?directConnection=true&serverSelectionTimeoutMS=3000&connectTimeoutMS=3000&socketTimeoutMS=10000"

export LOGPIPE_TEST_AMQP_URL
LOGPIPE_TEST_AMQP_URL=$(bash broker/rabbitmq.sh url)

swift build --build-tests
# The output also goes to a file, and on failure every failed test and issue is printed again at the end: a
# CI log that keeps only its tail still names them all.
set +e
swift test --skip-build "$@" 2>&1 | tee /tmp/logpipe-swift-test.log
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "--- swift test failed (exit $status); its failures again:" >&2
  grep -E '✘|recorded an issue|error:|Fatal error|Crash' /tmp/logpipe-swift-test.log | cut -c1-400 | head -60 >&2
  exit "$status"
fi
# With no filter: also property-based API tests from openapi.yaml against a running `logpipe api`, the chaos
# soak in its short form on both stores (faults at moments drawn from a seed it prints), and each fuzzer for a
# bounded time.
if [ $# -eq 0 ]; then
  bash scripts/schemathesis.sh
  seed=${LOGPIPE_CHAOS_SEED:-$(date +%s)}
  bash scripts/chaos.sh --seconds "${LOGPIPE_CHAOS_SECONDS:-45}" --seed "$seed" --store sqlite
  bash scripts/chaos.sh --seconds "${LOGPIPE_CHAOS_SECONDS:-45}" --seed "$((seed + 1))" --store mongo
  # A three-node RabbitMQ cluster with quorum queues: kill -9 of a queue leader, then a rolling restart, under load.
  bash scripts/cluster-test.sh --seconds-per-phase "${LOGPIPE_CLUSTER_PHASE_SECONDS:-12}"
  # A real Prometheus scraping `logpipe serve` evaluates the alert rules: the DLQ alert fires when logs are parked.
  bash scripts/prometheus-test.sh
  bash scripts/fuzz.sh --seconds "${LOGPIPE_FUZZ_SECONDS:-20}"
fi
