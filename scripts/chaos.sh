#!/usr/bin/env bash
# The chaos soak (scripts/chaos/run.py): load with known log ids while faults are injected at random moments
# from the seed (broker connections closed, the broker stopped and killed, the worker SIGKILLed, the store
# failing, a memory alarm); at the end every log that got a 202 must be stored exactly once.
#
#   bash scripts/chaos.sh [--seconds N] [--seed S] [--store sqlite|mongo]   (default 120 s, SQLite)
#   bash scripts/chaos.sh --seconds 3600 --seed 1                            (the one-hour soak)
#
# Uses the debug build (.build/debug/logpipe; scripts/test.sh builds it) unless --binary names another, and a
# private RabbitMQ node of its own (port 5732), wiped at the end; with --store mongo, a private SecantusDB server
# (an independent MongoDB-wire-protocol server, not MongoDB; port 27932), wiped at the end too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh --test
[ -x .build/debug/logpipe ] || swift build --product logpipe
/usr/bin/python3 scripts/chaos/run.py "$@"
