#!/usr/bin/env bash
# The Loki read API against clients others wrote (scripts/loki_read/run.py): loki-reader-core from PyPI, requests
# shaped as Grafana's Loki data source sends them, a WebSocket live tail, on a real `logpipe serve` with each store
# (SQLite, and the MongoDB test server of LOGPIPE_TEST_MONGO_URI). Needs the test broker and MongoDB server that
# scripts/test.sh starts, and a built .build/debug/logpipe.
#
#   bash scripts/loki-read-test.sh [--store sqlite|mongo]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/loki-venv
[ -f "$venv/.installed-0.2.5" ] || bash scripts/setup.sh --test  # installs loki-reader-core into $venv
: "${LOGPIPE_TEST_AMQP_URL:?run through scripts/test.sh, which starts the test broker}"
if [ $# -gt 0 ]; then
  "$venv/bin/python" scripts/loki_read/run.py "$@"
else
  "$venv/bin/python" scripts/loki_read/run.py --store sqlite
  "$venv/bin/python" scripts/loki_read/run.py --store mongo
fi
