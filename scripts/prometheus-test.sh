#!/usr/bin/env bash
# The monitoring test (scripts/prometheus/run.py): a real Prometheus scrapes `logpipe serve` and a private
# RabbitMQ node (port 5830, wiped at the end) under a short load, evaluates deploy/prometheus/alerts.yml, and fires
# LogpipeDLQGrowing when poison messages are parked; every dashboard query runs and every metric the dashboard
# and the rules name has been scraped. About 40 s.
#
#   bash scripts/prometheus-test.sh [--load-seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh
[ -x .build/debug/logpipe ] || swift build --product logpipe
/usr/bin/python3 scripts/prometheus/run.py "$@"
