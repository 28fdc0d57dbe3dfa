#!/usr/bin/env bash
# The cluster test (scripts/cluster/run.py): logpipe on a three-node RabbitMQ cluster of private nodes with
# quorum queues, under load, through kill -9 of a queue leader and a rolling restart; every log answered 202
# must be stored exactly once.
#
#   bash scripts/cluster-test.sh [--seconds-per-phase N]   (default 20; scripts/test.sh runs it with 12)
#
# Uses the debug build (.build/debug/logpipe; scripts/test.sh builds it) unless --binary names another; the
# cluster's nodes listen on 5810-5812 and are wiped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh --test
[ -x .build/debug/logpipe ] || swift build --product logpipe
/usr/bin/python3 scripts/cluster/run.py "$@"
