#!/usr/bin/env bash
# One command to run logpipe locally: installs what is missing, starts a private RabbitMQ node
# (127.0.0.1:5682, management UI on http://127.0.0.1:15682, guest/guest), builds logpipe in release mode and
# runs `logpipe serve` (API on http://127.0.0.1:8000 and a worker storing into ./data/logpipe.sqlite).
# Ctrl-C stops logpipe and the node (LOGPIPE_KEEP_BROKER=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

bash scripts/setup.sh
export LOGPIPE_BROKER_NAME=${LOGPIPE_BROKER_NAME:-dev} LOGPIPE_BROKER_PORT=${LOGPIPE_BROKER_PORT:-5682}
bash broker/rabbitmq.sh start
if [ "${LOGPIPE_KEEP_BROKER:-0}" != 1 ]; then trap 'bash broker/rabbitmq.sh stop' EXIT; fi

swift build -c release --product logpipe
export LOGPIPE_AMQP_URL=${LOGPIPE_AMQP_URL:-$(bash broker/rabbitmq.sh url)}
export LOGPIPE_HTTP_PORT=${LOGPIPE_HTTP_PORT:-8000}
echo "logpipe: POST http://127.0.0.1:$LOGPIPE_HTTP_PORT/ingest  (Ctrl-C to stop)"
.build/release/logpipe serve "$@"
