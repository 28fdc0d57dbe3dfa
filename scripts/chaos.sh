#!/usr/bin/env bash
# The chaos soak (scripts/chaos/run.py): load with known log ids while faults are injected at random moments
# from the seed (broker connections closed, the broker stopped and killed, the worker SIGKILLed, the store
# failing, a memory alarm); at the end every log that got a 202 must be stored exactly once.
#
#   bash scripts/chaos.sh [--seconds N] [--seed S] [--store sqlite|mongo]   (default 120 s, SQLite)
#   bash scripts/chaos.sh --seconds 3600 --seed 1                            (the one-hour soak)
#   bash scripts/chaos.sh --net --store mongo [--seconds N]                  (network faults, as root)
#
# --net swaps the process faults for network ones (scripts/netfaults/netlab.py): the broker node, and with
# --store mongo the SecantusDB server, each run in a network namespace of the soak's own, reached through a veth
# pair that is black-holed (longer than twice the AMQP heartbeat; longer than the driver's socket timeout),
# slowed (200 ms +- 100 ms round trip) and made lossy (10-30 %) while the load runs. Besides the exactly-once
# check it fails when the API's readiness stays green through a broker black hole for more than twice the
# heartbeat, when a request is held past the confirm timeout and a reconnect, when a probe log posted after a heal
# is not stored within 120 s, or when the broker logged an ack of an unknown delivery tag. The namespaces, veths,
# rules and the packet delayer are removed at the end, also on failure.
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
