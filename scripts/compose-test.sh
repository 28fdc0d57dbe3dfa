#!/usr/bin/env bash
# The compose test (scripts/compose/run.py): the unchanged docker-compose.yml and docker-compose.cluster.yml on a
# private Docker engine (scripts/compose/engine.sh: Debian's dockerd, data in /var/lib/logpipe-docker), with
# stand-in images under the official tags (scripts/compose/standins.sh: built when absent, never pulled, reused)
# and the logpipe image built from the Dockerfile by docker-compose. Under load and faults, every log answered
# 202/200/204 must be stored exactly once, redacted. Removes its containers, networks and volumes, and stops the
# engine if it started it; the images stay for the next run. Each step prints how long it took.
#
#   bash scripts/compose-test.sh [--skip-cluster] [--phase-seconds N] ...   (arguments go to run.py)
#
# On 2 cores: cold (no stand-ins, no image) ~17 min: ~4 min of stand-ins, ~8.5 min of Swift release build in
# Docker, ~4.5 min of stacks; with the stand-ins kept 12–13 min (743–799 s in CI runs of 2026-12-06); warm
# (images kept, sources unchanged) ~5 min.
#
# One compose test at a time on a machine: a second run waits here (it would share the private engine and the
# project names, and tear the first one's stacks down).
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/logpipe-compose-test.lock
if ! flock -n 9; then
  echo "compose-test: another compose test runs on this machine; waiting for it (/tmp/logpipe-compose-test.lock)"
  flock 9
fi
bash scripts/setup.sh

DOCKER_HOST=$(bash scripts/compose/engine.sh host)
export DOCKER_HOST
started=$SECONDS
if bash scripts/compose/engine.sh status; then
  echo "compose-test: using the private engine that is already running (left running)"
else
  # Fails, naming it, when another Docker engine runs on the machine: this test never touches it.
  bash scripts/compose/engine.sh start
  trap 'bash scripts/compose/engine.sh stop' EXIT
fi
engine_seconds=$((SECONDS - started))
echo "compose-test: engine ready in $engine_seconds s"

started=$SECONDS
bash scripts/compose/standins.sh
standins_seconds=$((SECONDS - started))
echo "compose-test: stand-in images ready in $standins_seconds s"
bash scripts/compose/standins.sh --list
# run.py's table of steps starts with these two.
export LOGPIPE_COMPOSE_SETUP_SECONDS="private engine start:$engine_seconds;stand-in images (built when absent):$standins_seconds"

/usr/bin/python3 scripts/compose/run.py "$@"
