#!/usr/bin/env bash
# The monitoring files, checked with Debian's promtool: the Prometheus config of the compose profile, the alert
# rules, and their unit tests (deploy/prometheus/alerts_test.yml: each alert fires on series that should fire it
# and stays quiet on series that should not). scripts/test.sh runs it on every run; the real Prometheus
# evaluating the same rules against a running logpipe is scripts/prometheus-test.sh.
set -euo pipefail
cd "$(dirname "$0")/../deploy/prometheus"
command -v promtool > /dev/null || { echo "check-alerts: promtool is missing (bash scripts/setup.sh installs prometheus)" >&2; exit 1; }
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts_test.yml
