#!/usr/bin/env bash
# One command to run every test: installs what is missing, starts a private RabbitMQ node for the tests
# (127.0.0.1:5702, data in /tmp/logpipe-broker-test), runs `swift test` (unit and integration), stops the node.
# Extra arguments go to `swift test` (e.g. --filter IntegrationTests).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

bash scripts/setup.sh
export LOGPIPE_BROKER_NAME=test LOGPIPE_BROKER_PORT=${LOGPIPE_TEST_BROKER_PORT:-5702}
bash broker/rabbitmq.sh start
trap 'bash broker/rabbitmq.sh stop > /dev/null' EXIT
export LOGPIPE_TEST_AMQP_URL
LOGPIPE_TEST_AMQP_URL=$(bash broker/rabbitmq.sh url)

swift build --build-tests
swift test --skip-build "$@"
