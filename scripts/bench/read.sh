#!/usr/bin/env bash
# The read API's latency over a tenant of 1,000,000 logs (scripts/bench/read.py; docs/performance.md, "Reading
# logs"), on a release build. Options go to read.py (--logs, --hours, --requests, --store mongo --mongo-uri URI).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh
swift build -c release --product logpipe
/usr/bin/python3 scripts/bench/read.py "$@"
