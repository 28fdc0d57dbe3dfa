#!/usr/bin/env bash
# One command to run every test: installs what is missing, checks that every program the scripts and tests
# invoke is installed by setup.sh (scripts/check_tools.py), starts a private RabbitMQ node for the tests
# (127.0.0.1:5702, data in /tmp/logpipe-broker-test) and SecantusDB, an independent MongoDB-wire-protocol
# server, not MongoDB (scripts/secantus.sh: 127.0.0.1:27917, data in /tmp/logpipe-secantus-test), runs
# `swift test` (unit and integration), schemathesis against the API (scripts/schemathesis.sh), the read API
# against Loki clients (scripts/loki-read-test.sh), the chaos soak
# (scripts/chaos.sh, 45 s per store), the cluster test (scripts/cluster-test.sh: three private nodes, kill -9 of
# a queue leader and a rolling restart), the hostile-input suite (scripts/hostile/run.py), the monitoring test (scripts/prometheus-test.sh: a
# real Prometheus fires the DLQ alert), the fuzzers (scripts/fuzz.sh, 20 s each) and the compose test
# (scripts/compose-test.sh: the unchanged docker-compose.yml on a private Docker engine with stand-in images,
# faults under load, the cluster file and the monitoring profile; ~17 min cold, 12–13 with the stand-in images kept; LOGPIPE_COMPOSE_TEST=0 skips it,
# =short leaves out the cluster stack), stops the node and the server. The alert rules'
# promtool tests (scripts/check-alerts.sh) run on every run.
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
# LOGPIPE_TEST_BROKER_NAME and _PORT give a second run on the same machine a node (name, directory, ports) of its own.
export LOGPIPE_BROKER_NAME=${LOGPIPE_TEST_BROKER_NAME:-test} LOGPIPE_BROKER_PORT=${LOGPIPE_TEST_BROKER_PORT:-5702}
bash broker/rabbitmq.sh start
# The MongoDB server of the tests: SecantusDB, an independent MongoDB-wire-protocol server (not MongoDB), on
# loopback with its own directory (/tmp/logpipe-secantus-test), SCRAM users and configureFailPoint
# (scripts/secantus.sh). The store's tests connect as the application user, fault injection as root.
export LOGPIPE_SECANTUS_NAME=test LOGPIPE_SECANTUS_PORT=${LOGPIPE_TEST_MONGO_PORT:-27917}
bash scripts/secantus.sh wipe > /dev/null
bash scripts/secantus.sh start
trap 'bash scripts/secantus.sh wipe > /dev/null; bash broker/rabbitmq.sh stop > /dev/null' EXIT
mongo_options="serverSelectionTimeoutMS=3000&connectTimeoutMS=3000&socketTimeoutMS=10000"
LOGPIPE_TEST_MONGO_URI="$(bash scripts/secantus.sh url)&$mongo_options"
LOGPIPE_TEST_MONGO_ADMIN_URI="$(bash scripts/secantus.sh admin-url)&$mongo_options"
export LOGPIPE_TEST_MONGO_URI LOGPIPE_TEST_MONGO_ADMIN_URI

export LOGPIPE_TEST_AMQP_URL
LOGPIPE_TEST_AMQP_URL=$(bash broker/rabbitmq.sh url)

swift build --build-tests
# The output also goes to a file, and on failure every failed test and issue is printed again at the end: a
# CI log that keeps only its tail still names them all.
run_swift_test() {
  set +e
  swift test --skip-build "$@" 2>&1 | tee -a /tmp/logpipe-swift-test.log
  local status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "--- swift test failed (exit $status); its failures again:" >&2
    grep -E '✘|recorded an issue|error:|Fatal error|Crash' /tmp/logpipe-swift-test.log | cut -c1-400 | head -60 >&2
    exit "$status"
  fi
}
: > /tmp/logpipe-swift-test.log
if [ $# -eq 0 ]; then
  # One process per group, one after the other: the 351 tests of one process all start at once, and on two cores
  # the Swift pool (two threads) they share with the servers under test stayed busy for 10 to 40 s, so deadlines
  # of tests that measure answers (an idle connection closed within its timeout, a worker settling its batch
  # within 10 s) ran out. The hostile-HTTP suite, which measures how a server answers clients that misbehave
  # (answers within 30 s, p99 under 100 ms), has a process of its own.
  run_swift_test --filter '^(LogPipeCoreTests|ShipperProtocolsTests|AMQPBridgeTests|MongoBridgeTests)\.'
  run_swift_test --filter '^LogPipeAppTests\.' --skip HostileHTTPTests
  run_swift_test --filter HostileHTTPTests
  run_swift_test --filter '^IntegrationTests\.'
  # The groups together must run every test: a test target added without a group fails here, naming the counts.
  listed=$(swift test list --skip-build 2>/dev/null | grep -c .)
  ran=$(grep -oE 'Test run with [0-9]+ tests' /tmp/logpipe-swift-test.log | awk '{ sum += $4 } END { print sum + 0 }')
  if [ "$listed" -ne "$ran" ]; then
    echo "test.sh: swift test lists $listed tests but the groups ran $ran; give the missing target a group" >&2
    exit 1
  fi
else
  run_swift_test "$@"
fi
# With no filter: also property-based API tests from openapi.yaml against a running `logpipe api`, the chaos
# soak in its short form on both stores (faults at moments drawn from a seed it prints), and each fuzzer for a
# bounded time.
if [ $# -eq 0 ]; then
  bash scripts/schemathesis.sh
  # The Loki read API against loki-reader-core (PyPI), Grafana-shaped requests and a WebSocket tail, on both stores.
  bash scripts/loki-read-test.sh
  seed=${LOGPIPE_CHAOS_SEED:-$(date +%s)}
  bash scripts/chaos.sh --seconds "${LOGPIPE_CHAOS_SECONDS:-45}" --seed "$seed" --store sqlite
  bash scripts/chaos.sh --seconds "${LOGPIPE_CHAOS_SECONDS:-45}" --seed "$((seed + 1))" --store mongo
  # Network faults (black holes, delay, loss on the broker's and the store's links), each kind at least once.
  bash scripts/chaos.sh --net --seconds "${LOGPIPE_CHAOS_NET_SECONDS:-75}" --seed "$((seed + 2))" --store mongo
  # Hostile requests against a real `logpipe serve` (crash, stall, memory, spoofing), with its peak RSS and a
  # bystander tenant's latency checked for each.
  /usr/bin/python3 scripts/hostile/run.py
  # A three-node RabbitMQ cluster with quorum queues: kill -9 of a queue leader, then a rolling restart, under load.
  bash scripts/cluster-test.sh --seconds-per-phase "${LOGPIPE_CLUSTER_PHASE_SECONDS:-12}"
  # A real Prometheus scraping `logpipe serve` evaluates the alert rules: the DLQ alert fires when logs are parked.
  bash scripts/prometheus-test.sh
  bash scripts/fuzz.sh --seconds "${LOGPIPE_FUZZ_SECONDS:-20}"
  # The production shape for real: docker-compose up --build of the unchanged compose files on a private engine.
  case "${LOGPIPE_COMPOSE_TEST:-full}" in
    0) echo "test.sh: the compose test is skipped (LOGPIPE_COMPOSE_TEST=0)" ;;
    short) bash scripts/compose-test.sh --skip-cluster ;;
    *) bash scripts/compose-test.sh ;;
  esac
fi
